"""The analytics' reads (docs/analytics.md, "API"): a post's figures over time, a channel's, a team's
summary over a period. Each answer says when its figures were read (``capturedAt``) and when they
will be next (``nextSyncAt``), and what the platform does not give, in words.

A post's series reads the time series within its life (published_at to the schedule's end), so
PostgreSQL reads only those months' partitions; the summary and the top posts read the trackings'
latest figures only (one row per publication), never the series.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Max, Min, Sum, Value
from django.db.models.functions import Coalesce

from analytics.models import COLUMNS, ChannelDay, ChannelSync, ExternalPost, Snapshot, Tracking
from connections.models import Connection
from connections.platforms import UnknownPlatform, get_adapter
from connections.platforms.base import Account
from connections.platforms.figures import WATCH_SECONDS
from publishing.models import Post, Publication

# A post's readings lie within the schedule's last age, and some slack for a late sweep.
LIFE = timedelta(hours=max(until for until, _ in settings.ANALYTICS_SCHEDULE)) + timedelta(days=7)
# What ranks the top posts: what people did with it, then how many saw it.
ENGAGEMENT = ("likes", "comments", "shares", "saves")
# A channel's answer lists at most this many of its posts made outside planrrr, newest first.
EXTERNAL_LISTED = 100


def external_post(post: ExternalPost) -> dict[str, Any]:
    """A post the account made outside planrrr, as the channel and the summary show it."""
    return {
        "externalId": post.external_id,
        "publishedByPlanrrr": False,
        "platform": post.platform,
        "channelId": post.connection_id,
        "url": post.url or None,
        "content": post.text[:200],
        "publishedAt": post.published_at,
        "capturedAt": post.captured_at,
        "nextSyncAt": post.next_sync_at,
        "error": post.error or None,
        **figures_of(post),
    }


def backfill_of(state: ChannelSync | None) -> dict[str, Any]:
    """Where the channel's backfill of its posts made outside planrrr stands."""
    if state is None or (state.backfill_since is None and state.backfill_done_at is None):
        return {"state": "pending", "since": None, "postsFound": 0, "detail": None}
    return {
        "state": "done" if state.backfill_done_at else "listing",
        "since": state.backfill_since,
        "postsFound": state.backfill_found,
        "detail": state.backfill_detail or None,
    }


def figures_of(row: Any) -> dict[str, int | None]:
    """The common figures of a row (a Tracking, a Snapshot, an aggregate), by their API names."""
    get = row.get if isinstance(row, dict) else lambda column: getattr(row, column)
    return {name: get(column) for name, column in COLUMNS.items()}


def platform_lacks(
    platform: str, connection: Connection | None, *, posts: bool = False
) -> tuple[dict[str, str], str | None]:
    """(the common names the platform never gives, with why; why it gives this account nothing, or
    with ``posts``, why it gives nothing for the account's posts, or None)."""
    try:
        adapter = get_adapter(platform)
    except UnknownPlatform:
        return {}, f"planrrr knows no platform {platform!r}."
    lacks = dict(adapter.metrics_lacks)
    if not adapter.metrics_watch_time:
        lacks.setdefault(WATCH_SECONDS, f"planrrr reads no watch time from {adapter.label}.")
    if connection is None:
        return lacks, None
    account = Account.of(connection)
    refused = adapter.post_metrics_refused(account) if posts else adapter.metrics_refused(account)
    return lacks, refused


