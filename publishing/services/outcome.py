"""The end of an attempt (publishing.services.attempts claims it): ``settle`` writes the
publication's row, its event and its metric in one statement, only while the attempt holds its
lease, decides what comes next (done, later, give up: ``_decide``, with the limits of
``apply_limits``), enqueues the next job once committed, and derives the post's status; when
PostgreSQL cannot take that statement, it waits with backoff (planrrr.outages), then writes
what it can (``_settle_minimal``). ``publication_recover`` settles an attempt whose worker was
lost. The moves it makes are the state machine's, in publishing.services.attempts.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from connections.models import Connection
from planrrr import logs, outages, sql
from planrrr.outages import DATABASE_ERRORS
from planrrr.text import clamp_wait, safe_text, storable
from publishing import metadata as keys
from publishing import rules
from publishing.models import JobMetric, Publication
from publishing.services import signals
from publishing.services.attempts import (
    DONE,
    GIVE_UP,
    LATER,
    Attempt,
    Result,
    storable_json,
)
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
    if kind != LATER or result.metric:
        fields["metadata"] = _with_history(fields, outcome=outcome, now=now, note=result.note if kind == DONE else "")
    elif result.counts:  # an attempt lost with its worker (publication_recover)
        fields["metadata"] = _with_history(fields, outcome=INTERRUPTED, now=now)
    # A wait the platform asked for (processing, review) is not an attempt's end: no line.
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
        "metadata": storable_json(attempt.state),
    }
    if kind == DONE:
        published = result.published
        metadata = {**fields["metadata"], **storable_json(published.metadata)}
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


# The history's outcome of an attempt whose worker was lost (metadata.HISTORY).
INTERRUPTED = "INTERRUPTED"


def _with_history(fields: dict, *, outcome: str, now: datetime, note: str = "") -> dict:
    """The publication's metadata with this attempt's end added to its history (metadata.HISTORY),
    with ``note`` saying how a reconciled post was found where that is worth saying."""
    metadata = fields["metadata"]
    kept = metadata.get(keys.HISTORY)
    history = [entry for entry in kept if isinstance(entry, dict)] if isinstance(kept, list) else []
    entry = {
        "attempt": fields["attempt_count"],
        "at": now.isoformat(),
        "outcome": str(outcome),
        "error": fields.get("error", ""),
    }
    if note:
        entry["note"] = storable(note, limit=1000)
    return {**metadata, keys.HISTORY: [*history, entry][-keys.HISTORY_KEPT :]}


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
