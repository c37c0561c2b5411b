"""Bluesky's connect and renewal client (docs/platforms/bluesky.md), on the account's own PDS.

It keeps the contract of ``connections.oauth``: what was granted, or OAuthFailure with
``grant_dead`` saying whether only the person can help. Every call goes to the person's server
through an InstanceSession, pinned to the address it checked, as the adapters' calls do
(connections.platforms.instance).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import requests

from connections.grants import AccountChoice, Grant
from connections.oauth import OAuthClient, OAuthFailure
from connections.platforms.bluesky import DECLARATION
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
    """No OAuth app. The person gives a handle and an app password; a session is created ONCE
    (``com.atproto.server.createSession``), its access JWT and refresh JWT stored encrypted, and
    renewed with ``com.atproto.server.refreshSession`` (the refresh JWT as bearer). A new session
    is created (with the app password, stored encrypted) only when the refresh token is dead:
    createSession is limited to 30 per 5 minutes and 300 a day per account."""

    declaration = DECLARATION
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
        base = normalized_base_url(base_url or self.api_url)
        body = self.xrpc(
            base,
            "com.atproto.server.createSession",
            what="log in to Bluesky",
            body={"identifier": identifier.strip().lstrip("@"), "password": password},
        )
        if not isinstance(body.get("did"), str) or not body["did"].startswith("did:"):
            raise OAuthFailure("Bluesky did not say which account logged in.")
        grant = self.grant_of(body, base_url=base, password=password)
        return AccountChoice(self.platform, body["did"], f"@{body.get('handle') or body['did']}", grant)

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
        base = normalized_base_url(connection.base_url or self.api_url)
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
