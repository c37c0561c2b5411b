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
from django.db import connection, transaction
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
    past one job per channel."""
    queue = django_rq.get_queue(QUEUE)
    ids = [f"analytics-{connection_id}" for connection_id in connection_ids]
    status = {job.id: job.get_status(refresh=False) for job in Job.fetch_many(ids, connection=queue.connection) if job}
    for connection_id, job_id in zip(connection_ids, ids, strict=True):
        if status.get(job_id) not in (JobStatus.QUEUED, JobStatus.STARTED):
            queue.enqueue(JOB, connection_id=connection_id, job_id=job_id, result_ttl=0)
    # A job still started may already have let its claim go (its last statement) before RQ marks it
    # finished: the claim just taken would then hold with no job to end it, and the channel go
    # unread until it ran out. It is let go: the next sweep enqueues the channel once the job is
    # done. (A queued job ends the claim itself when it runs.)
    running = [cid for cid, job_id in zip(connection_ids, ids, strict=True) if status.get(job_id) == JobStatus.STARTED]
    if running:
        ChannelSync.objects.filter(connection_id__in=running).update(claimed_until=None)
