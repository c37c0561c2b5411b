"""The threaded worker's own choices, without running it (its behaviour over the wire:
publishing/tests/e2e/test_in_flight.py)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import django_rq
import redis
import rq
from django.db import InterfaceError
from django.test import SimpleTestCase, override_settings
from rq.job import JobStatus
from rq.suspension import resume, suspend
from rq.worker.base import WorkerStatus

from devtools.testing import flush_redis
from planrrr import threaded
from planrrr.threaded import JobThread, ThreadedWorker


def beating_job() -> dict:
    """Run by a job thread: when RQ would count its job abandoned (its score in the started
    registry), before and after a job_heartbeat."""
    job = rq.get_current_job()
    registry = job.started_job_registry

    def score() -> float:
        (only,) = [score for _, score in registry.connection.zrange(registry.key, 0, -1, withscores=True)]
        return only

    before = score()
    threaded.job_heartbeat()
    return {"before": before, "after": score(), "started": job.started_at.timestamp()}


class QueueShareTests(SimpleTestCase):
    def worker(self, threads: int, names: tuple[str, ...] = ("default", "webhooks", "analytics")) -> ThreadedWorker:
        connection = django_rq.get_connection("default")
        queues = [rq.Queue(name, connection=connection) for name in names]
        return ThreadedWorker(queues, connection=connection, threads=threads)

    def names(self, worker: ThreadedWorker, index: int) -> list[str]:
        return [queue.name for queue in worker.queues_of(index)]

    @override_settings(RQ_QUEUE_THREAD_SHARE={"analytics": 0.25})
    def test_only_a_share_of_the_threads_take_analytics_jobs(self):
        worker = self.worker(24)

        takers = [index for index in range(24) if "analytics" in self.names(worker, index)]

        self.assertEqual(takers, list(range(6)))
        self.assertEqual(self.names(worker, 0), ["default", "webhooks", "analytics"])
        self.assertEqual(self.names(worker, 23), ["default", "webhooks"])

    @override_settings(RQ_QUEUE_THREAD_SHARE={"analytics": 0.25})
    def test_one_thread_at_least_takes_a_shared_queue(self):
        worker = self.worker(2)

        self.assertEqual(
            [self.names(worker, i) for i in range(2)], [["default", "webhooks", "analytics"], ["default", "webhooks"]]
        )

    @override_settings(RQ_QUEUE_THREAD_SHARE={"analytics": 0.25})
    def test_a_worker_of_shared_queues_only_takes_them_on_every_thread(self):
        # `manage.py rqworker analytics`, a worker given to the analytics: the share keeps the
        # reads from the publish path's room, and there is none here. Every thread past the share
        # had no queue, and RQ's BLPOP of no key ended it ("wrong number of arguments").
        worker = self.worker(8, ("analytics",))

        self.assertEqual([self.names(worker, i) for i in range(8)], [["analytics"]] * 8)


class ThreadStartTests(SimpleTestCase):
    def test_a_thread_that_cannot_start_while_redis_is_down_is_started_later_not_the_process_ended(self):
        # RQ's worker names itself on Redis as it is made (CLIENT SETNAME): with Redis restarting,
        # replacing a job thread raised ConnectionError into the main thread's loop, which ended
        # the whole process (found by test_retry_and_recovery's Redis restart).
        connection = django_rq.get_connection("default")
        worker = ThreadedWorker([rq.Queue("default", connection=connection)], connection=connection, threads=2)
        calls = []

        def down(index, generation):
            calls.append(index)
            raise redis.exceptions.ConnectionError("Error 2 connecting to redis.sock. No such file or directory.")

        worker._job_thread = down
        worker._thread_start(0)

        self.assertEqual(calls, [0])
        self.assertNotIn(0, worker.job_threads)
        self.assertIn(0, worker._started)  # tried again a second later, by the loop


class JobThreadRedisCallsTests(SimpleTestCase):
    """A job thread calls Redis less than RQ's worker does between two jobs (its heartbeat, the
    suspension check, its idle state), without losing what those calls are for."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.connection = django_rq.get_connection("default")
        self.queue = rq.Queue("default", connection=self.connection)
        self.process = ThreadedWorker([self.queue], connection=self.connection, threads=1)
        # The machine's CPU as it is during these tests says nothing of them: it has room, unless a
        # test says otherwise.
        self.enterContext(mock.patch.object(threaded, "cpu_has_room", return_value=True))

    def thread(self, name: str) -> JobThread:
        return JobThread([self.queue], name=name, connection=self.connection, process=self.process)

    def test_a_job_thread_takes_no_job_while_the_workers_are_suspended(self):
        job = self.queue.enqueue("operator.add", 1, 2)
        suspend(self.connection)

        self.thread("suspended.0").work(burst=True)
        self.assertEqual(job.get_status(refresh=True), JobStatus.QUEUED)

        resume(self.connection)
        self.thread("resumed.0").work(burst=True)
        self.assertEqual(job.get_status(refresh=True), JobStatus.FINISHED)
        self.assertEqual(job.return_value(), 3)

    def test_a_job_that_beats_counts_abandoned_a_beat_after_its_last_not_its_whole_timeout(self):
        # A job of several publications: a timeout of all its attempts, a beat before each.
        job = self.queue.enqueue(
            "planrrr.tests.test_threaded.beating_job", job_timeout=1000, meta={threaded.HEARTBEAT_META: 5}
        )
        self.thread("beating.0").work(burst=True)

        self.assertEqual(job.get_status(refresh=True), JobStatus.FINISHED, job.latest_result())
        seen = job.return_value()
        self.assertLessEqual(seen["before"], seen["started"] + 5 + 60 + 1, "abandoned a beat after, not 1,000 s")
        self.assertGreaterEqual(seen["after"], seen["before"], "each beat moves it on")

        plain = self.queue.enqueue("operator.add", 1, 2, job_timeout=1000)
        self.assertEqual(self.thread("plain.0").get_heartbeat_ttl(plain), 1060, "RQ's own for any other job")

    def test_a_thread_counts_idle_only_once_it_has_waited_on_its_queues_a_moment(self):
        # A job of several publications hands the rest back when threads are idle: a thread
        # passing through the wait between two jobs, while jobs are queued, is not idle.
        thread = self.thread("idle.1")
        now = 1000.0
        self.assertFalse(thread.waiting(now), "in a job")
        thread._waiting_since = now - threaded.IDLE_AFTER / 2
        self.assertFalse(thread.waiting(now), "between two jobs")
        thread._waiting_since = now - threaded.IDLE_AFTER
        self.assertTrue(thread.waiting(now))
        with mock.patch.object(threaded, "_process_worker", None):
            self.assertIsNone(threaded.idle_threads(), "not a ThreadedWorker's process")
        with mock.patch.object(threaded, "_process_worker", self.process):
            self.process.job_threads = {0: (thread, mock.Mock(is_alive=lambda: True))}
            with mock.patch("time.monotonic", return_value=now):
                self.assertEqual(threaded.idle_threads(), 1)

    def test_what_a_busy_thread_offers_is_handed_back_by_the_main_thread_once_threads_are_idle(self):
        handed: list[str] = []
        done = threading.Event()
        results: dict[str, int] = {}

        def job_thread() -> None:
            threaded.hand_back_offer(lambda: handed.append("rest") or 3)
            done.wait(5)  # its call lasts
            results["withdrawn"] = threaded.hand_back_withdraw()

        busy = threading.Thread(target=job_thread)
        busy.start()
        self.addCleanup(busy.join, 5)
        with mock.patch.object(threaded, "idle_threads", return_value=0):
            self.assertEqual(self.process.hand_back_to_idle(), 0, "no thread idle: the offer stands")
        self.assertEqual(handed, [])
        with mock.patch.object(threaded, "idle_threads", return_value=2):
            self.assertEqual(self.process.hand_back_to_idle(), 3)
            self.assertEqual(self.process.hand_back_to_idle(), 0, "each offer taken once")
        done.set()
        busy.join(5)
        self.assertEqual((handed, results["withdrawn"]), (["rest"], 3), "the job stops: its rest is handed back")

        # An offer withdrawn before the main thread takes it hands nothing back.
        threaded.hand_back_offer(lambda: handed.append("again") or 1)
        self.assertEqual(threaded.hand_back_withdraw(), 0)
        with mock.patch.object(threaded, "idle_threads", return_value=2):
            self.assertEqual(self.process.hand_back_to_idle(), 0)
        self.assertEqual(handed, ["rest"])

    def test_while_the_cpu_is_busy_only_what_waits_behind_a_slow_call_is_handed_back(self):
        # More jobs at once publish no faster on a CPU that has no room, and each handed back
        # costs RQ's work for a job: the job goes on with its rest. A call that has lasted a
        # second waits on its platform, not on the CPU: its rest goes to the idle threads.
        threaded.hand_back_offer(lambda: 3)
        busy = mock.patch.object(threaded, "cpu_has_room", return_value=False)
        with mock.patch.object(threaded, "idle_threads", return_value=2), busy:
            self.assertEqual(self.process.hand_back_to_idle(), 0)
        with mock.patch.object(threaded, "idle_threads", return_value=2):
            self.assertEqual(self.process.hand_back_to_idle(), 3, "once it has room")
        self.assertEqual(threaded.hand_back_withdraw(), 3)

        threaded.hand_back_offer(lambda: 2)
        later = time.monotonic() + threaded.SLOW_CALL_SECONDS
        with (
            mock.patch.object(threaded, "idle_threads", return_value=2),
            busy,
            mock.patch("time.monotonic", return_value=later),
        ):
            self.assertEqual(self.process.hand_back_to_idle(), 2, "its call has lasted a second")
        self.assertEqual(threaded.hand_back_withdraw(), 2)

    def test_an_offer_that_fails_to_be_handed_back_leaves_the_job_going_on_with_it(self):
        def failing() -> int:
            raise RuntimeError("PostgreSQL went away")

        threaded.hand_back_offer(failing)
        with mock.patch.object(threaded, "idle_threads", return_value=1), self.assertLogs("planrrr.worker", "ERROR"):
            self.assertEqual(self.process.hand_back_to_idle(), 0)
        self.assertEqual(threaded.hand_back_withdraw(), 0)

        # PostgreSQL unreachable: the process's outage says so once, not a traceback per offer.
        def unreachable() -> int:
            raise InterfaceError("connection already closed")

        outage = mock.Mock()
        with (
            mock.patch.object(threaded, "idle_threads", return_value=1),
            mock.patch.object(threaded.outages, "database", return_value=outage),
            self.assertNoLogs("planrrr.worker", "ERROR"),
        ):
            for _ in range(2):
                threaded.hand_back_offer(unreachable)
                self.assertEqual(self.process.hand_back_to_idle(), 0)
                self.assertEqual(threaded.hand_back_withdraw(), 0)
        self.assertEqual(outage.failed.call_count, 2)

    def test_its_idle_state_is_written_again_once_redis_lost_its_registration(self):
        thread = self.thread("idle.0")
        thread.register_birth()
        thread.set_state(WorkerStatus.IDLE)
        self.assertEqual(self.connection.hget(thread.key, "state"), b"idle")
        self.connection.hdel(thread.key, "state")
        thread.set_state(WorkerStatus.IDLE)  # idle over idle, as RQ does after every job: not sent
        self.assertIsNone(self.connection.hget(thread.key, "state"))

        self.connection.delete(thread.key)  # Redis restarted without its data
        thread.register_birth()
        thread.set_state(thread.get_state())  # as OutlivingWorker._register_again_if_lost does
        self.assertEqual(self.connection.hget(thread.key, "state"), b"idle")


