"""The first comment: posted on a publication once it is PUBLISHED, on its own job and with its
own attempt counter, so that a comment that fails never fails or re-publishes the post.

Its attempts follow a publication's (``publishing.services.attempts``, ``publish``): a claim
before the platform is called, the account's slow-down and an expiring token renewed first, the
request sent by ``publish.send_step`` (looked for on the platform first when an earlier attempt's
outcome is unknown; what finds it, Bluesky's record key, written before it is sent; a refused
token renewed once), the failure classified by ``publish.result_of`` and the limits of
``outcome.apply_limits``, and one settle. Only where it is kept differs: the publication is
PUBLISHED and stays so, so the comment's state is ``metadata["firstComment"]``, written by
compare-and-set (each UPDATE names the state it read: of two jobs for one comment exactly one goes
on, and an attempt that lost its claim writes nothing)::

    {"attempts": 1, "inFlight": "<lease end, ISO 8601>"}      an attempt is talking to the platform
    {"attempts": 2, "error": "...", "nextAttemptAt": "...",    waiting for the next try (transient,
     "outcomeUnknown": true}                                    or a wait the platform asked for);
                                                                the next one looks for it first
    {"attempts": 3, "id": "<comment id>"}                      done (``reconciled`` when found)
    {"attempts": 5, "error": "...", "gaveUp": true}            given up: a warning on the publication
                                                               (metadata["warnings"]) and one
                                                               ``post.comment_failed`` event

and, beside those, ``"state"``: what the platform's adapter keeps for the comment across its
attempts (Bluesky: the record key it is written at), when it keeps anything.

What comes of an attempt is decided as for a publication, by the same functions
(``publish.account_hold``, ``renew_if_expiring``, ``result_of``): it tries again after a
TransientError (after backoff), a RateLimited or NotReady (at the platform's time), an account
asked to slow down or a token not renewed yet (waits that cost no attempt), and an attempt
interrupted by anything else (a bug, the job's timeout: the comment may have gone out, so the
next attempt looks for it first); up to PUBLISH_MAX_ATTEMPTS, and PUBLISH_WAIT_LIMIT_HOURS after
the post was published. Anything else gives up; a token that proves dead expires the
connection, as a post's attempt does.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.platforms import get_adapter
from connections.platforms.base import Draft, PlatformError
from planrrr import logs, outages
from planrrr.text import safe_text
from publishing import metadata as keys
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services import signals
from publishing.services.attempts import DONE, GIVE_UP, LATER, Result, storable_json
from publishing.services.dispatch import first_comment_enqueue
from publishing.services.expiry import connection_expire
from publishing.services.outcome import SETTLE_MARGIN_SECONDS, apply_limits
from publishing.services.publish import account_hold, renew_if_expiring, result_of, send_step

logger = logging.getLogger("planrrr.publishing")

Outcome = JobMetric.Outcome


@dataclass
class CommentAttempt:
    """One claimed attempt at a first comment: ``claimed`` is the state it wrote (and the only
    state its later writes may replace); ``state`` the adapter's, kept across attempts."""

    publication: Publication
    text: str
    attempts: int
    unknown: bool
    started: float
    claimed: dict
    state: dict = field(default_factory=dict)


def publication_first_comment(*, publication_id: int) -> str:
    """One attempt at a publication's first comment. Safe to run twice or late: it does nothing
    for a publication not PUBLISHED, without a first comment, already commented, given up, or
    whose comment another job is making."""
    attempt = _claim(publication_id, time.monotonic())
    if attempt is None:
        return Outcome.SKIPPED
    return _settle(attempt, _call(attempt))


def _claim(publication_id: int, started: float) -> CommentAttempt | None:
    """The comment's next attempt, counted before the platform is called, if it is due and no
    other attempt holds it (its lease, ``inFlight``, still running); None otherwise."""
    publication = Publication.objects.select_related("post", "connection").filter(pk=publication_id).first()
    if publication is None or publication.status != Publication.Status.PUBLISHED:
        return None
    text = publication.post.first_comment
    before = publication.metadata.get(keys.FIRST_COMMENT) if isinstance(publication.metadata, dict) else None
    state = dict(before) if isinstance(before, dict) else {}
    now = timezone.now()
    if not text or state.get(keys.ID) or state.get(keys.GAVE_UP):
        return None
    in_flight = _time(state.get(keys.IN_FLIGHT))
    if in_flight and in_flight > now:
        return None
    waiting = _time(state.get(keys.NEXT_ATTEMPT_AT))
    if waiting and waiting > now + timedelta(seconds=1):
        return None
    # An attempt that never wrote its outcome (worker killed) may have reached the platform.
    unknown = bool(state.get(keys.OUTCOME_UNKNOWN) or in_flight)
    attempts = int(state.get(keys.ATTEMPTS, 0)) + 1
    kept = state.get(keys.STATE) if isinstance(state.get(keys.STATE), dict) else {}
    claimed = {
        keys.ATTEMPTS: attempts,
        keys.IN_FLIGHT: (now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)).isoformat(),
        **({keys.OUTCOME_UNKNOWN: True} if unknown else {}),
        **({keys.STATE: kept} if kept else {}),
    }
    if not _swap(publication, before, claimed):
        return None
    return CommentAttempt(
        publication=publication,
        text=text,
        attempts=attempts,
        unknown=unknown,
        started=started,
        claimed=claimed,
        state=dict(kept),
    )


