"""Webhook writes: record events (outbox), deliver them, retry, rotate secrets, redeliver.

Delivery follows the Standard Webhooks specification (https://www.standardwebhooks.com/):
headers ``webhook-id`` (the event id, stable across retries), ``webhook-timestamp``
(fresh at each attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``, one per
secret, space-separated), signed with the ``standardwebhooks`` library.

Guarantees: at least once (a retry may repeat a request whose answer was lost; receivers
deduplicate on ``webhook-id``); no ordering between events. The database is the truth:
an event is written in the caller's transaction with one Delivery per subscribed
endpoint, its RQ job is enqueued after commit, and ``delivery_sweep`` re-enqueues any due
delivery whose job Redis no longer has.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import django_rq
import requests
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone
from rq.job import Job, JobStatus
from rq.timeouts import BaseTimeoutException
from standardwebhooks.webhooks import Webhook

from planrrr import logs, outages
from planrrr.models import Team
from planrrr.text import MAX_TEXT, clamp_wait, safe_text, scrub, wait_from_seconds
from planrrr.urlsafety import UnsafeURL, public_session
from webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    Delivery,
    DeliveryAttempt,
    DeliveryRollup,
    Endpoint,
    Event,
    secret_generate,
)

logger = logging.getLogger("planrrr.webhooks")

QUEUE = "webhooks"
JOB = "webhooks.jobs.delivery_attempt"
USER_AGENT = "planrrr-webhooks/1.0"
# At most this much of a receiver's answer is read and kept.
RESPONSE_EXCERPT_BYTES = 2048
# A Standard Webhooks secret, wherever it turns up in a text (scrubbed even if we do not know it).
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=_-]{4,}")
# Clocks of workers and database may differ a little; an attempt up to this early is on time.
CLOCK_SKEW = timedelta(seconds=1)


# Svix's schedule: after the first attempt, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h later.
def retry_schedule() -> list[float]:
    """Seconds to wait before each retry (``WEBHOOK_RETRY_SCHEDULE``); its length is the number of retries."""
    return [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE]


def _timeout() -> tuple[float, float]:
    connect, read = settings.WEBHOOK_TIMEOUT
    return float(connect), float(read)


def _job_timeout() -> int:
    """RQ's limit on one attempt: the HTTP timeouts, reading the excerpt, and the bookkeeping."""
    return math.ceil(sum(_timeout())) + 10


def _lease() -> timedelta:
    """How long a running attempt holds its delivery; past it the attempt is dead (RQ killed it first)."""
    return timedelta(seconds=_job_timeout() + 10)


# --- Recording events -------------------------------------------------------------------
#
# One implementation: ``event_sql`` writes the statement's pieces (which endpoints, the payload's
# bytes, the Event row, a Delivery per endpoint and its job id); ``event_record`` runs them as a
# statement of their own, and the publishing statements embed them (planrrr.sql).


def event_record(*, team_id: int, event: str, data: dict[str, Any]) -> Event | None:
    """Record ``event`` for every active endpoint of the team that subscribes to it.

    Call it inside the transaction of the state change it reports: the event and its
    deliveries commit or roll back with it, and the delivery jobs are enqueued only after
    commit. One statement (``event_sql``'s), atomic on its own outside a transaction; returns
    None when no endpoint wants the event (and then writes nothing).
    """
    return _event_run(event_sql(team_id=team_id, event=event, data=data))


@dataclass(frozen=True)
class EventSql:
    """An event recorded by a statement: its own (``event_record``), or the one that makes the
    change it reports (``event_sql``'s ``when``)."""

    # CTEs to put in the statement's WITH: the endpoints, the Event row, a Delivery per endpoint.
    ctes: str
    params: dict[str, Any]
    # A scalar expression for the statement's SELECT list: the deliveries made, as a JSON list
    # of [id, job_id] (empty when no endpoint wanted the event or nothing changed).
    deliveries: str
    # The Event row the statement inserts when an endpoint wants the event.
    event: Event

    def enqueue(self, deliveries: list | None) -> None:
        """Once the statement ran: enqueue the deliveries' jobs after commit (at once outside a
        transaction). A Redis outage at commit must not break the caller: the sweep enqueues
        what Redis missed."""
        jobs = [(delivery_id, job_id) for delivery_id, job_id in deliveries or []]
        if jobs:
            outages.after_commit(lambda: _enqueue_now(jobs))


