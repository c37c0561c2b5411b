"""A worker process with many jobs in flight: ``ThreadedWorker`` (the default ``RQ["WORKER_CLASS"]``)
runs ``RQ_WORKER_THREADS`` RQ workers, each in a thread of its own, and keeps for its main thread
what only the main thread can do.

A publish job spends a few milliseconds of CPU and hundreds waiting on the platform's answer: a
process that runs one job at a time (``InProcessWorker``) is a whole process (~30 MB) per call in
flight. Here a call in flight is a thread waiting on a socket. What RQ assumes of a worker is kept
by making each thread a whole RQ worker (``JobThread``, RQ's SimpleWorker): its own name and
registration, its one current job, the started registry, heartbeats and the abandoned-job
handling of a worker that stops beating; ``rq info`` lists each. What RQ does only in a
process's main thread is the main thread's:

* **signals**: the stop handlers are the main thread's (``SweepingWorker``'s: a stop is noted,
  never raised); a stop is passed to every thread, which finishes the job in hand and takes no
  other; a second signal (cold stop) ends the process at once, its jobs left to their leases and
  the sweep, as a ``kill -9`` would;
* **job timeouts**: SIGALRM reaches the main thread only, so each thread's job is timed by RQ's
  ``TimerDeathPenalty`` (an exception raised in that thread once it runs Python again); a
  platform call is bounded before that by its own deadline (``connections.platforms.reading``),
  and a stop waits for a job at most ``OVERDUE_GRACE`` past its timeout, then fails it as RQ
  would and ends (a job blocked in a call that never returns cannot be interrupted in a thread);
* **the periodic work, the scheduler process, RQ's maintenance, the wait for PostgreSQL** run in
  the main thread, which takes no job itself, so the dispatch of due posts never waits for a job
  (``planrrr.rq``);
* **a thread that died** (an error outside any job) is replaced at the next turn.

PostgreSQL connections stay bounded: the process's connections are a pool of ``DB_POOL_SIZE``
(``planrrr.db.pool_enable``), and a thread holds one only while its statements run: it gives it
back before each call to another server (``planrrr.urlsafety.ReleasingSession``) and after each
job. The analytics queue is taken by a share of the threads only (``RQ_QUEUE_THREAD_SHARE``), so
its reads never take the publish path's room.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable

import rq
from django import db
from django.conf import settings
from rq.exceptions import StopRequested
from rq.timeouts import TimerDeathPenalty
from rq.worker.base import WorkerStatus

from planrrr import outages
from planrrr.db import connection_release, pool_enable
from planrrr.outliving import OutlivingWorker
from planrrr.rq import InProcessWorker
from planrrr.scheduler import pause

logger = logging.getLogger("planrrr.worker")

# How long a job thread waits on its queues at most before it looks for a stop request.
THREAD_DEQUEUE_TIMEOUT = 0.5
# How often a job thread tells Redis it is alive when nothing else does: RQ beats at every turn
# of its loop, three calls to Redis every THREAD_DEQUEUE_TIMEOUT per idle thread (24 of them kept
# an idle process at 5 % of a core), and before every job. Well within the limit to which an idle
# worker counts as alive (planrrr.rq.IDLE_HEARTBEAT_LIMIT, 60 s) and RQ's registration lasts.
THREAD_HEARTBEAT_INTERVAL = 15.0
# How often a job thread asks Redis whether the workers are suspended (`rq suspend`): RQ asks
# before every job, a call to Redis each.
SUSPENSION_CHECK_INTERVAL = 1.0
# A stop waits this long past a job's timeout for its thread, then abandons the job.
OVERDUE_GRACE = 2.0
# A job thread waiting this long on its queues counts idle (idle_threads): they are empty.
IDLE_AFTER = 0.1


# The ThreadedWorker of this process, once it works; the JobThread running this thread's job.
_process_worker: ThreadedWorker | None = None
_running = threading.local()
# A job whose meta holds this (seconds) beats while it runs (job_heartbeat): RQ counts it abandoned
# that long (and RQ's minute) after its last beat, not after its whole timeout.
HEARTBEAT_META = "heartbeat_every"


def job_heartbeat() -> None:
    """Tell RQ the job running in this thread is alive (a job of several publications, before each
    one): its worker's, its execution's and its own heartbeat, as RQ's own monitoring of a forked
    job does. Nothing in a process that is not a ThreadedWorker's, or when Redis cannot say."""
    worker = getattr(_running, "worker", None)
    job = worker.get_current_job() if worker is not None else None
    if job is None or worker.execution is None:
        return
    outages.redis_call(lambda: worker.maintain_heartbeats(job, worker.execution))


