"""Google's accounts as a connect flow meets them (connections/platforms/google/oauth.py), for
YouTube and Business Profile alike (one Google Cloud project, one OAuth client):

* ``GET google-accounts/o/oauth2/v2/auth?client_id&redirect_uri&response_type=code&scope&state
  &code_challenge&code_challenge_method=S256&access_type=offline&prompt=consent`` -> the consent
  page; the code belongs to the platform the scopes ask for (``youtube.*``: YouTube;
  ``business.manage``: Business Profile).
* ``POST google-oauth2/token`` ``grant_type=authorization_code`` (``client_id``,
  ``client_secret``, ``code``, ``code_verifier``, ``redirect_uri``) -> ``{"access_token",
  "expires_in", "refresh_token" (with access_type=offline), "scope", "token_type": "Bearer"}``;
  ``grant_type=refresh_token`` -> a new access token, no new refresh token. A refresh token that
  was revoked or expired (``_control/oauth`` ``{"expire": token}``: a Testing app's 7 days) is
  400 ``{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}``.

Who logs in: ``PEOPLE`` (one Google account, Acme Coffee's, whose YouTube channels and Business
Profile locations the stand-ins serve).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from mockapis.gate import DIALECTS, Call, endpoint
from mockapis.oauth import client_of, consent, oauth_error
from mockapis.records import AUTHORIZE, TOKEN, OAuthRefused
from mockapis.state import store

PEOPLE: list[dict[str, Any]] = [
    {"id": "108234567890123456789", "name": "Acme Coffee", "username": "acme.coffee.roasters@gmail.com"},
    {"id": "108987654321098765432", "name": "Sam Solo", "username": "sam.solo@gmail.com"},
]
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
BUSINESS_SCOPE = "https://www.googleapis.com/auth/business.manage"


def _dialect(kwargs: dict):
    return DIALECTS[kwargs["platform"]]


def _platform_of_scope(request: HttpRequest) -> str:
    scope = request.GET.get("scope", "")
    return "GOOGLE_BUSINESS" if BUSINESS_SCOPE in scope and YOUTUBE_SCOPE not in scope else "YOUTUBE"


def _platform_of_grant(request: HttpRequest) -> str:
    """The platform a code or a refresh token was issued for (Google's token endpoint is one)."""
    if request.method == "POST":
        code = store.codes.get(str(request.POST.get("code") or ""))
        if code is not None:
            return code.platform
        issued = store.issued_token(str(request.POST.get("refresh_token") or ""))
        if issued is not None:
            return issued.platform
    return "YOUTUBE"


@endpoint(_dialect, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def _authorize(call: Call, **_: Any) -> HttpResponse:
    return consent(
        call,
        people=PEOPLE,
        scope_separator=" ",
        code_seconds=store.config.google_code_seconds,
        denied={"error": "access_denied"},
    )


@endpoint(_dialect, {"POST": TOKEN}, account=client_of)
def _token(call: Call, platform: str) -> HttpResponse:
    grant_type = call.param("grant_type")
    client_id = str(call.param("client_id") or "")
    if not client_id or not call.param("client_secret"):
        call.outcome = "refused:client"
        return oauth_error(401, "invalid_client", "The OAuth client was not found.")
    if grant_type == "authorization_code":
        try:
            code = store.redeem_code(
                platform,
                str(call.param("code") or ""),
                client_id=client_id,
                redirect_uri=str(call.param("redirect_uri") or ""),
                verifier=call.param("code_verifier"),
            )
        except OAuthRefused as refused:
            call.outcome = f"refused:{refused.reason}"
            if refused.reason == "redirect_uri":
                return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            return oauth_error(
                400, "invalid_grant", "Bad Request" if refused.reason != "verifier" else "Missing code verifier."
            )
        refresh = store.issue_token(
            platform,
            "refresh",
            account=code.account,
            client_id=client_id,
            scopes=code.scopes,
            grant=code.code,
            lifetime=None,
            prefix="1//0g",
            length=96,
        )
        return _access(call, platform, refresh, refresh_token=refresh.token)
    if grant_type == "refresh_token":
        try:
            refresh = store.spend_refresh(
                platform, str(call.param("refresh_token") or ""), client_id=client_id, rotate=False
            )
        except OAuthRefused as refused:
            call.outcome = f"refused:{refused.reason}"
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return _access(call, platform, refresh)
    call.outcome = "refused:grant_type"
    return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")


def _access(call: Call, platform: str, refresh, *, refresh_token: str = "") -> JsonResponse:
    access = store.issue_token(
        platform,
        "access",
        account=refresh.account,
        client_id=refresh.client_id,
        scopes=refresh.scopes,
        grant=refresh.grant,
        lifetime=store.config.google_access_token_seconds,
        prefix="ya29.",
        length=120,
    )
    call.outcome = "issued"
    body = {
        "access_token": access.token,
        "expires_in": access.expires_in(),
        "scope": " ".join(refresh.scopes),
        "token_type": "Bearer",
    }
    if refresh_token:
        body["refresh_token"] = refresh_token
    return JsonResponse(body)


@csrf_exempt
def google_authorize(request: HttpRequest) -> HttpResponse:
    return _authorize(request, platform=_platform_of_scope(request))


@csrf_exempt
def google_token(request: HttpRequest) -> HttpResponse:
    return _token(request, platform=_platform_of_grant(request))


def person_of(token: str | None) -> dict[str, Any]:
    """The Google account an access token acts for (the first person for a token never issued)."""
    issued = store.issued_token(token)
    return next((p for p in PEOPLE if issued and p["id"] == issued.account), PEOPLE[0])


urlpatterns = [
    re_path(r"^google-accounts/o/oauth2/v2/auth/?$", google_authorize),
    re_path(r"^google-oauth2/token/?$", google_token),
]
