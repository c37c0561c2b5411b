"""Publishing caps at scheduling time: each platform declares how many posts an account may
publish in a rolling window (``Declaration.caps``, from its documentation: docs/platforms/), and
the door refuses a time that would exceed one, saying when the next room is; the queue skips
full windows (publishing.services.queue). A cap reached anyway (posts made elsewhere, a lower
live limit) is the platform's refusal, which is a wait (RateLimited), not a failure.

What counts, per account (connection): its targets published (at ``published_at``), and those
scheduled or queued (at their own time, ``COALESCE(publication.scheduled_at, post.scheduled_at)``)
of posts SCHEDULED or PUBLISHING; a target held in a paused queue has no time and does not
count until it has one.

Where the platform reports the account's own figure (Instagram's content_publishing_limit), the
last one read (``cap_live_store``) replaces the declared count for a day. It is read by a job
(``cap_live_read``) asked for where a cap of the account is weighed (``cap_live_refresh``: the
door, the queue) when the last read is older than LIVE_REFRESH_SECONDS: never in a request,
never in the worker loop; an account the platform will not answer for keeps the declared count.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import django_rq
from django.core.cache import cache
from django.db.models import Q
from django.db.models.functions import Coalesce

from connections.models import Connection
from connections.platforms import UnknownPlatform, get_adapter, setting_value
from connections.platforms import declaration as declaration_of
from connections.platforms.base import Account, PlatformError
from planrrr import outages
from publishing.models import Post, Publication
from publishing.slots import Window, fits, next_room

logger = logging.getLogger("planrrr.caps")

# How long a live figure read from the platform stands in for the declared count.
LIVE_SECONDS = 24 * 3600
# How old a live figure may grow before it is read again (a job per account).
LIVE_REFRESH_SECONDS = 6 * 3600
LIVE_JOB = "publishing.jobs.cap_live_read"


def _live_key(connection_id: int) -> str:
    return f"planrrr:cap-live:{connection_id}"


def _fresh_key(connection_id: int) -> str:
    # Set when a read is enqueued (or made): no other read of the account until it lapses.
    return f"planrrr:cap-live-fresh:{connection_id}"


def cap_live_store(*, connection_id: int, count: int) -> None:
    """Remember the account's own figure, as the platform reported it."""
    cache.set(_live_key(connection_id), int(count), LIVE_SECONDS)


def cap_live_refresh(connection: Connection) -> bool:
    """Ask a worker to read the account's own cap from its platform (``cap_live_read``) unless
    it was read, or asked for, within LIVE_REFRESH_SECONDS; True if asked. Called where a cap of
    the account is weighed (the door, the queue): an account nobody schedules on is never read,
    and nothing reaches a platform for a post that is not published. Redis unreachable: nothing
    asked, the declared figure (or the last one read) holds."""

    def ask() -> bool:
        if not cache.add(_fresh_key(connection.pk), 1, LIVE_REFRESH_SECONDS):
            return False
        django_rq.get_queue("default").enqueue(LIVE_JOB, connection.pk, job_timeout=120)
        return True

    return bool(outages.redis_call(ask, default=False))


def cap_live_read(*, connection_id: int) -> int | None:
    """Read the account's own publishing cap from its platform and keep it (``cap_live_store``);
    the figure, or None when the account is gone, not active, or the platform did not answer
    (logged: the declared count holds until the next read)."""
    connection = Connection.objects.filter(pk=connection_id, status=Connection.Status.ACTIVE).first()
    if connection is None:
        return None
    try:
        count = get_adapter(connection.platform).publishing_limit(Account.of(connection))
    except PlatformError as error:
        logger.warning(
            "could not read the publishing cap of connection %s (%s): %s; the declared count holds",
            connection.pk,
            connection.platform,
            error,
            extra={"connection": connection.pk, "platform": connection.platform},
        )
        return None
    if count is not None:
        cap_live_store(connection_id=connection.pk, count=count)
    return count


def windows_of(connection: Connection) -> list[Window]:
    """The caps of ``connection``'s platform as windows; a live cap's count is the figure the
    platform last reported for this account, when one is known."""
    try:
        declared = declaration_of(connection.platform)
    except UnknownPlatform:
        return []
    live = None
    if any(cap.live for cap in declared.caps):
        try:
            live = cache.get(_live_key(connection.pk))
        except Exception:  # Redis down: the declared figure holds
            live = None
        cap_live_refresh(connection)
    return [
        Window(count=live if cap.live and live is not None else cap.count, seconds=cap.window_seconds)
        for cap in declared.caps
    ]


def counted_targets(connection_id: int):
    """The account's targets a cap counts (published, scheduled, queued), annotated ``at``."""
    published = Q(status=Publication.Status.PUBLISHED, published_at__isnull=False)
    waiting = Q(
        status__in=[Publication.Status.PENDING, Publication.Status.PUBLISHING],
        post__status__in=[Post.Status.SCHEDULED, Post.Status.PUBLISHING],
    )
    return Publication.objects.filter(connection_id=connection_id).filter(published | waiting)


