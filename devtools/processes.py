"""Child processes the demo, the benchmark and the tests start: workers and the stand-in
APIs, on the same PostgreSQL database and Redis as the parent.

In the tests (``FORK``, set by devtools.test_runner) a worker or a pool is forked from the test
process, which has Django set up and every module imported, rather than started as a new
interpreter: a new one costs about 1 s of CPU before its first job, and the suite starts about
150. The child is the command a new interpreter would run, with the same environment and
settings (docs/performance.md, "The test suite's time"); a start whose environment changes what
is read once at start (logging, the databases) is a new interpreter still.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)

# Fork workers and pools from this process (the tests) instead of starting an interpreter.
FORK = False
# The commands that may be forked: the workers'. The stand-in and the web server are started as
# they are run for real.
FORKABLE = frozenset({"rqworker", "planrrr_workers"})
# How long a fork waits at most for the live server's threads finishing a request (_requests_finish).
FORK_QUIET_SECONDS = 0.5
# The signal on which a forked child writes every thread's stack to its log (ManagedProcess.stacks).
STACKS_SIGNAL = signal.SIGUSR2
# Variables read once when the settings are imported or logging is set up: a child forked from a
# process set up with other values would not follow them, so a start that changes one is a new
# interpreter.
READ_AT_START = frozenset(
    {
        "ALLOWED_HOSTS",
        "DATABASE_NAME_OVERRIDE",
        "DATABASE_URL",
        "DEBUG",
        "DJANGO_SETTINGS_MODULE",
        "EMBEDDED_DIR",
        "REDIS_URL",
        "SECRET_KEY",
    }
)


# PLANRRR_PERIODIC's intervals read from a setting when the settings load: a forked child's
# override of the setting is carried into the interval, as a new interpreter would read it.
PERIODIC_INTERVALS = {
    "publishing.sweep.due_posts_dispatch": "DISPATCH_INTERVAL_SECONDS",
    "publishing.sweep.sweep": "SWEEP_INTERVAL_SECONDS",
    "webhooks.services.delivery_sweep": "SWEEP_INTERVAL_SECONDS",
    "connections.services.tokens_refresh_due": "TOKEN_REFRESH_INTERVAL_SECONDS",
    "analytics.services.sweep.analytics_sweep": "ANALYTICS_SWEEP_INTERVAL_SECONDS",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env(**overrides: Any) -> dict[str, str]:
    """Environment for a worker process: the test database, the test Redis, and overrides."""
    env = dict(os.environ)
    env["DATABASE_NAME_OVERRIDE"] = connection.settings_dict["NAME"]
    env["REDIS_URL"] = settings.REDIS_URL
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in overrides.items():
        env[key] = str(value)
    return env


def stand_in_env(base_url: str) -> dict[str, str]:
    """What a process needs to publish to the stand-in APIs at ``base_url``: the platforms' base
    URLs pointed at it, and private addresses allowed (it and its media are on this machine)."""
    from mockapis.client import MockApis

    return {
        **MockApis(base_url).api_settings(),
        "MEDIA_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        # The stand-in's Threads finds a container 2 s after it is made (threads_publish_lag_seconds);
        # production waits 15 s after "media not found", as Meta advises: a demo's three-part
        # thread waited 45 s for nothing.
        "THREADS_PUBLISH_WAIT_SECONDS": "2",
        # The stand-in's Pinterest processes a video in a few looks (pinterest_processing_polls):
        # production looks every 10 s.
        "PINTEREST_MEDIA_POLL_SECONDS": "1",
        # The stand-in's TikTok finishes processing a video within a poll or two: a poll a second.
        "TIKTOK_STATUS_POLL_SECONDS": "1",
        # The stand-in's YouTube processes a video, and its Business Profile reviews a local post,
        # within a few reads: production reads once a minute.
        "YOUTUBE_PROCESSING_POLL_SECONDS": "1",
        "GOOGLE_BUSINESS_POLL_SECONDS": "1",
        # The stand-in's Meta processes a video over a few status polls (video_polls_before_ready),
        # not a minute or more: look again each second, not every 30.
        "META_VIDEO_POLL_SECONDS": "1",
    }


class ManagedProcess:
    """A ``manage.py`` command in a child process (its own session), logging to ``.local/logs``."""

    def __init__(self, *command: str, env: dict[str, Any] | None = None):
        self.command = list(command)
        self.env = worker_env(**(env or {}))
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.log = None
        # The other threads of this process when the child was forked from it (the diagnosis of
        # a child that hangs: a lock one of them held is held for ever in the child).
        self.forked_beside: list[str] = []

    def start(self) -> ManagedProcess:
        log_dir = BASE_DIR / ".local" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.command[0]}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in _close()
        overrides = self._fork_overrides()
        if overrides is not None:
            self.forked_beside = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
            self.process = _fork(self.command, self.env, overrides, self.log)
            return self
        # The process that starts it (the test runner, the demo, the bench) has run Django's
        # system checks: each child running them again (the URLconfs, the admin) cost ~0.3 s
        # of CPU, 150 times a suite.
        self.process = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), *self.command, "--skip-checks"],
            env=self.env,
            cwd=BASE_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        return self

    def _fork_overrides(self) -> dict[str, str] | None:
        """The variables this child's environment changes, if it may be forked from this process
        (FORK, a worker's command, nothing changed that is read only at start); else None."""
        if not FORK or self.command[0] not in FORKABLE:
            return None
        from connections.platforms import _SETTINGS as PLATFORM_SETTINGS

        same = {"DATABASE_NAME_OVERRIDE": connection.settings_dict["NAME"], "REDIS_URL": settings.REDIS_URL}
        changed = {
            name: value
            for name, value in self.env.items()
            if os.environ.get(name) != value and name != "PYTHONUNBUFFERED" and same.get(name) != value
        }
        for name in changed:
            if name in READ_AT_START or not (name in PLATFORM_SETTINGS or hasattr(settings, name)):
                return None
        return changed

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL the process and all its descendants: nothing gets to clean up."""
        procs = [psutil.Process(self.pid), *self.descendants()] if self.alive() else []
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        # Only our own child is ours to reap; the grandchildren are reaped by init.
        self._close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (an RQ worker finishes its current job first), then SIGKILL if it hangs."""
        if self.alive():
            leftovers = self.descendants()
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            for proc in leftovers:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
        self._close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stacks(self, timeout: float = 2.0) -> str:
        """Every thread's stack in the process now, as ``faulthandler`` writes them to its log
        (a forked child registers ``STACKS_SIGNAL``): what a test that timed out waiting on a
        worker shows of what the worker was doing. Empty for a process that does not answer."""
        if not self.alive() or not isinstance(self.process, _Forked):
            return ""
        before = len(self.output())
        os.kill(self.pid, STACKS_SIGNAL)
        deadline = time.monotonic() + timeout
        written = ""
        while time.monotonic() < deadline:
            time.sleep(0.05)
            text = self.output()[before:]
            # The dump is whole once it has stopped growing (one thread's stack after another).
            if "most recent call first" in text and text == written:
                break
            written = text
        return _stacks_grouped(written)

    def _close(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _stacks_grouped(dump: str) -> str:
    """faulthandler's dump with the threads of one stack written once, with their count (24 job
    threads waiting on their queues are one stack)."""
    counts: dict[str, int] = {}
    for block in dump.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and "most recent call first" in lines[0]:
            current = "Current thread" in lines[0]
            stack = ("(current) " if current else "") + "\n".join(lines[1:])
            counts[stack] = counts.get(stack, 0) + 1
    return "\n\n".join(f"{n} thread(s):\n{stack}" for stack, n in counts.items())


class WorkerProcess(ManagedProcess):
    """A real ``manage.py rqworker --with-scheduler`` process.

    ``kill()`` also kills its work-horse, which RQ runs in a process group of its own, as a
    crashed machine would.
    """

    def __init__(self, *queues: str, env: dict[str, Any] | None = None, name: str | None = None):
        command = ["rqworker", "--with-scheduler", *(queues or ("default", "webhooks"))]
        if name:
            command += ["--name", name]
        super().__init__(*command, env=env)

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        """Return once the worker has registered itself in Redis (it is then listening). A worker
        starts in well under a second; the deadline is for a machine loaded by the suite's other
        processes (two of a clean clone's runs timed out at 15 s, with nothing logged). Past it,
        the error shows the worker's threads' stacks."""
        import redis
        import rq

        connection = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + timeout
        while not any(worker.pid == self.pid for worker in rq.Worker.all(connection=connection)):
            if not self.alive():
                raise RuntimeError(f"worker exited during start-up:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                output = self.output()[-3000:]
                raise RuntimeError(f"worker not ready after {timeout}s:\n{output}\n{self.stacks()}")
            time.sleep(0.05)
        return self


class _Forked:
    """What ManagedProcess uses of a ``subprocess.Popen``, for a child forked from this process."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, its status unknown
                self.returncode = -signal.SIGKILL
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked pid {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode


def _fork(command: list[str], env: dict[str, str], overrides: dict[str, str], log) -> _Forked:
    """Run ``manage.py <command>`` in a child forked from this process, as a new interpreter
    would: its own session, killed with its parent, output to ``log``, ``env`` as its environment
    and the settings ``overrides`` names in force."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    _requests_finish(timeout=FORK_QUIET_SECONDS)
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 1
    try:
        _become_child(env, overrides, log.fileno())
        from django.core.management import call_command

        call_command(*command)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (ValueError, OSError):
                pass
        # No atexit handler, no finaliser of the parent's objects: they are the parent's.
        os._exit(code)


def _requests_finish(*, timeout: float) -> None:
    """Let the live server's requests in flight (the stand-in's answer to the test's last call,
    Django closing its connections after it) end before a fork, for at most ``timeout`` seconds:
    a lock such a thread holds when the process forks (a buffer's, the C library's) stays held
    for ever in the child. A thread waiting on a kept-alive connection for its next request is
    not in flight (REQUESTS_IN_FLIGHT, kept by devtools.testing's request handler); a request
    still running past ``timeout`` (a held answer) is left to run."""
    deadline = time.monotonic() + timeout
    while REQUESTS_IN_FLIGHT and time.monotonic() < deadline:
        time.sleep(0.002)


# The live server's threads handling a request now (devtools.testing's handler adds and removes
# its thread's id): what a fork waits for (_requests_finish).
REQUESTS_IN_FLIGHT: set[int] = set()


def _become_child(env: dict[str, str], overrides: dict[str, str], log_fd: int) -> None:
    from importlib import import_module

    from django.db import connections

    from devtools.testing import _typed

    os.setsid()
    _die_with_parent()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGUSR1):
        signal.signal(number, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    import faulthandler

    faulthandler.register(STACKS_SIGNAL, file=os.fdopen(os.dup(2), "w"), all_threads=True)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), line_buffering=True)  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), line_buffering=True)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)
    # The parent's database connections are the parent's: the child makes its own (psycopg does
    # not close, when collected, a connection made by another process).
    for alias in connections:
        connections[alias].connection = None
    # A TransactionTestCase's ``available_apps`` narrow the parent's registry: the child has
    # every installed app, as a worker started for real (django_rq's commands among them).
    from django.apps import apps
    from django.core.management import get_commands

    while apps.stored_app_configs:
        apps.unset_available_apps()
    get_commands.cache_clear()
    # A test process of Django's parallel runner is a daemonic pool worker; the child is a main
    # process, which may start RQ's scheduler process.
    multiprocessing.current_process()._config["daemon"] = False
    if overrides:
        from django.test.utils import override_settings

        override_settings(**_typed({k: v for k, v in overrides.items() if hasattr(settings, k)})).enable()
        periodic = dict(settings.PLANRRR_PERIODIC)
        for path, name in PERIODIC_INTERVALS.items():
            if path in periodic and name in overrides:
                periodic[path] = float(getattr(settings, name))
        settings.PLANRRR_PERIODIC = periodic
    # It logs as a worker started for real does (the test process keeps quiet), to its log: the
    # handlers made for the parent's streams are made again.
    from django.utils.module_loading import import_string

    configured = import_module(os.environ.get("DJANGO_SETTINGS_MODULE", "planrrr.settings"))
    settings.TESTING = False
    settings.LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    settings.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    settings.RQ_LOG_LEVEL = os.environ.get("RQ_LOG_LEVEL", "WARNING")
    settings.LOGGING = configured.logging_config(
        testing=False, log_format=settings.LOG_FORMAT, log_level=settings.LOG_LEVEL, rq_log_level=settings.RQ_LOG_LEVEL
    )
    import_string(settings.LOGGING_CONFIG)(settings.LOGGING)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent dies, so a crashed
    test run or demo leaves no worker behind."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the parent's stop() still cleans up


