"""A worker sent SIGTERM finishes (or, on a second SIGTERM, abandons) its job and exits, and starts
no process after the request.

These run a real ``manage.py rqworker --with-scheduler`` on the test Redis and database.
"""

from __future__ import annotations

import os
import signal
import time

import django_rq
import psutil
import rq
from django.test import TransactionTestCase

from devtools.testing import WorkerProcess, flush_redis, wait_for


class WorkerShutdownTests(TransactionTestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)
        self.queue = rq.Queue("default", connection=django_rq.get_connection("default"))
        self.worker = WorkerProcess("default").start()
        self.addCleanup(self.worker.kill)
        self.worker.wait_ready()

    def start_job(self, seconds: float, timeout: int) -> rq.job.Job:
        job = self.queue.enqueue("time.sleep", seconds, job_timeout=timeout)
        wait_for(lambda: job.get_status(refresh=True) == rq.job.JobStatus.STARTED, message="the job to start")
        # The scheduler process (--with-scheduler) is running by now: it is what must not outlive
        # the worker nor be started again.
        wait_for(self.worker.descendants, message="the scheduler process")
        return job

    def terminate(self) -> None:
        """SIGTERM to the worker's main process only, as a supervisor sends it."""
        os.kill(self.worker.pid, signal.SIGTERM)

    def wait_exit(self, before: set[int], timeout: float) -> set[int]:
        """Wait for the worker to exit; return the processes it started meanwhile."""
        started: set[int] = set()
        deadline = time.monotonic() + timeout
        while self.worker.alive():
            started |= {proc.pid for proc in self.worker.descendants()} - before
            if time.monotonic() > deadline:
                self.fail(f"the worker did not exit within {timeout}s:\n{self.worker.output()[-3000:]}")
            time.sleep(0.01)
        return started

    def assertAllGone(self, pids: set[int]) -> None:
        def gone(pid: int) -> bool:
            try:
                return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_for(lambda: all(gone(pid) for pid in pids), timeout=5, message=f"processes {pids} to end")

    def test_it_finishes_the_job_then_exits_without_starting_a_process(self):
        job = self.start_job(seconds=3, timeout=20)
        before = {proc.pid for proc in self.worker.descendants()}

        self.terminate()
        started = self.wait_exit(before, timeout=20 + 10)

        self.assertEqual(started, set(), "a process was started after the stop request")
        self.assertAllGone(before)
        self.assertEqual(job.get_status(refresh=True), rq.job.JobStatus.FINISHED)

    def test_it_exits_once_the_job_timeout_ends_a_job_that_runs_on(self):
        job = self.start_job(seconds=600, timeout=3)
        before = {proc.pid for proc in self.worker.descendants()}

        self.terminate()
        started = self.wait_exit(before, timeout=3 + 10)

        self.assertEqual(started, set())
        self.assertAllGone(before)
        self.assertEqual(job.get_status(refresh=True), rq.job.JobStatus.FAILED)

    def test_it_abandons_the_job_and_exits_at_once_on_a_second_sigterm(self):
        self.start_job(seconds=600, timeout=600)
        before = {proc.pid for proc in self.worker.descendants()}

        self.terminate()
        # RQ ignores a second signal within a second of the first (a pool sends duplicates).
        time.sleep(1.2)
        self.assertTrue(self.worker.alive(), "the worker did not wait for its job")
        self.terminate()
        started = self.wait_exit(before, timeout=10)

        self.assertEqual(started, set())
        self.assertAllGone(before)
