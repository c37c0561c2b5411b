from datetime import timedelta

import django_rq
from django.test import override_settings
from django.utils import timezone
from rq.job import Job, JobStatus

from devtools.testing import flush_redis
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import queue
from webhooks.tests.base import BaseTestCase


@override_settings(SWEEP_REQUEUE_AFTER_SECONDS=10)
class DeliverySweepTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.endpoint()
        self.delivery = self.record().deliveries.get()

    def overdue(self, seconds: float = 11) -> None:
        Delivery.objects.filter(id=self.delivery.id).update(next_attempt_at=timezone.now() - timedelta(seconds=seconds))

    def assertSweeps(self, count: int) -> None:
        if count:
            with self.assertLogs("planrrr.webhooks", "INFO") as logs:
                self.assertEqual(services.delivery_sweep(), count)
            self.assertIn(f"re-enqueued {count} webhook deliveries", logs.output[0])
        else:
            self.assertEqual(services.delivery_sweep(), 0)

    def test_it_enqueues_a_due_delivery_whose_job_redis_lost(self):
        flush_redis()
        self.overdue()

        self.assertSweeps(1)

        self.delivery.refresh_from_db()
        self.assertEqual(self.queued_job_ids(), [self.delivery.job_id])
        self.attempt(self.delivery)
        self.assertEqual(len(self.receiver.received), 1)

    def test_it_leaves_a_delivery_whose_job_still_waits_in_the_queue(self):
        self.overdue()
        self.assertSweeps(0)
        self.assertEqual(self.queued_job_ids(), [self.delivery.job_id])

    def test_it_waits_a_grace_period_before_calling_a_job_lost(self):
        flush_redis()
        self.overdue(seconds=5)
        self.assertSweeps(0)

    def test_it_enqueues_a_delivery_whose_attempt_died_with_its_worker(self):
        # A worker claimed the attempt, logged it and was killed: the job stays "started"
        # in Redis, the delivery's lease runs out.
        Delivery.objects.filter(id=self.delivery.id).update(attempt_count=1)
        DeliveryAttempt.objects.create(delivery=self.delivery, number=1, error=DeliveryAttempt.INTERRUPTED)
        Job.fetch(self.delivery.job_id, connection=django_rq.get_connection("webhooks")).set_status(JobStatus.STARTED)
        django_rq.get_queue("webhooks").empty()
        self.overdue()

        self.assertSweeps(1)

        delivery = self.attempt(Delivery.objects.get())
        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        attempts = list(delivery.attempts.values_list("number", "status_code", "error"))
        self.assertEqual(attempts, [(1, None, DeliveryAttempt.INTERRUPTED), (2, 200, "")])

    def test_it_enqueues_a_retry_whose_scheduler_is_not_running(self):
        django_rq.get_queue("webhooks").empty()
        when = timezone.now() - timedelta(seconds=30)
        queue.enqueue_at(when, self.delivery.id, "webhook-scheduled")
        Delivery.objects.filter(id=self.delivery.id).update(job_id="webhook-scheduled", next_attempt_at=when)

        self.assertSweeps(1)
        self.assertNotEqual(Delivery.objects.get().job_id, "webhook-scheduled")

    def test_it_leaves_finished_deliveries_alone(self):
        self.attempt(self.delivery)
        flush_redis()
        self.overdue()
        self.assertSweeps(0)


class RedeliverTests(BaseTestCase):
    def test_it_redelivers_as_a_new_delivery_with_the_same_webhook_id(self):
        self.endpoint()
        first = self.attempt(self.record().deliveries.get())

        with self.captureOnCommitCallbacks(execute=True):
            again = services.delivery_redeliver(delivery=first)
        self.assertEqual(self.queued_job_ids()[-1], again.job_id)
        again = self.attempt(again)

        self.assertEqual((again.status, again.redelivery_of), (Delivery.Status.SUCCEEDED, first))
        self.assertEqual([r.webhook_id for r in self.receiver.received], [first.event_id, first.event_id])

    def test_it_redelivers_every_failed_delivery_since_a_time_once(self):
        endpoint = self.endpoint()
        old, recent, other = (self.record().deliveries.get() for _ in range(3))
        succeeded = self.attempt(self.record().deliveries.get())
        Delivery.objects.filter(id__in=[old.id, recent.id, other.id]).update(status=Delivery.Status.FAILED)
        Delivery.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
        since = timezone.now() - timedelta(days=1)

        redelivered = services.delivery_redeliver_failed(since=since, endpoint=endpoint)

        self.assertEqual([d.redelivery_of_id for d in redelivered], [recent.id, other.id])
        self.assertNotIn(succeeded.id, [d.redelivery_of_id for d in redelivered])
        self.assertEqual(services.delivery_redeliver_failed(since=since), [])
