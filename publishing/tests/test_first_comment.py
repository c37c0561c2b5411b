"""The first comment's own job: it claims its attempt (two jobs never both comment), and the
sweep re-enqueues one whose job was lost."""

from datetime import timedelta

import django_rq
from django.test import TestCase
from django.utils import timezone

from planrrr.testing import flush_redis
from publishing import services
from publishing.models import Publication
from publishing.tests.base import Actors


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
