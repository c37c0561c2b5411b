"""One publication's life: its state machine, the claim that starts an attempt, and the one
path (``settle``) every attempt ends through.

Publication states (``Publication.Status``) and every move between them::

    from        to          who                           only when                        writes
    ----------  ----------  ----------------------------  -------------------------------  ---------------------------
    -           PENDING     posts.post_save_new,          -                                connection (the channel;
                            post_update (a channel                                         a platform named without
                            added), dispatch (a row by                                     one: its team's one
                            SQL), series                                                   active account on it)
    -           FAILED      dispatch                      unknown platform; a platform     error; post.failed
                                                          named without a channel that
                                                          has no account, or several
    PENDING     (deleted)   posts.post_update (its        post DRAFT, IN_REVIEW or         -
                            channel removed)              SCHEDULED, its row locked
    PENDING     PENDING     posts.post_update (what it    post DRAFT, IN_REVIEW or         metadata emptied (staged
                            gets changed)                 SCHEDULED, its row locked        media go), stage lease
                                                                                           cleared
    PENDING     PENDING     staging.publication_stage     post SCHEDULED; stage lease      metadata (media ids);
                                                          free (its own lease, never       stage_token,
                                                          the publish one)                 stage_expires_at
    PENDING     PENDING     dispatch (post due: its       post PUBLISHING; the target's    next_attempt_at (its time),
                            earliest target's time)       own time later than now          its job enqueued at it
    PENDING     PENDING     queue.channel_queue_recompute queued (queue_position), never   scheduled_at (its slot; null
                            (add, top, remove, shuffle,   attempted (first_attempt_at      while its queue is paused:
                            slots, pause, resume, a post  null); the channel's row locked  held), queue_position; a
                            scheduled, cancelled)                                          started post's job at it
    PENDING     PUBLISHING  claim (publish.publication_   post PUBLISHING and due; the     attempt_count + 1, lease
                            publish)                      target's own time come (not      (lease_token, expires)
                                                          held); next_attempt_at reached;
                                                          no live stage lease
    PUBLISHING  PUBLISHING  record_step (publish, each    holds the lease                  metadata["parts"] only
                            step of a thread)
    PUBLISHING  PUBLISHED   settle(done)                  holds the lease                  external_id, published_at,
                                                                                           metadata; post.published
    PUBLISHING  PENDING     settle(later)                 holds the lease; under           next_attempt_at, error,
                                                          PUBLISH_MAX_ATTEMPTS and         outcome_unknown; the next
                                                          PUBLISH_WAIT_LIMIT_HOURS         job, enqueued at that time
    PUBLISHING  FAILED      settle(give up), or later     holds the lease                  error, outcome_unknown kept
                            past a limit                                                   (an earlier attempt may
                                                                                           have gone out); post.failed
    PUBLISHING  (settle)    publication_recover (sweep)   lease expired (worker lost)      settle(later, maybe sent):
                                                                                           the attempt still counts
    PENDING     FAILED      expiry (connection_expired    post PUBLISHING                  error "reconnect",
                            signal)                                                        failedBecause; post.failed
    FAILED      PENDING     retry.publications_reopen:    its account connected (ACTIVE);  attempt_count 0, no error,
                            a person's retry (API,        the post FAILED or PARTIAL (a    no failedBecause; the post
                            admin: publications_retry),   reconnect: or still PUBLISHING); back to PUBLISHING, its row
                            a reconnect's re-queue        the post's row locked            written; a job. One tried
                            (expiry.publications_                                          before is outcome_unknown
                            requeue_after_reconnect)                                       and keeps first_attempt_at:
                                                                                           it is looked up first

PUBLISHED is final; FAILED is final unless a person asks again. Nothing else writes a
publication's status.

An edit (``posts.post_update``: the API's PATCH and PUT, the admin's change form) is allowed
while the post is DRAFT, IN_REVIEW or SCHEDULED and refused from PUBLISHING on (the API's 409,
with the reason): it locks the post's row, and the dispatch's guarded move to PUBLISHING waits
for that lock, so an edit is either in before the post starts or refused after; no publication
can be claimed before its post is PUBLISHING. A stager at work when an edit discards its media
loses its stage lease and cannot write them back (its write is fenced by ``stage_token``).

Because the claim requires the post to be PUBLISHING and due, a
CANCELLED, DRAFT, IN_REVIEW or SCHEDULED post's publication can never reach a platform,
whatever job sits in the queue or whatever lease is recovered.

Each target has its own time: ``COALESCE(publication.scheduled_at, post.scheduled_at)``, a
queued target's being its slot only (none while its queue is paused), and ``Post.scheduled_at``
is the earliest of its targets'. The post starts (PUBLISHING) when its earliest target is due;
the claim also requires the target's own time, so a target due later is never published early,
whatever job runs: dispatch enqueues it at its time, with ``next_attempt_at`` saying when (the
sweep's lost-job recovery waits for it), and a held target gets no job until its queue resumes.

Every write out of PUBLISHING is fenced by the attempt's ``lease_token``: a late answer of an
attempt presumed dead cannot overwrite what its successor did.

A publication may take several steps (a thread: the post, then each part as a reply): within
PUBLISHING, ``record_step`` writes each step's result to ``metadata`` (a fenced UPDATE, nothing
else) before the next step is sent, so an attempt that ends half-way leaves the steps done on
the row, and the next attempt starts after them. The first comment comes after PUBLISHED, on
its own job and counter (publishing.services.comments): it never moves the publication, but its
attempts take the same steps (a claim, the token renewed, a lost answer looked up before sending
again, the limits of ``apply_limits``, one settle), on ``metadata["firstComment"]``.

One attempt counter: ``attempt_count`` is raised by the claim, before the platform is called,
so an attempt that dies or whose outcome cannot be written still counts; waits the platform
asks for (rate limits, media still processing) and refusals that never called it give theirs
back. At PUBLISH_MAX_ATTEMPTS the publication ends FAILED with the last reason; waits end at
PUBLISH_WAIT_LIMIT_HOURS after the first attempt. So every publication ends.
"""

