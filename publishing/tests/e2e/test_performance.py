"""Seed scenario 5 (performance and load): 50 posts x Facebook and X with ten workers at once
(`planrrr_workers --num-workers 10`, the pool planrrr deploys), the stand-in failing 10 % of posts at random.

The seed's bars are checked on what was stored, not on the clock: at least 95 % published
(retries count), average job time under 2 s and peak memory under 500 MB from the job
metrics. Throughput is measured by `manage.py bench`, not asserted here.
"""

import uuid

import redis
import rq

from devtools.processes import ManagedProcess, WorkerPoolProcess
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post
from publishing.selectors import metrics_summary
from publishing.tests.base import PublishingLiveTestCase

POSTS = 50
CONCURRENCY = 10


class PerformanceTests(PublishingLiveTestCase):
    def start_pool(self, size: int) -> ManagedProcess:
        """`planrrr_workers`: one process loads Django and the jobs' code and forks ``size`` workers from it."""
        pool = WorkerPoolProcess("default", "webhooks", workers=size, env=self.platform_env()).start()
        self.workers.append(pool)
        connection = redis.Redis.from_url(pool.env["REDIS_URL"])
        wait_for(
            lambda: len(rq.Worker.all(connection=connection)) >= size,
            timeout=30,
            message=f"{size} pool workers to register ({pool.output()[-2000:]})",
        )
        return pool

    def test_it_handles_concurrent_publishing_efficiently(self):
        # Seeded, so that every run draws the same failures.
        self.mock.configure(random_failures=0.1, seed=6)
        self.start_pool(CONCURRENCY)
        run = uuid.uuid4().hex[:8]
        at = self.soon(1)
        posts = [
            services.post_create(
                team=self.team,
                content=f"Concurrent post {i} of run {run}",
                platforms=["FACEBOOK", "TWITTER"],
                scheduled_at=at,
            )
            for i in range(POSTS)
        ]

        for post in posts:
            self.wait_until_final(post, timeout=60)

        published = [post for post in posts if post.status == Post.Status.PUBLISHED]
        self.assertGreaterEqual(len(published) / POSTS, 0.95)
        summary = metrics_summary()
        self.assertGreater(summary["retries"], 0, "the stand-in failed some posts, which were retried")
        self.assertEqual(summary["postsPublished"], 2 * len(published))
        self.assertLess(summary["avgJobProcessingTime"], 2000)
        self.assertGreater(summary["peakMemoryUsage"], 0)
        self.assertLess(summary["peakMemoryUsage"], 500 * 1024 * 1024)
        self.assertEqual(self.mock.duplicates(), 0, "no post went out twice")
        self.assertEqual(len(self.mock.posts()), 2 * len(published))
