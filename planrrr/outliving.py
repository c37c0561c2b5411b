"""A worker that outlives Redis and PostgreSQL: the part of ``planrrr.rq``'s workers that keeps
RQ's loop going through an outage (a restart, a failover, a network cut).

RQ retries a failed dequeue (logging every try, sleeping up to a minute) but quits on a Redis
error anywhere else: its start, its state, maintenance, the suspension check, the heartbeat, a
job's bookkeeping, its end. Here every step waits, with backoff, and is tried again; the outage is
logged once when it starts and once when it ends (``planrrr.outages``); a worker whose
registration Redis lost registers again. While the process knows PostgreSQL unreachable, the
worker takes no job and asks PostgreSQL, with backoff, until it answers (an attempt in hand holds
its outcome and writes it when PostgreSQL is back: publishing.services.outcome.settle); a job
failing because either server is unreachable is part of the outage's two lines, not a traceback
of its own (docs/operations.md, "Outages").

Each method here overrides RQ's of the same name to wrap it, and calls it: none is rewritten.
"""

from __future__ import annotations

import functools
import time

from django import db
from rq.exceptions import DequeueTimeout
from rq.job_lifecycle import call_exception_handlers

from planrrr import outages
from planrrr.outages import REDIS_ERRORS
from planrrr.scheduler import pause

# How often a worker checks that Redis still has its registration.
REGISTRATION_CHECK_INTERVAL = 10.0


class OutlivingDequeue:
    """A queue class whose ``dequeue_any`` takes Redis unreachable for a wait that found no job:
    RQ retries a failed dequeue itself, but logs an error at every try (every second, then up to
    every minute) and sleeps up to a minute, long after Redis is back. The worker's next
    heartbeat waits, with backoff, and the outage is logged once (``planrrr.outages``)."""

    @classmethod
    def dequeue_any(cls, *args, **kwargs):
        began = time.monotonic()
        try:
            return super().dequeue_any(*args, **kwargs)
        except REDIS_ERRORS as error:
            outages.redis().failed(error, began=began)
            raise DequeueTimeout(0) from None


@functools.cache
def outliving_queue_class(queue_class: type) -> type:
    if issubclass(queue_class, OutlivingDequeue):
        return queue_class
    return type(queue_class.__name__, (OutlivingDequeue, queue_class), {"__module__": __name__})


