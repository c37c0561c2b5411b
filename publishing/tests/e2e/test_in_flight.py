"""Many calls in flight in one worker process (planrrr.threaded.ThreadedWorker, the default), over
the wire: one ``rqworker`` process, its job threads each waiting on the stand-in at once, on a
pool of PostgreSQL connections smaller than its calls in flight; a stuck call holds only its own
thread; a SIGKILL with every thread mid-call loses and doubles nothing; a SIGTERM lets every call
in flight finish."""

import os
import signal

from django.db import connection
from django.utils import timezone

from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

CALLS = 6


class InFlightCase(PublishingLiveTestCase):
    # The stand-in makes each of the first CALLS posts, then holds its answer this long: the
    # calls overlap for certain (on a loaded machine the threads may reach the stand-in seconds
    # apart), and each shows in its log as arrived, not answered.
    hold_seconds: float | None = 6.0

    def setUp(self):
        super().setUp()
        if self.hold_seconds:
            self.mock.fail("FACEBOOK", mode="accept_then_stall", times=CALLS, seconds=self.hold_seconds)

    def start(self, **env):
        return self.start_worker(RQ_WORKER_THREADS=CALLS, **env)

    def burst(self, count: int = CALLS, text: str = "In flight") -> list[Post]:
        return [
            services.post_create(
                team=self.team, content=f"{text} {i}", platforms=["FACEBOOK"], scheduled_at=timezone.now()
            )
            for i in range(count)
        ]

    def pending(self) -> int:
        """Requests the stand-in holds now (arrived, not answered)."""
        return sum(1 for r in self.mock.requests("FACEBOOK", method="POST") if r["status"] is None)

    def wait_in_flight(self, count: int) -> None:
        wait_for(
            lambda: self.pending() >= count,
            timeout=30,
            message=f"{count} calls in flight at once (workers: {self.worker_logs()})",
        )

    def assert_published_once(self, posts: list[Post]) -> None:
        for post in posts:
            self.wait_until_final(post, timeout=30)
            self.assertEqual(post.status, Post.Status.PUBLISHED, post.error)
        texts = [p["text"] for p in self.mock.posts("FACEBOOK")]
        self.assertEqual(sorted(texts), sorted(post.content for post in posts), "each post once on the platform")


class ManyCallsInOneProcessTests(InFlightCase):
    def test_one_process_has_every_thread_in_a_call_on_fewer_database_connections(self):
        worker = self.start(DB_POOL_SIZE=2)
        posts = self.burst()

        self.wait_in_flight(CALLS)
        # One worker process (its scheduler process beside it touches no database), and at most
        # DB_POOL_SIZE connections of its own while every thread waits on the platform.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [f"planrrr worker {worker.pid}"]
            )
            (held,) = cursor.fetchone()
        self.assertGreaterEqual(held, 1, "the worker's pool is not named after it")
        self.assertLessEqual(held, 2)

        self.assert_published_once(posts)


class StuckCallTests(InFlightCase):
    hold_seconds = None

    def test_a_stuck_call_does_not_hold_the_others(self):
        # The first post's request gets no answer for a minute; the others go out meanwhile.
        self.mock.fail("FACEBOOK", mode="timeout", times=1, seconds=60, contains="Stuck")
        self.start(PLATFORM_READ_TIMEOUT=60)
        stuck = self.burst(1, text="Stuck")[0]
        wait_for(self.pending, message="the stuck request to arrive")
        others = self.burst(CALLS * 2, text="Moving")

        for post in others:
            self.wait_until_final(post, timeout=20)
            self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(self.publication(stuck, "FACEBOOK").status, Publication.Status.PUBLISHING)
        self.assertEqual(self.pending(), 1)


class KilledWithCallsInFlightTests(InFlightCase):
    def test_a_sigkill_with_every_thread_mid_call_loses_and_doubles_nothing(self):
        # The stand-in has made each post when the worker dies waiting for the answers: every
        # killed attempt's outcome is unknown, and each is looked up before it is sent again.
        first = self.start(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        posts = self.burst()
        self.wait_in_flight(CALLS)

        first.kill()
        self.assertFalse(first.alive())
        self.start()

        self.assert_published_once(posts)
        # Every killed attempt counted; each was looked up, not sent again.
        for post in posts:
            publication = self.publication(post, "FACEBOOK")
            self.assertGreaterEqual(publication.attempt_count, 2)
            self.assertTrue(publication.metadata.get("reconciled"), publication.metadata)


class StoppedWithCallsInFlightTests(InFlightCase):
    def test_a_sigterm_lets_every_call_in_flight_finish_and_takes_no_new_job(self):
        worker = self.start()
        posts = self.burst()
        self.wait_in_flight(CALLS)

        os.kill(worker.pid, signal.SIGTERM)
        later = self.burst(1, text="After the stop")[0]

        wait_for(lambda: not worker.alive(), timeout=30, message=f"the worker to stop: {worker.output()[-3000:]}")
        for post in posts:
            post.refresh_from_db()
            self.assertEqual(post.status, Post.Status.PUBLISHED, f"{post.content}: {worker.output()[-3000:]}")
            self.assertEqual(self.publication(post, "FACEBOOK").attempt_count, 1)
        self.assertEqual(len(self.mock.posts("FACEBOOK")), CALLS)
        self.assertEqual(self.publication(later, "FACEBOOK").attempt_count, 0, "a job was taken after the stop")
