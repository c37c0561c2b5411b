"""The safety net: the database is the truth, Redis only holds work that can be rebuilt.

The workers run ``due_posts_dispatch()`` every DISPATCH_INTERVAL_SECONDS and ``sweep()`` every
SWEEP_INTERVAL_SECONDS (planrrr.rq.Worker, PLANRRR_PERIODIC). The first starts the posts that
are due (however they were written: the database is the truth); the second finds

* publications stuck in PUBLISHING past their lease (the worker died mid-attempt): they go
  back to PENDING with ``outcome_unknown`` so the next attempt asks the platform first;
* PENDING publications whose job is gone from Redis (flushed, restarted, failed for
  good by RQ) or overdue (no scheduler running): enqueued again;
* posts whose publications are all final but whose status was never derived (a crash
  between the two writes).
"""

import logging
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone
from rq.job import Job, JobStatus
from rq.worker import Worker

from planrrr import sql
from planrrr.db import connection_release
from publishing import metadata as keys
from publishing import rules, services
from publishing.models import DURATION_BUCKETS, LAG_BUCKETS, JobMetric, JobMetricRollup, Post, Publication

logger = logging.getLogger("planrrr.sweep")

BATCH = 500
# A job still SCHEDULED long after its time has no scheduler to run it (the one holding
# RQ's scheduler lock died): it counts as lost, like a job Redis forgot.
LIVE_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED}
# How long a job may say QUEUED while in no queue (popped by a worker that has not yet marked it
# started) before the sweep counts it lost (_limbo_past_grace), and where it notes when it saw it.
LIMBO_GRACE_SECONDS = 15
LIMBO_KEY = "planrrr:sweep:limbo:"


def sweep() -> None:
    now = timezone.now()
    due_media_stage(now)
    expired_leases_recover(now)
    lost_jobs_requeue(now)
    services.first_comments_requeue(now)
    settled_posts_finalize()


DISPATCH_BATCH = 500


def due_posts_dispatch() -> int:
    """Start the posts due by now, and one due before the next run at its time: the first post
    due within DISPATCH_INTERVAL_SECONDS is waited for (at most that long) and started then, not
    up to an interval late (a 9 o'clock burst starts at 9:00:00.0, not at the next round, on
    average half an interval later). One indexed query when none is due that soon."""
    now = timezone.now()
    soonest = (
        Post.objects.filter(
            status=Post.Status.SCHEDULED,
            scheduled_at__lte=now + timedelta(seconds=settings.DISPATCH_INTERVAL_SECONDS),
        )
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )
    if soonest is None:
        return 0
    wait = (soonest - timezone.now()).total_seconds()
    if wait > 0:
        connection_release()  # the process's job threads may need it meanwhile
        time.sleep(min(wait, settings.DISPATCH_INTERVAL_SECONDS))
    return services.due_posts_dispatch(batch=DISPATCH_BATCH, most=BATCH)


# The window's posts with media are found first, on their own (MATERIALIZED), then their publications
# not staged: the query as one join was planned, during a burst, as a loop over the thousands of
# PENDING publications that evaluated the window's media test for each, seconds of PostgreSQL's
# CPU a sweep (docs/performance.md).
_UNSTAGED_SQL = f"""
    WITH window_posts AS MATERIALIZED (
        SELECT id FROM {Post._meta.db_table}
         WHERE status = %(scheduled)s AND scheduled_at > %(now)s AND scheduled_at <= %(until)s
           AND {rules.HAS_MEDIA_SQL}
    )
    SELECT DISTINCT publication.post_id
      FROM {Publication._meta.db_table} AS publication
      JOIN window_posts ON window_posts.id = publication.post_id
     WHERE publication.status = %(pending)s
       AND NOT (publication.metadata ? %(staged)s) AND NOT (publication.metadata ? %(failed)s)
     LIMIT %(batch)s
"""


