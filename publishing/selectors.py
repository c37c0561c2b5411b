"""Reads of the publishing app."""

from django.db.models import Avg, Count, Max, Q

from publishing.models import JobMetric, Publication

Outcome = JobMetric.Outcome


def metrics_summary() -> dict:
    """The stored metrics, under the seed plan's names, overall and per platform.

    Counts come from JobMetric rows (one per job run), so they survive restarts:
    postsPublished counts publications that went out (including ones found already
    published by reconciliation), postsFailed those that gave up."""
    published = Q(outcome__in=[Outcome.PUBLISHED, Outcome.RECONCILED])
    aggregates = {
        "postsPublished": Count("pk", filter=published),
        "postsFailed": Count("pk", filter=Q(outcome=Outcome.FAILED)),
        "rateLimitHits": Count("pk", filter=Q(outcome=Outcome.RATE_LIMITED)),
        "retries": Count("pk", filter=Q(outcome=Outcome.RETRY)),
        "reconciled": Count("pk", filter=Q(outcome=Outcome.RECONCILED)),
        "jobs": Count("pk"),
        "avgJobProcessingTime": Avg("duration_ms"),
        "peakMemoryUsage": Max("peak_rss_bytes"),
    }
    rows = JobMetric.objects.filter(kind="publish")
    summary = rows.aggregate(**aggregates)
    summary["avgJobProcessingTime"] = round(summary["avgJobProcessingTime"] or 0.0, 1)
    summary["peakMemoryUsage"] = summary["peakMemoryUsage"] or 0
    summary["platforms"] = {
        row.pop("platform"): row for row in rows.values("platform").annotate(**aggregates).order_by("platform")
    }
    for row in summary["platforms"].values():
        row["avgJobProcessingTime"] = round(row["avgJobProcessingTime"] or 0.0, 1)
    summary["publicationsByStatus"] = dict(
        Publication.objects.values_list("status").annotate(n=Count("pk")).order_by("status")
    )
    return summary
