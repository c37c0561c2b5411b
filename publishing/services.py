"""Writes of the publishing app: create and schedule posts, dispatch them when due,
publish each publication once, and settle the post's status.

The flow goes one way (DESIGN.md):

    post_create -> (due) posts_dispatch -> publication_publish per platform -> post_finalize

Due posts are found in the database (``posts_dispatch``, run by the workers every
DISPATCH_INTERVAL_SECONDS, and at once for a post created already due) and dispatched in
batches; RQ carries each publication's attempts (its queue, Retry, and ``enqueue_at`` for
rate-limit and processing waits).

Every state change is a guarded ``UPDATE … WHERE status = …`` so that concurrent workers,
duplicate jobs and the sweep can all call these functions safely: exactly one of them
wins each transition, the others find nothing to do.
"""

from __future__ import annotations

import logging
import random
import resource
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq import Retry

from connections.models import Connection, Platform
from connections.platforms import get_adapter
from connections.platforms.base import (
    Account,
    Draft,
    Duplicate,
    NotReady,
    PermanentError,
    PlatformError,
    Published,
    RateLimited,
    TokenExpired,
    TransientError,
    media_url_problem,
)
from planrrr.models import Team
from publishing.models import JobMetric, Post, Publication

logger = logging.getLogger("planrrr.publishing")

Outcome = JobMetric.Outcome


class RetryScheduled(Exception):
    """Raised out of the publish job after a transient failure was recorded, so that RQ's
    Retry schedules the next attempt (one retry mechanism: RQ's)."""


# --- validation ------------------------------------------------------------------------


def post_problems(
    *,
    team: Team,
    content: str,
    platforms: list[str],
    media_urls: list[str],
    connections: dict[str, Connection] | None = None,
) -> dict[str, list[str]]:
    """Everything that would make this post fail, per field, each message saying what to
    change. Runs before anything is saved or enqueued, and again at publish time (rows can
    be written straight into the database)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if not content or not content.strip():
        add("content", "The post is empty: write some text.")
    if not platforms:
        add("platforms", "Choose at least one platform.")
    known = sorted(Platform.values)
    seen: set[str] = set()
    for name in platforms:
        if name in seen:
            add("platforms", f"{name} is listed twice: list each platform once.")
        seen.add(name)
        if name not in known:
            add("platforms", f"Unknown platform {name!r}: choose from {', '.join(known)}.")
    if connections is None:
        connections = active_connections(team=team, platforms=[p for p in seen if p in known])
    for name in sorted(seen & set(known)):
        connection = connections.get(name)
        label = Platform(name).label
        if connection is None:
            add("platforms", _no_connection_message(team, name))
        elif connection.team_id != team.id:
            add("platforms", f"The {label} connection #{connection.pk} belongs to another team: use one of yours.")
        elif connection.status != Connection.Status.ACTIVE:
            add("platforms", f"Your {label} connection is {connection.status.lower()}: reconnect it first.")
        if content and content.strip():
            for message in get_adapter(name).validate(text=content, media_urls=list(media_urls)):
                add("content" if "image" not in message else "media_urls", message)
    for url in media_urls:
        message = media_url_problem(url)
        if message:
            add("media_urls", message)
    return problems


def _no_connection_message(team: Team, platform: str) -> str:
    label = Platform(platform).label
    inactive = Connection.objects.filter(team=team, platform=platform).exclude(status=Connection.Status.ACTIVE)
    if inactive.exists():
        return f"Your {label} connection has expired or was revoked: reconnect it, or remove {platform}."
    return f"Your team has no {label} connection: connect an account, or remove {platform}."


def active_connections(*, team: Team, platforms: list[str]) -> dict[str, Connection]:
    """The team's active connection per platform (the oldest, if it has several)."""
    found: dict[str, Connection] = {}
    rows = Connection.objects.filter(team=team, platform__in=platforms, status=Connection.Status.ACTIVE)
    for connection in rows.order_by("created_at", "pk"):
        found.setdefault(connection.platform, connection)
    return found


# --- create, schedule, cancel ----------------------------------------------------------


