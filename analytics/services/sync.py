"""One channel's figures read from its platform: the job the sweep enqueues (docs/analytics.md).

A channel's analytics, as a table (state: who moves it, when; what is written):

    idle -> claimed      the sweep (channels_claim): figures due, no claim held, nothing waited
                         for; claimed_until
    claimed -> idle      this job, always at its end; claimed_until null, status_detail
    claimed -> idle      time: a job lost or its worker killed, the claim runs out; the next
                         sweep claims it again
    claimed -> idle      the sweep (jobs_enqueue), at once: the channel's last job released its
                         claim but RQ has not written it finished yet; no second job, the next
                         sweep claims and enqueues it
    -> waits             this job: the platform's 429 on these reads, a transient failure, the
                         budget spent; waits_until, and why in status_detail
    -> skipped           this job: the account not ACTIVE, or publishing rate-limited on it
                         (Connection.rate_limited_until); why in status_detail, the posts stay due

And each post (its Tracking):

    due -> read          returned by the platform: a Snapshot, the latest figures and the next
                         time; the first time, the post.analytics_available event
    due -> missed        not returned (deleted): misses + 1; the third in a row stops it
    due -> stopped       past the schedule's end, or the platform refuses (a LinkedIn member):
                         next_sync_at null, why in error
    due -> refused       the call for it failed for good: why in error, tried at its next time

Never a loop: each run reads at most the channel's budget of calls, and every post it reads, or
fails to read for good, gets its next time from the schedule. Publishing is never delayed: these
jobs are on the ``analytics`` queue, which the workers take last, the calls count against a budget
of their own well under the platform's limits (``metrics_budget``), and a 429 on them defers the
analytics only (``ChannelSync.waits_until``), never the account's publishing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import django_rq
import redis
from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from analytics.models import COLUMNS, ChannelDay, ChannelSync, ExternalPost, Snapshot, Tracking
from analytics.services import backfill
from analytics.services.quota import AppQuota, QuotaSpent, quota_room
from analytics.services.schedule import next_sync_at
from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.platforms import UnknownPlatform, get_adapter
from connections.platforms.base import Account, PermanentError, PlatformError, RateLimited, TokenExpired, TransientError
from connections.platforms.figures import FOLLOWERS, POST_NAMES, Figures
from connections.services import connection_expire, connection_refresh
from planrrr.text import clamp_wait, safe_text
from webhooks import services as webhooks

logger = logging.getLogger("planrrr.analytics")

# Calls one job makes at most (its slice, ANALYTICS_JOB_SECONDS, usually ends it first).
MAX_CALLS_PER_JOB = 25
# Readings in a row without the post before its tracking stops (a deleted post).
MAX_MISSES = 3
EVENT = "post.analytics_available"


@dataclass
class Budget:
    """The channel's calls left in its window (the adapter's ``metrics_budget``, times
    ANALYTICS_BUDGET_SHARE), kept on its ChannelSync row."""

    state: ChannelSync
    limit: int
    window: timedelta

    @classmethod
    def of(cls, state: ChannelSync, adapter: Any, now: datetime) -> Budget:
        calls, seconds = adapter.metrics_budget
        budget = cls(state, max(1, int(calls * settings.ANALYTICS_BUDGET_SHARE)), timedelta(seconds=seconds))
        if state.budget_window_start is None or now >= state.budget_window_start + budget.window:
            state.budget_window_start, state.budget_used = now, 0
        return budget

    @property
    def left(self) -> int:
        return max(0, self.limit - self.state.budget_used)

    def take(self) -> bool:
        if not self.left:
            return False
        self.state.budget_used += 1
        self.state.calls += 1
        return True

    @property
    def renews_at(self) -> datetime:
        return self.state.budget_window_start + self.window


def channel_sync(*, connection_id: int, now: datetime | None = None) -> ChannelSync | None:
    """Read the channel's due figures within its budget, then release its claim. Returns its state."""
    now = now or timezone.now()
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    state, _ = ChannelSync.objects.get_or_create(connection=connection)
    try:
        state.status_detail = _read(connection, state, now)
        state.last_synced_at = now
    except PlatformError as err:
        state.status_detail = _failed(connection, state, err, now)
    finally:
        state.claimed_until = None
        state.status_detail = safe_text(state.status_detail, limit=1000)
        state.save()
        logger.info(
            "analytics read channel=%s platform=%s calls=%s detail=%r",
            connection_id,
            connection.platform,
            state.budget_used,
            state.status_detail,
        )
    return state


