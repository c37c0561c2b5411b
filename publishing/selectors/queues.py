"""RQ's state, read live from Redis: each queue's depth, started, scheduled and failed jobs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings


@dataclass
class QueueState:
    name: str
    queued: int  # waiting to be picked up
    started: int  # running now
    scheduled: int  # enqueue_at / retries waiting for their time
    scheduled_lag_seconds: float  # how late the most overdue scheduled job is (0: none overdue)
    failed: int


@dataclass
class RqState:
    queues: list[QueueState]
    workers: int
    busy_workers: int


def rq_state() -> RqState:
    """Queue depth, running, scheduled (and how overdue the oldest is), failed, per queue of
    RQ_QUEUES, and the workers alive. Raises redis.RedisError if Redis is down."""
    import django_rq

    from planrrr.rq import workers_alive

    queues = []
    connection = None
    now = time.time()
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        connection = queue.connection
        scheduled = queue.scheduled_job_registry
        oldest = connection.zrange(scheduled.key, 0, 0, withscores=True)
        lag = max(0.0, now - oldest[0][1]) if oldest else 0.0
        queues.append(
            QueueState(
                name=name,
                queued=queue.count,
                started=queue.started_job_registry.count,
                scheduled=scheduled.count,
                scheduled_lag_seconds=lag,
                failed=queue.failed_job_registry.count,
            )
        )
    # Only the live ones: a worker killed, or ended while Redis was unreachable, stays
    # registered until its key expires, up to 8 minutes later.
    workers = workers_alive(connection) if connection is not None else []
    busy = sum(1 for worker in workers if worker.get_state() == "busy")
    return RqState(queues=queues, workers=len(workers), busy_workers=busy)
