"""The first comment's own job: it claims its attempt (two jobs never both comment), and the
sweep re-enqueues one whose job was lost."""

from datetime import timedelta
from unittest import mock

import django_rq
import responses
from django.db import OperationalError
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from devtools.testing import flush_redis
from planrrr import outages
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.services import comments
from publishing.tests.base import FACEBOOK_PAGE, Actors


class FirstCommentJobTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        post = services.post_create(
            team=self.team, content="Out already", first_comment="Link below", platforms=["FACEBOOK"]
        )
        self.publication = post.publications.get()
        Publication.objects.filter(pk=self.publication.pk).update(
            status=Publication.Status.PUBLISHED,
            external_id="104857600123456_1",
            published_at=timezone.now() - timedelta(minutes=5),
        )
        post.status = "PUBLISHED"
        post.save()

    def state(self, value):
        Publication.objects.filter(pk=self.publication.pk).update(metadata={"firstComment": value})

    def test_a_job_does_nothing_while_another_one_holds_the_comment(self):
        self.state({"attempts": 1, "inFlight": (timezone.now() + timedelta(minutes=1)).isoformat()})
        outcome = services.publication_first_comment(publication_id=self.publication.pk)
        self.assertEqual(outcome, "SKIPPED")

    def test_a_job_does_nothing_once_the_comment_is_posted_or_given_up(self):
        for state in ({"attempts": 1, "id": "c1"}, {"attempts": 5, "error": "x", "gaveUp": True}):
            self.state(state)
            self.assertEqual(services.publication_first_comment(publication_id=self.publication.pk), "SKIPPED")

    def test_the_sweep_enqueues_a_comment_whose_job_was_lost(self):
        queue = django_rq.get_queue("default")
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(services.first_comments_requeue(timezone.now()), 1)
        self.assertEqual(len(queue.job_ids), 1)

        self.state({"attempts": 1, "id": "c1"})
        self.assertEqual(services.first_comments_requeue(timezone.now()), 0)
        self.state({"attempts": 1, "inFlight": (timezone.now() - timedelta(minutes=1)).isoformat()})
        self.assertEqual(services.first_comments_requeue(timezone.now()), 1, "an attempt whose worker died")


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test")
class FirstCommentOutageTests(Actors, TransactionTestCase):
    """PostgreSQL unreachable when a comment's outcome is to be written: held and written as soon
    as it is back, as a publication's (issue 19, finding 9). Outside any transaction, as a worker
    runs it."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        outages._forget()
        self.addCleanup(outages._forget)
        self.make_actors()
        post = services.post_create(
            team=self.team, content="Out already", first_comment="Link below", platforms=["FACEBOOK"]
        )
        self.publication = post.publications.get()
        Publication.objects.filter(pk=self.publication.pk).update(
            status=Publication.Status.PUBLISHED, external_id=f"{FACEBOOK_PAGE}_1", published_at=timezone.now()
        )
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHED)
        self.enterContext(responses.mock)
        responses.post(f"https://graph.facebook.test/v21.0/{FACEBOOK_PAGE}_1/comments", json={"id": "c1"})
        self.sleeps = []
        self.enterContext(mock.patch("planrrr.outages.time.sleep", self.sleeps.append))

    def test_the_comments_outcome_is_written_once_postgresql_answers_again(self):
        write, calls = comments._write, []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) <= 3:
                raise OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed')
            return write(*args, **kwargs)

        with mock.patch.object(comments, "_write", failing), self.assertLogs("planrrr", "INFO") as logged:
            outcome = services.publication_first_comment(publication_id=self.publication.pk)

        self.assertEqual(outcome, JobMetric.Outcome.PUBLISHED)
        self.publication.refresh_from_db()
        self.assertEqual(self.publication.metadata["firstComment"]["id"], "c1")
        self.assertEqual((len(calls), self.sleeps), (4, [0.25, 0.5, 1.0]))
        self.assertEqual(len(responses.calls), 1, "commented once")
        outage = [(r.outage, r.state) for r in logged.records if hasattr(r, "outage")]
        self.assertEqual(outage, [("PostgreSQL", "started"), ("PostgreSQL", "ended")])
