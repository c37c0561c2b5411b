"""Due posts start publishing: SCHEDULED -> PUBLISHING, an RQ job per pending publication (up to
PUBLISH_BATCH_SIZE of one account due together to a job), at the target's own time (a post starts
when its earliest target is due; docs/posts.md, "Queues").

Due posts are found in the database (``due_posts_dispatch``, run by the workers every
DISPATCH_INTERVAL_SECONDS, and at once for a post created already due) and dispatched in
batches: a thousand posts due at 9:00 are a few queries and one Redis pipeline per five hundred,
not a thousand jobs. Jobs are enqueued by dotted path (``JOB``), so services and jobs never
import each other.

One bad row fails alone: a batch is first tried whole (the fast path: no savepoint); if
anything in it raises, the batch is rolled back and done again post by post, each in its own
savepoint, and the post that raises ends FAILED with the reason on it while the rest go out
on time.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

import django_rq
import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from rq import Queue

from connections.models import Connection
from planrrr import outages, sql, threaded
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.rules.targets import active_accounts, row_targets
from publishing.services import signals
from publishing.services.finalize import post_fail, post_finalize

logger = logging.getLogger("planrrr.publishing")
# PostgreSQL or Redis unreachable: every post of a batch would fail alike.
UNREACHABLE = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)

JOB = "publishing.jobs.publication_publish"
BATCH_JOB = "publishing.jobs.publications_publish"
COMMENT_JOB = "publishing.jobs.publication_first_comment"


def posts_dispatch(*, post_ids: list[int] | None = None, limit: int = 500) -> int:
    """Start publishing the due posts (all, or those of ``post_ids``; at most ``limit``).
    Returns the number of publications enqueued. Never before ``scheduled_at``; posts another
    dispatcher holds are skipped (SKIP LOCKED)."""
    return _posts_dispatch(post_ids=post_ids, limit=limit)[1]


def due_posts_dispatch(*, batch: int = 500, most: int = 500, first: int = 10) -> int:
    """Start every post due now, in batches (each committed, and its jobs enqueued, before the
    next is read: in a burst the first posts are on their way while later ones are still being
    dispatched), up to ``most`` posts a call. The first batch is ``first`` posts, the next ones
    ``batch``: the first jobs of a burst reach the workers after a batch of ten, and the rest go in
    as few rounds as can be. Once the burst runs, each statement of a round waits for the
    interpreter behind the job threads of its process: six rounds growing from ten to a hundred
    posts took 0.53 s to queue a burst of 300 posts, two rounds take 0.12 s (docs/performance.md,
    "Handing back only to a CPU with room, and the dispatch in two rounds"). Returns the
    publications enqueued."""
    enqueued = taken_total = 0
    size = max(1, min(first, batch))
    while taken_total < most:
        limit = min(size, most - taken_total)
        taken, count = _posts_dispatch(post_ids=None, limit=limit)
        enqueued += count
        taken_total += taken
        if taken < limit or outages.redis().ongoing:
            # Redis could not take this batch's jobs (the sweep enqueues them once it is back):
            # the posts not taken yet wait, SCHEDULED, for the dispatch after the outage.
            break
        size = batch
    return enqueued


def _posts_dispatch(*, post_ids: list[int] | None, limit: int) -> tuple[int, int]:
    """(posts taken, publications enqueued)."""
    try:
        return _posts_dispatch_batch(post_ids=post_ids, limit=limit, one_by_one=False)
    except UNREACHABLE:
        raise  # not one bad post: the worker logs the outage once (planrrr.outages)
    except Exception:
        # Something in the batch raised and rolled the whole batch back: do it again post by
        # post, so that the post that raises fails alone and the others go out now.
        logger.exception("dispatch: a batch failed; starting its posts one by one")
        return _posts_dispatch_batch(post_ids=post_ids, limit=limit, one_by_one=True)


def _posts_dispatch_batch(*, post_ids: list[int] | None, limit: int, one_by_one: bool) -> tuple[int, int]:
    now = timezone.now()
    due = Post.objects.filter(status=Post.Status.SCHEDULED, scheduled_at__lte=now)
    if post_ids is not None:
        due = due.filter(pk__in=post_ids)
    failed: list[tuple[Post, str]] = []
    with transaction.atomic():
        posts = list(due.select_for_update(skip_locked=True).only(*POST_FIELDS).order_by("scheduled_at")[:limit])
        if not posts:
            return 0, 0
        if not one_by_one:
            pending, open_posts = _start(posts, now)
        else:
            pending, open_posts = [], set()
            for post in posts:
                try:
                    with transaction.atomic():
                        one_pending, one_open = _start([post], now)
                except Exception as err:
                    logger.exception("dispatch: post %s could not be started", post.pk)
                    failed.append((post, f"Could not start publishing this post: {err.__class__.__name__}: {err}"))
                    continue
                pending += one_pending
                open_posts |= one_open
        publications_enqueue(publications=pending)
    failed_ids = {post.pk for post, _ in failed}
    for post, reason in failed:
        post_fail(post=post, reason=reason)
    for post in posts:
        if post.pk not in open_posts and post.pk not in failed_ids:
            post_finalize(post_id=post.pk)  # nothing to publish: every publication failed at the door
    return len(posts), len(pending)


# What the dispatch reads of a due post and of its publications (the rest, a post's text and media,
# a publication's outcome, is read by its attempt): a burst's rows are built in a worker's main
# thread while its job threads run, half the time with every column.
POST_FIELDS = ("id", "team_id", "status", "platforms", "channels", "scheduled_at", "updated_at")
PUBLICATION_FIELDS = (
    "id",
    "post_id",
    "platform",
    "connection_id",
    "status",
    "scheduled_at",
    "queue_position",
    "job_id",
    "enqueued_at",
    "next_attempt_at",
)


def _start(posts: list[Post], now: datetime) -> tuple[list[Publication], set[int]]:
    """Mark ``posts`` PUBLISHING (those whose row cannot have publications FAILED, with the
    reason), give each the publications it lacks, and return (pending publications, ids of
    posts with a publication still open)."""
    good = []
    for post in posts:
        # A post with channels may name no platform (a row written by SQL): its channels say.
        problem = None if post.channels and not post.platforms else rules.post_row_problem(post.platforms)
        if problem:
            Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, error=problem, updated_at=now)
        else:
            good.append(post)
    Post.objects.filter(pk__in=[post.pk for post in good]).update(status=Post.Status.PUBLISHING, updated_at=now)
    # Each publication given its post as read and locked above (not read again with it: a burst's
    # thousands of rows, each with its post's every column), in the order they are due.
    by_id = {}
    for post in good:
        post.status, post.updated_at = Post.Status.PUBLISHING, now
        by_id[post.pk] = post
    publications = list(Publication.objects.filter(post_id__in=by_id).only(*PUBLICATION_FIELDS))
    for publication in publications:
        publication.post = by_id[publication.post_id]
    publications.sort(key=lambda publication: (publication.post.scheduled_at, publication.pk))
    publications += _ensure_publications(good, publications)
    pending = [p for p in publications if p.status == Publication.Status.PENDING]
    return pending, {p.post_id for p in publications if p.status not in Publication.FINAL}


def _ensure_publications(posts: list[Post], existing: list[Publication]) -> list[Publication]:
    """Create the publications missing for ``posts`` (a post written straight into the
    database has none): one per target (rules.row_targets), PENDING, or FAILED at
    once with the reason (unknown platform, no account, several accounts for a platform named
    without a channel). Returns those created."""
    channels_had = {(p.post_id, p.connection_id) for p in existing if p.connection_id is not None}
    # A platform named without a channel that has a publication already, with an account or
    # not, has its target (it was made when the post was written, or by an earlier dispatch).
    platforms_had = {(p.post_id, p.platform) for p in existing}
    lacking = [
        post
        for post in posts
        if any((post.pk, channel) not in channels_had for channel in post.channels or [])
        or any((post.pk, name) not in platforms_had for name in post.platforms or [])
    ]
    if not lacking:
        return []  # the usual case: every publication was made when the post was written
    teams = {post.team_id for post in lacking}
    accounts_of = {team: active_accounts(team=team) for team in teams}
    connections = {c.pk: c for c in Connection.objects.filter(team_id__in=teams)}
    rows = []
    for post in lacking:
        for target in row_targets(post, accounts_of[post.team_id], connections):
            chosen = target.connection is not None and target.connection.pk in (post.channels or [])
            if target.connection is not None and (post.pk, target.connection.pk) in channels_had:
                continue
            if not chosen and (post.pk, target.platform) in platforms_had:
                continue
            publication = Publication(post=post, platform=target.platform, connection=target.connection)
            if target.error:
                publication.status, publication.error = Publication.Status.FAILED, target.error
            rows.append(publication)
    Publication.objects.bulk_create(rows)
    for publication in rows:
        if publication.status == Publication.Status.FAILED:
            signals.emit_failed(publication, publication.post)
            signals.record_metric(publication, JobMetric.Outcome.FAILED, started=time.monotonic())
    return rows


# --- enqueueing ----------------------------------------------------------------------------


def publication_enqueue(*, publication: Publication, at: datetime | None = None) -> str:
    """Enqueue (after commit) the job carrying the publication's next attempt, at ``at`` if
    given, else at the target's own time if that is still ahead (``next_attempt_at`` then says
    when, so the sweep waits for it); remember its id so the sweep can tell when Redis lost it.
    A held target (queued in a paused queue) gets none: its queue's resume enqueues it."""
    job_id = publication_job_id(publication)
    now = timezone.now()
    fields = {"job_id": job_id, "enqueued_at": now}
    if at is None:
        target = Publication.objects.select_related("post").filter(pk=publication.pk).first()
        if target is not None and target.held:
            return ""
        due = target.effective_at if target is not None else None
        if due is not None and due > now:
            at = fields["next_attempt_at"] = due
    Publication.objects.filter(pk=publication.pk).update(**fields)
    publication_enqueue_on_commit(publication=publication, job_id=job_id, at=at)
    return job_id


