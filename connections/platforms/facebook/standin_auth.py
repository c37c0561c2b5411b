"""Facebook Login as a connect flow meets it (docs/platforms/facebook.md):

* ``GET facebook-www/v{N}/dialog/oauth?client_id&redirect_uri&state&scope`` -> consent page.
* ``GET graph/v{N}/oauth/access_token?client_id&redirect_uri&client_secret&code`` -> a user token
  ``{"access_token", "token_type": "bearer", "expires_in"}`` (``facebook_user_token_seconds``);
  ``?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`` -> a long-lived
  one (``facebook_long_lived_token_seconds``). Errors in Graph's envelope.
* ``GET graph/v{N}/me`` and ``graph/v{N}/me/accounts?fields=id,name,access_token,
  instagram_business_account`` -> the user's pages, each with its own page token (no expiry when
  listed with a long-lived user token); ``GET graph/v{N}/debug_token?input_token``.

Who logs in: user ``10150000000000001`` "Dana Demo" (the first), who manages the page
``104857600123456`` "Acme Coffee" (linked Instagram business account ``17841400008460056``) and
the page ``104857600654321`` "Acme Roastery" (no Instagram); user ``10150000000000002`` "Sam
Solo", who manages no page.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import re_path

from connections.platforms.facebook.standin import FACEBOOK
from connections.platforms.meta.standin import VERSION, listing
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent, identity
from mockapis.records import AUTHORIZE, READ, TOKEN, Issued, OAuthRefused
from mockapis.state import store

PEOPLE: list[dict[str, Any]] = [
    {
        "id": "10150000000000001",
        "name": "Dana Demo",
        "pages": [
            {
                "id": "104857600123456",
                "name": "Acme Coffee",
                "category": "Coffee Shop",
                "instagram_business_account": "17841400008460056",
            },
            {"id": "104857600654321", "name": "Acme Roastery", "category": "Food & Beverage Company"},
        ],
    },
    {"id": "10150000000000002", "name": "Sam Solo", "pages": []},
]


@endpoint(FACEBOOK, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def facebook_dialog(call: Call, **_: Any) -> HttpResponse:
    # Facebook separates scopes with commas (spaces are taken too).
    return consent(
        call,
        people=PEOPLE,
        scope_separator=",",
        code_seconds=store.config.facebook_code_seconds,
        denied={
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        },
    )


# --- tokens and the pages they may connect ------------------------------------------------

# Graph's words for a code it will not exchange (code 100 and its subcodes).
FACEBOOK_CODE_ERRORS = {
    "unknown": (None, "Invalid verification code format."),
    "used": (36009, "This authorization code has been used."),
    "expired": (36007, "This authorization code has expired."),
    "redirect_uri": (
        36008,
        "Error validating verification code. Please make sure your redirect_uri is identical to the one you "
        "used in the OAuth dialog request",
    ),
    "client": (None, "Error validating verification code."),
    "verifier": (None, "Error validating verification code."),
}
PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]


def expired_session(expired_at: float) -> str:
    then, now = datetime.fromtimestamp(expired_at, tz=UTC), datetime.now(UTC)
    return (
        f"Error validating access token: Session has expired on {then:%A, %d-%b-%y %H:%M:%S} UTC. "
        f"The current time is {now:%A, %d-%b-%y %H:%M:%S} UTC."
    )


@endpoint(FACEBOOK, {"GET": TOKEN, "POST": TOKEN}, account=client_of)
def facebook_access_token(call: Call, **_: Any) -> HttpResponse:
    for name in ("client_id", "client_secret"):
        if not call.param(name):
            return FACEBOOK.error(101, f"Missing {name} parameter.")
    client_id = str(call.param("client_id"))
    if call.param("grant_type") == "fb_exchange_token":
        return facebook_exchange(call, client_id)
    if not call.param("redirect_uri"):
        return FACEBOOK.error(191, "Missing redirect_uri parameter.")
    if not call.param("code"):
        return FACEBOOK.error(100, "Missing code parameter.")
    try:
        code = store.redeem_code(
            "FACEBOOK",
            str(call.param("code")),
            client_id=client_id,
            redirect_uri=str(call.param("redirect_uri")),
            verifier=call.param("code_verifier"),
        )
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        subcode, message = FACEBOOK_CODE_ERRORS[refused.reason]
        return FACEBOOK.error(100, message, subcode=subcode)
    user = store.issue_token(
        "FACEBOOK",
        "access",
        account=code.account,
        client_id=client_id,
        scopes=code.scopes,
        grant=code.code,
        lifetime=store.config.facebook_user_token_seconds,
        prefix="EAA",
        length=120,
    )
    call.outcome = "issued"
    return JsonResponse({"access_token": user.token, "token_type": "bearer", "expires_in": user.expires_in()})


def facebook_exchange(call: Call, client_id: str) -> HttpResponse:
    """A short-lived user token for a long-lived one (docs/platforms/facebook.md: about 60 days, no refresh)."""
    short = store.issued_token(str(call.param("fb_exchange_token") or ""))
    if short is None or short.platform != "FACEBOOK" or short.kind != "access":
        call.outcome = "refused:unknown"
        return FACEBOOK.error(190, "Invalid OAuth access token - Cannot parse access token")
    problem = short.problem()
    if problem == "expired":
        call.outcome = "refused:expired"
        return FACEBOOK.error(190, expired_session(short.expires_at or time.time()), subcode=463)
    if problem or short.client_id != client_id:
        call.outcome = f"refused:{problem or 'client'}"
        return FACEBOOK.error(
            190,
            "Error validating access token: The session has been invalidated because the user changed their "
            "password or Facebook has changed the session for security reasons.",
            subcode=460,
        )
    long = store.issue_token(
        "FACEBOOK",
        "access",
        account=short.account,
        client_id=client_id,
        scopes=short.scopes,
        grant=short.grant,
        lifetime=store.config.facebook_long_lived_token_seconds,
        prefix="EAA",
        length=160,
        long_lived=True,
    )
    call.outcome = "issued"
    return JsonResponse({"access_token": long.token, "token_type": "bearer", "expires_in": long.expires_in()})


def facebook_user(call: Call) -> tuple[dict[str, Any] | None, Issued | None]:
    """The demo user a user token stands for (a made-up token: the first), and its record."""
    issued = store.issued_token(call.token)
    if issued is not None and issued.kind == "page":
        return None, issued
    return identity(PEOPLE, issued.account if issued else None), issued


@endpoint(FACEBOOK, {"GET": READ})
def facebook_me(call: Call, **_: Any) -> HttpResponse:
    person, issued = facebook_user(call)
    if person is None and issued is not None:
        page = issued.details.get("page", {})
        return JsonResponse({"id": issued.account, "name": page.get("name", "")})
    return JsonResponse({"id": person["id"], "name": person["name"]})


@endpoint(FACEBOOK, {"GET": READ})
def facebook_accounts(call: Call, **_: Any) -> HttpResponse:
    person, issued = facebook_user(call)
    if person is None:
        return FACEBOOK.error(100, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)")
    items = []
    for page in person["pages"]:
        item = {
            "id": page["id"],
            "name": page["name"],
            "category": page["category"],
            "tasks": PAGE_TASKS,
            "access_token": page_token(call.token, issued, page),
            "_ts": 0,
        }
        if page.get("instagram_business_account"):
            item["instagram_business_account"] = {"id": page["instagram_business_account"]}
        items.append(item)
    return listing(call, items, "access_token,category,name,tasks")


def page_token(user_token: str, user: Issued | None, page: dict[str, Any]) -> str:
    """The page's own token, one per user token and page: it never expires when the user token
    is long-lived (or made up), and ends with a short-lived one."""
    key = f"{user_token}|{page['id']}"
    known = store.get("page_tokens", key)
    if known:
        return known["token"]
    lifetime = None
    if user is not None and not user.details.get("long_lived") and user.expires_at is not None:
        lifetime = max(0.0, user.expires_at - time.time())
    issued = store.issue_token(
        "FACEBOOK",
        "page",
        account=page["id"],
        client_id=user.client_id if user else "",
        scopes=user.scopes if user else [],
        grant=user.grant if user else "",
        lifetime=lifetime,
        prefix="EAA",
        length=160,
        page={"id": page["id"], "name": page["name"]},
    )
    store.put("page_tokens", key, {"token": issued.token})
    return issued.token


@endpoint(FACEBOOK, {"GET": READ})
def facebook_debug_token(call: Call, **_: Any) -> HttpResponse:
    token = str(call.param("input_token") or "")
    issued = store.issued_token(token)
    if issued is None or issued.platform != "FACEBOOK":
        return JsonResponse(
            {
                "data": {
                    "error": {"code": 190, "message": "Invalid OAuth access token."},
                    "is_valid": False,
                    "scopes": [],
                }
            }
        )
    data: dict[str, Any] = {
        "app_id": issued.client_id,
        "type": "PAGE" if issued.kind == "page" else "USER",
        "application": issued.client_id,
        "expires_at": int(issued.expires_at) if issued.expires_at is not None else 0,
        "is_valid": issued.problem() is None,
        "issued_at": int(issued.issued_at),
        "scopes": issued.scopes,
        "user_id": PEOPLE[0]["id"] if issued.kind == "page" else issued.account,
    }
    if issued.kind == "page":
        data["profile_id"] = issued.account
    if issued.problem() == "expired":
        data["error"] = {"code": 190, "message": expired_session(issued.expires_at or 0), "subcode": 463}
    return JsonResponse({"data": data})


urlpatterns = [
    re_path(r"^facebook-www/" + VERSION + r"dialog/oauth/?$", facebook_dialog),
    # Before Graph's node routes, which would take "oauth", "me" or "debug_token" for a node.
    re_path(r"^graph/" + VERSION + r"oauth/access_token/?$", facebook_access_token),
    re_path(r"^graph/" + VERSION + r"debug_token/?$", facebook_debug_token),
    re_path(r"^graph/" + VERSION + r"me/accounts/?$", facebook_accounts),
    re_path(r"^graph/" + VERSION + r"me/?$", facebook_me),
]
