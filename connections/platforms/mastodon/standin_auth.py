"""A Mastodon instance's app registration and OAuth (docs/platforms/mastodon.md), under ``mastodon/``:

* ``POST api/v1/apps`` {client_name, redirect_uris, scopes, website} -> {"id", "name",
  "client_id", "client_secret", "redirect_uri", ...}.
* ``GET|POST oauth/authorize`` (consent page, PKCE optional) and ``POST oauth/token``
  (authorization_code; the client in the form or Basic) -> {"access_token", "token_type":
  "Bearer", "scope", "created_at"}: no expiry, no refresh token.
"""

from __future__ import annotations

import secrets
import time

from django.http import HttpResponse, JsonResponse
from django.urls import path

from connections.platforms.mastodon.standin import MASTODON, PEOPLE
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent, oauth_error
from mockapis.records import AUTHORIZE, TOKEN, OAuthRefused
from mockapis.state import store


@endpoint(MASTODON, {"POST": TOKEN}, account=client_of)
def apps(call: Call) -> HttpResponse:
    body = call.body if isinstance(call.body, dict) else {}
    if not body.get("client_name") or not body.get("redirect_uris"):
        return MASTODON.invalid(call, "Application name can't be blank, Redirect URI can't be blank")
    client_id, client_secret = store.token(43), store.token(43)
    app = {
        "id": store.digits(6),
        "name": str(body["client_name"]),
        "website": body.get("website"),
        "redirect_uri": str(body["redirect_uris"]),
        "redirect_uris": str(body["redirect_uris"]).split(),
        "scopes": str(body.get("scopes") or "read").split(),
        "client_id": client_id,
        "client_secret": client_secret,
        "vapid_key": store.token(87),
    }
    store.put("mastodon_apps", client_id, app)
    call.outcome = "registered"
    return JsonResponse(app)


@endpoint(MASTODON, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def authorize(call: Call) -> HttpResponse:
    app = store.get("mastodon_apps", str(call.query.get("client_id") or ""))
    if app is None:
        return MASTODON.error(401, "Client authentication failed due to unknown client")
    return consent(
        call,
        people=PEOPLE,
        scope_separator=None,
        code_seconds=store.config.mastodon_code_seconds,
        denied={
            "error": "access_denied",
            "error_description": "The resource owner or authorization server denied the request.",
        },
    )


@endpoint(MASTODON, {"POST": TOKEN}, account=client_of)
def token(call: Call) -> HttpResponse:
    client_id, client_secret = str(call.param("client_id") or ""), str(call.param("client_secret") or "")
    app = store.get("mastodon_apps", client_id)
    if app is None or not secrets.compare_digest(app["client_secret"], client_secret):
        return oauth_error(
            401,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, "
            "or unsupported authentication method.",
        )
    if call.param("grant_type") != "authorization_code":
        return oauth_error(
            400, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server."
        )
    try:
        code = store.redeem_code(
            "MASTODON",
            str(call.param("code") or ""),
            client_id=client_id,
            redirect_uri=str(call.param("redirect_uri") or ""),
            verifier=call.param("code_verifier"),
        )
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        return oauth_error(
            400,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
            "used in the authorization request, or was issued to another client.",
        )
    access = store.issue_token(
        "MASTODON",
        "access",
        account=code.account,
        client_id=client_id,
        scopes=code.scopes,
        grant=code.code,
        lifetime=None,
        length=43,
    )
    call.outcome = "issued"
    return JsonResponse(
        {
            "access_token": access.token,
            "token_type": "Bearer",
            "scope": " ".join(code.scopes),
            "created_at": int(time.time()),
        }
    )


urlpatterns = [
    path("mastodon/api/v1/apps", apps),
    path("mastodon/oauth/authorize", authorize),
    path("mastodon/oauth/token", token),
]