def _read(connection: Connection, state: ChannelSync, now: datetime) -> str:
    """The channel's reading; returns what the team should know ("" when all went well)."""
    label = connection.get_platform_display()
    if connection.status != Connection.Status.ACTIVE:
        state.waits_until = now + timedelta(seconds=settings.ANALYTICS_RETRY_SECONDS)
        return (
            f"The {label} account is {connection.status.lower()}: figures are not read until it is reconnected "
            f"({connection.status_detail or 'reconnect it'}); they resume then."
        )
    if connection.rate_limited_until and connection.rate_limited_until > now:
        state.waits_until = connection.rate_limited_until
        until = _at(connection.rate_limited_until)
        return f"{label} asked planrrr to slow down on this account: figures wait until {until}."
    try:
        adapter = get_adapter(connection.platform)
    except UnknownPlatform:
        return f"planrrr knows no platform {connection.platform!r}."
    account = Account.of(connection)
    refused = adapter.metrics_refused(account)
    if refused:
        Tracking.objects.filter(connection=connection, next_sync_at__isnull=False).update(
            next_sync_at=None, error=refused
        )
        state.next_account_sync_at = None
        # Nothing to list either: its backfill ends here, or the channel would be claimed at every sweep
        # (saying why the platform lists none of this account's posts where it lists others': a LinkedIn member).
        if state.backfill_done_at is None:
            listing = None if adapter.backfill_absent else adapter.backfill_refused(account)
            state.backfill_done_at, state.backfill_detail = now, listing or refused
        return refused
    posts_refused = adapter.post_metrics_refused(account)
    if posts_refused:
        # The platform gives the account's figures but none per post (Google Business Profile).
        Tracking.objects.filter(connection=connection, next_sync_at__isnull=False).update(
            next_sync_at=None, error=posts_refused
        )
    budget = Budget.of(state, adapter, now)
    quota = quota_room(adapter, connection.platform, now)
    calls = _Caller(connection, adapter, quota)
    batch = max(1, adapter.metrics_batch)
    # A slice of a worker's time, ended early when publishing has work waiting: a worker in an
    # analytics job runs no publish job and no dispatch of due posts (the periodic work runs
    # between jobs), so publishing waits at most one slice, usually one platform call. What is
    # left stays due and is read at the next sweep.
    reader = _Reader(adapter, calls, budget, ends=time.monotonic() + settings.ANALYTICS_JOB_SECONDS)
    used_before = state.budget_used
    # At most what one job reads in its slice: a backlog is read a job at a time, not loaded whole.
    calls_now = min(budget.left, MAX_CALLS_PER_JOB)
    due = list(
        Tracking.objects.filter(connection=connection, next_sync_at__lte=now).order_by("next_sync_at")[
            : calls_now * batch
        ]
    )
    # A thread's parts are read with it where the platform counts them apart (X, Bluesky, Mastodon, Threads).
    parts = adapter.metrics_parts
    reader.read(
        due,
        ids_of=lambda tracking: [tracking.external_id, *(tracking.part_ids if parts else [])],
        record=lambda group, found: _record(group, found, now, label=label, parts=parts),
        give_up=lambda group, err: _give_up(group, err, now),
    )
    read_any = state.budget_used > used_before
    slice_left = not read_any or (time.monotonic() <= reader.ends and not publishing_waits())
    account_due = state.next_account_sync_at is None or state.next_account_sync_at <= now
    if account_due and slice_left and budget.take():
        reader.made += 1
        _record_account(connection, calls(adapter.account_metrics), now)
        state.next_account_sync_at = now + timedelta(seconds=settings.ANALYTICS_ACCOUNT_SYNC_SECONDS)
    # Last, the account's posts made outside planrrr: listed (the backfill; at once done, saying
    # why, where the network lists none or gives no post figures), then read as they are due, in
    # what is left of the slice and the budget.
    backfill.backfill_step(connection=connection, state=state, adapter=adapter, reader=reader, calls=calls, now=now)
    if not posts_refused:
        backfill.externals_read(
            connection=connection, reader=reader, now=now, label=label, limit=MAX_CALLS_PER_JOB * batch
        )
    still_due = (
        Tracking.objects.filter(connection=connection, next_sync_at__lte=now).exists()
        or ExternalPost.objects.filter(connection=connection, next_sync_at__lte=now).exists()
        or state.backfill_done_at is None
    )
    if still_due and not budget.left:
        state.waits_until = budget.renews_at
        return (
            f"The budget of {budget.limit} calls per {_span(budget.window)} for {label} figures is spent: "
            f"the rest are read from {_at(budget.renews_at)}."
        )
    state.waits_until = None
    return ""


