"""RQ wiring: the worker classes ``manage.py rqworker`` runs (``RQ["WORKER_CLASS"]``,
``RQ_WORKER_CLASS``), and each worker of a ``manage.py planrrr_workers`` pool (planrrr.pool).

``InProcessWorker`` is RQ's SimpleWorker: each job in the worker process, its connections kept;
``planrrr.threaded.ThreadedWorker`` (the default) is one with many of them in threads. ``Worker``
is RQ's forking worker: each job in a work-horse process. They add to RQ's, module by module:

* ``planrrr.outliving``: a Redis or PostgreSQL outage does not end the worker; every step of
  RQ's loop waits, with backoff, and the outage is two lines, not a traceback per try;
* ``planrrr.periodic``, run from here: the periodic work of ``PLANRRR_PERIODIC`` (the dispatch
  of due posts every ``DISPATCH_INTERVAL_SECONDS``, the sweeps every ``SWEEP_INTERVAL_SECONDS``)
  runs in the worker's main process, between jobs and while waiting for one, by one worker of
  the fleet at a time (a Redis lock per task): a post written straight into the database, or
  work lost with Redis, is found without any other process, and without a fork;
* ``planrrr.scheduler``: RQ's scheduler process (``enqueue_at``), never started after a stop
  request, outliving Redis, restarted here within a second when it dies;
* here, the stop: a stop request (SIGTERM, SIGINT) is only noted by the signal handler; the job
  in hand is finished (its job timeout bounds that; a second signal abandons it), no new work
  and no new process (scheduler, sweep) is started after it, and the scheduler process is
  stopped within ``scheduler_stop_timeout``;
* ``planrrr.preload``: what every job needs is loaded once in the main process, before the
  first fork, and frozen out of the garbage collector's reach; (forking) database connections
  are closed before each fork, so a work-horse never shares the parent's PostgreSQL socket.

The periodic work is not RQ's ``rq.cron.CronScheduler``: it enqueues a job per run (five a second
for the dispatch, queued behind the publish jobs), runs as a process of its own with no lock (one
per fleet, or each run enqueued once per scheduler), overlaps a run still going, and ends at its
first Redis error. Which of RQ's methods are overridden, and why: docs/architecture.md,
"The workers and RQ".
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from importlib import import_module

import rq
from django import db
from django.conf import settings
from rq.exceptions import StopRequested
from rq.utils import now

from planrrr import outages
from planrrr.outages import REDIS_ERRORS
from planrrr.outliving import OutlivingWorker
from planrrr.periodic import Outages, run_periodic
from planrrr.preload import freeze, preload
from planrrr.scheduler import Scheduler

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


# A stop asked of a pool's worker process before its worker object exists (see
# planrrr.pool._worker_main, which installs this handler first thing after the fork).
_stop_asked = False
# In a pool's worker process, the pool's pid: a worker whose pool is gone stops.
pool_pid: int | None = None


def note_stop(signum, frame) -> None:
    global _stop_asked
    _stop_asked = True


class SweepingWorker(OutlivingWorker):
    """What every planrrr worker adds to RQ's: the periodic work, the preloading, the stop, the
    scheduler process kept running, and (``OutlivingWorker``) outliving Redis and PostgreSQL."""

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
        # A stop request from now on is only noted (RQ installs its handlers after it has
        # registered, started its scheduler and, for a pool's worker, long after the fork).
        self._install_signal_handlers()
        if _stop_asked:
            self.request_stop(signal.SIGTERM, None)
        preload()
        # RQ sets its loggers' level at start (django-rq's rqworker: INFO); RQ_LOG_LEVEL wins.
        kwargs["logging_level"] = settings.RQ_LOG_LEVEL
        return super().work(*args, **kwargs)

    # --- the stop, and the scheduler process it must not outlive ------------------------------

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

    # --- the loop: the job in hand, and between jobs the periodic work ------------------------

    def reorder_queues(self, reference_queue) -> None:
        # RQ calls this as soon as it has dequeued a job, and only then.
        self._job_in_hand = True
        super().reorder_queues(reference_queue)

    @property
    def dequeue_timeout(self) -> float:
        # Wake up at least once per periodic interval even when no job arrives (Redis 6's
        # BLPOP takes fractions of a second).
        return max(0.05, min(settings.PLANRRR_PERIODIC.values(), default=1.0))

    def execute_job(self, job, queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            self._job_in_hand = False

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat (outliving Redis), then, between jobs, the periodic work, the scheduler
        process started again if it died, the wait for PostgreSQL, and the stop."""
        if pipeline is not None:
            # A job is running: not a moment to do database work.
            super().heartbeat(timeout, pipeline=pipeline)
            return
        super().heartbeat(timeout)
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
