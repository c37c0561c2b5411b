"""RQ wiring: the worker classes ``manage.py rqworker`` runs (``RQ["WORKER_CLASS"]``,
``RQ_WORKER_CLASS``).

``InProcessWorker`` (the default) is RQ's SimpleWorker: each job in the worker process, its
connections kept. ``Worker`` is RQ's forking worker: each job in a work-horse process. Both
have these additions:

* a Redis outage (a restart, a failover) does not end the worker: RQ retries a failed
  dequeue but quits on a Redis error anywhere else in its loop (maintenance, suspension
  check, heartbeat, job bookkeeping); this worker logs it, waits, and carries on, and
  restarts its scheduler process (which dies with the connection) as soon as Redis is back;
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

import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module

import redis
import rq
import rq.worker_pool
from django import db
from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.utils import now

from planrrr.logs import Outage

logger = logging.getLogger("planrrr.sweep")

PERIODIC_LOCK_PREFIX = "planrrr:periodic:"

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

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
    """RQ's scheduler, whose process is never started once its worker has been asked to stop."""

    def stopping(self) -> bool:
        return False

    def start(self):
        # Held from the check to the fork; the new process inherits them held until it has its
        # own handlers: before, a SIGTERM would run the worker's handlers (copied with it) and
        # the scheduler would carry on, its worker waiting on it.
        with stop_signals_held():
            if self.stopping():
                return None
            return super().start()

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


# PostgreSQL unreachable (down, restarting, refusing connections), as opposed to a query it refused.
DATABASE_ERRORS = (db.OperationalError, db.InterfaceError)


class Outages:
    """What fails at every loop of a worker, logged when it starts and when it ends (with its
    duration), not at every loop: PostgreSQL unreachable, Redis unreachable, or one periodic task
    failing for another reason (its traceback, once)."""

    def __init__(self) -> None:
        self.database = Outage("PostgreSQL", logger)
        self.redis = Outage("Redis", logger)
        self.tasks: dict[str, Outage] = {}

    def failed(self, path: str, error: BaseException) -> None:
        if isinstance(error, DATABASE_ERRORS):
            self.database.failed(error)
        elif isinstance(error, REDIS_ERRORS):
            self.redis.failed(error)
        else:
            self.tasks.setdefault(path, Outage(path, logger)).failed(error, traceback=True)

    def ran(self, path: str) -> None:
        """The task at ``path`` ran to its end: the database answered, and so did the task."""
        self.database.ok()
        if path in self.tasks:
            self.tasks[path].ok()


def run_periodic(connection, path: str, interval: float, outages: Outages | None = None) -> bool:
    """Run the task at ``path`` unless another worker did within ``interval``. True if run."""
    if not connection.set(f"{PERIODIC_LOCK_PREFIX}{path}", "1", nx=True, px=max(int(interval * 1000), 50)):
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
    return True