def due_media_stage(now) -> int:
    """Scheduled posts with media inside the staging window whose staging job is missing."""
    lead = settings.MEDIA_STAGING_LEAD_SECONDS
    if not lead:
        return 0
    rows = sql.execute(
        Post,
        _UNSTAGED_SQL,
        {
            "scheduled": Post.Status.SCHEDULED,
            "now": now,
            "until": now + timedelta(seconds=lead),
            "pending": Publication.Status.PENDING,
            "staged": keys.STAGED_AT,
            "failed": keys.STAGING_ERROR,
            "batch": BATCH,
        },
        # A window of times over the posts: planned for its values each time, not prepared.
        by_key=False,
    )
    posts = list(Post.objects.filter(pk__in=[post_id for (post_id,) in rows]))
    if not posts:
        return 0
    connection = django_rq.get_connection("default")
    jobs = Job.fetch_many([services.stage_job_id(post) for post in posts], connection=connection)
    queue = django_rq.get_queue("default", commit_mode="auto")
    enqueued = 0
    for post, job in zip(posts, jobs, strict=True):
        if job is not None and job.get_status(refresh=False) in LIVE_JOB_STATUSES | {JobStatus.SCHEDULED}:
            continue
        queue.enqueue(
            "publishing.jobs.post_stage",
            post.pk,
            job_id=services.stage_job_id(post),
            job_timeout=settings.PUBLISH_JOB_TIMEOUT,
        )
        enqueued += 1
    return enqueued


def expired_leases_recover(now) -> int:
    """PUBLISHING past the lease: the attempt died (or its outcome could not be written). It
    ends through the one settle path: it counts, and the next attempt asks the platform first."""
    stuck = Publication.objects.select_related("post", "connection").filter(
        status=Publication.Status.PUBLISHING, lease_expires_at__lt=now
    )
    recovered = 0
    for publication in stuck[:BATCH]:
        services.publication_recover(publication=publication)
        recovered += 1
    return recovered


def lost_jobs_requeue(now) -> int:
    """PENDING publications of a publishing post with no live job in Redis."""
    cutoff = now - timedelta(seconds=settings.SWEEP_REQUEUE_AFTER_SECONDS)
    candidates = list(
        Publication.objects.filter(status=Publication.Status.PENDING, post__status=Post.Status.PUBLISHING)
        # Held in a paused queue: no job until it resumes.
        .exclude(queue_position__isnull=False, scheduled_at__isnull=True)
        .annotate(waiting_since=Greatest("enqueued_at", "next_attempt_at"))
        .filter(Q(waiting_since__lt=cutoff) | Q(waiting_since__isnull=True))
        .select_related("post")
        .only(
            "pk",
            "job_id",
            "post_id",
            "platform",
            "connection_id",
            "scheduled_at",
            "queue_position",
            "post__scheduled_at",
        )[:BATCH]
    )
    if not candidates:
        return 0
    queue = django_rq.get_queue("default")
    # The queue's ids read once for the batch (during a burst, every candidate is QUEUED in a
    # queue thousands long, and a position asked job by job reads the whole list each time), and
    # before the jobs: a job the workers take in between is then in the list and no longer QUEUED,
    # never QUEUED and missing from a list read after it was taken (enqueued a second time).
    queued = set(queue.get_job_ids())
    jobs = Job.fetch_many([p.job_id or "-" for p in candidates], connection=queue.connection)
    workers = _workers(jobs, queue.connection)
    requeued, limbo = [], []
    for publication, job in zip(candidates, jobs, strict=True):
        if job is None:
            requeued.append(publication)
        elif job.get_status(refresh=False) == JobStatus.QUEUED and job.id not in queued:
            limbo.append(publication)
        elif not _alive(job, queued, workers):
            requeued.append(publication)
    requeued += _limbo_past_grace(limbo, now, queue.connection)
    if requeued:
        # All at once (one UPDATE, one Redis round trip): after Redis lost its jobs, that is
        # every waiting publication, and the burst resumes as soon as they are back in the queue.
        with transaction.atomic():
            requeued = _unchanged(requeued)
            if requeued:
                services.publications_enqueue(publications=requeued)
    if requeued:
        # One line a sweep: after Redis lost its data, that is every waiting publication at once.
        logger.warning(
            "%d publications whose job was lost enqueued again: %s",
            len(requeued),
            _some([p.pk for p in requeued]),
            extra={"requeued": len(requeued)},
        )
    return len(requeued)


