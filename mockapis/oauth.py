"""The platforms' OAuth as a connect flow meets it (docs/platforms/): consent pages, token
endpoints, and the account listings read right after connecting. Paths relative to the base:

X (OAuth 2.0 authorization code with PKCE):
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

Facebook Login:
* ``GET facebook-www/v{N}/dialog/oauth?client_id&redirect_uri&state&scope`` -> consent page.
* ``GET graph/v{N}/oauth/access_token?client_id&redirect_uri&client_secret&code`` -> a user token
  ``{"access_token", "token_type": "bearer", "expires_in"}`` (``facebook_user_token_seconds``);
  ``?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`` -> a long-lived
  one (``facebook_long_lived_token_seconds``). Errors in Graph's envelope.
* ``GET graph/v{N}/me`` and ``graph/v{N}/me/accounts?fields=id,name,access_token,
  instagram_business_account`` -> the user's pages, each with its own page token (no expiry when
  listed with a long-lived user token); ``GET graph/v{N}/debug_token?input_token``.

LinkedIn:
* ``GET linkedin-www/oauth/v2/authorization?response_type=code&client_id&redirect_uri&state
  &scope`` -> consent page; cancelling: ``error=user_cancelled_authorize``.
* ``POST linkedin-www/oauth/v2/accessToken`` form ``grant_type=authorization_code, code,
  client_id, client_secret, redirect_uri`` -> ``{"access_token", "expires_in", "scope"}`` plus
  ``refresh_token``, ``refresh_token_expires_in`` while ``linkedin_refresh_tokens`` is on;
  ``grant_type=refresh_token`` -> a new access token and the *same* refresh token with what is
  left of its lifetime (LinkedIn does not extend it). Errors 400 ``{"error": "invalid_grant"}``.
* ``GET linkedin/v2/userinfo`` (OpenID Connect), ``GET linkedin/rest/organizationAcls
  ?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED``, ``GET linkedin/rest/organizations/{id}``.

Who logs in: the demo identities of mockapis.state (``login=<id>`` picks one). Issued tokens
expire for real: an API call with an expired or revoked one gets the platform's answer (the gate).
A made-up token the stand-in never issued reads as the first demo identity, as before.
"""

from __future__ import annotations

import base64
import binascii
import html
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse

from .gate import Call, endpoint
from .graph import FACEBOOK, listing
from .linkedin import LINKEDIN, version_missing
from .state import AUTHORIZE, IDENTITIES, READ, TOKEN, Issued, OAuthRefused, identity, store
from .x import X

