"""X's OAuth 2.0 as a connect flow meets it (docs/platforms/x.md), under ``x/``:

* ``GET x/i/oauth2/authorize?response_type=code&client_id&redirect_uri&scope&state
  &code_challenge&code_challenge_method=S256`` -> the consent page; approving redirects to
  ``redirect_uri?state&code``, cancelling to ``redirect_uri?error=access_denied&state``.
* ``POST x/2/oauth2/token`` form ``grant_type=authorization_code, code, redirect_uri,
  code_verifier`` or ``grant_type=refresh_token, refresh_token``; the client by
  ``Authorization: Basic b64(id:secret)`` (confidential) or ``client_id`` in the form (public)
  -> ``{"token_type": "bearer", "expires_in", "access_token", "scope", "refresh_token"}``, the
  refresh token only with ``offline.access``. Refresh tokens rotate and are single use; a spent,
  revoked or unknown one, or a bad, used, expired (``x_code_seconds``) code or a PKCE mismatch:
  400 ``{"error": "invalid_request", "error_description": "Value passed for the token was
  invalid."}``. Access tokens act for their user (``GET x/2/users/me``, tweets).
* ``POST x/2/oauth2/revoke`` form ``token``: revokes it (a refresh token: its whole grant).

Who logs in: user ``2244994945`` "Acme Coffee" @acmecoffee (the first) or ``783214`` "Acme
Support" @acmesupport.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from django.http import HttpResponse, JsonResponse
from django.urls import path

from connections.platforms.x.standin import X
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent, identity, oauth_error
from mockapis.records import AUTHORIZE, TOKEN, Issued, OAuthRefused
from mockapis.state import store

PEOPLE: list[dict[str, Any]] = [
    {"id": "2244994945", "name": "Acme Coffee", "username": "acmecoffee"},
    {"id": "783214", "name": "Acme Support", "username": "acmesupport"},
]


@endpoint(X, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def x_authorize(call: Call) -> HttpResponse:
    return consent(
        call,
        people=PEOPLE,
        scope_separator=None,
        code_seconds=store.config.x_code_seconds,
        denied={"error": "access_denied"},
        pkce_required=True,
    )


# --- tokens ---------------------------------------------------------------------------------

X_INVALID = "Value passed for the token was invalid."


def x_client(call: Call) -> str | None:
    """The client id: from ``Authorization: Basic`` (confidential clients; RFC 6749 2.3.1
    form-encodes id and secret before base64), else ``client_id`` in the form (public clients)."""
    header = call.request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(client_id) if client_id and secret else None
    return str(call.param("client_id") or "") or None


def x_tokens(*, user: str, client_id: str, scopes: list[str], grant: str) -> tuple[Issued, Issued | None]:
    lifetime = store.config.x_access_token_seconds
    access = store.issue_token(
        "TWITTER", "access", account=user, client_id=client_id, scopes=scopes, grant=grant, lifetime=lifetime
    )
    person = identity(PEOPLE, user) or {}
    # An issued token acts for its user: posts, users/me.
    store.bind_token("TWITTER", access.token, user, **{k: person[k] for k in ("name", "username") if k in person})
    refresh = None
    if "offline.access" in scopes:
        refresh = store.issue_token(
            "TWITTER", "refresh", account=user, client_id=client_id, scopes=scopes, grant=grant, lifetime=None
        )
    return access, refresh


@endpoint(X, {"POST": TOKEN}, account=client_of)
def x_token(call: Call) -> HttpResponse:
    client_id = x_client(call)
    if not client_id:
        call.outcome = "unauthorized_client"
        return oauth_error(401, "unauthorized_client", "Missing valid authorization header")
    grant_type = call.param("grant_type")
    try:
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri", "code_verifier"):
                if not call.param(name):
                    return oauth_error(400, "invalid_request", f"Missing required parameter [{name}].")
            code = store.redeem_code(
                "TWITTER",
                str(call.param("code")),
                client_id=client_id,
                redirect_uri=str(call.param("redirect_uri")),
                verifier=str(call.param("code_verifier")),
            )
            access, refresh = x_tokens(user=code.account, client_id=client_id, scopes=code.scopes, grant=code.code)
        elif grant_type == "refresh_token":
            if not call.param("refresh_token"):
                return oauth_error(400, "invalid_request", "Missing required parameter [refresh_token].")
            spent = store.spend_refresh("TWITTER", str(call.param("refresh_token")), client_id=client_id, rotate=True)
            access, refresh = x_tokens(user=spent.account, client_id=client_id, scopes=spent.scopes, grant=spent.grant)
            store.link_refresh(spent, refresh)
        else:
            return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type [{grant_type}].")
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        return oauth_error(400, "invalid_request", X_INVALID)
    call.outcome = "issued"
    body = {
        "token_type": "bearer",
        "expires_in": access.expires_in(),
        "access_token": access.token,
        "scope": " ".join(access.scopes),
    }
    if refresh is not None:
        body["refresh_token"] = refresh.token
    return JsonResponse(body)


@endpoint(X, {"POST": TOKEN}, account=client_of)
def x_revoke(call: Call) -> HttpResponse:
    if not x_client(call):
        call.outcome = "unauthorized_client"
        return oauth_error(401, "unauthorized_client", "Missing valid authorization header")
    token = call.param("token")
    if not token:
        return oauth_error(400, "invalid_request", "Missing required parameter [token].")
    # RFC 7009 2.2: an unknown token is answered as revoked too.
    call.outcome = "revoked" if store.end_token(str(token)) else "unknown"
    return JsonResponse({"revoked": True})


urlpatterns = [
    path("x/i/oauth2/authorize", x_authorize),
    path("x/2/oauth2/token", x_token),
    path("x/2/oauth2/revoke", x_revoke),
]