def taken_times(
    connection_id: int, *, start: datetime, end: datetime, exclude_post_id: int | None = None, queued: bool = True
) -> list[datetime]:
    """The instants (sorted) of the account's counted targets within [start, end]: published
    ones at ``published_at``, the others at their own time. ``queued=False`` leaves queued
    targets out (the queue gives those their times itself)."""
    rows = counted_targets(connection_id).select_related("post")
    if exclude_post_id is not None:
        rows = rows.exclude(post_id=exclude_post_id)
    if not queued:
        rows = rows.filter(queue_position__isnull=True)
    rows = rows.only("status", "published_at", "scheduled_at", "queue_position", "post__scheduled_at")
    times = []
    for row in rows.filter(
        Q(published_at__range=(start, end))
        | Q(scheduled_at__range=(start, end))
        | Q(scheduled_at__isnull=True, queue_position__isnull=True, post__scheduled_at__range=(start, end))
    ):
        at = row.published_at if row.status == Publication.Status.PUBLISHED else row.effective_at
        if at is not None and start <= at <= end:
            times.append(at)
    return sorted(times)


def cap_problem(*, connection: Connection, at: datetime, exclude_post_id: int | None = None, zone=None) -> str | None:
    """Why one more target on ``connection`` at ``at`` would exceed a cap of its platform (its
    windows per account, or its app's daily quota across the installation), with the next time
    it fits; None when it fits. ``exclude_post_id``: the post being (re)scheduled, whose own
    targets are not counted against it."""
    return _window_problem(connection=connection, at=at, exclude_post_id=exclude_post_id, zone=zone) or quota_problem(
        connection=connection, at=at, exclude_post_id=exclude_post_id, zone=zone
    )


def _window_problem(*, connection: Connection, at: datetime, exclude_post_id: int | None, zone) -> str | None:
    windows = windows_of(connection)
    if not windows:
        return None
    widest = max(window.span for window in windows)
    taken = taken_times(connection.pk, start=at - widest, end=at + widest, exclude_post_id=exclude_post_id)
    full = [window for window in windows if not fits(taken, at, window)]
    if not full:
        return None
    # The next room may lie past the windows read so far: read up to a year on.
    later = taken_times(
        connection.pk, start=at - widest, end=at + timedelta(days=366) + widest, exclude_post_id=exclude_post_id
    )
    room = next_room(later, at, windows)
    label = connection.get_platform_display()
    name = connection.name or connection.account_id
    window = full[0]
    shown = _local(at, zone)
    message = (
        f"{label} takes at most {window.describe()} on {name} (channel #{connection.pk}); it already has "
        f"{window.count} published, scheduled or queued within {window.describe().split(' per ')[1]} of {shown}."
    )
    if room is None:
        return message + " There is no room within a year: remove or move some of its posts."
    return f"{message} The next room is at {_local(room, zone)}: pick that time or later, or add the post to the queue."


def _local(at: datetime, zone) -> str:
    if zone is None:
        return at.strftime("%Y-%m-%d %H:%M UTC")
    return at.astimezone(zone).strftime(f"%Y-%m-%d %H:%M ({zone.key})")


# --- an app's daily quota across the installation (Declaration.quota: YouTube's project) ----------