class SweepingWorker:
    """What every planrrr worker adds to RQ's: the sweeps, the preloading, and outliving Redis."""

    _redis_wait = 0.0
    # Longest pause between two tries while Redis cannot be reached.
    max_redis_wait = 5.0
    # How long the scheduler process has to end after SIGTERM before it is killed. It ends
    # within its interval (1 s) unless Redis is slow or it missed the signal.
    scheduler_stop_timeout = 5.0
    # From the dequeue of a job to the end of its execution: a stop request waits for it.
    _job_in_hand = False
    _cold_stop = False

    def __init__(self, *args, **kwargs) -> None:
        # RQ re-acquires the scheduler lock of a dead worker (TTL 61 s) only during
        # maintenance, every 10 minutes by default: every minute instead.
        kwargs.setdefault("maintenance_interval", 60)
        super().__init__(*args, **kwargs)
        self._last_run: dict[str, float] = {}
        self._outages = Outages()

    def work(self, *args, **kwargs) -> bool:
        preload()
        # RQ sets its loggers' level at start (django-rq's rqworker: INFO); RQ_LOG_LEVEL wins.
        kwargs["logging_level"] = settings.RQ_LOG_LEVEL
        return super().work(*args, **kwargs)

    def _start_scheduler(self, *args, **kwargs) -> None:
        super()._start_scheduler(*args, **kwargs)
        if self.scheduler is not None:
            # RQ builds a plain RQScheduler (and may have started its process: no stop can have
            # been requested yet, RQ installs its signal handlers after this); every later start,
            # RQ's at maintenance or ours, goes through Scheduler.start.
            self.scheduler.__class__ = Scheduler
            self.scheduler.stopping = lambda: self._stop_requested

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
        process = self.scheduler and self.scheduler._process
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
            self._outliving_redis("the scheduler's locks", self.scheduler.release_locks)

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
        """Run one step of RQ's loop; if Redis cannot be reached, log, wait, and return None.

        The step is retried by the loop itself (maintenance stays due, the next job is
        dequeued again). Work in hand is not lost: a job popped but not started, or finished
        but not recorded, is found by the sweep (``lost_jobs_requeue``) from PostgreSQL, and a
        publication's lease keeps it from being published twice.
        """
        try:
            result = call(*args)
        except REDIS_ERRORS as error:
            self._redis_wait = min(max(self._redis_wait * 2, 0.5), self.max_redis_wait)
            # Once when it starts (the step it broke), once when it ends: not at every try.
            self._outages.redis.failed(error)
            self._horse_reap()
            time.sleep(self._redis_wait)
            return None
        self._redis_wait = 0.0
        self._outages.redis.ok()
        return result

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

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        # Inside a pipeline nothing is sent yet (and a job is running: not a moment to do
        # database work).
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        self._outliving_redis("the heartbeat", super().heartbeat, timeout)
        if not self._stop_requested:
            self._periodic_run()
        now = time.monotonic()
        if not self._stop_requested and now - self._last_run.get("scheduler", 0.0) >= 1.0:
            self._last_run["scheduler"] = now
            self._scheduler_restart()
        if self._stop_requested and not self._job_in_hand:
            # Between jobs: RQ's loop ends on this, wherever it waits.
            raise StopRequested()

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
        """Start the scheduler process again if it died, once its lock can be had.

        RQ's scheduler process exits on the first Redis error, and RQ checks for that only at
        maintenance (every minute here): jobs due by ``enqueue_at`` (retries, rate-limit
        waits) would wait that long after a Redis restart. Checked every second instead.
        """
        scheduler = getattr(self, "scheduler", None)
        process = scheduler and scheduler._process
        if process is None or process.is_alive() or self._stop_requested:
            return
        try:
            scheduler.acquire_locks(auto_start=True)
        except REDIS_ERRORS as error:
            self.log.warning("Worker %s: scheduler not restarted yet: %s", self.name, error)


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


class WorkerPool(rq.worker_pool.WorkerPool):
    """RQ's worker pool (``manage.py planrrr_workers --num-workers N``) whose parent loads, once,
    what every worker needs, then forks the workers from it.

    Each worker is a full RQ worker (the settings' ``RQ["WORKER_CLASS"]``, InProcessWorker by
    default: one job at a time, its connections kept); a job waiting on a platform holds only
    its worker. Forked from a parent that has imported Django, the jobs' modules and the
    adapters, built the models' relation trees and frozen it all out of the garbage collector's
    reach (``preload``), the workers share those pages with it and with each other instead of
    each loading its own copy: what a worker adds is the memory it writes to. Database
    connections are closed before every fork (a socket shared by two processes is corrupted by
    both); each worker opens its own and keeps it.

    Every worker runs ``with_scheduler`` (RQ's ``run_worker``): RQ's scheduler lock lets one of
    them run the scheduler process, and another take over at maintenance when it dies. The
    periodic dispatch and sweeps run under Redis locks, one worker at a time.
    """

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        preload()
        db.connections.close_all()
        super().start(burst=burst, logging_level=logging_level)

    def start_worker(self, *args, **kwargs) -> None:
        # A respawn after a worker died, as well as the first round: nothing of this process's
        # may be shared with the child (the parent opens none, but settings may run code).
        db.connections.close_all()
        super().start_worker(*args, **kwargs)
