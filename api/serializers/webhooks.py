"""Webhook endpoints, their deliveries and attempts as the API shows and takes them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.fields import (
    HTTP_URL,
    StrictSerializer,
    Text,
)
from webhooks.models import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint

# --- webhooks --------------------------------------------------------------------------------


class EndpointSerializer(serializers.ModelSerializer):
    disabledReason = serializers.CharField(source="disabled_reason", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Endpoint
        fields = ["id", "url", "description", "events", "active", "disabledReason", "createdAt", "updatedAt"]
        read_only_fields = fields


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret: shown in this answer only.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}})
class EventsField(serializers.ListField):
    """Event names; the model names the unknown ones."""


@extend_schema_field(HTTP_URL)
class UrlText(Text):
    """An http(s) URL; the model checks where it leads."""


class EndpointWriteSerializer(StrictSerializer):
    """A webhook endpoint: where events go, and which."""

    url = UrlText(max_length=2_000, help_text="An http(s) URL reachable from the internet.")
    description = Text(required=False, allow_blank=True, default="", max_length=200)
    events = EventsField(child=Text(), required=False, default=list, help_text="None means every event.")
    active = serializers.BooleanField(required=False, help_text="false stops deliveries; true starts them again.")


class EndpointPatchSerializer(EndpointWriteSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret; the old one signs too for a day.")


class AttemptSerializer(serializers.ModelSerializer):
    statusCode = serializers.IntegerField(source="status_code", read_only=True, allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms", read_only=True, allow_null=True)
    responseExcerpt = serializers.CharField(source="response_excerpt", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "succeeded", "statusCode", "latencyMs", "responseExcerpt", "error", "createdAt"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    eventId = serializers.CharField(source="event_id", read_only=True)
    eventType = serializers.CharField(source="event.type", read_only=True)
    endpointId = serializers.IntegerField(source="endpoint_id", read_only=True)
    attemptCount = serializers.IntegerField(source="attempt_count", read_only=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", read_only=True, allow_null=True)
    lastStatusCode = serializers.IntegerField(source="last_status_code", read_only=True, allow_null=True)
    lastError = serializers.CharField(source="last_error", read_only=True)
    redeliveryOf = serializers.IntegerField(source="redelivery_of_id", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "eventId",
            "eventType",
            "endpointId",
            "status",
            "attemptCount",
            "nextAttemptAt",
            "lastStatusCode",
            "lastError",
            "redeliveryOf",
            "createdAt",
            "attempts",
        ]
        read_only_fields = fields
