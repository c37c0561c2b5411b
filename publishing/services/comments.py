"""The first comment: posted on a publication once it is PUBLISHED, on its own job and with its
own attempt counter, so that a comment that fails never fails or re-publishes the post.

Its state is ``metadata["firstComment"]`` on the publication, written by compare-and-set (the
UPDATE names the state it read: of two jobs for one comment exactly one goes on)::

    {"attempts": 1, "inFlight": "<lease end, ISO 8601>"}      an attempt is talking to the platform
    {"attempts": 2, "error": "...", "nextAttemptAt": "...",    waiting for the next try (transient);
     "outcomeUnknown": true}                                    the next one looks for it first
    {"attempts": 3, "id": "<comment id>"}                      done (``reconciled`` when found)
    {"attempts": 5, "error": "...", "gaveUp": true}            given up: a warning on the publication
                                                               (metadata["warnings"]) and one
                                                               ``post.comment_failed`` event

The transient rules are the publication's: TransientError and RateLimited try again (after
backoff, or at the platform's time), up to PUBLISH_MAX_ATTEMPTS; anything else gives up.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.platforms import get_adapter
from connections.platforms.base import Account, NotReady, PlatformError, RateLimited, TransientError
from planrrr.text import clamp_wait, safe_text
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services import signals
from publishing.services.attempts import _backoff, _storable_json
from publishing.services.dispatch import first_comment_enqueue

logger = logging.getLogger("planrrr.publishing")

Outcome = JobMetric.Outcome
KEY = "firstComment"


def publication_first_comment(*, publication_id: int) -> str:
    """One attempt at a publication's first comment. Safe to run twice or late: it does nothing
    for a publication not PUBLISHED, without a first comment, already commented, given up, or
    whose comment another job is making."""
    started = time.monotonic()
    publication = Publication.objects.select_related("post", "connection").filter(pk=publication_id).first()
    if publication is None or publication.status != Publication.Status.PUBLISHED:
        return Outcome.SKIPPED
    text = publication.post.first_comment
    before = publication.metadata.get(KEY) if isinstance(publication.metadata, dict) else None
    state = dict(before) if isinstance(before, dict) else {}
    now = timezone.now()
    if not text or state.get("id") or state.get("gaveUp"):
        return Outcome.SKIPPED
    in_flight = _time(state.get("inFlight"))
    if in_flight and in_flight > now:
        return Outcome.SKIPPED
    waiting = _time(state.get("nextAttemptAt"))
    if waiting and waiting > now + timedelta(seconds=1):
        return Outcome.SKIPPED
    # An attempt that never wrote its outcome (worker killed) may have reached the platform.
    unknown = bool(state.get("outcomeUnknown") or in_flight)
    attempts = int(state.get("attempts", 0)) + 1
    claimed = {
        "attempts": attempts,
        "inFlight": (now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)).isoformat(),
        **({"outcomeUnknown": True} if unknown else {}),
    }
    if not _swap(publication, before, claimed):
        return Outcome.SKIPPED
    outcome, after = _attempt(publication, text, attempts=attempts, unknown=unknown)
    with transaction.atomic():
        if not _swap(publication, claimed, after, warning=after.get("gaveUp") and after.get("error")):
            return Outcome.SKIPPED
        if after.get("gaveUp"):
            signals.emit(
                publication.post.team_id,
                "post.comment_failed",
                {
                    "postId": publication.post_id,
                    "publicationId": publication.pk,
                    "platform": publication.platform,
                    "externalId": publication.external_id,
                    "error": after["error"],
                    "attemptCount": attempts,
                },
            )
        elif after.get("nextAttemptAt"):
            first_comment_enqueue(publication=publication, at=_time(after["nextAttemptAt"]))
        signals.record_metric(publication, outcome, started=started, attempt=attempts, kind="comment")
    return outcome


def _attempt(publication: Publication, text: str, *, attempts: int, unknown: bool) -> tuple[str, dict]:
    """Ask the platform; (outcome, the state to write). Never raises."""
    connection = publication.connection
    base = {"attempts": attempts}
    problem = rules.connection_problem(publication.post.team_id, publication.platform, connection)
    if problem:
        return Outcome.FAILED, {**base, "error": problem, "gaveUp": True}
    adapter = get_adapter(publication.platform)
    account = Account.of(connection)
    secrets = [connection.access_token]
    try:
        found = None
        if unknown:
            since = (publication.published_at or timezone.now()) - timedelta(minutes=1)
            found = adapter.find_comment(account, publication.external_id, text, since)
        if found:
            return Outcome.RECONCILED, {**base, "id": found, "reconciled": True}
        return Outcome.PUBLISHED, {**base, "id": adapter.comment(account, publication.external_id, text)}
    except PlatformError as err:
        error = safe_text(err.message, secrets=secrets)
        transient = isinstance(err, TransientError | RateLimited | NotReady)
        if transient and attempts < settings.PUBLISH_MAX_ATTEMPTS:
            retry_at = getattr(err, "retry_at", None)
            if retry_at is not None:
                retry_at = clamp_wait(retry_at, what=f"{publication.platform} comment")
            retry_at = retry_at or timezone.now() + timedelta(seconds=_backoff(attempts))
            state = {**base, "error": error, "nextAttemptAt": retry_at.isoformat()}
            return Outcome.RETRY, {**state, **({"outcomeUnknown": True} if err.maybe_sent else {})}
        if transient:
            error = rules.gave_up(error, attempts)
        return Outcome.FAILED, {**base, "error": error, "gaveUp": True}
    except Exception as err:  # a bug, or the job timeout: the comment may have gone out
        logger.exception("publication %s: first comment attempt %s raised", publication.pk, attempts)
        error = safe_text(f"First comment interrupted: {err.__class__.__name__}: {err}", secrets=secrets)
        if attempts < settings.PUBLISH_MAX_ATTEMPTS:
            retry_at = timezone.now() + timedelta(seconds=_backoff(attempts))
            return Outcome.RETRY, {
                **base,
                "error": error,
                "nextAttemptAt": retry_at.isoformat(),
                "outcomeUnknown": True,
            }
        return Outcome.FAILED, {**base, "error": rules.gave_up(error, attempts), "gaveUp": True}


_SWAP_SQL = f"""
    UPDATE {Publication._meta.db_table}
       SET metadata = jsonb_set(
               CASE WHEN %(warning)s::text IS NULL THEN metadata
                    ELSE jsonb_set(metadata, '{{warnings}}',
                                   COALESCE(metadata->'warnings', '[]'::jsonb) || to_jsonb(%(warning)s::text))
               END,
               '{{{KEY}}}', %(after)s::jsonb),
           updated_at = %(now)s
     WHERE id = %(pk)s
       AND status = %(published)s
       AND (metadata->'{KEY}') IS NOT DISTINCT FROM %(before)s::jsonb