def event_sql(
    *,
    team_id: int,
    event: str,
    data: dict[str, Any],
    when: str | None = None,
    name: str = "event",
    endpoint_ids: list[int] | None = None,
) -> EventSql:
    """The event as part of a hand-written statement (``planrrr.sql``): recorded for every active
    endpoint of the team that subscribes to it when the statement runs (``endpoint_ids``: those
    endpoints of the team instead, whatever they subscribe to, as a test event is sent), and,
    with ``when``, only if the statement's CTE ``when`` returns a row (the change it reports was
    made). One atomic statement, one round trip."""
    from planrrr.sql import insert_select

    if event not in EVENT_TYPES and not (event == TEST_EVENT and endpoint_ids is not None):
        raise ValueError(f"Unknown webhook event {event!r}; known: {', '.join(EVENT_TYPES)}.")
    connection = transaction.get_connection(Event.objects.db)
    now = timezone.now()
    msg_id = f"msg_{uuid.uuid4().hex}"
    payload = _payload(msg_id, event, now, data)
    row = {"id": msg_id, "team_id": team_id, "type": event, "payload": payload, "created_at": now}
    event_columns, event_values, params = insert_select(Event, row, connection, prefix=f"{name}_e")
    delivery_columns, delivery_values, delivery_params = insert_select(
        Delivery,
        {"next_attempt_at": now, "created_at": now, "updated_at": now},
        connection,
        prefix=f"{name}_d",
        expressions={"event_id": f"{name}_row.id", "endpoint_id": f"{name}_endpoints.id", "job_id": JOB_ID_SQL},
    )
    params.update(delivery_params)
    params[f"{name}_team"] = team_id
    if endpoint_ids is None:
        params[f"{name}_type"] = event
        chosen = f"endpoint.active AND (cardinality(endpoint.events) = 0 OR %({name}_type)s = ANY(endpoint.events))"
    else:
        params[f"{name}_ids"] = list(endpoint_ids)
        chosen = f"endpoint.id = ANY(%({name}_ids)s)"
    if when is not None:
        chosen += f" AND EXISTS (SELECT 1 FROM {when})"
    ctes = f"""
        {name}_endpoints AS (
            SELECT endpoint.id FROM {Endpoint._meta.db_table} AS endpoint
             WHERE endpoint.team_id = %({name}_team)s AND {chosen}
        ),
        {name}_row AS (
            INSERT INTO {Event._meta.db_table} ({event_columns})
            SELECT {event_values} WHERE EXISTS (SELECT 1 FROM {name}_endpoints)
            RETURNING id
        ),
        {name}_deliveries AS (
            INSERT INTO {Delivery._meta.db_table} ({delivery_columns})
            SELECT {delivery_values} FROM {name}_row CROSS JOIN {name}_endpoints
            RETURNING id, job_id
        )"""
    deliveries = f"(SELECT COALESCE(json_agg(json_build_array(id, job_id)), '[]') FROM {name}_deliveries)"
    return EventSql(ctes=ctes, params=params, deliveries=deliveries, event=Event(**row))


def _event_run(recorded: EventSql) -> Event | None:
    """Run an event's statement on its own (inside the caller's transaction, if any): the Event
    written, or None when no endpoint wanted it."""
    connection = transaction.get_connection(Event.objects.db)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {recorded.ctes} SELECT {recorded.deliveries}", recorded.params)
        deliveries = cursor.fetchone()[0]
    if not deliveries:
        return None
    recorded.enqueue(deliveries)
    event = recorded.event
    event._state.adding, event._state.db = False, connection.alias
    return event


