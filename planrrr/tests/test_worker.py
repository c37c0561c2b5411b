"""planrrr's worker outlives a Redis that goes away between two steps of RQ's loop.

RQ itself retries a failed dequeue but quits on a Redis error anywhere else (maintenance,
the heartbeat, a job's bookkeeping), and its scheduler process dies with the connection.
These run the real worker loop (burst mode) on the test Redis, with one step failing once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import django_rq
import redis
import rq
from django.conf import settings
from django.test import SimpleTestCase
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.utils import utcformat
from rq.worker.base import BaseWorker

from devtools.embedded import forget_dead_handles
from devtools.testing import flush_redis
from planrrr import outages
from planrrr.rq import InProcessWorker, Scheduler, Worker, workers_alive


class FailsOnce:
    """Replaces one of RQ's worker methods (beneath planrrr's additions): raises the Redis error
    on the first call, then behaves as RQ's."""

    def __init__(self, owner: type, name: str, error: Exception) -> None:
        self.original, self.error, self.calls = getattr(owner, name), error, 0
        self.patch = mock.patch.object(owner, name, self.method())

    def method(self):
        def replacement(worker, *args, **kwargs):
            self.calls += 1
            if self.calls == 1:
                raise self.error
            return self.original(worker, *args, **kwargs)

        return replacement


class OutlivingRedisTests(SimpleTestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)
        self.connection = django_rq.get_connection("default")
        self.queue = rq.Queue("outlive", connection=self.connection)
        # The worker's own additions that are not under test here: preloading (it freezes the
        # test process's objects) and the database sweeps.
        self.enterContext(mock.patch("planrrr.rq.preload"))
        self.enterContext(mock.patch("planrrr.rq.run_periodic"))
        # The outages these note are this test process's: none before, none left after.
        outages._forget()
        self.addCleanup(outages._forget)

    def run_burst(self, worker_class, owner: type, method: str, error: Exception) -> tuple[rq.job.Job, FailsOnce]:
        job = self.queue.enqueue("builtins.len", "four")
        worker = worker_class([self.queue], connection=self.connection)
        worker.max_redis_wait = 0.01
        failing = FailsOnce(owner, method, error)

        with failing.patch:
            worker.work(burst=True)

        return job, failing

    def test_a_forking_worker_carries_on_after_maintenance_loses_redis(self):
        job, failing = self.run_burst(
            Worker, BaseWorker, "clean_registries", redis.exceptions.ConnectionError("Connection reset by peer")
        )

        self.assertGreaterEqual(failing.calls, 2, "maintenance was not tried again")
        self.assertEqual(job.get_status(refresh=True), rq.job.JobStatus.FINISHED)
        self.assertEqual(job.return_value(), 4)

    def test_an_in_process_worker_carries_on_after_a_redis_timeout_in_the_suspension_check(self):
        job, failing = self.run_burst(
            InProcessWorker, BaseWorker, "check_for_suspension", redis.exceptions.TimeoutError("slow")
        )

        self.assertGreaterEqual(failing.calls, 2)
        self.assertEqual(job.get_status(refresh=True), rq.job.JobStatus.FINISHED)

    def test_a_job_whose_bookkeeping_loses_redis_does_not_stop_the_worker(self):
        # The first job's start cannot be recorded; the worker goes on to the next job (the
        # sweep, from PostgreSQL, finds a publication whose job was lost this way).
        lost = self.queue.enqueue("builtins.len", "lost")
        job, failing = self.run_burst(
            Worker, BaseWorker, "prepare_execution", redis.exceptions.ConnectionError("Connection refused")
        )

        self.assertEqual(failing.calls, 2)
        self.assertEqual(job.get_status(refresh=True), rq.job.JobStatus.FINISHED)
        self.assertNotIn(lost.id, self.queue.get_job_ids())

    def scheduler_heartbeat(self, alive: bool) -> tuple[RQScheduler, mock.Mock]:
        # The scheduler's process is a fork made by multiprocessing, which a test process of the
        # parallel runner (itself a daemonic multiprocessing child) may not make: stand-ins for
        # the process and for RQScheduler.start; the lock is taken in the real Redis.
        worker = Worker([self.queue], connection=self.connection)
        worker.scheduler = RQScheduler([self.queue], connection=self.connection)
        worker.scheduler._process = SimpleNamespace(is_alive=lambda: alive)
        self.addCleanup(worker.scheduler.release_locks)
        with mock.patch.object(RQScheduler, "start") as start:
            worker.heartbeat()
        return worker.scheduler, start

    def test_a_dead_scheduler_process_is_started_again(self):
        scheduler, start = self.scheduler_heartbeat(alive=False)

        start.assert_called_once_with()
        self.assertEqual(scheduler.acquired_locks, {self.queue.name})

    def test_a_live_scheduler_process_is_left_alone(self):
        scheduler, start = self.scheduler_heartbeat(alive=True)

        start.assert_not_called()
        self.assertEqual(scheduler.acquired_locks, set())

    def test_it_starts_no_scheduler_process_after_a_stop_request(self):
        # Neither the restart every second nor RQ's own at maintenance (acquire_locks).
        worker = Worker([self.queue], connection=self.connection)
        worker.scheduler = Scheduler([self.queue], connection=self.connection)
        worker.scheduler.stopping = lambda: worker._stop_requested
        worker.scheduler._process = SimpleNamespace(is_alive=lambda: False)
        self.addCleanup(worker.scheduler.release_locks)
        worker._stop_requested = True

        with mock.patch.object(RQScheduler, "start") as start:
            with self.assertRaises(StopRequested):
                worker.heartbeat()
            worker.scheduler.acquire_locks(auto_start=True)

        start.assert_not_called()


class WorkersAliveTests(SimpleTestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)
        self.connection = django_rq.get_connection("default")

    def registered(self, name: str, *, state: str, beat_seconds_ago: float) -> rq.Worker:
        worker = rq.Worker(["default"], name=name, connection=self.connection)
        worker.register_birth()
        worker.set_state(state)
        beat = datetime.now(UTC) - timedelta(seconds=beat_seconds_ago)
        self.connection.hset(worker.key, "last_heartbeat", utcformat(beat))
        return worker

    def test_it_leaves_out_a_registered_worker_whose_heartbeat_stopped(self):
        self.registered("idle", state="idle", beat_seconds_ago=1)
        self.registered("ghost", state="busy", beat_seconds_ago=settings.PUBLISH_JOB_TIMEOUT + 120)
        self.registered("gone-idle", state="idle", beat_seconds_ago=120)
        # A busy worker beats before its job; its job may take the whole job timeout.
        self.registered("in-a-long-job", state="busy", beat_seconds_ago=settings.PUBLISH_JOB_TIMEOUT - 10)

        alive = {w.name for w in workers_alive(self.connection)}

        self.assertEqual(alive, {"idle", "in-a-long-job"})
        self.assertEqual(rq.Worker.count(connection=self.connection), 4, "RQ's registry still holds them all")


class EmbeddedPostgresTests(SimpleTestCase):
    """The embedded PostgreSQL stops when the last command using it ends, even after one was killed."""

    def test_a_killed_process_does_not_keep_the_embedded_server_running(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        pgdata = Path(tempfile.mkdtemp(prefix="planrrr-pgdata-"))
        self.addCleanup(shutil.rmtree, pgdata, ignore_errors=True)
        (pgdata / ".handle_pids.json").write_text(json.dumps([gone.pid, os.getpid()]))

        forget_dead_handles(pgdata)

        self.assertEqual(json.loads((pgdata / ".handle_pids.json").read_text()), [os.getpid()])
