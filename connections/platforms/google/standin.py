"""How Google's APIs say things, for the stand-ins of YouTube and Business Profile: the error
envelope ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}``
(https://cloud.google.com/apis/design/errors) and its statuses for the gate's failures."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from mockapis.gate import API_ERROR_MESSAGE, Call, Dialect

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(status: int, message: str, reason: str = "", *, domain: str = "global") -> JsonResponse:
    errors = [{"message": message, "domain": domain, "reason": reason}] if reason else []
    body = {"error": {"code": status, "message": message, "errors": errors, "status": STATUS_NAMES.get(status, "")}}
    return JsonResponse(body, status=status)


class GoogleDialect(Dialect):
    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        # What Google answers an expired, revoked or missing access token.
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential.",
            "authError",
        )

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return google_error(400, message, "invalid")

    def api_error(self, call: Call) -> HttpResponse:
        return google_error(400, call.rule.message if call.rule and call.rule.message else API_ERROR_MESSAGE, "invalid")

    def server_error(self, call: Call, status: int) -> HttpResponse:
        message = call.rule.message if call.rule and call.rule.message else "Backend Error"
        return google_error(status, message, "backendError")

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        response = google_error(429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded")
        response["Retry-After"] = str(max(1, round(seconds)))
        return response

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        return google_error(409, "Requested entity already exists", "duplicate")
