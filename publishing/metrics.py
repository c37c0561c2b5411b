"""Prometheus exposition of the stored metrics (``GET /metrics``).

A custom collector builds every family from database aggregates (JobMetric, Publication,
Post, webhooks' Delivery and DeliveryAttempt) and from RQ's registries in Redis at scrape
time, so every web process serves the same numbers, whichever worker did the work and
however often the processes restarted. Counters are counts of stored rows plus their rollups:
rows are only deleted after being rolled up (retention), or counted into rollups as they go (an
endpoint or a team deleted: webhooks.services.on_endpoint_delete; job metrics have no foreign
key and outlive their team), so a counter never goes back.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import django
import redis
from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from planrrr import outages
from publishing import selectors
from publishing.models import DURATION_BUCKETS, LAG_BUCKETS, JobMetric

Outcome = JobMetric.Outcome

# Counter families derived from job outcomes, each per platform.
OUTCOME_COUNTERS = (
    (
        "planrrr_publications_published",
        "Publications that went out (including ones found already published by reconciliation).",
        {Outcome.PUBLISHED, Outcome.RECONCILED},
    ),
    ("planrrr_publications_failed", "Publications that failed for good.", {Outcome.FAILED}),
    ("planrrr_rate_limit_hits", "Publish attempts the platform refused with a rate limit.", {Outcome.RATE_LIMITED}),
    ("planrrr_publish_retries", "Publish attempts that failed transiently and were scheduled again.", {Outcome.RETRY}),
    (
        "planrrr_publications_reconciled",
        "Publications found already published when an attempt with an unknown outcome was checked.",
        {Outcome.RECONCILED},
    ),
)


class PlanrrrCollector(Collector):
    """Every planrrr_* family, from the database and RQ, computed at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield build_info()
        yield from self.connections()
        yield from self.publish_jobs()
        yield from self.job_histograms()
        yield from self.states()
        yield from self.webhooks()
        yield from self.queues()

    def connections(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "planrrr_connections",
            "Connected accounts, by platform and status (EXPIRED and REVOKED ones publish nothing until reconnected).",
            labels=["platform", "status"],
        )
        for row in selectors.connection_states():
            family.add_metric([row["platform"], row["status"]], row["n"])
        yield family

    def publish_jobs(self) -> Iterator[Metric]:
        rows = selectors.job_counts()
        jobs = CounterMetricFamily(
            "planrrr_publish_jobs", "Publish jobs run, by platform and outcome.", labels=["platform", "outcome"]
        )
        for row in rows:
            jobs.add_metric([row["platform"], row["outcome"]], row["n"])
        yield jobs
        platforms = sorted({row["platform"] for row in rows})
        for name, documentation, outcomes in OUTCOME_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["platform"])
            for platform in platforms:
                total = sum(r["n"] for r in rows if r["platform"] == platform and r["outcome"] in outcomes)
                family.add_metric([platform], total)
            yield family
        comments = CounterMetricFamily(
            "planrrr_first_comment_jobs",
            "First-comment jobs run, by platform and outcome (PUBLISHED: the comment is on the platform).",
            labels=["platform", "outcome"],
        )
        for row in selectors.job_counts("comment"):
            comments.add_metric([row["platform"], row["outcome"]], row["n"])
        yield comments
        yield GaugeMetricFamily(
            "planrrr_job_peak_rss_bytes",
            "The largest peak resident memory a publish job's worker process reported.",
            value=selectors.peak_rss_bytes(),
        )

    def job_histograms(self) -> Iterator[Metric]:
        for name, documentation, field, bounds in (
            (
                "planrrr_publish_job_duration_seconds",
                "Time one publish job took, from loading the publication to recording its outcome.",
                "duration_ms",
                DURATION_BUCKETS,
            ),
            (
                "planrrr_publish_lag_seconds",
                "From a post's scheduled_at to the platform request of its first attempt.",
                "lag_ms",
                LAG_BUCKETS,
            ),
        ):
            family = HistogramMetricFamily(name, documentation, labels=["platform"])
            for platform, histogram in selectors.job_histograms(field, bounds).items():
                buckets = [(_le(bound), count) for bound, count in histogram.buckets]
                buckets.append(("+Inf", histogram.count))
                family.add_metric([platform], buckets, histogram.total)
            yield family

    def states(self) -> Iterator[Metric]:
        publications = GaugeMetricFamily(
            "planrrr_publications", "Publications now, by platform and status.", labels=["platform", "status"]
        )
        for row in selectors.publication_states():
            publications.add_metric([row["platform"], row["status"]], row["n"])
        yield publications
        posts = GaugeMetricFamily("planrrr_posts", "Posts now, by status.", labels=["status"])
        for status, count in selectors.post_states().items():
            posts.add_metric([status], count)
        yield posts
        overdue, oldest = selectors.overdue_posts()
        yield GaugeMetricFamily(
            "planrrr_posts_overdue", "Posts still SCHEDULED after their scheduled_at.", value=overdue
        )
        yield GaugeMetricFamily(
            "planrrr_posts_overdue_seconds", "How late the most overdue SCHEDULED post is.", value=oldest
        )

    def webhooks(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "planrrr_webhook_delivery_attempts",
            "Webhook HTTP attempts, by event type and result (success: a 2xx answer).",
            labels=["event", "result"],
        )
        for row in selectors.webhook_attempt_counts():
            result = "success" if row["succeeded"] else "failure"
            attempts.add_metric([row["delivery__event__type"], result], row["n"])
        yield attempts
        summary = selectors.webhook_summary()
        yield CounterMetricFamily(
            "planrrr_webhook_deliveries_succeeded",
            "Webhook deliveries the endpoint accepted.",
            value=summary["webhookDeliveries"],
        )
        yield CounterMetricFamily(
            "planrrr_webhook_deliveries_failed",
            "Webhook deliveries that failed for good, every attempt spent.",
            value=summary["webhookFailures"],
        )
        yield GaugeMetricFamily(
            "planrrr_webhook_deliveries_pending",
            "Webhook deliveries waiting for their next attempt.",
            value=summary["webhookPending"],
        )

    def queues(self) -> Iterator[Metric]:
        try:
            state = selectors.rq_state()
        except redis.RedisError as error:
            # Logged once by this process when the outage starts, and when it ends.
            outages.redis().failed(error)
            yield GaugeMetricFamily("planrrr_rq_up", "1 if Redis answered this scrape.", value=0)
            return
        outages.redis().ok()
        yield GaugeMetricFamily("planrrr_rq_up", "1 if Redis answered this scrape.", value=1)
        gauges = (
            ("planrrr_rq_queue_depth", "Jobs waiting in the queue for a worker.", "queued"),
            ("planrrr_rq_started_jobs", "Jobs running now.", "started"),
            ("planrrr_rq_scheduled_jobs", "Jobs scheduled for later (enqueue_at, retries, waits).", "scheduled"),
            (
                "planrrr_rq_scheduled_lag_seconds",
                "How far past its time the most overdue scheduled job is (0 when none is overdue).",
                "scheduled_lag_seconds",
            ),
            ("planrrr_rq_failed_jobs", "Jobs in RQ's failed registry.", "failed"),
        )
        for name, documentation, attribute in gauges:
            family = GaugeMetricFamily(name, documentation, labels=["queue"])
            for queue in state.queues:
                family.add_metric([queue.name], getattr(queue, attribute))
            yield family
        workers = GaugeMetricFamily(
            "planrrr_rq_workers",
            "RQ workers alive (registered, with a recent heartbeat), by state: a threaded worker process is one "
            "and one per job thread.",
            labels=["state"],
        )
        workers.add_metric(["busy"], state.busy_workers)
        workers.add_metric(["idle"], state.workers - state.busy_workers)
        yield workers


@functools.cache
def version() -> str:
    """The VERSION file (written when the image is built), else ``git describe``, else "unknown"."""
    path = Path(settings.BASE_DIR) / "VERSION"
    if path.exists():
        return path.read_text().strip() or "unknown"
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"


def build_info() -> Metric:
    family = GaugeMetricFamily(
        "planrrr_build_info", "The running code: always 1, with its version.", labels=["version", "python", "django"]
    )
    family.add_metric([version(), ".".join(map(str, sys.version_info[:3])), django.get_version()], 1)
    return family


def _le(bound: float) -> str:
    return repr(float(bound))


registry = CollectorRegistry(auto_describe=False)
registry.register(PlanrrrCollector())


def exposition() -> bytes:
    """The metrics in the Prometheus text format."""
    return generate_latest(registry)
