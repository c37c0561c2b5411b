"""Each target at its own time, and a paused queue publishes nothing: real workers, the stand-in."""

import django_rq
from django.db import connection as db

from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.services import queue
from publishing.tests.base import PublishingLiveTestCase

FAST = {"SWEEP_REQUEUE_AFTER_SECONDS": "1"}


class TargetTimesTests(PublishingLiveTestCase):
    def test_a_post_to_two_accounts_at_two_times_publishes_each_at_its_own_time(self):
        self.start_worker(**FAST)
        facebook_at, twitter_at = self.soon(2), self.soon(7)
        post = services.post_create(team=self.team, content="Two times", platforms=["FACEBOOK", "TWITTER"])
        # Each target's own time, as the queue leaves them (a row by SQL is the contract too).
        Publication.objects.filter(post=post, platform="FACEBOOK").update(scheduled_at=facebook_at)
        Publication.objects.filter(post=post, platform="TWITTER").update(scheduled_at=twitter_at)
        Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=facebook_at)

        def facebook_out():
            return bool(self.mock.posts(platform="FACEBOOK"))

        wait_for(facebook_out, timeout=20, message=f"Facebook's post (workers: {self.worker_logs()})")
        self.assertEqual(self.mock.posts(platform="TWITTER"), [], "X's target is not due yet")
        twitter = self.publication(post, "TWITTER")
        self.assertEqual(twitter.status, Publication.Status.PENDING)
        self.assertEqual(twitter.next_attempt_at, twitter_at)
        # A stray job for X's target now (a duplicate, the sweep's) reaches nothing either.
        django_rq.get_queue("default").enqueue("publishing.jobs.publication_publish", twitter.pk)

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        (to_facebook,) = self.mock.requests(platform="FACEBOOK", method="POST", path="feed")
        (to_x,) = self.mock.requests(platform="TWITTER", method="POST", path="tweets")
        self.assertGreaterEqual(to_facebook["ts"], facebook_at.timestamp())
        self.assertGreaterEqual(to_x["ts"], twitter_at.timestamp(), "never before its own time")
        self.assertEqual(len(self.mock.posts(platform="TWITTER")), 1)

    def test_a_paused_queue_publishes_nothing_and_resume_publishes_at_the_new_slot(self):
        self.start_worker(**FAST)
        queue.channel_slots_set(channel=self.facebook, slots=[{"weekday": d, "time": "09:00"} for d in range(7)])
        post = services.post_queue(post=services.post_create(team=self.team, content="Held", platforms=["FACEBOOK"]))
        # Its slot comes in two seconds (as if 09:00 were now), then the queue is paused.
        soon = self.soon(2)
        Publication.objects.filter(post=post).update(scheduled_at=soon)
        Post.objects.filter(pk=post.pk).update(scheduled_at=soon)
        queue.channel_queue_pause(channel=self.facebook)
        post.refresh_from_db()
        self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, None))
        # A probe due after the held one's old slot: once it is out, the workers had every chance.
        probe = services.post_create(team=self.team, content="Probe", platforms=["TWITTER"], scheduled_at=self.soon(5))
        self.wait_until_final(probe, timeout=30)
        post.refresh_from_db()
        self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, None))
        self.assertEqual(self.mock.posts(platform="FACEBOOK"), [])

        queue.channel_queue_resume(channel=self.facebook)
        publication = self.publication(post, "FACEBOOK")
        self.assertIsNotNone(publication.scheduled_at)
        # The next 09:00 is hours away: bring it to now by SQL, as the clock would.
        with db.cursor() as cursor:
            cursor.execute("UPDATE publishing_publication SET scheduled_at = now() WHERE id = %s", [publication.pk])
            cursor.execute("UPDATE publishing_post SET scheduled_at = now() WHERE id = %s", [post.pk])
        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)
