"""RQ wiring: the worker class every ``manage.py rqworker`` runs (``RQ["WORKER_CLASS"]``).

It is RQ's forking worker with two additions:

* the database sweeps of ``PLANRRR_SWEEPS`` run every ``SWEEP_INTERVAL_SECONDS`` in the
  worker's main process (one worker of the fleet at a time, by a Redis lock), so a post
  written straight into the database, or work lost with Redis, is found without any
  other process;
* database connections are closed before each fork, so a work-horse never shares the
  parent's PostgreSQL socket.
"""

from __future__ import annotations

import logging
import time

import rq
from django import db
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("planrrr.sweep")

SWEEP_LOCK_KEY = "planrrr:sweep:lock"


def run_sweeps(connection) -> bool:
    """Run every sweep once unless another worker did within the interval. Returns True if run."""
    interval_ms = max(int(settings.SWEEP_INTERVAL_SECONDS * 1000), 100)
    if not connection.set(SWEEP_LOCK_KEY, "1", nx=True, px=interval_ms):
        return False
    db.close_old_connections()
    for path in settings.PLANRRR_SWEEPS:
        try:
            import_string(path)()
        except Exception:
            # A database or Redis outage must not stop the worker: log, drop the broken
            # connection, and try again at the next interval.
            logger.exception("sweep %s failed; will retry", path)
            db.connections.close_all()
    return True


class Worker(rq.Worker):
    _last_sweep = 0.0

    def __init__(self, *args, **kwargs) -> None:
        # RQ re-acquires the scheduler lock of a dead worker (TTL 61 s) only during
        # maintenance, every 10 minutes by default: every minute instead.
        kwargs.setdefault("maintenance_interval", 60)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval even when no job arrives.
        return max(1, int(settings.SWEEP_INTERVAL_SECONDS))

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        super().heartbeat(timeout, pipeline=pipeline)
        # heartbeat() runs in the main process between jobs and while waiting for one (and,
        # inside a pipeline, while a job runs: not a moment to do database work).
        if pipeline is not None:
            return
        now = time.monotonic()
        if now - self._last_sweep >= settings.SWEEP_INTERVAL_SECONDS:
            self._last_sweep = now
            try:
                run_sweeps(self.connection)
            except Exception:
                logger.exception("sweep could not run; will retry")

    def fork_work_horse(self, job, queue) -> None:
        db.connections.close_all()
        super().fork_work_horse(job, queue)