def _payload(msg_id: str, event: str, now: datetime, data: dict[str, Any]) -> bytes:
    body = {
        "id": msg_id,
        "event": event,
        "timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }
    # Serialised once: these bytes are stored, signed and sent, at every attempt. Scrubbed
    # first: an error text quoted in the data must not carry a token to the team's systems.
    return json.dumps(_scrubbed(body), separators=(",", ":"), default=_json_default).encode()


def _scrubbed(value: Any) -> Any:
    """``value`` with every text in it scrubbed of credentials (planrrr.text.scrub, and webhook secrets)."""
    if isinstance(value, str):
        return _WHSEC.sub("[redacted]", scrub(value))
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if hasattr(value, "isoformat"):  # date, time
        return value.isoformat()
    return str(value)  # Decimal, UUID


# A delivery's job id: "webhook-" and a random UUID's 32 hex digits, made by Python for one
# delivery and by PostgreSQL for the deliveries an event's statement inserts (one per endpoint).
JOB_ID_PREFIX = "webhook-"
JOB_ID_SQL = f"'{JOB_ID_PREFIX}' || replace(gen_random_uuid()::text, '-', '')"


def _new_job_id() -> str:
    return f"{JOB_ID_PREFIX}{uuid.uuid4().hex}"


def _queue():
    # Enqueueing is already deferred to commit where it must be; enqueue immediately here.
    return django_rq.get_queue(QUEUE, commit_mode="auto")


def _enqueue_now(jobs: list[tuple[int, str]]) -> None:
    queue = _queue()
    for delivery_id, job_id in jobs:
        queue.enqueue(JOB, delivery_id, job_id=job_id, job_timeout=_job_timeout())


def _enqueue_at(when: datetime, delivery_id: int, job_id: str) -> None:
    # RQ's scheduler works in whole seconds; round up so the job never runs before it is due.
    when = when.replace(microsecond=0) + timedelta(seconds=1) if when.microsecond else when
    _queue().enqueue_at(when, JOB, delivery_id, job_id=job_id, job_timeout=_job_timeout())


# --- Delivering -------------------------------------------------------------------------


def max_attempts() -> int:
    """Attempts a delivery gets: the first and one per step of ``WEBHOOK_RETRY_SCHEDULE``."""
    return len(retry_schedule()) + 1


# Why a delivery ended when its last attempt never recorded an outcome (the sweep recovered it
# from a dead worker, or writing the outcome failed): without a limit here it would start again
# for ever, calling the receiver each time.
GAVE_UP_INTERRUPTED = (
    "Gave up after {n} attempts; the last was interrupted (worker lost or outcome could not be recorded). "
    "Check the worker logs and the receiver, then redeliver."
)
# A delivery whose endpoint's secret cannot be read can never be signed: retrying will not help.
CANNOT_SIGN = (
    "Not sent: cannot sign: re-enter or rotate the endpoint's secret "
    "(it cannot be decrypted with TOKEN_ENCRYPTION_KEY, or is empty)."
)
NOT_JSON = "Not sent: the event's stored payload is not valid JSON, so it cannot be signed or sent."
# Stored in place of an outcome that could not be written as it was.
UNRECORDABLE = "The outcome of this attempt could not be recorded as it was; see the worker logs."


def _safe(text: object, secrets: Iterable[str | None] = (), *, limit: int = MAX_TEXT) -> str:
    """Text from outside (a receiver's answer, an exception) as it may be stored, logged and shown:
    no secret, no NUL byte or lone surrogate, not too long."""
    return _WHSEC.sub("[redacted]", safe_text(text, secrets=secrets, limit=limit))


def _log_exception(message: str, err: BaseException, secrets: Iterable[str | None] = ()) -> None:
    """``logger.exception`` with the traceback scrubbed: an exception's text may quote a secret."""
    details = "".join(traceback.format_exception(err))
    logger.error("%s\n%s", message, _WHSEC.sub("[redacted]", scrub(details, list(secrets))))


@dataclass
class Outcome:
    """What one HTTP attempt came to."""

    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_at: datetime | None = None
    permanent: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def delivery_attempt(*, delivery_id: int) -> None:
    """Make the next attempt of a delivery, log it, then finish it or schedule the next one.

    Safe to run twice or early: the attempt is claimed atomically, so a delivery that is
    done, not yet due, or being attempted by another worker is left alone. Every attempt
    ends: whatever the receiver answers, or if the endpoint or event row is broken, the
    outcome is written (a minimal one if the full one cannot be), and an attempt that never
    recorded an outcome still counts, so past ``max_attempts()`` the delivery ends FAILED.
    """
    now = timezone.now()
    due = Delivery.objects.filter(id=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now + CLOCK_SKEW)
    with transaction.atomic():
        claimed = due.filter(attempt_count__lt=max_attempts()).update(
            attempt_count=F("attempt_count") + 1, next_attempt_at=now + _lease(), updated_at=now
        )
        if not claimed:
            _give_up_if_exhausted(due, now)
            return
        number = Delivery.objects.filter(id=delivery_id).values_list("attempt_count", flat=True).get()
        # Logged before the request goes out, so a worker killed mid-attempt leaves a trace.
        attempt = DeliveryAttempt.objects.create(
            delivery_id=delivery_id, number=number, error=DeliveryAttempt.INTERRUPTED, created_at=now
        )

    secrets: list[str] = []
    try:
        # The secrets are read (decrypted) only when signing, so that a broken one fails this
        # delivery with a reason instead of the load.
        delivery = (
            Delivery.objects.select_related("endpoint", "event")
            .defer("endpoint__secret", "endpoint__previous_secret")
            .get(id=delivery_id)
        )
        outcome = _attempt(delivery.endpoint, delivery.event, secrets)
    except Exception as err:
        _log_exception(f"webhook delivery {delivery_id} raised before it was sent", err, secrets)
        outcome = Outcome(error=f"Internal error before sending: {type(err).__name__}.")
    _record(delivery_id=delivery_id, attempt_id=attempt.id, number=number, outcome=outcome, secrets=secrets)
    _log_delivery(delivery_id, number, outcome)


def _log_delivery(delivery_id: int, number: int, outcome: Outcome) -> None:
    """One line per delivery attempt (planrrr.logs): delivery, endpoint, event, attempt, outcome
    (SUCCEEDED, RETRY or FAILED: what the delivery now is), status code, duration, error."""
    row = Delivery.objects.filter(id=delivery_id).values("status", "endpoint_id", "event_id", "event__type").first()
    if row is None:
        return
    status = row["status"]
    result = "RETRY" if status == Delivery.Status.PENDING else status
    level = {"SUCCEEDED": logging.INFO, "RETRY": logging.WARNING}.get(result, logging.ERROR)
    logs.event(
        logger,
        level,
        "webhook delivery",
        delivery=delivery_id,
        endpoint=row["endpoint_id"],
        event=row["event_id"],
        event_type=row["event__type"],
        attempt=number,
        outcome=result,
        status_code=outcome.status_code,
        duration_ms=outcome.latency_ms,
        error=_safe(outcome.error, limit=500),
    )


def _give_up_if_exhausted(due, now: datetime) -> None:
    """End a due delivery that already had all its attempts: the last never recorded an outcome."""
    exhausted = due.filter(attempt_count__gte=max_attempts()).values_list("attempt_count", flat=True).first()
    if exhausted is None:
        return
    reason = GAVE_UP_INTERRUPTED.format(n=exhausted)
    if due.filter(attempt_count=exhausted).update(
        status=Delivery.Status.FAILED, next_attempt_at=None, job_id="", last_error=reason, updated_at=now
    ):
        logger.warning("webhook delivery ended: %s", reason)


def _attempt(endpoint: Endpoint, event: Event, secrets: list[str]) -> Outcome:
    """Send the event to the endpoint unless the rows say it cannot be; ``secrets`` receives the
    signing secrets, so that the caller can keep them out of whatever it stores."""
    if not endpoint.active:
        reason = endpoint.disabled_reason or "disabled by a person"
        return Outcome(error=f"Not sent: the endpoint is disabled ({reason}).", permanent=True)
    try:
        json.loads(event.body)
    except ValueError:
        return Outcome(error=NOT_JSON, permanent=True)
    secrets.extend(endpoint.signing_secrets())
    try:
        signers = [Webhook(secret) for secret in secrets]
    except (ValueError, TypeError):  # not base64: standardwebhooks cannot use it
        signers = []
    if not signers:
        return Outcome(error=CANNOT_SIGN, permanent=True)
    return _send(endpoint, event, signers)


def _send(endpoint: Endpoint, event: Event, signers: list[Webhook]) -> Outcome:
    body = event.body
    timestamp = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signer.sign(event.id, timestamp, body.decode()) for signer in signers),
    }
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    started = time.monotonic()
    try:
        # Redirects are not followed: a 3xx is an answer like any other, and not a 2xx.
        with (
            public_session(allow_private=allow_private) as session,
            session.post(
                endpoint.url, data=body, headers=headers, timeout=_timeout(), allow_redirects=False, stream=True
            ) as response,
        ):
            outcome = Outcome(
                status_code=response.status_code, excerpt=_excerpt(response), retry_at=_retry_at(response)
            )
            if not outcome.succeeded:
                outcome.error = f"The receiver answered {response.status_code} {response.reason or ''}".strip() + "."
    except UnsafeURL as err:
        outcome = Outcome(error=f"Not sent: {err}", permanent=err.permanent)
    except requests.Timeout as err:
        connect, read = _timeout()
        outcome = Outcome(error=f"Timed out (connect {connect:g} s, read {read:g} s): {err}")
    except requests.ConnectionError as err:
        outcome = Outcome(error=f"Could not connect: {err}")
    except (requests.RequestException, OSError) as err:
        outcome = Outcome(error=f"Request failed: {err}")
    except BaseTimeoutException:
        outcome = Outcome(error=f"The attempt ran past its {_job_timeout()} s limit: the receiver answers too slowly.")
    except Exception as err:
        # Log it and retry like any failure rather than leave the attempt unrecorded.
        _log_exception(f"webhook attempt to endpoint {endpoint.id} raised", err)
        outcome = Outcome(error=f"Internal error while sending: {err!r}")
    outcome.latency_ms = round((time.monotonic() - started) * 1000)
    return outcome


