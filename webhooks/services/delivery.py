"""One attempt of a delivery: claimed, signed (Standard Webhooks), sent, logged, its outcome
recorded (``outcomes``)."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import requests
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq.timeouts import BaseTimeoutException
from standardwebhooks.webhooks import Webhook

from planrrr import logs
from planrrr.text import clamp_wait, wait_from_seconds
from planrrr.urlsafety import UnsafeURL, public_session
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event
from webhooks.services.outcomes import GAVE_UP_INTERRUPTED, RESPONSE_EXCERPT_BYTES, Outcome, max_attempts, record
from webhooks.services.queue import job_timeout, lease, timeout
from webhooks.services.redact import log_exception, safe

logger = logging.getLogger("planrrr.webhooks")


USER_AGENT = "planrrr-webhooks/1.0"


# Clocks of workers and database may differ a little; an attempt up to this early is on time.
CLOCK_SKEW = timedelta(seconds=1)


# A delivery whose endpoint's secret cannot be read can never be signed: retrying will not help.
CANNOT_SIGN = (
    "Not sent: cannot sign: re-enter or rotate the endpoint's secret "
    "(it cannot be decrypted with TOKEN_ENCRYPTION_KEY, or is empty)."
)


NOT_JSON = "Not sent: the event's stored payload is not valid JSON, so it cannot be signed or sent."


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
            attempt_count=F("attempt_count") + 1, next_attempt_at=now + lease(), updated_at=now
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
        log_exception(f"webhook delivery {delivery_id} raised before it was sent", err, secrets)
        outcome = Outcome(error=f"Internal error before sending: {type(err).__name__}.")
    record(delivery_id=delivery_id, attempt_id=attempt.id, number=number, outcome=outcome, secrets=secrets)
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
        error=safe(outcome.error, limit=500),
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
                endpoint.url, data=body, headers=headers, timeout=timeout(), allow_redirects=False, stream=True
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
        connect, read = timeout()
        outcome = Outcome(error=f"Timed out (connect {connect:g} s, read {read:g} s): {err}")
    except requests.ConnectionError as err:
        outcome = Outcome(error=f"Could not connect: {err}")
    except (requests.RequestException, OSError) as err:
        outcome = Outcome(error=f"Request failed: {err}")
    except BaseTimeoutException:
        outcome = Outcome(error=f"The attempt ran past its {job_timeout()} s limit: the receiver answers too slowly.")
    except Exception as err:
        # Log it and retry like any failure rather than leave the attempt unrecorded.
        log_exception(f"webhook attempt to endpoint {endpoint.id} raised", err)
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
