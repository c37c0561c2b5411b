"""RQ wiring: the worker classes ``manage.py rqworker`` runs (``RQ["WORKER_CLASS"]``,
``RQ_WORKER_CLASS``).

``InProcessWorker`` (the default) is RQ's SimpleWorker: each job in the worker process, its
connections kept. ``Worker`` is RQ's forking worker: each job in a work-horse process. Both
have these additions:

* a Redis outage (a restart, a failover) does not end the worker: RQ retries a failed
  dequeue (logging every try) but quits on a Redis error anywhere else (its start, its state,
  maintenance, the suspension check, the heartbeat, a job's bookkeeping, its end), and its
  scheduler process ends at the first one; here every step waits, with backoff, and is tried
  again, the scheduler process too, and the outage is logged once when it starts and once
  when it ends (``planrrr.outages``); a worker whose registration Redis lost registers again;
* a PostgreSQL outage neither: while the process knows PostgreSQL unreachable, the worker
  takes no job and asks PostgreSQL, with backoff, until it answers (an attempt in hand holds
  its outcome and writes it when PostgreSQL is back: publishing.services.attempts.settle);
  a job failing because either server is unreachable is part of the outage's two lines, not a
  traceback of its own (docs/operations.md, "Outages");
* the periodic work of ``PLANRRR_PERIODIC`` (the dispatch of due posts every
  ``DISPATCH_INTERVAL_SECONDS``, the sweeps every ``SWEEP_INTERVAL_SECONDS``) runs in the
  worker's main process, between jobs and while waiting for one, by one worker of the fleet
  at a time (a Redis lock per task): a post written straight into the database, or work
  lost with Redis, is found without any other process, and without a fork;
* a stop request (SIGTERM, SIGINT) is only noted by the signal handler: the job in hand is
  finished (its job timeout bounds that; a second signal abandons it), no new work and no
  new process (scheduler, sweep) is started after it, and the scheduler process is stopped
  within ``scheduler_stop_timeout``;
* (forking) database connections are closed before each fork, so a work-horse never
  shares the parent's PostgreSQL socket;
* what every job needs is loaded once in the main process, before the first fork, and the
  loaded objects are frozen out of the garbage collector's reach (``preload``), so that no
  work-horse imports a module or builds a cache its parent could have, and no garbage
  collection in a work-horse writes to every page it shares with its parent.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import import_module

import rq
from django import db
from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string
from rq.exceptions import DequeueTimeout, StopRequested
from rq.job_lifecycle import call_exception_handlers
from rq.scheduler import RQScheduler
from rq.utils import now
from rq.worker_pool import ForkProcess

from planrrr import outages
from planrrr.outages import REDIS_ERRORS
from planrrr.periodic import Outages, run_periodic

# Modules the jobs import, directly or lazily inside functions, that Django's start-up does
# not load: without this, every work-horse would import them again (PLANRRR_WORKER_PRELOAD
# replaces the list).
PRELOAD = (
    "publishing.jobs",
    "webhooks.jobs",
    "connections.platforms",
    "webhooks.services",
    "planrrr.urlsafety",
    # requests imports these on every request that has no explicit auth (get_netrc_auth).
    "netrc",
    "shlex",
)


def preload() -> None:
    """Load and build, in the worker's main process, what the work-horses would otherwise each
    load and build again, then freeze it.

    A forked work-horse shares its parent's memory until it writes to it. A module imported in
    the horse costs its import every job; a full garbage collection in the horse (which an
    import's allocations readily trigger) writes to the header of every object the parent
    holds, copying every page: ~70 ms of page faults per job here. ``gc.freeze()`` moves the
    parent's objects out of the collector's sight (CPython's advice for fork without exec).
    """
    for path in getattr(settings, "PLANRRR_WORKER_PRELOAD", PRELOAD):
        import_module(path)
    # Django builds each model's relation tree on first use, in whichever process uses it.
    for model in apps.get_models():
        model._meta.get_fields()
    # The cipher of the access tokens: OpenSSL's objects are set up on first use.
    from planrrr.crypto import decrypt, encrypt

    decrypt(encrypt("warm-up"))
    # What the apps ask to have done once here (PLANRRR_WORKER_WARM_UP: the core names no app),
    # such as reading the proxy variables of the platforms' APIs.
    for path in getattr(settings, "PLANRRR_WORKER_WARM_UP", ()):
        import_string(path)()
    warm_up()
    freeze()


def warm_up() -> None:
    """Do once here what the first query, the first list parameter and the first Redis
    connection of every work-horse would otherwise do again: Django compiles its ORDER BY
    and alias patterns on first use, psycopg its array-quoting pattern, and redis-py reads its
    own version from the installed package metadata (a walk of sys.path, in every new
    connection: ~3 ms a job)."""
    import functools

    import psycopg.sql
    import redis.utils

    # Any model with relations compiles the same patterns; the core names no app's model.
    for model in apps.get_models():
        relations = [f.name for f in model._meta.concrete_fields if f.many_to_one]
        if relations:
            str(model._base_manager.select_related(*relations).filter(pk=0).order_by("pk").query)
            break
    psycopg.sql.Literal(["warm", "up"]).as_string()
    if not hasattr(redis.utils.get_lib_version, "cache_info"):
        # It cannot change while the process runs.
        redis.utils.get_lib_version = functools.cache(redis.utils.get_lib_version)
    redis.utils.get_lib_version()


def freeze() -> None:
    """Collect the garbage there is, then move every object left to the permanent generation."""
    gc.collect()
    gc.freeze()


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


class Scheduler(RQScheduler):
    """RQ's scheduler, whose process is never started once its worker has been asked to stop,
    and which outlives Redis: RQ's process ends at the first Redis error (every job due by
    ``enqueue_at`` then waits for a worker to start another); this one says so once, waits with
    backoff and carries on, its locks kept (they outlive a minute without Redis)."""

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

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def work(self) -> None:
        """RQ's loop (register, keep the locks, enqueue what is due, every ``interval``), each
        turn tried again after a Redis error instead of ending the process."""
        self._install_signal_handlers()
        registered = False
        wait = 0.0
        while not self._stop_requested:
            if os.getppid() != self._parent:
                # Its worker died without stopping it (SIGKILL): it would hold the scheduler lock,
                # and outlive Redis outages, for ever; the worker that replaces it starts its own.
                self.log.warning("Scheduler %s: its worker (pid %s) is gone; stopping", os.getpid(), self._parent)
                break
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except REDIS_ERRORS as error:
                outages.redis().failed(error)
                wait = outages.backoff(wait)
                _sleep(wait, until=lambda: self._stop_requested)
                continue
            outages.redis().ok()
            wait = 0.0
            _sleep(self.interval, until=lambda: self._stop_requested)
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


def _sleep(seconds: float, *, until) -> None:
    """Sleep ``seconds``, or less if ``until()`` becomes true (a stop request) meanwhile."""
    end = time.monotonic() + seconds
    while not until():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


# How long a registered worker may go without a heartbeat and still count as alive: an idle
# planrrr worker beats at every turn of its loop (well under a second), a busy one before its
# job, which its timeout bounds.
IDLE_HEARTBEAT_LIMIT = 60.0


def workers_alive(connection) -> list[rq.Worker]:
    """The workers RQ has registered that are alive: their last heartbeat recent enough for
    their state. A worker that died without unregistering (killed with its pool, or ended while
    Redis was unreachable) stays registered until its key expires; it is left out at once."""
    now = datetime.now(UTC)
    busy_limit = settings.PUBLISH_JOB_TIMEOUT + IDLE_HEARTBEAT_LIMIT
    alive = []
    for worker in rq.Worker.all(connection=connection):
        beat = worker.last_heartbeat or worker.birth_date
        limit = busy_limit if worker.get_state() == "busy" else IDLE_HEARTBEAT_LIMIT
        if beat is not None and (now - _aware(beat)).total_seconds() <= limit:
            alive.append(worker)
    return alive


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OutlivingDequeue:
    """A queue class whose ``dequeue_any`` takes Redis unreachable for a wait that found no job:
    RQ retries a failed dequeue itself, but logs an error at every try (every second, then up to
    every minute) and sleeps up to a minute, long after Redis is back. The worker's next
    heartbeat waits, with backoff, and the outage is logged once (``planrrr.outages``)."""

    @classmethod
    def dequeue_any(cls, *args, **kwargs):
        try:
            return super().dequeue_any(*args, **kwargs)
        except REDIS_ERRORS as error:
            outages.redis().failed(error)
            raise DequeueTimeout(0) from None


@functools.cache
def outliving_queue_class(queue_class: type) -> type:
    if issubclass(queue_class, OutlivingDequeue):
        return queue_class
    return type(queue_class.__name__, (OutlivingDequeue, queue_class), {"__module__": __name__})


# How often a worker checks that Redis still has its registration.
REGISTRATION_CHECK_INTERVAL = 10.0

# A stop asked of a pool's worker process before its worker object exists (see
# planrrr.pool._worker_main, which installs this handler first thing after the fork).
_stop_asked = False
# In a pool's worker process, the pool's pid: a worker whose pool is gone stops.
pool_pid: int | None = None


def note_stop(signum, frame) -> None:
    global _stop_asked
    _stop_asked = True


class SweepingWorker:
    """What every planrrr worker adds to RQ's: the sweeps, the preloading, and outliving Redis
    and PostgreSQL."""

    _redis_wait = 0.0
    # Longest pause between two tries while Redis cannot be reached.
    max_redis_wait = outages.MAX_WAIT
    # How long the scheduler process has to end after SIGTERM before it is killed. It ends
    # within its interval (1 s) unless Redis is slow or it missed the signal.
    scheduler_stop_timeout = 5.0
    # From the dequeue of a job to the end of its execution: a stop request waits for it.
    _job_in_hand = False
    _cold_stop = False
    _birth_tried = False

    def __init__(self, *args, **kwargs) -> None:
        # RQ re-acquires the scheduler lock of a dead worker (TTL 61 s) only during
        # maintenance, every 10 minutes by default: every minute instead.
        kwargs.setdefault("maintenance_interval", 60)
        super().__init__(*args, **kwargs)
        self.queue_class = outliving_queue_class(self.queue_class)
        self._last_run: dict[str, float] = {}
        self._outages = Outages()

    def work(self, *args, **kwargs) -> bool:
        # A stop request from now on is only noted (RQ installs its handlers after it has
        # registered, started its scheduler and, for a pool's worker, long after the fork).
        self._install_signal_handlers()
        if _stop_asked:
            self.request_stop(signal.SIGTERM, None)
        preload()
        # RQ sets its loggers' level at start (django-rq's rqworker: INFO); RQ_LOG_LEVEL wins.
        kwargs["logging_level"] = settings.RQ_LOG_LEVEL
        return super().work(*args, **kwargs)

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
        outages.redis_call(lambda: super(SweepingWorker, self).set_state(state))

    def set_shutdown_requested_date(self) -> None:
        outages.redis_call(super().set_shutdown_requested_date)

    def _install_signal_handlers(self) -> None:
        # RQ installs its handlers after the start; a stop asked before keeps the handlers it
        # set (a second signal is a cold stop).
        if not self._stop_requested:
            super()._install_signal_handlers()

    def _start_scheduler(self, burst: bool = False, logging_level=None, *args, **kwargs) -> None:
        """RQ's, with planrrr's Scheduler from the start (RQ builds its own, and starts it), and
        no start at all while Redis cannot be reached: the heartbeat tries again every second."""
        if self._stop_requested:
            return
        self.scheduler = Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.stopping = lambda: self._stop_requested
        self._scheduler_pending = True
        if burst:
            # A burst worker enqueues what is due once, in this process (RQ's way).
            super()._start_scheduler(burst, logging_level, *args, **kwargs)
            self._scheduler_pending = False
            return
        self._scheduler_acquire()

    def _scheduler_acquire(self) -> None:
        try:
            self.scheduler.acquire_locks(auto_start=True)
        except REDIS_ERRORS as error:
            outages.redis().failed(error)
            return
        self._scheduler_pending = False

    def request_stop(self, signum, frame) -> None:
        """Warm shutdown: finish the job in hand, start nothing new, then exit.

        RQ's handler raises StopRequested when no job runs, from wherever the main process is:
        in the middle of a sweep (whose ``except Exception`` takes it for a failure and carries
        on: the worker never stops) or just after a job was dequeued (left in RQ's intermediate
        queue). This one only notes the request and asks the scheduler process to end; the
        loop stops at its next heartbeat without a job in hand, at most ``dequeue_timeout``
        away, or after the job, which its job timeout bounds.
        """
        self._shutdown_requested_date = now()
        signal.signal(signal.SIGINT, self.request_force_stop)
        signal.signal(signal.SIGTERM, self.request_force_stop)
        self._stop_requested = True
        self.handle_warm_shutdown_request()
        scheduler = getattr(self, "scheduler", None)
        process = scheduler and scheduler._process
        # is_alive() reaps a dead process: a live one's pid cannot have been reused.
        if process is not None and process.is_alive():
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                pass

    def request_force_stop(self, signum, frame) -> None:
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            self._cold_stop = True
            raise

    def stop_scheduler(self) -> None:
        """Stop the scheduler process: SIGTERM, then SIGKILL after ``scheduler_stop_timeout``.

        RQ's waits on it for ever, and a process that missed the signal never ends."""
        process = self.scheduler._process
        if process is None or process.pid is None:
            return
        if process.is_alive():
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                pass
        process.join(self.scheduler_stop_timeout)
        if process.is_alive():
            self.log.warning(
                "Worker %s: scheduler process %s still running %.0fs after SIGTERM; killing it",
                self.name,
                process.pid,
                self.scheduler_stop_timeout,
            )
            process.kill()
            process.join(1)
            # A killed scheduler cannot release its locks; another worker's would wait for
            # them to expire (61 s).
            outages.redis_call(self.scheduler.release_locks)

    # --- the loop: every step outlives Redis ---------------------------------------------------

    def reorder_queues(self, reference_queue) -> None:
        # RQ calls this as soon as it has dequeued a job, and only then.
        self._job_in_hand = True
        super().reorder_queues(reference_queue)

    @property
    def dequeue_timeout(self) -> float:
        # Wake up at least once per periodic interval even when no job arrives (Redis 6's
        # BLPOP takes fractions of a second).
        return max(0.05, min(settings.PLANRRR_PERIODIC.values(), default=1.0))

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
            self._redis_pause(error)
            return None
        self._redis_recovered(began)
        return result

    def _redis_pause(self, error: BaseException) -> None:
        """Redis failed: the outage noted (logged when it starts, not at every try), then a pause
        that doubles at every failure up to ``planrrr.outages.MAX_WAIT``, cut short by a stop."""
        self._redis_wait = min(outages.backoff(self._redis_wait), self.max_redis_wait)
        outages.redis().failed(error)
        _sleep(self._redis_wait, until=lambda: self._stop_requested)

    def _redis_recovered(self, began: float | None = None) -> None:
        if self._redis_wait:
            # Back after an outage: Redis may have come back without its data.
            self._last_run["registration"] = 0.0
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
        try:
            self._outliving_redis(f"job {job.id}", super().execute_job, job, queue)
        finally:
            self._job_in_hand = False

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
        # Inside a pipeline nothing is sent yet (and a job is running: not a moment to do
        # database work).
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        self._outliving_redis("the heartbeat", super().heartbeat, timeout)
        now = time.monotonic()
        if now - self._last_run.get("registration", 0.0) >= REGISTRATION_CHECK_INTERVAL:
            self._last_run["registration"] = now
            self._outliving_redis("the registration", self._register_again_if_lost)
        if not self._stop_requested:
            self._periodic_run()
        now = time.monotonic()
        if not self._stop_requested and now - self._last_run.get("scheduler", 0.0) >= 1.0:
            self._last_run["scheduler"] = now
            self._scheduler_restart()
        if not self._stop_requested and not self._job_in_hand:
            self._database_wait()
        if pool_pid is not None and os.getppid() != pool_pid and not self._stop_requested:
            # The pool was killed (SIGKILL): nothing would stop this worker, and a new pool would
            # run beside it.
            self.log.warning("Worker %s: its pool (pid %s) is gone; stopping", self.name, pool_pid)
            self.request_stop(signal.SIGTERM, None)
        if self._stop_requested and not self._job_in_hand:
            # Between jobs: RQ's loop ends on this, wherever it waits.
            raise StopRequested()

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
                _sleep(wait, until=lambda: self._stop_requested)
                self._outliving_redis("the heartbeat", super().heartbeat)
                continue
            outage.ok()

    def _periodic_run(self) -> None:
        ran = False
        for path, interval in settings.PLANRRR_PERIODIC.items():
            if self._stop_requested:
                break
            now = time.monotonic()
            if now - self._last_run.get(path, 0.0) < interval:
                continue
            self._last_run[path] = now
            try:
                ran = run_periodic(self.connection, path, interval, self._outages) or ran
            except Exception as error:
                self._outages.failed(path, error)
        if ran:
            # With DEBUG on, Django logs every query until 9,000 are kept: a worker is not a
            # request, nothing resets that log unless we do.
            db.reset_queries()

    def _scheduler_restart(self) -> None:
        """Start the scheduler process again if it died, once its lock can be had; or for the
        first time, if Redis could not be reached when the worker started.

        RQ checks for a dead scheduler only at maintenance (every minute here): jobs due by
        ``enqueue_at`` (retries, rate-limit waits) would wait that long. Checked every second
        instead.
        """
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None or self._stop_requested:
            return
        process = scheduler._process
        if getattr(self, "_scheduler_pending", False) or (process is not None and not process.is_alive()):
            self._scheduler_acquire()


class Worker(SweepingWorker, rq.Worker):
    """RQ's forking worker: each job in a fresh work-horse process."""

    def execute_job(self, job, queue) -> None:
        # A job from a module not preloaded: import it here, once, rather than in every horse.
        # If it cannot be imported, the horse fails the job with the error, as before.
        module = job.func_name.rpartition(".")[0] if isinstance(job.func_name, str) else ""
        if module and module not in sys.modules:
            try:
                import_module(module)
            except Exception:
                logging.getLogger("planrrr.worker").debug("could not preload %s", module, exc_info=True)
            else:
                freeze()
        super().execute_job(job, queue)

    def _horse_reap(self) -> None:
        # Redis failed while the horse ran (RQ's heartbeats while monitoring it): let it finish
        # (its job timeout bounds that) before the next job, so one worker never runs two.
        if self._horse_pid:
            try:
                os.waitpid(self._horse_pid, 0)
            except ChildProcessError:
                pass
            self._horse_pid = 0

    def fork_work_horse(self, job, queue) -> None:
        db.connections.close_all()
        super().fork_work_horse(job, queue)


class InProcessWorker(SweepingWorker, rq.SimpleWorker):
    """Each job in the worker process itself (RQ's SimpleWorker), with the same sweeps.

    A fork per job costs, on this code, about three times the job: the fork, copy-on-write
    faults as the horse touches the parent's objects, a new PostgreSQL connection (a new
    backend process on the server), a new Redis connection, a new HTTP (in production:
    TLS) connection to the platform. In one process they are made once and reused. What is
    given up is the horse's isolation: a job that leaks memory or crashes the interpreter
    does it to the worker (the supervisor restarts it; the lease and the sweep recover its
    publication, as for a killed horse). Job timeouts still apply (SIGALRM in the process).

    The default ``RQ["WORKER_CLASS"]``; ``RQ_WORKER_CLASS=planrrr.rq.Worker`` forks instead.
    """

    def execute_job(self, job, queue) -> None:
        # As Django does around a request: drop connections past CONN_MAX_AGE or broken
        # (CONN_HEALTH_CHECKS), and forget the DEBUG query log, before and after each job.
        db.close_old_connections()
        db.reset_queries()
        try:
            super().execute_job(job, queue)
        finally:
            db.close_old_connections()
        if self._cold_stop:
            # The cold shutdown's SystemExit was raised inside the job, where RQ records it as
            # the job's failure; the worker still has to go.
            raise SystemExit()
