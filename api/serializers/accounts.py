"""The team's connected accounts and the key's own view of itself (/me)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.models import Connection

# --- connections -----------------------------------------------------------------------------


class ConnectionSerializer(serializers.ModelSerializer):
    """What an account is, never its tokens."""

    accountId = serializers.CharField(source="account_id", read_only=True)
    statusDetail = serializers.CharField(source="status_detail", read_only=True)
    expiresAt = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Connection
        fields = ["id", "platform", "name", "accountId", "status", "statusDetail", "expiresAt", "createdAt"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_expiresAt(self, obj):  # noqa: N802 - the JSON name
        # Connection.expires_at comes with the OAuth connect flows; until then: unknown (null).
        value = getattr(obj, "expires_at", None)
        return serializers.DateTimeField().to_representation(value) if value else None


# --- me ----------------------------------------------------------------------------------------


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    timezone = serializers.CharField()


class KeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    team = TeamSerializer()
    key = KeySerializer()
    role = serializers.CharField()
