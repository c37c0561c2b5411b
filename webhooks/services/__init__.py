"""Webhook writes: record events (outbox), deliver them, retry, rotate secrets, redeliver.

Delivery follows the Standard Webhooks specification (https://www.standardwebhooks.com/):
headers ``webhook-id`` (the event id, stable across retries), ``webhook-timestamp``
(fresh at each attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``, one per
secret, space-separated), signed with the ``standardwebhooks`` library.

Guarantees: at least once (a retry may repeat a request whose answer was lost; receivers
deduplicate on ``webhook-id``); no ordering between events. The database is the truth:
an event is written in the caller's transaction with one Delivery per subscribed
endpoint, its RQ job is enqueued after commit, and ``delivery_sweep`` re-enqueues any due
delivery whose job Redis no longer has.

One module per seam: ``events`` (recording, the outbox), ``delivery`` (one attempt) and
``outcomes`` (what it does to the delivery), ``recovery`` (the sweep, redelivery), ``endpoints``,
``retention``; ``queue`` (the jobs) and ``redact`` (no secret stored, logged or sent) serve them.
"""

from webhooks.services.delivery import delivery_attempt
from webhooks.services.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_disable,
    endpoint_enable,
    endpoint_rotate_secret,
    endpoint_send_test_event,
    endpoint_update,
)
from webhooks.services.events import EventSql, event_record, event_sql
from webhooks.services.outcomes import max_attempts, retry_schedule
from webhooks.services.recovery import delivery_redeliver, delivery_redeliver_failed, delivery_sweep
from webhooks.services.retention import deliveries_roll_up, events_prune, on_endpoint_delete

__all__ = [
    "EventSql",
    "deliveries_roll_up",
    "delivery_attempt",
    "delivery_redeliver",
    "delivery_redeliver_failed",
    "delivery_sweep",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_rotate_secret",
    "endpoint_send_test_event",
    "endpoint_update",
    "event_record",
    "event_sql",
    "events_prune",
    "max_attempts",
    "on_endpoint_delete",
    "retry_schedule",
]
