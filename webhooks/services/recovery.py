"""Deliveries put back on the queue: the sweep of those whose job Redis lost, and redelivery (a
delivery's event sent to its endpoint again, as a new delivery)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq.job import Job, JobStatus

from planrrr import outages
from planrrr.models import Team
from webhooks.models import Delivery, Endpoint
from webhooks.services.queue import QUEUE, enqueue_now, new_job_id

logger = logging.getLogger("planrrr.webhooks")


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
        fresh = new_job_id()
        if Delivery.objects.filter(id=delivery_id, job_id=job_id, status=Delivery.Status.PENDING).update(job_id=fresh):
            requeued.append((delivery_id, fresh))
    if requeued:
        logger.info("re-enqueued %d webhook deliveries whose job was gone", len(requeued))
        enqueue_now(requeued)
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
            job_id=new_job_id(),
            redelivery_of=delivery,
            created_at=now,
            updated_at=now,
        )
        jobs = [(again.id, again.job_id)]
        outages.after_commit(lambda: enqueue_now(jobs))
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
