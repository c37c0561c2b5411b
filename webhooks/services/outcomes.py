"""What an attempt's outcome does to its delivery: the retry schedule (Svix's), giving up, disabling
an endpoint that fails for too long or answers 410; written in one transaction, or a minimal
outcome when that cannot be written."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webhooks.models import Delivery, DeliveryAttempt, Endpoint
from webhooks.services.queue import enqueue_at, new_job_id
from webhooks.services.redact import log_exception, safe

logger = logging.getLogger("planrrr.webhooks")

# At most this much of a receiver's answer is read and kept.
RESPONSE_EXCERPT_BYTES = 2048


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


# Svix's schedule: after the first attempt, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h later.
def retry_schedule() -> list[float]:
    """Seconds to wait before each retry (``WEBHOOK_RETRY_SCHEDULE``); its length is the number of retries."""
    return [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE]


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


# Stored in place of an outcome that could not be written as it was.
UNRECORDABLE = "The outcome of this attempt could not be recorded as it was; see the worker logs."


@dataclass
class Plan:
    """What an attempt's outcome does to its delivery."""

    status: str
    error: str
    next_attempt_at: datetime | None = None
    job_id: str = ""
    disable_reason: str = ""


def plan_for(*, number: int, outcome: Outcome, endpoint_id: int, now: datetime) -> Plan:
    endpoint = Endpoint.objects.filter(id=endpoint_id).values("active", "failing_since").first() or {}
    active, failing_since = endpoint.get("active", False), endpoint.get("failing_since") or now
    plan = Plan(status=Delivery.Status.FAILED, error=outcome.error)
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
            plan.status, plan.next_attempt_at, plan.job_id = Delivery.Status.PENDING, when, new_job_id()
        else:
            plan.error += f" Gave up after {number} attempts."
    if plan.disable_reason:
        plan.error += f" The endpoint was disabled: {plan.disable_reason}"
    return plan


def record(*, delivery_id: int, attempt_id: int, number: int, outcome: Outcome, secrets: list[str]) -> None:
    """Write the attempt's outcome; if that fails, a minimal one in a fresh transaction."""
    now = timezone.now()
    endpoint_id = Delivery.objects.filter(id=delivery_id).values_list("endpoint_id", flat=True).get()
    # Everything from outside made storable and scrubbed before it is written.
    outcome.error = safe(outcome.error, secrets)
    outcome.excerpt = safe(outcome.excerpt, secrets, limit=RESPONSE_EXCERPT_BYTES)
    plan = plan_for(number=number, outcome=outcome, endpoint_id=endpoint_id, now=now)
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
        log_exception(f"could not record the outcome of webhook delivery {delivery_id}", err, secrets)
        _record_minimal(delivery_id=delivery_id, attempt_id=attempt_id, number=number, plan=plan, now=now)

    if plan.next_attempt_at is not None:
        try:
            enqueue_at(plan.next_attempt_at, delivery_id, plan.job_id)
        except Exception:
            # The row says when the attempt is due; the sweep enqueues it if this did not.
            logger.exception("could not schedule webhook delivery %s; the sweep will", delivery_id)


def _record_minimal(*, delivery_id: int, attempt_id: int, number: int, plan: Plan, now: datetime) -> None:
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
