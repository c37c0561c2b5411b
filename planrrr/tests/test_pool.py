"""The worker pool (``manage.py planrrr_workers``): workers forked from one preloaded parent.

The live tests run a real pool on the test Redis and database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import django_rq
import psutil
import rq
from django.test import SimpleTestCase, TransactionTestCase

from devtools.processes import WorkerPoolProcess, memory_pss, tree
from devtools.testing import flush_redis, wait_for
from planrrr import pool as planrrr_pool
from planrrr import rq as planrrr_rq
from publishing.selectors import rq_state


def processes_registered(connection) -> int:
    """Worker processes registered in RQ: a ThreadedWorker process registers its own worker and
    one per job thread, all with its pid."""
    return len({worker.pid for worker in rq.Worker.all(connection=connection)})


class WorkerPoolTests(SimpleTestCase):
    def test_it_preloads_and_closes_the_database_connections_before_it_forks(self):
        order = []
        pool = planrrr_pool.WorkerPool(["default"], connection=django_rq.get_connection("default"), num_workers=2)
        with (
            mock.patch.object(planrrr_pool, "preload", lambda: order.append("preload")),
            mock.patch.object(planrrr_pool.db.connections, "close_all", lambda: order.append("close")),
            mock.patch("rq.worker_pool.WorkerPool.start", lambda *a, **k: order.append("fork")),
        ):
            pool.start(burst=True)

        self.assertEqual(order, ["preload", "close", "fork"])

    def test_it_closes_the_database_connections_before_every_respawn(self):
        order = []
        pool = planrrr_pool.WorkerPool(["default"], connection=django_rq.get_connection("default"), num_workers=1)
        with (
            mock.patch.object(planrrr_pool.db.connections, "close_all", lambda: order.append("close")),
            mock.patch("rq.worker_pool.WorkerPool.start_worker", lambda *a, **k: order.append("fork")),
        ):
            pool.start_worker(burst=False)

        self.assertEqual(order, ["close", "fork"])


class MemoryTests(SimpleTestCase):
    def test_it_sums_the_pss_of_a_process_and_its_children(self):
        # The child only has to exist while its memory is read (it is killed at cleanup): its
        # sleep is what it does, not a wait of the test's, which waits on a condition below.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        me = psutil.Process()
        wait_for(lambda: child.pid in {p.pid for p in me.children()}, message="the child")

        processes = tree([os.getpid()])
        alone = memory_pss([me])

        self.assertIn(child.pid, {p.pid for p in processes})
        self.assertGreater(memory_pss(processes), alone)
        # Shared pages count once: never more than the sum of the resident sets.
        self.assertLessEqual(memory_pss(processes), sum(p.memory_info().rss for p in processes))

    def test_it_skips_processes_that_are_gone(self):
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        proc = psutil.Process(child.pid)
        child.wait()

        self.assertEqual(memory_pss([proc]), 0)


class WorkerPoolProcessTests(TransactionTestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)
        self.redis = django_rq.get_connection("default")
        self.pool = WorkerPoolProcess("default", workers=3, env={"RQ_WORKER_THREADS": 1}).start()
        self.addCleanup(self.pool.kill)
        wait_for(
            lambda: rq.Worker.count(connection=self.redis) == 3 * 2,
            timeout=60,
            message=f"three workers to register:\n{self.pool.output()[-3000:]}",
        )

    def test_it_runs_jobs_in_forked_workers_with_one_scheduler(self):
        workers = {w.pid for w in rq.Worker.all(connection=self.redis)}
        job = rq.Queue("default", connection=self.redis).enqueue("os.getpid")

        wait_for(lambda: job.get_status(refresh=True) == rq.job.JobStatus.FINISHED, message="the job")

        self.assertEqual(workers, {p.pid for p in self.pool.workers()})
        self.assertIn(job.return_value(), workers)
        # RQ's scheduler lock: one worker of the pool runs the scheduler process.
        wait_for(lambda: len(tree([self.pool.pid])) == 1 + 3 + 1, message="the scheduler process")

    def test_it_unregisters_a_worker_that_was_killed(self):
        # Issue 19, finding 8: workers that died without unregistering (crashed while Redis was
        # down, or killed) stayed in RQ's registry, and /metrics counted them, busy, for minutes.
        victim = self.pool.workers()[0]
        victim.kill()

        def replaced():
            registered = [w.pid for w in rq.Worker.all(connection=self.redis)]
            # Its job thread's registration too (planrrr.threaded: "<name>.<n>").
            return victim.pid not in registered and len(registered) == 3 * 2

        wait_for(replaced, timeout=30, message=f"the dead worker unregistered:\n{self.pool.output()[-3000:]}")
        self.assertEqual(rq_state().workers, 3 * 2)
        self.assertIn("was killed by SIGKILL", self.pool.output())

    def test_a_killed_workers_scheduler_process_stops(self):
        # A worker killed with SIGKILL leaves its scheduler process to init: it held the
        # scheduler lock, and now outlives Redis outages, for ever.
        scheduler = wait_for(self.scheduler_process, timeout=30, message="the scheduler process")
        worker = scheduler.parent()

        worker.kill()

        wait_for(lambda: not _alive(scheduler), timeout=15, message="the orphaned scheduler process to stop")

    def test_its_workers_stop_when_the_pool_is_killed(self):
        workers = self.pool.workers()

        self.pool.process.kill()  # the pool's process only, as an OOM killer would
        self.pool.process.wait(5)

        wait_for(lambda: not any(_alive(w) for w in workers), timeout=15, message="the workers to stop")

    def scheduler_process(self) -> psutil.Process | None:
        grandchildren = [p for w in self.pool.workers() for p in w.children()]
        return grandchildren[0] if grandchildren else None

    def test_it_stops_every_worker_on_one_sigterm(self):
        workers = self.pool.workers()

        os.kill(self.pool.pid, signal.SIGTERM)

        self.pool.process.wait(timeout=30)
        for worker in workers:
            self.assertFalse(_alive(worker), f"worker {worker.pid} outlived its pool")


class PoolLogTests(TransactionTestCase):
    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)

    def test_it_logs_its_start_and_its_stop(self):
        # Issue 19, finding 10: the pool logged nothing when it started or stopped.
        pool = WorkerPoolProcess("default", workers=2, env={"LOG_FORMAT": "json"}).start()
        self.addCleanup(pool.kill)
        wait_for(lambda: processes_registered(django_rq.get_connection("default")) == 2, timeout=60)

        pool.stop(timeout=30)

        lines = [json.loads(line) for line in pool.output().splitlines()]
        messages = [line["message"] for line in lines if line["logger"] == "planrrr.workers"]
        self.assertEqual(len(messages), 3, messages)
        self.assertRegex(
            messages[0], r"^worker pool starting: 2 workers \(planrrr\.threaded\.ThreadedWorker\) on queues"
        )
        self.assertRegex(messages[1], r"^worker pool stopping on SIGTERM: 2 workers asked to stop")
        self.assertEqual(messages[2], "worker pool stopped: every worker has exited")
        self.assertTrue(all(line["time"].endswith("Z") for line in lines))


class SlowStartWorker(planrrr_rq.InProcessWorker):
    """A worker whose start is slow where a loaded machine makes it slow: after it has started
    its scheduler process, before RQ installs its signal handlers. The pause is the load being
    played, not a wait of the test's."""

    def _start_scheduler(self, *args, **kwargs) -> None:
        super()._start_scheduler(*args, **kwargs)
        time.sleep(2.0)


