"""The API's request body parser: DRF's JSON parsing, under the API's own size limit, whose every
failure is a 4xx problem."""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.exceptions import ParseError


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


def too_large(length: int) -> BodyTooLarge:
    limit = settings.API_MAX_BODY_BYTES
    return BodyTooLarge(
        f"The request body is {length:,} bytes; the API reads at most {limit:,} bytes (API_MAX_BODY_BYTES): "
        "send fewer posts per bulk request, or shorter texts."
    )


class JSONParser(parsers.BaseParser):
    """JSON bodies of at most API_MAX_BODY_BYTES: a larger one is 413 naming the limit, refused by
    its Content-Length before it is read.

    Not a subclass of DRF's JSONParser on purpose: DRF reads such a parser's body through Django's
    ``request.body``, bound by DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB, for the admin's forms), whose
    refusal is Django's bare HTML 400; the API's largest request (a bulk of 500 posts) is bigger.
    The parsing itself is DRF's."""

    media_type = "application/json"
    renderer_class = parsers.JSONParser.renderer_class

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise too_large(declared)
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise too_large(len(body))
        try:
            return parsers.JSONParser().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            # A body nested deeper than Python's recursion limit (``[[[[…]]]]``, a few hundred
            # kilobytes) makes ``json.loads`` raise RecursionError, which DRF lets through as a 500.
            raise ParseError(
                "JSON parse error - the body is nested too deeply: send a flatter JSON document."
            ) from None
