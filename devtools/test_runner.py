"""Django's test runner, with one Redis database per parallel test process, and the slowest test
modules and the CPU each test class spends, on demand.

Tests flush their Redis database between tests, so processes running in parallel
(``manage.py test --parallel N``) must not share one: process N uses database
``TEST_REDIS_DB - N``, as each already uses its own PostgreSQL clone.

``manage.py test --slowest N`` prints, after the run, the N test modules that took longest: the
wall time of their test classes, class set-up and tear-down included, summed (with ``--parallel``,
as long as each took in its process, beside the others), then the N slowest classes. Python 3.11
has no ``--durations``. Each line gives the CPU seconds too: the test process's own (its live
server's threads included) and its children's (the workers, stand-ins, browsers and commands a
test starts, once they have ended), which is what the suite's time is made of on a machine with
fewer cores than test processes (docs/performance.md). ``--class-times FILE`` writes every class's
wall and CPU seconds to FILE (tab-separated, the most CPU first) and prints the whole run's CPU,
PostgreSQL's and Redis's included.
"""

from __future__ import annotations

import csv
import os
import resource
import time
import unittest
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.test import runner

from devtools import flush, processes
from devtools.embedded import with_redis_db


def _init_worker(counter, *args, **kwargs):
    runner._init_worker(counter, *args, **kwargs)
    if _adopted:  # the parent's: a forked child is no subreaper until it asks
        adopt_orphans()
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


