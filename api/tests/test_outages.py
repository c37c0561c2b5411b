"""The API while Redis or PostgreSQL cannot be reached (issue 19, finding 8): requests are served
or answered 503, and the web process logs the outage once, not a traceback per request."""

from unittest import mock

from django.db import OperationalError
from django.test import override_settings

from api.tests.base import ApiTestCase
from planrrr import outages

# The throttle's counters live in the cache, on Redis; here, a Redis no one listens on.
NO_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "unix:///nonexistent/planrrr-api-outage.sock?db=0",
    }
}


class OutageTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        outages._forget()
        self.addCleanup(outages._forget)

    def test_requests_are_served_while_redis_is_down_and_the_outage_is_logged_once(self):
        # The throttle's Redis and the one the process asks again (planrrr.health) are the same.
        with (
            override_settings(CACHES=NO_REDIS, REDIS_URL=NO_REDIS["default"]["LOCATION"]),
            self.assertLogs(level="DEBUG") as logged,
        ):
            for _ in range(10):
                self.assertEqual(self.api.get("/api/v1/posts").status_code, 200)

        errors = [r for r in logged.records if r.levelname in ("ERROR", "CRITICAL")]
        self.assertEqual([(r.name, r.outage, r.state) for r in errors], [("planrrr.outage", "Redis", "started")])
        self.assertEqual([r.exc_info for r in errors], [None], "no traceback")

        with self.assertLogs("planrrr.outage") as logged:
            self.assertEqual(self.api.get("/api/v1/posts").status_code, 200)
        self.assertEqual([(r.outage, r.state) for r in logged.records], [("Redis", "ended")])

    def test_a_request_that_needs_postgresql_while_it_is_down_is_a_503_problem(self):
        down = OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed: No such file')

        with (
            mock.patch("api.views.PostViewSet.list", side_effect=down),
            # What the process asks to tell whether PostgreSQL is back.
            mock.patch("planrrr.health._postgresql", side_effect=down),
            self.assertLogs(level="DEBUG") as logged,
        ):
            answers = [self.api.get("/api/v1/posts") for _ in range(5)]

        for response in answers:
            self.assertEqual(response.status_code, 503)
            self.assertEqual(response["Content-Type"], "application/problem+json")
            self.assertEqual(response["Retry-After"], "5")
            self.assertIn("PostgreSQL cannot be reached", response.json()["detail"])
        errors = [r for r in logged.records if r.levelname in ("ERROR", "CRITICAL")]
        self.assertEqual([(r.name, r.outage, r.state) for r in errors], [("planrrr.outage", "PostgreSQL", "started")])
