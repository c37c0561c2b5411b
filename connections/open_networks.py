"""Connecting and renewing accounts on the open networks, where every account has its own server.

* :class:`BlueskyClient`: no OAuth app. The person gives a handle and an app password; a session
  is created ONCE (``com.atproto.server.createSession``), its access JWT and refresh JWT stored
  encrypted, and renewed with ``com.atproto.server.refreshSession`` (the refresh JWT as bearer).
  A new session is created (with the app password, stored encrypted) only when the refresh
  token is dead: createSession is limited to 30 per 5 minutes and 300 a day per account.
* :class:`MastodonClient`: OAuth 2.0 authorization code on the person's instance, with planrrr's
  app registered there on first use (``POST /api/v1/apps``, kept in ``MastodonApp``); PKCE
  (S256, instances from 4.3 check it; older ones ignore the extra parameters). Tokens do not
  expire and there is no refresh: a revoked one answers 401 and the connection is EXPIRED.

Both keep the contract of ``connections.oauth``: what was granted, or OAuthFailure with
``grant_dead`` saying whether only the person can help. Every call of theirs goes to the person's
server through an InstanceSession, pinned to the address it checked, as the adapters' calls do
(connections.platforms.instance).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from connections.oauth import AccountChoice, Grant, OAuthClient, OAuthFailure, normalize_scopes
from connections.platforms.instance import InstanceSession, base_url_problem, normalized_base_url
from planrrr.text import time_from_epoch


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` of a JWT, read without verifying it (it is the server's own token, kept for
    knowing when to renew it, never trusted for anything else); None if it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError, OSError):
        return None


class BlueskyClient(OAuthClient):
    platform = "BLUESKY"
    label = "Bluesky"
    client_id_setting = ""
    client_secret_setting = ""
    connect_form = "app_password"
    session_class = InstanceSession
    # Errors that end a session (https://docs.bsky.app, "HTTP reference"): 400 ExpiredToken
    # ("Token has expired" / "Token has been revoked"), 400 InvalidToken, 401 AuthenticationRequired
    # ("Invalid identifier or password" at createSession), AccountTakedown.
    dead_grant_errors = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown"})

    @property
    def configured(self) -> bool:
        return True

    @property
    def scopes(self) -> list[str]:
        return []

    # Errors come as {"error": "ExpiredToken", "message": "Token has expired"}: the base error_of
    # reads "error" and "message".
    def xrpc(self, base_url: str, method: str, *, what: str, bearer: str = "", body: dict | None = None) -> dict:
        """POST one XRPC procedure on ``base_url``; the answer's JSON object, or OAuthFailure."""
        problem = base_url_problem(base_url)
        if problem:
            raise OAuthFailure(problem)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.request_json(
            "POST",
            f"{normalized_base_url(base_url)}/xrpc/{method}",
            what=what,
            secrets=(bearer, *(body or {}).values()),
            json=body,
            headers=headers,
        )

    def retry_at(self, response: requests.Response) -> datetime | None:
        return time_from_epoch(response.headers.get("RateLimit-Reset"), what="Bluesky RateLimit-Reset")

    def create_session(self, *, base_url: str, identifier: str, password: str) -> AccountChoice:
        """``com.atproto.server.createSession`` {"identifier", "password"} -> {"accessJwt",
        "refreshJwt", "handle", "did", ...}: the account and its first session."""
        base = normalized_base_url(base_url or settings.BLUESKY_PDS_URL)
        body = self.xrpc(
            base,
            "com.atproto.server.createSession",
            what="log in to Bluesky",
            body={"identifier": identifier.strip().lstrip("@"), "password": password},
        )
        if not isinstance(body.get("did"), str) or not body["did"].startswith("did:"):
            raise OAuthFailure("Bluesky did not say which account logged in.")
        grant = self.grant_of(body, base_url=base, password=password)
        return AccountChoice("BLUESKY", body["did"], f"@{body.get('handle') or body['did']}", grant)

    def grant_of(self, body: dict[str, Any], *, base_url: str, password: str) -> Grant:
        access, refresh = body.get("accessJwt"), body.get("refreshJwt")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise OAuthFailure("Bluesky answered without a session (accessJwt and refreshJwt).")
        # No refresh_expires_at: a dead refresh token is replaced by a new session made with the
        # app password, so the person is never asked to reconnect ahead of it.
        return Grant(
            access_token=access,
            refresh_token=refresh,
            expires_at=jwt_expiry(access),
            base_url=base_url,
            app_password=password,
        )

    def refresh(self, *, refresh_token: str) -> Grant:
        raise OAuthFailure("A Bluesky session is renewed with its connection (refresh_connection).")

    def refresh_connection(self, connection) -> Grant:
        """``refreshSession`` with the refresh JWT; when that one is dead, a new session with the
        stored app password (the only createSession after the first)."""
        base = normalized_base_url(connection.base_url or settings.BLUESKY_PDS_URL)
        try:
            body = self.xrpc(
                base,
                "com.atproto.server.refreshSession",
                what="renew the Bluesky session",
                bearer=connection.refresh_token,
            )
        except OAuthFailure as err:
            if not err.grant_dead or not connection.app_password:
                raise
            choice = self.create_session(
                base_url=base, identifier=connection.account_id, password=connection.app_password
            )
            return choice.grant
        return self.grant_of(body, base_url=base, password="")


class MastodonClient(OAuthClient):
    platform = "MASTODON"
    label = "Mastodon"
    client_id_setting = ""
    client_secret_setting = ""
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
        from connections.models import MastodonApp

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
        return [AccountChoice("MASTODON", f"{me['id']}@{host}", name, grant)]