from __future__ import annotations

import copy
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from connections.models import Connection
from connections.platforms.base import (
    Published,
)
from planrrr import logs, outages, sql
from planrrr.outages import DATABASE_ERRORS
from planrrr.text import clamp_wait, safe_text, storable
from publishing import metadata as keys
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services import signals
from publishing.services.dispatch import (
    first_comment_enqueue,
    publication_enqueue,
    publication_enqueue_on_commit,
    publication_job_id,
)
from publishing.services.expiry import connection_expire
from publishing.services.finalize import post_finalize, post_finalize_settled, read_sql

logger = logging.getLogger("planrrr.publishing")

Outcome = JobMetric.Outcome
DONE, LATER, GIVE_UP = "done", "later", "give up"


@dataclass(frozen=True)
class Result:
    """What an attempt came to: ``done`` (published), ``later`` (at ``retry_at``, or after
    backoff when None) or ``give up``; with the flags that decide what else is written."""

    kind: str
    error: str = ""
    published: Published | None = None
    retry_at: datetime | None = None
    # The platform may have acted although we did not learn it: the next attempt asks first.
    maybe_sent: bool = False
    # The attempt counts toward PUBLISH_MAX_ATTEMPTS (a wait the platform asked for does not).
    counts: bool = True
    # Why the account's token is dead (the platform's words, or planrrr's): the attempt's end
    # expires the connection with this reason. None while the token is not known to be dead.
    token_dead: str | None = None
    reconciled: bool = False
    # The JobMetric outcome of a ``later`` (RETRY, RATE_LIMITED; None records nothing).
    metric: str | None = Outcome.RETRY
    lag_ms: float | None = None

    @classmethod
    def dead_token(cls, platform: str, reason: str, *, counts: bool = True) -> Result:
        """Give up: the account's token is dead (``reason``). Its error says to reconnect; the
        reason is kept as it is, for the connection it expires."""
        return cls(GIVE_UP, rules.reconnect(platform, reason), counts=counts, token_dead=reason)

    @property
    def expire_connection(self) -> bool:
        return self.token_dead is not None


