"""Connecting accounts and keeping them connected: the token lifecycle.

* ``connection_connect`` stores what a consent granted, creating the Connection or updating it
  in place (a reconnect).
* ``connection_refresh`` renews one connection's access token, never twice at once: the row is
  locked for the whole exchange (X's refresh tokens are single use, and a second concurrent
  refresh would spend the new one and kill the chain), re-read, and left alone when another
  process already renewed it. The new refresh token is written in the transaction that spent
  the old one; an answer without one keeps the stored one.
* Failures are classified by ``connections.oauth``: one that may pass (timeout, 5xx, 429, our
  app's configuration) leaves the connection ACTIVE and is tried again after a backoff
  (``next_refresh_at``); only the platform's word that the grant is dead marks it EXPIRED and
  sends ``connection_expired``, once.
* ``tokens_refresh_due`` (periodic) enqueues the refresh of every connection due for one;
  ``expiring_connections_warn`` (periodic) announces tokens that cannot be renewed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connections.grants import AccountChoice, Grant
from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.platforms import DECLARATIONS, UnknownPlatform, get_client
from connections.signals import connection_connected, connection_expired, connection_expiring
from planrrr.models import Team

logger = logging.getLogger("planrrr.connections")

REFRESH_JOB = "connections.jobs.connection_refresh"
# A due connection is enqueued at most once in this long (the job's own lock-and-re-read makes a
# duplicate harmless; this only keeps the queue short while a job waits).
REFRESH_CLAIM_SECONDS = 120
REFRESH_CLAIM_PREFIX = "planrrr:connection-refresh:"
# At most this many refreshes enqueued per round; the rest wait for the next one.
REFRESH_BATCH = 200
MAX_REFRESH_BACKOFF = timedelta(hours=1)


def refresh_lead(lifetime: timedelta) -> timedelta:
    """How long before its expiry a token of this lifetime is renewed: TOKEN_REFRESH_LEAD_SECONDS
    or a fifth of the lifetime, whichever is longer (a failing refresh then has time to be
    retried), but at most half of it (a token of seconds is not renewed as soon as issued)."""
    lead = max(timedelta(seconds=settings.TOKEN_REFRESH_LEAD_SECONDS), lifetime * 0.2)
    return min(lead, lifetime / 2)


def refresh_due_at(expires_at: datetime | None, *, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    return expires_at - refresh_lead(max(expires_at - now, timedelta(0)))


def refreshable_platforms() -> list[str]:
    return [declared.name for declared in DECLARATIONS if get_client(declared.name).refreshable]


def connection_connect(*, team: Team, choice: AccountChoice) -> tuple[Connection, bool]:
    """Store what a consent granted for one account: a new ACTIVE Connection, or the existing one
    (same team, platform, account_id) updated in place, keeping its id and history. A consent is
    a new grant: its tokens replace the old ones entirely (an old refresh token belongs to the
    grant that may have died). Sends ``connection_connected`` after commit."""
    try:
        connection, created = _connect(team=team, choice=choice)
    except IntegrityError:
        # Two consents for the same new account at once (two tabs, a double click): both found
        # no row and both inserted; the other's row exists now, and this consent updates it.
        connection, created = _connect(team=team, choice=choice)
    logger.info("%s connected %s (%s)", connection.get_platform_display(), connection.pk, "new" if created else "again")
    return connection, created


def _connect(*, team: Team, choice: AccountChoice) -> tuple[Connection, bool]:
    now = timezone.now()
    grant = choice.grant
    with transaction.atomic():
        connection = (
            Connection.objects.select_for_update()
            .filter(team=team, platform=choice.platform, account_id=choice.account_id)
            .first()
        )
        created = connection is None
        if created:
            connection = Connection(team=team, platform=choice.platform, account_id=choice.account_id)
        connection.name = choice.name or connection.name
        connection.avatar_url = choice.avatar_url or connection.avatar_url
        if choice.details:
            # What the platform said at this consent replaces what an earlier one said, name by name.
            connection.details = {
                **(connection.details if isinstance(connection.details, dict) else {}),
                **choice.details,
            }
        connection.access_token = grant.access_token
        connection.refresh_token = grant.refresh_token
        connection.expires_at = grant.expires_at
        connection.refresh_expires_at = grant.refresh_expires_at
        connection.scopes = grant.scopes
        if grant.base_url:
            connection.base_url = grant.base_url
        if grant.app_password:
            connection.app_password = grant.app_password
        connection.status = Connection.Status.ACTIVE
        connection.status_detail = ""
        connection.refreshed_at = now
        connection.refresh_failures = 0
        connection.refresh_error = ""
        connection.next_refresh_at = refresh_due_at(grant.expires_at, now=now) if grant.refresh_token else None
        connection.expiry_warned_at = None
        connection.save()
        transaction.on_commit(
            lambda: connection_connected.send(sender=Connection, connection=connection, created=created)
        )
    return connection, created


def _needs_refresh(connection: Connection, *, now: datetime, valid_for: timedelta | None) -> bool:
    if valid_for is not None:
        return connection.expires_at is not None and connection.expires_at <= now + valid_for
    if connection.next_refresh_at is not None:
        return connection.next_refresh_at <= now
    # A row written without next_refresh_at (raw SQL, a pasted token): the rule of refresh_due_q.
    lead = timedelta(seconds=settings.TOKEN_REFRESH_LEAD_SECONDS)
    return connection.expires_at is not None and connection.expires_at <= now + lead


def connection_refresh(
    *, connection_id: int, rejected_token: str | None = None, valid_for: timedelta | None = None
) -> Connection:
    """Renew the connection's access token if it needs it; return the connection as stored after.

    It needs it when, read under the row lock:

    * ``rejected_token`` is given (the platform answered 401 to it) and is still the stored
      token; if the stored one differs, another process renewed it already: nothing is sent and
      the caller uses the connection's new token;
    * else ``valid_for`` is given (just in time before a publish) and the token expires within it;
    * else (the periodic refresh) its ``next_refresh_at`` has come.

    A connection without a refresh token (or of a platform without refresh) is returned as it
    is: compare its ``access_token`` with the one rejected to know whether anything changed.

    Raises ``OAuthFailure``: ``grant_dead`` when the connection is not ACTIVE or the platform
    said the grant is dead (it is then EXPIRED, ``connection_expired`` sent once after commit);
    otherwise the failure may pass, the connection stays ACTIVE and is retried at
    ``next_refresh_at``, and ``retry_at`` says when the platform allowed trying again, if it did.
    """
    failure: OAuthFailure | None = None
    with transaction.atomic():
        # The lock is held across the platform's answer, so a second refresher waits here and
        # then sees the new token: X's refresh tokens are single use.
        connection = Connection.objects.select_for_update().get(pk=connection_id)
        if connection.status != Connection.Status.ACTIVE:
            raise OAuthFailure(
                f"The connection is {connection.status}: {connection.status_detail or 'reconnect the account'}",
                grant_dead=True,
            )
        try:
            client = get_client(connection.platform)
        except UnknownPlatform:
            return connection
        if not client.refreshable or not connection.refreshable:
            return connection
        now = timezone.now()
        if rejected_token is not None:
            if connection.access_token != rejected_token:
                return connection
        elif not _needs_refresh(connection, now=now, valid_for=valid_for):
            return connection
        try:
            grant = client.refresh_connection(connection)
        except OAuthFailure as err:
            # Recorded in this transaction, raised after it commits.
            failure = err
            if err.grant_dead:
                _expire(connection, reason=err.message)
            else:
                _back_off(connection, err, now=now)
        else:
            _store_refreshed(connection, grant, now=now)
    if failure is not None:
        raise failure
    return connection


def _store_refreshed(connection: Connection, grant: Grant, *, now: datetime) -> None:
    connection.access_token = grant.access_token
    # LinkedIn and Facebook answers may omit it: an empty one never replaces a good one.
    if grant.refresh_token:
        connection.refresh_token = grant.refresh_token
    connection.expires_at = grant.expires_at
    if grant.refresh_expires_at and grant.refresh_expires_at != connection.refresh_expires_at:
        connection.refresh_expires_at = grant.refresh_expires_at
        connection.expiry_warned_at = None
    if grant.scopes:
        connection.scopes = grant.scopes
    if grant.details:
        connection.details = {**(connection.details or {}), **grant.details}
    connection.refreshed_at = now
    connection.refresh_failures = 0
    connection.refresh_error = ""
    connection.next_refresh_at = refresh_due_at(grant.expires_at, now=now)
    connection.save(
        update_fields=[
            "access_token",
            "refresh_token",
            "expires_at",
            "refresh_expires_at",
            "expiry_warned_at",
            "scopes",
            "details",
            "refreshed_at",
            "refresh_failures",
            "refresh_error",
            "next_refresh_at",
            "updated_at",
        ]
    )
    logger.info("Renewed the %s token of connection %s", connection.get_platform_display(), connection.pk)


def _back_off(connection: Connection, err: OAuthFailure, *, now: datetime) -> None:
    connection.refresh_failures += 1
    delay = timedelta(seconds=settings.TOKEN_REFRESH_RETRY_BASE_SECONDS * 2 ** min(connection.refresh_failures - 1, 16))
    connection.next_refresh_at = max(err.retry_at or now, now + min(delay, MAX_REFRESH_BACKOFF))
    connection.refresh_error = err.message
    connection.save(update_fields=["refresh_failures", "next_refresh_at", "refresh_error", "updated_at"])
    logger.warning(
        "Could not renew the token of connection %s (attempt %s, next at %s): %s",
        connection.pk,
        connection.refresh_failures,
        connection.next_refresh_at.isoformat(),
        err.message,
    )


def connection_expire(*, connection_id: int, reason: str) -> bool:
    """Mark an ACTIVE connection EXPIRED (the platform refused its token, or it cannot be
    decrypted) and send ``connection_expired`` once, after commit. Returns True if it changed."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(pk=connection_id).first()
        if connection is None or connection.status != Connection.Status.ACTIVE:
            return False
        _expire(connection, reason=reason)
    return True


