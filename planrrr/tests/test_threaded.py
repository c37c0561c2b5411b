"""The threaded worker's own choices, without running it (its behaviour over the wire:
publishing/tests/e2e/test_in_flight.py)."""

from __future__ import annotations

import django_rq
import redis
import rq
from django.test import SimpleTestCase, override_settings

from planrrr.threaded import ThreadedWorker


class QueueShareTests(SimpleTestCase):
    def worker(self, threads: int) -> ThreadedWorker:
        connection = django_rq.get_connection("default")
        queues = [rq.Queue(name, connection=connection) for name in ("default", "webhooks", "analytics")]
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
