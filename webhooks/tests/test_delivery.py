import threading
import time
from datetime import timedelta
from unittest import mock

from django.test import override_settings
from django.utils import timezone
from urllib3.exceptions import ProtocolError

from devtools.receiver import Answer, closed_port_url
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Endpoint
from webhooks.services import outcomes
from webhooks.tests.base import BaseTestCase

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


@override_settings(WEBHOOK_RETRY_SCHEDULE=SCHEDULE)
class DeliveryAttemptTests(BaseTestCase):
    def delivery(self, **endpoint_fields) -> Delivery:
        self.endpoint(**endpoint_fields)
        return self.record().deliveries.get()

    def test_it_posts_the_stored_bytes_signed_per_standard_webhooks(self):
        delivery = self.attempt(self.delivery())

        [received] = self.receiver.received
        self.assertEqual(received.body, delivery.event.body)
        self.assertEqual(received.verified_with, self.receiver.secrets)
        self.assertEqual(received.webhook_id, delivery.event_id)
        self.assertAlmostEqual(int(received.headers["webhook-timestamp"]), time.time(), delta=5)
        self.assertRegex(received.headers["webhook-signature"], r"^v1,[A-Za-z0-9+/]+=*$")
        self.assertEqual(received.headers["content-type"], "application/json")
        self.assertTrue(received.headers["user-agent"].startswith("planrrr-webhooks/"))
        self.assertEqual(received.json["data"]["externalId"], "123_456")

        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        self.assertEqual((delivery.attempt_count, delivery.last_status_code, delivery.next_attempt_at), (1, 200, None))
        [attempt] = delivery.attempts.all()
        self.assertEqual((attempt.number, attempt.succeeded, attempt.status_code), (1, True, 200))
        self.assertEqual((attempt.response_excerpt, attempt.error), ("ok", ""))
        self.assertIsNotNone(attempt.latency_ms)

    def test_it_retries_a_500_with_the_same_webhook_id_and_logs_both_attempts(self):
        self.receiver.answer(Answer(500, body=b"database down"))
        delivery = self.delivery()

        started = timezone.now()
        delivery = self.attempt(delivery)
        self.assertEqual(delivery.status, Delivery.Status.PENDING)
        self.assertEqual(delivery.last_error, "The receiver answered 500 Internal Server Error.")
        # About 5 s later, with jitter, scheduled in RQ (whole seconds, never early).
        wait = delivery.next_attempt_at - started
        self.assertTrue(timedelta(seconds=4.5) <= wait <= timedelta(seconds=6), wait)
        scheduled = self.scheduled_at(delivery.job_id)
        self.assertTrue(delivery.next_attempt_at <= scheduled < delivery.next_attempt_at + timedelta(seconds=1))

        self.attempt(delivery)  # not due yet: nothing happens
        self.assertEqual(len(self.receiver.received), 1)

        self.make_due(delivery)
        delivery = self.attempt(delivery)
        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        first, second = self.receiver.received
        self.assertEqual(first.webhook_id, second.webhook_id)
        self.assertEqual(second.verified_with, self.receiver.secrets)
        attempts = list(delivery.attempts.values_list("number", "status_code", "succeeded", "response_excerpt"))
        self.assertEqual(attempts, [(1, 500, False, "database down"), (2, 200, True, "ok")])

    def test_it_schedules_every_retry_per_the_schedule_then_fails_when_the_receiver_is_down(self):
        delivery = self.delivery(url=closed_port_url())
        for number, delay in enumerate([*SCHEDULE, None], start=1):
            before = timezone.now()
            delivery = self.attempt(delivery)
            self.assertEqual(delivery.attempt_count, number)
            if delay is None:
                break
            self.assertEqual(delivery.status, Delivery.Status.PENDING)
            wait = (delivery.next_attempt_at - before).total_seconds()
            self.assertTrue(0.9 * delay - 1 <= wait <= 1.1 * delay + 1, f"retry {number} after {wait}s, not ~{delay}s")
            self.assertGreaterEqual(self.scheduled_at(delivery.job_id), delivery.next_attempt_at)
            self.make_due(delivery)

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertIsNone(delivery.next_attempt_at)
        self.assertIn("Could not connect", delivery.last_error)
        self.assertIn("Gave up after 8 attempts.", delivery.last_error)
        self.assertEqual(delivery.attempts.count(), 8)
        self.assertFalse(delivery.attempts.filter(succeeded=True).exists())
        self.assertTrue(all("Could not connect" in a.error for a in delivery.attempts.all()))
        self.assertIsNotNone(Endpoint.objects.get().failing_since)

    def test_it_honours_retry_after_on_429_and_503(self):
        for status, retry_after in [(429, "120"), (503, "90")]:
            with self.subTest(status=status):
                Endpoint.objects.update(active=False)
                self.receiver.answer(Answer(status, headers={"Retry-After": retry_after}))
                delivery = self.delivery(url=f"{self.receiver.url}?{status}")
                before = timezone.now()
                delivery = self.attempt(delivery)
                wait = (delivery.next_attempt_at - before).total_seconds()
                self.assertAlmostEqual(wait, int(retry_after), delta=1.5)

    def test_it_disables_the_endpoint_on_410(self):
        self.receiver.answer(Answer(410, body=b"gone"))
        with self.assertLogs("planrrr.webhooks", "WARNING"):
            delivery = self.attempt(self.delivery())

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        endpoint = Endpoint.objects.get()
        self.assertFalse(endpoint.active)
        self.assertIn("410 Gone", endpoint.disabled_reason)
        self.assertIn("The endpoint was disabled", delivery.last_error)
        # Later events are not recorded for it.
        self.assertIsNone(self.record())

    def test_it_disables_an_endpoint_that_has_been_failing_for_days(self):
        self.receiver.answer(Answer(500))
        delivery = self.delivery()
        Endpoint.objects.update(failing_since=timezone.now() - timedelta(days=5, minutes=1))

        with self.assertLogs("planrrr.webhooks", "WARNING"):
            delivery = self.attempt(delivery)

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        endpoint = Endpoint.objects.get()
        self.assertFalse(endpoint.active)
        self.assertIn("more than 5 days): disabled automatically", endpoint.disabled_reason)

    def test_it_forgets_past_failures_after_a_success(self):
        delivery = self.delivery()
        Endpoint.objects.update(failing_since=timezone.now() - timedelta(days=4))
        self.attempt(delivery)
        self.assertIsNone(Endpoint.objects.get().failing_since)

    def test_it_does_not_follow_redirects(self):
        self.receiver.answer(Answer(302, headers={"Location": self.receiver.url + "/elsewhere"}))
        delivery = self.attempt(self.delivery())
        self.assertEqual(len(self.receiver.received), 1)
        self.assertEqual((delivery.status, delivery.last_status_code), (Delivery.Status.PENDING, 302))

    def test_it_reads_at_most_an_excerpt_of_the_answer(self):
        self.receiver.answer(Answer(200, body=b"x" * 1_000_000))
        delivery = self.attempt(self.delivery())
        self.assertEqual(len(delivery.attempts.get().response_excerpt), outcomes.RESPONSE_EXCERPT_BYTES)

    def test_it_keeps_the_status_when_the_answer_breaks_off(self):
        broken = mock.patch("urllib3.response.HTTPResponse.read", side_effect=ProtocolError("Connection broken"))
        with broken:
            delivery = self.attempt(self.delivery())
        self.assertEqual(delivery.status, Delivery.Status.SUCCEEDED)
        excerpt = delivery.attempts.get().response_excerpt
        self.assertEqual(excerpt, "(the answer could not be read: Connection broken)")

    @override_settings(WEBHOOK_TIMEOUT=(1, 0.2))
    def test_it_gives_up_on_a_slow_receiver_after_the_read_timeout(self):
        hold = threading.Event()
        self.addCleanup(hold.set)
        self.receiver.answer(Answer(200, hold=hold))
        delivery = self.attempt(self.delivery())
        self.assertEqual(delivery.status, Delivery.Status.PENDING)
        self.assertIn("Timed out (connect 1 s, read 0.2 s)", delivery.last_error)

    def test_it_sends_nothing_to_a_disabled_endpoint(self):
        delivery = self.delivery()
        services.endpoint_disable(endpoint=delivery.endpoint, reason="paused by Ann")
        delivery = self.attempt(delivery)
        self.assertEqual(self.receiver.received, [])
        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertEqual(delivery.attempts.get().error, "Not sent: the endpoint is disabled (paused by Ann).")

    def test_it_checks_the_url_again_at_every_attempt(self):
        delivery = self.delivery()
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False):
            delivery = self.attempt(delivery)
        self.assertEqual(self.receiver.received, [])
        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertIn("Not sent: The URL's host 127.0.0.1 is a loopback address", delivery.last_error)

    def test_it_retries_when_the_host_does_not_resolve(self):
        delivery = self.delivery()
        Endpoint.objects.update(url="http://hooks.invalid/x")  # the name was deleted from DNS since
        delivery = self.attempt(delivery)
        self.assertEqual(delivery.status, Delivery.Status.PENDING)
        self.assertIn("could not be resolved", delivery.last_error)

    def test_it_does_nothing_when_run_again_after_success(self):
        delivery = self.attempt(self.delivery())
        self.attempt(delivery)
        self.assertEqual(len(self.receiver.received), 1)
        self.assertEqual(DeliveryAttempt.objects.count(), 1)

    def test_it_records_an_unexpected_error_and_retries(self):
        delivery = self.delivery()
        with mock.patch("webhooks.services.delivery.public_session", side_effect=RuntimeError("boom")):
            with self.assertLogs("planrrr.webhooks", "ERROR"):
                delivery = self.attempt(delivery)
        self.assertEqual(delivery.status, Delivery.Status.PENDING)
        self.assertEqual(delivery.attempts.get().error, "Internal error while sending: RuntimeError('boom')")
