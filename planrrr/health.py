"""``GET /healthz``: whether this web process can reach what it needs, PostgreSQL and Redis.

200 when both answer, 503 when either does not, so that a load balancer, a container
healthcheck or an orchestrator can tell; the body says which, in the shape of the IETF draft
"Health Check Response Format for HTTP APIs" (``application/health+json``)::

    {"status": "fail",
     "checks": {"postgresql": [{"status": "pass", "observedValue": 0.8, "observedUnit": "ms"}],
                "redis": [{"status": "fail", "output": "unreachable (ConnectionError)"}]}}

Redis holds the queues: without it a post is still accepted (PostgreSQL is the truth) but no
job runs. The body names the error's class only: this path answers any host, and an error's
text may name internal addresses; the process's log has the whole text, once per outage
(``planrrr.outages``). Each check is bounded (PostgreSQL's connect_timeout, 2 s for Redis), so
an answer comes within a container healthcheck's timeout.

Answered before any other middleware: the container healthcheck calls it on 127.0.0.1, a host
that ALLOWED_HOSTS need not list, over plain HTTP, which SECURE_SSL_REDIRECT would redirect.

``OutageMiddleware``, next, answers any other request that fails because a server cannot be
reached: 503, and the outage logged once by the process."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

from planrrr import outages

PATH = "/healthz"
CONTENT_TYPE = "application/health+json"
REDIS_TIMEOUT = 2.0


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        checks = {"postgresql": check(_postgresql, outages.database()), "redis": check(_redis, outages.redis())}
        healthy = all(result["status"] == "pass" for result in checks.values())
        body = {"status": "pass" if healthy else "fail", "checks": {name: [result] for name, result in checks.items()}}
        response = HttpResponse(json.dumps(body) + "\n", status=200 if healthy else 503, content_type=CONTENT_TYPE)
        response["Cache-Control"] = "no-store"
        # Django logs every 5xx answer at ERROR: the outage is logged once, by check().
        response._has_been_logged = True
        return response


class OutageMiddleware:
    """A request that fails because PostgreSQL or Redis cannot be reached is answered 503 with
    ``Retry-After`` (RFC 9457 problem details under /api/), and the outage is logged once by
    this process when it starts, not a traceback a request; while one is on, a request at most
    once a second asks the server again, so its end is logged too."""

    PROBE_INTERVAL = 1.0

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._probed = 0.0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        now = time.monotonic()
        if now - self._probed >= self.PROBE_INTERVAL:
            for probe, outage in ((_postgresql, outages.database()), (_redis, outages.redis())):
                if outage.ongoing:
                    self._probed = now
                    check(probe, outage)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable(request, exception)


RETRY_AFTER = 5


def unavailable(request: HttpRequest, error: Exception) -> HttpResponse | None:
    """The answer to a request that failed on ``error`` if it says PostgreSQL or Redis cannot be
    reached (None otherwise): 503 with ``Retry-After``, RFC 9457 problem details under /api/; the
    outage noted, logged once by this process."""
    outage = outages.unreachable(error)
    if outage is None:
        return None
    outage.failed(error)
    detail = f"{outage.what} cannot be reached right now: try again in a moment."
    if request.path.startswith("/api/"):
        body = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail}
        response = HttpResponse(json.dumps(body), status=503, content_type="application/problem+json")
    else:
        response = HttpResponse(detail + "\n", status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER)
    # Django logs every 5xx answer at ERROR: the outage is logged once, above.
    response._has_been_logged = True
    return response


def check(probe: Callable[[], None], outage) -> dict:
    """Run ``probe``; its time, or the class of the error that says the server is unreachable
    (the outage noted: logged once, in full, by this process)."""
    started = time.perf_counter()
    try:
        probe()
    except (DatabaseError, redis.RedisError) as error:
        outage.failed(error)
        return {"status": "fail", "output": f"unreachable ({type(error).__name__})"}
    outage.ok()
    return {"status": "pass", "observedValue": round((time.perf_counter() - started) * 1000, 1), "observedUnit": "ms"}


def _postgresql() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        # Not kept for the next request (Django would try the broken connection again).
        connection.close()
        raise


def _redis() -> None:
    _client(settings.REDIS_URL).ping()


@functools.cache
def _client(url: str) -> redis.Redis:
    # Its own client: bounded, and never retried (redis-py retries a failed connection three
    # times with backoff, longer than a healthcheck waits).
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