def _call(attempt: CommentAttempt) -> Result:
    """Ask the platform, as a publication's attempt does (``publish._call``). Never raises."""
    publication = attempt.publication
    now = timezone.now()
    held = account_hold(publication, now)
    if held is not None:
        return held
    problem = rules.connection_problem(publication.post.team_id, publication.platform, publication.connection)
    if problem:
        return Result(GIVE_UP, problem, counts=False)
    if attempt.attempts > settings.PUBLISH_MAX_ATTEMPTS:
        return Result(GIVE_UP, rules.gave_up("No attempt left", attempt.attempts - 1))
    waiting = renew_if_expiring(publication, now)
    if waiting is not None:
        return waiting
    draft = Draft(
        text=attempt.text,
        state=attempt.state,
        # The comment replies to (or is made on) the post; on Bluesky the post is its root too.
        reply_to=publication.external_id,
        reply_root=publication.external_id,
        # One first comment per post: its key names the post's id on the platform, which no
        # other installation's post has.
        idempotency_key=f"planrrr-first-comment-{publication.external_id}",
    )
    since = (publication.published_at or now) - timedelta(minutes=1)
    try:
        sent = send_step(
            get_adapter(publication.platform),
            publication,
            draft,
            unknown=attempt.unknown,
            since=since,
            record=lambda: _record(attempt),
            comment=True,
        )
        if sent is None:
            return Result(LATER, "Another attempt took over this first comment.", metric=None)
        return Result(DONE, published=sent.published, reconciled=sent.found)
    except PlatformError as err:
        return result_of(err, platform=publication.platform, unknown=attempt.unknown)
    except Exception as err:  # a bug, or the job timeout: the comment may have gone out
        logger.exception("publication %s: first comment attempt %s raised", publication.pk, attempt.attempts)
        return Result(LATER, f"First comment interrupted: {err.__class__.__name__}: {err}", maybe_sent=True)


def _record(attempt: CommentAttempt) -> bool:
    """Write the adapter's state for the comment (what finds it if the answer is lost) while the
    attempt still holds its claim; False if it lost it."""
    claimed = {**attempt.claimed, keys.STATE: dict(attempt.state)}
    if not _swap(attempt.publication, attempt.claimed, claimed):
        return False
    attempt.claimed = claimed
    return True


def _settle(attempt: CommentAttempt, result: Result) -> str:
    """End the attempt: its state, the metric, the event and the next job, written only if the
    attempt still holds its claim."""
    publication, now = attempt.publication, timezone.now()
    connection = publication.connection
    secrets = [connection.access_token] if connection is not None else []
    attempts = attempt.attempts if result.counts else attempt.attempts - 1
    kind, error, retry_at = apply_limits(
        result,
        error=safe_text(result.error, secrets=secrets),
        attempts=attempts,
        first=publication.published_at,
        now=now,
    )
    after: dict = {keys.ATTEMPTS: attempts}
    if kind == DONE:
        outcome = Outcome.RECONCILED if result.reconciled else Outcome.PUBLISHED
        after[keys.ID] = result.published.external_id
        if result.reconciled:
            after[keys.RECONCILED] = True
    elif kind == LATER:
        outcome = result.metric or Outcome.SKIPPED
        after.update({keys.ERROR: error, keys.NEXT_ATTEMPT_AT: retry_at.isoformat()})
        # Once unknown, stays unknown until an attempt learns the outcome.
        if attempt.unknown or result.maybe_sent:
            after[keys.OUTCOME_UNKNOWN] = True
    else:
        outcome = Outcome.FAILED
        after.update({keys.ERROR: error, keys.GAVE_UP: True})
    if attempt.state:
        after[keys.STATE] = attempt.state
    # PostgreSQL unreachable (restarting, failing over): the outcome is held and written as soon
    # as it is back, within the claim's lease and the job's timeout, as a publication's is.
    deadline = min(
        attempt.started + settings.PUBLISH_JOB_TIMEOUT,
        time.monotonic() + ((_time(attempt.claimed.get(keys.IN_FLIGHT)) or now) - now).total_seconds(),
    )
    written = outages.database_retry(
        lambda: _write(attempt, kind, outcome, after, error, retry_at, attempts),
        deadline=deadline - SETTLE_MARGIN_SECONDS,
        using=Publication.objects.db,
    )
    if not written:
        return Outcome.SKIPPED
    if kind == GIVE_UP and result.expire_connection and connection is not None:
        connection_expire(connection_id=connection.pk, reason=result.token_dead)
    _log_outcome(attempt, outcome, after)
    return outcome


