"""One structured line per webhook delivery attempt (planrrr.logs)."""

from devtools.receiver import Answer
from webhooks.models import Delivery
from webhooks.tests.base import BaseTestCase


class DeliveryLineTests(BaseTestCase):
    def test_it_logs_each_attempt_with_what_the_delivery_now_is(self):
        endpoint = self.endpoint()
        event = self.record()
        delivery = Delivery.objects.get(event=event)
        self.receiver.answer(Answer(status=500))

        with self.assertLogs("planrrr.webhooks", "INFO") as logged:
            self.attempt(delivery)
            self.make_due(delivery)
            self.attempt(delivery)

        lines = [r for r in logged.records if r.getMessage() == "webhook delivery"]
        self.assertEqual(
            [(r.levelname, r.outcome, r.status_code, r.attempt) for r in lines],
            [("WARNING", "RETRY", 500, 1), ("INFO", "SUCCEEDED", 200, 2)],
        )
        self.assertEqual((lines[0].delivery, lines[0].endpoint, lines[0].event), (delivery.pk, endpoint.pk, event.id))
        self.assertEqual(lines[0].event_type, "post.published")
        self.assertEqual(lines[0].error, "The receiver answered 500 Internal Server Error.")
        self.assertIsNone(lines[0].exc_info)