def _expire(connection: Connection, *, reason: str) -> None:
    connection.status = Connection.Status.EXPIRED
    connection.status_detail = reason
    connection.refresh_error = reason
    connection.next_refresh_at = None
    connection.save(update_fields=["status", "status_detail", "refresh_error", "next_refresh_at", "updated_at"])
    logger.warning("Connection %s expired: %s", connection.pk, reason)
    transaction.on_commit(lambda: connection_expired.send(sender=Connection, connection=connection, reason=reason))


def refresh_due_q(now: datetime) -> Q:
    """Connections whose periodic refresh has come (``next_refresh_at``, or for rows written
    without it, within the lead of a known expiry)."""
    lead = timedelta(seconds=settings.TOKEN_REFRESH_LEAD_SECONDS)
    return (
        Q(
            status=Connection.Status.ACTIVE,
            platform__in=refreshable_platforms(),
        )
        & ~Q(refresh_token="")
        & (Q(next_refresh_at__lte=now) | Q(next_refresh_at__isnull=True, expires_at__lte=now + lead))
    )


def tokens_refresh_due() -> list[int]:
    """Periodic (PLANRRR_PERIODIC): enqueue the refresh of every connection due for one; return
    their ids. The refresh itself runs in a job, so a slow token endpoint never holds up the
    worker loop that dispatches due posts."""
    now = timezone.now()
    ids = list(Connection.objects.filter(refresh_due_q(now)).order_by("next_refresh_at").values_list("id", flat=True))
    queue = django_rq.get_queue("default")
    enqueued = []
    for connection_id in ids[:REFRESH_BATCH]:
        claim = f"{REFRESH_CLAIM_PREFIX}{connection_id}"
        if queue.connection.set(claim, "1", nx=True, ex=REFRESH_CLAIM_SECONDS):
            queue.enqueue(REFRESH_JOB, connection_id, job_timeout=_job_timeout())
            enqueued.append(connection_id)
    return enqueued


