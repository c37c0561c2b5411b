"""What publishing does when a connection's token dies, is about to, or comes back.

The connections app owns the token lifecycle and says what happened through signals
(``connections.signals``); publishing, above it, acts on them here (receivers connected in
``PublishingConfig.ready``):

* ``connection_expired``: tell the team (``connection.expired``) and fail the publications
  waiting on that account at once, saying "reconnect" (no attempts burned on a dead token).
  They are marked ``metadata["failedBecause"] = "token"`` (``publishing.metadata``);
* ``connection_expiring``: tell the team (``connection.expiring``);
* ``connection_connected``: tell the team (``connection.connected``). After a reconnect, the
  admin offers, with a count, to re-queue the publications that failed only because the token
  had expired (``publications_requeue_after_reconnect``, the move of ``retry.publications_reopen``):
  they then publish once.
"""

from __future__ import annotations

import logging
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from connections import services as connection_services
from connections.models import Connection
from planrrr.text import safe_text
from publishing import metadata as keys
from publishing import rules
from publishing.models import JobMetric, Post, Publication
from publishing.services import signals
from publishing.services.finalize import post_finalize
from publishing.services.retry import REOPENABLE, publications_reopen

logger = logging.getLogger("planrrr.publishing")


def connection_expire(*, connection_id: int, reason: str) -> bool:
    """The platform refused the connection's token for good (or it cannot be decrypted): mark
    it EXPIRED. Everything else follows from ``connection_expired`` (below), sent once."""
    return connection_services.connection_expire(connection_id=connection_id, reason=safe_text(reason, limit=500))


def on_connection_expired(sender, *, connection: Connection, reason: str, **kwargs) -> None:
    try:
        signals.emit(
            connection.team_id,
            "connection.expired",
            {
                "connectionId": connection.pk,
                "platform": connection.platform,
                "accountId": connection.account_id,
                "reason": reason,
            },
        )
        publications_fail_for_expired(connection=connection, reason=reason)
    except Exception:  # a receiver must not break the refresh that sent it; the sweep settles
        logger.exception("connection %s expired: could not fail its waiting publications", connection.pk)


def publications_fail_for_expired(*, connection: Connection, reason: str) -> int:
    """Fail at once the publications waiting on an expired connection. Returns how many."""
    message = rules.reconnect(connection.platform, reason)
    with transaction.atomic():
        waiting = list(
            Publication.objects.select_related("post")
            .select_for_update(of=("self",))
            .filter(connection=connection, status=Publication.Status.PENDING, post__status=Post.Status.PUBLISHING)
        )
        now, started = timezone.now(), time.monotonic()
        for publication in waiting:
            publication.status, publication.error = Publication.Status.FAILED, message
            publication.next_attempt_at, publication.updated_at = None, now
            publication.metadata = {**publication.metadata, keys.FAILED_BECAUSE: keys.TOKEN}
        Publication.objects.bulk_update(waiting, ["status", "error", "next_attempt_at", "updated_at", "metadata"])
        for publication in waiting:
            signals.emit_failed(publication, publication.post)
            signals.record_metric(publication, JobMetric.Outcome.FAILED, started=started)
    for post_id in {p.post_id for p in waiting}:
        post_finalize(post_id=post_id)
    return len(waiting)


def on_connection_expiring(sender, *, connection: Connection, expires_at, **kwargs) -> None:
    try:
        signals.emit(
            connection.team_id,
            "connection.expiring",
            {
                "connectionId": connection.pk,
                "platform": connection.platform,
                "accountId": connection.account_id,
                "expiresAt": expires_at.isoformat(),
            },
        )
    except Exception:
        logger.exception("connection %s expiring: could not record the event", connection.pk)


def on_connection_connected(sender, *, connection: Connection, created: bool, **kwargs) -> None:
    try:
        signals.emit(
            connection.team_id,
            "connection.connected",
            {
                "connectionId": connection.pk,
                "platform": connection.platform,
                "accountId": connection.account_id,
                "created": created,
                "requeueable": 0 if created else requeueable(connection=connection).count(),
            },
        )
    except Exception:
        logger.exception("connection %s connected: could not record the event", connection.pk)


# --- after a reconnect -----------------------------------------------------------------------


def requeueable(*, connection: Connection | None = None, connections: QuerySet | None = None) -> QuerySet:
    """Publications of this account (or of these ``connections``) that failed only because its
    token had expired, of posts that have not gone out everywhere else since (FAILED or PARTIAL)
    or are still publishing: what ``publications_requeue_after_reconnect`` re-queues."""
    failed = Publication.objects.filter(
        status=Publication.Status.FAILED,
        **{f"metadata__{keys.FAILED_BECAUSE}": keys.TOKEN},
        post__status__in=REOPENABLE,
    )
    if connection is not None:
        failed = failed.filter(connection=connection)
    if connections is not None:
        failed = failed.filter(connection__in=connections)
    return failed


def publications_requeue_after_reconnect(*, connection: Connection) -> int:
    """Give the publications that failed because the token had expired a new start, now that
    the account is ACTIVE again (``retry.publications_reopen``, a post at a time): PENDING with a
    fresh attempt count, their posts PUBLISHING. Returns how many. Each guarded, so asking twice
    re-queues once.

    One attempted before (its answer may have been lost before the token died) is marked
    ``outcome_unknown`` and keeps its ``first_attempt_at``: its next attempt looks for the post
    among what the account made since then before sending it, however long the reconnect took."""
    if connection.status != Connection.Status.ACTIVE:
        return 0
    requeued = 0
    for post_id in sorted(set(requeueable(connection=connection).values_list("post_id", flat=True))):
        with transaction.atomic():
            post = Post.objects.select_for_update().select_related("team").filter(pk=post_id).first()
            if post is None or post.status not in REOPENABLE:
                continue
            failed = list(
                requeueable(connection=connection)
                .filter(post_id=post_id)
                .select_related("connection")
                .select_for_update(of=("self",))
                .order_by("pk")
            )
            try:
                requeued += len(publications_reopen(post=post, publications=failed))
            except ValidationError as err:  # the account expired again meanwhile: nothing moves
                logger.warning("connection %s: publications of post %s not re-queued: %s", connection.pk, post_id, err)
    return requeued
