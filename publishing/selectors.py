"""Reads of the publishing app: the stored metrics, the dashboard's series, RQ's state.

Every figure about work done comes from rows in PostgreSQL (JobMetric, one per publish job
run; webhooks' DeliveryAttempt, one per HTTP attempt), so it survives restarts and is the
same whichever process asks. Only the queue figures come from Redis, read live.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Aggregate, Avg, Count, F, FloatField, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Greatest, TruncHour
from django.utils import timezone

from connections.models import Connection
from publishing.models import JobMetric, JobMetricRollup, Post, Publication
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


# --- the Prometheus collector's aggregates -------------------------------------------------


def job_counts(kind: str = "publish") -> list[dict]:
    """Jobs of ``kind`` run ("publish", or "comment": first comments), per platform and outcome,
    rolled-up hours included: [{platform, outcome, n}]."""
    counts: dict[tuple[str, str], int] = {}
    raw = JobMetric.objects.filter(kind=kind).values_list("platform", "outcome").annotate(n=Count("pk"))
    rolled = JobMetricRollup.objects.filter(kind=kind).values_list("platform", "outcome").annotate(n=Sum("jobs"))
    for platform, outcome, n in [*raw.order_by(), *rolled.order_by()]:
        counts[platform, outcome] = counts.get((platform, outcome), 0) + n
    return [{"platform": p, "outcome": o, "n": n} for (p, o), n in sorted(counts.items())]


@dataclass
class Histogram:
    """Cumulative bucket counts (le in seconds, count), the sum (seconds) and the count."""

    buckets: list[tuple[float, int]]
    total: float
    count: int


# A JobMetric field -> its rollup's (bucket counts, sum, count) fields.
_ROLLED = {
    "duration_ms": ("duration_buckets", "duration_ms_sum", "jobs"),
    "lag_ms": ("lag_buckets", "lag_ms_sum", "lag_count"),
}


def job_histograms(field: str, bounds: tuple[float, ...]) -> dict[str, Histogram]:
    """A histogram per platform of a JobMetric field stored in milliseconds (duration_ms,
    lag_ms): the rows kept, in one query, plus their rollups, in another; rows where the
    field is null are left out."""
    aggregates = {f"le_{i}": Count("pk", filter=Q(**{f"{field}__lte": bound * 1000})) for i, bound in enumerate(bounds)}
    raw = (
        JobMetric.objects.filter(kind="publish", **{f"{field}__isnull": False})
        .values("platform")
        .annotate(total=Sum(field), count=Count("pk"), **aggregates)
        .order_by()
    )
    buckets_field, sum_field, count_field = _ROLLED[field]
    rolled = (
        JobMetricRollup.objects.filter(kind="publish", **{f"{count_field}__gt": 0})
        .values("platform")
        .annotate(
            total=Sum(sum_field),
            count=Sum(count_field),
            **{f"le_{i}": Sum(f"{buckets_field}__{i}") for i in range(len(bounds))},
        )
        .order_by()
    )
    merged: dict[str, dict] = {}
    for row in [*raw, *rolled]:
        into = merged.setdefault(row["platform"], {})
        for key, value in row.items():
            if key != "platform":
                into[key] = into.get(key, 0) + (value or 0)
    return {
        platform: Histogram(
            buckets=[(bound, row[f"le_{i}"]) for i, bound in enumerate(bounds)],
            total=row["total"] / 1000,
            count=row["count"],
        )
        for platform, row in sorted(merged.items())
    }


def peak_rss_bytes() -> int:
    raw = JobMetric.objects.aggregate(peak=Max("peak_rss_bytes"))["peak"] or 0
    rolled = JobMetricRollup.objects.aggregate(peak=Max("peak_rss_bytes"))["peak"] or 0
    return max(raw, rolled)


def publication_states() -> list[dict]:
    """Publications now, per platform and status: [{platform, status, n}]."""
    return list(Publication.objects.values("platform", "status").annotate(n=Count("pk")).order_by("platform", "status"))


def connection_states() -> list[dict]:
    """Connections now, per platform and status: [{platform, status, n}]."""
    return list(Connection.objects.values("platform", "status").annotate(n=Count("pk")).order_by("platform", "status"))


def post_states() -> dict[str, int]:
    return dict(Post.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))


def overdue_posts(now: datetime | None = None) -> tuple[int, float]:
    """(posts still SCHEDULED past their time, seconds the oldest of them is late): no worker
    running the dispatch (or one failing at it) shows here first."""
    now = now or timezone.now()
    # Late from when the post became due to the system: a row written with a time long past
    # (year 1) is late from its creation, not by two thousand years.
    row = Post.objects.filter(status=Post.Status.SCHEDULED, scheduled_at__lte=now).aggregate(
        n=Count("pk"), first=Min(Greatest("scheduled_at", "created_at"))
    )
    return row["n"], (now - row["first"]).total_seconds() if row["first"] else 0.0


def webhook_attempt_counts() -> list[dict]:
    """Webhook HTTP attempts per event type and result, pruned events' included:
    [{delivery__event__type, succeeded, n}]."""
    counts: dict[tuple[str, bool], int] = {}
    raw = DeliveryAttempt.objects.values_list("delivery__event__type", "succeeded").annotate(n=Count("pk")).order_by()
    for event_type, succeeded, n in raw:
        counts[event_type, succeeded] = counts.get((event_type, succeeded), 0) + n
    rolled = DeliveryRollup.objects.values_list("event_type").annotate(
        ok=Sum("attempts_succeeded"), failed=Sum("attempts_failed")
    )
    for event_type, ok, failed in rolled.order_by():
        for succeeded, n in ((True, ok), (False, failed)):
            if n:
                counts[event_type, succeeded] = counts.get((event_type, succeeded), 0) + n
    return [
        {"delivery__event__type": event_type, "succeeded": succeeded, "n": n}
        for (event_type, succeeded), n in sorted(counts.items())
    ]


def webhook_delivery_states() -> dict[str, int]:
    return dict(Delivery.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))


# --- RQ ------------------------------------------------------------------------------------


@dataclass
class QueueState:
    name: str
    queued: int  # waiting to be picked up
    started: int  # running now
    scheduled: int  # enqueue_at / retries waiting for their time
    scheduled_lag_seconds: float  # how late the most overdue scheduled job is (0: none overdue)
    failed: int


@dataclass
class RqState:
    queues: list[QueueState]
    workers: int
    busy_workers: int


def rq_state() -> RqState:
    """Queue depth, running, scheduled (and how overdue the oldest is), failed, per queue of
    RQ_QUEUES, and the workers alive. Raises redis.RedisError if Redis is down."""
    import django_rq

    from planrrr.rq import workers_alive

    queues = []
    connection = None
    now = time.time()
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        connection = queue.connection
        scheduled = queue.scheduled_job_registry
        oldest = connection.zrange(scheduled.key, 0, 0, withscores=True)
        lag = max(0.0, now - oldest[0][1]) if oldest else 0.0
        queues.append(
            QueueState(
                name=name,
                queued=queue.count,
                started=queue.started_job_registry.count,
                scheduled=scheduled.count,
                scheduled_lag_seconds=lag,
                failed=queue.failed_job_registry.count,
            )
        )
    # Only the live ones: a worker killed, or ended while Redis was unreachable, stays
    # registered until its key expires, up to 8 minutes later.
    workers = workers_alive(connection) if connection is not None else []
    busy = sum(1 for worker in workers if worker.get_state() == "busy")
    return RqState(queues=queues, workers=len(workers), busy_workers=busy)


# --- the admin dashboard -------------------------------------------------------------------


def publications_per_hour(
    *, hours: int = 24, now: datetime | None = None, teams: Sequence[int] | None = None
) -> list[dict]:
    """Publish jobs per hour over the last ``hours``, by platform and outcome:
    [{hour, platform, outcome, n}] (hours with no job are absent; hours already rolled up
    come from their rollups, except for ``teams``: theirs only, over the rows kept)."""
    now = now or timezone.now()
    since = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    raw = (
        _jobs_of(teams)
        .filter(kind="publish", created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour", "platform", "outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rolled = (
        JobMetricRollup.objects.filter(kind="publish", hour__gte=since)
        .values_list("hour", "platform", "outcome")
        .annotate(n=Sum("jobs"))
        .order_by()
    )
    if teams is not None:
        rolled = rolled.none()
    counts: dict[tuple, int] = {}
    for hour, platform, outcome, n in [*raw, *rolled]:
        counts[hour, platform, outcome] = counts.get((hour, platform, outcome), 0) + n
    return [{"hour": h, "platform": p, "outcome": o, "n": n} for (h, p, o), n in sorted(counts.items())]


def _with_connection(rows, teams: Sequence[int] | None = None):
    """JobMetric rows annotated with their publication's connection (JobMetric keeps a plain
    publication id so that metrics outlive deleted posts); ``teams``: their connections only."""
    connection = Publication.objects.filter(pk=OuterRef("publication_id")).values("connection_id")[:1]
    rows = rows.annotate(connection_id=Subquery(connection)).filter(connection_id__isnull=False)
    if teams is not None:
        rows = rows.filter(connection_id__in=Connection.objects.filter(team_id__in=teams).values("pk"))
    return rows


def slowest_connections(*, hours: int = 24, limit: int = 10, teams: Sequence[int] | None = None) -> list[dict]:
    """Connections by average publish job time over the last ``hours``, slowest first:
    [{connection, jobs, avg_ms, max_ms}]."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        _with_connection(JobMetric.objects.filter(kind="publish", created_at__gte=since), teams)
        .values("connection_id")
        .annotate(jobs=Count("pk"), avg_ms=Avg("duration_ms"), max_ms=Max("duration_ms"))
        .order_by("-avg_ms")[:limit]
    )
    return _attach_connections(list(rows))


