"""Webhook endpoints of a team, the events recorded for them, and every delivery attempt.

An Event holds the exact bytes that are signed and sent (serialised once, when the event
is recorded). A Delivery is one event on its way to one endpoint; a DeliveryAttempt is
one HTTP request of it, logged whatever happened.
"""

import base64
import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from planrrr.crypto import EncryptedTextField, mask
from planrrr.models import Team
from planrrr.urlsafety import UnsafeURL, check_public_url

# The events a team can subscribe to (docs/webhooks.md), with what they mean.
EVENT_TYPES = {
    "post.published": "A post went out on one platform (one per publication).",
    "post.failed": "A post failed on one platform for good (one per publication).",
    "post.completed": "Every platform of a post is done; carries the post's final status.",
    "connection.expired": "A connected account's token expired or was revoked: reconnect it.",
    "connection.expiring": "A connected account's token cannot be renewed and expires soon: reconnect it.",
    "connection.connected": "An account was connected, or reconnected, through the connect flow.",
    "post.comment_failed": "A post went out but its first comment could not be posted (after its retries).",
    "post.submitted": "A post was submitted for review (or sent back to review by an edit).",
    "post.approved": "A post in review was approved by an admin or owner: it is scheduled.",
    "post.rejected": "A post in review was rejected with a note: it is a draft again.",
    "post.analytics_available": "A published post's engagement figures were first read (one per publication).",
}
# Shown instead of a secret that cannot be decrypted (or is empty): deliveries cannot be signed.
UNREADABLE_SECRET = "(cannot be read: rotate the secret)"
# Sent only by the admin's "send test event", to the chosen endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"


def secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Endpoint(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(
        "URL", max_length=2000, help_text="Where events are POSTed: an http(s) URL reachable from the internet."
    )
    description = models.CharField(max_length=200, blank=True)
    events = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        help_text="The events sent to this endpoint; none chosen means all of them.",
    )
    # Signing secret, encrypted at rest; shown in clear once, when it is created.
    secret = EncryptedTextField(default=secret_generate)
    # After a rotation the old secret keeps signing too (a second signature) until this time.
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, help_text="Why the endpoint was disabled, and when.")
    # Start of the current run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["team", "active"])]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        errors = {}
        try:
            check_public_url(self.url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_URLS)
        except UnsafeURL as err:
            errors["url"] = str(err)
        unknown = sorted(set(self.events) - set(EVENT_TYPES))
        if unknown:
            errors["events"] = f"Unknown event(s): {', '.join(unknown)}. Choose among {', '.join(EVENT_TYPES)}."
        if errors:
            raise ValidationError(errors)

    @property
    def masked_secret(self) -> str:
        secret = _readable(self, "secret")
        return mask(secret) if secret else UNREADABLE_SECRET

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one during
        its overlap. Empty when the current one cannot be read: nothing can be signed.

        A secret planrrr.crypto cannot decrypt reads as an empty string (or raises ValueError, as
        older versions did). A previous secret that cannot be read is left out: the current one
        still signs."""
        now = now or timezone.now()
        current, previous = _readable(self, "secret"), _readable(self, "previous_secret")
        if not current:
            return []
        if previous and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [current, previous]
        return [current]


def _readable(endpoint: Endpoint, field: str) -> str:
    try:
        return getattr(endpoint, field) or ""
    except ValueError:  # planrrr.crypto could not decrypt it
        return ""


class Event(models.Model):
    # The message id: the body's "id" and the webhook-id header, stable across retries
    # and redeliveries so receivers can deduplicate on it.
    id = models.CharField(primary_key=True, max_length=40, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=50, db_index=True)
    # The exact JSON bytes that are signed and sent.
    payload = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def body(self) -> bytes:
        return bytes(self.payload)


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # When the next attempt is due (PENDING), or until when the running attempt holds it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    job_id = models.CharField(max_length=64, blank=True, help_text="The RQ job that makes the next attempt.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    redelivery_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="redeliveries"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of {self.event_id} to {self.endpoint_id}"


class DeliveryAttempt(models.Model):
    # Written before the request is sent; a row still holding this error means the worker
    # stopped during the attempt (killed, timed out) and nothing was recorded.
    INTERRUPTED = "No outcome recorded: the worker stopped during this attempt."

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_number")]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}"


class DeliveryRollup(models.Model):
    """The deliveries and attempts of the events of one hour and type, counted once those events
    are older than WEBHOOK_RETENTION_HOURS and every delivery of theirs has ended; the events
    (their deliveries and attempts with them) are then deleted. The webhook counters are these
    plus the rows kept, so they never go back."""

    hour = models.DateTimeField()
    event_type = models.CharField(max_length=50)
    deliveries_succeeded = models.PositiveIntegerField(default=0)
    deliveries_failed = models.PositiveIntegerField(default=0)
    attempts_succeeded = models.PositiveIntegerField(default=0)
    attempts_failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "event_type"], name="delivery_rollup_unique")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.event_type}"