def _some(ids: list[int], shown: int = 10) -> str:
    """``ids`` for a log line: the first ``shown``, then how many more."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(map(str, ids[:shown])) + more


def _unchanged(publications: list[Publication]) -> list[Publication]:
    """Those of ``publications`` still PENDING on the job the sweep found lost, their rows locked
    until the caller's transaction ends. The candidates were read before Redis was: meanwhile an
    attempt may have settled one (PUBLISHED, or a retry on a job of its own) and its old job ended,
    and during a burst, with the sweep waiting on the workers' CPU between the two reads, that
    was a few publications a sweep enqueued a second time (a job that then claimed nothing, or
    ran a retry before its time). A row being claimed now (locked) is an attempt alive."""
    still = set(
        Publication.objects.select_for_update(skip_locked=True)
        .filter(pk__in=[p.pk for p in publications], status=Publication.Status.PENDING)
        .values_list("pk", "job_id")
    )
    return [p for p in publications if (p.pk, p.job_id) in still]


def _limbo_past_grace(publications: list[Publication], now, connection) -> list[Publication]:
    """Of the publications whose job says QUEUED but is in no queue, those seen so for
    LIMBO_GRACE_SECONDS. A worker listening on several queues pops a job in one step (no
    intermediate list to recover it from) and marks it started a moment later: killed in
    between, it leaves the job in that state for good; alive, a moment is all it takes, but 96
    job threads waiting for two cores during a burst of 30,000 made it long enough for sweeps
    to see a dozen of them and enqueue them a second time. When each was first seen is kept in
    Redis (``planrrr:sweep:limbo:<job id>``), for a day."""
    if not publications:
        return []
    keys = [f"{LIMBO_KEY}{p.job_id}" for p in publications]
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, now.timestamp(), nx=True, ex=24 * 3600)
        for key in keys:
            pipe.get(key)
        seen = pipe.execute()[len(keys) :]
    past = []
    for publication, since in zip(publications, seen, strict=True):
        try:
            first = float(since)
        except (TypeError, ValueError):
            continue  # Redis lost it meanwhile: seen from now on
        if now.timestamp() - first >= LIMBO_GRACE_SECONDS:
            past.append(publication)
    return past


def _alive(job: Job, queued: set[str], workers: set[str]) -> bool:
    """``queued``: the ids in the job's queue; ``workers``: the names of the workers registered."""
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # A worker listening on several queues pops a job in one step (no intermediate list
        # to recover it from): killed right after, it leaves the job QUEUED but in no queue.
        return job.id in queued
    if status == JobStatus.STARTED and job.worker_name and job.worker_name not in workers:
        # Its worker is gone (a killed process's workers are unregistered by its pool at once;
        # RQ itself finds the job abandoned only once its timeout has passed). The publication it
        # was attempting is its lease's; those of a job of several it had not reached yet, here.
        return False
    return status in LIVE_JOB_STATUSES


def _workers(jobs: list[Job | None], connection) -> set[str]:
    """The names of the registered workers, read only if one of ``jobs`` is started."""
    if not any(job is not None and job.get_status(refresh=False) == JobStatus.STARTED for job in jobs):
        return set()
    prefix = Worker.redis_worker_namespace_prefix
    return {key.removeprefix(prefix) for key in Worker.all_keys(connection=connection)}


