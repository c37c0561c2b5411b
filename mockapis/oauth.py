"""What the platforms' OAuth shares as a connect flow meets it: the consent page (a person of
the platform's demo identities logs in and approves, or cancels), its redirect with a code or an
error, and OAuth's error answer. Each platform's ``standin_auth.py`` (connections/platforms/<name>/)
plays its own endpoints with these; the codes and tokens they issue are remembered by the store
(mockapis.state), and expire and are revoked for real: an API call with an expired or revoked one
gets the platform's answer (the gate). A made-up token the stand-in never issued reads as the
platform's first demo identity.

Who logs in: the platform's demo identities (``login=<id>`` on the authorize URL or the consent
form picks one; the first by default), the accounts the demo and the end-to-end tests post to.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse

from .gate import Call
from .state import store

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


def identity(people: list[dict[str, Any]], login: str | None = None) -> dict[str, Any] | None:
    """The demo identity among ``people`` with id (or username) ``login``; the first when None."""
    if not login:
        return people[0]
    return next((p for p in people if login in (p["id"], p.get("username"))), None)


def error_page(call: Call, status: int, message: str) -> HttpResponse:
    """What a platform shows instead of redirecting when the request itself is wrong (RFC 6749
    4.1.2.1: never redirect to a redirect_uri that cannot be trusted)."""
    call.outcome = "rejected"
    body = (
        f"<!doctype html><title>{call.dialect.label}: error</title><h1>Something went wrong</h1>"
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
    people: list[dict[str, Any]],
    scope_separator: str | None,
    code_seconds: float,
    denied: dict[str, str],
    pkce_required: bool = False,
) -> HttpResponse:
    """The consent page (GET) and its answer (POST back to the same URL, query intact), where one
    of ``people`` (the platform's demo identities) logs in."""
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
    person = identity(people, login)
    if person is None:
        return error_page(call, 400, f"No demo identity {login!r} here.")
    state = {"state": str(query["state"])} if "state" in query else {}

    if call.request.method == "GET":
        call.outcome = "consent_page"
        options = "".join(
            f'<option value="{html.escape(p["id"])}"{" selected" if p is person else ""}>'
            f"{html.escape(p['name'])} ({html.escape(p['id'])})</option>"
            for p in people
        )
        page = PAGE.format(
            title=html.escape(f"Authorize {client_id} to use your {call.dialect.label} account"),
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


def oauth_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)