def publication_analytics(publication: Publication, tracking: Tracking | None) -> dict[str, Any]:
    lacks, refused = platform_lacks(publication.platform, publication.connection, posts=True)
    answer: dict[str, Any] = {
        "publicationId": publication.pk,
        "platform": publication.platform,
        "channelId": publication.connection_id,
        "channelName": publication.connection.name if publication.connection else None,
        "externalId": publication.external_id or None,
        "capturedAt": None,
        "nextSyncAt": None,
        "latest": None,
        "raw": {},
        "unavailable": lacks,
        "notOffered": refused,
        "error": None,
        "parts": [],
        "series": [],
    }
    if tracking is None:
        if publication.status != Publication.Status.PUBLISHED:
            answer["error"] = f"Not published ({publication.status}): no figures."
        elif not refused:
            answer["error"] = "Published: figures are read from the next analytics sweep on."
        return answer
    answer.update(
        capturedAt=tracking.captured_at,
        nextSyncAt=tracking.next_sync_at,
        latest=figures_of(tracking) if tracking.captured_at else None,
        raw=tracking.raw,
        unavailable={**lacks, **tracking.unavailable},
        error=tracking.error or None,
        parts=tracking.parts,
        series=[
            {"capturedAt": snapshot.captured_at, **figures_of(snapshot)}
            for snapshot in Snapshot.objects.filter(
                publication_id=publication.pk,
                captured_at__gte=tracking.published_at,
                captured_at__lt=tracking.published_at + LIFE,
            ).order_by("captured_at")
        ],
    )
    return answer


def post_analytics(*, post: Post) -> dict[str, Any]:
    """A post's figures, publication by publication, with their series."""
    publications = list(post.publications.select_related("connection").order_by("id"))
    trackings = {t.publication_id: t for t in Tracking.objects.filter(publication__in=publications)}
    items = [publication_analytics(p, trackings.get(p.pk)) for p in publications]
    captured = [item["capturedAt"] for item in items if item["capturedAt"]]
    upcoming = [item["nextSyncAt"] for item in items if item["nextSyncAt"]]
    return {
        "postId": post.pk,
        "capturedAt": max(captured, default=None),
        "nextSyncAt": min(upcoming, default=None),
        "publications": items,
    }


