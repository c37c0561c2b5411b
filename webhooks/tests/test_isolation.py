"""One bad row fails alone: a broken endpoint, event or job of one team never stops the sweep
or another team's deliveries."""

from datetime import timedelta

import django_rq
from django.db import connection as db
from django.test import override_settings
from django.utils import timezone
from rq import SimpleWorker

from devtools.receiver import Receiver
from devtools.testing import flush_redis
from webhooks import services
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services.delivery import CANNOT_SIGN, NOT_JSON
from webhooks.tests.base import BaseTestCase

# How planrrr.crypto's stored form looks, but not decryptable with any key.
UNDECRYPTABLE = "fernet:gAAAAABnot-a-fernet-token"


@override_settings(SWEEP_REQUEUE_AFTER_SECONDS=10)
class IsolationTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        # Team B: the outsider, with a receiver of its own that works.
        self.other_receiver = Receiver()
        self.addCleanup(self.other_receiver.close)
        endpoint = services.endpoint_create(team=self.outsider, url=self.other_receiver.url)
        self.other_receiver.secrets.append(endpoint.secret)

    def broken_secret(self, stored: str) -> Delivery:
        endpoint = self.endpoint()
        # Written straight into the column, past planrrr.crypto (which would encrypt it).
        with db.cursor() as cursor:
            cursor.execute("UPDATE webhooks_endpoint SET secret = %s WHERE id = %s", [stored, endpoint.id])
        return self.record().deliveries.get()

    def sweep_and_work(self) -> None:
        """Redis lost every job; the sweep finds the due deliveries and a worker drains the queue."""
        flush_redis()
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=11))
        self.assertGreater(services.delivery_sweep(), 0)
        queue = django_rq.get_queue("webhooks")
        SimpleWorker([queue], connection=queue.connection).work(burst=True)

    def assertGood(self) -> None:
        delivery = Delivery.objects.get(endpoint__team=self.outsider)
        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        self.assertEqual(len(self.other_receiver.received), 1)

    def assertCannotSign(self, stored: str) -> None:
        bad = self.broken_secret(stored)
        self.record(team=self.outsider)

        with self.assertLogs("planrrr.webhooks", "INFO"):
            self.sweep_and_work()

        self.assertGood()
        bad.refresh_from_db()
        self.assertEqual((bad.status, bad.attempt_count), (Delivery.Status.FAILED, 1))
        self.assertIn("cannot sign: re-enter or rotate the endpoint's secret", bad.last_error)
        self.assertEqual(bad.attempts.get().error, CANNOT_SIGN)
        self.assertEqual(self.receiver.received, [])

    def test_it_fails_a_delivery_whose_secret_cannot_be_decrypted_and_delivers_the_other_teams(self):
        # Today's planrrr.crypto raises ValueError on such a value.
        self.assertCannotSign(UNDECRYPTABLE)

    def test_it_fails_a_delivery_whose_secret_reads_empty_and_delivers_the_other_teams(self):
        # How the next planrrr.crypto reads a value it cannot decrypt (an empty Undecryptable).
        self.assertCannotSign("")

    def test_it_fails_a_delivery_whose_payload_is_not_json_and_delivers_the_other_teams(self):
        self.endpoint()
        bad = self.record().deliveries.get()
        Event.objects.filter(id=bad.event_id).update(payload=b"\xff\xfe{not json")
        self.record(team=self.outsider)

        with self.assertLogs("planrrr.webhooks", "INFO"):
            self.sweep_and_work()

        self.assertGood()
        bad.refresh_from_db()
        self.assertEqual((bad.status, bad.last_error), (Delivery.Status.FAILED, NOT_JSON))
        self.assertEqual(self.receiver.received, [])

    def test_it_sweeps_past_a_job_redis_cannot_read(self):
        self.endpoint()
        bad = self.record().deliveries.get()
        good = self.record(team=self.outsider).deliveries.get()
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=11))
        flush_redis()
        # A job hash without its data (a process died writing it): RQ cannot read it.
        django_rq.get_connection("webhooks").hset(f"rq:job:{bad.job_id}", "status", "queued")

        with self.assertLogs("planrrr.webhooks", "INFO"):
            self.assertEqual(services.delivery_sweep(), 2)

        self.assertEqual(len(self.queued_job_ids()), 2)
        self.assertEqual(self.attempt(good).status, Delivery.Status.SUCCEEDED)
        self.assertEqual(self.attempt(bad).status, Delivery.Status.SUCCEEDED)

    def test_it_rotates_a_secret_that_cannot_be_decrypted_and_then_delivers(self):
        bad = self.broken_secret(UNDECRYPTABLE)
        endpoint = Endpoint.objects.defer("secret", "previous_secret").get(id=bad.endpoint_id)  # as the admin loads it

        secret = services.endpoint_rotate_secret(endpoint=endpoint)

        self.receiver.secrets = [secret]
        delivery = self.attempt(bad)
        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        [received] = self.receiver.received
        self.assertEqual(received.verified_with, [secret])
        self.assertEqual(received.headers["webhook-signature"].count("v1,"), 1)
