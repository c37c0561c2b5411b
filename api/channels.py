"""Channels: the team's connected accounts as the places a post goes to (``Post.channels``).

A channel is a Connection (one account); its id is the connection's. Read-only here: accounts
are connected and reconnected through the connect flows (a reconnect updates the same channel).
Its queue and posting slots are api/queue.py's (``/channels/{id}/slots``, ``…/queue``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from api.queries import PLATFORM_FILTER, choice_filter
from api.queue import SlotSerializer
from api.views import TeamScoped
from connections.models import Connection, Platform
from publishing import rules


class ChannelSerializer(serializers.ModelSerializer):
    """An account a post can go to: what pickers show (its name, picture and platform) and
    whether it can publish now (``status``: ACTIVE; EXPIRED or REVOKED until reconnected)."""

    avatarUrl = serializers.CharField(
        source="avatar_url", read_only=True, help_text="The account's picture, or empty where the platform gives none."
    )
    statusDetail = serializers.CharField(source="status_detail", read_only=True)
    queuePaused = serializers.BooleanField(
        source="queue_paused", read_only=True, help_text="Its queue holds its posts (POST …/queue/resume)."
    )
    slots = serializers.SerializerMethodField(help_text="Its weekly posting slots, in the team's zone (…/slots).")

    class Meta:
        model = Connection
        fields = ["id", "platform", "name", "avatarUrl", "status", "statusDetail", "queuePaused", "slots"]
        read_only_fields = fields

    @extend_schema_field(SlotSerializer(many=True))
    def get_slots(self, obj: Connection) -> list[dict]:
        slots = sorted(obj.slots.all(), key=lambda slot: (slot.weekday, slot.time))
        return SlotSerializer([{"weekday": s.weekday, "time": s.time} for s in slots], many=True).data


@extend_schema(tags=["channels"])
@extend_schema_view(
    list=extend_schema(
        description="The team's channels (connected accounts), newest first.", parameters=[PLATFORM_FILTER]
    ),
    retrieve=extend_schema(description="One channel of the team."),
)
class ChannelViewSet(TeamScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ChannelSerializer
    queryset = Connection.objects.none()

    def get_queryset(self):
        rows = Connection.objects.filter(team=self.team).prefetch_related("slots")
        if self.action == "list":
            if platform := choice_filter(self.request, "platform", Platform.values, rules.unknown_platform):
                rows = rows.filter(platform=platform)
        return rows
