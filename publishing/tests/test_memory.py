"""No memory leak after 100 iterations (the seed plan's bar), in the one setting where a leak
would accumulate: every job in the same worker process (planrrr.rq.InProcessWorker; the
default forking worker runs each job in a process that exits)."""

import uuid

import psutil

from devtools.processes import WorkerProcess
from publishing import services
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase

# What 100 publish jobs (and the dispatch of their 50 posts) may add to the worker's resident memory
# once it is warm: 5 MB, i.e. under 50 kB a job, where a leak of a post, a response or a
# query log per job would show at once. `manage.py bench` measures the same over 10,000 jobs.
GROWTH_BOUND = 5 * 1024 * 1024


class MemoryTests(PublishingLiveTestCase):
    def publish(self, count: int, label: str) -> list[Post]:
        run = uuid.uuid4().hex[:8]
        posts = [
            services.post_create(
                team=self.team,
                content=f"{label} {i} of {run}",
                platforms=["FACEBOOK", "TWITTER"],
                scheduled_at=self.soon(0),
            )
            for i in range(count)
        ]
        for post in posts:
            self.wait_until_final(post, timeout=30)
        return posts

    def test_it_does_not_grow_over_100_publish_jobs_in_one_process(self):
        worker = WorkerProcess(env=self.platform_env())
        worker.command[1:1] = ["--worker-class", "planrrr.rq.InProcessWorker"]
        self.workers.append(worker.start())
        worker.wait_ready()
        process = psutil.Process(worker.pid)
        self.publish(10, "Warm-up post")  # connections, caches, the stand-in's first answers
        warm = process.memory_info().rss

        posts = self.publish(50, "Measured post")  # 100 publish jobs

        grown = process.memory_info().rss - warm
        self.assertEqual({post.status for post in posts}, {Post.Status.PUBLISHED})
        self.assertLess(grown, GROWTH_BOUND, f"RSS grew by {grown / 1024:.0f} kB over 100 publish jobs")
