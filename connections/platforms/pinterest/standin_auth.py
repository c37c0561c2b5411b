"""Pinterest's authorization as a connect flow meets it (docs/platforms/pinterest.md):

* ``GET pinterest-www/oauth/?client_id&redirect_uri&response_type=code&scope&state`` -> the
  consent page (scopes comma-separated); cancelling redirects with ``error=access_denied``.
* ``POST pinterest/v5/oauth/token``, the app's id and secret as HTTP Basic authentication,
  ``grant_type=authorization_code`` (``code``, ``redirect_uri``) or ``refresh_token``
  (``refresh_token``) -> ``{"access_token", "refresh_token", "response_type", "token_type":
  "bearer", "expires_in", "refresh_token_expires_in", "refresh_token_expires_at", "scope"}``. The
  refresh token is continuous: each refresh answers a new one of a full lifetime and ends the one
  spent. Errors ``{"code", "message"}`` (the shapes of a refused grant are not documented).
* ``GET pinterest/v5/user_account`` -> ``{"account_type", "id", "username", "profile_image", ...}``.

Who logs in: ``1130405611271855432`` @acmecoffee (boards "Coffee at home", "Latte art"), the
account the demo and the tests pin to, or ``1130405611271855999`` @samsolo (one secret board).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import re_path

from connections.platforms.pinterest.standin import PEOPLE, PINTEREST, person_of
from mockapis import engagement
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent
from mockapis.records import AUTHORIZE, READ, TOKEN, OAuthRefused
from mockapis.state import store


@endpoint(PINTEREST, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def pinterest_authorize(call: Call) -> HttpResponse:
    return consent(
        call,
        people=PEOPLE,
        scope_separator=",",
        code_seconds=store.config.pinterest_code_seconds,
        denied={"error": "access_denied", "error_description": "The user denied access."},
    )


def basic_client(call: Call) -> tuple[str, str] | None:
    scheme, _, value = call.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if client_id and secret else None


def basic_account(call: Call, kwargs: dict) -> str:
    client = basic_client(call)
    return client[0] if client else ""


@endpoint(PINTEREST, {"POST": TOKEN}, account=basic_account)
def pinterest_token(call: Call) -> HttpResponse:
    client = basic_client(call)
    if client is None:
        return PINTEREST.error(
            401, 2, "Authentication failed: the app's id and secret go in HTTP Basic authentication."
        )
    client_id, cfg = client[0], store.config
    grant_type = call.param("grant_type")
    try:
        if grant_type == "authorization_code":
            if not call.param("code") or not call.param("redirect_uri"):
                return PINTEREST.invalid(call, "Missing code or redirect_uri.")
            code = store.redeem_code(
                "PINTEREST",
                str(call.param("code")),
                client_id=client_id,
                redirect_uri=str(call.param("redirect_uri")),
                verifier=None,
            )
            account, scopes, grant, spent = code.account, code.scopes, code.code, None
        elif grant_type == "refresh_token":
            if not call.param("refresh_token"):
                return PINTEREST.invalid(call, "Missing refresh_token.")
            spent = store.spend_refresh("PINTEREST", str(call.param("refresh_token")), client_id=client_id, rotate=True)
            account, scopes, grant = spent.account, spent.scopes, spent.grant
        else:
            return PINTEREST.invalid(call, f"Unsupported grant_type {grant_type!r}.")
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        words = "authorization code" if grant_type == "authorization_code" else "refresh token"
        return PINTEREST.error(400, 1, f"Invalid {words}: it is {refused.reason}.")
    issue = dict(account=account, client_id=client_id, scopes=scopes, grant=grant)
    access = store.issue_token(
        "PINTEREST", "access", lifetime=cfg.pinterest_access_token_seconds, prefix="pina_", length=80, **issue
    )
    refresh = store.issue_token(
        "PINTEREST", "refresh", lifetime=cfg.pinterest_refresh_token_seconds, prefix="pinr_", length=80, **issue
    )
    if spent is not None:
        store.link_refresh(spent, refresh)
    call.outcome = "issued"
    return JsonResponse(
        {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "response_type": grant_type,
            "token_type": "bearer",
            "expires_in": access.expires_in(),
            "refresh_token_expires_in": refresh.expires_in(),
            "refresh_token_expires_at": int(time.time()) + refresh.expires_in(),
            "scope": ",".join(scopes),
        }
    )


@endpoint(PINTEREST, {"GET": READ}, account=lambda call, kwargs: person_of(call)["id"])
def user_account(call: Call) -> HttpResponse:
    person = person_of(call)
    item: dict[str, Any] = {
        "account_type": "BUSINESS",
        "id": person["id"],
        "username": person["username"],
        "business_name": person["name"],
        "profile_image": f"https://i.pinimg.com/600x600_R/standin/{person['id']}.jpg",
        "website_url": "",
        "board_count": len(person["boards"]),
        "follower_count": engagement.followers(person["id"]),
        "following_count": 75,
        "pin_count": len(store.find_posts("PINTEREST", person["id"])),
        "monthly_views": 4200,
    }
    for name in store.retired_metrics("PINTEREST"):
        item.pop(name, None)
    return JsonResponse(item)


urlpatterns = [
    re_path(r"^pinterest-www/oauth/?$", pinterest_authorize),
    re_path(r"^pinterest/v5/oauth/token/?$", pinterest_token),
    re_path(r"^pinterest/v5/user_account/?$", user_account),
]
