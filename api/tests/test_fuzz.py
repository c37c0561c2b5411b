"""A schema-driven, property-based fuzz of every operation of /api/v1/.

Schemathesis reads the OpenAPI schema the API serves and generates requests from it, ones that
follow it and ones that break it, sent in-process to the WSGI application inside the test's
transaction, with keys of every role and mostly on rows of the team. Every answer must be what
the schema says (a documented status, content type, headers and body), never a 5xx, and no
request may leave a row behind that cannot be read back. Derandomized: CI sees the same cases
every run.

Each operation gets FUZZ_EXAMPLES cases of each kind (a few seconds for the whole API). A
larger run by hand (see docs: README, "API"): ``FUZZ_EXAMPLES=500 manage.py test
api.tests.test_fuzz``. The four kinds of 500 an outside fuzzer found are explicit cases (``FOUND``),
tried every run whatever the generator draws, with cases that must succeed (``VALID``), so that
the success answers are checked against the schema too.
"""

from __future__ import annotations

import os
from collections import Counter

import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.test import TestCase, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import services as api_services
from api.tests.base import ApiActors
from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post, Publication
from webhooks import services as webhooks

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The time columns of the rows the API writes: PostgreSQL keeps years past 9999, Python cannot read
# them (a row with one made every list of the team's posts fail).
TIME_COLUMNS = {
    "publishing_post": ["scheduled_at", "published_at", "created_at", "updated_at"],
    "publishing_publication": ["published_at", "next_attempt_at", "created_at", "updated_at"],
    "webhooks_endpoint": ["created_at", "updated_at", "previous_secret_expires_at"],
    "api_idempotencykey": ["created_at"],
}
POST = {"content": "x", "platforms": ["FACEBOOK"]}
BAD_KEY = {**POST, "a\x00": 1}
LONE_SURROGATE_KEY = {**POST, "a\ud800": 1}
KEY = {"Idempotency-Key": "fuzz-1"}
YEAR_10000 = "9999-12-31T23:30:00-01:00"  # 10000-01-01T00:30:00Z

