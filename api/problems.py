"""Errors as RFC 9457 problem details (``application/problem+json``), with ``errors`` by field.

Field names are the API's (camelCase), dotted into nested values: ``variants.TWITTER.content``,
``mediaUrls.0``. The messages are the rule book's (publishing.rules), as in the admin.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from django.core.exceptions import DisallowedHost, PermissionDenied, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CONTENT_TYPE = "application/problem+json"

# What a JSON text may carry but neither PostgreSQL (an answer kept for an Idempotency-Key) nor
# UTF-8 (the answer itself) can: a NUL, a lone UTF-16 surrogate.
_UNSENDABLE = re.compile(r"[\x00\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every NUL or lone surrogate written as its JSON escape (``\\u0000``): a
    field name or value the client sent, echoed in an error, names what it sent and can be both
    sent and kept."""
    return _UNSENDABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def camel(name: str) -> str:
    """``media_urls`` -> ``mediaUrls``, segment by segment; platform names stay as they are."""
    if "_" not in name or not name.islower():
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_path(field: str) -> str:
    return ".".join(camel(part) for part in field.split("."))


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted.field: [messages]}."""
    found: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else printable(str(key))
            for field, messages in flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name).items():
                found.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            found[prefix] = [printable(str(item)) for item in detail]
        else:
            for index, item in enumerate(detail):
                found.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        found[prefix] = [printable(str(detail))]
    return found


def problem(status_code: int, detail: str = "", *, errors: dict | None = None, headers=None) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status_code).phrase, "status": status_code}
    if detail:
        body["detail"] = printable(detail)
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=CONTENT_TYPE)


def from_django(err: DjangoValidationError) -> exceptions.APIException:
    """A service's ValidationError: by field -> 400 with ``errors``; with no field (the post
    is in a state that does not allow it) -> 409 Conflict."""
    if hasattr(err, "error_dict"):
        return exceptions.ValidationError({camel_path(f): m for f, m in err.message_dict.items()})
    conflict = exceptions.APIException(" ".join(err.messages))
    conflict.status_code = status.HTTP_409_CONFLICT
    return conflict


def forbidden(err: PermissionDenied, request) -> exceptions.PermissionDenied:
    """A service's refusal for want of a role (approving, publishing past review), saying which
    role of API key it takes."""
    reason = " ".join(str(arg) for arg in err.args) or "This API key may not do this."
    key = getattr(request, "auth", None)
    role = getattr(key, "role", None)
    if role is not None and role != "approve":
        reason += (
            f" This API key has the {role} role: it takes a key with the approve role (made by an admin or owner)."
        )
    return exceptions.PermissionDenied(reason)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = from_django(exc)
    elif isinstance(exc, PermissionDenied):
        exc = forbidden(exc, context.get("request"))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500
    headers = {name: value for name, value in response.items() if name in ("WWW-Authenticate", "Retry-After")}
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        general = errors.pop("", [])
        detail = " ".join(general) or "The request has errors: see errors, by field."
        return problem(response.status_code, detail, errors=errors, headers=headers)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else ""
    return problem(response.status_code, str(detail), headers=headers)


@csrf_exempt  # a POST to no path is a 404 too, not the CSRF middleware's HTML 403
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/v1/ (a mistyped resource, an id that is not a number): a 404
    problem like every other answer of the API, not Django's HTML page."""
    body = {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": printable(f"No such API path: {request.path!r}. The paths are listed at /api/v1/docs."),
    }
    return JsonResponse(body, status=404, content_type=CONTENT_TYPE)


def bad_request(request, exception=None, *args, **kwargs):
    """Django's answer to a request it cannot even read (``handler400``): an empty or unknown
    ``Host`` header (``DisallowedHost``), too many fields, a malformed multipart body. Under
    /api/ a 400 problem saying what to change, like every other answer of the API; elsewhere
    Django's own page."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception, *args, **kwargs)
    if isinstance(exception, DisallowedHost):
        detail = (
            "The Host header is empty, malformed or names a host this server does not answer to "
            "(ALLOWED_HOSTS): send the host name the server is reached at."
        )
    elif isinstance(exception, TooManyFieldsSent):
        detail = "The request has too many fields (DATA_UPLOAD_MAX_NUMBER_FIELDS): send fewer."
    else:
        detail = "The request is malformed and could not be read: check its headers and body."
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail}
    return JsonResponse(body, status=400, content_type=CONTENT_TYPE)