class PoolStopTests(TransactionTestCase):
    """A stop reaches every worker, whenever it comes."""

    def setUp(self) -> None:
        flush_redis()
        self.addCleanup(flush_redis)

    def test_it_stops_a_worker_that_is_still_starting(self):
        # SIGTERM while a worker is still starting, its scheduler process already forked: RQ's
        # signal handlers were not installed yet, the pool's SIGINT raised KeyboardInterrupt in
        # the worker, which died without stopping its scheduler process, then waited for it as
        # it exited (multiprocessing joins its children), for ever; the pool waited on it (the
        # failure of test_it_stops_every_worker_on_one_sigterm under load).
        pool = WorkerPoolProcess("default", workers=2, worker_class=f"{__name__}.SlowStartWorker").start()
        self.addCleanup(pool.kill)
        wait_for(lambda: len(tree([pool.pid])) == 1 + 2 + 1, timeout=60, message="the scheduler process")
        workers = tree([pool.pid])

        os.kill(pool.pid, signal.SIGTERM)

        try:
            pool.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail(f"the pool did not stop within 30 s of SIGTERM:\n{pool.output()[-3000:]}")
        for process in workers:
            self.assertFalse(_alive(process), f"process {process.pid} outlived its pool")


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie; a process that ends between the two questions is not alive."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
