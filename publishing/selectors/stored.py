"""The stored figures of work done (JobMetric, DeliveryAttempt, their hourly rollups): the
summaries the API, the dashboard and the metrics command show."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Aggregate, Count, F, FloatField, Max, Q, Sum

from publishing.models import JobMetric, JobMetricRollup, Publication
from webhooks.models import Delivery, DeliveryAttempt, DeliveryRollup

Outcome = JobMetric.Outcome

PUBLISHED = Q(outcome__in=[Outcome.PUBLISHED, Outcome.RECONCILED])


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _raw_aggregates() -> dict:
    """Over the JobMetric rows still kept (the last METRICS_RAW_RETENTION_HOURS)."""
    return {
        "postsPublished": Count("pk", filter=PUBLISHED),
        "postsFailed": Count("pk", filter=Q(outcome=Outcome.FAILED)),
        "rateLimitHits": Count("pk", filter=Q(outcome=Outcome.RATE_LIMITED)),
        "retries": Count("pk", filter=Q(outcome=Outcome.RETRY)),
        "reconciled": Count("pk", filter=Q(outcome=Outcome.RECONCILED)),
        "jobs": Count("pk"),
        "duration_sum": Sum("duration_ms"),
        "p99JobProcessingTime": PercentileCont("duration_ms", 0.99),
        "peakMemoryUsage": Max("peak_rss_bytes"),
        "lag_sum": Sum("lag_ms"),
        "lag_count": Count("lag_ms"),
        "maxLag": Max("lag_ms"),
    }


def _rollup_aggregates() -> dict:
    """The same figures over JobMetricRollup (all but the percentile, which sums cannot give)."""
    return {
        "postsPublished": Sum("jobs", filter=PUBLISHED, default=0),
        "postsFailed": Sum("jobs", filter=Q(outcome=Outcome.FAILED), default=0),
        "rateLimitHits": Sum("jobs", filter=Q(outcome=Outcome.RATE_LIMITED), default=0),
        "retries": Sum("jobs", filter=Q(outcome=Outcome.RETRY), default=0),
        "reconciled": Sum("jobs", filter=Q(outcome=Outcome.RECONCILED), default=0),
        "jobs": Sum("jobs", default=0),
        "duration_sum": Sum("duration_ms_sum"),
        "peakMemoryUsage": Max("peak_rss_bytes"),
        "lag_sum": Sum("lag_ms_sum"),
        "lag_count": Sum("lag_count", default=0),
        "maxLag": Max("lag_ms_max"),
    }


COUNTS = ("postsPublished", "postsFailed", "rateLimitHits", "retries", "reconciled", "jobs")


def _jobs_of(teams: Sequence[int] | None):
    """The JobMetric rows kept, of ``teams``' publications only when given (the admin's
    dashboard for a team member). Rollups carry no team: those figures are the installation's."""
    rows = JobMetric.objects.all()
    if teams is not None:
        rows = rows.filter(publication_id__in=Publication.objects.filter(post__team_id__in=teams).values("pk"))
    return rows


def _merged(raw: dict, rolled: dict | None) -> dict:
    """Raw and rolled-up figures as one row of the seed plan's names; times rounded to 0.1 ms."""
    rolled = rolled or {}
    row = {name: (raw.get(name) or 0) + (rolled.get(name) or 0) for name in COUNTS}
    duration = (raw.get("duration_sum") or 0.0) + (rolled.get("duration_sum") or 0.0)
    lag = (raw.get("lag_sum") or 0.0) + (rolled.get("lag_sum") or 0.0)
    lag_count = (raw.get("lag_count") or 0) + (rolled.get("lag_count") or 0)
    row["avgJobProcessingTime"] = round(duration / row["jobs"], 1) if row["jobs"] else 0.0
    # Over the rows still kept: a percentile cannot be summed.
    row["p99JobProcessingTime"] = round(raw.get("p99JobProcessingTime") or 0.0, 1)
    row["peakMemoryUsage"] = max(raw.get("peakMemoryUsage") or 0, rolled.get("peakMemoryUsage") or 0)
    row["avgLag"] = round(lag / lag_count, 1) if lag_count else 0.0
    row["maxLag"] = round(max(raw.get("maxLag") or 0.0, rolled.get("maxLag") or 0.0), 1)
    return row


def metrics_summary(*, teams: Sequence[int] | None = None) -> dict:
    """The stored metrics, under the seed plan's names, overall and per platform.

    Counts come from JobMetric rows (one per job run) and their hourly rollups, so they
    survive restarts: postsPublished counts publications that went out (including ones
    found already published by reconciliation), postsFailed those that gave up,
    rateLimitHits and retries the attempts that ended in a rate limit or a transient
    failure. Times are in milliseconds (lag: scheduled_at to the platform request, first
    attempts only; p99 over the rows kept, METRICS_RAW_RETENTION_HOURS), memory in bytes
    (the largest peak RSS any job reported).

    ``teams``: those teams' figures only, over the rows kept (METRICS_RAW_RETENTION_HOURS)."""
    raw = _jobs_of(teams).filter(kind="publish")
    rolled = JobMetricRollup.objects.filter(kind="publish")
    if teams is not None:
        rolled = rolled.none()
    publications = Publication.objects.all() if teams is None else Publication.objects.filter(post__team_id__in=teams)
    summary = _merged(raw.aggregate(**_raw_aggregates()), rolled.aggregate(**_rollup_aggregates()))
    raw_by_platform = {r.pop("platform"): r for r in raw.values("platform").annotate(**_raw_aggregates()).order_by()}
    rolled_by_platform = {
        r.pop("platform"): r for r in rolled.values("platform").annotate(**_rollup_aggregates()).order_by()
    }
    summary["platforms"] = {
        platform: _merged(raw_by_platform.get(platform, {}), rolled_by_platform.get(platform))
        for platform in sorted(raw_by_platform.keys() | rolled_by_platform.keys())
    }
    by_status = publications.values_list("status").annotate(n=Count("pk")).order_by("status")
    summary["publicationsByStatus"] = dict(by_status)
    summary.update(webhook_summary(teams=teams))
    return summary


def webhook_summary(*, teams: Sequence[int] | None = None) -> dict:
    """Webhook deliveries that succeeded and that failed for good, and their HTTP attempts,
    pruned events' counts (DeliveryRollup) included; ``teams``: theirs only, pruned ones left out."""
    deliveries, attempts, rollups = Delivery.objects.all(), DeliveryAttempt.objects.all(), DeliveryRollup.objects.all()
    if teams is not None:
        deliveries = deliveries.filter(endpoint__team_id__in=teams)
        attempts = attempts.filter(delivery__endpoint__team_id__in=teams)
        rollups = rollups.none()
    deliveries = deliveries.aggregate(
        webhookDeliveries=Count("pk", filter=Q(status=Delivery.Status.SUCCEEDED)),
        webhookFailures=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
        webhookPending=Count("pk", filter=Q(status=Delivery.Status.PENDING)),
    )
    attempts = attempts.aggregate(
        webhookAttempts=Count("pk"),
        webhookAttemptFailures=Count("pk", filter=Q(succeeded=False)),
    )
    rolled = rollups.aggregate(
        webhookDeliveries=Sum("deliveries_succeeded", default=0),
        webhookFailures=Sum("deliveries_failed", default=0),
        webhookAttempts=Sum(F("attempts_succeeded") + F("attempts_failed"), default=0),
        webhookAttemptFailures=Sum("attempts_failed", default=0),
    )
    summary = {**deliveries, **attempts}
    for name, n in rolled.items():
        summary[name] += n
    return summary
