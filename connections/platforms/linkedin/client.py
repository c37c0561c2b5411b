"""LinkedIn's connect and renewal client (docs/platforms/linkedin.md)."""

from __future__ import annotations

import logging

from connections.grants import AccountChoice, Grant
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.linkedin import API_VERSION, DECLARATION, SCOPES

logger = logging.getLogger("planrrr.connections.oauth")


class LinkedInClient(OAuthClient):
    """LinkedIn: OAuth 2.0 authorization code (3-legged), the secret in the form.

    Refresh: only for apps LinkedIn approved for programmatic refresh tokens. The access token
    lives 60 days, the refresh token 365 days from the first consent and is **not** extended by
    refreshing (an answer may repeat it or omit it: the stored one is kept); at its end, or if
    revoked, LinkedIn answers 400 ``invalid_grant`` and the member must consent again. Apps
    without refresh get no refresh token: such a connection is announced before it expires.
    https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
    """

    declaration = DECLARATION
    token_auth_method = "client_secret_post"
    picks_accounts = True

    @property
    def scopes(self) -> list[str]:
        return str(value_of(SCOPES)).split()

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/oauth/v2/authorization"

    def token_endpoint(self) -> str:
        return f"{self.oauth_url}/oauth/v2/accessToken"

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The member (``urn:li:person:{sub}`` from OpenID userinfo) and the organizations they
        administer (approved ADMINISTRATOR role assignments)."""
        api = self.api_url
        bearer = {"Authorization": f"Bearer {grant.access_token}"}
        me = self.get(f"{api}/v2/userinfo", token=grant.access_token, what="your LinkedIn profile", headers=bearer)
        if not me.get("sub"):
            raise OAuthFailure("LinkedIn did not say which member consented.")
        choices = [AccountChoice(self.platform, f"urn:li:person:{me['sub']}", str(me.get("name") or me["sub"]), grant)]
        try:
            acls = self.get(
                f"{api}/rest/organizationAcls",
                token=grant.access_token,
                what="the organizations you administer",
                params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
                headers={
                    **bearer,
                    "LinkedIn-Version": value_of(API_VERSION),
                    "X-Restli-Protocol-Version": "2.0.0",
                },
            )
        except OAuthFailure as err:
            # Without the organization scopes (an app not approved for the Community Management
            # API) the member can still be connected.
            logger.info("LinkedIn organizations not listed: %s", err.message)
            return choices
        for element in acls.get("elements") or []:
            urn = element.get("organization") if isinstance(element, dict) else None
            if urn and isinstance(urn, str):
                choices.append(
                    AccountChoice(
                        self.platform, urn, f"Organization {urn.rsplit(':', 1)[-1]}", grant, note="organization"
                    )
                )
        return choices
