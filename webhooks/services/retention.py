"""Retention: events older than WEBHOOK_RETENTION_HOURS deleted once every delivery of theirs has
ended, their counts kept in DeliveryRollup (so the counters never go back, whatever deletes rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from webhooks.models import Delivery, DeliveryAttempt, DeliveryRollup, Endpoint, Event


def events_prune(now: datetime | None = None, *, batch: int = 1000) -> int:
    """Delete the events older than WEBHOOK_RETENTION_HOURS whose deliveries have all ended,
    after counting their deliveries and attempts into DeliveryRollup (one transaction a batch,
    oldest first). Events with a delivery still pending stay. Returns the events deleted."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.WEBHOOK_RETENTION_HOURS)
    ended = Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    with transaction.atomic():
        ids = list(ended.order_by("created_at").values_list("id", flat=True)[:batch])
        if not ids:
            return 0
        deliveries_roll_up(Delivery.objects.filter(event_id__in=ids))
        # Their deliveries and attempts go with them (CASCADE).
        Event.objects.filter(id__in=ids).delete()
    return len(ids)


def deliveries_roll_up(deliveries: QuerySet[Delivery]) -> None:
    """Count ``deliveries`` (those that ended) and all their attempts into DeliveryRollup, just
    before they are deleted: the webhook counters are the rows kept plus the rollups, so they
    never go back, whatever deletes the rows (retention, an endpoint or a team deleted)."""
    counts: dict[tuple, dict[str, int]] = {}
    ended = (
        deliveries.filter(status__in=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED])
        .values_list(TruncHour("event__created_at"), "event__type", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for hour, event_type, status, n in ended:
        name = "deliveries_succeeded" if status == Delivery.Status.SUCCEEDED else "deliveries_failed"
        _add(counts, hour, event_type, name, n)
    attempts = (
        DeliveryAttempt.objects.filter(delivery__in=deliveries.values("pk"))
        .values_list(TruncHour("delivery__event__created_at"), "delivery__event__type", "succeeded")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for hour, event_type, succeeded, n in attempts:
        _add(counts, hour, event_type, "attempts_succeeded" if succeeded else "attempts_failed", n)
    for (hour, event_type), added in counts.items():
        rollup = DeliveryRollup.objects.filter(hour=hour, event_type=event_type)
        if not rollup.update(**{name: F(name) + n for name, n in added.items()}):
            DeliveryRollup.objects.create(hour=hour, event_type=event_type, **added)


def on_endpoint_delete(sender, instance: Endpoint, **kwargs) -> None:
    """pre_delete of an Endpoint (alone, or with its team): its deliveries go with it (CASCADE),
    their counts stay. Every delivery has one endpoint, so each is counted once."""
    deliveries_roll_up(Delivery.objects.filter(endpoint=instance))


def _add(counts: dict, hour, event_type: str, name: str, n: int) -> None:
    row = counts.setdefault((hour, event_type), {})
    row[name] = row.get(name, 0) + n
