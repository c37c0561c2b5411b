"""What the publishing services tell the world: webhook events (an outbox row written in the
caller's transaction) and the per-job metric rows the counters are built from."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable, Mapping
from typing import Any

from publishing.models import JobMetric, Post, Publication


def emit(team_id: int, event: str, data: dict) -> None:
    """Record a webhook event for the team, inside the caller's transaction."""
    from webhooks.services import event_record

    event_record(team_id=team_id, event=event, data=data)


def channel_data(publication: Publication) -> dict:
    """Which account (channel) an event is about, beside its platform: ``channelId`` (the
    connection's id) and ``channelName`` (the account's name as connected); null for a
    publication that found no account."""
    if publication.connection_id is None:
        return {"channelId": None, "channelName": None}
    return {"channelId": publication.connection_id, "channelName": publication.connection.name}


def failed_data(publication: Publication) -> dict:
    """The data of ``post.failed``: a publication ended FAILED."""
    return {
        "postId": publication.post_id,
        "publicationId": publication.pk,
        "platform": publication.platform,
        **channel_data(publication),
        "error": publication.error,
        "attemptCount": publication.attempt_count,
    }


def event_sql(team_id: int, event: str, data: dict, *, when: str):
    """The event as part of the statement that makes the change it reports, recorded only if
    that statement's CTE ``when`` returns a row (``webhooks.services.event_sql``)."""
    from webhooks.services import event_sql

    return event_sql(team_id=team_id, event=event, data=data, when=when)


def emit_failed(publication: Publication, post: Post) -> None:
    emit(post.team_id, "post.failed", failed_data(publication))


def published_data(publication: Publication, *, external_id: str, url: str, published_at) -> dict:
    """The data of ``post.published``: a publication is on the platform."""
    return {
        "postId": publication.post_id,
        "publicationId": publication.pk,
        "platform": publication.platform,
        **channel_data(publication),
        "externalId": external_id,
        "url": url,
        "publishedAt": published_at.isoformat(),
    }


def emit_published(publication: Publication, *, external_id: str, url: str, published_at) -> None:
    emit(
        publication.post.team_id,
        "post.published",
        published_data(publication, external_id=external_id, url=url, published_at=published_at),
    )


# What ``post.completed`` says of each publication: its key in the payload -> the Publication
# field. Every path that ends a post reads these fields by name (finalize.publication_read), so
# a key added here carries the row's value whichever path tells it.
COMPLETED_PUBLICATION = {
    "platform": "platform",
    "channelId": "connection_id",
    # The account's name, read with the publication (finalize joins its connection).
    "channelName": "connection__name",
    "status": "status",
    "externalId": "external_id",
    "error": "error",
}


def completed_data(post: Post, publications: Iterable[Mapping[str, Any]]) -> dict:
    """The data of ``post.completed``: the post's outcome and each publication's (``publications``:
    their fields by name, at least those of COMPLETED_PUBLICATION)."""
    return {
        "postId": post.pk,
        "status": post.status,
        "publishedAt": post.published_at.isoformat() if post.published_at else None,
        "error": post.error,
        "publications": [{key: row[field] for key, field in COMPLETED_PUBLICATION.items()} for row in publications],
    }


def emit_completed(post: Post, publications: Iterable[Mapping[str, Any]]) -> None:
    emit(post.team_id, "post.completed", completed_data(post, publications))


def emit_review(post: Post, event: str, *, user=None, note: str = "") -> None:
    """post.submitted, post.approved or post.rejected."""
    emit(
        post.team_id,
        event,
        {
            "postId": post.pk,
            "status": post.status,
            "scheduledAt": post.scheduled_at.isoformat() if post.scheduled_at else None,
            "by": getattr(user, "username", None),
            "note": note,
        },
    )


def record_metric(publication: Publication, outcome: str, **options) -> None:
    """Write the JobMetric row of a job that ends now (``options``: those of ``metric_values``)."""
    JobMetric.objects.create(**metric_values(publication, outcome, **options))


def metric_values(
    publication: Publication,
    outcome: str,
    *,
    started: float,
    attempt: int | None = None,
    lag_ms: float | None = None,
    kind: str = "publish",
) -> dict:
    """The fields of the JobMetric row of a job that ends now (started at ``started``, monotonic)."""
    return {
        "kind": kind,
        "platform": publication.platform,
        "outcome": outcome,
        "publication_id": publication.pk,
        "attempt": publication.attempt_count if attempt is None else attempt,
        "duration_ms": (time.monotonic() - started) * 1000,
        "lag_ms": lag_ms,
        "peak_rss_bytes": peak_rss_bytes(),
    }


# This process's peak RSS and when it was read (time.monotonic()).
_peak_rss: tuple[float, int] = (float("-inf"), 0)
PEAK_RSS_EVERY = 1.0


def peak_rss_bytes() -> int:
    """This process's peak RSS (it only grows), read at most every PEAK_RSS_EVERY seconds:
    getrusage() goes through every thread of the process, a job's end in a process of 24."""
    global _peak_rss
    now = time.monotonic()
    read_at, value = _peak_rss
    if now - read_at >= PEAK_RSS_EVERY:
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        _peak_rss = (now, value)
    return value