def failing_connections(*, hours: int = 24, limit: int = 10, teams: Sequence[int] | None = None) -> list[dict]:
    """Connections with the most failed attempts (given up, retried, rate limited) over the
    last ``hours``, with the last error their publications recorded:
    [{connection, failed, retries, rate_limited, last_error, last_error_at}]."""
    since = timezone.now() - timedelta(hours=hours)
    failing = [Outcome.FAILED, Outcome.RETRY, Outcome.RATE_LIMITED]
    rows = (
        _with_connection(JobMetric.objects.filter(kind="publish", created_at__gte=since, outcome__in=failing), teams)
        .values("connection_id")
        .annotate(
            total=Count("pk"),
            failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
            retries=Count("pk", filter=Q(outcome=Outcome.RETRY)),
            rate_limited=Count("pk", filter=Q(outcome=Outcome.RATE_LIMITED)),
        )
        .order_by("-total", "-failed")[:limit]
    )
    rows = _attach_connections(list(rows))
    for row in rows:
        last = (
            Publication.objects.filter(connection_id=row["connection_id"])
            .exclude(error="")
            .order_by("-updated_at")
            .values("error", "updated_at")
            .first()
        )
        row["last_error"] = last["error"] if last else row["connection"].status_detail
        row["last_error_at"] = last["updated_at"] if last else None
    return rows


def _attach_connections(rows: list[dict]) -> list[dict]:
    connections = Connection.objects.select_related("team").in_bulk([row["connection_id"] for row in rows])
    return [
        {**row, "connection": connections[row["connection_id"]]} for row in rows if row["connection_id"] in connections
    ]
