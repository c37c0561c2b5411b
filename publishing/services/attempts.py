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
    PENDING     (deleted)   editing.post_update (its        post DRAFT, IN_REVIEW or         -
                            channel removed)              SCHEDULED, its row locked
    PENDING     PENDING     editing.post_update (what it    post DRAFT, IN_REVIEW or         metadata emptied (staged
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

An edit (``editing.post_update``: the API's PATCH and PUT, the admin's change form) is allowed
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
again, the limits of ``outcome.apply_limits``, one settle), on ``metadata["firstComment"]``.

One attempt counter: ``attempt_count`` is raised by the claim, before the platform is called,
so an attempt that dies or whose outcome cannot be written still counts; waits the platform
asks for (rate limits, media still processing) and refusals that never called it give theirs
back. At PUBLISH_MAX_ATTEMPTS the publication ends FAILED with the last reason; waits end at
PUBLISH_WAIT_LIMIT_HOURS after the first attempt. So every publication ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from connections.models import Connection
from connections.platforms.base import (
    Published,
)
from planrrr import sql
from planrrr.text import storable
from publishing import rules
from publishing.models import JobMetric, Post, Publication

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
    # How a reconciled post was found, when that is worth saying (its history line's ``note``).
    note: str = ""
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


# What ends an attempt (the settle: the row, the event, the metric in one statement, the
# outcome decided, the limits applied) is publishing.services.outcome.

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
    rows = sql.execute(Publication, _CLAIM_SQL, params)
    if not rows:
        return None
    (row,) = rows
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
                    -- The post's time and the target's own (a queued one's only: held in a paused
                    -- queue, none) have come: never a moment early, whatever job runs. A planned
                    -- retry's next_attempt_at alone has a second's slack (the scheduler's tick).
                    AND post.scheduled_at <= %(now)s
                    AND COALESCE(p.scheduled_at, CASE WHEN p.queue_position IS NULL THEN post.scheduled_at END)
                        <= %(now)s
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
        ).update(metadata=storable_json(attempt.state), updated_at=timezone.now())
    )


def storable_json(value):
    """A JSON value PostgreSQL's jsonb takes: no NUL (\\u0000) or lone surrogate in any string."""
    if isinstance(value, str):
        return storable(value, limit=10_000)
    if isinstance(value, dict):
        return {storable(k, limit=200): storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    return value
