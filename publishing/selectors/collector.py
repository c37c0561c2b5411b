"""The Prometheus collector's aggregates (publishing.metrics): jobs by platform and outcome,
their histograms, the states of publications, posts, connections and deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from connections.models import Connection
from publishing.models import JobMetric, JobMetricRollup, Post, Publication
from webhooks.models import Delivery, DeliveryAttempt, DeliveryRollup


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
