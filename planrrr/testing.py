"""Test support: real worker processes, waiting on conditions, a clean Redis.

Tests talk to the real PostgreSQL and Redis the settings point at (embedded by default)
and start real ``manage.py rqworker`` processes pointed at the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django_rq
import psutil
from django.conf import settings
from django.db import connection
from django.test import LiveServerTestCase

BASE_DIR = Path(settings.BASE_DIR)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def flush_redis() -> None:
    """Empty the Redis database the tests use (never the one the demo uses: see settings)."""
    django_rq.get_connection("default").flushdb()


def worker_env(**overrides: Any) -> dict[str, str]:
    """Environment for a worker process: the test database, the test Redis, and overrides."""
    env = dict(os.environ)
    env["DATABASE_NAME_OVERRIDE"] = connection.settings_dict["NAME"]
    env["REDIS_URL"] = settings.REDIS_URL
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in overrides.items():
        env[key] = str(value)
    return env


class WorkerProcess:
    """A real ``manage.py rqworker --with-scheduler`` process.

    ``kill()`` sends SIGKILL to the worker and to its work-horse (RQ runs the horse in a
    process group of its own), as a crashed machine would.
    """

    def __init__(self, *queues: str, env: dict[str, Any] | None = None, name: str | None = None):
        self.queues = queues or ("default", "webhooks")
        self.env = worker_env(**(env or {}))
        self.name = name
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self) -> WorkerProcess:
        args = [sys.executable, str(BASE_DIR / "manage.py"), "rqworker", "--with-scheduler", *self.queues]
        if self.name:
            args += ["--name", self.name]
        log_dir = BASE_DIR / ".local" / "test-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, env=self.env, cwd=BASE_DIR, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def horse_pids(self) -> list[int]:
        """Pids of work-horses currently running a job."""
        return [p.pid for p in self.descendants() if "rq:work-horse" in " ".join(_cmdline(p))]

    def kill(self) -> None:
        """SIGKILL the worker, its scheduler and its horse: nothing gets to clean up."""
        procs = [psutil.Process(self.pid), *self.descendants()] if self.alive() else []
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=5)
        self._close()

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown (SIGTERM lets the current job finish), then SIGKILL if it hangs."""
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # The scheduler child can outlive the worker by a moment; make sure nothing is left.
        for proc in self.descendants():
            proc.kill()
        self._close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def _close(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


class LiveWorkerTestCase(LiveServerTestCase):
    """A live server (serving the stand-in APIs under /mock/) plus real workers.

    Subclasses start workers with ``self.start_worker(...)``; they are killed after the
    test. Platform base URLs point at the live server.
    """

    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.workers: list[WorkerProcess] = []

    def tearDown(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=5)
        flush_redis()
        super().tearDown()

    def platform_env(self) -> dict[str, str]:
        base = f"{self.live_server_url}/mock"
        return {
            "FACEBOOK_API_URL": f"{base}/graph",
            "INSTAGRAM_API_URL": f"{base}/graph",
            "TWITTER_API_URL": f"{base}/x",
            "LINKEDIN_API_URL": f"{base}/linkedin",
            "MEDIA_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            # Fast retries for tests; production defaults are in settings.
            "PUBLISH_RETRY_BASE_SECONDS": "1",
            "SWEEP_INTERVAL_SECONDS": "0.5",
        }

    def start_worker(self, *queues: str, **env: Any) -> WorkerProcess:
        worker = WorkerProcess(*queues, env={**self.platform_env(), **env}).start()
        self.workers.append(worker)
        return worker
