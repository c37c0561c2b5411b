"""The periodic work every worker runs between jobs (``PLANRRR_PERIODIC``: the dispatch of due
posts, the sweeps), by one worker of the fleet at a time: a Redis lock per task, held while it
runs and then until its interval has passed since it started. What fails at every run is
logged when it starts failing and when it stops (``Outages``), not at every run."""

from __future__ import annotations

import logging
import time

from django import db
from django.utils.module_loading import import_string

from planrrr import outages as process_outages
from planrrr.logs import Outage

logger = logging.getLogger("planrrr.sweep")

PERIODIC_LOCK_PREFIX = "planrrr:periodic:"


class Outages:
    """What fails at every loop of a worker, logged when it starts and when it ends (with its
    duration), not at every loop: PostgreSQL unreachable, Redis unreachable (the process's
    outages, ``planrrr.outages``), or one periodic task failing for another reason (its
    traceback, once)."""

    def __init__(self, database: Outage | None = None, redis: Outage | None = None) -> None:
        self.database = database or process_outages.database()
        self.redis = redis or process_outages.redis()
        self.tasks: dict[str, Outage] = {}

    def failed(self, path: str, error: BaseException) -> None:
        if process_outages.database_unreachable(error):
            self.database.failed(error)
        elif process_outages.redis_unreachable(error):
            self.redis.failed(error)
        else:
            self.tasks.setdefault(path, Outage(path, logger)).failed(error, traceback=True)

    def ran(self, path: str) -> None:
        """The task at ``path`` ran to its end: the database answered, and so did the task."""
        self.database.ok()
        if path in self.tasks:
            self.tasks[path].ok()


# How long a periodic task keeps other workers from starting it while it runs: one that takes
# longer may run twice at once (each task is safe to), one whose worker died mid-run is held
# up that long at most.
PERIODIC_RUN_LIMIT = 10.0


def run_periodic(connection, path: str, interval: float, outages: Outages | None = None) -> bool:
    """Run the task at ``path`` unless another worker is running it, or ran it within
    ``interval``. True if run."""
    key = f"{PERIODIC_LOCK_PREFIX}{path}"
    started = time.monotonic()
    if not connection.set(key, "1", nx=True, px=_ms(max(interval, PERIODIC_RUN_LIMIT))):
        return False
    outages = outages or Outages()
    outages.redis.ok()
    db.close_old_connections()
    try:
        import_string(path)()
    except Exception as error:
        # A database or Redis outage must not stop the worker: note it, drop the broken
        # connection, and try again at the next interval.
        outages.failed(path, error)
        db.connections.close_all()
    else:
        outages.ran(path)
    # Held while it ran; the next run is due ``interval`` after this one started.
    left = interval - (time.monotonic() - started)
    if left > 0.001:
        connection.pexpire(key, _ms(left))
    else:
        connection.delete(key)
    return True


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