def _excerpt(response: requests.Response) -> str:
    """The start of the receiver's answer; the status code already decided the outcome."""
    try:
        return response.raw.read(RESPONSE_EXCERPT_BYTES, decode_content=True).decode("utf-8", errors="replace")
    except (urllib3.exceptions.HTTPError, OSError) as err:
        return f"(the answer could not be read: {err})"


def _retry_at(response: requests.Response) -> datetime | None:
    """When the receiver asked us to try again (Retry-After on 429 and 503: RFC 9110 §10.2.3,
    seconds or an HTTP-date), no later than planrrr.text.MAX_WAIT from now."""
    if response.status_code not in (429, 503):
        return None
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    # Not the URL: it may carry the receiver's own credentials.
    what = "A webhook receiver's Retry-After"
    if value.isascii() and value.isdigit():
        return wait_from_seconds(value, what=what)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return clamp_wait(when, what=what)


@dataclass
class _Plan:
    """What an attempt's outcome does to its delivery."""

    status: str
    error: str
    next_attempt_at: datetime | None = None
    job_id: str = ""
    disable_reason: str = ""


def _plan(*, number: int, outcome: Outcome, endpoint_id: int, now: datetime) -> _Plan:
    endpoint = Endpoint.objects.filter(id=endpoint_id).values("active", "failing_since").first() or {}
    active, failing_since = endpoint.get("active", False), endpoint.get("failing_since") or now
    plan = _Plan(status=Delivery.Status.FAILED, error=outcome.error)
    if outcome.succeeded:
        plan.status = Delivery.Status.SUCCEEDED
    elif outcome.status_code == 410:
        # 410 Gone: the receiver says this URL is gone for good; stop sending to it.
        plan.disable_reason = f"The receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC: it asked us to stop."
    elif not outcome.permanent:
        schedule = retry_schedule()
        disable_after = timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER)
        if active and now - failing_since >= disable_after:
            plan.disable_reason = (
                f"Every attempt failed since {failing_since:%Y-%m-%d %H:%M} UTC (more than {_human(disable_after)}): "
                "disabled automatically. Fix the receiver, enable the endpoint, then redeliver what failed."
            )
        elif number < max_attempts():
            when = now + timedelta(seconds=schedule[number - 1] * random.uniform(0.9, 1.1))
            if outcome.retry_at is not None:
                # Honoured, but never beyond the longest step of our own schedule.
                when = max(when, min(outcome.retry_at, now + timedelta(seconds=max(schedule))))
            plan.status, plan.next_attempt_at, plan.job_id = Delivery.Status.PENDING, when, _new_job_id()
        else:
            plan.error += f" Gave up after {number} attempts."
    if plan.disable_reason:
        plan.error += f" The endpoint was disabled: {plan.disable_reason}"
    return plan


