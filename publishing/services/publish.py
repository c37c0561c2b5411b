"""One attempt at one publication: claim it, ask the platform, settle what came of it.

The states, the claim and the one settle path are in ``publishing.services.attempts`` (its
docstring is the state machine's table); this module is the part in between: everything that
talks to the platform for an attempt, and turns what it says into a ``Result``. It never
raises and never writes a publication's status itself.

Each request that makes something on the platform (the post, each part of a thread, the first
comment: ``send_step``) goes the same way: if an earlier attempt's outcome is unknown, look for
it on the platform first (``find_published``, ``find_comment``); else let the adapter fix what
will find it (``prepare``: Bluesky's record key) and write that on the row before sending; send,
renewing a token the platform refused once; after an unknown outcome, adopt the post a duplicate
refusal names once the adapter confirms it (``adopt_duplicate``). The first comment's attempts
(``publishing.services.comments``) take these same steps.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

import django_rq
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq import get_current_job

from connections.models import Connection
from connections.oauth import OAuthFailure
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
)
from connections.services import connection_refresh
from planrrr import threaded
from planrrr.crypto import is_undecryptable
from planrrr.models import Installation
from planrrr.text import clamp_wait
from publishing import metadata as keys
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services.attempts import DONE, GIVE_UP, LATER, Attempt, Result, claim, record_step
from publishing.services.dispatch import publications_enqueue
from publishing.services.outcome import settle

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


# How often a job of several publications tells RQ it is alive, at most (between two of them).
BATCH_BEAT_SECONDS = 10.0


def publications_publish(*, publication_ids: list[int]) -> list[str]:
    """Attempts at several publications of one account, one after another, in one job: what
    ``dispatch.publications_enqueue`` gives several of one account due together (docs/performance.md,
    "Several publications a job"). Each is ``publication_publish``, claimed at its turn exactly as
    its own job would be: one cancelled, edited or no longer due meanwhile is refused by its
    claim, one that raises is logged and the others go on. The rest go back to the queue a job
    each, to be attempted side by side, once the queue is empty (worker threads are idle and the
    CPU has room: the end of the burst, or no burst at all; checked before the first and after
    each, and while each call lasts by the process's main thread: ``threaded.hand_back_offer``,
    which hands back what waits behind a call slow to answer whatever the CPU) or after an
    attempt the platform did not answer well (a failure tried again later: an outage, a
    timeout), so that they do not wait on that platform one after another.
    Before each, if BATCH_BEAT_SECONDS have passed since its last beat, the job tells RQ it is
    alive (``threaded.job_heartbeat``; a beat lasts an attempt's timeout and a minute). Lost with
    its worker, the attempt in flight is its lease's; the members not reached are enqueued again
    by the sweep once the worker is unregistered (its pool does that as soon as it dies), or once
    RQ finds the job abandoned (a beat's time after its last). Returns the outcomes, in order (""
    for one that raised)."""
    outcomes: list[str] = []
    beaten = time.monotonic()  # RQ's beat as the job started
    job = get_current_job()
    if len(publication_ids) > 1 and _queue_empty() and publications_split_off(publication_ids[1:]):
        publication_ids = publication_ids[:1]  # threads are free now: the others go to them at once
    for index, publication_id in enumerate(publication_ids):
        if index and time.monotonic() - beaten >= BATCH_BEAT_SECONDS:
            threaded.job_heartbeat()
            beaten = time.monotonic()
        rest = publication_ids[index + 1 :]
        if rest and job is not None:
            # While this one's call lasts, the process's main thread may hand the rest to threads
            # that fall idle (the burst's end, a platform that does not answer).
            threaded.hand_back_offer(functools.partial(publications_split_off, rest, job_id=job.id))
        try:
            outcome = publication_publish(publication_id=publication_id)
        except Exception:
            logger.exception("publication %s: its attempt raised; the rest of its job goes on", publication_id)
            outcome = ""
        finally:
            handed = threaded.hand_back_withdraw() if rest and job is not None else 0
        outcomes.append(outcome)
        if handed:
            break
        if rest and (outcome == Outcome.RETRY or _queue_empty()) and publications_split_off(rest):
            break
    return outcomes


def _queue_empty() -> bool:
    """No publish job waits: threads are free to take each publication of a job of several. In a
    process of job threads (planrrr.threaded), one of its threads waiting for a job says so
    without asking Redis, and only while the CPU has room (``threaded.cpu_has_room``: on a busy
    CPU, more jobs at once publish no faster, and each costs RQ's work)."""
    idle = threaded.idle_threads()
    if idle is not None:
        return idle > 0 and threaded.cpu_has_room()
    try:
        return django_rq.get_queue("default").count == 0
    except (redis.ConnectionError, redis.TimeoutError):
        return False


def publications_split_off(publication_ids: list[int], *, job_id: str | None = None) -> int:
    """The publications of a job of several (the running job's, or ``job_id``'s) not attempted
    yet, each enqueued as a job of its own; those no longer PENDING on that job (claimed, or moved
    by someone else) stay as they are. Returns how many were enqueued."""
    if job_id is None:
        job = get_current_job()
        if job is None:
            return 0
        job_id = job.id
    with transaction.atomic():
        rest = list(
            Publication.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("post")
            .filter(pk__in=publication_ids, status=Publication.Status.PENDING, job_id=job_id)
        )
        publications_enqueue(publications=rest, one_each=True)
    return len(rest)


def _call(attempt: Attempt) -> Result:
    """Ask the platform, and say what came of it. Never raises."""
    publication = attempt.publication
    post = publication.post
    now = timezone.now()
    held = account_hold(publication, now)
    if held is not None:
        return held
    refusal = rules.publication_refusal(publication)
    if refusal:
        return Result(GIVE_UP, refusal, counts=False)
    if publication.attempt_count > settings.PUBLISH_MAX_ATTEMPTS:
        return Result(GIVE_UP, rules.gave_up(publication.error or "No attempt left", publication.attempt_count - 1))
    adapter = get_adapter(publication.platform)
    waiting = renew_if_expiring(publication, now)
    if waiting is not None:
        return waiting
    text, media_urls = rules.content_for(post, publication.platform, channel=publication.connection_id)
    thread = rules.thread_for(post, publication.platform, channel=publication.connection_id)
    # A minute of margin for the platform's clock; a narrow window keeps bursts of posts from
    # pushing this one off the page of recent posts.
    since = (publication.first_attempt_at or publication.created_at) - timedelta(minutes=1)
    lag_ms = _lag_ms(publication, post, now)
    try:
        key = idempotency_key(publication) if adapter.takes_idempotency_key else ""
        options = rules.options_for(post, publication.platform, channel=publication.connection_id)
        draft = Draft(text=text, media_urls=media_urls, state=attempt.state, idempotency_key=key, options=options)
        if thread:
            return _publish_thread(adapter, attempt, draft, thread, since=since, lag_ms=lag_ms)
        sent = send_step(
            adapter,
            publication,
            draft,
            unknown=publication.outcome_unknown,
            since=since,
            record=lambda: record_step(attempt),
        )
        if sent is None:
            return Result(LATER, "Another attempt took over this publication.", metric=None)
        if sent.found:
            return Result(DONE, published=sent.published, reconciled=True, note=sent.how)
        return Result(DONE, published=sent.published, lag_ms=lag_ms)
    except PlatformError as err:
        return result_of(err, platform=publication.platform, unknown=publication.outcome_unknown)
    except Exception as err:  # a bug, or RQ's job timeout: the attempt may have reached the platform
        logger.exception("publication %s: attempt %s raised", publication.pk, publication.attempt_count)
        return Result(LATER, f"Attempt interrupted: {err.__class__.__name__}: {err}", maybe_sent=True)


def idempotency_key(publication: Publication) -> str:
    """The publication's key (Mastodon's Idempotency-Key), the same at every attempt and unique to
    this installation: a database started again, or a second planrrr posting for the same
    account, numbers its publications from 1 again."""
    return f"planrrr-{Installation.current_key()}-publication-{publication.pk}"


def _publish_thread(
    adapter, attempt: Attempt, post: Draft, thread: list[dict], *, since: datetime, lag_ms: float | None
) -> Result:
    """A thread: several steps of one publication. Step 0 is the post itself, step i the i-th part
    of ``thread``, a reply to step i-1. ``metadata["parts"]`` lists the platform id of every step
    done, in order (so ``parts[0]`` is the post, the publication's ``external_id`` at the end); each
    is written (``record_step``: a fenced UPDATE) before the next step is sent. Whatever ends an
    attempt (a failure, a SIGKILL, a lost answer), the next one starts at the first step not in
    ``parts``, and never sends an earlier one again. The step whose answer was lost is looked for
    among the account's recent posts and replies first, like a post."""
    publication = attempt.publication
    parts = [str(part) for part in attempt.state.get(keys.PARTS, [])]
    steps = [post]
    part_states = attempt.state.setdefault(keys.PART_MEDIA, {})
    for number, part in enumerate(thread, start=1):
        steps.append(
            Draft(
                text=part["content"],
                media_urls=list(part.get("media_urls", [])),
                state=part_states.setdefault(str(number), {}),
                # Each part its own key, the same at every attempt (Mastodon's Idempotency-Key):
                # a second guard, for an hour, beside the look-up of a part whose answer was lost.
                idempotency_key=f"{post.idempotency_key}-part-{number}" if post.idempotency_key else "",
            )
        )
    unknown, reconciled, how = publication.outcome_unknown, False, ""
    for index in range(len(parts), len(steps)):
        step = steps[index]
        step.reply_to, step.reply_root = (parts[index - 1], parts[0]) if index else ("", "")
        sent = send_step(adapter, publication, step, unknown=unknown, since=since, record=lambda: record_step(attempt))
        # Only the first step not recorded can have been sent: the ones after it never were.
        unknown = False
        if sent is None:
            return Result(LATER, "Another attempt took over this publication.", metric=None)
        if sent.found:
            # Kept across attempts: which steps were found on the platform rather than sent.
            attempt.state[keys.RECONCILED_PARTS] = [*attempt.state.get(keys.RECONCILED_PARTS, []), index]
            reconciled, how = True, sent.how
        elif index == 0 and sent.published.url:
            attempt.state[keys.URL] = sent.published.url
        parts.append(sent.published.external_id)
        attempt.state[keys.PARTS] = list(parts)
        if not record_step(attempt):
            return Result(LATER, "Another attempt took over this publication.", metric=None)
    published = Published(external_id=parts[0], url=attempt.state.get(keys.URL, ""))
    return Result(DONE, published=published, reconciled=reconciled, note=how, lag_ms=lag_ms)


class Sent(NamedTuple):
    """What ``send_step`` came to: what the platform has, whether it was found there rather than
    sent, and how it was found when that is worth a line in the history ("" otherwise)."""

    published: Published
    found: bool
    how: str = ""


def send_step(
    adapter,
    publication: Publication,
    draft: Draft,
    *,
    unknown: bool,
    since: datetime,
    record: Callable[[], bool],
    comment: bool = False,
) -> Sent | None:
    """One request that makes something on the platform (a post, a thread part, with ``comment``
    a first comment), sent at most once whatever happened to earlier attempts: what the platform
    has and whether it was found there rather than sent (``Sent``), or None if the attempt lost
    its claim before sending (it must send nothing).

    ``unknown``: an earlier attempt may have sent it without learning the answer, so it is
    looked for first, among what the account made since ``since``; if it is not seen there and
    the platform refuses the request again as a duplicate naming the post it duplicates
    (LinkedIn), that post is adopted once the adapter confirms it is the account's own, made since
    ``since`` (``adopt_duplicate``); after a refusal that names none (X, Facebook) the post is
    looked for once more (the lost request may have been still under way at the first look).
    Otherwise the adapter fixes what will find it if this answer is lost (``prepare``: Bluesky's
    record key) and ``record`` writes that on the row before the request goes out (False: the
    claim was lost). Raises the adapter's PlatformError."""
    account = Account.of(publication.connection)
    draft.checkpoint = record
    if unknown:
        find = adapter.find_comment if comment else adapter.find_published
        found = find(account, draft, since)
        if found:
            return Sent(Published(external_id=found), True)
    if adapter.prepare(draft) and not record():
        return None
    try:
        return Sent(_publish(adapter, publication, account, draft, comment=comment), False)
    except Duplicate as duplicate:
        if not unknown or comment:
            raise
        if duplicate.existing_id:
            return adopt_duplicate(adapter, publication, duplicate, since=since)
        # The platform has the post although the look before sending did not see it: the lost
        # request was still being made then (an answer far out in the latency tail). Look again.
        found = adapter.find_published(account, draft, since)
        if not found:
            raise
        how = (
            f"{rules.label(publication.platform)} refused the post again as a duplicate; found among the "
            "account's posts, made by the attempt whose answer was lost"
        )
        return Sent(Published(external_id=found), True, how)


def adopt_duplicate(adapter, publication: Publication, duplicate: Duplicate, *, since: datetime) -> Sent:
    """After an attempt whose outcome is unknown, the platform refused the request as a duplicate
    of ``duplicate.existing_id``: that post, once the adapter confirms it is the account's own,
    published and made since ``since`` (the first attempt, less a minute for the platform's clock),
    and no other publication holds it, is the one the lost attempt made. Raises PermanentError
    saying why it was not adopted otherwise; a check that fails for now (a 5xx, a timeout, a 429)
    raises that, so a later attempt asks again (docs/architecture.md, "Guarantees")."""
    existing, label = duplicate.existing_id, rules.label(publication.platform)
    holder = (
        Publication.objects.filter(platform=publication.platform, external_id=existing)
        .exclude(pk=publication.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if holder is not None:
        why = f"publication #{holder} already is that post"
    else:
        try:
            mine = adapter.post_made_since(Account.of(publication.connection), existing, since)
        except (TransientError, RateLimited):
            raise  # a later attempt, its outcome still unknown, looks and asks again
        except PlatformError as err:
            why = f"checking it failed: {err.message}"
        else:
            if mine:
                how = f"{label} said the post duplicates {existing}, made by the attempt whose answer was lost"
                return Sent(Published(external_id=existing), True, how)
            why = f"it is not a published post of this account made since {since:%Y-%m-%d %H:%M:%S} UTC"
    raise PermanentError(
        f"{lost_duplicate(duplicate.message)} {label} named {existing} as the post it duplicates, "
        f"but planrrr did not adopt it: {why}.",
        status_code=duplicate.status_code,
    )


def account_hold(publication: Publication, now: datetime) -> Result | None:
    """What keeps any attempt for the publication's account (a post's, a first comment's) from
    calling the platform now: the account asked to slow down (wait until then, uncounted), its
    token cannot be decrypted (give up and expire the connection), or it has already expired (give
    up as one whose token died during the attempt: re-queued once the account is reconnected,
    like the publications that were waiting when it expired). None to go on."""
    connection = publication.connection
    if connection is None:
        return None
    if (
        connection.status == Connection.Status.EXPIRED
        and connection.team_id == publication.post.team_id
        and connection.platform == publication.platform
    ):
        reason = connection.status_detail or f"Connection #{connection.pk}"
        return Result.dead_token(publication.platform, reason, counts=False)
    if connection.rate_limited_until and connection.rate_limited_until > now:
        until = connection.rate_limited_until
        return Result(
            LATER,
            f"Waiting until {until:%Y-%m-%d %H:%M:%S} UTC: {rules.label(publication.platform)} asked this "
            "account to slow down (rate limit).",
            retry_at=until,
            counts=False,
            metric=None,
        )
    if is_undecryptable(connection.access_token):
        return Result.dead_token(publication.platform, rules.UNDECRYPTABLE, counts=False)
    return None


def renew_if_expiring(publication: Publication, now: datetime) -> Result | None:
    """Renew a token that expires within JUST_IN_TIME (the periodic refresh runs ahead of
    expiry; this catches a token it could not renew yet). None to go on publishing."""
    connection = publication.connection
    if not connection.refreshable or not connection.expires_at or connection.expires_at > now + JUST_IN_TIME:
        return None
    try:
        publication.connection = connection_refresh(connection_id=connection.pk, valid_for=JUST_IN_TIME)
    except OAuthFailure as err:
        if err.grant_dead:
            return Result.dead_token(publication.platform, err.message, counts=False)
        if connection.expires_at > now:
            return None  # the token still works: publish with it, the refresh is retried later
        return Result(
            LATER,
            f"The {rules.label(publication.platform)} token expired and could not be renewed yet: {err.message}",
            retry_at=err.retry_at,
            counts=False,
        )
    return None


def _publish(adapter, publication: Publication, account: Account, draft: Draft, *, comment: bool = False) -> Published:
    """Publish (with ``comment``, comment); on a refused token (a 401, Bluesky's 400 ExpiredToken),
    renew it once (if it can be) and try again with the new one."""

    def send(account: Account) -> Published:
        if comment:
            return Published(external_id=adapter.comment(account, draft))
        return adapter.publish(account, draft)

    try:
        return send(account)
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
        return send(Account.of(renewed))


def _lag_ms(publication: Publication, post: Post, now: datetime) -> float | None:
    """From when the post became due to the system (its time, or its creation if it was
    written already late) to this request; first attempts only, never negative."""
    if publication.attempt_count != 1 or not post.scheduled_at:
        return None
    due = max(post.scheduled_at, post.created_at or post.scheduled_at)
    return max((now - due).total_seconds() * 1000, 0.0)


def result_of(err: PlatformError, *, platform: str, unknown: bool) -> Result:
    """The adapter's classified failure as a Result. ``unknown``: an earlier attempt may have sent
    what this one was sending."""
    if isinstance(err, TokenExpired):
        return Result.dead_token(platform, err.message)
    if isinstance(err, RateLimited):
        at = clamp_wait(err.retry_at, what=f"{platform} rate limit")
        return Result(
            LATER,
            err.message,
            retry_at=at,
            maybe_sent=err.maybe_sent,
            counts=False,
            metric=Outcome.RATE_LIMITED,
        )
    if isinstance(err, NotReady):
        at = clamp_wait(err.retry_at, what=f"{platform} processing")
        return Result(LATER, err.message, retry_at=at, counts=False, metric=None)
    if isinstance(err, Duplicate) and unknown:
        named = (
            f" {rules.label(platform)} named {err.existing_id} as the post it duplicates." if err.existing_id else ""
        )
        return Result(GIVE_UP, lost_duplicate(err.message) + named)
    if isinstance(err, Duplicate) and err.existing_id:
        # A first attempt: the team posted this text before. Never adopt an older post.
        return Result(
            GIVE_UP,
            f"{err.message} — this account already posted the same text ({err.existing_id}): change the text "
            "to post it again.",
        )
    if isinstance(err, TransientError):
        return Result(LATER, err.message, maybe_sent=err.maybe_sent)
    return Result(GIVE_UP, err.message)  # PermanentError, or a subclass nobody classified


def lost_duplicate(message: str) -> str:
    """A duplicate refusal after an attempt whose answer was lost, in words."""
    return (
        message + " — an earlier attempt whose answer was lost most likely published it, but it is not among the "
        "account's recent posts planrrr can see: check the account before posting it again."
    )