class CpuLoadTests(SimpleTestCase):
    def stat(self, text: str) -> str:
        path = Path(tempfile.mkdtemp()) / "stat"
        self.addCleanup(shutil.rmtree, path.parent)
        path.write_text(text)
        return str(path)

    def test_the_share_of_cpu_time_busy_between_two_looks(self):
        #             user nice system idle iowait irq softirq steal guest guest_nice
        path = self.stat("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n")
        load = threaded.CpuLoad(path, every=0)
        self.assertIsNone(load.share(), "one look says nothing yet")
        # 90 ticks busy (user, system, irq, softirq, steal), 10 idle or waiting on a disk.
        Path(path).write_text("cpu  150 10 120 705 105 5 3 2 0 0\n")
        self.assertAlmostEqual(load.share(), 0.9)
        self.assertFalse(load.share() is None)

    def test_it_looks_again_only_after_its_period(self):
        path = self.stat("cpu  0 0 0 100 0 0 0 0\n")
        load = threaded.CpuLoad(path, every=60)
        load.share()
        Path(path).write_text("cpu  100 0 0 100 0 0 0 0\n")
        self.assertIsNone(load.share(), "within its period: the last share")

    def test_a_machine_that_cannot_say_has_room(self):
        load = threaded.CpuLoad("/nonexistent/stat", every=0)
        self.assertIsNone(load.share())
        self.assertIsNone(threaded.CpuLoad(self.stat("intr 1 2 3\n"), every=0).share())
        with mock.patch.object(threaded, "_cpu", load):
            self.assertTrue(threaded.cpu_has_room())

    def test_room_is_below_the_limit(self):
        for share, room in ((None, True), (0.5, True), (threaded.CPU_BUSY_LIMIT, False), (1.0, False)):
            with mock.patch.object(threaded._cpu, "share", return_value=share):
                self.assertEqual(threaded.cpu_has_room(), room, share)
