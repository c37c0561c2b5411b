"""LinkedIn's OAuth as a connect flow meets it (docs/platforms/linkedin.md), and the listings
read right after connecting:

* ``GET linkedin-www/oauth/v2/authorization?response_type=code&client_id&redirect_uri&state
  &scope`` -> consent page; cancelling: ``error=user_cancelled_authorize``.
* ``POST linkedin-www/oauth/v2/accessToken`` form ``grant_type=authorization_code, code,
  client_id, client_secret, redirect_uri`` -> ``{"access_token", "expires_in", "scope"}`` plus
  ``refresh_token``, ``refresh_token_expires_in`` while ``linkedin_refresh_tokens`` is on;
  ``grant_type=refresh_token`` -> a new access token and the *same* refresh token with what is
  left of its lifetime (LinkedIn does not extend it). Errors 400 ``{"error": "invalid_grant"}``.
* ``GET linkedin/v2/userinfo`` (OpenID Connect), ``GET linkedin/rest/organizationAcls
  ?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED``, ``GET linkedin/rest/organizations/{id}``.

Who logs in: member ``sub`` ``yrZCpj2Z12`` "Dana Demo" (dana@acme.example), administrator of
``urn:li:organization:5515715`` "Acme Coffee Ltd" and ``urn:li:organization:2414183`` "Acme
Roastery" (the first); member ``Xq1Ab2Cd3E`` "Sam Solo", administrator of none.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import path

from connections.platforms.linkedin.standin import LINKEDIN, version_missing
from mockapis.gate import Call, endpoint
from mockapis.oauth import client_of, consent, identity, oauth_error
from mockapis.records import AUTHORIZE, READ, TOKEN, OAuthRefused
from mockapis.state import store

PEOPLE: list[dict[str, Any]] = [
    {
        "id": "yrZCpj2Z12",
        "name": "Dana Demo",
        "given_name": "Dana",
        "family_name": "Demo",
        "email": "dana@acme.example",
        "organizations": [
            {"urn": "urn:li:organization:5515715", "name": "Acme Coffee Ltd"},
            {"urn": "urn:li:organization:2414183", "name": "Acme Roastery"},
        ],
    },
    {
        "id": "Xq1Ab2Cd3E",
        "name": "Sam Solo",
        "given_name": "Sam",
        "family_name": "Solo",
        "email": "sam@solo.example",
        "organizations": [],
    },
]


@endpoint(LINKEDIN, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def linkedin_authorization(call: Call) -> HttpResponse:
    return consent(
        call,
        people=PEOPLE,
        scope_separator=None,
        code_seconds=store.config.linkedin_code_seconds,
        denied={
            "error": "user_cancelled_authorize",
            "error_description": "The user cancelled the authorization",
        },
    )


# --- tokens and the accounts they may connect --------------------------------------------

GRANT_DEAD = "The provided authorization grant or refresh token is invalid, expired or revoked"
GRANT_MISMATCH = "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code"
LINKEDIN_INVALID_GRANT = {
    "unknown": GRANT_DEAD,
    "used": GRANT_DEAD,
    "expired": GRANT_DEAD,
    "revoked": GRANT_DEAD,
    "redirect_uri": GRANT_MISMATCH,
    "client": GRANT_MISMATCH,
    "verifier": GRANT_MISMATCH,
}


@endpoint(LINKEDIN, {"POST": TOKEN}, account=client_of)
def linkedin_access_token(call: Call) -> HttpResponse:
    for name in ("grant_type", "client_id", "client_secret"):
        if not call.param(name):
            return oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    client_id, grant_type, cfg = str(call.param("client_id")), call.param("grant_type"), store.config
    try:
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri"):
                if not call.param(name):
                    return oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
            code = store.redeem_code(
                "LINKEDIN",
                str(call.param("code")),
                client_id=client_id,
                redirect_uri=str(call.param("redirect_uri")),
                verifier=call.param("code_verifier"),
            )
            refresh = None
            if cfg.linkedin_refresh_tokens:
                refresh = store.issue_token(
                    "LINKEDIN",
                    "refresh",
                    account=code.account,
                    client_id=client_id,
                    scopes=code.scopes,
                    grant=code.code,
                    lifetime=cfg.linkedin_refresh_token_seconds,
                    prefix="AQX",
                    length=300,
                )
            account, scopes, grant = code.account, code.scopes, code.code
        elif grant_type == "refresh_token":
            if not call.param("refresh_token"):
                return oauth_error(400, "invalid_request", 'A required parameter "refresh_token" is missing')
            # LinkedIn answers with the same refresh token, its expiry not extended (docs/platforms/linkedin.md).
            refresh = store.spend_refresh(
                "LINKEDIN", str(call.param("refresh_token")), client_id=client_id, rotate=False
            )
            account, scopes, grant = refresh.account, refresh.scopes, refresh.grant
        else:
            return oauth_error(400, "unsupported_grant_type", f"Grant type {grant_type} is not supported")
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        return oauth_error(400, "invalid_grant", LINKEDIN_INVALID_GRANT[refused.reason])
    access = store.issue_token(
        "LINKEDIN",
        "access",
        account=account,
        client_id=client_id,
        scopes=scopes,
        grant=grant,
        lifetime=cfg.linkedin_access_token_seconds,
        prefix="AQV",
        length=300,
    )
    call.outcome = "issued"
    # LinkedIn lists granted scopes separated by commas.
    body: dict[str, Any] = {"access_token": access.token, "expires_in": access.expires_in(), "scope": ",".join(scopes)}
    if refresh is not None:
        body.update(refresh_token=refresh.token, refresh_token_expires_in=refresh.expires_in())
    return JsonResponse(body)


def linkedin_member(call: Call) -> dict[str, Any]:
    issued = store.issued_token(call.token)
    return identity(PEOPLE, issued.account if issued else None) or identity(PEOPLE)


@endpoint(LINKEDIN, {"GET": READ})
def linkedin_userinfo(call: Call) -> HttpResponse:
    person = linkedin_member(call)
    return JsonResponse(
        {
            "sub": person["id"],
            "email_verified": True,
            "name": person["name"],
            "locale": {"country": "US", "language": "en"},
            "given_name": person["given_name"],
            "family_name": person["family_name"],
            "email": person["email"],
            "picture": f"https://media.licdn.com/dms/image/standin/{person['id']}.jpg",
        }
    )


@endpoint(LINKEDIN, {"GET": READ})
def linkedin_organization_acls(call: Call) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    if call.query.get("q") != "roleAssignee":
        return LINKEDIN.invalid(call, "This finder needs q=roleAssignee")
    person = linkedin_member(call)
    role, state = call.query.get("role"), call.query.get("state")
    now = int(time.time() * 1000)
    elements = [
        {
            "roleAssignee": f"urn:li:person:{person['id']}",
            "state": "APPROVED",
            "role": "ADMINISTRATOR",
            "organization": org["urn"],
            "created": {"actor": f"urn:li:person:{person['id']}", "time": now},
            "lastModified": {"actor": f"urn:li:person:{person['id']}", "time": now},
        }
        for org in person["organizations"]
        if role in (None, "ADMINISTRATOR") and state in (None, "APPROVED")
    ]
    return JsonResponse(
        {"paging": {"start": 0, "count": 10, "links": [], "total": len(elements)}, "elements": elements}
    )


@endpoint(LINKEDIN, {"GET": READ})
def linkedin_organization(call: Call, org_id: str) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    urn = f"urn:li:organization:{org_id}"
    for person in PEOPLE:
        for org in person["organizations"]:
            if org["urn"] == urn:
                vanity = org["name"].lower().replace(" ", "-")
                return JsonResponse({"id": int(org_id), "localizedName": org["name"], "vanityName": vanity})
    return JsonResponse({"status": 404, "message": f"Organization {urn} does not exist"}, status=404)


urlpatterns = [
    path("linkedin-www/oauth/v2/authorization", linkedin_authorization),
    path("linkedin-www/oauth/v2/accessToken", linkedin_access_token),
    path("linkedin/v2/userinfo", linkedin_userinfo),
    path("linkedin/rest/organizationAcls", linkedin_organization_acls),
    path("linkedin/rest/organizations/<str:org_id>", linkedin_organization),
]