def publication_job_id(publication: Publication) -> str:
    """A new id for the job of the publication's next attempt; the caller writes it on the row
    (``job_id``, ``enqueued_at``) in the statement that makes the attempt due, then calls
    ``publication_enqueue_on_commit``."""
    return f"publication-{publication.pk}-{uuid.uuid4().hex[:8]}"


def publication_enqueue_on_commit(*, publication: Publication, job_id: str, at: datetime | None = None) -> None:
    """Enqueue, after commit, the job ``job_id`` (already on the publication's row)."""
    options = _job_options(publication, job_id)

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        if at is not None and at > timezone.now():
            queue.enqueue_at(at, JOB, publication.pk, **options)
        else:
            queue.enqueue(JOB, publication.pk, **options)

    # A Redis outage must not undo the state change; the sweep enqueues what is lost.
    outages.after_commit(enqueue)


def first_comment_enqueue(*, publication: Publication, at: datetime | None = None) -> None:
    """Enqueue (after commit) the job that comments on a published publication, at ``at`` if
    given. Enqueueing twice is harmless: the job claims its attempt (comments.py)."""
    options = {
        "job_id": f"first-comment-{publication.pk}-{uuid.uuid4().hex[:8]}",
        "job_timeout": settings.PUBLISH_JOB_TIMEOUT,
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "description": f"first comment on {publication.platform} for post #{publication.post_id}",
    }

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        if at is not None and at > timezone.now():
            queue.enqueue_at(at, COMMENT_JOB, publication.pk, **options)
        else:
            queue.enqueue(COMMENT_JOB, publication.pk, **options)

    # The sweep enqueues a first comment whose job was lost (comments_requeue).
    outages.after_commit(enqueue)