class _Reader:
    """Reads rows' figures a batch of ids at a time (``metrics_batch``), each call taken from the
    budget, within the job's slice: the first call always, the others while the slice lasts and no
    publish job waits. A row whose ids take several calls (a long thread where the platform reads one
    post a call) is recorded once all of them are read; one left half-read stays due."""

    def __init__(self, adapter: Any, calls: _Caller, budget: Budget, *, ends: float):
        self.adapter, self.calls, self.budget, self.ends = adapter, calls, budget, ends
        self.batch = max(1, adapter.metrics_batch)
        self.made = 0

    def may_call(self) -> bool:
        """Whether one more call fits (and its budget is taken): every job makes one call at least,
        however slow the database was before it (a backlog always moves); the others while the
        slice lasts and no publish job waits."""
        if self.made and (self.made >= MAX_CALLS_PER_JOB or time.monotonic() > self.ends or publishing_waits()):
            return False
        if not self.budget.take():
            return False
        self.made += 1
        return True

    def slice_left(self) -> bool:
        return not self.made or (time.monotonic() <= self.ends and not publishing_waits())

    def read(self, rows: list, *, ids_of: Callable, record: Callable, give_up: Callable) -> bool:
        """Returns False when the slice or the budget ended it before every row was read."""
        for group in self.groups(rows, ids_of):
            ids = [i for row in group for i in ids_of(row)]
            found: dict[str, Figures] = {}
            try:
                for start in range(0, len(ids), self.batch):
                    if not self.may_call():
                        return False
                    found.update(self.calls(self.adapter.post_metrics, ids[start : start + self.batch]))
            except PermanentError as err:
                give_up(group, err)
                continue
            record(group, found)
        return True

    def groups(self, rows: list, ids_of: Callable) -> list[list]:
        """Rows together while their ids fit in one call."""
        groups: list[list] = []
        size = 0
        for row in rows:
            count = len(ids_of(row))
            if not groups or size + count > self.batch:
                groups.append([])
                size = 0
            groups[-1].append(row)
            size += count
        return groups


class _Caller:
    """Calls an adapter's method for the account; a refused token is renewed once (where the
    platform renews tokens: a Bluesky session lasts 2 hours) and the call made again, as the
    publish path does."""

    def __init__(self, connection: Connection, adapter: Any, quota: AppQuota | None = None):
        self.connection, self.adapter, self.quota = connection, adapter, quota

    def __call__(self, method: Callable, *args: Any, **kwargs: Any) -> Any:
        if self.quota is not None:
            # The app's daily quota, across the installation (YouTube): spent before the call.
            self.quota.take()
        account = Account.of(self.connection)
        try:
            return method(account, *args, **kwargs)
        except TokenExpired:
            if not self.connection.refreshable:
                raise
            try:
                renewed = connection_refresh(connection_id=self.connection.pk, rejected_token=account.access_token)
            except OAuthFailure as err:
                if err.grant_dead:
                    raise TokenExpired(err.message) from None
                raise TransientError(f"Renewing the token failed: {err.message}") from None
            if renewed.access_token == account.access_token:
                raise
            self.connection = renewed
            return method(Account.of(renewed), *args, **kwargs)


