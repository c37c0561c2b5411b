"""The dispatch: what is due goes out once, what is not (cancelled, moved later) does not."""

from datetime import timedelta
from unittest import mock

import django_rq
import redis
import rq
from django.test import TestCase, override_settings
from django.utils import timezone

from planrrr.testing import flush_redis
from publishing import services, sweep
from publishing.models import Post, Publication
from publishing.tests.base import Actors


class DispatchTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")

    def scheduled(self, platforms=("FACEBOOK", "TWITTER"), minutes=10) -> Post:
        return services.post_create(
            team=self.team, content="Scheduled", platforms=list(platforms), scheduled_at=self.soon(minutes * 60)
        )

    def fall_due(self, post: Post) -> None:
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))

    def dispatch(self) -> int:
        with self.captureOnCommitCallbacks(execute=True):
            return services.posts_dispatch()

    def test_a_cancelled_post_stays_home(self):
        post = self.scheduled()
        self.assertTrue(services.post_cancel(post=post))
        self.fall_due(post)

        self.assertEqual(self.dispatch(), 0)

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.CANCELLED)
        self.assertEqual(self.queue.count, 0)

    def test_a_post_already_publishing_cannot_be_cancelled(self):
        post = self.scheduled()
        self.fall_due(post)
        self.dispatch()

        self.assertFalse(services.post_cancel(post=post))
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)

    def test_a_post_moved_later_goes_out_at_its_new_time_only(self):
        post = self.scheduled(minutes=1)
        with self.captureOnCommitCallbacks(execute=True):
            services.post_schedule(post=post, scheduled_at=self.soon(3600))
        self.assertEqual(self.dispatch(), 0)

        self.fall_due(post)
        self.assertEqual(self.dispatch(), 2)
        self.assertEqual(self.dispatch(), 0)  # once
        self.assertEqual(self.queue.count, 2)

    def test_a_post_moved_to_now_goes_out_at_once(self):
        post = self.scheduled()
        with self.captureOnCommitCallbacks(execute=True):
            services.post_schedule(post=post, scheduled_at=timezone.now())

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(self.queue.count, 2)

    def test_a_row_written_straight_into_the_database_gets_its_publications(self):
        # Another program wrote it: a platform with no connection, one planrrr does not know.
        post = Post.objects.create(
            team=self.team,
            content="From SQL",
            platforms=["FACEBOOK", "LINKEDIN", "MYSPACE"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now() - timedelta(seconds=1),
        )

        self.assertEqual(self.dispatch(), 1)

        publications = {p.platform: p for p in post.publications.all()}
        self.assertEqual(publications["FACEBOOK"].status, Publication.Status.PENDING)
        self.assertEqual(self.queue.get_job_ids(), [publications["FACEBOOK"].job_id])
        self.assertEqual(publications["LINKEDIN"].status, Publication.Status.FAILED)
        self.assertIn("no LinkedIn connection: connect an account", publications["LINKEDIN"].error)
        self.assertEqual(publications["MYSPACE"].status, Publication.Status.FAILED)
        self.assertIn("Unknown platform 'MYSPACE'", publications["MYSPACE"].error)

    def test_a_post_with_nothing_it_can_publish_fails_at_once(self):
        post = Post.objects.create(
            team=self.team,
            content="Nowhere to go",
            platforms=["MYSPACE"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now() - timedelta(seconds=1),
        )

        self.assertEqual(self.dispatch(), 0)

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.FAILED)
        self.assertEqual(self.queue.count, 0)

    def test_a_batch_with_nothing_to_publish_does_not_end_the_round(self):
        # A full batch of posts that all fail at the door enqueues nothing; the next batch is
        # still read in the same round.
        past = timezone.now() - timedelta(minutes=1)
        Post.objects.bulk_create(
            Post(
                team=self.team,
                content=f"Nowhere {i}",
                platforms=["MYSPACE"],
                status=Post.Status.SCHEDULED,
                scheduled_at=past,
            )
            for i in range(sweep.DISPATCH_BATCH)
        )
        last = services.post_create(team=self.team, content="Somewhere", platforms=["FACEBOOK"])
        Post.objects.filter(pk=last.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())

        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_posts_dispatch(), 1)

        self.assertEqual(Post.objects.get(pk=last.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(Post.objects.filter(status=Post.Status.FAILED).count(), sweep.DISPATCH_BATCH)

    @override_settings(SWEEP_REQUEUE_AFTER_SECONDS=0)
    def test_redis_down_at_dispatch_loses_nothing(self):
        post = self.scheduled()
        self.fall_due(post)
        down = redis.exceptions.ConnectionError("Connection refused")
        with self.assertLogs(level="ERROR"):
            with mock.patch.object(rq.Queue, "enqueue_many", side_effect=down):
                self.dispatch()

        # The dispatch stands, its jobs do not exist: the sweep enqueues them.
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(self.queue.count, 0)
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 2)
        self.assertEqual(sorted(self.queue.get_job_ids()), sorted(post.publications.values_list("job_id", flat=True)))
