"""RQ's scheduler process (``--with-scheduler``: it moves the jobs due by ``enqueue_at`` to their
queue), as planrrr's workers start it: one per fleet (RQ's scheduler lock), never started once
its worker has been asked to stop, outliving Redis, and ending with its worker.

RQ's own (``rq.scheduler.RQScheduler.start`` and ``work``) ends at the first Redis error (every
retry and rate-limit wait then waits for a worker to start another), and a SIGTERM that arrives
between the fork and its handlers runs the worker's handlers in it, so it carries on and its
worker waits on it for ever. ``planrrr.rq`` starts this one, restarts it when it dies and stops
it within ``scheduler_stop_timeout``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rq.scheduler import RQScheduler
from rq.worker_pool import ForkProcess

from planrrr import outages
from planrrr.outages import REDIS_ERRORS

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block: a stop request is handled before it (and
    the block sees it) or after it (and finds what the block started), never half-way."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def pause(seconds: float, *, until: Callable[[], bool]) -> None:
    """Sleep ``seconds``, or less if ``until()`` becomes true (a stop request) meanwhile."""
    end = time.monotonic() + seconds
    while not until():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


class Scheduler(RQScheduler):
    """RQ's scheduler, whose process is never started once its worker has been asked to stop,
    and which outlives Redis: it says so once, waits with backoff and carries on, its locks kept
    (they outlive a minute without Redis)."""

    def stopping(self) -> bool:
        return False

    def start(self):
        # Held from the check to the fork; the new process inherits them held until it has its
        # own handlers: before, a SIGTERM would run the worker's handlers (copied with it) and
        # the scheduler would carry on, its worker waiting on it.
        with stop_signals_held():
            if self.stopping():
                return None
            self._status = self.Status.STARTED
            self._parent = os.getpid()
            # A Redis connection cannot cross the fork: the child makes its own (RQ's start).
            self._connection = None
            self._process = ForkProcess(target=_scheduler_main, args=(self,), name="Scheduler")
            self._process.start()
            return self._process

    def work(self) -> None:
        """RQ's loop (register, keep the locks, enqueue what is due, every ``interval``), each
        turn tried again after a Redis error instead of ending the process."""
        # RQ's handlers (request_stop: a flag this loop reads), then the stop signals, held
        # since before the fork, let through.
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        registered = False
        wait = 0.0
        while not self._stop_requested:
            if os.getppid() != self._parent:
                # Its worker died without stopping it (SIGKILL): it would hold the scheduler lock,
                # and outlive Redis outages, for ever; the worker that replaces it starts its own.
                self.log.warning("Scheduler %s: its worker (pid %s) is gone; stopping", os.getpid(), self._parent)
                break
            began = time.monotonic()
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except REDIS_ERRORS as error:
                outages.redis().failed(error, began=began)
                wait = outages.backoff(wait)
                pause(wait, until=lambda: self._stop_requested)
                continue
            outages.redis().ok(began)
            wait = 0.0
            pause(self.interval, until=lambda: self._stop_requested)
        outages.redis_call(self.stop)


def _scheduler_main(scheduler: Scheduler) -> None:
    """The scheduler process (RQ's ``run``): an error that ends it is logged, not printed by
    multiprocessing in plain text."""
    scheduler.log.info("Scheduler for %s started with PID %s", ", ".join(scheduler._queue_names), os.getpid())
    try:
        scheduler.work()
    except Exception:
        scheduler.log.exception("Scheduler process %s ended on an error", os.getpid())
        sys.exit(1)
    scheduler.log.info("Scheduler with PID %d has stopped", os.getpid())