"""


def _swap(publication: Publication, before: dict | None, after: dict, *, warning: str | None = None) -> bool:
    """metadata.firstComment ``before`` -> ``after`` (and a warning added), only if it still is
    ``before``: one statement, so the publish path's fields are never touched."""
    after = _storable_json(after)
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
                "before": None if before is None else json.dumps(before),
            },
        )
        swapped = cursor.rowcount == 1
    if swapped:
        publication.metadata = {**publication.metadata, KEY: after}
        if note:
            publication.metadata["warnings"] = [*publication.metadata.get("warnings", []), note]
    return swapped


def first_comments_requeue(now: datetime) -> int:
    """The sweep: enqueue the first comments whose job was lost (Redis lost it, a worker died
    mid-attempt): due and not done, given up or in flight. A duplicate job does nothing."""
    late = now - timedelta(seconds=settings.SWEEP_REQUEUE_AFTER_SECONDS)
    candidates = (
        Publication.objects.filter(status=Publication.Status.PUBLISHED, published_at__lt=late)
        .exclude(post__first_comment="")
        # Not done nor given up (a missing key is not "not done" to SQL's NOT: said apart).
        .filter(Q(metadata__firstComment__isnull=True) | ~Q(metadata__firstComment__has_any_keys=["id", "gaveUp"]))
        .filter(post__status__in=[Post.Status.PUBLISHED, Post.Status.PARTIAL])
        .only("pk", "metadata", "platform", "post_id")[:200]
    )
    requeued = 0
    for publication in candidates:
        state = publication.metadata.get(KEY) if isinstance(publication.metadata, dict) else None
        state = state if isinstance(state, dict) else {}
        if state.get("id") or state.get("gaveUp"):
            continue
        due = _time(state.get("inFlight")) or _time(state.get("nextAttemptAt"))
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
