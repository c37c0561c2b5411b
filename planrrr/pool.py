"""The worker pool ``manage.py planrrr_workers`` runs: RQ's WorkerPool whose parent loads, once,
what every worker needs, then forks the workers from it.

Each worker is a full RQ worker process (the settings' ``RQ["WORKER_CLASS"]``: by default
planrrr.threaded.ThreadedWorker, RQ_WORKER_THREADS jobs at once, each in a thread that is an RQ
worker of its own); a job waiting on a platform holds only its thread. Forked from a parent that
has imported Django, the jobs' modules and the adapters, built the models' relation trees and
frozen it all out of the garbage collector's reach (``planrrr.preload``), the workers share
those pages with it and with each other instead of each loading its own copy: what a worker adds
is the memory it writes to. Database connections are closed before every fork (a socket shared
by two processes is corrupted by both); each worker opens its own (a ThreadedWorker: a pool).

Every worker runs ``with_scheduler`` (RQ's ``run_worker``): RQ's scheduler lock lets one of them
run the scheduler process, and another take over when it dies. The periodic dispatch and sweeps
run under Redis locks, one worker at a time.

What this pool adds to RQ's:

* it says when it starts and stops, and when a worker ends that was not asked to (its exit
  code or signal, how long it lived); RQ's own lines are at INFO on ``rq.worker_pool``, which
  RQ_LOG_LEVEL keeps quiet with RQ's per-job lines;
* a worker that dies within ``QUICK_DEATH`` seconds of its start is replaced after a pause that
  doubles, up to ``MAX_RESPAWN_WAIT``: a worker that cannot start (a broken setting, a bug) is
  not replaced every second, each with its traceback;
* the Redis registration of a worker that died is removed as soon as Redis answers: RQ's
  registry (``/metrics``, RQ's own tools) would count it as a live, maybe busy, worker until it
  expired, up to 8 minutes later;
* a stop request is never lost: the stop signals are held from before each fork until the new
  process has handlers of its own, which note a stop for its worker (the handlers it inherits,
  the pool's, would swallow it, and that worker, never told to stop, keeps the pool waiting).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

import rq
import rq.worker_pool
from django import db
from rq.worker_pool import ForkProcess, WorkerData

from planrrr import outages
from planrrr import rq as planrrr_rq
from planrrr.outages import REDIS_ERRORS
from planrrr.preload import preload
from planrrr.rq import SweepingWorker, note_stop
from planrrr.scheduler import STOP_SIGNALS, stop_signals_held

logger = logging.getLogger("planrrr.workers")

# A worker that ends this soon after its start did not get going: the next one waits.
QUICK_DEATH = 10.0
MAX_RESPAWN_WAIT = 60.0


class WorkerPool(rq.worker_pool.WorkerPool):
    """RQ's worker pool, with a preloaded parent and the additions above."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._born: dict[str, float] = {}
        # Workers that died, whose registration in Redis is still to be removed.
        self._unregistered: set[str] = set()
        self._respawn_wait = 0.0
        self._respawn_at = 0.0

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        preload()
        db.connections.close_all()
        logger.info(
            "worker pool starting: %d workers (%s) on queues %s, pid %d",
            self.num_workers,
            f"{self.worker_class.__module__}.{self.worker_class.__qualname__}",
            ", ".join(self._queue_names),
            os.getpid(),
            extra={"workers": self.num_workers, "queues": ",".join(self._queue_names), "pool": self.name},
        )
        super().start(burst=burst, logging_level=logging_level)
        self._unregister_dead()
        logger.info("worker pool stopped: every worker has exited", extra={"pool": self.name})

    def request_stop(self, signum=None, frame=None) -> None:
        how = (
            "again: each worker abandons its job (cold stop)"
            if self.status == self.Status.STOPPED
            else ("each worker finishes the job in hand")
        )
        logger.info(
            "worker pool stopping on %s: %d workers asked to stop, %s",
            signal.Signals(signum).name if signum else "request",
            len(self.worker_dict),
            how,
            extra={"pool": self.name},
        )
        super().request_stop(signum, frame)

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"):
        """RQ's worker process (``run_worker``), started through ``_worker_main``."""
        return ForkProcess(
            target=_worker_main,
            args=(name, self._queue_names, self._connection_class, self._pool_class, self._pool_kwargs),
            kwargs={
                "_sleep": _sleep,
                "burst": burst,
                "logging_level": logging_level,
                "worker_class": self.worker_class,
                "job_class": self.job_class,
                "queue_class": self.queue_class,
                "serializer": self.serializer,
                "exception_handlers": self.exception_handlers,
            },
            name=f"Worker {name} (WorkerPool {self.name})",
        )

    def start_worker(self, *args, **kwargs) -> None:
        # A respawn after a worker died, as well as the first round: nothing of this process's
        # may be shared with the child (the parent opens none, but settings may run code).
        db.connections.close_all()
        before = set(self.worker_dict)
        with stop_signals_held():
            super().start_worker(*args, **kwargs)
        for name in set(self.worker_dict) - before:
            self._born[name] = time.monotonic()

    def check_workers(self, respawn: bool = True) -> None:
        self._unregister_dead()
        # Replacements wait out the pause after workers that died young.
        super().check_workers(respawn=respawn and time.monotonic() >= self._respawn_at)

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        super().handle_dead_worker(worker_data)
        lived = time.monotonic() - self._born.pop(worker_data.name, time.monotonic())
        self._unregistered.add(worker_data.name)
        if self.status == self.Status.STOPPED:
            return
        if lived < QUICK_DEATH:
            self._respawn_wait = min(max(self._respawn_wait * 2, 1.0), MAX_RESPAWN_WAIT)
        else:
            self._respawn_wait = 0.0
        self._respawn_at = time.monotonic() + self._respawn_wait
        logger.warning(
            "worker %s (pid %d) %s after %.1f s; another starts %s",
            worker_data.name,
            worker_data.pid,
            _exit_text(worker_data.process.exitcode),
            lived,
            f"in {self._respawn_wait:.0f} s" if self._respawn_wait else "now",
            extra={"worker": worker_data.name, "exitcode": worker_data.process.exitcode, "lived_s": round(lived, 1)},
        )

    def _unregister_dead(self) -> None:
        """Remove from RQ's registry the workers that died without saying so (killed, or Redis
        unreachable as they ended); kept for later while Redis cannot be reached."""
        prefix = rq.Worker.redis_worker_namespace_prefix
        for name in sorted(self._unregistered):
            try:
                # The worker, and its job threads' workers (planrrr.threaded: "<name>.<n>").
                threads = [key for key in rq.Worker.all_keys(self.connection) if key.startswith(f"{prefix}{name}.")]
                keys = [f"{prefix}{name}", *threads]
                for key in keys:
                    found = rq.Worker.find_by_key(key, self.connection)
                    if found is not None:
                        found.register_death()
            except REDIS_ERRORS as error:
                outages.redis().failed(error)
                return
            self._unregistered.discard(name)
            outages.redis().ok()


def _worker_main(*args, **kwargs) -> None:
    """A worker process, from the fork (the stop signals held since before it): a stop asked
    from now on is noted for the worker (``planrrr.rq.note_stop``); an error that ends the
    process is logged, not printed by multiprocessing in plain text."""
    if issubclass(kwargs.get("worker_class") or rq.Worker, SweepingWorker):
        planrrr_rq._stop_asked = False
        planrrr_rq.pool_pid = os.getppid()
        signal.signal(signal.SIGINT, note_stop)
        signal.signal(signal.SIGTERM, note_stop)
    else:
        # Another worker class: Python's own handlers until it installs RQ's.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        rq.worker_pool.run_worker(*args, **kwargs)
    except Exception:
        logger.exception("worker process %d ended on an error", os.getpid())
        sys.exit(1)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