def _record(*, delivery_id: int, attempt_id: int, number: int, outcome: Outcome, secrets: list[str]) -> None:
    """Write the attempt's outcome; if that fails, a minimal one in a fresh transaction."""
    now = timezone.now()
    endpoint_id = Delivery.objects.filter(id=delivery_id).values_list("endpoint_id", flat=True).get()
    # Everything from outside made storable and scrubbed before it is written.
    outcome.error = _safe(outcome.error, secrets)
    outcome.excerpt = _safe(outcome.excerpt, secrets, limit=RESPONSE_EXCERPT_BYTES)
    plan = _plan(number=number, outcome=outcome, endpoint_id=endpoint_id, now=now)
    try:
        with transaction.atomic():
            DeliveryAttempt.objects.filter(id=attempt_id).update(
                succeeded=outcome.succeeded,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_excerpt=outcome.excerpt,
                error=outcome.error,
            )
            Delivery.objects.filter(id=delivery_id).update(
                status=plan.status,
                next_attempt_at=plan.next_attempt_at,
                job_id=plan.job_id,
                last_status_code=outcome.status_code,
                last_error=plan.error,
                updated_at=now,
            )
            if outcome.succeeded:
                Endpoint.objects.filter(id=endpoint_id, failing_since__isnull=False).update(failing_since=None)
            else:
                Endpoint.objects.filter(id=endpoint_id, active=True, failing_since__isnull=True).update(
                    failing_since=now
                )
            if plan.disable_reason:
                Endpoint.objects.filter(id=endpoint_id, active=True).update(
                    active=False, disabled_reason=plan.disable_reason
                )
                logger.warning("webhook endpoint %s disabled: %s", endpoint_id, plan.disable_reason)
    except Exception as err:
        _log_exception(f"could not record the outcome of webhook delivery {delivery_id}", err, secrets)
        _record_minimal(delivery_id=delivery_id, attempt_id=attempt_id, number=number, plan=plan, now=now)

    if plan.next_attempt_at is not None:
        try:
            _enqueue_at(plan.next_attempt_at, delivery_id, plan.job_id)
        except Exception:
            # The row says when the attempt is due; the sweep enqueues it if this did not.
            logger.exception("could not schedule webhook delivery %s; the sweep will", delivery_id)


