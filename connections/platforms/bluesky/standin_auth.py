"""A Bluesky PDS's sessions (docs/platforms/bluesky.md), under ``bsky/xrpc/``:

* ``POST com.atproto.server.createSession`` ``{"identifier", "password"}`` -> ``{"did", "handle",
  "accessJwt", "refreshJwt", "active": true}``; a password containing "wrong": 401
  ``AuthenticationRequired`` "Invalid identifier or password". Counted in the request log: a test
  can assert how many sessions a client created.
* ``POST com.atproto.server.refreshSession`` with ``Authorization: Bearer <refreshJwt>`` -> a new
  pair (the refresh JWT spent); a dead one: 400 ``ExpiredToken`` "Token has been revoked".

Access JWTs carry ``exp`` and expire (``bluesky_access_token_seconds``).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import path

from connections.platforms.bluesky.standin import BLUESKY, person
from mockapis.gate import Call, endpoint
from mockapis.records import TOKEN, OAuthRefused
from mockapis.state import store


def jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (header.claims.) whose signature part the store appends."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}."


def session(did: str, handle: str, grant: str) -> dict[str, Any]:
    """A new access and refresh JWT pair for ``did``, as createSession and refreshSession answer."""
    cfg, now = store.config, time.time()
    tokens = {}
    for kind, lifetime, scope in (
        ("access", cfg.bluesky_access_token_seconds, "com.atproto.appPass"),
        ("refresh", cfg.bluesky_refresh_token_seconds, "com.atproto.refresh"),
    ):
        claims = {"scope": scope, "sub": did, "iat": int(now), "exp": int(now + lifetime)}
        tokens[kind] = store.issue_token(
            "BLUESKY",
            kind,
            account=did,
            client_id="app-password",
            scopes=[scope],
            grant=grant,
            lifetime=lifetime,
            prefix=jwt(claims),
            length=43,
        )
    return {
        "did": did,
        "handle": handle,
        "accessJwt": tokens["access"].token,
        "refreshJwt": tokens["refresh"].token,
        "active": True,
        "didDoc": {"id": did, "alsoKnownAs": [f"at://{handle}"]},
    }


@endpoint(BLUESKY, {"POST": TOKEN})
def create_session(call: Call) -> HttpResponse:
    body = call.body if isinstance(call.body, dict) else {}
    identifier, password = str(body.get("identifier") or ""), str(body.get("password") or "")
    if not identifier or not password:
        return BLUESKY.invalid(call, 'Input must have the properties "identifier" and "password"')
    if "wrong" in password:
        call.outcome = "refused"
        return BLUESKY.error(401, "AuthenticationRequired", "Invalid identifier or password")
    who = person(identifier)
    call.account = who["did"]
    call.outcome = "session_created"
    return JsonResponse(session(who["did"], who["handle"], grant=store.token(16)))


@endpoint(BLUESKY, {"POST": TOKEN})
def refresh_session(call: Call) -> HttpResponse:
    token = BLUESKY.token(call) or ""
    try:
        spent = store.spend_refresh("BLUESKY", token, client_id="app-password", rotate=True)
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        if refused.reason == "unknown":
            return BLUESKY.error(400, "InvalidToken", "Token could not be verified")
        return BLUESKY.error(400, "ExpiredToken", "Token has been revoked")
    call.account = spent.account
    call.outcome = "session_refreshed"
    answer = session(spent.account, person(spent.account)["handle"], grant=spent.grant)
    store.link_refresh(spent, store.issued_token(answer["refreshJwt"]))
    return JsonResponse(answer)


urlpatterns = [
    path("bsky/xrpc/com.atproto.server.createSession", create_session),
    path("bsky/xrpc/com.atproto.server.refreshSession", refresh_session),
]