def publications_enqueue(*, publications: list[Publication], one_each: bool = False) -> None:
    """Enqueue (after commit) the publications' jobs: one UPDATE of their job ids, one Redis
    round trip. Each publication needs its ``pk``, ``post_id``, ``platform``, ``connection_id``,
    its own ``scheduled_at`` and ``queue_position``, and its post's ``scheduled_at``
    (select_related): a target whose own time is still ahead is enqueued at it, with
    ``next_attempt_at`` saying when (the sweep waits for it); a held one (queued in a paused
    queue) is not enqueued.

    Those due now go up to PUBLISH_BATCH_SIZE of one account to a job (``publications_publish``),
    which attempts them one after another and costs RQ's work once, or hands them back a job each
    when threads are idle and the CPU has room (docs/performance.md); with PUBLISH_BATCH_BACKLOG
    set, only once the publish queue already holds that many jobs. ``one_each``: never several to
    a job."""
    publications = [p for p in publications if not p.held]
    if not publications:
        return
    now = timezone.now()
    later: list[tuple[Publication, datetime]] = []
    due_now: list[Publication] = []
    for publication in publications:
        due = publication.effective_at
        if due is not None and due > now:
            publication.next_attempt_at = due
            later.append((publication, due))
        else:
            due_now.append(publication)
    groups = _batches(due_now, size=1 if one_each else settings.PUBLISH_BATCH_SIZE)
    for group in groups:
        job_id = publication_job_id(group[0]) if len(group) == 1 else batch_job_id(group)
        for publication in group:
            publication.job_id, publication.enqueued_at = job_id, now
    for publication, _ in later:
        publication.job_id, publication.enqueued_at = publication_job_id(publication), now
    sql.update_rows(Publication, publications, ["job_id", "enqueued_at", "next_attempt_at"])
    batch = [
        Queue.prepare_data(JOB, (group[0].pk,), **_job_options(group[0], group[0].job_id, timeout_name="timeout"))
        if len(group) == 1
        else Queue.prepare_data(BATCH_JOB, ([p.pk for p in group],), **_batch_options(group))
        for group in groups
    ]

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        with queue.connection.pipeline() as pipe:
            if batch:
                queue.enqueue_many(batch, pipeline=pipe)
            for publication, due in later:
                options = _job_options(publication, publication.job_id)
                queue.enqueue_at(due, JOB, publication.pk, **options, pipeline=pipe)
            pipe.execute()

    # If Redis is unreachable now, the dispatch stands (the publications hold their job ids) and
    # the sweep enqueues the jobs it cannot find (lost_jobs_requeue).
    outages.after_commit(enqueue)