def post_create(
    *,
    team: Team,
    content: str,
    platforms: list[str],
    author=None,
    media_urls: list[str] | tuple[str, ...] = (),
    scheduled_at: datetime | None = None,
    connections: list[Connection] | None = None,
) -> Post:
    """Create a post, DRAFT or SCHEDULED (when ``scheduled_at`` is given), with one
    publication per platform. Raises ValidationError (by field) and saves nothing when
    the post could not succeed. ``connections`` picks specific accounts; by default the
    team's active one per platform is used."""
    platforms = list(platforms)
    media_urls = list(media_urls)
    chosen = None
    if connections is not None:
        chosen = {c.platform: c for c in connections}
        for connection in connections:
            if connection.platform not in platforms:
                platforms.append(connection.platform)
    problems = post_problems(team=team, content=content, platforms=platforms, media_urls=media_urls, connections=chosen)
    if problems:
        raise ValidationError(problems)
    post = Post(
        team=team,
        author=author,
        content=content,
        platforms=platforms,
        media_urls=media_urls,
        status=Post.Status.SCHEDULED if scheduled_at else Post.Status.DRAFT,
        scheduled_at=scheduled_at,
    )
    return post_save_new(post=post, connections=chosen)


def post_save_new(*, post: Post, connections: dict[str, Connection] | None = None) -> Post:
    """Save a validated new post with its publications; a post already due is dispatched at
    once, a later one by the workers' dispatch at its time. The admin's add form comes
    through here after validating with post_problems."""
    if connections is None:
        connections = active_connections(team=post.team, platforms=list(post.platforms))
    if post.scheduled_at and post.status == Post.Status.DRAFT:
        post.status = Post.Status.SCHEDULED
    with transaction.atomic():
        post.full_clean()
        post.save()
        Publication.objects.bulk_create(
            Publication(post=post, platform=name, connection=connections.get(name)) for name in post.platforms
        )
        if post.status == Post.Status.SCHEDULED:
            _dispatch_if_due(post)
            _enqueue_stage(post)
    return post


def post_schedule(*, post: Post, scheduled_at: datetime) -> Post:
    """Schedule a DRAFT (or reschedule a SCHEDULED) post, validating it again."""
    problems = post_problems(
        team=post.team, content=post.content, platforms=list(post.platforms), media_urls=list(post.media_urls)
    )
    if problems:
        raise ValidationError(problems)
    updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.SCHEDULED]).update(
        status=Post.Status.SCHEDULED, scheduled_at=scheduled_at, updated_at=timezone.now()
    )
    if not updated:
        raise ValidationError(
            f"Post #{post.pk} is {post.status.lower()}: only drafts and scheduled posts can be scheduled."
        )
    post.refresh_from_db()
    _dispatch_if_due(post)
    _enqueue_stage(post)
    return post


def post_cancel(*, post: Post) -> bool:
    """Cancel a post that has not started publishing. Returns False if it already has."""
    updated = Post.objects.filter(pk=post.pk, status__in=[Post.Status.DRAFT, Post.Status.SCHEDULED]).update(
        status=Post.Status.CANCELLED, updated_at=timezone.now()
    )
    return bool(updated)


def _dispatch_if_due(post: Post) -> None:
    """A post due already goes out now, not at the workers' next dispatch round. Robust: the
    post is saved whatever happens here (the workers' dispatch and sweep finish the job)."""
    if post.scheduled_at <= timezone.now():
        transaction.on_commit(lambda: posts_dispatch(post_ids=[post.pk]), robust=True)


def _enqueue_stage(post: Post) -> None:
    """Ask RQ to stage the post's media MEDIA_STAGING_LEAD_SECONDS before its slot (at once if
    that is already past). The sweep does it too if Redis loses this job."""
    lead = settings.MEDIA_STAGING_LEAD_SECONDS
    if not post.media_urls or not lead or post.scheduled_at <= timezone.now():
        return
    from publishing import jobs

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        at = post.scheduled_at - timedelta(seconds=lead)
        job_id = stage_job_id(post)
        if at <= timezone.now():
            queue.enqueue(jobs.post_stage, post.pk, job_id=job_id)
        else:
            queue.enqueue_at(at, jobs.post_stage, post.pk, job_id=job_id)

    transaction.on_commit(enqueue)


def stage_job_id(post: Post) -> str:
    return f"stage-{post.pk}-{int(post.scheduled_at.timestamp())}"


# --- staging -----------------------------------------------------------------------------


