"""The API's request body parser: DRF's JSON parser, whose every failure is a 400."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser answers a malformed body with a 400, but a body nested deeper than
    Python's recursion limit (``[[[[…]]]]``, a few hundred kilobytes) makes ``json.loads`` raise
    RecursionError, which DRF lets through as a 500. It is bad input like any other."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error - the body is nested too deeply: send a flatter JSON document."
            ) from None
