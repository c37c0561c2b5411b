"""What a list takes in its query: its page (a cursor, a size) and its filters, each read strictly:
a value the API does not know is a 400 that names the parameter and its choices, never something
passed on to the database (a NUL, another script's digits, an offset PostgreSQL refuses)."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination

from api import serializers as s
from connections.models import Platform


class Cursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        """``limit``: 1 to 200 (more is read as 200); anything else is a 400, not a page of 50."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise exceptions.ValidationError(
                {"limit": [f"Give the page size as a whole number from 1 to {self.max_page_size}."]}
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        cursor, limit = super().get_schema_operation_parameters(view)
        cursor["description"] = (
            "Where a page starts: the `cursor` of a page's `next` or `previous` link (400 if altered)."
        )
        limit["description"] = (
            f"Page size, {self.page_size} unless given; at most {self.max_page_size} (a larger one is read as "
            f"{self.max_page_size})."
        )
        # No "maximum": a larger one is taken (as 200), as it always was.
        limit["schema"] = {"type": "integer", "minimum": 1, "default": self.page_size}
        return [cursor, limit]

    def decode_cursor(self, request):
        """A cursor the API did not give (or altered) is the client's mistake: 400, not DRF's 404."""
        invalid = exceptions.ValidationError(
            {"cursor": ["This is not a cursor the API gave: follow a page's next or previous link, or leave it out."]}
        )
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise invalid from None
        # The position is an id (ordering by -id): anything else would reach the query.
        if cursor is not None and cursor.position is not None and not _is_id(cursor.position):
            raise invalid
        return cursor


# The largest id PostgreSQL's bigint holds: a larger "id" names no row.
MAX_ID = 2**63 - 1


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


def time_filter(request, name: str):
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        when = s.Rfc3339Field().to_internal_value(value)
    except serializers.ValidationError as err:
        raise exceptions.ValidationError({name: err.detail}) from err
    try:
        return when.astimezone(UTC)
    except OverflowError:
        # Before year 1 or after 9999 in UTC: before or after every time a row holds.
        return (datetime.min if when.year == 1 else datetime.max).replace(tzinfo=UTC)


def choice_filter(request, name: str, choices: list[str], unknown) -> str | None:
    """The query parameter ``name``, upper-cased, if it is one of ``choices``; a 400 naming them
    otherwise (``unknown(value)`` says it)."""
    value = request.query_params.get(name)
    if not value:
        return None
    if value.strip().upper() not in choices:
        raise exceptions.ValidationError({name: [unknown(value)]})
    return value.strip().upper()


def choices_filter(request, name: str, choices: list[str]) -> list[str]:
    """The query parameter ``name`` as a comma-separated list of ``choices`` (any case); a 400
    naming the unknown ones otherwise."""
    wanted = [v.strip().upper() for v in request.query_params.get(name, "").split(",") if v.strip()]
    if unknown := sorted(set(wanted) - set(choices)):
        named = ", ".join(repr(value) for value in unknown)
        raise exceptions.ValidationError({name: [f"Unknown {name} {named}: choose from {', '.join(choices)}."]})
    return wanted


def id_filter(request, name: str, what: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not _is_id(value):
        raise exceptions.ValidationError({name: [f"Give {what} id (a whole number)."]})
    return value


def unknown_status(choices: list[str]):
    return lambda value: f"Unknown status {value!r}: choose from {', '.join(choices)}."


# Filters take names in any case; the schema gives them as the API writes them.
PLATFORM_FILTER = OpenApiParameter(
    "platform", {"type": "string", "enum": Platform.values}, description="Rows of this platform."
)


def id_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": 0, "maximum": MAX_ID}, description=description)