class _Offer:
    """Work a job thread offers to hand back while it waits on a call (``hand_back_offer``)."""

    def __init__(self, give_back: Callable[[], int]) -> None:
        self.give_back = give_back
        self.made = time.monotonic()  # as the call began
        self.handed = 0  # what give_back handed back, once taken
        self.settled = threading.Event()  # set once taken and run (or failed)


# The offers of the process's job threads, by thread; the offer of this thread.
_offers: dict[int, _Offer] = {}
_offers_lock = threading.Lock()
_own_offer = threading.local()
# How long a job thread waits for the main thread to finish handing back what it took.
HAND_BACK_WAIT = 30.0
# A call that has lasted this long waits on its platform, not on the CPU: what its job offers is
# handed back to idle threads even while the CPU is busy (hand_back_to_idle).
SLOW_CALL_SECONDS = 1.0


def hand_back_offer(give_back: Callable[[], int]) -> None:
    """Offer, for as long as this thread's next call lasts, to have ``give_back`` (which hands
    work back to the queue and returns how much) run by the process's main thread once threads
    of the process are idle (``hand_back_take``): a job of several publications offers those it
    has not reached, so that they need not wait behind a slow call at a burst's end, or behind a
    platform that does not answer. ``hand_back_withdraw`` ends the offer."""
    offer = _Offer(give_back)
    _own_offer.offer = offer
    with _offers_lock:
        _offers[threading.get_ident()] = offer


def hand_back_withdraw() -> int:
    """End this thread's offer: how much was handed back meanwhile (0 if the offer was not taken,
    or taken and nothing could be handed back): the job must not go on with what was."""
    offer = getattr(_own_offer, "offer", None)
    _own_offer.offer = None
    if offer is None:
        return 0
    with _offers_lock:
        if _offers.get(threading.get_ident()) is offer:
            del _offers[threading.get_ident()]
            return 0
    # Taken by the main thread: wait for it to be done, a moment (a statement and a Redis call).
    offer.settled.wait(HAND_BACK_WAIT)
    return offer.handed


def hand_back_take(*, made_before: float | None = None) -> int:
    """Run every offer made (before the ``time.monotonic()`` ``made_before``, if given), each once
    (in the process's main thread, once threads are idle); one that raises is logged (an outage
    once), and its job goes on with its work. Returns how much was handed back."""
    with _offers_lock:
        taken = [offer for offer in _offers.values() if made_before is None or offer.made < made_before]
        for thread, offer in list(_offers.items()):
            if offer in taken:
                del _offers[thread]
    handed = 0
    for offer in taken:
        try:
            offer.handed = offer.give_back() or 0
            handed += offer.handed
        except Exception as error:
            # An outage is logged once, as it starts (planrrr.outages), not at every offer.
            if outages.database_unreachable(error):
                outages.database().failed(error)
            elif outages.redis_unreachable(error):
                outages.redis().failed(error)
            else:
                logger.exception("handing a job's work back to idle threads failed: the job goes on with it")
        finally:
            offer.settled.set()
    return handed


class CpuLoad:
    """The share of the machine's CPU time spent busy (all its cores, as Linux's ``/proc/stat``
    counts them) since the last look, looked at most every ``every`` seconds; None where it cannot
    be read."""

    def __init__(self, path: str = "/proc/stat", every: float = 0.2) -> None:
        self.path = path
        self.every = every
        self._lock = threading.Lock()
        self._last: tuple[float, int, int] | None = None  # (time.monotonic(), busy ticks, all ticks)
        self._share: float | None = None

    def share(self) -> float | None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last[0] < self.every:
                return self._share
            ticks = self._ticks()
            if ticks is None:
                return None
            if self._last is not None and ticks[1] > self._last[2]:
                self._share = (ticks[0] - self._last[1]) / (ticks[1] - self._last[2])
            self._last = (now, *ticks)
            return self._share

    def _ticks(self) -> tuple[int, int] | None:
        try:
            with open(self.path, "rb") as stat:
                fields = stat.readline().split()
        except OSError:
            return None
        # cpu user nice system idle iowait irq softirq steal (guest time is in user's already)
        if len(fields) < 6 or fields[0] != b"cpu":
            return None
        ticks = [int(field) for field in fields[1:9]]
        idle = ticks[3] + ticks[4]
        return sum(ticks) - idle, sum(ticks)


