"""PostgreSQL or Redis unreachable, as one process sees it (planrrr.outages, planrrr.health): one
line when an outage starts and one when it ends, whatever the number of failed calls; a wait
with backoff for a write that must be made; /healthz saying which server is missing; a request
that needed it answered 503, not 500."""

from __future__ import annotations

import json
import os
import time
from unittest import mock

import psycopg
import redis
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.http import HttpResponse
from django.test import RequestFactory, SimpleTestCase, TestCase, override_settings

from planrrr import health, outages

# A Redis no one listens on.
NOWHERE = "unix:///nonexistent/planrrr-outage-test.sock?db=0"


def unreachable_database() -> OperationalError:
    return OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed: No such file or directory')


def database_error(psycopg_error: type[psycopg.Error]) -> OperationalError:
    """Django's OperationalError as it wraps one of psycopg's (its SQLSTATE on the cause)."""
    error = OperationalError("from the server")
    error.__cause__ = psycopg_error("from the server")
    return error


class FreshOutages:
    """Each test starts with no outage in this process, and leaves none."""

    def setUp(self) -> None:
        super().setUp()
        outages._forget()
        self.addCleanup(outages._forget)

    def outage_records(self, logged) -> list[tuple[str, str]]:
        return [(r.outage, r.state) for r in logged.records if hasattr(r, "outage")]