# (operation, path id: the team's row of that kind or None, query, body, headers): each was a 500.
FOUND = [
    # 1. A JSON key with a NUL or a lone surrogate, under an Idempotency-Key: the kept answer
    #    repeated the key, which PostgreSQL cannot store.
    ("POST /api/v1/posts", None, {}, BAD_KEY, KEY),
    ("POST /api/v1/posts", None, {}, LONE_SURROGATE_KEY, KEY),
    ("POST /api/v1/posts", None, {}, LONE_SURROGATE_KEY, {}),
    ("POST /api/v1/posts/bulk", None, {}, {"posts": [BAD_KEY, LONE_SURROGATE_KEY]}, KEY),
    ("POST /api/v1/posts/bulk", None, {}, {"posts": [BAD_KEY], "a\x00": 1}, KEY),
    ("POST /api/v1/posts/{id}/approve", "review", {}, {"a\x00": 1}, KEY),
    ("POST /api/v1/posts/{id}/reject", "review", {}, {"note": "No", "a\ud800": 1}, KEY),
    ("POST /api/v1/webhook-endpoints", None, {}, {"url": "http://127.0.0.1:9/x", "a\x00": 1}, KEY),
    # 2. A UTC offset beyond PostgreSQL's ±15:59.
    ("POST /api/v1/posts", None, {}, {**POST, "scheduledAt": "2030-01-15T09:30:00+18:00"}, {}),
    ("GET /api/v1/posts", None, {"scheduledFrom": "2030-01-01T00:00:00+18:37"}, None, {}),
    ("GET /api/v1/posts", None, {"scheduledTo": "0001-01-01T00:00:00+18:00"}, None, {}),
    ("POST /api/v1/posts/{id}/approve", "review", {}, {"scheduledAt": "2030-01-15T09:30:00-23:59"}, {}),
    # 3. A NUL in a query filter (and other values that reached the query).
    ("GET /api/v1/posts", None, {"platform": "\x00"}, None, {}),
    ("GET /api/v1/posts", None, {"status": "\x00"}, None, {}),
    ("GET /api/v1/publications", None, {"status": "\x00"}, None, {}),
    ("GET /api/v1/publications", None, {"platform": "\x00", "post": "\x00"}, None, {}),
    ("GET /api/v1/deliveries", None, {"status": "\x00"}, None, {}),
    ("GET /api/v1/deliveries", None, {"endpoint": "²"}, None, {}),
    ("GET /api/v1/posts", None, {"cursor": "cD1hYmM="}, None, {}),  # p=abc
    ("GET /api/v1/posts", None, {"limit": "-3"}, None, {}),
    # 4. A time past the year 9999 in UTC: saved, then every read of the team's posts failed.
    ("POST /api/v1/posts", None, {}, {**POST, "scheduledAt": YEAR_10000}, {}),
    ("PATCH /api/v1/posts/{id}", "draft", {}, {"scheduledAt": YEAR_10000}, {}),
    ("POST /api/v1/posts/{id}/approve", "review", {}, {"scheduledAt": "9999-12-31T23:59:59-00:01"}, {}),
    ("POST /api/v1/posts/bulk", None, {}, {"posts": [{**POST, "scheduledAt": YEAR_10000}]}, {}),
    ("GET /api/v1/posts", None, {"scheduledFrom": YEAR_10000}, None, {}),
]
# Requests that succeed, so that the success answers are checked too.
FULL_POST = {
    "content": "Hi",
    "platforms": ["FACEBOOK", "TWITTER"],
    "scheduledAt": "2030-01-15T09:30:00+01:00",
    "variants": {"TWITTER": {"content": "Hi X", "thread": [{"content": "2/2"}]}},
    "firstComment": "More",
    "repeat": "FREQ=WEEKLY;COUNT=3",
}
VALID = [
    ("POST /api/v1/posts", None, {}, FULL_POST, KEY),
    ("POST /api/v1/posts/bulk", None, {}, {"posts": [POST, {**POST, "content": ""}]}, KEY),
    ("PUT /api/v1/posts/{id}", "draft", {}, {"content": "All new", "platforms": ["TWITTER"]}, {}),
    ("PATCH /api/v1/posts/{id}", "draft", {}, {"content": "Better", "scheduledAt": "2030-01-15T09:30:00Z"}, {}),
    ("POST /api/v1/posts/{id}/approve", "review", {}, {"scheduledAt": "2030-01-15T09:30:00+14:00"}, KEY),
    ("POST /api/v1/posts/{id}/reject", "review", {}, {"note": "Not yet"}, KEY),
    ("POST /api/v1/webhook-endpoints", None, {}, {"url": "http://127.0.0.1:9/x", "events": ["post.published"]}, KEY),
    ("POST /api/v1/webhook-endpoints/{id}/rotate", "endpoint", {}, None, KEY),
    ("GET /api/v1/posts", None, {"status": "DRAFT,IN_REVIEW", "platform": "twitter", "limit": "1"}, None, {}),
    ("GET /api/v1/connections", None, {"limit": "1000"}, None, {}),
    ("GET /api/v1/connections/{id}", "connection", {}, None, {}),
    ("GET /api/v1/channels", None, {"platform": "facebook"}, None, {}),
    ("GET /api/v1/channels/{id}", "connection", {}, None, {}),
    ("GET /api/v1/publications/{id}", "publication", {}, None, {}),
    ("GET /api/v1/deliveries/{id}", "delivery", {}, None, {}),
    ("GET /api/v1/me", None, {}, None, {}),
    ("GET /api/v1/channels/{id}/slots", "connection", {}, None, {}),
    ("PUT /api/v1/channels/{id}/slots", "connection", {}, {"slots": [{"weekday": 6, "time": "02:30"}]}, {}),
    ("GET /api/v1/channels/{id}/queue", "connection", {}, None, {}),
    ("POST /api/v1/channels/{id}/queue/pause", "connection", {}, None, KEY),
    ("POST /api/v1/channels/{id}/queue/resume", "connection", {}, None, {}),
    ("POST /api/v1/channels/{id}/queue/shuffle", "connection", {}, None, {}),
    ("POST /api/v1/posts/{id}/queue", "draft", {}, None, KEY),
    ("POST /api/v1/posts/{id}/queue/top", "queued", {}, None, {}),
    ("POST /api/v1/posts/{id}/queue/remove", "queued", {}, None, {}),
]