# A job of several hands its publications back to idle threads only while the CPU has room: past
# this share busy, more jobs at once publish no faster, and each one handed back costs RQ's work
# for a job (docs/performance.md, "Handing back only to a CPU with room").
CPU_BUSY_LIMIT = 0.9
_cpu = CpuLoad()


def _cpu_forget() -> None:
    # A forked child looks for itself (its parent's lock may have been held at the fork).
    global _cpu
    _cpu = CpuLoad()


os.register_at_fork(after_in_child=_cpu_forget)


def cpu_has_room() -> bool:
    """The machine's CPU was busy less than CPU_BUSY_LIMIT of the time over its last look (or
    cannot say)."""
    share = _cpu.share()
    return share is None or share < CPU_BUSY_LIMIT


def idle_threads() -> int | None:
    """How many of this process's job threads wait for a job (its queues are empty); None in a
    process that is not a ThreadedWorker's."""
    worker = _process_worker
    if worker is None:
        return None
    threads = list(worker.job_threads.values())
    now = time.monotonic()
    return sum(1 for job_thread, thread in threads if thread.is_alive() and job_thread.waiting(now))


class JobThread(OutlivingWorker, rq.SimpleWorker):
    """One of a ThreadedWorker's RQ workers: runs jobs in its thread, one at a time, outliving Redis
    and PostgreSQL as every planrrr worker does; stops when its process asks."""

    death_penalty_class = TimerDeathPenalty
    _job_in_hand = False
    # When this thread's heartbeat last went to Redis, and when it last asked whether the workers
    # are suspended (time.monotonic()).
    _beaten = float("-inf")
    _suspension_checked = float("-inf")
    # Redis holds this thread's state as idle, written by this thread.
    _idle_written = False

    def __init__(self, *args, process: ThreadedWorker, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.process = process

    # --- what belongs to the process's main thread -------------------------------------------

    def _install_signal_handlers(self) -> None:
        """Signals reach the main thread only: its worker passes a stop on (``ThreadedWorker``)."""

    def subscribe(self) -> None:
        """RQ's commands (shutdown, kill-horse, stop-job) go to the process's worker: a command
        channel per thread would be a Redis connection and a thread more each."""

    def unsubscribe(self) -> None:
        pass

    def procline(self, message: str) -> None:
        """The process title is the main thread's."""

    @property
    def should_run_maintenance_tasks(self) -> bool:
        # RQ's maintenance (registries, the scheduler lock) is the process's worker's.
        return False

    @property
    def dequeue_timeout(self) -> float:
        return THREAD_DEQUEUE_TIMEOUT

    # --- RQ's calls to Redis between two jobs, fewer -------------------------------------------

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check, at most once every ``SUSPENSION_CHECK_INTERVAL`` (it asks before every job)."""
        if time.monotonic() - self._suspension_checked < SUSPENSION_CHECK_INTERVAL:
            return
        self._suspension_checked = time.monotonic()
        super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline=None) -> None:
        """RQ's, without writing idle again over idle: RQ writes it at the end of every job and
        again as it waits for the next one."""
        if pipeline is None and state == WorkerStatus.IDLE and self._idle_written and self.get_state() == state:
            return
        super().set_state(state, pipeline=pipeline)
        self._idle_written = pipeline is None and state == WorkerStatus.IDLE

    def register_birth(self) -> None:
        # A registration made again (Redis lost it) holds no state yet.
        self._idle_written = False
        super().register_birth()

    # --- the job ---------------------------------------------------------------------------

    # Since when this thread waits on its queues (time.monotonic()), None while it does not.
    _waiting_since: float | None = None

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        self._waiting_since = time.monotonic()
        try:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            self._waiting_since = None

    def waiting(self, now: float) -> bool:
        """Waiting on its queues for IDLE_AFTER seconds at least: they are empty (a thread between
        two jobs passes through the wait in an instant while jobs are queued)."""
        since = self._waiting_since
        return since is not None and now - since >= IDLE_AFTER

    def reorder_queues(self, reference_queue) -> None:
        # RQ calls this as soon as a job is dequeued: the job in hand, a stop waits for it.
        self._job_in_hand = True
        super().reorder_queues(reference_queue)

    def execute_job(self, job, queue) -> None:
        # The job, its queue and when it started: what a stop that cannot wait any longer fails.
        self.current = (job, queue, time.monotonic())
        _running.worker = self
        # As Django does around a request; with the process's pool, the connection goes back.
        db.close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            self.current = None
            _running.worker = None
            self._job_in_hand = False
            db.close_old_connections()

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        """RQ's (the job's timeout and a minute), or for a job that beats while it runs (its meta's
        HEARTBEAT_META), that and a minute."""
        every = (job.meta or {}).get(HEARTBEAT_META)
        if isinstance(every, int | float) and every > 0 and job.timeout and job.timeout > every:
            return int(every) + 60
        return super().get_heartbeat_ttl(job, working_time)

    def overdue(self, grace: float) -> bool:
        """The job in hand ran ``grace`` seconds past its timeout: RQ's TimerDeathPenalty raises
        in the thread only once it runs Python again, and a job blocked in a call that never
        returns (a sleep, a socket without a timeout) never does."""
        current = getattr(self, "current", None)
        if current is None:
            return False
        job, _, started = current
        timeout = job.timeout
        return timeout is not None and timeout > 0 and time.monotonic() - started > timeout + grace

    def abandon(self) -> None:
        """Fail the overdue job in hand as RQ fails a job past its timeout, from the main thread,
        and take this thread's registration away: the process ends without it. A publish job's
        attempt is the lease's and the sweep's, as after a kill."""
        current = getattr(self, "current", None)
        if current is None:
            return
        job, queue, _ = current
        self.log.warning(
            "Worker %s: job %s ran past its timeout (%s s) and is abandoned", self.name, job.id, job.timeout
        )
        try:
            self.handle_job_failure(
                job,
                queue,
                exc_string=f"JobTimeoutException: the job ran past its timeout ({job.timeout} s) in a thread "
                "that could not be interrupted; abandoned when its worker stopped",
            )
        finally:
            self.register_death()

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat (outliving Redis); between jobs, no job taken while the process knows
        PostgreSQL unreachable (its main thread asks it again, with backoff), and the stop. The
        beat of RQ's loop goes to Redis once every ``THREAD_HEARTBEAT_INTERVAL``; one with a
        timeout or in a pipeline (a job's) always does."""
        if pipeline is not None or timeout is not None or time.monotonic() - self._beaten >= THREAD_HEARTBEAT_INTERVAL:
            super().heartbeat(timeout, pipeline=pipeline)
            if pipeline is None:
                self._beaten = time.monotonic()
        if pipeline is not None or self._job_in_hand:
            return
        database = outages.database()
        while database.ongoing and not self._stop_requested:
            pause(1.0, until=lambda: self._stop_requested or not database.ongoing)
            super().heartbeat(timeout)
        if self._stop_requested:
            raise StopRequested()

    def run(self, burst: bool) -> None:
        """The thread's body: RQ's loop, then the thread's connections closed."""
        try:
            self.work(burst=burst, logging_level=settings.RQ_LOG_LEVEL)
        except Exception:
            self.log.exception("Worker %s: its thread ended on an error", self.name)
        finally:
            db.connections.close_all()