def _write(attempt: CommentAttempt, kind: str, outcome: str, after: dict, error: str, retry_at, attempts: int) -> bool:
    """The attempt's end in one transaction: its state, the event, the next job, the metric;
    False if it no longer held its claim."""
    publication = attempt.publication
    with transaction.atomic():
        if not _swap(publication, attempt.claimed, after, warning=error if kind == GIVE_UP else None):
            return False
        if kind == GIVE_UP:
            signals.emit(
                publication.post.team_id,
                "post.comment_failed",
                {
                    "postId": publication.post_id,
                    "publicationId": publication.pk,
                    "platform": publication.platform,
                    **signals.channel_data(publication),
                    "externalId": publication.external_id,
                    "error": after[keys.ERROR],
                    "attemptCount": attempts,
                },
            )
        elif kind == LATER:
            first_comment_enqueue(publication=publication, at=retry_at)
        if kind != LATER or outcome != Outcome.SKIPPED:
            signals.record_metric(publication, outcome, started=attempt.started, attempt=attempts, kind="comment")
    return True


_LEVELS = {Outcome.FAILED: logging.ERROR, Outcome.RETRY: logging.WARNING, Outcome.RATE_LIMITED: logging.WARNING}


def _log_outcome(attempt: CommentAttempt, outcome: str, after: dict) -> None:
    """One line per attempt's end, as a publication's: ``first comment outcome`` with the post,
    publication, platform, outcome, attempt, duration and the stored (secret-free) error."""
    publication = attempt.publication
    logs.event(
        logger,
        _LEVELS.get(outcome, logging.INFO),
        "first comment outcome",
        post=publication.post_id,
        publication=publication.pk,
        platform=publication.platform,
        outcome=str(outcome),
        attempt=attempt.attempts,
        duration_ms=round((time.monotonic() - attempt.started) * 1000, 1),
        error=after.get(keys.ERROR, ""),
    )


_SWAP_SQL = f"""
    UPDATE {Publication._meta.db_table}
       SET metadata = jsonb_set(
               CASE WHEN %(warning)s::text IS NULL THEN metadata
                    ELSE jsonb_set(metadata, '{{{keys.WARNINGS}}}',
                                   COALESCE(metadata->'{keys.WARNINGS}', '[]'::jsonb) || to_jsonb(%(warning)s::text))
               END,
               '{{{keys.FIRST_COMMENT}}}', %(after)s::jsonb),
           updated_at = %(now)s
     WHERE id = %(pk)s
       AND status = %(published)s
       AND (metadata->'{keys.FIRST_COMMENT}') IS NOT DISTINCT FROM %(before)s::jsonb
"""


def _swap(publication: Publication, before: dict | None, after: dict, *, warning: str | None = None) -> bool:
    """metadata.firstComment ``before`` -> ``after`` (and a warning added), only if it still is
    ``before``: one statement, so the publish path's fields are never touched."""
    after = storable_json(after)
    note = f"The first comment could not be posted: {warning}" if warning else None
    with db.cursor() as cursor:
        cursor.execute(
            _SWAP_SQL,
            {
                "warning": note,
                "after": json.dumps(after),
                "now": timezone.now(),
                "pk": publication.pk,
                "published": Publication.Status.PUBLISHED,
                "before": None if before is None else json.dumps(storable_json(before)),
            },
        )
        swapped = cursor.rowcount == 1
    if swapped:
        publication.metadata = {**publication.metadata, keys.FIRST_COMMENT: after}
        if note:
            publication.metadata[keys.WARNINGS] = [*publication.metadata.get(keys.WARNINGS, []), note]
    return swapped


def first_comments_requeue(now: datetime) -> int:
    """The sweep: enqueue the first comments whose job was lost (Redis lost it, a worker died
    mid-attempt): due and not done, given up or in flight. A duplicate job does nothing."""
    late = now - timedelta(seconds=settings.SWEEP_REQUEUE_AFTER_SECONDS)
    candidates = (
        Publication.objects.filter(status=Publication.Status.PUBLISHED, published_at__lt=late)
        .exclude(post__first_comment="")
        # Not done nor given up (a missing key is not "not done" to SQL's NOT: said apart).
        .filter(
            Q(**{f"metadata__{keys.FIRST_COMMENT}__isnull": True})
            | ~Q(**{f"metadata__{keys.FIRST_COMMENT}__has_any_keys": [keys.ID, keys.GAVE_UP]})
        )
        .filter(post__status__in=[Post.Status.PUBLISHED, Post.Status.PARTIAL])
        .only("pk", "metadata", "platform", "post_id")[:200]
    )
    requeued = 0
    for publication in candidates:
        state = publication.metadata.get(keys.FIRST_COMMENT) if isinstance(publication.metadata, dict) else None
        state = state if isinstance(state, dict) else {}
        if state.get(keys.ID) or state.get(keys.GAVE_UP):
            continue
        due = _time(state.get(keys.IN_FLIGHT)) or _time(state.get(keys.NEXT_ATTEMPT_AT))
        if state and (due is None or due > late):
            continue
        first_comment_enqueue(publication=publication)
        requeued += 1
    return requeued


def _time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
