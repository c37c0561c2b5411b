"""Threads' authorization as a connect flow meets it (docs/platforms/threads.md):

* ``GET threads-www/oauth/authorize?client_id&redirect_uri&scope&response_type=code&state`` ->
  consent page (scopes comma-separated).
* ``POST threads/oauth/access_token`` ``client_id``, ``client_secret``, ``grant_type=
  authorization_code``, ``redirect_uri``, ``code`` -> ``{"access_token", "user_id"}``, a
  short-lived token (``threads_short_lived_token_seconds``).
* ``GET threads/access_token?grant_type=th_exchange_token&client_secret&access_token`` -> a
  long-lived one ``{"access_token", "token_type": "bearer", "expires_in"}``
  (``threads_long_lived_token_seconds``).
* ``GET threads/refresh_access_token?grant_type=th_refresh_token&access_token`` -> a new
  long-lived token, for a long-lived one at least ``threads_refresh_min_age_seconds`` old and
  not expired.
* ``GET threads/v1.0/me?fields=id,username,name,threads_profile_picture_url``.

Who logs in: ``7362450123456789`` "Acme Coffee" (@acmecoffee), the account the demo and the
tests post to, or ``7362450987654321`` "Sam Solo" (@samsolo).
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import re_path

from connections.platforms.meta.standin import VERSION, pick, requested_fields
from connections.platforms.threads.standin import THREADS
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent, identity
from mockapis.records import AUTHORIZE, READ, TOKEN, OAuthRefused
from mockapis.state import store

PEOPLE: list[dict[str, Any]] = [
    {"id": "7362450123456789", "name": "Acme Coffee", "username": "acmecoffee"},
    {"id": "7362450987654321", "name": "Sam Solo", "username": "samsolo"},
]

CODE_ERRORS = {
    "unknown": "Invalid verification code format.",
    "used": "This authorization code has been used.",
    "expired": "This authorization code has expired.",
    "redirect_uri": "Error validating verification code. Please make sure your redirect_uri is identical to the one "
    "you used in the OAuth dialog request",
    "client": "Error validating verification code.",
    "verifier": "Error validating verification code.",
}


@endpoint(THREADS, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def threads_authorize(call: Call, **_: Any) -> HttpResponse:
    return consent(
        call,
        people=PEOPLE,
        scope_separator=",",
        code_seconds=store.config.threads_code_seconds,
        denied={"error": "access_denied", "error_reason": "user_denied", "error_description": "Permissions error"},
    )


@endpoint(THREADS, {"POST": TOKEN}, account=client_of)
def threads_code_exchange(call: Call, **_: Any) -> HttpResponse:
    for name in ("client_id", "client_secret", "redirect_uri", "code"):
        if not call.param(name):
            return THREADS.error(100, f"Missing {name} parameter.")
    if call.param("grant_type") != "authorization_code":
        return THREADS.error(100, "Param grant_type must be authorization_code.")
    client_id = str(call.param("client_id"))
    try:
        code = store.redeem_code(
            "THREADS",
            str(call.param("code")),
            client_id=client_id,
            redirect_uri=str(call.param("redirect_uri")),
            verifier=None,
        )
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        return THREADS.error(100, CODE_ERRORS[refused.reason], subcode=36009 if refused.reason == "used" else None)
    short = store.issue_token(
        "THREADS",
        "access",
        account=code.account,
        client_id=client_id,
        scopes=code.scopes,
        grant=code.code,
        lifetime=store.config.threads_short_lived_token_seconds,
        prefix="THQ",
        length=120,
    )
    call.outcome = "issued"
    return JsonResponse({"access_token": short.token, "user_id": int(code.account)})


def _token_refused(call: Call, token: str, *, long_lived: bool) -> HttpResponse | None:
    issued = store.issued_token(token)
    if issued is None or issued.platform != "THREADS" or issued.kind != "access":
        call.outcome = "refused:unknown"
        return THREADS.error(190, "Invalid OAuth access token - Cannot parse access token")
    problem = issued.problem()
    if problem:
        call.outcome = f"refused:{problem}"
        return THREADS.error(190, f"Error validating access token: the token is {problem}.", subcode=463)
    if bool(issued.details.get("long_lived")) != long_lived:
        call.outcome = "refused:kind"
        which = "a long-lived" if long_lived else "a short-lived"
        return THREADS.error(100, f"(#100) The access token must be {which} Threads user token.")
    return None


def _long_lived(call: Call, source) -> JsonResponse:
    long = store.issue_token(
        "THREADS",
        "access",
        account=source.account,
        client_id=source.client_id,
        scopes=source.scopes,
        grant=source.grant,
        lifetime=store.config.threads_long_lived_token_seconds,
        prefix="THQ",
        length=160,
        long_lived=True,
    )
    call.outcome = "issued"
    return JsonResponse({"access_token": long.token, "token_type": "bearer", "expires_in": long.expires_in()})


@endpoint(THREADS, {"GET": TOKEN})
def threads_exchange(call: Call, **_: Any) -> HttpResponse:
    if call.param("grant_type") != "th_exchange_token":
        return THREADS.error(100, "Param grant_type must be th_exchange_token.")
    if not call.param("client_secret"):
        return THREADS.error(100, "Missing client_secret parameter.")
    token = str(call.param("access_token") or "")
    refused = _token_refused(call, token, long_lived=False)
    return refused or _long_lived(call, store.issued_token(token))


@endpoint(THREADS, {"GET": TOKEN})
def threads_refresh(call: Call, **_: Any) -> HttpResponse:
    if call.param("grant_type") != "th_refresh_token":
        return THREADS.error(100, "Param grant_type must be th_refresh_token.")
    token = str(call.param("access_token") or "")
    refused = _token_refused(call, token, long_lived=True)
    if refused:
        return refused
    issued = store.issued_token(token)
    if time.time() - issued.issued_at < store.config.threads_refresh_min_age_seconds:
        call.outcome = "refused:too_new"
        return THREADS.error(100, "(#100) A long-lived token can be refreshed once it is at least 24 hours old.")
    return _long_lived(call, issued)


@endpoint(THREADS, {"GET": READ})
def threads_me(call: Call, **_: Any) -> HttpResponse:
    issued = store.issued_token(call.token)
    person = identity(PEOPLE, issued.account if issued else None)
    item = {
        "id": person["id"],
        "username": person["username"],
        "name": person["name"],
        "threads_profile_picture_url": f"https://scontent.cdninstagram.com/standin/{person['id']}.jpg",
        "threads_biography": "",
    }
    return JsonResponse(pick(item, requested_fields(call, "id")))


urlpatterns = [
    re_path(r"^threads-www/oauth/authorize/?$", threads_authorize),
    re_path(r"^threads/oauth/access_token/?$", threads_code_exchange),
    re_path(r"^threads/access_token/?$", threads_exchange),
    re_path(r"^threads/refresh_access_token/?$", threads_refresh),
    re_path(r"^threads/" + VERSION + r"me/?$", threads_me),
]
