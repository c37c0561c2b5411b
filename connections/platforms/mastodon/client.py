"""Mastodon's connect client (docs/platforms/mastodon.md), on the account's own instance.

It keeps the contract of ``connections.oauth``: what was granted, or OAuthFailure with
``grant_dead`` saying whether only the person can help. Every call goes to the person's server
through an InstanceSession, pinned to the address it checked, as the adapters' calls do
(connections.platforms.instance).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings

from connections.grants import AccountChoice, Grant, avatar_of, normalize_scopes
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.instance import InstanceSession, base_url_problem, normalized_base_url
from connections.platforms.mastodon import DECLARATION
from connections.platforms.mastodon.models import MastodonApp


class MastodonClient(OAuthClient):
    """OAuth 2.0 authorization code on the person's instance, with planrrr's app registered there
    on first use (``POST /api/v1/apps``, kept in ``MastodonApp``); PKCE (S256, instances from 4.3
    check it; older ones ignore the extra parameters). Tokens do not expire and there is no
    refresh: a revoked one answers 401 and the connection is EXPIRED."""

    declaration = DECLARATION
    connect_form = "instance"
    session_class = InstanceSession
    token_auth_method = "client_secret_post"
    pkce = True
    # What planrrr does: read the account it acts for, post statuses and media.
    SCOPES = ("read:accounts", "write:statuses", "write:media")

    def __init__(self, session: requests.Session | None = None, *, base_url: str = ""):
        super().__init__(session)
        self.instance = normalized_base_url(base_url)
        self.app = None

    @property
    def configured(self) -> bool:
        # Nothing to configure: the app is registered on each instance on first use.
        return True

    @property
    def client_id(self) -> str:
        return self.app.client_id if self.app else ""

    @property
    def client_secret(self) -> str:
        return self.app.client_secret if self.app else ""

    @property
    def refreshable(self) -> bool:
        return False

    @property
    def scopes(self) -> list[str]:
        return list(self.SCOPES)

    def authorize_endpoint(self) -> str:
        return f"{self.instance}/oauth/authorize"

    def token_endpoint(self) -> str:
        return f"{self.instance}/oauth/token"

    def for_instance(self, base_url: str) -> MastodonClient:
        return MastodonClient(self.http, base_url=base_url)

    def register(self, *, redirect_uri: str):
        """planrrr's app on this instance for ``redirect_uri``, registered now if it is not yet:
        ``POST /api/v1/apps`` {client_name, redirect_uris, scopes, website} -> {"client_id",
        "client_secret", ...}."""
        problem = base_url_problem(self.instance) if self.instance else "No Mastodon server was given."
        if problem:
            raise OAuthFailure(problem)
        scopes = " ".join(self.SCOPES)
        app = MastodonApp.objects.filter(base_url=self.instance, redirect_uri=redirect_uri).first()
        # An app registered with other scopes (an older planrrr) cannot grant these: register again.
        if app is None or app.scopes != scopes:
            body = self.request_json(
                "POST",
                f"{self.instance}/api/v1/apps",
                what=f"register planrrr at {self.instance}",
                data={
                    "client_name": "planrrr",
                    "redirect_uris": redirect_uri,
                    "scopes": scopes,
                    "website": settings.OAUTH_REDIRECT_BASE_URL or "https://github.com/planrrr",
                },
            )
            if not body.get("client_id") or not body.get("client_secret"):
                raise OAuthFailure(
                    f"Mastodon at {self.instance} answered the app registration without client_id and client_secret."
                )
            client_id, client_secret = str(body["client_id"]), str(body["client_secret"])
            # Two first connects to an instance at once both register: one row is kept (the
            # unique instance and redirect URI), and update_or_create settles the race.
            app, _ = MastodonApp.objects.update_or_create(
                base_url=self.instance,
                redirect_uri=redirect_uri,
                defaults={"scopes": scopes, "client_id": client_id, "client_secret": client_secret},
            )
        self.app = app
        return app

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str | None) -> str:
        self.register(redirect_uri=redirect_uri)
        return super().authorization_url(redirect_uri=redirect_uri, state=state, code_verifier=code_verifier)

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        self.register(redirect_uri=redirect_uri)
        grant = super().exchange(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        grant.base_url = self.instance
        return grant

    def grant_from(self, token: dict) -> Grant:
        # {"access_token", "token_type": "Bearer", "scope": "read:accounts write:statuses ...",
        # "created_at": 1573979017}: no expires_in, no refresh_token.
        grant = super().grant_from(token)
        grant.scopes = normalize_scopes(token.get("scope", ""))
        grant.base_url = self.instance
        return grant

    def refresh(self, *, refresh_token: str) -> Grant:
        raise OAuthFailure("Mastodon tokens are not refreshed: reconnect the account.", grant_dead=True)

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The account the token acts for: ``GET /api/v1/accounts/verify_credentials`` -> {"id",
        "username", "acct", ...}. Its id is only unique on its instance, so the connection's
        account_id is ``<id>@<host>``."""
        me = self.get(
            f"{self.instance}/api/v1/accounts/verify_credentials",
            token=grant.access_token,
            what="your Mastodon account",
            headers={"Authorization": f"Bearer {grant.access_token}"},
        )
        if not me.get("id"):
            raise OAuthFailure("Mastodon did not say which account was connected.")
        host = urlsplit(self.instance).netloc
        name = f"@{me.get('acct') or me.get('username') or me['id']}@{host}"
        # The Account entity's "avatar": https://docs.joinmastodon.org/entities/Account/#avatar
        avatar = avatar_of(me.get("avatar"))
        return [AccountChoice(self.platform, f"{me['id']}@{host}", name, grant, avatar_url=avatar)]