class OutageTests(FreshOutages, SimpleTestCase):
    def test_many_failed_calls_are_one_outage_logged_when_it_starts_and_when_it_ends(self):
        def down():
            raise redis.ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

        with self.assertLogs("planrrr.outage", "DEBUG") as logged:
            for _ in range(50):
                self.assertEqual(outages.redis_call(down, default="none"), "none")
            self.assertEqual(outages.redis_call(lambda: "up"), "up")
            outages.redis_call(lambda: "up")

        self.assertEqual(self.outage_records(logged), [("Redis", "started"), ("Redis", "ended")])
        started, ended = logged.records
        self.assertIn("Redis failing: ConnectionError: Error 111", started.getMessage())
        self.assertIsNone(started.exc_info)
        self.assertEqual(ended.failures, 50)

    def test_a_call_in_flight_when_the_outage_began_does_not_end_it(self):
        # Seen in CI: a worker's job answered by Redis just before it stopped, its success
        # noted after the heartbeat thread had seen the failure, ended the outage at once and
        # the next failure started a second one (two lines each way for one outage).
        began = time.monotonic()  # a call starts; Redis stops while it is in flight
        with self.assertLogs("planrrr.outage", "DEBUG") as logged:
            outages.redis_call(lambda: (_ for _ in ()).throw(redis.ConnectionError("down")))
            outages.redis().ok(began)  # the call in flight returns, successfully
            self.assertTrue(outages.redis().ongoing)
            outages.redis_call(lambda: (_ for _ in ()).throw(redis.ConnectionError("down")))
            outages.redis_call(lambda: "up")  # a call that started after: Redis is back
        self.assertEqual(self.outage_records(logged), [("Redis", "started"), ("Redis", "ended")])
        self.assertEqual(logged.records[-1].failures, 2)

    def test_a_call_in_flight_through_an_outage_that_fails_after_it_ends_starts_no_other(self):
        # Seen in CI: Redis restarted in 20 ms; a worker thread's step that began before the
        # restart failed on its dropped connection just after another thread had seen Redis back,
        # and the process said "failing" and "back" twice for one restart.
        began = time.monotonic()  # a step starts; Redis restarts while it is in flight
        with self.assertLogs("planrrr.outage", "DEBUG") as logged:
            outages.redis_call(lambda: (_ for _ in ()).throw(redis.ConnectionError("down")))
            outages.redis_call(lambda: "up")  # another thread's call: Redis is back
            outages.redis().failed(redis.ConnectionError("Connection closed by server."), began=began)
            self.assertFalse(outages.redis().ongoing)
            # Seen in CI: a connection made before the restart, used just after the end (the try
            # began after it), failed once; one restart was two outages again.
            outages.redis_call(lambda: (_ for _ in ()).throw(redis.ConnectionError("Connection closed by server.")))
            self.assertFalse(outages.redis().ongoing)
            # Past the stragglers' time, a call that fails is a new outage.
            outages.redis().ended -= outages.redis().straggler_seconds
            outages.redis_call(lambda: (_ for _ in ()).throw(redis.ConnectionError("down again")))
        self.assertEqual(self.outage_records(logged), [("Redis", "started"), ("Redis", "ended"), ("Redis", "started")])

    def test_a_forked_child_starts_without_its_parents_outages(self):
        with self.assertLogs("planrrr.outage"):
            outages.redis().failed(redis.ConnectionError("down"))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: say whether it inherited the outage, and go
            os.write(write, b"1" if outages.redis().ongoing else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        self.assertEqual(os.read(read, 1), b"0")
        self.assertTrue(outages.redis().ongoing)

    def test_it_tells_an_unreachable_database_from_a_refused_query(self):
        self.assertTrue(outages.database_unreachable(unreachable_database()))
        self.assertTrue(outages.database_unreachable(InterfaceError("connection already closed")))
        # "terminating connection due to administrator command", "the database system is starting up"
        self.assertTrue(outages.database_unreachable(database_error(psycopg.errors.AdminShutdown)))
        self.assertTrue(outages.database_unreachable(database_error(psycopg.errors.CannotConnectNow)))
        self.assertTrue(outages.database_unreachable(database_error(psycopg.errors.ConnectionFailure)))
        self.assertFalse(outages.database_unreachable(database_error(psycopg.errors.DeadlockDetected)))
        self.assertFalse(outages.database_unreachable(database_error(psycopg.errors.QueryCanceled)))
        self.assertFalse(outages.database_unreachable(IntegrityError("duplicate key")))
        self.assertIs(outages.unreachable(redis.TimeoutError("slow")), outages.redis())
        self.assertIsNone(outages.unreachable(ValueError("a bug")))


class DatabaseRetryTests(FreshOutages, SimpleTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.sleeps = []
        self.enterContext(mock.patch("planrrr.outages.time.sleep", self.sleeps.append))
        self.closed = self.enterContext(mock.patch.object(outages.connections["default"], "close"))

    def failing(self, times: int, error: Exception | None = None):
        calls = []

        def call():
            calls.append(1)
            if len(calls) <= times:
                raise error or unreachable_database()
            return "written"

        return call, calls

    def test_it_waits_with_backoff_until_the_database_answers(self):
        call, calls = self.failing(3)

        with self.assertLogs("planrrr.outage") as logged:
            self.assertEqual(outages.database_retry(call, deadline=outages.time.monotonic() + 60), "written")

        self.assertEqual(len(calls), 4)
        self.assertEqual(self.sleeps, [0.25, 0.5, 1.0])
        self.assertEqual(self.closed.call_count, 3, "the broken connection is dropped before each new try")
        self.assertEqual(self.outage_records(logged), [("PostgreSQL", "started"), ("PostgreSQL", "ended")])

    def test_it_gives_up_at_its_deadline(self):
        call, calls = self.failing(100)

        with self.assertLogs("planrrr.outage"), self.assertRaises(OperationalError):
            outages.database_retry(call, deadline=outages.time.monotonic() + 1.0)

        self.assertEqual(self.sleeps, [0.25, 0.5], "no pause that would end past the deadline")
        self.assertTrue(outages.database().ongoing)

    def test_it_does_not_retry_a_query_the_server_refused(self):
        call, calls = self.failing(1, database_error(psycopg.errors.DeadlockDetected))

        with self.assertRaises(OperationalError):
            outages.database_retry(call, deadline=outages.time.monotonic() + 60)

        self.assertEqual((len(calls), self.sleeps), (1, []))


class InTransactionRetryTests(FreshOutages, TestCase):
    def test_it_does_not_retry_inside_a_transaction(self):
        calls = []

        def call():
            calls.append(1)
            raise unreachable_database()

        with transaction.atomic(), self.assertNoLogs("planrrr.outage"), self.assertRaises(OperationalError):
            outages.database_retry(call, deadline=outages.time.monotonic() + 60)

        self.assertEqual(len(calls), 1)
        self.assertFalse(outages.database().ongoing)


class AfterCommitTests(FreshOutages, TestCase):
    def test_redis_unreachable_after_commit_is_the_outage_not_a_traceback(self):
        def enqueue():
            raise redis.ConnectionError("Error 2 connecting to /x/redis.sock. No such file or directory.")

        with self.assertLogs(level="DEBUG") as logged:
            for _ in range(5):
                with self.captureOnCommitCallbacks(execute=True):
                    outages.after_commit(enqueue)

        self.assertEqual(self.outage_records(logged), [("Redis", "started")])
        self.assertEqual([r.exc_info for r in logged.records], [None])

    def test_any_other_error_after_commit_is_logged_with_its_traceback(self):
        def enqueue():
            raise ValueError("a bug")

        with self.assertLogs("planrrr.outage") as logged, self.captureOnCommitCallbacks(execute=True):
            outages.after_commit(enqueue)

        (record,) = logged.records
        self.assertIn("could not run", record.getMessage())
        self.assertIs(record.exc_info[0], ValueError)


class HealthTests(FreshOutages, TestCase):
    def get(self):
        response = self.client.get("/healthz")
        self.assertEqual(response["Content-Type"], "application/health+json")
        return response.status_code, json.loads(response.content)

    def test_it_answers_200_when_postgresql_and_redis_answer(self):
        status, body = self.get()

        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "pass")
        for name in ("postgresql", "redis"):
            (check,) = body["checks"][name]
            self.assertEqual((check["status"], check["observedUnit"]), ("pass", "ms"))

    def test_it_answers_503_naming_redis_and_logs_the_outage_once(self):
        # Issue 19, finding 8: /healthz said 200 while Redis was down and no job could run.
        with override_settings(REDIS_URL=NOWHERE), self.assertLogs("planrrr.outage") as logged:
            answers = [self.get() for _ in range(5)]

        for status, body in answers:
            self.assertEqual((status, body["status"]), (503, "fail"))
            self.assertEqual(body["checks"]["redis"], [{"status": "fail", "output": "unreachable (ConnectionError)"}])
            self.assertEqual(body["checks"]["postgresql"][0]["status"], "pass")
        self.assertEqual(self.outage_records(logged), [("Redis", "started")])
        self.assertNotIn("nonexistent", json.dumps(answers), "the error's text stays in the log")

        with self.assertLogs("planrrr.outage") as logged:
            self.assertEqual(self.get()[0], 200)
        self.assertEqual(self.outage_records(logged), [("Redis", "ended")])

    def test_it_answers_503_naming_postgresql(self):
        with (
            mock.patch("planrrr.health._postgresql", side_effect=unreachable_database()),
            self.assertLogs("planrrr.outage"),
        ):
            status, body = self.get()

        self.assertEqual((status, body["status"]), (503, "fail"))
        self.assertEqual(body["checks"]["postgresql"], [{"status": "fail", "output": "unreachable (OperationalError)"}])
        self.assertEqual(body["checks"]["redis"][0]["status"], "pass")


class OutageMiddlewareTests(FreshOutages, SimpleTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.middleware = health.OutageMiddleware(lambda request: HttpResponse("ok"))
        self.requests = RequestFactory()

    def test_a_request_that_needed_postgresql_is_answered_503_and_the_outage_logged_once(self):
        with self.assertLogs("planrrr.outage") as logged:
            answers = [
                self.middleware.process_exception(self.requests.get("/api/v1/posts"), unreachable_database())
                for _ in range(5)
            ]

        for response in answers:
            self.assertEqual(response.status_code, 503)
            self.assertEqual(response["Content-Type"], "application/problem+json")
            self.assertEqual(response["Retry-After"], "5")
            body = json.loads(response.content)
            self.assertEqual((body["status"], body["title"]), (503, "Service Unavailable"))
            self.assertIn("PostgreSQL cannot be reached", body["detail"])
        self.assertEqual(self.outage_records(logged), [("PostgreSQL", "started")])

    def test_a_metrics_scrape_while_postgresql_is_down_is_a_503(self):
        with (
            mock.patch("publishing.views.exposition", side_effect=unreachable_database()),
            self.assertLogs("planrrr.outage") as logged,
        ):
            responses = [self.client.get("/metrics") for _ in range(3)]

        self.assertEqual([r.status_code for r in responses], [503, 503, 503])
        self.assertEqual(self.outage_records(logged), [("PostgreSQL", "started")])

    def test_it_leaves_other_errors_to_django(self):
        self.assertIsNone(self.middleware.process_exception(self.requests.get("/"), ValueError("a bug")))

    def test_a_request_during_an_outage_asks_again_so_that_its_end_is_logged(self):
        with self.assertLogs("planrrr.outage") as logged:
            self.middleware.process_exception(self.requests.get("/admin/"), redis.ConnectionError("down"))
            with mock.patch("planrrr.health._redis"):  # Redis answers again
                self.middleware(self.requests.get("/admin/"))

        self.assertEqual(self.outage_records(logged), [("Redis", "started"), ("Redis", "ended")])
