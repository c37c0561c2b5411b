"""Errors as RFC 9457 problem details (``application/problem+json``), with ``errors`` by field.

Field names are the API's (camelCase), dotted into nested values: ``variants.TWITTER.content``,
``mediaUrls.0``. The messages are the rule book's (publishing.rules), as in the admin.
"""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CONTENT_TYPE = "application/problem+json"


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
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            for field, messages in flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name).items():
                found.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            found[prefix] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                found.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        found[prefix] = [str(detail)]
    return found


def problem(status_code: int, detail: str = "", *, errors: dict | None = None, headers=None) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status_code).phrase, "status": status_code}
    if detail:
        body["detail"] = detail
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


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = from_django(exc)
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
