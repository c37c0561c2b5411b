"""The analytics' sweep (PLANRRR_PERIODIC, every ANALYTICS_SWEEP_INTERVAL_SECONDS, one worker of the
fleet at a time): start tracking the posts published since the last sweep, then claim every
channel with figures due and enqueue one sync job for each, on the ``analytics`` queue, which the
workers take only when no publish or webhook job waits (docs/analytics.md, "Schedule").

A channel's claim (``ChannelSync.claimed_until``) is taken by one guarded ``UPDATE``: two sweeps
never enqueue two jobs for one channel, and a job Redis lost, or whose worker died, leaves a
claim that runs out, after which the next sweep enqueues it again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rq.job import Job, JobStatus

from analytics.models import ChannelSync
from planrrr import outages

logger = logging.getLogger("planrrr.analytics")

JOB = "analytics.jobs.channel_sync"
QUEUE = "analytics"
# Trackings started per sweep at most: a backlog (the first sweep after an upgrade) is taken in steps.
START_BATCH = 5_000
# How far back a post published before its tracking started is still taken (the schedule's end).
LOOKBACK = timedelta(days=90)
# Posts whose settle committed late (a long transaction) are still found: the window overlaps this.
OVERLAP = timedelta(hours=1)


def claim_seconds() -> int:
    """How long a claim holds: the job's timeout and a margin."""
    return int(settings.RQ_QUEUES[QUEUE]["DEFAULT_TIMEOUT"]) + 60


def trackings_start(*, now: datetime | None = None, since: datetime | None = None) -> int:
    """Track every publication PUBLISHED with an external id and an account since the newest one
    tracked (the last 90 days the first time: posts published before analytics existed are read
    too), or since ``since``, its first reading ANALYTICS_FIRST_SYNC_SECONDS after it was
    published. Returns how many (at most START_BATCH: call again for more)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        if since is None:
            cursor.execute("SELECT max(published_at) FROM analytics_tracking")
            newest = cursor.fetchone()[0]
            since = max(newest - OVERLAP, now - LOOKBACK) if newest else now - LOOKBACK
    # A publication (its post, its connection) deleted between this statement's reading and its
    # insert fails the insert's foreign key: the statement is run again, without it. Raised into
    # the periodic loop, it stopped every team's analytics for the failure's back-off (3 min).
    for tries_left in reversed(range(START_TRIES)):
        try:
            with transaction.atomic():
                return _trackings_insert(since)
        except IntegrityError:
            if not tries_left:
                raise
    return 0


# How many times trackings_start runs its statement when a row it read is deleted meanwhile.
START_TRIES = 3


def _trackings_insert(since: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO analytics_tracking (
                publication_id, team_id, connection_id, platform, external_id, published_at, next_sync_at,
                syncs, misses, raw, unavailable, error, part_ids, parts
            )
            SELECT p.id, post.team_id, p.connection_id, p.platform, p.external_id, p.published_at,
                   p.published_at + make_interval(secs => %(first)s), 0, 0, '{}', '{}', '',
                   CASE WHEN jsonb_typeof(p.metadata->'parts') = 'array' THEN (p.metadata->'parts') - 0
                        ELSE '[]'::jsonb END,
                   '[]'
              FROM publishing_publication p
              JOIN publishing_post post ON post.id = p.post_id
             WHERE p.status = 'PUBLISHED' AND p.published_at >= %(since)s AND p.external_id <> ''
               AND p.connection_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM analytics_tracking t WHERE t.publication_id = p.id)
             ORDER BY p.published_at
             LIMIT %(limit)s
            ON CONFLICT DO NOTHING
            """,
            {"first": settings.ANALYTICS_FIRST_SYNC_SECONDS, "since": since, "limit": START_BATCH},
        )
        return cursor.rowcount


def channels_claim(*, now: datetime | None = None) -> list[int]:
    """Claim the channels with figures due (a post's reading, or the account's own figures) that
    no job holds and that wait for nothing; returns their connection ids."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # Every active channel has its analytics row: its account figures are due at once.
        cursor.execute(
            """
            INSERT INTO analytics_channelsync (
                connection_id, next_account_sync_at, budget_used, status_detail, calls, backfill_cursor,
                backfill_found, backfill_detail
            )
            SELECT c.id, %(now)s, 0, '', 0, '', 0, '' FROM connections_connection c
             WHERE c.status = 'ACTIVE'
               AND NOT EXISTS (SELECT 1 FROM analytics_channelsync s WHERE s.connection_id = c.id)
            ON CONFLICT DO NOTHING
            """,
            {"now": now},
        )
        cursor.execute(
            """
            UPDATE analytics_channelsync s SET claimed_until = %(until)s
             WHERE (s.claimed_until IS NULL OR s.claimed_until < %(now)s)
               AND (s.waits_until IS NULL OR s.waits_until <= %(now)s)
               AND (s.next_account_sync_at <= %(now)s
                    OR s.backfill_done_at IS NULL
                    OR EXISTS (SELECT 1 FROM analytics_tracking t
                                WHERE t.connection_id = s.connection_id AND t.next_sync_at <= %(now)s)
                    OR EXISTS (SELECT 1 FROM analytics_externalpost e
                                WHERE e.connection_id = s.connection_id AND e.next_sync_at <= %(now)s))
            RETURNING s.connection_id
            """,
            {"now": now, "until": now + timedelta(seconds=claim_seconds())},
        )
        return sorted(connection_id for (connection_id,) in cursor.fetchall())


def analytics_sweep() -> list[int]:
    """Start tracking what was published, then enqueue a sync job per channel with figures due.
    Returns the channels enqueued."""
    started = trackings_start()
    claimed = channels_claim()
    if started or claimed:
        logger.info("analytics sweep: %s posts tracked, channels %s claimed", started, claimed)
    if claimed:
        # A Redis outage here leaves the claims to run out: the next sweep after them enqueues again.
        outages.after_commit(lambda: jobs_enqueue(claimed))
    return claimed


def jobs_enqueue(connection_ids: list[int]) -> None:
    """One job per channel, its id the channel's: a channel whose job still waits (workers that do
    not take the ``analytics`` queue, a long backlog) gets no second one, so the queue never grows
    past one job per channel; that job reads what is due and releases the claim.

    A channel whose job is still running gets no second one either, but its claim is released: a job
    releases its claim at its end, before RQ writes it finished, and this sweep (the worker's main
    thread, beside the job threads) can claim the channel in between. That job reads nothing more
    (what it left due, a post its backfill found last, waits for another job), so the claim would
    hold the channel with no job for claim_seconds(); released, the next sweep enqueues it."""
    queue = django_rq.get_queue(QUEUE)
    ids = [f"analytics-{connection_id}" for connection_id in connection_ids]
    statuses = {
        job.id: job.get_status(refresh=False)
        for job in Job.fetch_many(ids, connection=queue.connection)
        if job is not None
    }
    running = []
    for connection_id, job_id in zip(connection_ids, ids, strict=True):
        status = statuses.get(job_id)
        if status == JobStatus.STARTED:
            running.append(connection_id)
        elif status != JobStatus.QUEUED:
            queue.enqueue(JOB, connection_id=connection_id, job_id=job_id, result_ttl=0)
    if running:
        # This sweep's claims: no other sweep claims them meanwhile, and the running jobs have
        # released theirs already (or were lost past theirs).
        ChannelSync.objects.filter(connection_id__in=running).update(claimed_until=None)
