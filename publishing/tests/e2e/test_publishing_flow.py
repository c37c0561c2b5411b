"""Seed scenario 1: successful multi-platform publishing, and partial failure.

Real `manage.py rqworker` processes publish over HTTP to the stand-in APIs served by the
live server, on the real PostgreSQL and Redis.
"""

from django.db import connection as db
from django.utils import timezone

from publishing import services
from publishing.models import Post, Publication
from publishing.selectors import metrics_summary
from publishing.tests.base import FACEBOOK_PAGE, TWITTER_USER, PublishingLiveTestCase


class PublishingFlowTests(PublishingLiveTestCase):
    def test_it_publishes_post_to_multiple_platforms(self):
        self.start_worker()
        post = services.post_create(
            team=self.team,
            author=self.owner,
            content="Test post for E2E testing",
            platforms=["FACEBOOK", "TWITTER"],
            scheduled_at=self.soon(1),
        )

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertIsNotNone(post.published_at)
        self.assertGreaterEqual(post.published_at, post.scheduled_at)
        publications = list(post.publications.all())
        self.assertEqual(len(publications), 2)
        for publication in publications:
            self.assertEqual(publication.status, Publication.Status.PUBLISHED)
            self.assertTrue(publication.external_id)
            self.assertEqual(publication.attempt_count, 1)
        self.assertTrue(self.publication(post, "FACEBOOK").external_id.startswith(f"{FACEBOOK_PAGE}_"))
        # What the platforms received: one post each, with the text, for the right account.
        received = self.mock.posts()
        self.assertEqual([p["text"] for p in received], ["Test post for E2E testing"] * 2)
        self.assertEqual({p["account"] for p in received}, {FACEBOOK_PAGE, TWITTER_USER})
        self.assertEqual(metrics_summary()["postsPublished"], 2)

    def test_it_publishes_a_post_written_straight_into_the_database(self):
        self.start_worker()
        # No service call, no publications, no job: only the row, as another program would write it.
        with db.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,
                                             created_at, updated_at)
                VALUES (%s, %s, %s, '{}', 'SCHEDULED', %s, now(), now()) RETURNING id
                """,
                [self.team.pk, "Written by SQL", ["FACEBOOK", "TWITTER"], self.soon(0.5)],
            )
            post = Post.objects.get(pk=cursor.fetchone()[0])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(sorted(post.publications.values_list("platform", flat=True)), ["FACEBOOK", "TWITTER"])
        self.assertEqual(len(self.mock.posts()), 2)

    def test_it_handles_partial_failures_gracefully(self):
        self.mock.fail("TWITTER", mode="error")
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Test partial failure",
            platforms=["FACEBOOK", "TWITTER"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post)

        facebook, twitter = self.publication(post, "FACEBOOK"), self.publication(post, "TWITTER")
        self.assertEqual(facebook.status, Publication.Status.PUBLISHED)
        self.assertEqual(twitter.status, Publication.Status.FAILED)
        self.assertIn("API error", twitter.error)
        self.assertEqual(twitter.attempt_count, 1, "a permanent error is not retried")
        self.assertEqual(post.status, Post.Status.PARTIAL)
        self.assertIsNotNone(post.published_at)
        summary = metrics_summary()
        self.assertEqual((summary["postsPublished"], summary["postsFailed"]), (1, 1))

    def test_it_publishes_nothing_before_the_scheduled_time(self):
        self.start_worker()
        post = services.post_create(
            team=self.team, content="Later", platforms=["FACEBOOK"], scheduled_at=self.soon(3600)
        )
        # A job that must not run yet: a later post due now goes out while this one waits.
        due = services.post_create(team=self.team, content="Now", platforms=["FACEBOOK"], scheduled_at=self.soon(0))
        self.wait_until_final(due)

        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual([p["text"] for p in self.mock.posts()], ["Now"])

    def test_it_never_lets_two_workers_publish_the_same_publication(self):
        self.start_worker()
        self.start_worker()
        posts = [
            services.post_create(team=self.team, content=f"Once only {i}", platforms=["FACEBOOK", "TWITTER"])
            for i in range(10)
        ]
        for post in posts:
            Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())
            # Every publication gets a second job, as a sweep racing RQ's own retry would give it.
            for publication in post.publications.all():
                services.publication_enqueue(publication=publication)
                services.publication_enqueue(publication=publication)

        for post in posts:
            self.wait_until_final(post)
            self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts()), 20)
        self.assertEqual(self.mock.duplicates(), 0)
        self.assertEqual(
            set(Publication.objects.values_list("attempt_count", flat=True)), {1}, "one attempt each, no double claim"
        )
