"""Log lines: one structured line per publication outcome and per delivery, JSON or text; an
outage logged when it starts and when it ends, not at every loop."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import requests
import responses
from django.conf import settings
from django.db import OperationalError
from django.test import SimpleTestCase, TestCase, override_settings
from django.utils import timezone

from devtools.processes import free_port, worker_env
from devtools.testing import flush_redis, process_stop, wait_for
from planrrr import logs
from planrrr.logs import Outage
from planrrr.periodic import Outages, run_periodic
from publishing import services
from publishing.models import Post
from publishing.tests.base import FACEBOOK_PAGE, Actors

FEED = f"https://graph.facebook.test/v21.0/{FACEBOOK_PAGE}/feed"


def captured(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.Logger("planrrr.test")
    logger.addHandler(handler)
    return logger, stream


class FormatterTests(SimpleTestCase):
    def test_it_writes_fields_as_key_value_in_text(self):
        logger, stream = captured(logs.TextFormatter())

        logs.event(logger, logging.WARNING, "publication outcome", post=3, platform="X", error="Rate limited (429)")

        line = stream.getvalue().strip()
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING planrrr.test publication outcome ")
        self.assertTrue(line.endswith('post=3 platform=X error="Rate limited (429)"'), line)

    def test_it_writes_one_json_object_a_line(self):
        logger, stream = captured(logs.JsonFormatter())

        logs.event(logger, logging.INFO, "publication outcome", post=3, outcome="PUBLISHED", duration_ms=12.5)

        line = json.loads(stream.getvalue())
        self.assertEqual(line["level"], "INFO")
        self.assertEqual(line["logger"], "planrrr.test")
        self.assertEqual(line["message"], "publication outcome")
        self.assertEqual((line["post"], line["outcome"], line["duration_ms"]), (3, "PUBLISHED", 12.5))
        self.assertIn("time", line)

    def test_a_json_line_has_an_rfc_3339_utc_time_and_its_traceback_inside(self):
        # Issue 19, finding 10: "time" was "2026-12-06 07:47:41,294" (no T, no zone).
        logger, stream = captured(logs.JsonFormatter())
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("it broke")

        text = stream.getvalue()
        self.assertEqual(len(text.splitlines()), 1, "one line, the traceback inside")
        line = json.loads(text)
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        moment = datetime.fromisoformat(line["time"])
        self.assertEqual(moment.utcoffset(), timedelta(0))
        self.assertLess(abs((moment - timezone.now()).total_seconds()), 60)
        self.assertEqual(line["pid"], os.getpid())
        self.assertIn("RuntimeError: boom", line["exc_info"])


class ProcessLinesTests(SimpleTestCase):
    """With LOG_FORMAT=json, every line a process writes is a JSON object (issue 19, finding 10)."""

    def assertAllJson(self, output: str) -> list[dict]:
        lines = [line for line in output.splitlines() if line.strip()]
        self.assertTrue(lines, "no output")
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                self.fail(f"not a JSON line: {line!r}\n{output[-3000:]}")
            self.assertTrue(parsed[-1]["time"].endswith("Z"), line)
        return parsed

    def test_warnings_and_an_uncaught_exception_are_json_lines(self):
        script = "import warnings; warnings.warn('mind the gap'); raise RuntimeError('nobody caught me')"
        run = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
            cwd=settings.BASE_DIR,
            env={**worker_env(), "LOG_FORMAT": "json"},
            capture_output=True,
            text=True,
            timeout=120,
        )

        lines = self.assertAllJson(run.stdout + run.stderr)
        self.assertNotEqual(run.returncode, 0)
        by_logger = {line["logger"]: line for line in lines}
        self.assertIn("UserWarning: mind the gap", by_logger["py.warnings"]["message"])
        self.assertEqual(by_logger["planrrr"]["level"], "CRITICAL")
        self.assertIn("RuntimeError: nobody caught me", by_logger["planrrr"]["exc_info"])

    def test_gunicorn_with_its_configuration_writes_json_lines(self):
        # gunicorn's own lines and its access lines stayed plain text in the JSON stream; from the
        # repository gunicorn reads gunicorn.conf.py, as the image does.
        directory = Path(tempfile.mkdtemp(prefix="planrrr-gunicorn-"))
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        port = free_port()
        output = directory / "output.log"
        with open(output, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "planrrr.wsgi", "--bind", f"127.0.0.1:{port}"],
                cwd=settings.BASE_DIR,
                env={**worker_env(), "LOG_FORMAT": "json", "DEBUG": "false", "ALLOWED_HOSTS": "localhost"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.addCleanup(process_stop, process, timeout=10)

        def get(path):
            self.assertIsNone(process.poll(), output.read_text())
            try:
                return requests.get(f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost"}, timeout=5)
            except (requests.ConnectionError, requests.Timeout):
                return None

        wait_for(lambda: get("/healthz"), timeout=60, message="gunicorn to answer")
        self.assertEqual(get("/no-such-page").status_code, 404)
        # Django's own "Not Found: /no-such-page" comes first: wait for gunicorn's access line.
        wait_for(
            lambda: any(
                "gunicorn.access" in line and "/no-such-page" in line for line in output.read_text().splitlines()
            ),
            message="the access line",
        )

        lines = self.assertAllJson(output.read_text())
        loggers = {line["logger"] for line in lines}
        self.assertLessEqual({"gunicorn.error", "gunicorn.access", "django.request"}, loggers)
        access = [line for line in lines if line["logger"] == "gunicorn.access" and line["path"] == "/no-such-page"]
        self.assertEqual([line["status"] for line in access], ["404"])


class OutageTests(SimpleTestCase):
    def test_an_outage_is_logged_when_it_starts_and_when_it_ends(self):
        connection = mock.Mock()
        connection.set.return_value = True
        outages = Outages(database=Outage("PostgreSQL", logging.getLogger("planrrr.outage")))
        task = mock.Mock(side_effect=OperationalError("connection refused"))

        with (
            mock.patch("planrrr.periodic.import_string", return_value=task),
            mock.patch("planrrr.periodic.db.close_old_connections"),
            mock.patch("planrrr.periodic.db.connections.close_all"),
            self.assertLogs("planrrr", level="DEBUG") as logged,
        ):
            for _ in range(50):
                run_periodic(connection, "publishing.sweep.sweep", 1.0, outages)
            task.side_effect = None
            run_periodic(connection, "publishing.sweep.sweep", 1.0, outages)
            run_periodic(connection, "publishing.sweep.sweep", 1.0, outages)

        self.assertEqual(len(logged.records), 2, logged.output)
        started, ended = logged.records
        self.assertEqual(started.levelname, "ERROR")
        self.assertIn("PostgreSQL failing: OperationalError: connection refused", started.getMessage())
        self.assertIsNone(started.exc_info)
        self.assertEqual(ended.levelname, "WARNING")
        self.assertRegex(ended.getMessage(), r"^PostgreSQL back after \d+\.\d s \(50 failed tries\)$")
        self.assertEqual((ended.outage, ended.failures), ("PostgreSQL", 50))


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", PUBLISH_MAX_ATTEMPTS=2)
class OutcomeLineTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.enterContext(responses.mock)

    def publish(self):
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK"])
        Post.objects.filter(pk=post.pk).update(
            status=Post.Status.PUBLISHING, scheduled_at=timezone.now() - timedelta(seconds=1)
        )
        publication = post.publications.get()
        with self.captureOnCommitCallbacks(execute=True), self.assertLogs("planrrr.publishing", "DEBUG") as logged:
            services.publication_publish(publication_id=publication.pk)
        lines = [r for r in logged.records if r.getMessage() == "publication outcome"]
        self.assertEqual(len(lines), 1, logged.output)
        return publication, lines[0]

    def test_it_logs_a_published_attempt_at_info(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})

        publication, line = self.publish()

        self.assertEqual(line.levelname, "INFO")
        fields = logs.fields_of(line)
        self.assertEqual(
            {k: fields[k] for k in ("post", "publication", "platform", "outcome", "attempt", "error")},
            {
                "post": publication.post_id,
                "publication": publication.pk,
                "platform": "FACEBOOK",
                "outcome": "PUBLISHED",
                "attempt": 1,
                "error": "",
            },
        )
        self.assertGreaterEqual(fields["duration_ms"], 0)

    def test_it_logs_an_expected_retry_at_warning_without_a_traceback(self):
        responses.post(FEED, status=503, json={"error": {"message": "Service unavailable", "code": 2}})

        _, line = self.publish()

        self.assertEqual(line.levelname, "WARNING")
        self.assertIsNone(line.exc_info)
        self.assertEqual(line.outcome, "RETRY")
        self.assertIn("attempt 1", line.error)
