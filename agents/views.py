"""MCP over Streamable HTTP at ``/mcp``, served by the Django app itself (gunicorn is WSGI).

The transport is the SDK's own (``StreamableHTTPSessionManager``), stateless and answering JSON:
each POST carries one JSON-RPC message and gets its answer in the response, with no session to
keep between requests or processes (gunicorn's workers share nothing but the database), and no
SSE stream (a GET is 405, as the transport allows a server that offers none). This view hands the
request to it as ASGI, in process (asgiref's ``async_to_sync``), so that /mcp goes through the
project's middleware (allowed hosts, HTTPS, outages) like every other path, and a tool's API call
runs back on this request's thread and connection (agents.gateway). Measured: docs/mcp.md.

The key is checked at the door, before any MCP message is read: no key, or an unknown or revoked
one, is a 401 with ``WWW-Authenticate``, as on the API. Each tool call is then the API's request
with the same key (its role, its throttle).
"""

from __future__ import annotations

from http import HTTPStatus
from wsgiref.util import is_hop_by_hop

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from agents import gateway
from api.auth import ApiKeyAuthentication
from api.problems import CONTENT_TYPE

# One tool call is one post at most (no bulk): the SDK's default limit for a message.
MAX_BODY_BYTES = 4 * 1024 * 1024


def _problem(status: int, detail: str, headers: dict | None = None) -> JsonResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE, headers=headers)


def _refusal(request) -> JsonResponse | None:
    try:
        known = ApiKeyAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed as err:
        known, detail = None, str(err.detail)
    else:
        detail = "Send a team API key: Authorization: Bearer <key>."
    if known is None:
        return _problem(401, detail, {"WWW-Authenticate": 'Bearer realm="planrrr"'})
    origin = request.headers.get("Origin")
    # The MCP transport asks servers to check Origin (DNS rebinding): a browser page's request
    # comes from this server's own origin or one trusted for the admin, or not at all.
    allowed = {f"{request.scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}
    if origin and origin not in allowed:
        return _problem(403, f"Requests from the origin {origin!r} are not accepted.")
    return None


@csrf_exempt  # the key is a header, never a cookie: nothing for a forged form to borrow
def mcp(request) -> HttpResponse:
    if (refused := _refusal(request)) is not None:
        return refused
    if request.method == "GET":
        # The stream a client may open with GET carries what the server sends unasked: this one
        # sends nothing unasked, and a stream kept open would hold a worker's thread.
        return _problem(405, "This server answers each POST in its response: it offers no stream to GET.",
                        {"Allow": "POST, DELETE"})  # fmt: skip
    caller = gateway.Caller.over_http(request)
    body = request.read(MAX_BODY_BYTES + 1)
    # The SDK is imported on the first call, not with the URLconf: 1.3 s of CPU that every web
    # process, command and test server would pay otherwise.
    from agents.transport import answer

    status, headers, content = answer(request, body, caller, max_body_bytes=MAX_BODY_BYTES)
    response = HttpResponse(content, status=status)
    for name, value in headers:
        name = name.decode("latin-1")
        if not is_hop_by_hop(name):  # the WSGI server's business (PEP 3333)
            response[name] = value.decode("latin-1")
    return response