def _record_minimal(*, delivery_id: int, attempt_id: int, number: int, plan: _Plan, now: datetime) -> None:
    """The outcome without anything that came from outside: the delivery is not left claimed.
    If even this fails, the lease runs out, the sweep recovers it, and the attempt has counted."""
    error = UNRECORDABLE
    if plan.status == Delivery.Status.FAILED:
        error += f" Gave up after {number} attempts."
    try:
        with transaction.atomic():
            DeliveryAttempt.objects.filter(id=attempt_id).update(
                succeeded=plan.status == Delivery.Status.SUCCEEDED, error=error
            )
            Delivery.objects.filter(id=delivery_id).update(
                status=plan.status,
                next_attempt_at=plan.next_attempt_at,
                job_id=plan.job_id,
                last_error=error,
                updated_at=now,
            )
    except Exception:
        logger.exception("could not record even a minimal outcome of webhook delivery %s", delivery_id)


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g} seconds"


# --- Recovering lost jobs ---------------------------------------------------------------


def delivery_sweep() -> int:
    """Enqueue every delivery that is due but has no job waiting for it. Returns how many.

    A job goes missing when Redis loses its data, when the process that committed an
    event dies before enqueueing, when a worker dies mid-attempt (the attempt's lease
    runs out) or when no scheduler is running. A due delivery whose job still waits in
    the queue is left alone; any other is enqueued again. Enqueueing twice is harmless:
    the attempt is claimed atomically.
    """
    grace = timedelta(seconds=settings.SWEEP_REQUEUE_AFTER_SECONDS)
    overdue = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now() - grace)
        .order_by("next_attempt_at")
        .values_list("id", "job_id")[:500]
    )
    if not overdue:
        return 0
    jobs = _jobs_fetch([job_id or "-" for _, job_id in overdue], connection=django_rq.get_connection(QUEUE))
    requeued = []
    for (delivery_id, job_id), job in zip(overdue, jobs, strict=True):
        if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED:
            continue
        new_job_id = _new_job_id()
        if Delivery.objects.filter(id=delivery_id, job_id=job_id, status=Delivery.Status.PENDING).update(
            job_id=new_job_id
        ):
            requeued.append((delivery_id, new_job_id))
    if requeued:
        logger.info("re-enqueued %d webhook deliveries whose job was gone", len(requeued))
        _enqueue_now(requeued)
    return len(requeued)


