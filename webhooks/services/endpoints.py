"""A team's webhook endpoints: created, changed, enabled, disabled, deleted, their secret rotated,
a test event sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from planrrr.models import Team
from webhooks.models import TEST_EVENT, Delivery, Endpoint, secret_generate
from webhooks.services.events import event_run, event_sql


def endpoint_create(*, team: Team, url: str, description: str = "", events: list[str] | None = None) -> Endpoint:
    """Create an endpoint with a fresh secret (``endpoint.secret``: show it to the user once).

    Raises ValidationError when the URL is not a public http(s) URL or an event is unknown.
    """
    endpoint = Endpoint(team=team, url=url.strip(), description=description, events=list(events or []))
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: Endpoint, **fields: Any) -> Endpoint:
    """Change an endpoint's ``url``, ``description`` or ``events`` (validated as at creation);
    ``active`` goes through endpoint_enable / endpoint_disable."""
    active = fields.pop("active", None)
    unknown = set(fields) - {"url", "description", "events"}
    if unknown:
        raise TypeError(f"endpoint_update() got unexpected fields {sorted(unknown)}")
    for name, value in fields.items():
        setattr(endpoint, name, value.strip() if name == "url" else value)
    endpoint.full_clean()
    endpoint.save(update_fields=[*fields, "updated_at"])
    if active is True and not endpoint.active:
        endpoint_enable(endpoint=endpoint)
    elif active is False and endpoint.active:
        endpoint_disable(endpoint=endpoint, reason=f"Disabled through the API on {timezone.now():%Y-%m-%d %H:%M} UTC.")
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete an endpoint with its deliveries (the events stay for the other endpoints)."""
    Endpoint.objects.filter(pk=endpoint.pk).delete()


def endpoint_rotate_secret(*, endpoint: Endpoint, overlap: timedelta | None = None) -> str:
    """Give the endpoint a new secret and return it (show it once).

    During ``overlap`` (``WEBHOOK_SECRET_ROTATION_OVERLAP``, a day by default) every
    delivery carries two signatures, one per secret, so the receiver can switch when it
    likes; after it only the new secret signs.
    """
    if overlap is None:
        overlap = timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_OVERLAP)
    new_secret = secret_generate()
    try:
        current = endpoint.secret
    except ValueError:  # cannot be decrypted: rotating is the way out, with no overlap
        current = ""
    endpoint.previous_secret = current or ""
    endpoint.previous_secret_expires_at = timezone.now() + overlap if current else None
    endpoint.secret = new_secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return new_secret


def endpoint_enable(*, endpoint: Endpoint) -> None:
    """Send to the endpoint again; its failure record starts afresh."""
    Endpoint.objects.filter(id=endpoint.id).update(
        active=True, disabled_reason="", failing_since=None, updated_at=timezone.now()
    )


def endpoint_disable(*, endpoint: Endpoint, reason: str) -> None:
    """Stop sending to the endpoint; pending deliveries fail at their next attempt."""
    Endpoint.objects.filter(id=endpoint.id).update(active=False, disabled_reason=reason, updated_at=timezone.now())


def endpoint_send_test_event(*, endpoint: Endpoint) -> Delivery:
    """Send a ``webhook.test`` event to this endpoint only, whatever it subscribes to."""
    event = event_run(
        event_sql(
            team_id=endpoint.team_id,
            event=TEST_EVENT,
            data={"endpointId": endpoint.id, "message": "A test event sent from the planrrr admin."},
            endpoint_ids=[endpoint.id],
        )
    )
    return event.deliveries.get()
