"""Facebook's connect client (docs/platforms/facebook.md), which connects the Instagram
business accounts linked to the pages too (docs/platforms/instagram.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from connections.grants import AccountChoice, Grant, avatar_of
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.config import value_of
from connections.platforms.facebook import DECLARATION
from connections.platforms.instagram import DECLARATION as INSTAGRAM
from connections.platforms.meta import GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS
from planrrr.text import wait_from_seconds

# Pages of a listing read at most (Facebook pages); more would be a loop, not a person's pages.
MAX_LISTING_PAGES = 20


class FacebookClient(OAuthClient):
    """Facebook Login for Pages (and the Instagram business accounts linked to them).

    No refresh: the code is exchanged for a short-lived user token, which is exchanged at once
    (``grant_type=fb_exchange_token``) for a long-lived one of about 60 days; Facebook issues
    no refresh token. The tokens stored are the pages' own, read with the long-lived user
    token from ``/me/accounts``: those carry no expiry until the person revokes the app or
    changes their password, so a page connection usually has no ``expires_at``.
    https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
    """

    declaration = DECLARATION
    # Graph takes the app's id and secret as query parameters of a GET.
    token_auth_method = "none"
    token_method = "GET"
    scope_separator = ","
    picks_accounts = True

    # Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling):
    # "190: Invalid OAuth 2.0 Access Token" (expired, revoked, password changed) ends the grant;
    # 4, 17, 32, 613 and 80001 are rate limits.
    GRAPH_DEAD = frozenset({190})
    GRAPH_RATE_LIMITED = frozenset({4, 17, 32, 613, 80001})

    @property
    def refreshable(self) -> bool:
        return False

    @property
    def scopes(self) -> list[str]:
        return [
            "pages_show_list",
            "pages_manage_posts",
            "pages_manage_engagement",
            "pages_read_engagement",
            "business_management",
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_comments",
        ]

    def graph(self, path: str) -> str:
        return f"{self.api_url}/{value_of(GRAPH_API_VERSION)}{path}"

    def authorize_endpoint(self) -> str:
        return f"{self.oauth_url}/{value_of(GRAPH_API_VERSION)}/dialog/oauth"

    def token_endpoint(self) -> str:
        return self.graph("/oauth/access_token")

    def token_params(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """The long-lived user token for an authorization code (two calls)."""
        short = super().exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        token = self._call(
            "exchange for a long-lived token",
            lambda oauth: oauth.fetch_token(
                self.token_endpoint(),
                method="GET",
                grant_type="fb_exchange_token",
                fb_exchange_token=short.access_token,
                allow_redirects=False,
                **self.token_params(),
            ),
            secrets=(short.access_token,),
        )
        return self.grant_from(token)

    def refresh(self, *, refresh_token: str) -> Grant:
        raise OAuthFailure("Facebook issues no refresh token: reconnect the account to renew it.", grant_dead=True)

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
            return OAuthFailure(f"Facebook refused the token: {words}; reconnect the account.", grant_dead=True)
        if code in self.GRAPH_RATE_LIMITED or response.status_code >= 500:
            return OAuthFailure(f"Facebook asked to slow down or failed: {words}.", retry_at=self._backoff())
        return OAuthFailure(f"Facebook refused the request: {words}.", status_code=response.status_code)

    def _backoff(self) -> datetime | None:
        # Graph's rate-limit errors carry no reset time.
        return wait_from_seconds(value_of(GRAPH_RATE_LIMIT_BACKOFF_SECONDS), what="Facebook")

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The pages the person manages, each with its own token, and the Instagram business
        account linked to each (connected with that page's token)."""
        choices: list[AccountChoice] = []
        url: str | None = self.graph("/me/accounts")
        params: dict | None = {
            # picture: the page's profile picture ({"data": {"url"}}), shown beside its name.
            # https://developers.facebook.com/docs/graph-api/reference/page/picture/
            "fields": "id,name,access_token,instagram_business_account,picture",
            "access_token": grant.access_token,
            "limit": 100,
        }
        for _ in range(MAX_LISTING_PAGES):
            if not url:
                break
            body = self.get(url, token=grant.access_token, what="your Facebook pages", params=params)
            for page in body.get("data") or []:
                if not isinstance(page, dict) or not page.get("id") or not page.get("access_token"):
                    continue
                # Page tokens read with a long-lived user token do not expire (see the docstring).
                page_grant = Grant(access_token=page["access_token"], scopes=grant.scopes)
                name = str(page.get("name") or page["id"])
                avatar = avatar_of(_nested(page, "picture", "data", "url"))
                choices.append(AccountChoice(self.platform, str(page["id"]), name, page_grant, avatar_url=avatar))
                ig = page.get("instagram_business_account")
                if isinstance(ig, dict) and ig.get("id"):
                    choices.append(
                        AccountChoice(
                            INSTAGRAM.name,
                            str(ig["id"]),
                            f"{name} ({INSTAGRAM.label})",
                            page_grant,
                            note=f"linked to page {name}",
                        )
                    )
            # paging.next is the whole next URL, token included; it is never logged or shown.
            url = (body.get("paging") or {}).get("next")
            params = None
        if not choices:
            raise OAuthFailure("This Facebook account manages no page that planrrr may publish to.")
        return choices


def _nested(body: Any, *keys: str) -> Any:
    """body[k1][k2]... or None where a level is missing or not an object."""
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body
