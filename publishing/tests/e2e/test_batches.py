"""Several publications a job, over the wire: a burst's publications of one account go four to a
job (forced here: PUBLISH_BATCH_BACKLOG=0) in a real pool of job threads; a worker process killed
with SIGKILL while its jobs are mid-call loses and doubles nothing: the attempt in flight is its
lease's, the members its job had not reached go back to the queue once the pool has unregistered
the dead worker (docs/performance.md, "Several publications a job")."""

from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from devtools.processes import WorkerPoolProcess
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

POSTS = 16
THREADS = 2
ENV = {
    "PUBLISH_BATCH_SIZE": 4,
    "PUBLISH_BATCH_BACKLOG": 0,
    "PUBLISH_JOB_TIMEOUT": 4,
    "PUBLISH_LEASE_SECONDS": 5,
    "SWEEP_REQUEUE_AFTER_SECONDS": 1,
}


class KilledMidBatchTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.enterContext(override_settings(**ENV))

    def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(self):
        # The first four posts' requests are made by the stand-in, which then holds the answers:
        # every thread of the pool is mid-call in a job of four when one worker is killed.
        self.mock.fail("FACEBOOK", mode="accept_then_stall", times=2 * THREADS, seconds=1.5)
        posts = [
            services.post_create(
                team=self.team, content=f"Batched {n}", platforms=["FACEBOOK"], scheduled_at=self.soon(3600)
            )
            for n in range(POSTS)
        ]
        # All due at one instant, found by one dispatch of the pool (a post created due is
        # dispatched on its own, one job each).
        Post.objects.filter(pk__in=[p.pk for p in posts]).update(scheduled_at=timezone.now() - timedelta(seconds=1))
        env = {**self.platform_env(), **{name: str(value) for name, value in ENV.items()}, "RQ_WORKER_THREADS": THREADS}
        pool = WorkerPoolProcess("default", workers=2, env=env).start()
        self.addCleanup(pool.kill)

        def held() -> int:
            return sum(1 for r in self.mock.requests("FACEBOOK", method="POST") if r["status"] is None)

        wait_for(
            lambda: held() == 2 * THREADS, timeout=30, message=lambda: f"4 calls in flight\n{pool.output()[-3000:]}"
        )
        jobs = set(Publication.objects.values_list("job_id", flat=True))
        self.assertTrue(all(job.startswith("publications-") for job in jobs), jobs)
        self.assertLess(len(jobs), POSTS, "several publications a job")

        pool.workers()[0].kill()

        for post in posts:
            self.wait_until_final(post, timeout=45)
            self.assertEqual(post.status, Post.Status.PUBLISHED, post.error)
        texts = sorted(p["text"] for p in self.mock.posts("FACEBOOK"))
        self.assertEqual(texts, sorted(post.content for post in posts), "each post once on the platform")
        # The killed worker's two attempts in flight were looked up, not sent again.
        reconciled = Publication.objects.filter(metadata__reconciled=True).count()
        self.assertGreaterEqual(reconciled, THREADS, pool.output()[-3000:])
