"""Metrics: GET /metrics in the Prometheus text format (read back with prometheus_client's own
parser), `manage.py metrics`, and the admin dashboard."""

import json
import resource
import time
from datetime import timedelta
from io import StringIO
from unittest import mock

import django_rq
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import SimpleTestCase, TestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from devtools.receiver import Receiver
from devtools.testing import flush_redis, wait_for
from publishing import selectors, services, sweep
from publishing.models import DURATION_BUCKETS, LAG_BUCKETS, JobMetric, JobMetricRollup, Post, Publication
from publishing.services import signals
from publishing.tests.base import Actors, PublishingLiveTestCase
from webhooks.models import Delivery
from webhooks.services import endpoint_create

Outcome = JobMetric.Outcome


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    """GET /metrics, parsed: {sample name: {sorted label items: value}}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def parse(text: str) -> dict[str, dict[tuple, float]]:
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def noop() -> None:
    """A job for filling queues in these tests."""


class MetricsTestCase(Actors, TestCase):
    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()

    def job(self, platform: str, outcome: str, *, duration_ms: float = 120.0, lag_ms=None, connection=None, **extra):
        post = Post.objects.create(team=self.team, content="x", platforms=[platform], status=Post.Status.PUBLISHING)
        publication = Publication.objects.create(
            post=post, platform=platform, connection=connection or self.facebook, **extra
        )
        return JobMetric.objects.create(
            platform=platform,
            outcome=outcome,
            publication_id=publication.pk,
            attempt=1,
            duration_ms=duration_ms,
            lag_ms=lag_ms,
            peak_rss_bytes=80 * 1024 * 1024,
        )


class MetricsEndpointTests(MetricsTestCase):
    def test_it_counts_outcomes_per_platform(self):
        for outcome in [Outcome.PUBLISHED, Outcome.PUBLISHED, Outcome.RECONCILED, Outcome.RETRY, Outcome.FAILED]:
            self.job("FACEBOOK", outcome)
        self.job("TWITTER", Outcome.RATE_LIMITED, connection=self.twitter)

        samples = scrape(self.client)

        published = samples["planrrr_publications_published_total"]
        self.assertEqual(published[(("platform", "FACEBOOK"),)], 3)
        self.assertEqual(published[(("platform", "TWITTER"),)], 0)
        self.assertEqual(samples["planrrr_publications_failed_total"][(("platform", "FACEBOOK"),)], 1)
        self.assertEqual(samples["planrrr_publish_retries_total"][(("platform", "FACEBOOK"),)], 1)
        self.assertEqual(samples["planrrr_rate_limit_hits_total"][(("platform", "TWITTER"),)], 1)
        jobs = samples["planrrr_publish_jobs_total"]
        self.assertEqual(jobs[(("outcome", "RECONCILED"), ("platform", "FACEBOOK"))], 1)
        self.assertEqual(samples["planrrr_job_peak_rss_bytes"][()], 80 * 1024 * 1024)

    def test_it_counts_first_comment_jobs_apart_from_publish_jobs(self):
        self.job("FACEBOOK", Outcome.PUBLISHED)
        comment = self.job("FACEBOOK", Outcome.PUBLISHED)
        JobMetric.objects.filter(pk=comment.pk).update(kind="comment")
        self.job("LINKEDIN", Outcome.RETRY)
        JobMetric.objects.filter(platform="LINKEDIN").update(kind="comment")

        samples = scrape(self.client)

        comments = samples["planrrr_first_comment_jobs_total"]
        self.assertEqual(comments[(("outcome", "PUBLISHED"), ("platform", "FACEBOOK"))], 1)
        self.assertEqual(comments[(("outcome", "RETRY"), ("platform", "LINKEDIN"))], 1)
        self.assertEqual(samples["planrrr_publish_jobs_total"][(("outcome", "PUBLISHED"), ("platform", "FACEBOOK"))], 1)
        self.assertEqual(samples["planrrr_publications_published_total"][(("platform", "FACEBOOK"),)], 1)

    def test_it_serves_job_time_and_lag_as_histograms(self):
        self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=40, lag_ms=300)
        self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=700, lag_ms=None)

        samples = scrape(self.client)

        duration = samples["planrrr_publish_job_duration_seconds_bucket"]
        self.assertEqual(duration[(("le", "0.05"), ("platform", "FACEBOOK"))], 1)
        self.assertEqual(duration[(("le", "1.0"), ("platform", "FACEBOOK"))], 2)
        self.assertEqual(duration[(("le", "+Inf"), ("platform", "FACEBOOK"))], 2)
        self.assertAlmostEqual(samples["planrrr_publish_job_duration_seconds_sum"][(("platform", "FACEBOOK"),)], 0.74)
        # Lag is measured on first attempts only: the row without one is not in the histogram.
        self.assertEqual(samples["planrrr_publish_lag_seconds_count"][(("platform", "FACEBOOK"),)], 1)
        self.assertEqual(samples["planrrr_publish_lag_seconds_bucket"][(("le", "0.25"), ("platform", "FACEBOOK"))], 0)
        self.assertEqual(samples["planrrr_publish_lag_seconds_bucket"][(("le", "0.5"), ("platform", "FACEBOOK"))], 1)

    def test_it_reports_queue_depth_and_scheduled_job_lag(self):
        queue = django_rq.get_queue("default", commit_mode="auto")
        for _ in range(3):
            queue.enqueue(noop)
        # Due a minute ago and not moved to the queue: no worker with a scheduler is running.
        queue.enqueue_at(timezone.now() - timedelta(seconds=60), noop)
        queue.enqueue_at(timezone.now() + timedelta(hours=1), noop)

        samples = scrape(self.client)

        self.assertEqual(samples["planrrr_rq_up"][()], 1)
        self.assertEqual(samples["planrrr_rq_queue_depth"][(("queue", "default"),)], 3)
        self.assertEqual(samples["planrrr_rq_queue_depth"][(("queue", "webhooks"),)], 0)
        self.assertEqual(samples["planrrr_rq_scheduled_jobs"][(("queue", "default"),)], 2)
        self.assertGreaterEqual(samples["planrrr_rq_scheduled_lag_seconds"][(("queue", "default"),)], 59)
        self.assertEqual(sum(samples["planrrr_rq_workers"].values()), 0)

    def test_it_reports_posts_overdue_in_the_database(self):
        # Due (and known to planrrr) for 30 s with nobody dispatching it. Lateness counts from
        # when the post became due to the system: its time, or its creation if written late.
        late = Post.objects.create(
            team=self.team,
            content="late",
            platforms=["FACEBOOK"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now() - timedelta(seconds=30),
        )
        Post.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(minutes=5))

        samples = scrape(self.client)

        self.assertEqual(samples["planrrr_posts_overdue"][()], 1)
        self.assertGreaterEqual(samples["planrrr_posts_overdue_seconds"][()], 30)
        self.assertEqual(samples["planrrr_posts"][(("status", "SCHEDULED"),)], 1)

    @override_settings(METRICS_TOKEN="s3cret")
    def test_it_requires_the_token_when_one_is_set(self):
        with self.assertLogs("django.request", "WARNING"):
            self.assertEqual(self.client.get("/metrics").status_code, 401)
            self.assertEqual(self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code, 401)

        samples = scrape(self.client, HTTP_AUTHORIZATION="Bearer s3cret")

        self.assertEqual(samples["planrrr_rq_up"][()], 1)


class MetricsCommandTests(MetricsTestCase):
    def test_it_prints_the_seed_names_as_json(self):
        self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=100)
        self.job("FACEBOOK", Outcome.RATE_LIMITED, duration_ms=300)
        out = StringIO()

        call_command("metrics", "--json", stdout=out)

        data = json.loads(out.getvalue())
        self.assertEqual(data["postsPublished"], 1)
        self.assertEqual(data["rateLimitHits"], 1)
        self.assertEqual(data["avgJobProcessingTime"], 200.0)
        self.assertEqual(data["peakMemoryUsage"], 80 * 1024 * 1024)
        self.assertEqual(data["platforms"]["FACEBOOK"]["jobs"], 2)
        self.assertEqual(data["webhookDeliveries"], 0)
        self.assertEqual([q["name"] for q in data["queues"]["queues"]], ["default", "webhooks", "analytics"])

    def test_it_prints_a_table(self):
        self.job("TWITTER", Outcome.PUBLISHED, connection=self.twitter)
        out = StringIO()

        call_command("metrics", stdout=out)

        header, everything, twitter = out.getvalue().splitlines()[:3]
        self.assertIn("postsPublished", header)
        self.assertIn("avgJobProcessingTime", header)
        self.assertTrue(everything.split()[0] == "all" and twitter.split()[0] == "TWITTER")
        self.assertIn("workers: 0", out.getvalue())


class DashboardTests(MetricsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin = get_user_model().objects.create_superuser("root", "root@example.org", "password")
        self.client.force_login(self.admin)
        self.url = reverse("admin:publishing_post_dashboard")

    def test_it_charts_jobs_per_hour_by_platform_and_outcome(self):
        self.job("FACEBOOK", Outcome.PUBLISHED)
        self.job("FACEBOOK", Outcome.FAILED, error="Facebook API error (code 100): Invalid parameter")
        self.job("TWITTER", Outcome.PUBLISHED, connection=self.twitter)

        response = self.client.get(self.url)

        self.assertEqual(response.status_code, 200)
        charts = {chart["platform"]: chart for chart in response.context["charts"]}
        self.assertEqual(sorted(charts), ["FACEBOOK", "TWITTER"])
        last_hour = charts["FACEBOOK"]["bars"][-1]
        self.assertEqual({s["outcome"]: s["n"] for s in last_hour["segments"]}, {"PUBLISHED": 1, "FAILED": 1})
        self.assertContains(response, 'role="img"', count=2)
        self.assertContains(response, 'fill="#c62828"', count=1)

    def test_it_lists_the_slowest_and_the_failing_connections(self):
        self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=900)
        self.job("TWITTER", Outcome.PUBLISHED, duration_ms=100, connection=self.twitter)
        self.job("TWITTER", Outcome.FAILED, connection=self.twitter, error="X API error (HTTP 403): duplicate")

        response = self.client.get(self.url, {"hours": "6"})

        slowest = response.context["slowest"]
        self.assertEqual([row["connection"] for row in slowest], [self.facebook, self.twitter])
        failing = response.context["failing"]
        self.assertEqual([(row["connection"], row["failed"]) for row in failing], [(self.twitter, 1)])
        self.assertEqual(failing[0]["last_error"], "X API error (HTTP 403): duplicate")
        self.assertContains(response, "X API error (HTTP 403): duplicate")

    def test_it_is_for_staff_only(self):
        self.client.logout()

        response = self.client.get(self.url)

        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("admin:login"), response["Location"])


class MetricsAfterARunTests(PublishingLiveTestCase):
    def test_it_serves_the_counters_a_run_produced(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        receiver.secrets.append(endpoint_create(team=self.team, url=receiver.url).secret)
        self.mock.fail("TWITTER", mode="error", times=1)  # X refuses the first post for good
        self.start_worker(RQ_WORKER_THREADS=2)
        posts = [
            services.post_create(
                team=self.team, content=f"Counted post {i}", platforms=["FACEBOOK", "TWITTER"], scheduled_at=self.soon()
            )
            for i in range(2)
        ]
        for post in posts:
            self.wait_until_final(post)
        # 3 post.published, 1 post.failed, 2 post.completed.
        receiver.wait_for(6)
        wait_for(lambda: not Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).exists())

        # Over HTTP, as Prometheus scrapes it.
        response = requests.get(f"{self.live_server_url}/metrics", timeout=10)

        self.assertEqual(response.status_code, 200)
        samples = parse(response.text)
        published = samples["planrrr_publications_published_total"]
        self.assertEqual(published, {(("platform", "FACEBOOK"),): 2, (("platform", "TWITTER"),): 1})
        self.assertEqual(samples["planrrr_publications_failed_total"][(("platform", "TWITTER"),)], 1)
        self.assertEqual(samples["planrrr_publications_failed_total"][(("platform", "FACEBOOK"),)], 0)
        durations = samples["planrrr_publish_job_duration_seconds_count"]
        self.assertEqual(durations, {(("platform", "FACEBOOK"),): 2, (("platform", "TWITTER"),): 2})
        self.assertEqual(samples["planrrr_publish_lag_seconds_count"][(("platform", "FACEBOOK"),)], 2)
        self.assertGreater(samples["planrrr_job_peak_rss_bytes"][()], 0)
        attempts = samples["planrrr_webhook_delivery_attempts_total"]
        self.assertEqual(attempts[(("event", "post.published"), ("result", "success"))], 3)
        self.assertEqual(attempts[(("event", "post.failed"), ("result", "success"))], 1)
        self.assertEqual(attempts[(("event", "post.completed"), ("result", "success"))], 2)
        self.assertEqual(samples["planrrr_webhook_deliveries_succeeded_total"][()], 6)
        self.assertEqual(samples["planrrr_publications"][(("platform", "TWITTER"), ("status", "FAILED"))], 1)
        self.assertEqual(samples["planrrr_posts"], {(("status", "PARTIAL"),): 1, (("status", "PUBLISHED"),): 1})
        self.assertEqual(samples["planrrr_rq_queue_depth"][(("queue", "default"),)], 0)
        # One worker process: its own RQ worker and one per job thread (planrrr.threaded).
        self.assertEqual(sum(samples["planrrr_rq_workers"].values()), 1 + 2)


class RollupTests(MetricsTestCase):
    """Rows past METRICS_RAW_RETENTION_HOURS are summed into hourly rollups and deleted; every
    counter, histogram and hourly count reads the same before and after."""

    def figures(self) -> dict:
        summary = selectors.metrics_summary()
        for row in [summary, *summary["platforms"].values()]:
            row.pop("p99JobProcessingTime")  # over the rows kept, by design
        return {
            "counts": selectors.job_counts(),
            "durations": selectors.job_histograms("duration_ms", DURATION_BUCKETS),
            "lags": selectors.job_histograms("lag_ms", LAG_BUCKETS),
            "peak": selectors.peak_rss_bytes(),
            "summary": summary,
            "per_hour": selectors.publications_per_hour(hours=24 * 30),
        }

    def aged(self, metric: JobMetric, days: float) -> JobMetric:
        JobMetric.objects.filter(pk=metric.pk).update(created_at=timezone.now() - timedelta(days=days))
        return metric

    def test_counters_and_histograms_read_the_same_after_a_rollup(self):
        self.aged(self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=40, lag_ms=300), days=20)
        self.aged(self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=4000, lag_ms=70_000), days=20)
        self.aged(self.job("TWITTER", Outcome.RETRY, duration_ms=900), days=16)
        self.aged(self.job("TWITTER", Outcome.FAILED, duration_ms=15), days=16)
        kept = self.job("FACEBOOK", Outcome.RATE_LIMITED, duration_ms=12, lag_ms=80)
        before = self.figures()

        self.assertEqual(sweep.job_metrics_rollup(), 4)

        self.assertEqual(list(JobMetric.objects.values_list("pk", flat=True)), [kept.pk])
        self.assertEqual(JobMetricRollup.objects.count(), 3)
        self.assertEqual(self.figures(), before)
        self.assertEqual(sweep.job_metrics_rollup(), 0)

    def test_a_late_row_of_a_rolled_hour_is_added_to_its_rollup(self):
        first = self.aged(self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=40, lag_ms=300), days=20)
        sweep.job_metrics_rollup()
        late = self.job("FACEBOOK", Outcome.PUBLISHED, duration_ms=60, lag_ms=None)
        # Written in an hour already rolled up (a clock behind): it joins that hour's rollup.
        JobMetric.objects.filter(pk=late.pk).update(
            created_at=JobMetricRollup.objects.get().hour + timedelta(minutes=30)
        )
        before = self.figures()

        self.assertEqual(sweep.job_metrics_rollup(), 1)

        rollup = JobMetricRollup.objects.get()
        self.assertEqual((rollup.jobs, rollup.duration_ms_sum, rollup.lag_count), (2, 100.0, 1))
        self.assertEqual(self.figures(), before)
        self.assertFalse(JobMetric.objects.filter(pk__in=[first.pk, late.pk]).exists())

    def test_metrics_scrape_counts_rolled_up_jobs(self):
        self.aged(self.job("TWITTER", Outcome.PUBLISHED, duration_ms=40), days=20)
        sweep.job_metrics_rollup()

        samples = scrape(self.client)

        self.assertEqual(samples["planrrr_publications_published_total"][(("platform", "TWITTER"),)], 1)
        self.assertEqual(
            samples["planrrr_publish_job_duration_seconds_bucket"][(("le", "0.05"), ("platform", "TWITTER"))], 1
        )


class PeakRssTests(SimpleTestCase):
    def test_a_jobs_peak_rss_is_the_processs_read_at_most_once_a_second(self):
        # getrusage() goes through every thread of the process: not at every job's end.
        with (
            mock.patch.object(signals, "_peak_rss", (float("-inf"), 0)),
            mock.patch.object(signals.resource, "getrusage", wraps=resource.getrusage) as read,
        ):
            first, second = signals.peak_rss_bytes(), signals.peak_rss_bytes()
            self.assertEqual(read.call_count, 1)
            later = time.monotonic() + signals.PEAK_RSS_EVERY
            with mock.patch.object(signals.time, "monotonic", return_value=later):
                signals.peak_rss_bytes()
            self.assertEqual(read.call_count, 2)
        self.assertGreater(first, 0)
        self.assertEqual(first, second)
