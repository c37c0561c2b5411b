"""Threads' connect client (docs/platforms/threads.md).

https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions: the
person consents at ``https://threads.net/oauth/authorize`` (scopes comma-separated); the code is
exchanged at ``POST https://graph.threads.net/oauth/access_token`` (``client_id``,
``client_secret``, ``grant_type=authorization_code``, ``redirect_uri``, ``code``) for a
short-lived token (an hour), which is exchanged at once for a long-lived one
(``GET /access_token?grant_type=th_exchange_token&client_secret&access_token`` -> 60 days).

https://developers.facebook.com/docs/threads/get-started/long-lived-tokens: no refresh token;
the long-lived token itself is refreshed (``GET /refresh_access_token?grant_type=th_refresh_token
&access_token``) while it is at least 24 hours old and not expired, for 60 days from then. So it
is stored as the connection's refresh token too: what renews it is itself, and the token
lifecycle (connections.services) renews it ahead of expiry like any other.
"""

from __future__ import annotations

from datetime import datetime

import requests

from connections.grants import AccountChoice, Grant, avatar_of
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.meta import GRAPH_RATE_LIMIT_BACKOFF_SECONDS
from connections.platforms.threads import DECLARATION, THREADS_API_VERSION
from planrrr.text import wait_from_seconds


class ThreadsClient(OAuthClient):
    declaration = DECLARATION
    # The app's id and secret go in the token request's form (Threads' examples).
    token_auth_method = "client_secret_post"
    scope_separator = ","

    # Graph's error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling),
    # which the Threads API answers in the same envelope: 190 ends the grant; 4, 17, 32, 613 are
    # rate limits.
    GRAPH_DEAD = frozenset({190})
    GRAPH_RATE_LIMITED = frozenset({4, 17, 32, 613})

    @property
    def scopes(self) -> list[str]:
        return ["threads_basic", "threads_content_publish", "threads_manage_replies", "threads_read_replies"]

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/oauth/authorize"

    def token_endpoint(self) -> str:
        return f"{self.api_url}/oauth/access_token"

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """The long-lived token for an authorization code (two calls)."""
        short = super().exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        body = self.request_json(
            "GET",
            f"{self.api_url}/access_token",
            what="exchange the Threads token for a long-lived one",
            secrets=(short.access_token,),
            params={
                "grant_type": "th_exchange_token",
                "client_secret": self.client_secret,
                "access_token": short.access_token,
            },
        )
        return self.long_lived(body, scopes=short.scopes)

    def refresh(self, *, refresh_token: str) -> Grant:
        """A long-lived token refreshed with itself, for 60 days from now."""
        body = self.request_json(
            "GET",
            f"{self.api_url}/refresh_access_token",
            what="refresh the Threads token",
            secrets=(refresh_token,),
            params={"grant_type": "th_refresh_token", "access_token": refresh_token},
        )
        return self.long_lived(body, scopes="")

    def long_lived(self, body: dict, *, scopes: str) -> Grant:
        """{"access_token", "token_type": "bearer", "expires_in": 5183944}: the token is its own
        refresh credential (see the module's docstring)."""
        grant = self.grant_from(body)
        grant.refresh_token = grant.access_token
        grant.scopes = grant.scopes or scopes
        return grant

    def classify(self, response: requests.Response) -> OAuthFailure:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            return super().classify(response)
        code = error.get("code")
        words = f"{error.get('message', '')} (code {code})"
        if code in self.GRAPH_DEAD:
            return OAuthFailure(f"Threads refused the token: {words}; reconnect the account.", grant_dead=True)
        if code in self.GRAPH_RATE_LIMITED or response.status_code == 429 or response.status_code >= 500:
            return OAuthFailure(f"Threads asked to slow down or failed: {words}.", retry_at=self._backoff())
        return OAuthFailure(f"Threads refused the request: {words}.", status_code=response.status_code)

    def _backoff(self) -> datetime | None:
        # Graph's rate-limit errors carry no reset time.
        return wait_from_seconds(value_of(GRAPH_RATE_LIMIT_BACKOFF_SECONDS), what="Threads")

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The one Threads profile the token acts for: GET /me?fields=id,username,name,
        threads_profile_picture_url (https://developers.facebook.com/docs/threads/threads-profiles)."""
        body = self.get(
            f"{self.api_url}/{value_of(THREADS_API_VERSION)}/me",
            token=grant.access_token,
            what="your Threads profile",
            params={"fields": "id,username,name,threads_profile_picture_url", "access_token": grant.access_token},
        )
        if not body.get("id"):
            raise OAuthFailure("Threads did not say which profile logged in.")
        username = body.get("username")
        name = f"@{username}" if username else str(body.get("name") or body["id"])
        avatar = avatar_of(body.get("threads_profile_picture_url"))
        return [AccountChoice(self.platform, str(body["id"]), name, grant, avatar_url=avatar)]
