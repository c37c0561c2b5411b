import hmac

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from planrrr.health import unavailable
from publishing.metrics import exposition


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus scrape target. With ``METRICS_TOKEN`` set, only a request carrying
    ``Authorization: Bearer <token>`` gets the figures (they tell a lot about a business)."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            response = HttpResponse("A bearer token is required: Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    try:
        body = exposition()
    except DatabaseError as error:
        # Answered ahead of the middleware that would say so (publishing.middleware): PostgreSQL
        # unreachable is a 503 (the target down for Prometheus) and the outage's one log line.
        response = unavailable(request, error)
        if response is None:
            raise
        return response
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
