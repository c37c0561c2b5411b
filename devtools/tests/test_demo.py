"""`make run` (manage.py demo) and compose's `demo` service (demo --stand-in URL --fleet), run as
the user runs them: a process of their own, real workers, the stand-in on a port."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase

from devtools import stack
from devtools.processes import StandInProcess, WorkerPoolProcess, worker_env
from devtools.testing import flush_redis


def demo(*args: str, env: dict[str, str] | None = None, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "demo", *args],
        cwd=settings.BASE_DIR,
        env=worker_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class DemoTests(TransactionTestCase):
    def test_make_run_publishes_every_post(self):
        # Its own database (<test database>_demo, dropped afterwards) and a Redis database no test
        # process uses.
        self.addCleanup(self.drop, f"{connection.settings_dict['NAME']}_demo")

        result = demo("--redis-db", "1", "--delay", "2")

        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertIn("connected", result.stdout)
        self.assertNotIn("FAILED", result.stdout)
        self.assertRegex(result.stdout, r"webhooks received: \d+ \([1-9]\d* verified")

    def drop(self, name: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class FleetDemoTests(TransactionTestCase):
    """What `docker compose up` runs: the stand-in and the workers are already there."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.stand_in = StandInProcess().start()
        self.addCleanup(self.stand_in.stop)
        self.stand_in.wait_ready()
        self.env = {**stack.stand_in_env(self.stand_in.base_url), **stack.OAUTH_APP}

    def test_it_publishes_with_the_running_workers(self):
        pool = WorkerPoolProcess("default", "webhooks", workers=2, env=self.env).start()
        self.addCleanup(pool.stop)

        result = demo("--stand-in", self.stand_in.base_url, "--fleet", "--receiver-host", "127.0.0.1", env=self.env)

        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:] + pool.output()[-3000:])
        self.assertIn("with the running workers", result.stdout)
        self.assertRegex(result.stdout, r"webhooks received: \d+ \([1-9]\d* verified")

    def test_it_refuses_workers_that_would_not_publish_to_the_stand_in(self):
        env = {**self.env, "TWITTER_API_URL": "https://api.x.com"}

        result = demo("--stand-in", self.stand_in.base_url, "--fleet", env=env, timeout=60)

        self.assertNotEqual(result.returncode, 0)
        self.assertIn("would not publish to the stand-in: TWITTER_API_URL='https://api.x.com'", result.stderr)