def settled_posts_finalize() -> int:
    open_statuses = [Publication.Status.PENDING, Publication.Status.PUBLISHING]
    settled = Post.objects.filter(status=Post.Status.PUBLISHING).exclude(publications__status__in=open_statuses)
    count = 0
    for post_id in settled.values_list("pk", flat=True)[:BATCH]:
        if services.post_finalize(post_id=post_id):
            count += 1
    return count


def job_metrics_rollup(now=None, *, hours: int = 24) -> int:
    """Sum the JobMetric rows older than METRICS_RAW_RETENTION_HOURS into JobMetricRollup, an
    hour at a time (at most ``hours`` hours a run, oldest first), and delete them; each hour in
    one transaction, so a counter never counts a job twice or not at all. Returns the rows
    rolled up."""
    now = now or timezone.now()
    cutoff = (now - timedelta(hours=settings.METRICS_RAW_RETENTION_HOURS)).replace(minute=0, second=0, microsecond=0)
    rolled = 0
    for _ in range(hours):
        oldest = JobMetric.objects.filter(created_at__lt=cutoff).order_by("created_at").values("created_at").first()
        if oldest is None:
            break
        hour = oldest["created_at"].replace(minute=0, second=0, microsecond=0)
        with transaction.atomic():
            rows = JobMetric.objects.filter(created_at__gte=hour, created_at__lt=min(hour + timedelta(hours=1), cutoff))
            for group in rows.values("kind", "platform", "outcome").annotate(**_rollup_sums()).order_by():
                _rollup_add(hour, group)
            rolled += rows.delete()[0]
    return rolled


def _rollup_sums() -> dict:
    return {
        "jobs": Count("pk"),
        "duration_ms_sum": Sum("duration_ms"),
        "duration_ms_max": Max("duration_ms"),
        "lag_count": Count("lag_ms"),
        "lag_ms_sum": Sum("lag_ms", default=0.0),
        "lag_ms_max": Max("lag_ms"),
        "peak_rss_bytes": Max("peak_rss_bytes"),
        **{f"d{i}": Count("pk", filter=Q(duration_ms__lte=b * 1000)) for i, b in enumerate(DURATION_BUCKETS)},
        **{f"l{i}": Count("pk", filter=Q(lag_ms__lte=b * 1000)) for i, b in enumerate(LAG_BUCKETS)},
    }


def _rollup_add(hour, group: dict) -> None:
    """Add one group's sums to its hour's rollup row (made if it is the first)."""
    duration_buckets = [group.pop(f"d{i}") for i in range(len(DURATION_BUCKETS))]
    lag_buckets = [group.pop(f"l{i}") for i in range(len(LAG_BUCKETS))]
    key = {name: group.pop(name) for name in ("kind", "platform", "outcome")}
    rollup = JobMetricRollup.objects.select_for_update().filter(hour=hour, **key).first()
    if rollup is None:
        JobMetricRollup.objects.create(
            hour=hour, **key, **group, duration_buckets=duration_buckets, lag_buckets=lag_buckets
        )
        return
    rollup.jobs += group["jobs"]
    rollup.duration_ms_sum += group["duration_ms_sum"]
    rollup.duration_ms_max = max(rollup.duration_ms_max, group["duration_ms_max"])
    rollup.lag_count += group["lag_count"]
    rollup.lag_ms_sum += group["lag_ms_sum"]
    rollup.lag_ms_max = max((v for v in (rollup.lag_ms_max, group["lag_ms_max"]) if v is not None), default=None)
    rollup.peak_rss_bytes = max(rollup.peak_rss_bytes, group["peak_rss_bytes"])
    rollup.duration_buckets = [a + b for a, b in zip(rollup.duration_buckets, duration_buckets, strict=True)]
    rollup.lag_buckets = [a + b for a, b in zip(rollup.lag_buckets, lag_buckets, strict=True)]
    rollup.save()
