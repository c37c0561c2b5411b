"""Seed scenario group 4 (retry and recovery) and the "never twice" promises of issue 3:
transient failures retried, a worker killed mid-request, Redis losing its data or
restarting, a platform that accepted a post but never answered."""

import shutil
import tempfile
from pathlib import Path

import django_rq
import requests
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.utils import timezone

from connections.models import Connection
from connections.platforms import setting_value
from devtools.embedded import RedisServer
from devtools.testing import flush_redis, wait_for
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.selectors import metrics_summary
from publishing.tests.base import FACEBOOK_PAGE, LINKEDIN_ORG, PublishingLiveTestCase


class RetryTests(PublishingLiveTestCase):
    def test_it_retries_transient_failures(self):
        # The stand-in hangs past the client's read timeout twice, then answers.
        self.mock.fail("FACEBOOK", mode="timeout", times=2, seconds=3)
        self.start_worker(PLATFORM_READ_TIMEOUT=0.5)
        post = services.post_create(
            team=self.team, content="Test retry", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=30)

        publication = self.publication(post, "FACEBOOK")
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        self.assertEqual(publication.attempt_count, 3)
        self.assertEqual(len(self.mock.requests(platform="FACEBOOK", method="POST")), 3)
        self.assertEqual(len(self.mock.posts()), 1)
        self.assertEqual(metrics_summary()["retries"], 2)

    def test_it_gives_up_after_the_last_attempt_with_the_platform_message(self):
        self.mock.fail("TWITTER", mode="server_error")
        self.start_worker(PUBLISH_MAX_ATTEMPTS=3)
        post = services.post_create(
            team=self.team, content="Never lands", platforms=["TWITTER"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=30)

        publication = self.publication(post, "TWITTER")
        self.assertEqual(post.status, Post.Status.FAILED)
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertEqual(publication.attempt_count, 3)
        self.assertIn("X API error", publication.error)
        self.assertIn("gave up after 3 attempts", publication.error)
        self.assertEqual(self.mock.posts(), [])

    def test_it_fails_at_once_when_the_token_expired(self):
        Connection.objects.filter(pk=self.facebook.pk).update(access_token="expired_token")
        # All three are queued before a worker finds the token dead (a post created after that
        # is refused at the door, below).
        posts = [
            services.post_create(
                team=self.team, content=f"Token gone {i}", platforms=["FACEBOOK"], scheduled_at=timezone.now()
            )
            for i in range(3)
        ]
        # One job at a time: calls already in flight for the account when one of them finds the
        # token dead each get the platform's refusal (nothing is made); here none is.
        self.start_worker(RQ_WORKER_THREADS=1)

        for post in posts:
            self.wait_until_final(post)
            self.assertEqual(post.status, Post.Status.FAILED)
            publication = self.publication(post, "FACEBOOK")
            self.assertIn("reconnect the Facebook account", publication.error)
        # One call found the token dead; the other publications failed without calling.
        self.assertEqual(sum(self.publication(p, "FACEBOOK").attempt_count for p in posts), 1)
        self.assertEqual(len(self.mock.requests(platform="FACEBOOK", method="POST")), 1)
        self.facebook.refresh_from_db()
        self.assertEqual(self.facebook.status, Connection.Status.EXPIRED)
        self.assertIn("190", self.facebook.status_detail)
        # The next post for that account is refused at the door.
        with self.assertRaisesMessage(ValidationError, "reconnect it"):
            services.post_create(team=self.team, content="Still gone", platforms=["FACEBOOK"])


class NeverTwiceTests(PublishingLiveTestCase):
    def answer_lost_and_worker_gone(self, platform: str, content: str, **env):
        """A post due now to ``platform`` whose first attempt reached it and lost its answer; once
        its retry is planned, the worker stops (the retry's job waits in Redis) and the post is
        returned, for the test to change the platform before a worker comes back."""
        self.mock.fail(platform, mode="accept_then_drop", times=1)
        worker = self.start_worker(PUBLISH_RETRY_BASE_SECONDS=1, **env)
        post = services.post_create(team=self.team, content=content, platforms=[platform], scheduled_at=timezone.now())
        publication = self.publication(post, platform)
        wait_for(
            lambda: Publication.objects.filter(pk=publication.pk, next_attempt_at__isnull=False).exists(),
            message="the first attempt to end, its answer lost, and a retry to be planned",
        )
        worker.stop()
        return post

    def test_it_adopts_a_post_the_platform_accepted_without_answering(self):
        # The stand-in creates the post, then drops the connection before any answer.
        self.mock.fail("FACEBOOK", mode="accept_then_drop", times=1)
        self.start_worker()
        post = services.post_create(
            team=self.team, content="Exactly once", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=20)

        received = self.mock.posts(platform="FACEBOOK")
        self.assertEqual(len(received), 1, "the platform got the post exactly once")
        publication = self.publication(post, "FACEBOOK")
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        self.assertEqual(publication.external_id, received[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"))
        self.assertEqual(publication.attempt_count, 2)
        self.assertTrue(JobMetric.objects.filter(outcome=JobMetric.Outcome.RECONCILED).exists())

    def test_it_finds_the_lost_post_past_the_first_page_of_recent_posts(self):
        # The answer to the first attempt is lost; before the retry asks, the page publishes 120
        # other posts (another app, a busy team): the lost one is on the second page.
        # No retry until the page is busy: the worker goes (the planned retry stays in Redis)
        # and another comes once the 120 posts are made, however long they take.
        post = self.answer_lost_and_worker_gone("FACEBOOK", "Under the fold")
        feed = f"{self.live_server_url}/mock/graph/{setting_value('GRAPH_API_VERSION')}/{FACEBOOK_PAGE}/feed"
        with requests.Session() as http:
            for i in range(120):
                http.post(feed, data={"message": f"Busy page {i}", "access_token": "other-app"}, timeout=5)
        self.assertEqual(self.mock.requests(platform="FACEBOOK", method="GET"), [], "nothing read yet")
        self.start_worker(PUBLISH_RETRY_BASE_SECONDS=1)

        self.wait_until_final(post, timeout=20)

        mine = [p for p in self.mock.posts(platform="FACEBOOK") if p["text"] == "Under the fold"]
        self.assertEqual(len(mine), 1, "the platform got the post exactly once")
        publication = self.publication(post, "FACEBOOK")
        self.assertEqual((publication.status, publication.external_id), (Publication.Status.PUBLISHED, mine[0]["id"]))
        self.assertTrue(publication.metadata.get("reconciled"))
        reads = self.mock.requests(platform="FACEBOOK", method="GET")
        self.assertEqual(len(reads), 2, "two pages of recent posts were read")

    def test_it_adopts_the_post_a_linkedin_duplicate_names_when_the_lost_one_is_past_the_pages_it_reads(self):
        # The first attempt's answer is lost; the organization then makes 120 other posts, so the
        # lost one is past the one page of recent posts the retry reads. LinkedIn refuses the retry
        # as DUPLICATE_POST, naming the lost post: it is checked (this account's, published, made
        # since the attempt) and adopted.
        self.connect("LINKEDIN", LINKEDIN_ORG, "mock_li_token")
        post = self.answer_lost_and_worker_gone("LINKEDIN", "Named by LinkedIn", RECONCILE_MAX_PAGES=1)
        self.mock.seed_posts(
            "LINKEDIN", LINKEDIN_ORG, [{"id": f"urn:li:share:{i}", "text": f"Busy {i}"} for i in range(120)]
        )
        self.start_worker(PUBLISH_RETRY_BASE_SECONDS=1, RECONCILE_MAX_PAGES=1)

        self.wait_until_final(post, timeout=20)

        [lost] = [p for p in self.mock.posts(platform="LINKEDIN") if p["text"] == "Named by LinkedIn"]
        publication = self.publication(post, "LINKEDIN")
        self.assertEqual((publication.status, publication.external_id), (Publication.Status.PUBLISHED, lost["id"]))
        self.assertEqual(self.mock.duplicate_rejections("LINKEDIN"), 1, "the retry was refused as a duplicate")
        self.assertTrue(publication.metadata.get("reconciled"))
        last = publication.metadata["history"][-1]
        self.assertEqual((last["attempt"], last["outcome"]), (2, "RECONCILED"))
        self.assertEqual(
            last["note"], f"LinkedIn said the post duplicates {lost['id']}, made by the attempt whose answer was lost"
        )
        self.assertEqual(len(self.mock.requests(platform="LINKEDIN", path=f"/rest/posts/{lost['id']}")), 1)

    def test_it_handles_worker_restart_gracefully(self):
        # The stand-in accepts the post and stalls; the worker dies mid-request (SIGKILL,
        # horse included); a new worker takes over after the lease and publishes once.
        self.mock.fail("FACEBOOK", mode="accept_then_stall", times=1, seconds=30)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = services.post_create(
            team=self.team, content="Test worker restart", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )
        wait_for(lambda: self.mock.requests(platform="FACEBOOK", method="POST"), message="the request to arrive")
        self.assertEqual(self.publication(post, "FACEBOOK").status, Publication.Status.PUBLISHING)

        first.kill()
        self.assertFalse(first.alive())
        self.start_worker()

        self.wait_until_final(post, timeout=20)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        received = self.mock.posts(platform="FACEBOOK")
        self.assertEqual(len(received), 1)
        self.assertEqual(self.publication(post, "FACEBOOK").external_id, received[0]["id"])

    def test_it_publishes_again_when_the_killed_attempt_never_reached_the_platform(self):
        self.mock.fail("FACEBOOK", mode="timeout", times=1, seconds=30)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = services.post_create(
            team=self.team, content="Lost in flight", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )
        wait_for(lambda: self.mock.requests(platform="FACEBOOK", method="POST"), message="the request to arrive")
        first.kill()
        self.start_worker()

        self.wait_until_final(post, timeout=20)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)

    def test_a_platform_slower_than_the_job_timeout_cannot_pin_the_worker(self):
        # The read timeout is longer than the job's: RQ's job timeout ends the attempt (in the
        # job's thread: TimerDeathPenalty, raised once the blocked read returns), the lease runs
        # out, and the next attempt, made by the same worker process (another of its threads,
        # meanwhile), asks the platform first and then publishes once.
        self.mock.fail("FACEBOOK", mode="timeout", times=1, seconds=4)
        worker = self.start_worker(PLATFORM_READ_TIMEOUT=10, PUBLISH_JOB_TIMEOUT=1, PUBLISH_LEASE_SECONDS=2)
        post = services.post_create(
            team=self.team, content="Slow platform", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=20)

        self.assertTrue(worker.alive())
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)
        self.assertEqual(self.publication(post, "FACEBOOK").attempt_count, 2)
        wait_for(lambda: "JobTimeoutException" in worker.output(), message="the first attempt's job timeout")

    def test_it_explains_a_duplicate_refusal_after_a_lost_answer(self):
        # The answer to the first attempt is lost; the platform then calls the retry a duplicate
        # although the post is not among the account's recent posts we can see.
        self.mock.fail("FACEBOOK", mode="timeout", times=1, seconds=3)
        self.mock.fail("FACEBOOK", mode="duplicate", times=1)
        self.start_worker(PLATFORM_READ_TIMEOUT=0.5)
        post = services.post_create(
            team=self.team, content="Said twice", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=20)

        publication = self.publication(post, "FACEBOOK")
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("Facebook API error (code 506", publication.error)
        self.assertIn("earlier attempt whose answer was lost most likely published it", publication.error)


class InfrastructureFaultTests(PublishingLiveTestCase):
    def test_it_publishes_a_due_post_after_redis_lost_its_data(self):
        post = services.post_create(
            team=self.team, content="Redis forgot", platforms=["FACEBOOK", "TWITTER"], scheduled_at=timezone.now()
        )
        self.assertEqual(len(django_rq.get_queue("default").job_ids), 2)
        # Everything Redis held (the post's two queued jobs) is gone before any worker ran.
        flush_redis()
        self.start_worker(SWEEP_REQUEUE_AFTER_SECONDS=1)

        self.wait_until_final(post)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts()), 2)

    def test_it_carries_on_after_redis_restarts(self):
        directory = Path(tempfile.mkdtemp(prefix="planrrr-redis-"))
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        redis = RedisServer(directory)
        redis.start()
        self.addCleanup(redis.stop)
        self.start_worker(REDIS_URL=redis.url)
        post = services.post_create(
            team=self.team, content="Redis restarted", platforms=["FACEBOOK"], scheduled_at=self.soon(2)
        )

        redis.restart()

        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts()), 1)

    def test_it_reconnects_when_postgresql_drops_its_connections(self):
        worker = self.start_worker()
        # Let the worker's sweep open its (persistent) connection, then cut every other
        # session of this database, as a PostgreSQL restart does.
        wait_for(lambda: self.backends(), message="the worker to connect to PostgreSQL")
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        post = services.post_create(
            team=self.team, content="After the restart", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )
        # Only the worker's sweep, on its broken connection, can find the post now.
        flush_redis()

        self.wait_until_final(post)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertTrue(worker.alive())

    def backends(self) -> int:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
