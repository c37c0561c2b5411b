"""Child processes the demo, the benchmark and the tests start: workers and the stand-in
APIs, on the same PostgreSQL database and Redis as the parent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


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
    }


class ManagedProcess:
    """A ``manage.py`` command in a child process (its own session), logging to ``.local/logs``."""

    def __init__(self, *command: str, env: dict[str, Any] | None = None):
        self.command = list(command)
        self.env = worker_env(**(env or {}))
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.log = None

    def start(self) -> ManagedProcess:
        log_dir = BASE_DIR / ".local" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.command[0]}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in _close()
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

    def wait_ready(self, timeout: float = 15.0) -> WorkerProcess:
        """Return once the worker has registered itself in Redis (it is then listening)."""
        import redis
        import rq

        connection = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + timeout
        while not any(worker.pid == self.pid for worker in rq.Worker.all(connection=connection)):
            if not self.alive():
                raise RuntimeError(f"worker exited during start-up:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        return self


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