def _jobs_fetch(job_ids: list[str], *, connection) -> list[Job | None]:
    """The jobs of these ids, None for any that is gone or cannot be read."""
    try:
        return Job.fetch_many(job_ids, connection=connection)
    except Exception:
        # One unreadable job hash (half written by a dying process, say) made fetch_many raise
        # and stopped the sweep for every team: read them one by one instead.
        logger.warning("a webhook job in Redis cannot be read; reading the overdue jobs one by one")
    jobs: list[Job | None] = []
    for job_id in job_ids:
        try:
            jobs.append(Job.fetch(job_id, connection=connection))
        except Exception:  # NoSuchJobError, or not a job RQ can read: gone either way
            jobs.append(None)
    return jobs


# --- Endpoints --------------------------------------------------------------------------


def endpoint_create(*, team: Team, url: str, description: str = "", events: list[str] | None = None) -> Endpoint:
    """Create an endpoint with a fresh secret (``endpoint.secret``: show it to the user once).

    Raises ValidationError when the URL is not a public http(s) URL or an event is unknown.
    """
    endpoint = Endpoint(team=team, url=url.strip(), description=description, events=list(events or []))
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: Endpoint, **fields: Any) -> Endpoint:
    """Change an endpoint's ``url``, ``description`` or ``events`` (validated as at creation);
    ``active`` goes through endpoint_enable / endpoint_disable."""
    active = fields.pop("active", None)
    unknown = set(fields) - {"url", "description", "events"}
    if unknown:
        raise TypeError(f"endpoint_update() got unexpected fields {sorted(unknown)}")
    for name, value in fields.items():
        setattr(endpoint, name, value.strip() if name == "url" else value)
    endpoint.full_clean()
    endpoint.save(update_fields=[*fields, "updated_at"])
    if active is True and not endpoint.active:
        endpoint_enable(endpoint=endpoint)
    elif active is False and endpoint.active:
        endpoint_disable(endpoint=endpoint, reason=f"Disabled through the API on {timezone.now():%Y-%m-%d %H:%M} UTC.")
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete an endpoint with its deliveries (the events stay for the other endpoints)."""
    Endpoint.objects.filter(pk=endpoint.pk).delete()


def endpoint_rotate_secret(*, endpoint: Endpoint, overlap: timedelta | None = None) -> str:
    """Give the endpoint a new secret and return it (show it once).

    During ``overlap`` (``WEBHOOK_SECRET_ROTATION_OVERLAP``, a day by default) every
    delivery carries two signatures, one per secret, so the receiver can switch when it
    likes; after it only the new secret signs.
    """
    if overlap is None:
        overlap = timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_OVERLAP)
    new_secret = secret_generate()
    try:
        current = endpoint.secret
    except ValueError:  # cannot be decrypted: rotating is the way out, with no overlap
        current = ""
    endpoint.previous_secret = current or ""
    endpoint.previous_secret_expires_at = timezone.now() + overlap if current else None
    endpoint.secret = new_secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return new_secret


def endpoint_enable(*, endpoint: Endpoint) -> None:
    """Send to the endpoint again; its failure record starts afresh."""
    Endpoint.objects.filter(id=endpoint.id).update(
        active=True, disabled_reason="", failing_since=None, updated_at=timezone.now()
    )


def endpoint_disable(*, endpoint: Endpoint, reason: str) -> None:
    """Stop sending to the endpoint; pending deliveries fail at their next attempt."""
    Endpoint.objects.filter(id=endpoint.id).update(active=False, disabled_reason=reason, updated_at=timezone.now())


def endpoint_send_test_event(*, endpoint: Endpoint) -> Delivery:
    """Send a ``webhook.test`` event to this endpoint only, whatever it subscribes to."""
    event = _event_run(
        event_sql(
            team_id=endpoint.team_id,
            event=TEST_EVENT,
            data={"endpointId": endpoint.id, "message": "A test event sent from the planrrr admin."},
            endpoint_ids=[endpoint.id],
        )
    )
    return event.deliveries.get()


# --- Redelivery -------------------------------------------------------------------------


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivery's event to its endpoint again, as a new delivery with a fresh retry schedule.

    The event keeps its id, so a receiver that already has it can recognise the repeat.
    """
    now = timezone.now()
    with transaction.atomic():
        again = Delivery.objects.create(
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            next_attempt_at=now,
            job_id=_new_job_id(),
            redelivery_of=delivery,
            created_at=now,
            updated_at=now,
        )
        jobs = [(again.id, again.job_id)]
        outages.after_commit(lambda: _enqueue_now(jobs))
    return again


