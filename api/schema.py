"""How drf-spectacular describes the API in the OpenAPI schema: the key authentication, and the
answers every operation can give besides its success, so that a client generated from the
schema handles what the server really sends.

Which problems an operation can answer follows from what it is (``AutoSchema.problems``):

====  ===================================================================================
401   every operation: no key, or an unknown or revoked one (with ``WWW-Authenticate``)
429   every operation: the key's API_THROTTLE_RATE is spent (with ``Retry-After``)
400   every operation: a request that cannot be read (an empty or unknown ``Host`` header);
      a list's bad filter, ``limit`` or ``cursor``; every write's body, by field; a bad
      ``Idempotency-Key``
403   every write: a read key; approving and publishing past review take an approve key
404   every operation on an ``{id}``: no such row in the key's team
409   the actions a view lists in ``conflicts`` (a post's, by its state), and a replay whose
      kept secret can no longer be decrypted (``answers_with_secret``)
413   every POST, PUT and PATCH: a body over API_MAX_BODY_BYTES
415   every POST, PUT and PATCH: a body that is not JSON
422   every POST: an ``Idempotency-Key`` already used for another request
503   every operation: PostgreSQL or Redis is unreachable for now (planrrr.outages'
      middleware; with ``Retry-After``)
====  ===================================================================================
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from api.idempotency import HEADER
from api.problems import CONTENT_TYPE
from api.queries import MAX_ID

PROBLEMS = {
    400: "The request has errors: `errors` names each field and says what to change, or `detail` says what "
    "cannot be read (a filter, an empty or unknown Host header).",
    401: "No API key, or an unknown or revoked one.",
    403: "This key's role does not allow it (`detail` names the role it takes).",
    404: "No such row in the key's team (another team's ids are 404 too).",
    409: "The row's state does not allow it now (`detail` says why).",
    413: "The body is larger than the API reads (API_MAX_BODY_BYTES; `detail` names the limit).",
    415: "The body is not JSON: send `Content-Type: application/json`.",
    422: "This Idempotency-Key was already used for another request: use a new key.",
    429: "This key sent more than API_THROTTLE_RATE requests: wait `Retry-After` seconds.",
    503: "PostgreSQL or Redis cannot be reached for now: try again after `Retry-After` seconds.",
}


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem (``application/problem+json``)."""

    type = serializers.CharField(help_text="Always `about:blank`: the status says what kind of problem.")
    title = serializers.CharField(help_text="The status's phrase, e.g. `Bad Request`.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(required=False, help_text="What went wrong and what to change.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="By field (camelCase, dotted into nested values: `variants.TWITTER.content`, `mediaUrls.0`): "
        "what is wrong with it and what to change.",
    )

    class Meta:
        ref_name = "Problem"


IDEMPOTENCY = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    description="1 to 255 printable ASCII characters (a UUID): the same key and request within "
    "API_IDEMPOTENCY_HOURS (24 h) get the first answer again, with `Idempotent-Replayed: true`; the same key "
    "with another request is 422.",
)
# The row ids of the paths ({id}): PostgreSQL bigint (api.views.TeamScoped.lookup_value_regex).
ID = OpenApiParameter(
    "id", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, OpenApiParameter.PATH, description="The row's id."
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503],
    description="Seconds to wait before trying again.",
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], description='`Bearer realm="planrrr"`'
)


class AutoSchema(openapi.AutoSchema):
    def problems(self) -> list[int]:
        """The problem statuses this operation can answer (see the module's table)."""
        action = getattr(self.view, "action", None)
        codes = {400, 401, 429, 503}
        if "{id}" in self.path:
            codes.add(404)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.add(403)
        if self.method in ("POST", "PUT", "PATCH"):
            codes.update({400, 413, 415})
        if self.method == "POST":
            codes.add(422)
        handler = getattr(self.view, action, None) if action else None
        if action in getattr(self.view, "conflicts", ()) or getattr(handler, "answers_with_secret", False):
            codes.add(409)
        return sorted(codes)

    def get_override_parameters(self):
        # Every POST of the API takes an Idempotency-Key (api.views.TeamScoped).
        idempotency = [IDEMPOTENCY] if self.method == "POST" else []
        row = [ID] if "{id}" in self.path else []
        return [*super().get_override_parameters(), *idempotency, *row, RETRY_AFTER, WWW_AUTHENTICATE]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self.problems():
            answer = self._get_response_for_code(ProblemSerializer, str(code), [CONTENT_TYPE], direction)
            answer["description"] = PROBLEMS[code]
            responses.setdefault(str(code), answer)
        return responses

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # A request body the server refuses unknown fields of says so (api.serializers.StrictSerializer).
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        if getattr(serializer, "channel_keys", False) and schema.get("properties"):
            # Variants keyed by channel id ("7") take the same shape as those keyed by platform
            # (OpenAPI 3.0 has no patternProperties: the rule book refuses other keys by name).
            schema["additionalProperties"] = next(iter(schema["properties"].values()))
        return schema


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "teamApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A team API key, created in the admin (API keys): `Authorization: Bearer planrrr_…`.",
        }