# --- consent pages --------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
<p>The app <strong id="client-id">{client_id}</strong> asks for: <span id="scopes">{scopes}</span></p>
<form method="post" action="{action}">
<label for="login">Log in as</label>
<select name="login" id="login">{options}</select>
<button type="submit" name="decision" value="authorize" id="authorize">Authorize</button>
<button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</form>
</body></html>
"""

PLATFORM_NAMES = {"TWITTER": "X", "FACEBOOK": "Facebook", "LINKEDIN": "LinkedIn", "MASTODON": "Mastodon"}


def error_page(call: Call, status: int, message: str) -> HttpResponse:
    """What a platform shows instead of redirecting when the request itself is wrong (RFC 6749
    4.1.2.1: never redirect to a redirect_uri that cannot be trusted)."""
    call.outcome = "rejected"
    name = PLATFORM_NAMES[call.platform]
    body = (
        f"<!doctype html><title>{name}: error</title><h1>Something went wrong</h1>"
        f"<p id='error'>{html.escape(message)}</p>"
    )
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def consent(
    call: Call,
    *,
    scope_separator: str | None,
    code_seconds: float,
    denied: dict[str, str],
    pkce_required: bool = False,
) -> HttpResponse:
    """The consent page (GET) and its answer (POST back to the same URL, query intact)."""
    query = call.query
    client_id, redirect_uri = str(query.get("client_id") or ""), str(query.get("redirect_uri") or "")
    if not client_id:
        return error_page(call, 400, "Invalid request: client_id is required.")
    if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
        return error_page(call, 400, "Invalid request: redirect_uri must be an absolute http(s) URL.")
    if query.get("response_type") != "code":
        return error_page(call, 400, "Invalid request: response_type must be code.")
    challenge, method = str(query.get("code_challenge") or ""), str(query.get("code_challenge_method") or "")
    if pkce_required and not challenge:
        return error_page(call, 400, "Invalid request: code_challenge is required.")
    if challenge and method not in ("S256", "plain"):
        return error_page(call, 400, "Invalid request: code_challenge_method must be S256 or plain.")
    raw_scope = str(query.get("scope") or "")
    scopes = [s for s in (raw_scope.split(scope_separator) if scope_separator else raw_scope.split()) if s.strip()]
    scopes = [s.strip() for s in scopes]
    login = call.param("login") or query.get("login")
    person = identity(call.platform, login)
    if person is None:
        return error_page(call, 400, f"No demo identity {login!r} here.")
    state = {"state": str(query["state"])} if "state" in query else {}

    if call.request.method == "GET":
        call.outcome = "consent_page"
        options = "".join(
            f'<option value="{html.escape(p["id"])}"{" selected" if p is person else ""}>'
            f"{html.escape(p['name'])} ({html.escape(p['id'])})</option>"
            for p in IDENTITIES[call.platform]
        )
        page = PAGE.format(
            title=html.escape(f"Authorize {client_id} to use your {PLATFORM_NAMES[call.platform]} account"),
            client_id=html.escape(client_id),
            scopes=html.escape(" ".join(scopes) or "(no scopes)"),
            action=html.escape(call.request.get_full_path()),
            options=options,
        )
        return HttpResponse(page, content_type="text/html; charset=utf-8")

    if call.param("decision") != "authorize":
        call.outcome = "denied"
        return HttpResponseRedirect(with_query(redirect_uri, {**denied, **state}))
    code = store.issue_code(
        call.platform,
        lifetime=code_seconds,
        client_id=client_id,
        redirect_uri=redirect_uri,
        account=person["id"],
        scopes=scopes,
        code_challenge=challenge,
        code_challenge_method=method or ("S256" if challenge else ""),
    )
    call.outcome = "authorized"
    return HttpResponseRedirect(with_query(redirect_uri, {**state, "code": code.code}))


def client_of(call: Call, kwargs: dict) -> str:
    return str(call.param("client_id") or "")


@endpoint(X, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def x_authorize(call: Call) -> HttpResponse:
    return consent(
        call,
        scope_separator=None,
        code_seconds=store.config.x_code_seconds,
        denied={"error": "access_denied"},
        pkce_required=True,
    )


@endpoint(FACEBOOK, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def facebook_dialog(call: Call, **_: Any) -> HttpResponse:
    # Facebook separates scopes with commas (spaces are taken too).
    return consent(
        call,
        scope_separator=",",
        code_seconds=store.config.facebook_code_seconds,
        denied={
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        },
    )


@endpoint(LINKEDIN, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=client_of)
def linkedin_authorization(call: Call) -> HttpResponse:
    return consent(
        call,
        scope_separator=None,
        code_seconds=store.config.linkedin_code_seconds,
        denied={
            "error": "user_cancelled_authorize",
            "error_description": "The user cancelled the authorization",
        },
    )


# --- X --------------------------------------------------------------------------------------

X_INVALID = "Value passed for the token was invalid."


def oauth_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


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
    person = identity("TWITTER", user) or {}
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


# --- Facebook -------------------------------------------------------------------------------

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
    return identity("FACEBOOK", issued.account if issued else None), issued


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
        "user_id": identity("FACEBOOK")["id"] if issued.kind == "page" else issued.account,
    }
    if issued.kind == "page":
        data["profile_id"] = issued.account
    if issued.problem() == "expired":
        data["error"] = {"code": 190, "message": expired_session(issued.expires_at or 0), "subcode": 463}
    return JsonResponse({"data": data})


# --- LinkedIn -------------------------------------------------------------------------------

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
    return identity("LINKEDIN", issued.account if issued else None) or identity("LINKEDIN")


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
    for person in IDENTITIES["LINKEDIN"]:
        for org in person["organizations"]:
            if org["urn"] == urn:
                vanity = org["name"].lower().replace(" ", "-")
                return JsonResponse({"id": int(org_id), "localizedName": org["name"], "vanityName": vanity})
    return JsonResponse({"status": 404, "message": f"Organization {urn} does not exist"}, status=404)