# No throttling (the cases come fast); media and webhook URLs are not resolved (no DNS here).
@override_settings(API_THROTTLE_RATE="1000000/min", MEDIA_ALLOW_PRIVATE_URLS=True, WEBHOOK_ALLOW_PRIVATE_URLS=True)
class FuzzTestCase(ApiActors, TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # At the end of a request Django closes a connection left in a transaction: here the
        # requests run inside the test's (as Django's own test client runs them).
        for signal in (request_started, request_finished):
            signal.disconnect(close_old_connections)
            cls.addClassCleanup(signal.connect, close_old_connections)
        cls.app = WSGIHandler()
        cls.schema = schemathesis.openapi.from_wsgi("/api/v1/schema", cls.app)

    def setUp(self):
        super().setUp()
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_api_actors()
        _, self.approve_key = api_services.api_key_create(team=self.team, name="Reviewer", role="approve")
        self.rows = self.make_rows()
        self.seen: Counter = Counter()

    def make_rows(self) -> dict[str, int]:
        """A row of every kind the paths name, in the states the actions act on."""
        draft = services.post_create(team=self.team, content="Draft", platforms=["FACEBOOK"])
        failed = services.post_create(team=self.team, content="Failed", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=failed.pk).update(status=Post.Status.PARTIAL)
        Publication.objects.filter(post=failed, platform="TWITTER").update(status="FAILED")
        review = services.post_create(team=self.team, content="In review", platforms=["TWITTER"])
        Post.objects.filter(pk=review.pk).update(status=Post.Status.IN_REVIEW)
        endpoint = webhooks.endpoint_create(team=self.team, url="http://127.0.0.1:9/hook")
        services.channel_slots_set(channel=self.facebook, slots=[{"weekday": 0, "time": "09:00"}])
        queued = services.post_queue(
            post=services.post_create(team=self.team, content="Queued", platforms=["FACEBOOK"])
        )
        return {
            "queued": queued.pk,
            "draft": draft.pk,
            "failed": failed.pk,
            "review": review.pk,
            "publication": Publication.objects.filter(post=failed).first().pk,
            "connection": self.facebook.pk,
            "endpoint": endpoint.pk,
            "delivery": webhooks.endpoint_send_test_event(endpoint=endpoint).pk,
        }

    def ids(self, operation) -> list[int]:
        """The team's rows an operation on ``{id}`` can act on."""
        resource = operation.path.removeprefix("/api/v1/").split("/")[0]
        return {
            "posts": [self.rows["draft"], self.rows["failed"], self.rows["review"], self.rows["queued"]],
            "channels": [self.rows["connection"]],
            "publications": [self.rows["publication"]],
            "connections": [self.rows["connection"]],
            "webhook-endpoints": [self.rows["endpoint"]],
            "deliveries": [self.rows["delivery"]],
        }[resource]

    def send(self, case, headers: dict) -> None:
        """Send ``case``: the answer must be as documented, and no unreadable row stay behind.
        Every case starts from the same rows (its changes are rolled back)."""
        with transaction.atomic():
            response = case.call(headers=headers)
            self.seen[case.operation.label, response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
            self.assertReadable(case)
            transaction.set_rollback(True)

    def assertReadable(self, case) -> None:
        with connection.cursor() as cursor:
            for table, columns in TIME_COLUMNS.items():
                beyond = " OR ".join(f"{c} >= '10000-01-01' OR {c} < '0001-01-01'" for c in columns)
                cursor.execute(f"SELECT count(*) FROM {table} WHERE {beyond}")
                found = cursor.fetchone()[0]
                self.assertEqual(found, 0, f"{case.operation.label} left {found} row(s) of {table} past year 9999")

    def authorization(self, key: str) -> dict:
        return {"Authorization": f"Bearer {key}"}


class GeneratedCasesTests(FuzzTestCase):
    """The generated cases, operation by operation, both kinds."""

    def fuzz(self, operation, mode: GenerationMode) -> None:
        keys = [self.approve_key, self.approve_key, self.write_key, self.read_key]
        cases = [operation.as_strategy(generation_mode=mode)]
        if "{id}" in operation.path:
            cases += [
                operation.as_strategy(generation_mode=mode, path_parameters={"id": pk}) for pk in self.ids(operation)
            ]

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(*cases), key=st.sampled_from(keys))
        def test(case, key):
            self.send(case, self.authorization(key))

        test()

    def run_operations(self, prefix: str) -> None:
        failures = {}
        operations = [result.ok() for result in self.schema.get_all_operations()]
        operations = [op for op in operations if op.path.removeprefix("/api/v1/").startswith(prefix)]
        self.assertTrue(operations, prefix)
        self.seen.clear()
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    self.fuzz(operation, mode)
                except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - all of them are reported
                    failures[f"{operation.label} ({mode.value})"] = err
        if os.environ.get("FUZZ_EXAMPLES"):
            print(f"\n{prefix}: {len(operations)} operations, {sum(self.seen.values())} cases, {len(failures)} failing")
            print(" ".join(f"{label} {status}: {n}" for (label, status), n in sorted(self.seen.items())))
        self.assertFalse(failures, "\n\n".join(f"{label}:\n{err}" for label, err in failures.items()))

    # Three parts, in one class: Django's parallel runner hands out a class at a time (not a
    # test), and in classes of their own each would read the schema in its process again; the
    # fuzz, a TestCase, is handed out among the first, so it does not end the run last.
    def test_posts_answer_as_documented(self):
        self.run_operations("posts")

    def test_webhooks_answer_as_documented(self):
        self.run_operations("webhook-endpoints")
        self.run_operations("deliveries")

    def test_the_rest_answers_as_documented(self):
        self.run_operations("publications")
        self.run_operations("connections")
        self.run_operations("channels")
        self.run_operations("me")


class ExplicitCasesTests(FuzzTestCase):
    def run_cases(self, table) -> None:
        for label, row, query, body, headers in table:
            with self.subTest(label, query=query, body=body, headers=headers):
                operation = self.schema[label.split()[1]][label.split()[0]]
                path = {"id": self.rows[row]} if row else {}
                given = {"body": body} if body is not None else {}
                case = operation.Case(path_parameters=path, query=query, headers=headers or None, **given)
                self.send(case, {**self.authorization(self.approve_key), **headers})

    def test_the_requests_that_were_500_answer_as_documented(self):
        self.run_cases(FOUND)

    def test_valid_requests_answer_as_documented(self):
        self.run_cases(VALID)
        self.assertTrue(all(200 <= status < 300 for (_, status) in self.seen), self.seen)