def post_stage(*, post_id: int) -> int:
    """Upload a scheduled post's media (create its containers) ahead of the slot, so that the
    publish call at the scheduled time is a single request. Returns how many publications
    were staged. A failure is recorded on the publication, visible before the slot, and
    publishing at the slot does what staging could not."""
    post = Post.objects.filter(pk=post_id, status=Post.Status.SCHEDULED).first()
    if post is None or not post.media_urls:
        return 0
    publications = post.publications.filter(status=Publication.Status.PENDING).select_related("connection")
    return sum(publication_stage(publication=publication, post=post) for publication in publications)


def publication_stage(*, publication: Publication, post: Post) -> bool:
    if "stagedAt" in publication.metadata or _refusal(publication):
        return False  # done already, or publish time will refuse it with the reason
    # Hold the publication while staging, so a publish job cannot run over it; the lease
    # lets the sweep recover it if this worker dies.
    token, now = uuid.uuid4(), timezone.now()
    held = Publication.objects.filter(pk=publication.pk, status=Publication.Status.PENDING).update(
        status=Publication.Status.PUBLISHING,
        lease_token=token,
        lease_expires_at=now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS),
        updated_at=now,
    )
    if not held:
        return False
    connection = publication.connection
    draft = Draft(
        text=post.content,
        media_urls=list(post.media_urls),
        state=dict(publication.metadata),
        idempotency_key=f"planrrr-publication-{publication.pk}",
    )
    error, expired = "", None
    try:
        get_adapter(publication.platform).stage(
            Account(account_id=connection.account_id, access_token=connection.access_token), draft
        )
        draft.state["stagedAt"] = timezone.now().isoformat()
        draft.state.pop("stagingError", None)
    except PlatformError as err:
        draft.state["stagingError"] = err.message
        error = f"Staging the media failed ({err.message}); publishing will try again at the scheduled time."
        if isinstance(err, TokenExpired):
            expired = err.message
    Publication.objects.filter(pk=publication.pk, lease_token=token).update(
        status=Publication.Status.PENDING,
        lease_token=None,
        lease_expires_at=None,
        metadata=draft.state,
        error=error,
        updated_at=timezone.now(),
    )
    if expired:
        connection_expire(connection_id=connection.pk, reason=expired)
    if Post.objects.filter(pk=post.pk, status=Post.Status.PUBLISHING).exists():
        # The slot came while we held the publication: the dispatch skipped it.
        with transaction.atomic():
            publication_enqueue(publication=publication)
    return not error


# --- dispatch ----------------------------------------------------------------------------


def posts_dispatch(*, post_ids: list[int] | None = None, limit: int = 500) -> int:
    """Start publishing the due posts (all, or those of ``post_ids``; at most ``limit``):
    SCHEDULED -> PUBLISHING, one RQ job per pending publication. Returns the number of
    publications enqueued.

    Never before ``scheduled_at``. A batch costs the same few queries and one Redis round trip
    however many posts it holds: a thousand posts due at 9:00 are one UPDATE and one pipeline,
    not a thousand jobs. Posts another dispatcher holds are skipped (SKIP LOCKED), and creates
    the publications a post written straight into the database lacks."""
    return _posts_dispatch(post_ids=post_ids, limit=limit)[1]