def delivery_redeliver_failed(
    *,
    since: datetime,
    endpoint: Endpoint | None = None,
    team: Team | None = None,
    teams: Iterable[int] | None = None,
) -> list[Delivery]:
    """Redeliver every FAILED delivery created since ``since`` (optionally of one endpoint or team;
    ``teams``: only ever these teams' ids, as the admin asks for a user who is not an operator).

    A failed delivery that was already redelivered is skipped, so running it twice does not
    send twice.
    """
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED, created_at__gte=since, redeliveries=None)
    if endpoint is not None:
        failed = failed.filter(endpoint=endpoint)
    if team is not None:
        failed = failed.filter(endpoint__team=team)
    if teams is not None:
        failed = failed.filter(endpoint__team_id__in=list(teams))
    return [delivery_redeliver(delivery=d) for d in failed.order_by("created_at")]


# --- Retention ---------------------------------------------------------------------------


def events_prune(now: datetime | None = None, *, batch: int = 1000) -> int:
    """Delete the events older than WEBHOOK_RETENTION_HOURS whose deliveries have all ended,
    after counting their deliveries and attempts into DeliveryRollup (one transaction a batch,
    oldest first). Events with a delivery still pending stay. Returns the events deleted."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.WEBHOOK_RETENTION_HOURS)
    ended = Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    with transaction.atomic():
        ids = list(ended.order_by("created_at").values_list("id", flat=True)[:batch])
        if not ids:
            return 0
        deliveries_roll_up(Delivery.objects.filter(event_id__in=ids))
        # Their deliveries and attempts go with them (CASCADE).
        Event.objects.filter(id__in=ids).delete()
    return len(ids)


def deliveries_roll_up(deliveries: QuerySet[Delivery]) -> None:
    """Count ``deliveries`` (those that ended) and all their attempts into DeliveryRollup, just
    before they are deleted: the webhook counters are the rows kept plus the rollups, so they
    never go back, whatever deletes the rows (retention, an endpoint or a team deleted)."""
    counts: dict[tuple, dict[str, int]] = {}
    ended = (
        deliveries.filter(status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED])
        .values_list(TruncHour("event__created_at"), "event__type", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for hour, event_type, status, n in ended:
        name = "deliveries_succeeded" if status == Delivery.Status.SUCCEEDED else "deliveries_failed"
        _add(counts, hour, event_type, name, n)
    attempts = (
        DeliveryAttempt.objects.filter(delivery__in=deliveries.values("pk"))
        .values_list(TruncHour("delivery__event__created_at"), "delivery__event__type", "succeeded")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for hour, event_type, succeeded, n in attempts:
        _add(counts, hour, event_type, "attempts_succeeded" if succeeded else "attempts_failed", n)
    for (hour, event_type), added in counts.items():
        rollup = DeliveryRollup.objects.filter(hour=hour, event_type=event_type)
        if not rollup.update(**{name: F(name) + n for name, n in added.items()}):
            DeliveryRollup.objects.create(hour=hour, event_type=event_type, **added)


def on_endpoint_delete(sender, instance: Endpoint, **kwargs) -> None:
    """pre_delete of an Endpoint (alone, or with its team): its deliveries go with it (CASCADE),
    their counts stay. Every delivery has one endpoint, so each is counted once."""
    deliveries_roll_up(Delivery.objects.filter(endpoint=instance))


def _add(counts: dict, hour, event_type: str, name: str, n: int) -> None:
    row = counts.setdefault((hour, event_type), {})
    row[name] = row.get(name, 0) + n