class StandInProcess(ManagedProcess):
    """``manage.py run_mock_apis`` on a free port of 127.0.0.1: the stand-in platform APIs."""

    def __init__(self, port: int | None = None, env: dict[str, Any] | None = None):
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__("run_mock_apis", "--port", str(self.port), env={"MOCK_APIS_ENABLED": "true", **(env or {})})

    def wait_ready(self, timeout: float = 30.0) -> StandInProcess:
        """Return once it answers HTTP; raise, with its output, if it exits or takes too long."""
        import requests

        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.base_url}/_control/config", timeout=1)
                return self
            except requests.ConnectionError:
                if not self.alive():
                    raise RuntimeError(f"the stand-in APIs exited during start-up:\n{self.output()[-3000:]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the stand-in APIs did not answer within {timeout:.0f}s") from None
                time.sleep(0.1)


class WorkerPoolProcess(ManagedProcess):
    """A real ``manage.py planrrr_workers --num-workers N`` process: N workers forked from one
    preloaded parent (``planrrr.pool.WorkerPool``)."""

    def __init__(self, *queues: str, workers: int, env: dict[str, Any] | None = None, worker_class: str | None = None):
        command = ["planrrr_workers", "--num-workers", str(workers), *(queues or ("default", "webhooks"))]
        if worker_class:
            command[1:1] = ["--worker-class", worker_class]
        super().__init__(*command, env=env)
        self.size = workers

    def workers(self) -> list[psutil.Process]:
        """The pool's workers: its children (a worker's scheduler process is a grandchild)."""
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the parent only: it asks each worker to stop (a warm shutdown, the job in
        hand finished). The group's SIGTERM on top would be each worker's second signal, a cold
        stop. SIGKILL to all of them if the pool has not ended within ``timeout``."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()


def tree(pids: list[int]) -> list[psutil.Process]:
    """The processes ``pids`` and all their descendants (those still alive)."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in (root, *root.children(recursive=True)):
                found.setdefault(proc.pid, proc)
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def memory_pss(processes: list[psutil.Process]) -> int:
    """The proportional set size of ``processes`` together, in bytes: each page counted once,
    shared or not (a page shared by n processes counts 1/n in each). The memory a fleet of
    forked workers really takes, where summing RSS counts every shared page once per process."""
    total = 0
    for proc in processes:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total
