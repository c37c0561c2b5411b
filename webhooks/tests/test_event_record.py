import json
from datetime import UTC, datetime

from django.db import transaction

from webhooks import services
from webhooks.models import Delivery, Event
from webhooks.tests.base import PUBLISHED, BaseTestCase


class EventRecordTests(BaseTestCase):
    def test_it_records_nothing_with_one_query_when_no_endpoint_subscribes(self):
        self.endpoint(events=["post.failed"])
        services.endpoint_create(team=self.outsider, url=self.receiver.url)
        with self.assertNumQueries(1):
            self.assertIsNone(services.event_record(team_id=self.team.id, event="post.published", data=PUBLISHED))
        self.assertFalse(Event.objects.exists())

    def test_it_creates_one_delivery_per_subscribed_active_endpoint(self):
        everything = self.endpoint()
        published = self.endpoint(url=self.receiver.url + "?published", events=["post.published", "post.failed"])
        self.endpoint(url=self.receiver.url + "?failed", events=["post.failed"])
        disabled = self.endpoint(url=self.receiver.url + "?disabled")
        services.endpoint_disable(endpoint=disabled, reason="test")

        event = self.record()

        self.assertEqual(set(event.deliveries.values_list("endpoint_id", flat=True)), {everything.id, published.id})
        self.assertTrue(all(d.status == Delivery.Status.PENDING for d in event.deliveries.all()))

    def test_it_serialises_the_body_once_with_id_event_timestamp_and_data(self):
        self.endpoint()
        event = self.record(data={**PUBLISHED, "publishedAt": datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC)})

        body = json.loads(event.body)
        self.assertEqual(list(body), ["id", "event", "timestamp", "data"])
        self.assertEqual(body["id"], event.id)
        self.assertTrue(event.id.startswith("msg_"))
        self.assertEqual(body["event"], "post.published")
        self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(body["data"], {**PUBLISHED, "publishedAt": "2026-11-24T10:00:05.000Z"})

    def test_it_enqueues_the_delivery_jobs_only_after_commit(self):
        self.endpoint()
        with self.captureOnCommitCallbacks() as callbacks, transaction.atomic():
            event = services.event_record(team_id=self.team.id, event="post.published", data=PUBLISHED)
        self.assertEqual(self.queued_job_ids(), [])
        for callback in callbacks:
            callback()
        self.assertEqual(self.queued_job_ids(), [event.deliveries.get().job_id])

    def test_it_records_and_sends_nothing_when_the_transaction_rolls_back(self):
        self.endpoint()
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            with self.assertRaises(RuntimeError), transaction.atomic():
                services.event_record(team_id=self.team.id, event="post.published", data=PUBLISHED)
                raise RuntimeError("publishing failed after recording the event")
        self.assertEqual(callbacks, [])
        self.assertFalse(Event.objects.exists())
        self.assertFalse(Delivery.objects.exists())
        self.assertEqual(self.queued_job_ids(), [])

    def test_it_refuses_an_unknown_event(self):
        with self.assertRaisesMessage(ValueError, "Unknown webhook event 'post.deleted'"):
            services.event_record(team_id=self.team.id, event="post.deleted", data={})
