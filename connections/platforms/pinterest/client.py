"""Pinterest's connect client (docs/platforms/pinterest.md).

https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/:
the person consents at ``https://www.pinterest.com/oauth/`` (``response_type=code``,
``client_id``, ``redirect_uri``, ``scope`` comma-separated, ``state``); the code is exchanged at
``POST https://api.pinterest.com/v5/oauth/token`` with the app's id and secret as HTTP Basic
authentication (the spec's ``basic`` security scheme on oauth/token) and ``grant_type=
authorization_code``, ``code``, ``redirect_uri`` -> ``{"access_token", "refresh_token",
"response_type", "token_type": "bearer", "expires_in", "refresh_token_expires_in",
"refresh_token_expires_at", "scope"}``.

Refresh tokens are *continuous* (oauth/token's description in the v5 spec): they last 60 days
and every refresh answers a new one, so a connection renewed ahead of expiry is renewed for
ever. Apps made before 25 September 2025 get them by sending ``continuous_refresh=true``;
Pinterest no longer supports the legacy one (365 days, a hard limit). planrrr sends it always.
Access tokens last 30 days (``expires_in``).

Who is connected: ``GET /v5/user_account`` (``id``, ``username``, ``profile_image``); where pins
go: ``GET /v5/boards`` (``items``: ``id``, ``name``, ``privacy``; ``bookmark`` pages). The
person picks the board the account pins to by default (one choice per board); every board
listed is kept in the connection's details, for a post's ``options.boardId``.
"""

from __future__ import annotations

from typing import Any

from connections.grants import AccountChoice, Grant, avatar_of
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.pinterest import DECLARATION

# Boards read at connect: pages of 250 (page_size's maximum), at most this many pages.
BOARD_PAGES = 10


class PinterestClient(OAuthClient):
    declaration = DECLARATION
    token_auth_method = "client_secret_basic"
    scope_separator = ","
    picks_accounts = True

    @property
    def scopes(self) -> list[str]:
        return ["boards:read", "pins:read", "pins:write", "user_accounts:read"]

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/oauth/"

    def token_endpoint(self) -> str:
        return f"{self.api_url}/v5/oauth/token"

    def token_params(self) -> dict[str, str]:
        # The continuous refresh token (60 days, renewed by every refresh): see the docstring.
        return {"continuous_refresh": "true"}

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """One choice per board of the account that logged in: the board picked is where its
        pins go unless a post names another."""
        me = self.get(
            f"{self.api_url}/v5/user_account",
            token=grant.access_token,
            what="your Pinterest account",
            headers=self.bearer(grant),
        )
        if not me.get("id"):
            raise OAuthFailure("Pinterest did not say which account logged in.")
        username = me.get("username")
        name = f"@{username}" if username else str(me.get("business_name") or me["id"])
        boards = self.boards(grant)
        if not boards:
            raise OAuthFailure(
                f"The Pinterest account {name} has no board to pin to: create one on Pinterest, then connect again."
            )
        avatar = avatar_of(me.get("profile_image"))
        return [
            AccountChoice(
                self.platform,
                str(me["id"]),
                name,
                grant,
                note=f"pins go to the board {board['name']!r} unless a post names another",
                avatar_url=avatar,
                pick=board["id"],
                details={"defaultBoardId": board["id"], "defaultBoardName": board["name"], "boards": boards},
            )
            for board in boards
        ]

    def boards(self, grant: Grant) -> list[dict[str, Any]]:
        """GET /v5/boards?page_size=250&bookmark -> {"items": [{"id", "name", "privacy", ...}],
        "bookmark": "..." | null}: the boards the account owns and the group boards it joined."""
        boards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"page_size": 250}
        for _ in range(BOARD_PAGES):
            body = self.get(
                f"{self.api_url}/v5/boards",
                token=grant.access_token,
                what="your Pinterest boards",
                params=params,
                headers=self.bearer(grant),
            )
            items = body.get("items")
            if not isinstance(items, list):
                raise OAuthFailure("Pinterest gave an unexpected answer when asked for the account's boards.")
            for item in items:
                if isinstance(item, dict) and item.get("id"):
                    boards.append(
                        {
                            "id": str(item["id"]),
                            "name": str(item.get("name") or item["id"]),
                            "privacy": str(item.get("privacy") or ""),
                        }
                    )
            if not body.get("bookmark"):
                break
            params = {"page_size": 250, "bookmark": body["bookmark"]}
        return boards

    @staticmethod
    def bearer(grant: Grant) -> dict[str, str]:
        return {"Authorization": f"Bearer {grant.access_token}"}

    def classify(self, response) -> OAuthFailure:
        """Pinterest does not document how it refuses a dead grant at the token endpoint; a 400
        or 401 there that names the refresh token or the code (spent, expired, revoked) ends the
        grant, anything else follows OAuth's rules (docs/platforms/pinterest.md)."""
        code, description = self.error_of(response)
        lowered = description.lower()
        if response.status_code in (400, 401) and ("refresh token" in lowered or "authorization code" in lowered):
            return OAuthFailure(
                f"{self.label} refused the grant ({code}: {description}): reconnect the account.",
                grant_dead=True,
                status_code=response.status_code,
            )
        return super().classify(response)

    def error_of(self, response) -> tuple[str, str]:
        """Pinterest answers its own ``{"code", "message"}`` beside OAuth's ``error``."""
        code, description = super().error_of(response)
        if not code:
            try:
                body = response.json()
            except ValueError:
                return code, description
            if isinstance(body, dict) and body.get("code") is not None:
                return str(body["code"]), str(body.get("message") or description)
        return code, description
