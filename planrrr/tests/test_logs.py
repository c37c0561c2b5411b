"""Log lines: one structured line per publication outcome and per delivery, JSON or text; an
outage logged when it starts and when it ends, not at every loop."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from unittest import mock

import responses
from django.db import OperationalError
from django.test import SimpleTestCase, TestCase, override_settings
from django.utils import timezone

from planrrr import logs
from planrrr.rq import Outages, run_periodic
from planrrr.testing import flush_redis
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


class OutageTests(SimpleTestCase):
    def test_an_outage_is_logged_when_it_starts_and_when_it_ends(self):
        connection = mock.Mock()
        connection.set.return_value = True
        outages = Outages()
        task = mock.Mock(side_effect=OperationalError("connection refused"))

        with (
            mock.patch("planrrr.rq.import_string", return_value=task),
            mock.patch("planrrr.rq.db.close_old_connections"),
            mock.patch("planrrr.rq.db.connections.close_all"),
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
