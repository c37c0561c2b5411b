"""X's connect and renewal client (docs/platforms/x.md)."""

from __future__ import annotations

from datetime import datetime

import requests

from connections.grants import AccountChoice, Grant, avatar_of
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.x import DECLARATION
from planrrr.text import time_from_epoch


class XClient(OAuthClient):
    """X: OAuth 2.0 authorization code with PKCE (S256), a confidential client (Basic auth).

    Refresh: ``POST {TWITTER_API_URL}/2/oauth2/token`` with ``grant_type=refresh_token``; the
    access token lives 2 hours and every refresh answers a new refresh token (rotation): the
    one sent is spent, and reusing it answers 400 ``invalid_request`` ("Value passed for the
    token was invalid."), which is X's way of saying the grant is dead. A refresh token is
    issued only with the ``offline.access`` scope.
    https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/user-access-token
    """

    declaration = DECLARATION
    pkce = True
    # X answers a spent or revoked refresh token with invalid_request, not invalid_grant
    # (docs/platforms/x.md, "Limits and tokens"); on the token endpoint nothing else we send can be
    # malformed, so it is read as the grant's end.
    dead_grant_errors = frozenset({"invalid_grant", "invalid_request"})

    @property
    def scopes(self) -> list[str]:
        return ["tweet.read", "tweet.write", "users.read", "offline.access", "media.write"]

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/i/oauth2/authorize"

    def token_endpoint(self) -> str:
        return f"{self.api_url}/2/oauth2/token"

    def token_params(self) -> dict[str, str]:
        # X's examples send client_id in the form as well as in the Basic header.
        return {"client_id": self.client_id}

    def retry_at(self, response: requests.Response) -> datetime | None:
        return time_from_epoch(response.headers.get("x-rate-limit-reset"), what="X token endpoint") or super().retry_at(
            response
        )

    def error_of(self, response: requests.Response) -> tuple[str, str]:
        code, description = super().error_of(response)
        if not code:
            # The v2 API's problem+json (a 401 without Basic auth, for one).
            try:
                body = response.json()
                description = str(body.get("detail") or body.get("title") or description)
            except (ValueError, AttributeError):
                pass
        return code, description

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        body = self.get(
            f"{self.api_url}/2/users/me",
            token=grant.access_token,
            what="the X account",
            # https://docs.x.com/x-api/users/user-lookup-me: profile_image_url only when asked.
            params={"user.fields": "profile_image_url"},
            headers={"Authorization": f"Bearer {grant.access_token}"},
        )
        user = body.get("data") or {}
        if not user.get("id"):
            raise OAuthFailure("X did not say which account was connected.")
        name = f"@{user['username']}" if user.get("username") else str(user.get("name") or user["id"])
        avatar = avatar_of(user.get("profile_image_url"))
        return [AccountChoice(self.platform, str(user["id"]), name, grant, avatar_url=avatar)]