def _job_timeout() -> int:
    connect, read = settings.PLATFORM_TIMEOUT
    return int(connect + read) + 30


def unrenewable_before_q(horizon: datetime) -> Q:
    """Connections that stop working by ``horizon`` unless the person reconnects them: no refresh
    token and the access token expiring, or a refresh token at its fixed end (LinkedIn)."""
    return Q(refresh_token="", expires_at__lte=horizon) | (~Q(refresh_token="") & Q(refresh_expires_at__lte=horizon))


def expiring_connections_warn() -> list[int]:
    """Periodic: announce (``connection_expiring``, once per grant) every ACTIVE connection that
    will stop working within CONNECTION_EXPIRY_WARNING_DAYS and cannot be renewed without the
    person: no refresh token and an access token expiring, or a refresh token near its fixed end
    (LinkedIn). Returns the ids announced."""
    now = timezone.now()
    horizon = now + timedelta(days=settings.CONNECTION_EXPIRY_WARNING_DAYS)
    unrenewable = Q(refresh_token="", expires_at__lte=horizon) | (
        ~Q(refresh_token="") & Q(refresh_expires_at__lte=horizon)
    )
    warned = []
    for connection in Connection.objects.filter(unrenewable, status=Connection.Status.ACTIVE, expiry_warned_at=None):
        # Claimed by the update: another worker running the same round announces nothing twice.
        if not Connection.objects.filter(pk=connection.pk, expiry_warned_at=None).update(expiry_warned_at=now):
            continue
        expires_at = connection.grant_expires_at or connection.expires_at
        connection.expiry_warned_at = now
        connection_expiring.send(sender=Connection, connection=connection, expires_at=expires_at)
        warned.append(connection.pk)
    return warned


def connection_expiry_note(connection: Connection, *, now: datetime | None = None) -> str:
    """What a person should know about when the connection stops working: "" when nothing is
    near, else e.g. "expires 3 Jan 2027 (in 5 days): reconnect" (tokens that cannot be renewed)
    or the last failed refresh."""
    now = now or timezone.now()
    if connection.status != Connection.Status.ACTIVE:
        return ""
    end = connection.grant_expires_at
    if end is not None and end <= now + timedelta(days=settings.CONNECTION_EXPIRY_WARNING_DAYS):
        if end <= now:
            return f"expired {end:%d %b %Y}: reconnect"
        return f"expires {end:%d %b %Y %H:%M} UTC (in {_human(end - now)}): reconnect before then"
    if connection.refresh_error:
        return f"renewal failing ({connection.refresh_failures}x): {connection.refresh_error}"
    return ""


def _human(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    if delta >= timedelta(hours=2):
        return f"{int(delta.total_seconds() // 3600)} hours"
    return f"{max(int(delta.total_seconds() // 60), 1)} minutes"
