"""The admin dashboard's series: publications per hour, the slowest and the failing accounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from connections.models import Connection
from publishing.models import JobMetric, JobMetricRollup, Publication
from publishing.selectors.stored import Outcome, _jobs_of


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
