"""Seed scenario 2: rate limits are respected, waited out without holding a worker, counted."""

from django.utils import timezone

from publishing import services
from publishing.models import Post
from publishing.selectors import metrics_summary
from publishing.tests.base import PublishingLiveTestCase


class RateLimitTests(PublishingLiveTestCase):
    def test_it_respects_platform_rate_limits(self):
        # A stand-in allowing 4 posts per 2 s window, which also refuses the first two outright.
        self.mock.configure(rate_limit_enabled=True, rate_limit={"limit": 4, "window_seconds": 2})
        self.mock.fail("FACEBOOK", mode="rate_limit", times=2, seconds=1)
        self.start_worker(GRAPH_RATE_LIMIT_BACKOFF_SECONDS=1)
        posts = [
            services.post_create(
                team=self.team, content=f"Rate limited post {i}", platforms=["FACEBOOK"], scheduled_at=timezone.now()
            )
            for i in range(10)
        ]
        # While Facebook makes us wait, the worker is free for other platforms.
        other = services.post_create(
            team=self.team, content="Not rate limited", platforms=["TWITTER"], scheduled_at=timezone.now()
        )

        for post in posts:
            self.wait_until_final(post, timeout=40)
        self.wait_until_final(other)

        self.assertEqual({p.status for p in posts}, {Post.Status.PUBLISHED})
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 10, "each post exactly once")
        self.assertGreater(metrics_summary()["rateLimitHits"], 0)
        times = sorted(p.published_at for p in posts)
        self.assertGreaterEqual((times[-1] - times[0]).total_seconds(), 2, "the posts were paced over windows")
        self.assertLess(other.published_at, times[-1], "the X post did not wait behind Facebook's limit")
