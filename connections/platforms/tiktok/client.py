"""TikTok's connect and renewal client: Login Kit for the web, OAuth v2 (docs/platforms/tiktok.md).

https://developers.tiktok.com/doc/login-kit-web: the person consents at
``https://www.tiktok.com/v2/auth/authorize/?client_key&scope&response_type=code&redirect_uri
&state`` (scopes comma-separated). TikTok names the app's id ``client_key``, not ``client_id``.

https://developers.tiktok.com/doc/oauth-user-access-token-management: ``POST
https://open.tiktokapis.com/v2/oauth/token/`` (form: ``client_key``, ``client_secret``, ``code``,
``grant_type=authorization_code``, ``redirect_uri``; ``code_verifier`` "required for mobile and
desktop app only", so a web app sends no PKCE) -> ``{"open_id", "scope", "access_token",
"expires_in"`` (24 hours), ``"refresh_token", "refresh_expires_in"`` (365 days), ``"token_type"}``.
A refresh (``grant_type=refresh_token``) answers the same shape; the refresh token it returns is
stored in place of the one sent (connections.services), whether or not TikTok changed it.
"""

from __future__ import annotations

from urllib.parse import urlencode

import requests
from django.utils import timezone

from connections.grants import AccountChoice, Grant, avatar_of, lifetime_end, normalize_scopes
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.tiktok import DECLARATION
from connections.platforms.tiktok.adapter import CREATOR_INFO, DETAILS_PRIVACY, DETAILS_USERNAME

# TikTok's v2 error codes that end the grant (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling).
GRANT_DEAD = frozenset({"access_token_invalid", "scope_not_authorized"})


class TikTokClient(OAuthClient):
    declaration = DECLARATION
    # The app's key and secret go in the token request's form.
    token_auth_method = "client_secret_post"
    scope_separator = ","

    @property
    def scopes(self) -> list[str]:
        # https://developers.tiktok.com/doc/tiktok-api-scopes: the profile, Direct Post, the
        # account's videos (where a lost PULL_FROM_URL init is looked for, and their figures:
        # video/query) and the profile's counts (followers: user.info.stats).
        return ["user.info.basic", "video.publish", "video.list", "user.info.stats"]

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/v2/auth/authorize/"

    def token_endpoint(self) -> str:
        return f"{self.api_url}/v2/oauth/token/"

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str | None) -> str:
        """Built here, not by Authlib: TikTok's parameter is ``client_key``."""
        if not self.configured:
            # The same refusal as every other client's (connections.oauth.OAuthClient.session).
            self.session()
        query = {
            "client_key": self.client_id,
            "scope": self.scope_separator.join(self.scopes),
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self.authorize_endpoint()}?{urlencode(query)}"

    def token_params(self) -> dict[str, str]:
        return {"client_key": self.client_id}

    def grant_from(self, token: dict) -> Grant:
        grant = super().grant_from(token)
        # TikTok names the refresh token's lifetime refresh_expires_in.
        grant.refresh_expires_at = lifetime_end(token.get("refresh_expires_in"), now=timezone.now())
        grant.scopes = normalize_scopes(token.get("scope", ""))
        return grant

    def error_of(self, response: requests.Response) -> tuple[str, str]:
        """The token endpoint answers OAuth's ``{"error", "error_description", "log_id"}``; the
        API's v2 envelope ``{"error": {"code", "message", "log_id"}}``."""
        try:
            body = response.json()
        except ValueError:
            return "", response.text[:200]
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")
        return super().error_of(response)

    def classify(self, response: requests.Response) -> OAuthFailure:
        code, description = self.error_of(response)
        if code in GRANT_DEAD:
            return OAuthFailure(
                f"TikTok refused the grant ({code}: {description}): reconnect the account.",
                grant_dead=True,
                status_code=response.status_code,
            )
        return super().classify(response)

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The one TikTok account the token acts for: GET /v2/user/info/?fields=open_id,
        avatar_url,display_name,username -> {"data": {"user": {...}}}; and its creator_info, kept
        in the connection's details (the privacy levels it is offered: docs/platforms/tiktok.md)."""
        headers = {"Authorization": f"Bearer {grant.access_token}"}
        body = self.get(
            f"{self.api_url}/v2/user/info/",
            token=grant.access_token,
            what="your TikTok profile",
            params={"fields": "open_id,avatar_url,display_name,username"},
            headers=headers,
        )
        user = (body.get("data") or {}).get("user") if isinstance(body.get("data"), dict) else None
        if not isinstance(user, dict) or not user.get("open_id"):
            raise OAuthFailure("TikTok did not say which account logged in.")
        creator = self.creator_info(grant)
        username = user.get("username") or creator.get("creator_username")
        name = f"@{username}" if username else str(user.get("display_name") or user["open_id"])
        avatar = avatar_of(user.get("avatar_url") or creator.get("creator_avatar_url"))
        details = creator_details(creator, username=username)
        return [AccountChoice(self.platform, str(user["open_id"]), name, grant, avatar_url=avatar, details=details)]

    def refresh_connection(self, connection) -> Grant:
        """A renewal (about daily, with 24-hour tokens) reads creator_info again, so that the door
        sees the privacy levels TikTok offers now (an app audited since, an account gone private);
        one TikTok will not answer keeps the details as they are: the token was renewed."""
        grant = super().refresh_connection(connection)
        try:
            creator = self.creator_info(grant)
        except OAuthFailure:
            return grant
        username = (connection.details or {}).get(DETAILS_USERNAME) or creator.get("creator_username")
        grant.details = creator_details(creator, username=username)
        return grant

    def creator_info(self, grant: Grant) -> dict:
        """POST /v2/post/publish/creator_info/query/ (needs video.publish): what the account may
        post, asked at connect as TikTok asks before every post."""
        body = self.request_json(
            "POST",
            f"{self.api_url}{CREATOR_INFO}",
            what="read what TikTok lets this account post (creator_info; allow video.publish)",
            secrets=(grant.access_token,),
            headers={"Authorization": f"Bearer {grant.access_token}"},
            json={},
        )
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("privacy_level_options"), list):
            raise OAuthFailure("TikTok did not say which privacy levels this account may post with.")
        return data


def creator_details(creator: dict, *, username: str | None) -> dict:
    """What the connection keeps of creator_info (never a secret): the privacy levels offered,
    the interaction switches, the longest video, who it is, and when it was read."""
    return {
        DETAILS_USERNAME: username or "",
        "nickname": str(creator.get("creator_nickname") or ""),
        DETAILS_PRIVACY: [str(level) for level in creator.get("privacy_level_options", [])],
        "commentDisabled": bool(creator.get("comment_disabled")),
        "duetDisabled": bool(creator.get("duet_disabled")),
        "stitchDisabled": bool(creator.get("stitch_disabled")),
        "maxVideoPostDurationSec": creator.get("max_video_post_duration_sec"),
        "creatorInfoAt": timezone.now().isoformat(),
    }
