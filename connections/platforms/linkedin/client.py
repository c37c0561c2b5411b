"""LinkedIn's connect and renewal client (docs/platforms/linkedin.md)."""

from __future__ import annotations

import logging

from connections.grants import AccountChoice, Grant, avatar_of
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
        """The member (``urn:li:person:{sub}`` from OpenID userinfo, with its ``picture``) and the
        organizations they administer (approved ADMINISTRATOR role assignments), each by its
        ``localizedName`` (``organization_name``)."""
        api = self.api_url
        bearer = {"Authorization": f"Bearer {grant.access_token}"}
        me = self.get(f"{api}/v2/userinfo", token=grant.access_token, what="your LinkedIn profile", headers=bearer)
        if not me.get("sub"):
            raise OAuthFailure("LinkedIn did not say which member consented.")
        member = AccountChoice(
            self.platform,
            f"urn:li:person:{me['sub']}",
            str(me.get("name") or me["sub"]),
            grant,
            avatar_url=avatar_of(me.get("picture")),
        )
        choices = [member]
        rest = {**bearer, "LinkedIn-Version": value_of(API_VERSION), "X-Restli-Protocol-Version": "2.0.0"}
        try:
            acls = self.get(
                f"{api}/rest/organizationAcls",
                token=grant.access_token,
                what="the organizations you administer",
                params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
                headers=rest,
            )
        except OAuthFailure as err:
            # Without the organization scopes (an app not approved for the Community Management
            # API) the member can still be connected.
            logger.info("LinkedIn organizations not listed: %s", err.message)
            return choices
        for element in acls.get("elements") or []:
            urn = element.get("organization") if isinstance(element, dict) else None
            if urn and isinstance(urn, str):
                name = self.organization_name(urn, grant=grant, headers=rest)
                choices.append(AccountChoice(self.platform, urn, name, grant, note="organization"))
        return choices

    def organization_name(self, urn: str, *, grant: Grant, headers: dict[str, str]) -> str:
        """The organization's ``localizedName`` (``GET /rest/organizations/{id}``), so that people
        pick "Acme Coffee Ltd", not "Organization 5515715"; the latter where LinkedIn does not
        say (an app without the organization lookup permission: the connect goes on).
        https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-lookup-api
        """
        org_id = urn.rsplit(":", 1)[-1]
        fallback = f"Organization {org_id}"
        if not org_id.isdigit():
            return fallback
        try:
            body = self.get(
                f"{self.api_url}/rest/organizations/{org_id}",
                token=grant.access_token,
                what=f"the name of organization {org_id}",
                headers=headers,
            )
        except OAuthFailure as err:
            logger.info("LinkedIn organization %s not named: %s", org_id, err.message)
            return fallback
        name = body.get("localizedName")
        return name.strip()[:200] if isinstance(name, str) and name.strip() else fallback
