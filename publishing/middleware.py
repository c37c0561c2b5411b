"""``GET /metrics`` answered ahead of the host and HTTPS checks, like ``/healthz``.

Prometheus scrapes over plain HTTP inside the network, by whatever name reaches the web process
(``web:8000`` in compose, a pod's address), which ALLOWED_HOSTS does not list and need not: the
answer names no host and builds no URL. What guards the figures is METRICS_TOKEN (a bearer token
the scraper sends) and not routing /metrics through the public proxy (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from publishing.views import metrics

PATH = "/metrics"


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        return metrics(request)