def publishing_waits() -> bool:
    """Whether a publish job waits in its queue (one LLEN); a Redis error says no: the job goes on."""
    try:
        return django_rq.get_queue("default").count > 0
    except redis.RedisError:
        return False


def _failed(connection: Connection, state: ChannelSync, err: PlatformError, now: datetime) -> str:
    label = connection.get_platform_display()
    if isinstance(err, QuotaSpent):
        state.waits_until = err.retry_at
        return err.message
    if isinstance(err, RateLimited):
        state.waits_until = clamp_wait(err.retry_at, what=f"{label} analytics rate limit", now=now)
        until = _at(state.waits_until)
        return f"{label} rate-limited the figures' reads: they are read again from {until} ({err.message})."
    if isinstance(err, TokenExpired):
        # The token is dead for publishing too: the connection expires as the publish path does it.
        connection_expire(connection_id=connection.pk, reason=err.message)
        return f"The {label} token was refused: reconnect the account; figures resume then ({err.message})."
    state.waits_until = now + timedelta(seconds=settings.ANALYTICS_RETRY_SECONDS)
    return f"Reading {label} figures failed for now; tried again from {_at(state.waits_until)} ({err.message})."


def _give_up(chunk: list[Tracking], err: PlatformError, now: datetime) -> None:
    """The platform refused to give these posts' figures: tried again at their next time."""
    for tracking in chunk:
        tracking.error = safe_text(err.message, limit=1000)
        tracking.next_sync_at = next_sync_at(published_at=tracking.published_at, after=now)
    Tracking.objects.bulk_update(chunk, ["error", "next_sync_at"])


def thread_figures(tracking: Tracking, found: dict[str, Figures], first: Figures) -> Figures:
    """A thread's figures: each common name the sum over its parts that gave it (the post and every
    reply the platform returned); ``tracking.parts`` set to each part's. The platform's own names
    are summed alike; what the first post lacks stays unavailable."""
    total = Figures(unavailable=dict(first.unavailable))
    tracking.parts = []
    for index, part_id in enumerate([tracking.external_id, *tracking.part_ids]):
        figures = first if index == 0 else found.get(part_id)
        part: dict[str, Any] = {"externalId": part_id, **{name: None for name in COLUMNS}, "unavailable": []}
        if figures is None:
            part["error"] = "Not returned at the last reading (deleted?)."
        else:
            part.update({name: figures.values.get(name) for name in COLUMNS}, unavailable=sorted(figures.unavailable))
            for name, value in figures.values.items():
                total.values[name] = total.values.get(name, 0) + value
            for name, value in figures.raw.items():
                total.raw[name] = total.raw.get(name, 0) + value
        tracking.parts.append(part)
    for name in total.values:
        total.unavailable.pop(name, None)
    return total


