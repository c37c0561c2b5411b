"""``GET /healthz``: 200 when this web process can reach PostgreSQL, 503 otherwise.

Answered before any other middleware: the container healthcheck calls it on 127.0.0.1, a host
that ALLOWED_HOSTS need not list, over plain HTTP, which SECURE_SSL_REDIRECT would redirect."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse

PATH = "/healthz"


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as error:
            return HttpResponse(
                f"database unreachable: {type(error).__name__}\n", status=503, content_type="text/plain"
            )
        return HttpResponse("ok\n", content_type="text/plain")
