import json
from datetime import UTC, datetime

from django.db import connection, transaction

from webhooks import services
from webhooks.models import Delivery, Event
from webhooks.services import queue
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

    def test_it_is_one_statement_whatever_it_records(self):
        # event_record runs event_sql's statement: the same endpoints, payload, rows and job ids
        # whichever path records an event, in one round trip.
        self.endpoint()
        self.endpoint(url=self.receiver.url + "?second")
        with self.captureOnCommitCallbacks(execute=True), transaction.atomic(), self.assertNumQueries(1):
            event = services.event_record(team_id=self.team.id, event="post.published", data=PUBLISHED)
        self.assertEqual(Event.objects.get(), event)
        self.assertEqual(bytes(Event.objects.get().payload), event.body)
        self.assertEqual(event.created_at, Event.objects.get().created_at)
        self.assertEqual(sorted(self.queued_job_ids()), sorted(event.deliveries.values_list("job_id", flat=True)))

    def test_a_test_event_goes_to_its_endpoint_only_whatever_it_subscribes_to(self):
        chosen = self.endpoint(events=["post.failed"])
        services.endpoint_disable(endpoint=chosen, reason="paused")
        self.endpoint()
        with self.captureOnCommitCallbacks(execute=True):
            delivery = services.endpoint_send_test_event(endpoint=chosen)
        self.assertEqual((delivery.endpoint_id, delivery.event.type), (chosen.id, "webhook.test"))
        self.assertEqual(Delivery.objects.count(), 1)
        self.assertEqual(self.queued_job_ids(), [delivery.job_id])
        with self.assertRaisesMessage(ValueError, "Unknown webhook event 'webhook.test'"):
            services.event_record(team_id=self.team.id, event="webhook.test", data={})

    def test_a_job_id_is_the_same_shape_whoever_makes_it(self):
        self.endpoint()
        made_by_the_database = self.record().deliveries.get().job_id
        made_by_python = queue.new_job_id()
        for job_id in (made_by_the_database, made_by_python):
            self.assertRegex(job_id, r"^webhook-[0-9a-f]{32}$")


class EventSqlTests(BaseTestCase):
    """``event_sql``: the same event, recorded by the statement that makes the change it reports."""

    def run_statement(self, event: str = "post.published", data: dict | None = None, *, changed: bool = True):
        recorded = services.event_sql(team_id=self.team.id, event=event, data=data or PUBLISHED, when="changed")
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH changed AS (SELECT 1 AS id WHERE %(changed)s), {recorded.ctes} SELECT {recorded.deliveries}",
                {"changed": changed, **recorded.params},
            )
            deliveries = cursor.fetchone()[0]
        with self.captureOnCommitCallbacks(execute=True):
            recorded.enqueue(deliveries)
        return deliveries

    def test_it_records_what_event_record_records(self):
        everything = self.endpoint()
        published = self.endpoint(url=self.receiver.url + "?published", events=["post.published", "post.failed"])
        self.endpoint(url=self.receiver.url + "?failed", events=["post.failed"])
        disabled = self.endpoint(url=self.receiver.url + "?disabled")
        services.endpoint_disable(endpoint=disabled, reason="test")
        services.endpoint_create(team=self.outsider, url=self.receiver.url)

        deliveries = self.run_statement(data={**PUBLISHED, "error": "token=EAAB1234567890abcdef was refused"})

        event = Event.objects.get()
        self.assertEqual((event.team_id, event.type), (self.team.id, "post.published"))
        rows = list(event.deliveries.order_by("endpoint_id"))
        self.assertEqual([d.endpoint_id for d in rows], sorted([everything.id, published.id]))
        self.assertEqual(sorted(deliveries), sorted([d.id, d.job_id] for d in rows))
        for delivery in rows:
            self.assertEqual((delivery.status, delivery.attempt_count, delivery.last_error), ("PENDING", 0, ""))
            self.assertRegex(delivery.job_id, r"^webhook-[0-9a-f]{32}$")
            self.assertIsNotNone(delivery.next_attempt_at)
        self.assertNotEqual(rows[0].job_id, rows[1].job_id)
        body = json.loads(event.body)
        self.assertEqual(list(body), ["id", "event", "timestamp", "data"])
        self.assertEqual((body["id"], body["event"]), (event.id, "post.published"))
        self.assertNotIn("EAAB1234567890abcdef", event.body.decode())  # scrubbed, as event_record does
        self.assertEqual(sorted(self.queued_job_ids()), sorted(d.job_id for d in rows))

    def test_it_records_nothing_when_the_change_was_not_made(self):
        self.endpoint()
        self.assertEqual(self.run_statement(changed=False), [])
        self.assertFalse(Event.objects.exists())
        self.assertFalse(Delivery.objects.exists())
        self.assertEqual(self.queued_job_ids(), [])

    def test_it_records_nothing_when_no_endpoint_subscribes(self):
        self.endpoint(events=["post.failed"])
        self.assertEqual(self.run_statement(), [])
        self.assertFalse(Event.objects.exists())

    def test_it_refuses_an_unknown_event(self):
        with self.assertRaises(ValueError):
            services.event_sql(team_id=self.team.id, event="post.exploded", data={}, when="changed")
