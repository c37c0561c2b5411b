"""Django's test runner, with one Redis database per parallel test process, and the slowest test
modules on demand.

Tests flush their Redis database between tests, so processes running in parallel
(``manage.py test --parallel N``) must not share one: process N uses database
``TEST_REDIS_DB - N``, as each already uses its own PostgreSQL clone.

``manage.py test --slowest N`` prints, after the run, the N test modules that took longest: the
wall time of their test classes, class set-up and tear-down included, summed (with ``--parallel``,
as long as each took in its process, beside the others), then the N slowest classes. Python 3.11
has no ``--durations``.
"""

from __future__ import annotations

import os
import time
import unittest
from collections import defaultdict

from django.conf import settings
from django.test import runner

from devtools import processes
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


def _run_subsuite_timed(args):
    """Django's, with the subsuite's wall time (one test class: Django's parallel runner hands
    out a class at a time) sent back as an event of its first test."""
    started = time.monotonic()
    subsuite_index, events = runner._run_subsuite(args)
    events.append(("addClassTime", 0, time.monotonic() - started))
    return subsuite_index, events


class ParallelTestSuite(runner.ParallelTestSuite):
    init_worker = _init_worker
    run_subsuite = _run_subsuite_timed


class TimedTextTestResult(unittest.TextTestResult):
    """Each test class's wall time: sent by the process that ran it (``addClassTime``), or, in a
    serial run, from the end of the test before to the end of each test (so a class's set-up
    counts with its first test)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_times: dict[str, float] = defaultdict(float)
        self.class_tests: dict[str, int] = defaultdict(int)
        self._last_stop = time.monotonic()
        self._sent = False

    def stopTest(self, test) -> None:
        super().stopTest(test)
        self.class_tests[_class_of(test)] += 1
        now = time.monotonic()
        if not self._sent:
            self.class_times[_class_of(test)] += now - self._last_stop
        self._last_stop = now

    def addClassTime(self, test, seconds: float) -> None:
        if not self._sent:
            # The first one: the times come from the processes, not from the events' arrival.
            self._sent = True
            self.class_times.clear()
        self.class_times[_class_of(test)] += seconds

    def slowest(self, count: int) -> list[str]:
        modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])
        for name, seconds in self.class_times.items():
            entry = modules[name.rpartition(".")[0]]
            entry[0] += seconds
            entry[1] += 1
            entry[2] += self.class_tests[name]
        lines = [f"The {count} slowest test modules (their classes' wall time, set-up included):"]
        for module, (seconds, classes, tests) in sorted(modules.items(), key=lambda item: -item[1][0])[:count]:
            lines.append(f"{seconds:7.1f} s  {module} ({_count(classes, 'class', 'classes')}, {_count(tests, 'test')})")
        lines.append(f"The {count} slowest test classes:")
        for name, seconds in sorted(self.class_times.items(), key=lambda item: -item[1])[:count]:
            lines.append(f"{seconds:7.1f} s  {name} ({_count(self.class_tests[name], 'test')})")
        return lines


def _count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


def _class_of(test) -> str:
    # An error before the first test (setUpClass failing) comes as unittest's _ErrorHolder.
    return (
        test.id()
        if isinstance(test, unittest.suite._ErrorHolder)
        else f"{type(test).__module__}.{type(test).__qualname__}"
    )


class DiscoverRunner(runner.DiscoverRunner):
    parallel_test_suite = ParallelTestSuite

    def __init__(self, *args, slowest: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.slowest = slowest

    @classmethod
    def add_arguments(cls, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--slowest",
            type=int,
            default=0,
            metavar="N",
            help="After the run, print the N slowest test modules and test classes (their wall time).",
        )

    def setup_test_environment(self, **kwargs) -> None:
        super().setup_test_environment(**kwargs)
        # Django's default hasher (PBKDF2, a million iterations) costs ~0.5 s of CPU per user
        # made or logged in, by design; the tests make hundreds. Their passwords protect nothing:
        # the fast hasher Django's documentation advises for tests ("Speeding up the tests").
        # The settings of every other process (production, the workers the tests start) are
        # untouched; no test logs in through one of those.
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        # The workers the tests start are forked from the test process (devtools.processes):
        # about 1 s of CPU saved per worker. TEST_FORK_WORKERS=0 starts each as a new interpreter.
        processes.FORK = os.environ.get("TEST_FORK_WORKERS", "1") != "0"

    def get_resultclass(self):
        # --debug-sql and --pdb have result classes of their own, and win.
        return super().get_resultclass() or (TimedTextTestResult if self.slowest else None)

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
            print("\n".join(result.slowest(self.slowest)))
        return result


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
