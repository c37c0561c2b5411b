"""Test support: real worker processes, waiting on conditions, a clean Redis.

Tests talk to the real PostgreSQL and Redis the settings point at (embedded by default)
and start real ``manage.py rqworker`` processes pointed at the test database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import django_rq
from django.test import LiveServerTestCase, override_settings
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from planrrr.processes import WorkerProcess, worker_env  # noqa: F401 - re-exported for tests


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


class _NoDelayHandler(QuietWSGIRequestHandler):
    # Answer at once instead of waiting ~40 ms for the client's delayed ACK (Nagle).
    disable_nagle_algorithm = True


class _NoDelayServerThread(LiveServerThread):
    def _create_server(self, connections_override=None):
        return self.server_class(
            (self.host, self.port),
            _NoDelayHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )


class LiveWorkerTestCase(LiveServerTestCase):
    """A live server (serving the stand-in APIs under /mock/) plus real workers.

    Subclasses start workers with ``self.start_worker(...)``; they are killed after the
    test. Platform base URLs point at the live server.
    """

    server_thread_class = _NoDelayServerThread

    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.workers: list[WorkerProcess] = []
        # This process sees the same world as its workers: the stand-in is local, retries are
        # fast (a job's RQ Retry is made by whichever process enqueues it, often this one).
        self.enterContext(override_settings(**_typed(self.platform_env())))

    def tearDown(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=5)
        flush_redis()
        super().tearDown()

    def stand_in(self):
        from mockapis.client import MockApis

        return MockApis(f"{self.live_server_url}/mock")

    def platform_env(self) -> dict[str, str]:
        return {
            **self.stand_in().api_settings(),
            "MEDIA_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            # Fast retries for tests; production defaults are in settings.
            "PUBLISH_RETRY_BASE_SECONDS": "1",
            "SWEEP_INTERVAL_SECONDS": "0.5",
        }

    def start_worker(self, *queues: str, **env: Any) -> WorkerProcess:
        """A worker with the test's settings plus ``env``; this process takes ``env`` too, so
        that what it enqueues (RQ's Retry, for one) follows the same settings."""
        worker = WorkerProcess(*queues, env={**self.platform_env(), **env}).start()
        self.workers.append(worker)
        self.enterContext(override_settings(**_typed(env)))
        return worker.wait_ready()


def _typed(env: dict[str, Any]) -> dict[str, Any]:
    """Environment values as the settings hold them (the type of the current setting)."""
    from django.conf import settings

    typed = {}
    for name, value in env.items():
        current = getattr(settings, name, None)
        if isinstance(current, bool):
            typed[name] = str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, (int, float)) and not isinstance(value, (int, float)):
            typed[name] = type(current)(value)
        else:
            typed[name] = value
    return typed
