"""The deliveries' jobs on RQ: their queue and ids, the limits of one attempt, enqueueing them
(``JOB``, by dotted path: services and jobs never import each other)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

import django_rq
from django.conf import settings

QUEUE = "webhooks"
JOB = "webhooks.jobs.delivery_attempt"


def timeout() -> tuple[float, float]:
    connect, read = settings.WEBHOOK_TIMEOUT
    return float(connect), float(read)


def job_timeout() -> int:
    """RQ's limit on one attempt: the HTTP timeouts, reading the excerpt, and the bookkeeping."""
    return math.ceil(sum(timeout())) + 10


def lease() -> timedelta:
    """How long a running attempt holds its delivery; past it the attempt is dead (RQ killed it first)."""
    return timedelta(seconds=job_timeout() + 10)


# A delivery's job id: "webhook-" and a random UUID's 32 hex digits, made by Python for one
# delivery and by PostgreSQL for the deliveries an event's statement inserts (one per endpoint).
JOB_ID_PREFIX = "webhook-"


JOB_ID_SQL = f"'{JOB_ID_PREFIX}' || replace(gen_random_uuid()::text, '-', '')"


def new_job_id() -> str:
    return f"{JOB_ID_PREFIX}{uuid.uuid4().hex}"


def webhooks_queue():
    # Enqueueing is already deferred to commit where it must be; enqueue immediately here.
    return django_rq.get_queue(QUEUE, commit_mode="auto")


def enqueue_now(jobs: list[tuple[int, str]]) -> None:
    queue = webhooks_queue()
    for delivery_id, job_id in jobs:
        queue.enqueue(JOB, delivery_id, job_id=job_id, job_timeout=job_timeout())


def enqueue_at(when: datetime, delivery_id: int, job_id: str) -> None:
    # RQ's scheduler works in whole seconds; round up so the job never runs before it is due.
    when = when.replace(microsecond=0) + timedelta(seconds=1) if when.microsecond else when
    webhooks_queue().enqueue_at(when, JOB, delivery_id, job_id=job_id, job_timeout=job_timeout())