def _record(
    chunk: list[Tracking], found: dict[str, Figures], now: datetime, *, label: str, parts: bool = False
) -> None:
    """Each post's reading: a snapshot, its tracking's latest figures and next time; a post the
    platform did not return counts a miss. The first reading of a post records its event. With
    ``parts``, a thread's figures are its parts' sum, each part's kept on the tracking."""
    snapshots, firsts = [], []
    for tracking in chunk:
        figures = found.get(tracking.external_id)
        if figures is not None and parts and tracking.part_ids:
            figures = thread_figures(tracking, found, figures)
        if figures is None:
            tracking.misses += 1
            if tracking.misses >= MAX_MISSES:
                tracking.next_sync_at = None
                tracking.error = (
                    f"{label} no longer returns this post (deleted?): its figures stop at the last reading."
                )
            else:
                tracking.next_sync_at = next_sync_at(published_at=tracking.published_at, after=now)
                tracking.error = f"{label} did not return this post at the last reading."
            continue
        if not figures.values and not figures.raw and all(name in figures.unavailable for name in POST_NAMES):
            # The platform gives nothing for this post, saying why (TikTok's private video): no reading.
            tracking.next_sync_at = None
            tracking.error = safe_text(figures.unavailable[POST_NAMES[0]], limit=1000)
            continue
        if tracking.first_captured_at is None:
            tracking.first_captured_at = now
            firsts.append(tracking)
        for name, column in COLUMNS.items():
            setattr(tracking, column, figures.values.get(name))
        tracking.raw, tracking.unavailable = figures.raw, figures.unavailable
        tracking.captured_at, tracking.syncs, tracking.misses, tracking.error = now, tracking.syncs + 1, 0, ""
        tracking.next_sync_at = next_sync_at(published_at=tracking.published_at, after=now)
        snapshots.append(
            Snapshot(
                publication_id=tracking.publication_id,
                captured_at=now,
                team_id=tracking.team_id,
                raw=figures.raw,
                unavailable=sorted(figures.unavailable),
                **{column: figures.values.get(name) for name, column in COLUMNS.items()},
            )
        )
    with transaction.atomic():
        Snapshot.objects.bulk_create(snapshots, ignore_conflicts=True)
        _trackings_write(chunk)
        for tracking in firsts:
            webhooks.event_record(team_id=tracking.team_id, event=EVENT, data=event_data(tracking))


# Every column a reading writes on its tracking, with its SQL type: one UPDATE ... FROM unnest(...)
# for the whole batch (Django's bulk_update writes a CASE per column and row: 100 rows, 16 columns,
# a statement of 1,600 branches).
TRACKING_COLUMNS = {
    "misses": "smallint",
    "next_sync_at": "timestamptz",
    "error": "text",
    "first_captured_at": "timestamptz",
    "captured_at": "timestamptz",
    "syncs": "integer",
    "raw": "jsonb",
    "unavailable": "jsonb",
    "parts": "jsonb",
    **dict.fromkeys(COLUMNS.values(), "bigint"),
}


def _trackings_write(trackings: list[Tracking]) -> None:
    names = list(TRACKING_COLUMNS)
    columns = {name: [getattr(t, name) for t in trackings] for name in names}
    for name in ("raw", "unavailable", "parts"):
        columns[name] = [json.dumps(value) for value in columns[name]]
    arrays = ", ".join(
        f"%({name})s::{'text' if kind == 'jsonb' else kind}[]" for name, kind in TRACKING_COLUMNS.items()
    )
    assignments = ", ".join(
        f"{name} = v.{name}::jsonb" if kind == "jsonb" else f"{name} = v.{name}"
        for name, kind in TRACKING_COLUMNS.items()
    )
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE analytics_tracking t SET {assignments} "
            f"FROM unnest(%(ids)s::bigint[], {arrays}) AS v(publication_id, {', '.join(names)}) "
            "WHERE t.publication_id = v.publication_id",
            {"ids": [t.publication_id for t in trackings], **columns},
        )


def event_data(tracking: Tracking) -> dict[str, Any]:
    """``post.analytics_available``'s data (docs/webhooks.md)."""
    publication = tracking.publication
    connection = tracking.connection
    return {
        "postId": publication.post_id,
        "publicationId": publication.pk,
        "platform": tracking.platform,
        "channelId": tracking.connection_id,
        "channelName": connection.name if connection else None,
        "externalId": tracking.external_id,
        "capturedAt": tracking.captured_at,
        "nextSyncAt": tracking.next_sync_at,
        "figures": {name: getattr(tracking, column) for name, column in COLUMNS.items()},
        "unavailable": sorted(tracking.unavailable),
    }


def _record_account(connection: Connection, figures: Figures, now: datetime) -> None:
    ChannelDay.objects.update_or_create(
        connection=connection,
        day=now.date(),
        defaults={
            "captured_at": now,
            "followers": figures.values.get(FOLLOWERS),
            "raw": figures.raw,
            "unavailable": figures.unavailable,
        },
    )


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"
