"""Webhooks over the wire: real worker processes deliver to a real receiver on a real port."""

import django_rq
from django.db import transaction
from django.test import TransactionTestCase, override_settings
from rq.job import Job
from standardwebhooks.webhooks import Webhook

from devtools.receiver import Answer, Receiver
from devtools.testing import WorkerProcess, flush_redis, wait_for
from planrrr.models import Team
from webhooks import services
from webhooks.models import Delivery
from webhooks.tests.base import PUBLISHED
from webhooks.tests.jobs import COMMITTED_KEY


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class WorkerTestCase(TransactionTestCase):
    def setUp(self):
        flush_redis()
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        self.team = Team.objects.create(name="Acme")
        self.endpoint = services.endpoint_create(
            team=self.team, url=self.receiver.url, events=["post.published", "post.failed"]
        )
        self.receiver.secrets.append(self.endpoint.secret)
        self.workers: list[WorkerProcess] = []

    def tearDown(self):
        for worker in self.workers:
            worker.kill()  # the test is over: no need to wait for a warm shutdown
        flush_redis()

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(
            "webhooks",
            env={
                "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
                "WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2",
                "SWEEP_INTERVAL_SECONDS": "0.5",
                "SWEEP_REQUEUE_AFTER_SECONDS": "1",
            },
        ).start()
        self.workers.append(worker)
        return worker.wait_ready()

    def wait_until_delivered(self, delivery: Delivery, timeout: float = 10) -> Delivery:
        def done():
            delivery.refresh_from_db()
            return delivery.status == Delivery.Status.SUCCEEDED

        self.wait_for(done, timeout=timeout, message=f"delivery {delivery.id} to succeed")
        return delivery

    def wait_for(self, predicate, **kwargs):
        """devtools.testing.wait_for, with the workers' output when it times out."""
        try:
            return wait_for(predicate, **kwargs)
        except AssertionError as err:
            raise AssertionError(f"{err}; worker output:\n" + "\n".join(w.output() for w in self.workers)) from None


# Three classes so that parallel test processes can share the work.
class WorkerDeliveryTests(WorkerTestCase):
    def test_it_triggers_webhooks_on_publish_events(self):
        self.start_worker()
        with transaction.atomic():
            event = services.event_record(team_id=self.team.id, event="post.published", data=PUBLISHED)
            # Not subscribed: nothing recorded, nothing sent.
            self.assertIsNone(services.event_record(team_id=self.team.id, event="post.completed", data={"postId": 41}))

        self.wait_until_delivered(event.deliveries.get())
        [received] = self.receiver.received
        payload = Webhook(self.endpoint.secret).verify(received.body, received.headers)
        self.assertEqual(payload["event"], "post.published")
        self.assertEqual(payload["id"], received.webhook_id)
        self.assertEqual(
            {k: payload["data"][k] for k in ("postId", "platform", "externalId")},
            {"postId": 41, "platform": "FACEBOOK", "externalId": "123_456"},
        )

    def test_it_sends_nothing_for_a_rolled_back_transaction(self):
        self.start_worker()
        with self.assertRaises(RuntimeError), transaction.atomic():
            services.event_record(team_id=self.team.id, event="post.published", data={"postId": 1})
            raise RuntimeError("the publication's write failed")
        with transaction.atomic():
            kept = services.event_record(team_id=self.team.id, event="post.published", data={"postId": 2})

        self.wait_until_delivered(kept.deliveries.get())
        self.assertEqual([r.json["data"]["postId"] for r in self.receiver.received], [2])
        self.assertEqual(Delivery.objects.count(), 1)


class WorkerRetryTests(WorkerTestCase):
    def test_it_delivers_on_the_retry_after_a_500_with_the_same_webhook_id(self):
        self.receiver.answer(Answer(500, body=b"try again"))
        self.start_worker()
        with transaction.atomic():
            event = services.event_record(team_id=self.team.id, event="post.failed", data={"postId": 41})

        delivery = self.wait_until_delivered(event.deliveries.get())
        first, second = self.receiver.received
        self.assertEqual(first.webhook_id, second.webhook_id)
        self.assertEqual(second.verified_with, [self.endpoint.secret])
        attempts = list(delivery.attempts.values_list("number", "status_code", "succeeded"))
        self.assertEqual(attempts, [(1, 500, False), (2, 200, True)])


class WorkerCrashTests(WorkerTestCase):
    def test_it_delivers_once_when_the_worker_dies_between_commit_and_enqueue(self):
        redis = django_rq.get_connection("webhooks")
        first = self.start_worker()
        django_rq.get_queue("webhooks").enqueue(
            "webhooks.tests.jobs.record_event_then_hang", self.team.id, PUBLISHED, job_timeout=60
        )
        self.wait_for(lambda: redis.get(COMMITTED_KEY), message="the event to commit")
        first.kill()

        # Committed, but its job never reached Redis: only the database knows.
        delivery = Delivery.objects.get()
        self.assertEqual(delivery.status, Delivery.Status.PENDING)
        self.assertFalse(Job.exists(delivery.job_id, connection=redis))
        self.assertEqual(self.receiver.received, [])

        self.start_worker()  # its sweep finds the delivery
        delivery = self.wait_until_delivered(delivery)
        self.assertEqual(self.receiver.processed, {delivery.event_id: 1})
        self.assertEqual(len(self.receiver.received), 1)
        self.assertEqual(delivery.attempts.count(), 1)


class WorkerAttemptLimitTests(WorkerTestCase):
    def test_it_ends_failed_at_the_limit_when_the_receiver_answers_a_nul_byte(self):
        # Writing such an answer raised, the delivery stayed claimed and the sweep started it
        # again for ever, calling the receiver each time.
        self.receiver.answer(*[Answer(500, body=b"database \x00 down") for _ in range(20)])
        self.start_worker()  # three retries 0.2 s apart: four attempts
        with transaction.atomic():
            event = services.event_record(team_id=self.team.id, event="post.failed", data={"postId": 41})
        delivery = event.deliveries.get()

        def ended():
            delivery.refresh_from_db()
            return delivery.status != Delivery.Status.PENDING

        self.wait_for(ended, timeout=20, message=f"delivery {delivery.id} to end")
        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertIn("Gave up after 4 attempts.", delivery.last_error)
        self.assertEqual(len(self.receiver.received), 4)
        excerpts = set(delivery.attempts.values_list("response_excerpt", flat=True))
        self.assertEqual(excerpts, {"database \N{REPLACEMENT CHARACTER} down"})