def due_posts_dispatch(*, batch: int = 100, most: int = 500) -> int:
    """Start every post due now, ``batch`` at a time (each committed, and its jobs enqueued,
    before the next is read: in a burst the first posts are on their way while later ones are
    still being dispatched), up to ``most`` a call. Returns the publications enqueued."""
    enqueued = 0
    for _ in range(max(most // batch, 1)):
        taken, count = _posts_dispatch(post_ids=None, limit=batch)
        enqueued += count
        if taken < batch:
            break
    return enqueued


def _posts_dispatch(*, post_ids: list[int] | None, limit: int) -> tuple[int, int]:
    """(posts dispatched, publications enqueued)."""
    now = timezone.now()
    due = Post.objects.filter(status=Post.Status.SCHEDULED, scheduled_at__lte=now)
    if post_ids is not None:
        due = due.filter(pk__in=post_ids)
    with transaction.atomic():
        posts = list(due.select_for_update(skip_locked=True).order_by("scheduled_at")[:limit])
        if not posts:
            return 0, 0
        Post.objects.filter(pk__in=[post.pk for post in posts]).update(status=Post.Status.PUBLISHING, updated_at=now)
        publications = list(Publication.objects.filter(post__in=posts).order_by("post__scheduled_at", "pk"))
        publications += _ensure_publications(posts, publications)
        pending = [p for p in publications if p.status == Publication.Status.PENDING]
        _publications_enqueue(pending)
    open_posts = {p.post_id for p in publications if p.status not in Publication.FINAL}
    for post in posts:
        if post.pk not in open_posts:
            post_finalize(post_id=post.pk)  # nothing to publish: every publication failed at the door
    return len(posts), len(pending)


def _ensure_publications(posts: list[Post], existing: list[Publication]) -> list[Publication]:
    """Create the publications missing for ``posts`` (a post written straight into the
    database has none): PENDING, or FAILED at once with the reason (unknown platform, no
    connection). Returns those created."""
    have = {(p.post_id, p.platform) for p in existing}
    wanted = [(post, name) for post in posts for name in dict.fromkeys(post.platforms) if (post.pk, name) not in have]
    if not wanted:
        return []
    rows = []
    connections_of: dict[int, dict[str, Connection]] = {}
    for post, name in wanted:
        if post.team_id not in connections_of:
            connections_of[post.team_id] = active_connections(team=post.team, platforms=list(Platform.values))
        publication = Publication(post=post, platform=name, connection=connections_of[post.team_id].get(name))
        if name not in Platform.values:
            publication.status = Publication.Status.FAILED
            publication.error = f"Unknown platform {name!r}: choose from {', '.join(sorted(Platform.values))}."
        elif publication.connection is None:
            publication.status = Publication.Status.FAILED
            publication.error = _no_connection_message(post.team, name)
        rows.append(publication)
    Publication.objects.bulk_create(rows)
    for publication in rows:
        if publication.status == Publication.Status.FAILED:
            _emit_failed(publication, publication.post)
            _record_metric(publication, Outcome.FAILED, started=time.monotonic())
    return rows


def publication_enqueue(*, publication: Publication, at: datetime | None = None) -> str:
    """Enqueue (after commit) the job carrying the publication's next attempt, at ``at`` if
    given; remember its id so the sweep can tell when Redis lost it."""
    from publishing import jobs

    job_id = _publication_job_id(publication)
    Publication.objects.filter(pk=publication.pk).update(job_id=job_id, enqueued_at=timezone.now())
    options = _job_options(publication, job_id)

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        if at is not None and at > timezone.now():
            queue.enqueue_at(at, jobs.publication_publish, publication.pk, **options)
        else:
            queue.enqueue(jobs.publication_publish, publication.pk, **options)

    transaction.on_commit(enqueue)
    return job_id


def _publications_enqueue(publications: list[Publication]) -> None:
    """Enqueue (after commit) one job per publication: one UPDATE of their job ids, one
    Redis round trip."""
    if not publications:
        return
    from rq import Queue

    from publishing import jobs

    now = timezone.now()
    for publication in publications:
        publication.job_id, publication.enqueued_at = _publication_job_id(publication), now
    Publication.objects.bulk_update(publications, ["job_id", "enqueued_at"])
    batch = [
        Queue.prepare_data(jobs.publication_publish, (p.pk,), **_job_options(p, p.job_id, timeout_name="timeout"))
        for p in publications
    ]

    def enqueue() -> None:
        queue = django_rq.get_queue("default", commit_mode="auto")
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(batch, pipeline=pipe)
            pipe.execute()

    # Robust: if Redis is unreachable now, the dispatch stands (the publications hold their job
    # ids) and the sweep enqueues the jobs it cannot find (lost_jobs_requeue).
    transaction.on_commit(enqueue, robust=True)


def _publication_job_id(publication: Publication) -> str:
    return f"publication-{publication.pk}-{uuid.uuid4().hex[:8]}"


def _job_options(publication: Publication, job_id: str, timeout_name: str = "job_timeout") -> dict:
    return {
        "job_id": job_id,
        "retry": publish_retry(),
        timeout_name: settings.PUBLISH_JOB_TIMEOUT,
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "description": f"publish {publication.platform} for post #{publication.post_id}",
    }


def publish_retry() -> Retry:
    """RQ Retry for transient failures: exponential backoff with ±25 % jitter, so that many
    publications failing together do not come back together."""
    attempts = max(settings.PUBLISH_MAX_ATTEMPTS - 1, 1)
    base = settings.PUBLISH_RETRY_BASE_SECONDS
    intervals = [max(1, round(base * 2**i * random.uniform(0.75, 1.25))) for i in range(attempts)]
    return Retry(max=attempts, interval=intervals)


# --- publish -----------------------------------------------------------------------------


@dataclass
class _Attempt:
    publication: Publication
    token: uuid.UUID
    started: float


def publication_publish(*, publication_id: int, retry_in: int | None = None) -> str:
    """One attempt at one publication. Returns the outcome (a JobMetric.Outcome value).

    ``retry_in`` is the delay RQ will wait before the next attempt if this one fails
    transiently (None when RQ has no retry left). Raises RetryScheduled after recording a
    transient failure so RQ schedules that retry."""
    started = time.monotonic()
    publication = Publication.objects.select_related("post", "connection").filter(pk=publication_id).first()
    if publication is None or publication.status != Publication.Status.PENDING:
        return Outcome.SKIPPED
    connection = publication.connection
    now = timezone.now()
    if connection is not None and connection.rate_limited_until and connection.rate_limited_until > now:
        # The platform asked us to wait: don't spend an attempt, come back when allowed.
        _defer(publication, until=connection.rate_limited_until)
        return Outcome.SKIPPED
    refusal = _refusal(publication)
    if refusal:
        # Nothing the platform could accept: fail without spending an attempt.
        return _refuse(publication, refusal, started)
    attempt = _claim(publication, now, started)
    if attempt is None:
        return Outcome.SKIPPED
    publication = attempt.publication
    post = publication.post

    adapter = get_adapter(publication.platform)
    account = Account(account_id=connection.account_id, access_token=connection.access_token)
    draft = Draft(
        text=post.content,
        media_urls=list(post.media_urls),
        state=dict(publication.metadata),
        idempotency_key=f"planrrr-publication-{publication.pk}",
    )
    try:
        if publication.outcome_unknown:
            # A minute of margin for the platform's clock; a narrow window keeps bursts of
            # posts from pushing this one off the page of recent posts.
            since = (publication.first_attempt_at or publication.created_at) - timedelta(minutes=1)
            external_id = adapter.find_published(account, draft, since)
            if external_id:
                return _succeed(attempt, draft, Published(external_id=external_id), reconciled=True)
        lag_ms = None
        if publication.attempt_count == 1 and post.scheduled_at:
            lag_ms = (timezone.now() - post.scheduled_at).total_seconds() * 1000
        result = adapter.publish(account, draft)
    except TokenExpired as err:
        return _token_expired(attempt, draft, err)
    except RateLimited as err:
        return _rate_limited(attempt, draft, err)
    except NotReady as err:
        return _wait(attempt, draft, err)
    except Duplicate as err:
        message = err.message
        if publication.outcome_unknown:
            message += (
                " — an earlier attempt whose answer was lost most likely published it, but it is not among "
                "the account's recent posts planrrr can see: check the account before posting it again."
            )
        return _fail(attempt, message, draft=draft)
    except PermanentError as err:
        return _fail(attempt, err.message, draft=draft)
    except TransientError as err:
        return _transient(attempt, draft, err, retry_in)
    except PlatformError as err:  # a new subclass nobody classified: safest to give up loudly
        return _fail(attempt, err.message, draft=draft)
    return _succeed(attempt, draft, result, lag_ms=lag_ms)


def _claim(publication: Publication, now: datetime, started: float) -> _Attempt | None:
    """PENDING -> PUBLISHING, counting the attempt before the platform is called. Exactly
    one caller wins; the lease lets the sweep recover the publication if this worker dies.

    One statement that also returns the row as it now is (attempt_count, metadata, ...):
    Django's update() returns only a count, and a reload would be a second round trip."""
    token = uuid.uuid4()
    claimed = list(
        Publication.objects.raw(
            _CLAIM_SQL,
            {
                "token": token,
                "lease_expires_at": now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS),
                "now": now,
                "due_by": now + timedelta(seconds=1),
                "pk": publication.pk,
                "pending": Publication.Status.PENDING,
                "publishing": Publication.Status.PUBLISHING,
            },
        )
    )
    if not claimed:
        return None
    # Keep the post and connection loaded with the publication a moment ago.
    for name in _OWN_FIELDS:
        setattr(publication, name, getattr(claimed[0], name))
    return _Attempt(publication=publication, token=token, started=started)


_OWN_FIELDS = [f.attname for f in Publication._meta.concrete_fields if not f.is_relation and not f.primary_key]
_CLAIM_SQL = f"""
    UPDATE {Publication._meta.db_table}
       SET status = %(publishing)s,
           attempt_count = attempt_count + 1,
           lease_token = %(token)s,
           lease_expires_at = %(lease_expires_at)s,
           first_attempt_at = COALESCE(first_attempt_at, %(now)s),
           next_attempt_at = NULL,
           updated_at = %(now)s
     WHERE id = %(pk)s
       AND status = %(pending)s
       AND (next_attempt_at IS NULL OR next_attempt_at <= %(due_by)s)
 RETURNING *
"""


def _refusal(publication: Publication) -> str | None:
    """Why this publication cannot be attempted at all, or None."""
    post, connection = publication.post, publication.connection
    label = Platform(publication.platform).label if publication.platform in Platform.values else publication.platform
    if publication.platform not in Platform.values:
        return f"Unknown platform {publication.platform!r}: choose from {', '.join(sorted(Platform.values))}."
    if connection is None:
        return _no_connection_message(post.team, publication.platform)
    if connection.team_id != post.team_id:
        return f"The {label} connection #{connection.pk} belongs to another team: use one of yours."
    if connection.platform != publication.platform:
        return f"Connection #{connection.pk} is a {connection.get_platform_display()} account, not {label}."
    if connection.status != Connection.Status.ACTIVE:
        return _reconnect_message(publication.platform, connection.status_detail or f"Connection #{connection.pk}")
    problems = get_adapter(publication.platform).validate(text=post.content, media_urls=list(post.media_urls))
    problems += [p for p in (media_url_problem(url) for url in post.media_urls) if p]
    if not post.content.strip():
        problems.insert(0, "The post is empty: write some text.")
    return " ".join(problems) or None


def _refuse(publication: Publication, message: str, started: float) -> str:
    with transaction.atomic():
        refused = Publication.objects.filter(pk=publication.pk, status=Publication.Status.PENDING).update(
            status=Publication.Status.FAILED, error=message, next_attempt_at=None, updated_at=timezone.now()
        )
        if not refused:
            return Outcome.SKIPPED
        publication.status, publication.error = Publication.Status.FAILED, message
        _emit_failed(publication, publication.post)
        _record_metric(publication, Outcome.FAILED, started=started)
    post_finalize(post_id=publication.post_id)
    return Outcome.FAILED


def _settle(attempt: _Attempt, **fields) -> bool:
    """Write an attempt's outcome, only if this attempt still holds the lease (a dead
    attempt's late answer must not overwrite what its successor did)."""
    fields.setdefault("lease_token", None)
    fields.setdefault("lease_expires_at", None)
    fields["updated_at"] = timezone.now()
    return bool(
        Publication.objects.filter(
            pk=attempt.publication.pk, status=Publication.Status.PUBLISHING, lease_token=attempt.token
        ).update(**fields)
    )


def _succeed(
    attempt: _Attempt, draft: Draft, result: Published, *, reconciled: bool = False, lag_ms: float | None = None
) -> str:
    publication = attempt.publication
    metadata = {**draft.state, **result.metadata}
    metadata.pop("outcomeUnknown", None)
    if result.url:
        metadata["url"] = result.url
    if reconciled:
        metadata["reconciled"] = True
    now = timezone.now()
    outcome = Outcome.RECONCILED if reconciled else Outcome.PUBLISHED
    with transaction.atomic():
        if not _settle(
            attempt,
            status=Publication.Status.PUBLISHED,
            external_id=result.external_id,
            published_at=now,
            metadata=metadata,
            error="",
            outcome_unknown=False,
        ):
            return Outcome.SKIPPED
        if result.slow_down_until and publication.connection_id:
            Connection.objects.filter(pk=publication.connection_id).update(rate_limited_until=result.slow_down_until)
        _emit(
            publication.post,
            "post.published",
            {
                "postId": publication.post_id,
                "publicationId": publication.pk,
                "platform": publication.platform,
                "externalId": result.external_id,
                "url": result.url,
                "publishedAt": now.isoformat(),
            },
        )
        _metric(attempt, outcome, lag_ms=lag_ms)
    post_finalize(post_id=publication.post_id)
    return outcome


def _fail(attempt: _Attempt, message: str, *, draft: Draft | None = None) -> str:
    publication = attempt.publication
    with transaction.atomic():
        fields = {"status": Publication.Status.FAILED, "error": message, "outcome_unknown": False}
        if draft is not None:
            fields["metadata"] = draft.state
        if not _settle(attempt, **fields):
            return Outcome.SKIPPED
        publication.error = message
        publication.status = Publication.Status.FAILED
        _emit_failed(publication, publication.post)
        _metric(attempt, Outcome.FAILED)
    post_finalize(post_id=publication.post_id)
    return Outcome.FAILED


def _transient(attempt: _Attempt, draft: Draft, err: TransientError, retry_in: int | None) -> str:
    publication = attempt.publication
    failures = publication.failure_count + 1
    if retry_in is None or failures >= settings.PUBLISH_MAX_ATTEMPTS:
        message = f"{err.message} (gave up after {publication.attempt_count} attempts)"
        return _fail(attempt, message, draft=draft)
    next_at = timezone.now() + timedelta(seconds=retry_in)
    with transaction.atomic():
        if not _settle(
            attempt,
            status=Publication.Status.PENDING,
            error=f"{err.message} (attempt {publication.attempt_count}; retrying at {next_at:%H:%M:%S} UTC)",
            failure_count=failures,
            next_attempt_at=next_at,
            metadata=draft.state,
            # Once unknown, stays unknown until an attempt learns the outcome.
            outcome_unknown=publication.outcome_unknown or err.maybe_sent,
        ):
            return Outcome.SKIPPED
        _metric(attempt, Outcome.RETRY)
    raise RetryScheduled(err.message) from err


def _rate_limited(attempt: _Attempt, draft: Draft, err: RateLimited) -> str:
    publication = attempt.publication
    with transaction.atomic():
        if not _settle(
            attempt,
            status=Publication.Status.PENDING,
            error=f"{err.message} (rate limited; next attempt at {err.retry_at:%H:%M:%S} UTC)",
            next_attempt_at=err.retry_at,
            metadata=draft.state,
            outcome_unknown=publication.outcome_unknown or err.maybe_sent,
        ):
            return Outcome.SKIPPED
        if publication.connection_id:
            Connection.objects.filter(pk=publication.connection_id).update(rate_limited_until=err.retry_at)
        publication_enqueue(publication=publication, at=err.retry_at)
        _metric(attempt, Outcome.RATE_LIMITED)
    return Outcome.RATE_LIMITED


def _wait(attempt: _Attempt, draft: Draft, err: NotReady) -> str:
    """The platform is still processing what we sent (a media container): look again later
    without holding a worker and without counting a failure."""
    publication = attempt.publication
    with transaction.atomic():
        if not _settle(
            attempt,
            status=Publication.Status.PENDING,
            error=err.message,
            next_attempt_at=err.retry_at,
            metadata=draft.state,
            # The attempt did not count against the platform: give it back.
            attempt_count=F("attempt_count") - 1,
        ):
            return Outcome.SKIPPED
        publication_enqueue(publication=publication, at=err.retry_at)
    return Outcome.SKIPPED


def _defer(publication: Publication, *, until: datetime) -> None:
    """Wait, without an attempt, for the window the platform asked this account to wait for."""
    label = Platform(publication.platform).label
    reason = f"Waiting until {until:%Y-%m-%d %H:%M:%S} UTC: {label} asked this account to slow down (rate limit)."
    with transaction.atomic():
        updated = Publication.objects.filter(pk=publication.pk, status=Publication.Status.PENDING).update(
            next_attempt_at=until, error=reason, updated_at=timezone.now()
        )
        if updated:
            publication_enqueue(publication=publication, at=until)


def _token_expired(attempt: _Attempt, draft: Draft, err: TokenExpired) -> str:
    publication = attempt.publication
    outcome = _fail(attempt, _reconnect_message(publication.platform, err.message), draft=draft)
    if publication.connection_id:
        connection_expire(connection_id=publication.connection_id, reason=err.message)
    return outcome


def _reconnect_message(platform: str, reason: str) -> str:
    label = Platform(platform).label
    return f"{reason} — the {label} access token is expired or revoked: reconnect the {label} account in planrrr."


def connection_expire(*, connection_id: int, reason: str) -> int:
    """Mark a connection EXPIRED and fail its waiting publications at once (no retries
    burned on a token that cannot work). Returns the number of publications failed."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(pk=connection_id).first()
        if connection is None:
            return 0
        if connection.status == Connection.Status.ACTIVE:
            connection.status = Connection.Status.EXPIRED
            connection.status_detail = reason
            connection.save(update_fields=["status", "status_detail", "updated_at"])
            _emit_team(
                connection.team_id,
                "connection.expired",
                {
                    "connectionId": connection.pk,
                    "platform": connection.platform,
                    "accountId": connection.account_id,
                    "reason": reason,
                },
            )
        waiting = list(
            Publication.objects.select_related("post")
            .select_for_update(of=("self",))
            .filter(connection=connection, status=Publication.Status.PENDING, post__status=Post.Status.PUBLISHING)
        )
        message = _reconnect_message(connection.platform, reason)
        Publication.objects.filter(pk__in=[p.pk for p in waiting]).update(
            status=Publication.Status.FAILED, error=message, next_attempt_at=None, updated_at=timezone.now()
        )
        for publication in waiting:
            publication.error = message
            _emit_failed(publication, publication.post)
            _record_metric(publication, Outcome.FAILED, started=time.monotonic())
    for post_id in {p.post_id for p in waiting}:
        post_finalize(post_id=post_id)
    return len(waiting)


# --- finalize ----------------------------------------------------------------------------


def post_finalize(*, post_id: int) -> str | None:
    """Derive the post's status once every publication is final: PUBLISHED, PARTIAL or
    FAILED, and tell the team (``post.completed``) exactly once."""
    # Most calls come from the first publications of a post to finish, with others still
    # open: say so after one query, without a transaction and a row lock. This cannot miss
    # the last one: whichever publication commits its final status last sees all the others'.
    open_statuses = [Publication.Status.PENDING, Publication.Status.PUBLISHING]
    if Publication.objects.filter(post_id=post_id, status__in=open_statuses).exists():
        return None
    with transaction.atomic():
        post = Post.objects.select_for_update().filter(pk=post_id).first()
        if post is None or post.status in Post.FINAL:
            return None
        publications = list(post.publications.all())
        if not publications or any(p.status not in Publication.FINAL for p in publications):
            return None
        published = [p for p in publications if p.status == Publication.Status.PUBLISHED]
        if len(published) == len(publications):
            post.status = Post.Status.PUBLISHED
        elif published:
            post.status = Post.Status.PARTIAL
        else:
            post.status = Post.Status.FAILED
        post.published_at = max((p.published_at for p in published), default=None)
        post.save(update_fields=["status", "published_at", "updated_at"])
        _emit(
            post,
            "post.completed",
            {
                "postId": post.pk,
                "status": post.status,
                "publishedAt": post.published_at.isoformat() if post.published_at else None,
                "publications": [
                    {"platform": p.platform, "status": p.status, "externalId": p.external_id, "error": p.error}
                    for p in publications
                ],
            },
        )
    return post.status


# --- events and metrics ------------------------------------------------------------------


def _emit(post: Post, event: str, data: dict) -> None:
    _emit_team(post.team_id, event, data)


def _emit_team(team_id: int, event: str, data: dict) -> None:
    from webhooks.services import event_record

    event_record(team_id=team_id, event=event, data=data)


def _emit_failed(publication: Publication, post: Post) -> None:
    _emit(
        post,
        "post.failed",
        {
            "postId": post.pk,
            "publicationId": publication.pk,
            "platform": publication.platform,
            "error": publication.error,
            "attemptCount": publication.attempt_count,
        },
    )


def _metric(attempt: _Attempt, outcome: str, *, lag_ms: float | None = None) -> None:
    _record_metric(attempt.publication, outcome, started=attempt.started, lag_ms=lag_ms)


def _record_metric(publication: Publication, outcome: str, *, started: float, lag_ms: float | None = None) -> None:
    JobMetric.objects.create(
        kind="publish",
        platform=publication.platform,
        outcome=outcome,
        publication_id=publication.pk,
        attempt=publication.attempt_count,
        duration_ms=(time.monotonic() - started) * 1000,
        lag_ms=lag_ms,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
