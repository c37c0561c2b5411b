"""Old events are counted into DeliveryRollup and deleted; the webhook counters read the same."""

from datetime import timedelta

from django.utils import timezone

from devtools.receiver import Answer
from publishing import selectors
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, DeliveryRollup, Event
from webhooks.tests.base import BaseTestCase


class RetentionTests(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.endpoint()

    def delivered(self, *, days: float, ok: bool = True) -> Event:
        """An event of ``days`` ago whose one delivery ended: a 500, then a 200 (or another 500,
        and the delivery gave up)."""
        self.receiver.answer(Answer(500), Answer(200 if ok else 500))
        event = self.record()
        delivery = event.deliveries.get()
        self.attempt(delivery)
        self.make_due(delivery)
        delivery = self.attempt(delivery)
        if not ok:
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
        Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=days))
        return event

    def figures(self) -> tuple:
        return selectors.webhook_summary(), selectors.webhook_attempt_counts()

    def test_old_ended_events_are_counted_then_deleted(self):
        old_ok, old_failed = self.delivered(days=40), self.delivered(days=40, ok=False)
        recent = self.delivered(days=1)
        pending = self.record()
        Event.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(days=40))
        before = self.figures()

        self.assertEqual(services.events_prune(), 2)

        self.assertEqual(set(Event.objects.values_list("pk", flat=True)), {recent.pk, pending.pk})
        self.assertFalse(Delivery.objects.filter(event_id__in=[old_ok.pk, old_failed.pk]).exists())
        self.assertFalse(DeliveryAttempt.objects.filter(delivery__event_id__in=[old_ok.pk, old_failed.pk]).exists())
        rollup = DeliveryRollup.objects.get()
        self.assertEqual((rollup.deliveries_succeeded, rollup.deliveries_failed), (1, 1))
        self.assertEqual((rollup.attempts_succeeded, rollup.attempts_failed), (1, 3))
        self.assertEqual(self.figures(), before)
        self.assertEqual(services.events_prune(), 0)

    def test_a_later_prune_of_the_same_hour_adds_to_its_rollup(self):
        first = self.delivered(days=40)
        services.events_prune()
        second = self.delivered(days=40)
        Event.objects.filter(pk=second.pk).update(created_at=DeliveryRollup.objects.get().hour)
        before = self.figures()

        self.assertEqual(services.events_prune(), 1)

        rollup = DeliveryRollup.objects.get()
        self.assertEqual((rollup.deliveries_succeeded, rollup.attempts_succeeded, rollup.attempts_failed), (2, 2, 2))
        self.assertEqual(self.figures(), before)
        self.assertFalse(Event.objects.filter(pk__in=[first.pk, second.pk]).exists())