class ThreadedWorker(InProcessWorker):
    """A worker process running ``threads`` jobs at once, each in a JobThread; its own loop (the
    main thread) takes no job: it runs the periodic work, the scheduler process, RQ's maintenance,
    the stop, and replaces a thread that died."""

    def __init__(self, *args, threads: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threads = max(1, threads if threads is not None else settings.RQ_WORKER_THREADS)
        self.job_threads: dict[int, tuple[JobThread, threading.Thread]] = {}
        # When each thread index was last started, and how many times: a replacement gets a name
        # of its own (the dead one's registration may linger) and waits a second after the last.
        self._started: dict[int, tuple[float, int]] = {}
        self._burst = False
        self._wake = threading.Event()

    def work(self, burst: bool = False, *args, **kwargs) -> bool:
        global _process_worker
        self._burst = burst
        _process_worker = self
        # Before the first connection of this process: its threads share a pool.
        pool_enable(size=settings.DB_POOL_SIZE)
        return super().work(burst, *args, **kwargs)

    def queues_of(self, index: int) -> list:
        """The queues thread ``index`` takes, in the worker's order: a queue with a share in
        RQ_QUEUE_THREAD_SHARE only on the first threads (at least one). A worker of shared queues
        only (`rqworker analytics`) has no other work to keep room for: every thread takes them."""
        shares = settings.RQ_QUEUE_THREAD_SHARE
        if all(queue.name in shares for queue in self.queues):
            return list(self.queues)
        return [
            queue
            for queue in self.queues
            if queue.name not in shares or index < max(1, math.floor(self.threads * shares[queue.name]))
        ]

    def _thread_start(self, index: int) -> None:
        _, generation = self._started.get(index, (0.0, 0))
        self._started[index] = (time.monotonic(), generation + 1)
        # RQ's worker names itself on Redis as it is made: while Redis is down (a restart) the
        # thread is started at a later turn of the loop, and the process carries on (it ended
        # here, every job thread with it, before).
        worker = outages.redis_call(lambda: self._job_thread(index, generation))
        if worker is None:
            return
        thread = threading.Thread(target=worker.run, args=(self._burst,), name=f"rq-job-{index}", daemon=True)
        self.job_threads[index] = (worker, thread)
        thread.start()

    def _job_thread(self, index: int, generation: int) -> JobThread:
        return JobThread(
            self.queues_of(index),
            name=f"{self.name}.{index}" + (f"-{generation}" if generation else ""),
            connection=self.connection,
            process=self,
            job_class=self.job_class,
            # The class of the queues themselves (this worker's queue_class is wrapped by
            # OutlivingWorker, and RQ checks each queue is of the worker's class).
            queue_class=type(self.queues[0]),
            serializer=self.serializer,
            exception_handlers=self._exc_handlers or None,
            maintenance_interval=self.maintenance_interval,
        )

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's wait for a job, in the main thread: no job is taken here. The job threads are
        started (and a dead one replaced); between two heartbeats (the periodic work, the
        scheduler, the stop: ``SweepingWorker.heartbeat``, which raises StopRequested) the loop
        waits ``dequeue_timeout``. In burst mode, returns None once every thread has ended."""
        self.set_state(WorkerStatus.IDLE)
        self.procline(f"{self.threads} job threads on {','.join(self.queue_names())}")
        while True:
            self.heartbeat()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            for index in range(self.threads):
                entry = self.job_threads.get(index)
                if entry is None:
                    if time.monotonic() - self._started.get(index, (-1e9, 0))[0] >= 1.0:
                        self._thread_start(index)
                elif not entry[1].is_alive() and not self._burst and not self._stop_requested:
                    if time.monotonic() - self._started[index][0] >= 1.0:
                        self.log.warning("Worker %s: thread %d ended; another starts", self.name, index)
                        self._thread_start(index)
            if self._burst and not any(thread.is_alive() for _, thread in self.job_threads.values()):
                return None
            self.hand_back_to_idle()
            self._wake.wait(self.dequeue_timeout)

    def hand_back_to_idle(self) -> int:
        """Once threads of this process wait for a job, hand them what the busy ones offered
        (``hand_back_offer``: the rest of a job of several, behind a call that lasts): while the
        CPU has room, every offer; while it is busy, those behind a call that has lasted
        SLOW_CALL_SECONDS (a platform slow to answer, or not answering, holds only its call).
        Returns how much was handed back."""
        if not _offers or not idle_threads():
            return 0
        made_before = None if cpu_has_room() else time.monotonic() - SLOW_CALL_SECONDS
        try:
            return hand_back_take(made_before=made_before)
        finally:
            connection_release()

    def request_stop(self, signum, frame) -> None:
        """The stop (noted, see SweepingWorker.request_stop), passed to every job thread: each
        finishes the job in hand and takes no other."""
        super().request_stop(signum, frame)
        for worker, _ in self.job_threads.values():
            worker._stop_requested = True
        self._wake.set()

    def teardown(self) -> None:
        """Wait for the job threads to finish their jobs (each bounded by its job timeout), then
        RQ's teardown. A second stop signal (cold stop) raises SystemExit here: the process ends,
        its jobs in hand left to their leases and the sweep."""
        for worker, _ in self.job_threads.values():
            worker._stop_requested = True
        try:
            for worker, thread in self.job_threads.values():
                while thread.is_alive():
                    thread.join(0.2)
                    if worker.overdue(OVERDUE_GRACE):
                        outages.redis_call(worker.abandon)
                        break
        except SystemExit:
            # Cold stop: the threads' registrations go now (they will not say so themselves).
            for worker, thread in self.job_threads.values():
                if thread.is_alive():
                    worker.register_death()
            super().teardown()
            raise
        super().teardown()

    def handle_warm_shutdown_request(self) -> None:
        busy = sum(1 for worker, _ in self.job_threads.values() if worker._job_in_hand)
        self.log.info(
            "Worker %s [PID %d]: warm shut down requested; %d of %d threads finish their job",
            self.name,
            self.pid,
            busy,
            self.threads,
        )