def channel_analytics(*, channel: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """A channel's followers and account figures by day within [start, end), and its analytics' state."""
    lacks, refused = platform_lacks(channel.platform, channel)
    state = ChannelSync.objects.filter(connection=channel).first()
    days = ChannelDay.objects.filter(connection=channel, captured_at__gte=start, captured_at__lt=end).order_by("day")
    latest = ChannelDay.objects.filter(connection=channel).order_by("-day").first()
    posts = Tracking.objects.filter(connection=channel).aggregate(
        tracked=Coalesce(Sum(Value(1)), 0), next=Min("next_sync_at"), captured=Max("captured_at")
    )
    next_sync = min([t for t in (posts["next"], state and state.next_account_sync_at) if t], default=None)
    if next_sync and state and state.waits_until and state.waits_until > next_sync:
        next_sync = state.waits_until  # rate-limited, budget spent: not before then
    externals = ExternalPost.objects.filter(connection=channel)
    listed = externals.filter(published_at__gte=start, published_at__lt=end).order_by("-published_at")
    return {
        "channelId": channel.pk,
        "platform": channel.platform,
        "name": channel.name,
        "capturedAt": max([t for t in (latest and latest.captured_at, posts["captured"]) if t], default=None),
        "nextSyncAt": next_sync,
        "followers": latest.followers if latest else None,
        "raw": latest.raw if latest else {},
        "notOffered": refused,
        "unavailable": lacks,
        "status": (state.status_detail if state else "") or None,
        "postsTracked": posts["tracked"],
        "backfill": backfill_of(state),
        "externalPostsTracked": externals.count(),
        "externalPosts": [external_post(post) for post in listed[:EXTERNAL_LISTED]],
        "days": [
            {"day": day.day, "capturedAt": day.captured_at, "followers": day.followers, "raw": day.raw} for day in days
        ],
    }


def summary(*, team_id: int, start: datetime, end: datetime, top: int = 10) -> dict[str, Any]:
    """The team's posts published in [start, end): totals (a figure no post gave is null), by
    network, by channel, and the top posts by engagement (likes, comments, shares, saves), then views."""
    rows = Tracking.objects.filter(team_id=team_id, published_at__gte=start, published_at__lt=end)
    sums = {column: Sum(column) for column in COLUMNS.values()}
    overall = rows.aggregate(posts=Coalesce(Sum(Value(1)), 0), captured=Max("captured_at"), **sums)
    upcoming = rows.filter(next_sync_at__isnull=False).aggregate(next=Min("next_sync_at"))["next"]
    by_network = rows.values("platform").annotate(posts=Sum(Value(1)), **sums).order_by("platform")
    by_channel = (
        rows.values("connection_id", "connection__name", "platform")
        .annotate(posts=Sum(Value(1)), **sums)
        .order_by("connection_id")
    )
    engagement = sum((Coalesce(F(name), 0) for name in ENGAGEMENT), Value(0))
    best = (
        rows.filter(captured_at__isnull=False)
        .annotate(engagement=engagement)
        .select_related("publication__post")
        .order_by("-engagement", F("views").desc(nulls_last=True), "publication_id")[:top]
    )
    externals = ExternalPost.objects.filter(team_id=team_id, published_at__gte=start, published_at__lt=end)
    external_totals = externals.aggregate(posts=Coalesce(Sum(Value(1)), 0), **sums)
    external_by_channel = (
        externals.values("connection_id", "connection__name", "platform")
        .annotate(posts=Sum(Value(1)), **sums)
        .order_by("connection_id")
    )
    external_best = (
        externals.filter(captured_at__isnull=False)
        .annotate(engagement=engagement)
        .order_by("-engagement", F("views").desc(nulls_last=True), "id")[:top]
    )
    return {
        "from": start,
        "to": end,
        "capturedAt": overall["captured"],
        "nextSyncAt": upcoming,
        "posts": overall["posts"],
        "totals": figures_of(overall),
        "byNetwork": [{"platform": row["platform"], "posts": row["posts"], **figures_of(row)} for row in by_network],
        "byChannel": [
            {
                "channelId": row["connection_id"],
                "name": row["connection__name"],
                "platform": row["platform"],
                "posts": row["posts"],
                **figures_of(row),
            }
            for row in by_channel
        ],
        "topPosts": [
            {
                "postId": tracking.publication.post_id,
                "publicationId": tracking.publication_id,
                "publishedByPlanrrr": True,
                "platform": tracking.platform,
                "channelId": tracking.connection_id,
                "content": tracking.publication.post.content[:200],
                "publishedAt": tracking.published_at,
                "capturedAt": tracking.captured_at,
                "engagement": tracking.engagement,
                **figures_of(tracking),
            }
            for tracking in best
        ],
        # The channels' posts made outside planrrr (their backfill), apart from planrrr's own.
        "notByPlanrrr": {
            "posts": external_totals["posts"],
            "totals": figures_of(external_totals),
            "byChannel": [
                {
                    "channelId": row["connection_id"],
                    "name": row["connection__name"],
                    "platform": row["platform"],
                    "posts": row["posts"],
                    **figures_of(row),
                }
                for row in external_by_channel
            ],
            "topPosts": [{**external_post(post), "engagement": post.engagement} for post in external_best],
        },
    }


def top_posts_this_week(*, team_ids: list[int] | None = None, now: datetime, top: int = 10) -> list[Tracking]:
    """The admin's week: the trackings of posts published in the last 7 days with the most
    engagement, of ``team_ids`` (None: every team)."""
    rows = Tracking.objects.filter(published_at__gte=now - timedelta(days=7), captured_at__isnull=False)
    if team_ids is not None:
        rows = rows.filter(team_id__in=team_ids)
    engagement = sum((Coalesce(F(name), 0) for name in ENGAGEMENT), Value(0))
    return list(
        rows.annotate(engagement=engagement)
        .select_related("publication__post", "connection")
        .order_by("-engagement", "publication_id")[:top]
    )