@dataclass
class Attempt:
    publication: Publication
    token: uuid.UUID
    started: float
    state: dict = field(default_factory=dict)


# --- claim ---------------------------------------------------------------------------------


def claim(publication_id: int, started: float) -> Attempt | None:
    """PENDING -> PUBLISHING, counting the attempt before the platform is called, only while
    the post is PUBLISHING and due, and the target's own time has come. Exactly one caller wins.
    One statement that also returns the row as it now is, with its post and connection: the
    attempt's only read before the platform is called (Django's update() returns only a count,
    and a select_related() before it would be a second round trip)."""
    token, now = uuid.uuid4(), timezone.now()
    params = {
        "token": token,
        "lease_expires_at": now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS),
        "now": now,
        "due_by": now + timedelta(seconds=1),
        "pk": publication_id,
        "pending": Publication.Status.PENDING,
        "publishing": Publication.Status.PUBLISHING,
        "post_publishing": Post.Status.PUBLISHING,
    }
    connection = connections[Publication.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    publication, width = sql.instance_from_row(Publication, row, connection)
    post, more = sql.instance_from_row(Post, row[width:], connection)
    account, _ = sql.instance_from_row(Connection, row[width + more :], connection)
    publication.post = post
    publication.connection = account if publication.connection_id is not None else None
    return Attempt(publication=publication, token=token, started=started, state=dict(publication.metadata))


# The UPDATE's own RETURNING gives the row as it now is; the post and the connection are read in
# the same statement (its snapshot), as the attempt found them.
_CLAIM_SQL = f"""
    WITH claimed AS (
        UPDATE {Publication._meta.db_table} AS p
           SET status = %(publishing)s,
               attempt_count = p.attempt_count + 1,
               lease_token = %(token)s,
               lease_expires_at = %(lease_expires_at)s,
               first_attempt_at = COALESCE(p.first_attempt_at, %(now)s),
               next_attempt_at = NULL,
               updated_at = %(now)s
         WHERE p.id = %(pk)s
           AND p.status = %(pending)s
           AND (p.next_attempt_at IS NULL OR p.next_attempt_at <= %(due_by)s)
           AND (p.stage_expires_at IS NULL OR p.stage_expires_at < %(now)s)
           AND EXISTS (
                 SELECT 1 FROM {Post._meta.db_table} AS post
                  WHERE post.id = p.post_id
                    AND post.status = %(post_publishing)s
                    AND post.scheduled_at <= %(due_by)s
                    -- The target's own time (a queued one's only: held in a paused queue, none).
                    AND COALESCE(p.scheduled_at, CASE WHEN p.queue_position IS NULL THEN post.scheduled_at END)
                        <= %(due_by)s
               )
     RETURNING p.*
    )
    SELECT {sql.columns(Publication, "claimed")}, {sql.columns(Post, "post")}, {sql.columns(Connection, "account")}
      FROM claimed
      JOIN {Post._meta.db_table} AS post ON post.id = claimed.post_id
      LEFT JOIN {Connection._meta.db_table} AS account ON account.id = claimed.connection_id
"""


def record_step(attempt: Attempt) -> bool:
    """Write the attempt's state (``metadata``: the steps done so far) while it still holds
    its lease; False if it lost it (another attempt took over: stop)."""
    return bool(
        Publication.objects.filter(
            pk=attempt.publication.pk, status=Publication.Status.PUBLISHING, lease_token=attempt.token
        ).update(metadata=_storable_json(attempt.state), updated_at=timezone.now())
    )


# --- settle --------------------------------------------------------------------------------


def settle(attempt: Attempt, result: Result) -> str:
    """End an attempt: write the row, the event and the metric in one statement, only if the
    attempt still holds its lease; enqueue the next job once that is committed; then derive the
    post's status.

    If PostgreSQL cannot be reached (restarting, failing over), the attempt holds its outcome
    and writes it as soon as the database is back: tried again with backoff while the lease and
    the job's timeout allow (``planrrr.outages.database_retry``), not left for the sweep to find
    once the lease has run out. Past that, the lease's end is the sweep's to recover (the
    attempt counts; the next one asks the platform first). If the outcome cannot be written for
    another reason (a value PostgreSQL refuses, a bug), a minimal outcome is written instead,
    so the attempt still ends and still counts."""
    try:
        outcome = _settle(attempt, result)
    except Exception as err:
        if outages.database_unreachable(err):
            # The outage is logged once by the process; this publication's fate, once.
            logger.warning(
                "publication %s: the outcome of attempt %s could not be written before its lease ran out "
                "(PostgreSQL unreachable); the sweep recovers it",
                attempt.publication.pk,
                attempt.publication.attempt_count,
            )
            outcome = Outcome.SKIPPED
        else:
            logger.exception("publication %s: could not record the outcome of attempt", attempt.publication.pk)
            outcome = _settle_minimal(attempt, err)
    _log_outcome(attempt, outcome)
    return outcome


# Kept between the last try at writing an outcome and the end of the lease or the job's timeout.
SETTLE_MARGIN_SECONDS = 5.0


def _settle_deadline(attempt: Attempt) -> float:
    """The monotonic time after which an attempt stops waiting for PostgreSQL to write its
    outcome: before its lease ends (another attempt may then take over) and before its job's
    timeout (RQ would end it mid-wait)."""
    job_end = attempt.started + settings.PUBLISH_JOB_TIMEOUT
    lease_end = job_end
    expires = attempt.publication.lease_expires_at
    if expires is not None:
        lease_end = time.monotonic() + (expires - timezone.now()).total_seconds()
    return min(job_end, lease_end) - SETTLE_MARGIN_SECONDS


# The level of each outcome's line: a retry is expected (a warning, no traceback); giving up is
# what an operator acts on; nothing done (another attempt holds the lease) is detail.
_LEVELS = {Outcome.FAILED: logging.ERROR, Outcome.RETRY: logging.WARNING, Outcome.RATE_LIMITED: logging.WARNING}


def _log_outcome(attempt: Attempt, outcome: str) -> None:
    """One line per attempt's end (planrrr.logs): post, publication, platform, outcome, attempt,
    duration and the stored (secret-free) error."""
    publication = attempt.publication
    level = logging.DEBUG if outcome == Outcome.SKIPPED else _LEVELS.get(outcome, logging.INFO)
    logs.event(
        logger,
        level,
        "publication outcome",
        post=publication.post_id,
        publication=publication.pk,
        platform=publication.platform,
        outcome=str(outcome),
        attempt=publication.attempt_count,
        duration_ms=round((time.monotonic() - attempt.started) * 1000, 1),
        error=publication.error if outcome != Outcome.PUBLISHED else "",
    )


def _settle(attempt: Attempt, result: Result) -> str:
    publication, now = attempt.publication, timezone.now()
    connection = publication.connection
    kind, fields, retry_at = _decide(attempt, result, now)

    # What else the attempt's end writes, all in the statement that settles the row.
    slow_until = event = None
    if kind == DONE:
        outcome = Outcome.RECONCILED if result.reconciled else Outcome.PUBLISHED
        if result.published.slow_down_until:
            slow_until = clamp_wait(result.published.slow_down_until, what=f"{publication.platform} usage")
    elif kind == LATER:
        outcome = result.metric or Outcome.SKIPPED
        if result.metric == Outcome.RATE_LIMITED:
            slow_until = retry_at
        fields.update(job_id=publication_job_id(publication), enqueued_at=now)
    else:
        outcome = Outcome.FAILED
    # The row as it will be once settled (the event and the metric describe that row); the
    # attempt's own copy changes only if the write succeeds.
    after = copy.copy(publication)
    for name, value in fields.items():
        setattr(after, name, value)
    team_id = publication.post.team_id
    if kind == DONE:
        data = signals.published_data(after, external_id=after.external_id, url=result.published.url, published_at=now)
        event = signals.event_sql(team_id, "post.published", data, when="settled")
    elif kind == GIVE_UP:
        event = signals.event_sql(team_id, "post.failed", signals.failed_data(after), when="settled")
    metric = None
    if kind != LATER or result.metric:
        metric = signals.metric_values(after, outcome, started=attempt.started, lag_ms=result.lag_ms)

    deadline = _settle_deadline(attempt)

    def retried(call):
        return outages.database_retry(call, deadline=deadline, using=Publication.objects.db)

    settled, deliveries, post_rows = retried(
        lambda: _write(attempt, fields, metric=metric, event=event, slow_until=slow_until, read_post=kind != LATER)
    )
    if not settled:
        return Outcome.SKIPPED
    for name, value in fields.items():
        setattr(publication, name, value)
    if event is not None:
        event.enqueue(deliveries)
    if kind == DONE and publication.post.first_comment:
        first_comment_enqueue(publication=publication)
    elif kind == LATER:
        publication_enqueue_on_commit(publication=publication, job_id=publication.job_id, at=retry_at)
    try:
        if kind == GIVE_UP and result.expire_connection and connection is not None:
            retried(lambda: connection_expire(connection_id=connection.pk, reason=result.token_dead))
        if kind != LATER:
            retried(lambda: post_finalize_settled(publication=publication, rows=post_rows))
    except DATABASE_ERRORS as error:
        if not outages.database_unreachable(error):
            raise
        # The outcome is written; the post's status is derived by the sweep (settled_posts_finalize),
        # an expired connection found again by the next attempt that uses it.
        logger.warning(
            "publication %s: outcome written; what follows it is left to the sweep (PostgreSQL unreachable)",
            publication.pk,
        )
    return outcome


def _decide(attempt: Attempt, result: Result, now: datetime) -> tuple[str, dict, datetime | None]:
    """What the attempt comes to once the limits are applied (a ``later`` past
    PUBLISH_MAX_ATTEMPTS or PUBLISH_WAIT_LIMIT_HOURS gives up): (kind, the publication's
    fields to write, the next attempt's time for ``later``)."""
    publication = attempt.publication
    connection = publication.connection
    secrets = [connection.access_token] if connection is not None else []
    attempts = publication.attempt_count if result.counts else publication.attempt_count - 1
    kind, error, retry_at = apply_limits(
        result,
        error=safe_text(result.error, secrets=secrets),
        attempts=attempts,
        first=publication.first_attempt_at or publication.created_at,
        now=now,
    )
    fields = {
        "lease_token": None,
        "lease_expires_at": None,
        "updated_at": now,
        "attempt_count": attempts,
        "metadata": _storable_json(attempt.state),
    }
    if kind == DONE:
        published = result.published
        metadata = {**fields["metadata"], **_storable_json(published.metadata)}
        metadata.pop(keys.OUTCOME_UNKNOWN, None)
        if published.url:
            metadata[keys.URL] = storable(published.url, limit=2000)
        if result.reconciled:
            metadata[keys.RECONCILED] = True
        external_id = storable(published.external_id, limit=200)
        fields.update(
            status=Publication.Status.PUBLISHED,
            external_id=external_id,
            published_at=now,
            metadata=metadata,
            error="",
            next_attempt_at=None,
            outcome_unknown=False,
        )
    elif kind == LATER:
        note = [f"attempt {attempts}"] if result.counts else []
        note += ["rate limited"] if result.metric == Outcome.RATE_LIMITED else []
        note += [f"next attempt at {retry_at:%H:%M:%S} UTC"]
        fields.update(
            status=Publication.Status.PENDING,
            error=f"{error} ({'; '.join(note)})" if result.metric else error,
            next_attempt_at=retry_at,
            # Once unknown, stays unknown until an attempt learns the outcome.
            outcome_unknown=publication.outcome_unknown or result.maybe_sent,
        )
    else:
        # An attempt that may have gone out stays said so: a person's retry, or a re-queue after a
        # reconnect, looks the post up on the platform before sending it again.
        fields.update(
            status=Publication.Status.FAILED,
            error=error,
            next_attempt_at=None,
            outcome_unknown=publication.outcome_unknown or result.maybe_sent,
        )
        if result.expire_connection:  # failed only because of the token: re-queued after a reconnect
            fields["metadata"] = {**fields["metadata"], keys.FAILED_BECAUSE: keys.TOKEN}
    return kind, fields, retry_at


def apply_limits(
    result: Result, *, error: str, attempts: int, first: datetime | None, now: datetime
) -> tuple[str, str, datetime | None]:
    """What an attempt (a publication's, a first comment's) comes to once the limits are applied:
    (kind, error, the next attempt's time for ``later``). A ``later`` that counts gives up at
    PUBLISH_MAX_ATTEMPTS (``attempts``: those counted, this one included); one that does not (a
    wait the platform asked for) gives up PUBLISH_WAIT_LIMIT_HOURS after ``first``; a ``later``
    without a time of its own waits the backoff."""
    kind = result.kind
    if kind == LATER and result.counts and attempts >= settings.PUBLISH_MAX_ATTEMPTS:
        kind, error = GIVE_UP, rules.gave_up(error, attempts)
    elif kind == LATER and not result.counts and _waited_too_long(first, now):
        kind = GIVE_UP
        error = f"{error} — still not published {settings.PUBLISH_WAIT_LIMIT_HOURS} h after the first attempt; gave up."
    retry_at = None
    if kind == LATER:
        retry_at = result.retry_at or now + timedelta(seconds=_backoff(attempts))
    return kind, error, retry_at


def _write(
    attempt: Attempt, fields: dict, *, metric: dict | None, event, slow_until: datetime | None, read_post: bool
) -> tuple[bool, list | None, list[tuple]]:
    """The attempt's end as one statement (its own transaction, one round trip): the row, fenced
    by the lease token; the metric row; the account's slow-down; the webhook event. Nothing is
    written unless the attempt still holds its lease. Returns (settled, the event's deliveries,
    and with ``read_post`` the post as finalize reads it, ``finalize.read_sql()``, in this
    statement's snapshot)."""
    publication = attempt.publication
    connection = connections[Publication.objects.db]
    assigned, params = sql.assignments(Publication, fields, connection, prefix="p")
    params.update(pk=publication.pk, token=attempt.token, publishing=Publication.Status.PUBLISHING)
    ctes = [
        f"""settled AS (
            UPDATE {Publication._meta.db_table} SET {assigned}
             WHERE id = %(pk)s AND status = %(publishing)s AND lease_token IS NOT DISTINCT FROM %(token)s
            RETURNING id
        )"""
    ]
    if metric is not None:
        columns, values, metric_params = sql.insert_select(JobMetric, metric, connection, prefix="m")
        ctes.append(f"metric AS (INSERT INTO {JobMetric._meta.db_table} ({columns}) SELECT {values} FROM settled)")
        params.update(metric_params)
    if slow_until is not None and publication.connection_id is not None:
        ctes.append(
            f"""slowed AS (
                UPDATE {Connection._meta.db_table} SET rate_limited_until = %(slow_until)s
                 WHERE id = %(connection)s AND EXISTS (SELECT 1 FROM settled)
            )"""
        )
        params.update(slow_until=slow_until, connection=publication.connection_id)
    selected = ["(SELECT count(*) FROM settled)"]
    if event is not None:
        ctes.append(event.ctes)
        params.update(event.params)
        selected.append(event.deliveries)
    width = len(selected)
    if read_post:
        # One row per publication of the post (the settled count and the deliveries repeated).
        selected.append("post_read.*")
        params["finalize_post"] = publication.post_id
    statement = f"WITH {', '.join(ctes)} SELECT {', '.join(selected)}"
    if read_post:
        statement += (
            f" FROM (SELECT 1) AS one LEFT JOIN ({read_sql()}) AS post_read ON true ORDER BY post_read.publication_id"
        )
    rows = sql.execute(Publication, statement, params)
    first = rows[0]
    return bool(first[0]), (first[1] if event is not None else None), [row[width:] for row in rows]


def _settle_minimal(attempt: Attempt, err: Exception) -> str:
    """The outcome could not be written: end the attempt with what surely can be. Whether the
    platform took the post is then unknown, so the next attempt asks it first."""
    publication, now = attempt.publication, timezone.now()
    attempts = publication.attempt_count
    reason = (
        f"The outcome of attempt {attempts} could not be recorded ({err.__class__.__name__}); "
        "checking with the platform before trying again."
    )
    final = attempts >= settings.PUBLISH_MAX_ATTEMPTS
    retry_at = now + timedelta(seconds=_backoff(attempts))
    try:
        with transaction.atomic():
            updated = Publication.objects.filter(
                pk=publication.pk, status=Publication.Status.PUBLISHING, lease_token=attempt.token
            ).update(
                status=Publication.Status.FAILED if final else Publication.Status.PENDING,
                error=rules.gave_up(reason, attempts) if final else reason,
                outcome_unknown=True,
                next_attempt_at=None if final else retry_at,
                lease_token=None,
                lease_expires_at=None,
                updated_at=now,
            )
            if updated and not final:
                publication_enqueue(publication=publication, at=retry_at)
    except Exception:
        # The lease runs out and the sweep settles it as interrupted (it still counts).
        logger.exception("publication %s: could not record even a minimal outcome", publication.pk)
        return Outcome.SKIPPED
    if updated and final:
        post_finalize(post_id=publication.post_id)
    return Outcome.FAILED if final else Outcome.SKIPPED


def _waited_too_long(first: datetime | None, now: datetime) -> bool:
    return bool(first) and now - first > timedelta(hours=settings.PUBLISH_WAIT_LIMIT_HOURS)


def _backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts``: exponential with ±25 % jitter, so that
    many publications failing together do not come back together."""
    base = settings.PUBLISH_RETRY_BASE_SECONDS
    return max(1.0, base * 2 ** max(attempts - 1, 0) * random.uniform(0.75, 1.25))


def _storable_json(value):
    """A JSON value PostgreSQL's jsonb takes: no NUL (\\u0000) or lone surrogate in any string."""
    if isinstance(value, str):
        return storable(value, limit=10_000)
    if isinstance(value, dict):
        return {storable(k, limit=200): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_json(v) for v in value]
    return value


# --- recovery and connections --------------------------------------------------------------


def publication_recover(*, publication: Publication) -> str:
    """A PUBLISHING publication past its lease: its worker died, or its outcome could not be
    written. The attempt counts; its request may have reached the platform."""
    attempt = Attempt(
        publication=publication, token=publication.lease_token, started=time.monotonic(), state=publication.metadata
    )
    logger.warning("publication %s: attempt %s lost, recovering", publication.pk, publication.attempt_count)
    result = Result(
        LATER,
        f"Attempt {publication.attempt_count} was interrupted (worker lost, or its outcome could not be "
        "recorded); checking with the platform before trying again.",
        retry_at=timezone.now(),
        maybe_sent=True,
        metric=None,
    )
    return settle(attempt, result)
