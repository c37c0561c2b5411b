"""Django's test runner, with one Redis database per parallel test process.

Tests flush their Redis database between tests, so processes running in parallel
(``manage.py test --parallel N``) must not share one: process N uses database
``TEST_REDIS_DB - N``, as each already uses its own PostgreSQL clone.
"""

import os
import time
import unittest

from django.conf import settings
from django.test import runner

from devtools.embedded import with_redis_db


def _init_worker(counter, *args, **kwargs):
    runner._init_worker(counter, *args, **kwargs)
    url = with_redis_db(settings.REDIS_URL, settings.TEST_REDIS_DB - runner._worker_id)
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    # A cache client made before the fork would still talk to the parent's database.
    from django.core.cache import caches

    for alias in caches.settings:
        try:
            del caches[alias]
        except AttributeError:
            pass  # not made yet: it will be, with the new location
    for queue in settings.RQ_QUEUES.values():
        queue["URL"] = url


class ParallelTestSuite(runner.ParallelTestSuite):
    init_worker = _init_worker


class DiscoverRunner(runner.DiscoverRunner):
    """``TEST_TIMES=N`` prints the N slowest tests at the end (use with ``--parallel 1``)."""

    parallel_test_suite = ParallelTestSuite

    def get_resultclass(self):
        if os.environ.get("TEST_TIMES") and self.parallel <= 1:
            return TimedTextTestResult
        return super().get_resultclass()

    def teardown_databases(self, old_config, **kwargs):
        """End, with a line saying so, any session still attached to a test database once
        every test is done (a request thread of a live server that outlived its test), which
        would otherwise make dropping the database fail after a green run."""
        for connection, _, destroy in old_config:
            if destroy and connection.vendor == "postgresql":
                _end_leftover_sessions(connection)
        return super().teardown_databases(old_config, **kwargs)

    def run_suite(self, suite, **kwargs):
        result = super().run_suite(suite, **kwargs)
        if isinstance(result, TimedTextTestResult):
            for seconds, name in sorted(result.times, reverse=True)[: int(os.environ["TEST_TIMES"])]:
                print(f"{seconds:6.2f}s  {name}")
        return result


class TimedTextTestResult(unittest.TextTestResult):
    """Records each test's wall time (serial runs: parallel results arrive in batches)."""

    times: list[tuple[float, str]] = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.times.append((time.monotonic() - self._started, test.id()))


def _end_leftover_sessions(connection) -> None:
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        # The test database and its clones (``<name>_<n>``, one per parallel process).
        cursor.execute(
            "SELECT pg_terminate_backend(pid), datname, left(query, 120) FROM pg_stat_activity"
            " WHERE (datname = %s OR datname LIKE %s) AND pid <> pg_backend_pid()",
            [name, name.replace("_", r"\_") + r"\_%"],
        )
        for _, database, query in cursor.fetchall():
            print(f"test teardown: ended a session left on {database} (last query: {query})")