class QuotaRoom:
    """A platform's daily quota of planrrr's app, counted across the installation (every team,
    every account of the platform): at most ``per_day`` posts in a day running midnight to
    midnight in ``zone`` (YouTube: Pacific time). What counts is what the caps count (published at
    ``published_at``, scheduled or queued at their own time), of every account of the platform.
    ``fits(at)`` and ``add(at)`` let the queue place several targets one after the other."""

    def __init__(self, platform: str, *, exclude_post_id: int | None = None, exclude_queued_of: int | None = None):
        quota = declaration_of(platform).quota
        self.platform = platform
        self.units, self.cost = int(setting_value(quota.units)), max(1, int(setting_value(quota.cost)))
        self.names = (quota.units.name, quota.cost.name)
        self.per_day = self.units // self.cost
        self.zone = ZoneInfo(quota.zone)
        self.exclude_post_id = exclude_post_id
        self.exclude_queued_of = exclude_queued_of
        self.counts: dict[date, int] = {}

    def day_of(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(UTC)

    def load(self, first: date, last: date) -> None:
        """Count the days ``first`` to ``last`` (one query)."""
        rows = Publication.objects.filter(platform=self.platform).filter(
            Q(status=Publication.Status.PUBLISHED, published_at__isnull=False)
            | Q(
                status__in=[Publication.Status.PENDING, Publication.Status.PUBLISHING],
                post__status__in=[Post.Status.SCHEDULED, Post.Status.PUBLISHING],
            )
        )
        # A target held in a paused queue has no time: it counts once it has one.
        rows = rows.exclude(scheduled_at__isnull=True, queue_position__isnull=False)
        if self.exclude_post_id is not None:
            rows = rows.exclude(post_id=self.exclude_post_id)
        if self.exclude_queued_of is not None:
            # The channel's queued targets not yet started are being placed (channel_queue_recompute).
            rows = rows.exclude(
                connection_id=self.exclude_queued_of,
                queue_position__isnull=False,
                status=Publication.Status.PENDING,
                first_attempt_at__isnull=True,
            )
        start, end = self.start_of(first), self.start_of(last + timedelta(days=1))
        rows = rows.annotate(counted_at=Coalesce("published_at", "scheduled_at", "post__scheduled_at")).filter(
            counted_at__gte=start, counted_at__lt=end
        )
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
            self.counts.setdefault(day, 0)
        for row in rows.values_list("status", "published_at", "scheduled_at", "post__scheduled_at"):
            status, published_at, scheduled_at, post_at = row
            at = published_at if status == Publication.Status.PUBLISHED else (scheduled_at or post_at)
            if at is not None and start <= at < end:
                self.counts[self.day_of(at)] = self.counts.get(self.day_of(at), 0) + 1

    def count(self, day: date) -> int:
        if day not in self.counts:
            self.load(day, day + timedelta(days=31))
        return self.counts[day]

    def fits(self, at: datetime) -> bool:
        return self.count(self.day_of(at)) < self.per_day

    def add(self, at: datetime) -> None:
        day = self.day_of(at)
        self.counts[day] = self.count(day) + 1

    def next_room(self, at: datetime) -> datetime | None:
        """The start of the first day after ``at``'s with room, within a year; None if none."""
        day = self.day_of(at)
        for _ in range(366):
            day += timedelta(days=1)
            if self.count(day) < self.per_day:
                return self.start_of(day)
        return None


def quota_room(connection: Connection, *, exclude_post_id: int | None = None, queued: bool = True) -> QuotaRoom | None:
    """The daily quota of ``connection``'s platform's app, where it has one (else None).
    ``queued=False``: the channel's queued targets are left out (the queue places them)."""
    try:
        declared = declaration_of(connection.platform)
    except UnknownPlatform:
        return None
    if declared.quota is None:
        return None
    return QuotaRoom(
        connection.platform, exclude_post_id=exclude_post_id, exclude_queued_of=None if queued else connection.pk
    )


# Units planrrr's publishing itself reads per post it may upload in a day, beside the upload (the
# session's status, the processing polls, a reconciliation's playlistItems.list): kept free of the
# analytics' reads.
PUBLISHING_READ_UNITS_PER_POST = 20
# "10,000 units per day combined for all other endpoints" beside videos.insert's own bucket
# (https://developers.google.com/youtube/v3/determine_quota_cost; docs/platforms/youtube.md).
OTHER_ENDPOINTS_UNITS = 10_000


def analytics_quota_units(platform: str) -> int | None:
    """Units of the platform app's daily quota (YouTube's project) that the analytics may spend in
    one of its days, across the installation, so that they never eat what publishing may need that
    day: every post the day may hold (``per_day``, however few are planned yet: a post may be made
    for today at any time) with its own reads, and, on a project where uploads draw on the same
    units (YOUTUBE_UPLOAD_COST_UNITS above 1, the older model), its uploads. None: the platform has
    no such quota."""
    try:
        quota = declaration_of(platform).quota
    except UnknownPlatform:
        return None
    if quota is None or quota.analytics_units is None:
        return None
    room = QuotaRoom(platform)
    publishing = room.per_day * PUBLISHING_READ_UNITS_PER_POST
    if room.cost > 1:
        pool, publishing = room.units, publishing + room.per_day * room.cost
    else:
        pool = OTHER_ENDPOINTS_UNITS
    return max(0, min(int(setting_value(quota.analytics_units)), pool - publishing))


def quota_problem(*, connection: Connection, at: datetime, exclude_post_id: int | None = None, zone=None) -> str | None:
    """Why one more post on ``connection``'s platform on ``at``'s day would exceed its app's daily
    quota across the installation, saying when the next day with room starts; None when it fits."""
    room = quota_room(connection, exclude_post_id=exclude_post_id)
    if room is None or room.fits(at):
        return None
    label = connection.get_platform_display()
    day = room.day_of(at)
    units, cost = room.names
    message = (
        f"{label} takes at most {room.per_day:,} posts a day from this planrrr installation (its app's daily quota: "
        f"{room.units:,} units, {room.cost:,} a post; {units} and {cost}), counted across every team and "
        f"channel, the day running from midnight to midnight {room.zone.key}; {day.isoformat()} already has "
        f"{room.count(day):,} published or scheduled."
    )
    later = room.next_room(at)
    if later is None:
        return message + " No day within a year has room: remove or move some posts."
    return (
        f"{message} The next day with room starts at {_local(later, room.zone)}, that is {_local(later, zone)}: pick "
        "that time or later."
    )