def cpu_seconds() -> float:
    """The CPU this process has spent (all its threads), and its children that have ended and
    been waited for (with theirs: a worker's work-horses; with ``adopt_orphans``, the browser a
    driver started too)."""
    _reap_orphans()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_adopted = False


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux's child subreaper), so
    that the CPU of a process whose parent ended without waiting for it (Chromium, whose driver
    quits first; a killed worker's work-horse) is counted as its children's. For the timing
    reports only: a run without them leaves orphans to init, as a user's shell would."""
    global _adopted
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    try:
        _adopted = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    except (OSError, AttributeError):
        _adopted = False  # not Linux: orphans' CPU goes uncounted


def _reap_orphans() -> None:
    """Wait for the children that have ended and that no one waited for: adopted orphans, and a
    process a test started and left. Called between tests (and classes), when every process a
    test started and stopped has been waited for by whoever started it."""
    if not _adopted:
        return
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # /proc/<pid>/stat: state and parent pid follow the command's parenthesis.
            state, parent = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
        except OSError:
            continue
        if state == "Z" and parent == me:
            try:
                os.waitpid(int(entry.name), os.WNOHANG)
            except ChildProcessError:
                pass


def _run_subsuite_timed(args):
    """Django's, with the subsuite's wall and CPU time (one test class: Django's parallel runner
    hands out a class at a time) sent back as an event of its first test."""
    started, cpu = time.monotonic(), cpu_seconds()
    subsuite_index, events = runner._run_subsuite(args)
    events.append(("addClassTime", 0, time.monotonic() - started, cpu_seconds() - cpu))
    return subsuite_index, events


class ParallelTestSuite(runner.ParallelTestSuite):
    init_worker = _init_worker
    run_subsuite = _run_subsuite_timed


class TimedTextTestResult(unittest.TextTestResult):
    """Each test class's wall and CPU time: sent by the process that ran it (``addClassTime``),
    or, in a serial run, from the end of the test before to the end of each test (so a class's
    set-up counts with its first test)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_times: dict[str, float] = defaultdict(float)
        self.class_cpu: dict[str, float] = defaultdict(float)
        self.class_tests: dict[str, int] = defaultdict(int)
        self._last_stop = time.monotonic()
        self._last_cpu = cpu_seconds()
        self._sent = False

    def stopTest(self, test) -> None:
        super().stopTest(test)
        self.class_tests[_class_of(test)] += 1
        now, cpu = time.monotonic(), cpu_seconds()
        if not self._sent:
            self.class_times[_class_of(test)] += now - self._last_stop
            self.class_cpu[_class_of(test)] += cpu - self._last_cpu
        self._last_stop, self._last_cpu = now, cpu

    def addClassTime(self, test, seconds: float, cpu: float = 0.0) -> None:
        if not self._sent:
            # The first one: the times come from the processes, not from the events' arrival.
            self._sent = True
            self.class_times.clear()
            self.class_cpu.clear()
        self.class_times[_class_of(test)] += seconds
        self.class_cpu[_class_of(test)] += cpu

    def slowest(self, count: int) -> list[str]:
        modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0])
        for name, seconds in self.class_times.items():
            entry = modules[name.rpartition(".")[0]]
            entry[0] += seconds
            entry[1] += self.class_cpu[name]
            entry[2] += 1
            entry[3] += self.class_tests[name]
        lines = [f"The {count} slowest test modules (their classes' wall time, set-up included; CPU seconds):"]
        for module, (seconds, cpu, classes, tests) in sorted(modules.items(), key=lambda item: -item[1][0])[:count]:
            counts = f"{_count(classes, 'class', 'classes')}, {_count(tests, 'test')}"
            lines.append(f"{seconds:7.1f} s {cpu:7.1f} cpu  {module} ({counts})")
        lines.append(f"The {count} slowest test classes:")
        for name, seconds in sorted(self.class_times.items(), key=lambda item: -item[1])[:count]:
            lines.append(
                f"{seconds:7.1f} s {self.class_cpu[name]:7.1f} cpu  {name} ({_count(self.class_tests[name], 'test')})"
            )
        return lines

    def write_timing(self, path: Path) -> None:
        """Every class: its tests, wall and CPU seconds, the most CPU first."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["class", "tests", "wall_s", "cpu_s"])
            for name, cpu in sorted(self.class_cpu.items(), key=lambda item: -item[1]):
                writer.writerow([name, self.class_tests[name], f"{self.class_times[name]:.2f}", f"{cpu:.2f}"])


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

    def __init__(self, *args, slowest: int = 0, class_times: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.slowest = slowest
        self.class_times = Path(class_times) if class_times else None

    @classmethod
    def add_arguments(cls, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--slowest",
            type=int,
            default=0,
            metavar="N",
            help="After the run, print the N slowest test modules and test classes (their wall and CPU time).",
        )
        parser.add_argument(
            "--class-times",
            metavar="FILE",
            help="Write each test class's wall and CPU seconds to FILE (tab-separated) and print the run's CPU.",
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
        # A TransactionTestCase's flush by DELETE and COPY, not TRUNCATE and post_migrate: about
        # 0.25 s of CPU saved per test, 200 times a suite (devtools.flush). TEST_FAST_FLUSH=0
        # flushes as Django does.
        if os.environ.get("TEST_FAST_FLUSH", "1") != "0":
            flush.install()
        if self.slowest or self.class_times:
            adopt_orphans()

    def get_resultclass(self):
        # --debug-sql and --pdb have result classes of their own, and win.
        return super().get_resultclass() or (TimedTextTestResult if self.slowest or self.class_times else None)

    def teardown_databases(self, old_config, **kwargs):
        """End, with a line saying so, any session still attached to a test database once
        every test is done (a request thread of a live server that outlived its test), which
        would otherwise make dropping the database fail after a green run."""
        for connection, _, destroy in old_config:
            if destroy and connection.vendor == "postgresql":
                _end_leftover_sessions(connection)
        return super().teardown_databases(old_config, **kwargs)

    def run_suite(self, suite, **kwargs):
        started, cpu, servers = time.monotonic(), cpu_seconds(), _servers_cpu_seconds()
        result = super().run_suite(suite, **kwargs)
        if isinstance(result, TimedTextTestResult):
            if self.slowest:
                print("\n".join(result.slowest(self.slowest)))
            if self.class_times:
                result.write_timing(self.class_times)
                # The test processes have ended and been waited for: their CPU, and that of
                # every child they waited for, is this process's children's.
                spent = cpu_seconds() - cpu
                lines = [f"{time.monotonic() - started:.1f} s of wall time, {spent:.1f} s of CPU in the test processes"]
                for name, before, after in zip(("PostgreSQL", "Redis"), servers, _servers_cpu_seconds(), strict=True):
                    if before is not None and after is not None:
                        lines.append(f"{after - before:.1f} s of CPU in {name}")
                        spent += after - before
                print("; ".join(lines) + f": {spent:.1f} s of CPU in all. Each class's: {self.class_times}")
        return result


def _servers_cpu_seconds() -> tuple[float | None, float | None]:
    """The CPU the embedded PostgreSQL (its postmaster, its live sessions and those that have
    ended) and Redis have spent so far, or None for a server that is not embedded here."""
    from django_rq import get_connection

    from devtools.embedded import LOCAL_DIR

    postgres = None
    # The settings export an embedded server's URL into the environment for the processes they
    # start: a URL into LOCAL_DIR is the embedded server's.
    if str(LOCAL_DIR / "pg") in unquote(os.environ.get("DATABASE_URL", "")):
        try:
            postmaster = int((LOCAL_DIR / "pg" / "postmaster.pid").read_text().split()[0])
            postgres = _process_cpu_seconds(postmaster, children=True) + sum(
                _process_cpu_seconds(pid, children=True) for pid in _children(postmaster)
            )
        except (OSError, ValueError):
            pass
    redis = None
    if str(LOCAL_DIR / "redis") in os.environ.get("REDIS_URL", ""):
        try:
            info = get_connection("default").info("cpu")
            redis = (
                info["used_cpu_user"]
                + info["used_cpu_sys"]
                + info["used_cpu_user_children"]
                + info["used_cpu_sys_children"]
            )
        except Exception:  # noqa: BLE001 - a figure of a report, never a reason to fail the run
            pass
    return postgres, redis


def _process_cpu_seconds(pid: int, *, children: bool) -> float:
    # /proc/<pid>/stat: utime, stime, cutime and cstime are fields 14 to 17, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(value) for value in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


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
