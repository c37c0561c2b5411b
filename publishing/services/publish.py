"""One attempt at one publication: claim it, ask the platform, settle what came of it.

The states, the claim and the one settle path are in ``publishing.services.attempts`` (its
docstring is the state machine's table); this module is the part in between: everything that
talks to the platform for an attempt, and turns what it says into a ``Result``. It never
raises and never writes a publication's status itself.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from connections.oauth import OAuthFailure
from connections.platforms import get_adapter
from connections.platforms.base import (
    Account,
    Draft,
    Duplicate,
    NotReady,
    PlatformError,
    Published,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.services import connection_refresh
from planrrr.crypto import is_undecryptable
from planrrr.text import clamp_wait
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services.attempts import DONE, GIVE_UP, LATER, Attempt, Result, claim, record_step, settle

logger = logging.getLogger("planrrr.publishing")

Outcome = JobMetric.Outcome
# A token expiring within this is renewed before the attempt uses it.
JUST_IN_TIME = timedelta(minutes=2)


def publication_publish(*, publication_id: int) -> str:
    """One attempt at one publication: claim, call the platform, settle. Returns the outcome
    (a JobMetric.Outcome value). Safe to run twice, early, or for a post that is not
    publishing: the claim refuses, and nothing reaches the platform."""
    started = time.monotonic()
    attempt = claim(publication_id, started)
    if attempt is None:
        return Outcome.SKIPPED
    return settle(attempt, _call(attempt))


def _call(attempt: Attempt) -> Result:
    """Ask the platform, and say what came of it. Never raises."""
    publication = attempt.publication
    post, connection = publication.post, publication.connection
    now = timezone.now()
    if connection is not None and connection.rate_limited_until and connection.rate_limited_until > now:
        until = connection.rate_limited_until
        return Result(
            LATER,
            f"Waiting until {until:%Y-%m-%d %H:%M:%S} UTC: {rules.label(publication.platform)} asked this "
            "account to slow down (rate limit).",
            retry_at=until,
            counts=False,
            metric=None,
        )
    if connection is not None and is_undecryptable(connection.access_token):
        return Result(
            GIVE_UP, rules.reconnect(publication.platform, rules.UNDECRYPTABLE), counts=False, expire_connection=True
        )
    refusal = rules.publication_refusal(publication)
    if refusal:
        return Result(GIVE_UP, refusal, counts=False)
    if publication.attempt_count > settings.PUBLISH_MAX_ATTEMPTS:
        return Result(GIVE_UP, rules.gave_up(publication.error or "No attempt left", publication.attempt_count - 1))
    adapter = get_adapter(publication.platform)
    waiting = _renew_if_expiring(publication, now)
    if waiting is not None:
        return waiting
    connection = publication.connection
    account = Account.of(connection)
    text, media_urls = rules.content_for(post, publication.platform)
    draft = Draft(
        text=text,
        media_urls=media_urls,
        state=attempt.state,
        idempotency_key=f"planrrr-publication-{publication.pk}",
    )
    thread = rules.thread_for(post, publication.platform)
    try:
        if thread:
            return _publish_thread(adapter, attempt, account, draft, thread, lag_ms=_lag_ms(publication, post, now))
        if publication.outcome_unknown:
            # A minute of margin for the platform's clock; a narrow window keeps bursts of
            # posts from pushing this one off the page of recent posts.
            since = (publication.first_attempt_at or publication.created_at) - timedelta(minutes=1)
            external_id = adapter.find_published(account, draft, since)
            if external_id:
                return Result(DONE, published=Published(external_id=external_id), reconciled=True)
        lag_ms = _lag_ms(publication, post, now)
        if not _ready_to_send(adapter, attempt, draft):
            return Result(LATER, "Another attempt took over this publication.", metric=None)
        return Result(DONE, published=_publish(adapter, publication, account, draft), lag_ms=lag_ms)
    except PlatformError as err:
        return result_of(err, publication)
    except Exception as err:  # a bug, or RQ's job timeout: the attempt may have reached the platform
        logger.exception("publication %s: attempt %s raised", publication.pk, publication.attempt_count)
        return Result(LATER, f"Attempt interrupted: {err.__class__.__name__}: {err}", maybe_sent=True)


def _publish_thread(
    adapter, attempt: Attempt, account: Account, post: Draft, thread: list[dict], *, lag_ms: float | None
) -> Result:
    """A thread: several steps of one publication. Step 0 is the post itself, step i the i-th part
    of ``thread``, a reply to step i-1. ``metadata["parts"]`` lists the platform id of every step
    done, in order (so ``parts[0]`` is the post, the publication's ``external_id`` at the end); each
    is written (``record_step``: a fenced UPDATE) before the next step is sent. Whatever ends an
    attempt (a failure, a SIGKILL, a lost answer), the next one starts at the first step not in
    ``parts``, and never sends an earlier one again. The step whose answer was lost is looked for
    among the account's recent posts and replies first, like a post."""
    publication = attempt.publication
    parts = [str(part) for part in attempt.state.get("parts", [])]
    steps = [post]
    part_states = attempt.state.setdefault("partMedia", {})
    for number, part in enumerate(thread, start=1):
        steps.append(
            Draft(
                text=part["content"],
                media_urls=list(part.get("media_urls", [])),
                state=part_states.setdefault(str(number), {}),
                # Each part its own key, the same at every attempt (Mastodon's Idempotency-Key):
                # a part resent after a lost answer is answered with the status already made.
                idempotency_key=f"{post.idempotency_key}-part-{number}" if post.idempotency_key else "",
            )
        )
    unknown, reconciled = publication.outcome_unknown, False
    since = (publication.first_attempt_at or publication.created_at) - timedelta(minutes=1)
    for index in range(len(parts), len(steps)):
        step = steps[index]
        step.reply_to, step.reply_root = (parts[index - 1], parts[0]) if index else ("", "")
        # A step may have renewed the token (_publish sets the new connection): use the newest.
        connection = publication.connection
        account = Account.of(connection)
        external_id = adapter.find_published(account, step, since) if unknown else None
        # Only the first step not recorded can have been sent: the ones after it never were.
        unknown = False
        if external_id:
            # Kept across attempts: which steps were found on the platform rather than sent.
            attempt.state["reconciledParts"] = [*attempt.state.get("reconciledParts", []), index]
            reconciled = True
        else:
            if not _ready_to_send(adapter, attempt, step):
                return Result(LATER, "Another attempt took over this publication.", metric=None)
            published = _publish(adapter, publication, account, step)
            external_id = published.external_id
            if index == 0 and published.url:
                attempt.state["url"] = published.url
        parts.append(external_id)
        attempt.state["parts"] = list(parts)
        if not record_step(attempt):
            return Result(LATER, "Another attempt took over this publication.", metric=None)
    published = Published(external_id=parts[0], url=attempt.state.get("url", ""))
    return Result(DONE, published=published, reconciled=reconciled, lag_ms=lag_ms)


def _ready_to_send(adapter, attempt: Attempt, draft: Draft) -> bool:
    """Let the adapter fix what finds the request's outcome if its answer is lost (Bluesky: the
    record key) and write it on the row (``record_step``) before the request goes out. False if
    the attempt lost its lease meanwhile: it must send nothing."""
    return record_step(attempt) if adapter.prepare(draft) else True


def _renew_if_expiring(publication: Publication, now: datetime) -> Result | None:
    """Renew a token that expires within JUST_IN_TIME (the periodic refresh runs ahead of
    expiry; this catches a token it could not renew yet). None to go on publishing."""
    connection = publication.connection
    if not connection.refreshable or not connection.expires_at or connection.expires_at > now + JUST_IN_TIME:
        return None
    try:
        publication.connection = connection_refresh(connection_id=connection.pk, valid_for=JUST_IN_TIME)
    except OAuthFailure as err:
        if err.grant_dead:
            return Result(
                GIVE_UP, rules.reconnect(publication.platform, err.message), counts=False, expire_connection=True
            )
        if connection.expires_at > now:
            return None  # the token still works: publish with it, the refresh is retried later
        return Result(
            LATER,
            f"The {rules.label(publication.platform)} token expired and could not be renewed yet: {err.message}",
            retry_at=err.retry_at,
            counts=False,
        )
    return None


def _publish(adapter, publication: Publication, account: Account, draft: Draft) -> Published:
    """Publish; on a 401, renew the token once (if it can be) and try again with the new one."""
    try:
        return adapter.publish(account, draft)
    except TokenExpired as refused:
        connection = publication.connection
        if not connection.refreshable:
            raise
        try:
            renewed = connection_refresh(connection_id=connection.pk, rejected_token=account.access_token)
        except OAuthFailure as err:
            if err.grant_dead:
                raise TokenExpired(err.message) from None
            raise TransientError(f"{refused.message}; renewing the token failed: {err.message}") from None
        if renewed.access_token == account.access_token:
            raise
        publication.connection = renewed
        return adapter.publish(Account.of(renewed), draft)


def _lag_ms(publication: Publication, post: Post, now: datetime) -> float | None:
    """From when the post became due to the system (its time, or its creation if it was
    written already late) to this request; first attempts only, never negative."""
    if publication.attempt_count != 1 or not post.scheduled_at:
        return None
    due = max(post.scheduled_at, post.created_at or post.scheduled_at)
    return max((now - due).total_seconds() * 1000, 0.0)


def result_of(err: PlatformError, publication: Publication) -> Result:
    """The adapter's classified failure as a Result."""
    if isinstance(err, TokenExpired):
        return Result(GIVE_UP, rules.reconnect(publication.platform, err.message), expire_connection=True)
    if isinstance(err, RateLimited):
        at = clamp_wait(err.retry_at, what=f"{publication.platform} rate limit")
        return Result(
            LATER,
            err.message,
            retry_at=at,
            maybe_sent=err.maybe_sent,
            counts=False,
            metric=Outcome.RATE_LIMITED,
        )
    if isinstance(err, NotReady):
        at = clamp_wait(err.retry_at, what=f"{publication.platform} processing")
        return Result(LATER, err.message, retry_at=at, counts=False, metric=None)
    if isinstance(err, Duplicate) and publication.outcome_unknown:
        return Result(
            GIVE_UP,
            err.message + " — an earlier attempt whose answer was lost most likely published it, but it is not "
            "among the account's recent posts planrrr can see: check the account before posting it again.",
        )
    if isinstance(err, TransientError):
        return Result(LATER, err.message, maybe_sent=err.maybe_sent)
    return Result(GIVE_UP, err.message)  # PermanentError, or a subclass nobody classified
