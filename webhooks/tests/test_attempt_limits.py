"""Every attempt ends: whatever the receiver answers, and whatever happens to the worker, a
delivery ends FAILED at the attempt limit instead of starting again for ever."""

from datetime import timedelta
from unittest import mock

import requests
from django.test import override_settings
from django.utils import timezone

from devtools.receiver import Answer
from planrrr.text import MAX_WAIT
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import outcomes
from webhooks.tests.base import BaseTestCase

SCHEDULE = [1, 2, 3]
ATTEMPTS = len(SCHEDULE) + 1


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the attempt catches it."""


@override_settings(WEBHOOK_RETRY_SCHEDULE=SCHEDULE)
class AttemptLimitTests(BaseTestCase):
    def delivery(self) -> Delivery:
        self.endpoint()
        return self.record().deliveries.get()

    def run_until_it_ends(self, delivery: Delivery, *, rounds: int = 3 * ATTEMPTS) -> Delivery:
        """Run the job as often as a sweep would (lease or retry wait over each time), boundedly."""
        for _ in range(rounds):
            delivery = self.attempt(delivery)
            if delivery.status != Delivery.Status.PENDING:
                return delivery
            self.make_due(delivery)
        self.fail(f"delivery still {delivery.status} after {rounds} rounds ({delivery.attempt_count} attempts)")

    def assertStorable(self, *texts: str) -> None:
        for text in texts:
            self.assertNotIn("\x00", text)
            text.encode("utf-8")  # no lone surrogate

    def test_it_ends_failed_at_the_limit_when_the_receiver_answers_a_nul_byte(self):
        self.receiver.answer(*[Answer(500, body=b"database \x00 down") for _ in range(3 * ATTEMPTS)])

        delivery = self.run_until_it_ends(self.delivery())

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertEqual(len(self.receiver.received), ATTEMPTS)
        self.assertEqual(delivery.attempt_count, ATTEMPTS)
        self.assertIn(f"Gave up after {ATTEMPTS} attempts.", delivery.last_error)
        for attempt in delivery.attempts.all():
            self.assertEqual(attempt.status_code, 500)
            self.assertEqual(attempt.response_excerpt, "database \N{REPLACEMENT CHARACTER} down")
            self.assertStorable(attempt.error, attempt.response_excerpt)

    def test_it_stores_invalid_utf8_and_encoded_surrogates_from_the_receiver(self):
        self.receiver.answer(Answer(500, body=b"bad \xff\xfe and \xed\xa0\x80 here"))

        delivery = self.attempt(self.delivery())

        self.assertEqual((delivery.status, delivery.attempt_count), (Delivery.Status.PENDING, 1))
        excerpt = delivery.attempts.get().response_excerpt
        self.assertTrue(excerpt.startswith("bad "), excerpt)
        self.assertStorable(excerpt)

    def test_it_records_an_attempt_whose_answer_has_absurd_headers(self):
        self.endpoint()
        absurd = [
            {"X-Junk": "a" * 70_000},  # longer than http.client reads in one header line
            {f"X-Junk-{n}": "a" for n in range(150)},  # more headers than http.client accepts
        ]
        for headers in absurd:
            with self.subTest(headers=len(headers)):
                self.receiver.answer(Answer(500, headers=headers))
                delivery = self.attempt(self.record().deliveries.get())

                self.assertEqual((delivery.status, delivery.attempt_count), (Delivery.Status.PENDING, 1))
                error = delivery.attempts.get().error
                self.assertNotEqual(error, DeliveryAttempt.INTERRUPTED)
                self.assertLessEqual(len(error), 2000)

    def test_it_stores_an_error_text_holding_a_lone_surrogate_or_a_nul_byte(self):
        delivery = self.delivery()
        # requests quotes what it was given (a URL, an answer) in its exception text.
        error = requests.ConnectionError("bad \ud800 and \x00 text")
        with mock.patch("webhooks.services.delivery.public_session", side_effect=error):
            delivery = self.attempt(delivery)

        self.assertEqual((delivery.status, delivery.attempt_count), (Delivery.Status.PENDING, 1))
        self.assertIn("bad \N{REPLACEMENT CHARACTER} and \N{REPLACEMENT CHARACTER} text", delivery.last_error)
        self.assertStorable(delivery.last_error, delivery.attempts.get().error)

    def test_it_clamps_an_absurd_retry_after_in_seconds_and_as_a_date(self):
        self.endpoint()
        for value in ["999999999999", "9" * 40, "Fri, 31 Dec 9999 23:59:59 GMT"]:
            with self.subTest(retry_after=value):
                self.receiver.answer(Answer(503, headers={"Retry-After": value}, body=b"busy"))
                delivery = self.record().deliveries.get()
                before = timezone.now()

                with self.assertLogs("planrrr.text", "WARNING"):
                    delivery = self.attempt(delivery)

                self.assertEqual(delivery.status, Delivery.Status.PENDING)
                # Never beyond the longest step of the schedule (nor planrrr.text.MAX_WAIT).
                wait = delivery.next_attempt_at - before
                self.assertLessEqual(wait, min(timedelta(seconds=max(SCHEDULE) + 1), MAX_WAIT))

    def test_it_counts_attempts_recovered_from_a_dead_worker_and_ends_failed_at_the_limit(self):
        delivery = self.delivery()
        # Each time the request goes out, then the worker dies before it records the answer;
        # the lease runs out and the sweep starts the attempt again.
        with mock.patch("webhooks.services.delivery.record", side_effect=WorkerKilled):
            for _ in range(ATTEMPTS):
                with self.assertRaises(WorkerKilled):
                    self.attempt(delivery)
                self.make_due(delivery)

        with self.assertLogs("planrrr.webhooks", "WARNING"):
            delivery = self.attempt(delivery)

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertEqual(len(self.receiver.received), ATTEMPTS)
        self.assertEqual(
            delivery.last_error,
            f"Gave up after {ATTEMPTS} attempts; the last was interrupted (worker lost or outcome could not be "
            "recorded). Check the worker logs and the receiver, then redeliver.",
        )
        self.assertIsNone(delivery.next_attempt_at)
        errors = set(delivery.attempts.values_list("error", flat=True))
        self.assertEqual(errors, {DeliveryAttempt.INTERRUPTED})
        # Ended: nothing more happens, however often the job runs.
        self.make_due(delivery)
        self.assertEqual(self.attempt(delivery).status, Delivery.Status.FAILED)
        self.assertEqual(len(self.receiver.received), ATTEMPTS)

    def test_it_leaves_an_exhausted_delivery_alone_while_its_last_attempt_holds_the_lease(self):
        delivery = self.delivery()
        Delivery.objects.filter(id=delivery.id).update(
            attempt_count=ATTEMPTS, next_attempt_at=timezone.now() + timedelta(minutes=1)
        )
        self.assertEqual(self.attempt(delivery).status, Delivery.Status.PENDING)
        self.assertEqual(self.receiver.received, [])

    def test_it_writes_a_minimal_outcome_when_the_full_one_cannot_be_written(self):
        self.receiver.answer(Answer(500, body=b"database \x00 down"))
        delivery = self.delivery()

        # As if making the answer storable were forgotten: PostgreSQL refuses the NUL byte.
        with mock.patch("webhooks.services.outcomes.safe", side_effect=lambda text, *a, **k: text):
            with self.assertLogs("planrrr.webhooks", "ERROR") as logs:
                delivery = self.attempt(delivery)

        self.assertIn("could not record the outcome of webhook delivery", logs.output[0])
        self.assertEqual((delivery.status, delivery.attempt_count), (Delivery.Status.PENDING, 1))
        self.assertIsNotNone(self.scheduled_at(delivery.job_id))
        self.assertEqual(delivery.last_error, outcomes.UNRECORDABLE)
        self.assertEqual(delivery.attempts.get().error, outcomes.UNRECORDABLE)

    def test_it_ends_failed_with_a_minimal_outcome_on_the_last_attempt(self):
        delivery = self.delivery()
        Delivery.objects.filter(id=delivery.id).update(attempt_count=ATTEMPTS - 1)
        self.receiver.answer(Answer(500, body=b"\x00"))

        with mock.patch("webhooks.services.outcomes.safe", side_effect=lambda text, *a, **k: text):
            with self.assertLogs("planrrr.webhooks", "ERROR"):
                delivery = self.attempt(delivery)

        self.assertEqual(delivery.status, Delivery.Status.FAILED)
        self.assertEqual(delivery.last_error, f"{outcomes.UNRECORDABLE} Gave up after {ATTEMPTS} attempts.")