class OutlivingWorker:
    """Mixed into an RQ worker class: every step of RQ's loop outlives Redis and PostgreSQL."""

    _redis_wait = 0.0
    # Longest pause between two tries while Redis cannot be reached.
    max_redis_wait = outages.MAX_WAIT
    _birth_tried = False
    _registration_checked = 0.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.queue_class = outliving_queue_class(self.queue_class)

    # --- start and end: registered once Redis answers, unregistered if it does ---------------

    def bootstrap(self, *args, **kwargs) -> None:
        """RQ's start (register, subscribe to commands, set the state), tried again until Redis
        answers or a stop is requested: a worker started, or restarted, while Redis is down waits
        for it instead of ending."""
        while True:
            try:
                super().bootstrap(*args, **kwargs)
                # Read once here; RQ reads it after every dequeue, a Redis error away from
                # losing the job it just popped.
                self.get_redis_server_version()
            except REDIS_ERRORS as error:
                if self._stop_requested:
                    return
                self._redis_pause(error)
                continue
            self._redis_recovered()
            return

    def register_birth(self) -> None:
        if self._birth_tried:
            # The registration of an earlier try may have been written before its answer was
            # lost: this worker's name is its own (a uuid), the key is this worker's.
            self.connection.delete(self.key)
        self._birth_tried = True
        super().register_birth()

    def subscribe(self) -> None:
        if getattr(self, "pubsub_thread", None) is None:
            super().subscribe()

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread) -> None:
        """The command channel's thread: Redis unreachable is the process's outage (RQ logs an
        error every 2 s per worker); redis-py subscribes again once it reconnects."""
        if not isinstance(exc, REDIS_ERRORS):
            super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)
            return
        outages.redis().failed(exc)
        time.sleep(2.0)

    def register_death(self) -> None:
        # Without Redis the registration expires on its own; a pool prunes it as soon as it can.
        outages.redis_call(super().register_death)

    def unsubscribe(self) -> None:
        outages.redis_call(super().unsubscribe)

    def set_state(self, state: str, pipeline=None) -> None:
        # The state shown in RQ's registry; a pipeline's commands go with the step that sends it.
        if pipeline is not None:
            super().set_state(state, pipeline=pipeline)
            return
        self._state = state
        outages.redis_call(lambda: super(OutlivingWorker, self).set_state(state))

    def set_shutdown_requested_date(self) -> None:
        outages.redis_call(super().set_shutdown_requested_date)

    # --- the loop: every step outlives Redis ---------------------------------------------------

    def _outliving_redis(self, step: str, call, *args):
        """Run one step of RQ's loop; if Redis cannot be reached, note it, wait, and return None.

        The step is retried by the loop itself (maintenance stays due, the next job is
        dequeued again). Work in hand is not lost: a job popped but not started, or finished
        but not recorded, is found by the sweep (``lost_jobs_requeue``) from PostgreSQL, and a
        publication's lease keeps it from being published twice.
        """
        began = time.monotonic()
        try:
            result = call(*args)
        except REDIS_ERRORS as error:
            self._horse_reap()
            self._redis_pause(error, began)
            return None
        self._redis_recovered(began)
        return result

    def _redis_pause(self, error: BaseException, began: float | None = None) -> None:
        """Redis failed: the outage noted (logged when it starts, not at every try; a step that
        began before the last outage ended is part of that one), then a pause that doubles at
        every failure up to ``planrrr.outages.MAX_WAIT``, cut short by a stop."""
        self._redis_wait = min(outages.backoff(self._redis_wait), self.max_redis_wait)
        outages.redis().failed(error, began=began)
        pause(self._redis_wait, until=lambda: self._stop_requested)

    def _redis_recovered(self, began: float | None = None) -> None:
        if self._redis_wait:
            # Back after an outage: Redis may have come back without its data.
            self._registration_checked = 0.0
        self._redis_wait = 0.0
        # A step that began before another thread saw Redis go (a job in hand while the
        # heartbeat failed) does not end the outage.
        outages.redis().ok(began)

    def _horse_reap(self) -> None:
        """After a Redis error in a job's bookkeeping: nothing to do without a work-horse."""

    def check_for_suspension(self, burst: bool) -> None:
        self._outliving_redis("the suspension check", super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._outliving_redis("maintenance", super().run_maintenance_tasks)

    def execute_job(self, job, queue) -> None:
        self._outliving_redis(f"job {job.id}", super().execute_job, job, queue)

    def handle_exception(self, job, *exc_info) -> None:
        """A job that failed because PostgreSQL or Redis could not be reached is part of the
        outage, logged once, not a traceback per job (RQ's failed registry keeps each one)."""
        outage = outages.unreachable(exc_info[1]) if exc_info[1] is not None else None
        if outage is None:
            super().handle_exception(job, *exc_info)
            return
        outage.failed(exc_info[1])
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat, outliving Redis, and every ``REGISTRATION_CHECK_INTERVAL`` the worker's
        registration made again if Redis lost it."""
        # Inside a pipeline nothing is sent yet: the step that sends it outlives Redis.
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        self._outliving_redis("the heartbeat", super().heartbeat, timeout)
        now = time.monotonic()
        if now - self._registration_checked >= REGISTRATION_CHECK_INTERVAL:
            self._registration_checked = now
            self._outliving_redis("the registration", self._register_again_if_lost)

    def _register_again_if_lost(self) -> None:
        """Register again if Redis lost this worker's registration (restarted without its data, or
        flushed): RQ's heartbeat only refreshes the key, and RQ's registry, /metrics and the
        pool would count this worker out for as long as it runs."""
        if not self._birth_tried or self.connection.sismember(self.redis_workers_keys, self.key):
            return
        self.log.debug("Worker %s: registered again (Redis had lost its registration)", self.name)
        self.register_birth()
        self.set_state(self._state)

    def _database_wait(self) -> None:
        """While this process knows PostgreSQL to be unreachable, take no job (each would fail at
        its first query): ask PostgreSQL, with backoff, until it answers; Redis is still told
        this worker is alive. The jobs wait in their queue."""
        outage = outages.database()
        wait = 0.0
        while outage.ongoing and not self._stop_requested:
            try:
                db.close_old_connections()
                with db.connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except outages.DATABASE_ERRORS as error:
                db.connections.close_all()
                outage.failed(error)
                wait = outages.backoff(wait)
                pause(wait, until=lambda: self._stop_requested)
                self._outliving_redis("the heartbeat", super().heartbeat)
                continue
            outage.ok()