def batch_job_id(publications: list[Publication]) -> str:
    """A new id for the job of several publications' attempts (each row holds it as its
    ``job_id``, as a job of its own would be held)."""
    return f"publications-{publications[0].pk}-{uuid.uuid4().hex[:8]}"


def _batches(publications: list[Publication], *, size: int) -> list[list[Publication]]:
    """The publications' jobs: one each, or (once the queue holds PUBLISH_BATCH_BACKLOG jobs, 0 by
    default: always) up to ``size`` of one account (its platform, its channel) to a job."""
    if size <= 1 or len(publications) < 2 or _backlog() < settings.PUBLISH_BATCH_BACKLOG:
        return [[publication] for publication in publications]
    by_account: dict[tuple, list[Publication]] = {}
    for publication in publications:
        # One without an account (none connected) may be any team's: it goes alone.
        key = (publication.platform, publication.connection_id) if publication.connection_id else ("", publication.pk)
        by_account.setdefault(key, []).append(publication)
    groups = [group[i : i + size] for group in by_account.values() for i in range(0, len(group), size)]
    # In the order they were due: one account's many do not go ahead of another's few.
    position = {publication.pk: index for index, publication in enumerate(publications)}
    return sorted(groups, key=lambda group: position[group[0].pk])


def _backlog() -> int:
    """The publish jobs waiting in the queue; 0 when Redis cannot say (the enqueue after commit
    fails the same way, and the sweep enqueues the jobs once it is back)."""
    if settings.PUBLISH_BATCH_BACKLOG == 0:
        return 0
    try:
        return django_rq.get_queue("default").count
    except UNREACHABLE:
        return 0


def _batch_options(publications: list[Publication]) -> dict:
    first = publications[0]
    return {
        **_job_options(first, first.job_id, timeout_name="timeout"),
        # Each attempt is bounded as its own job would be; the job, by all of them. It beats between
        # them (threaded.job_heartbeat, at most every 10 s): lost with its worker, RQ finds it
        # abandoned as soon as a job of one would be.
        "timeout": settings.PUBLISH_JOB_TIMEOUT * len(publications),
        "meta": {threaded.HEARTBEAT_META: settings.PUBLISH_JOB_TIMEOUT},
        "description": f"publish {len(publications)} {first.platform} publications (posts "
        f"{', '.join(f'#{p.post_id}' for p in publications)})",
    }


def _job_options(publication: Publication, job_id: str, timeout_name: str = "job_timeout") -> dict:
    # No RQ Retry: the next attempt is enqueued by the settle path, at the time it decides,
    # counted in one place (Publication.attempt_count) that survives Redis losing its data.
    return {
        "job_id": job_id,
        timeout_name: settings.PUBLISH_JOB_TIMEOUT,
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "description": f"publish {publication.platform} for post #{publication.post_id}",
    }
