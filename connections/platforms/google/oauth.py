"""Google's OAuth 2.0 for web server applications, as YouTube's and Business Profile's connect
clients use it (https://developers.google.com/identity/protocols/oauth2/web-server):

* consent at ``https://accounts.google.com/o/oauth2/v2/auth`` with ``response_type=code``, the
  scopes space-separated, PKCE (``code_challenge_method=S256``), ``access_type=offline`` (else no
  refresh token is issued) and ``prompt=consent`` (else a person who consented before gets no new
  refresh token);
* the code exchanged at ``POST https://oauth2.googleapis.com/token`` (``client_id``,
  ``client_secret``, ``code``, ``code_verifier``, ``grant_type=authorization_code``,
  ``redirect_uri``) -> ``{"access_token", "expires_in": 3599, "refresh_token", "scope",
  "token_type": "Bearer"}``;
* renewed there with ``grant_type=refresh_token``: a new access token, no new refresh token (the
  one kept goes on working; Google does not rotate it).

A refresh token ends when the person revokes access, after six months unused, and, while the
OAuth consent screen's publishing status is "Testing", seven days after consent
(https://developers.google.com/identity/protocols/oauth2#expiration): the token endpoint then
answers 400 ``{"error": "invalid_grant", "error_description": "Token has been expired or
revoked."}``, which ends the connection (reconnect), saying so.
"""

from __future__ import annotations

from typing import ClassVar

import requests

from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.google import GOOGLE_TOKEN_URL

EXPIRED_GRANT_ADVICE = (
    "reconnect the account. Google ends a refresh token when access is revoked, after six months "
    "unused, and 7 days after consent while the Google Cloud project's OAuth consent screen is in "
    "'Testing' (publish the app to 'In production' for lasting tokens)"
)


class GoogleClient(OAuthClient):
    """The Google side of a connect client; a platform's names its declaration, scopes and
    ``accounts``."""

    pkce = True
    token_auth_method = "client_secret_post"
    # Several channels or locations may come with one consent.
    picks_accounts = True
    scope_list: ClassVar[tuple[str, ...]] = ()

    @property
    def scopes(self) -> list[str]:
        return list(self.scope_list)

    @property
    def token_url(self) -> str:
        return str(value_of(GOOGLE_TOKEN_URL)).rstrip("/")

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/o/oauth2/v2/auth"

    def token_endpoint(self) -> str:
        return f"{self.token_url}/token"

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str | None) -> str:
        # access_type=offline: a refresh token; prompt=consent: one at every connect, also for a
        # person who consented before (Google issues the refresh token at the first consent only).
        with self.session(redirect_uri=redirect_uri, scoped=True) as oauth:
            url, _ = oauth.create_authorization_url(
                self.authorize_endpoint(),
                state=state,
                code_verifier=code_verifier,
                access_type="offline",
                prompt="consent",
            )
        return url

    def classify(self, response: requests.Response) -> OAuthFailure:
        code, description = self.error_of(response)
        if response.status_code < 500 and code == "invalid_grant":
            # {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return OAuthFailure(
                f"Google refused the grant (invalid_grant: {description or 'no description'}): {EXPIRED_GRANT_ADVICE}.",
                grant_dead=True,
                status_code=response.status_code,
            )
        return super().classify(response)

    def api_get(self, url: str, *, token: str, what: str, **kwargs) -> dict:
        """GET a Google API resource with the granted token (in the Authorization header); its
        error envelope's message in the failure."""
        return self.request_json(
            "GET", url, what=f"read {what}", secrets=(token,), headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def error_of(self, response: requests.Response) -> tuple[str, str]:
        # Google's APIs (not the token endpoint) answer {"error": {"code", "message", "status"}}.
        try:
            body = response.json()
        except ValueError:
            return "", response.text[:200]
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("status") or ""), str(error.get("message") or "")
        return super().error_of(response)
