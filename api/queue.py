"""Posting slots and queues over HTTP (docs/api.md, "Queues"): a channel's weekly slots, its queue
(pause, resume, shuffle), and a post's place in the queues (add, move to top, remove). Thin views
over publishing.services.queue; a channel is a Connection of the key's team (another team's id is
a 404)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from api.serializers import PostSerializer, StrictSerializer
from api.views import TeamScoped
from connections.models import Connection
from publishing import services
from publishing.models import Post

# --- serializers -----------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "09:00"})
class LocalTime(serializers.TimeField):
    """HH:MM, a wall-clock time (OpenAPI's ``format: time`` is RFC 3339's, with seconds and an
    offset: not what a slot is)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)


class SlotSerializer(StrictSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 Monday … 6 Sunday.")
    time = LocalTime(
        help_text="Wall-clock time in the team's zone (HH:MM); it stays that local time across DST changes."
    )


class SlotsSerializer(StrictSerializer):
    slots = SlotSerializer(many=True, max_length=7 * 24 * 4, help_text="Every weekly slot of the channel.")


class SlotsAnswerSerializer(serializers.Serializer):
    channelId = serializers.IntegerField()
    timezone = serializers.CharField(help_text="The team's zone, in which the times are read.")
    slots = SlotSerializer(many=True)


class QueuedSerializer(serializers.Serializer):
    postId = serializers.IntegerField()
    publicationId = serializers.IntegerField()
    position = serializers.IntegerField()
    scheduledAt = serializers.DateTimeField(allow_null=True, help_text="Its slot; null while the queue is paused.")
    content = serializers.CharField()


class QueueSerializer(serializers.Serializer):
    channelId = serializers.IntegerField()
    paused = serializers.BooleanField()
    timezone = serializers.CharField()
    queued = QueuedSerializer(many=True, help_text="The queued posts not yet started, in order.")
    freeSlots = serializers.ListField(
        child=serializers.DateTimeField(), help_text="The next free slots after the queued posts (up to 10)."
    )


def _slots(channel: Connection) -> dict:
    return {
        "channelId": channel.pk,
        "timezone": channel.team.timezone,
        "slots": [{"weekday": slot.weekday, "time": slot.time} for slot in channel.slots.order_by("weekday", "time")],
    }


def _queue(channel: Connection) -> dict:
    view = services.channel_queue(channel=channel)
    return {
        "channelId": channel.pk,
        "paused": channel.queue_paused,
        "timezone": channel.team.timezone,
        "queued": [
            {
                "postId": target.post_id,
                "publicationId": target.pk,
                "position": target.queue_position,
                "scheduledAt": target.scheduled_at,
                "content": target.post.content,
            }
            for target in view.targets
        ],
        "freeSlots": view.free,
    }


# --- views -----------------------------------------------------------------------------------


@extend_schema(tags=["channels"])
class ChannelQueueViewSet(TeamScoped, viewsets.GenericViewSet):
    """A channel's (a connected account's) weekly posting slots and its queue."""

    queryset = Connection.objects.none()
    serializer_class = QueueSerializer
    pagination_class = None

    def get_queryset(self):
        return Connection.objects.filter(team=self.team).select_related("team")

    def _manage(self) -> None:
        # Slots and pausing are the channel's settings: ADMIN and OWNER manage connections.
        if not services.is_approver(self.request.auth.member_role):
            raise PermissionDenied("Only an approve key (an admin of the team) changes a channel's slots or pauses it.")

    @extend_schema(responses=SlotsAnswerSerializer)
    def slots(self, request, pk=None):
        """The channel's weekly posting slots, in the team's zone."""
        return Response(SlotsAnswerSerializer(_slots(self.get_object())).data)

    @extend_schema(request=SlotsSerializer, responses=SlotsAnswerSerializer)
    def set_slots(self, request, pk=None):
        """Replace the channel's weekly slots (approve keys); its queued posts take the new slots."""
        channel = self.get_object()
        self._manage()
        data = SlotsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.channel_slots_set(channel=channel, slots=[dict(slot) for slot in data.validated_data["slots"]])
        return Response(SlotsAnswerSerializer(_slots(channel)).data)

    @extend_schema(responses=QueueSerializer)
    def queue(self, request, pk=None):
        """The channel's queued posts in order with their times, and its next free slots."""
        return Response(QueueSerializer(_queue(self.get_object())).data)

    @extend_schema(request=None, responses=QueueSerializer)
    def pause(self, request, pk=None):
        """Pause the queue (approve keys): its posts lose their times and nothing of it is published."""
        channel = self.get_object()
        self._manage()
        return Response(QueueSerializer(_queue(services.channel_queue_pause(channel=channel))).data)

    @extend_schema(request=None, responses=QueueSerializer)
    def resume(self, request, pk=None):
        """Resume the queue (approve keys): its posts take the next free slots from now."""
        channel = self.get_object()
        self._manage()
        return Response(QueueSerializer(_queue(services.channel_queue_resume(channel=channel))).data)

    @extend_schema(request=None, responses=QueueSerializer)
    def shuffle(self, request, pk=None):
        """Put the queued posts not yet due in a random order; they take the same slots."""
        channel = self.get_object()
        services.channel_queue_shuffle(channel=channel)
        return Response(QueueSerializer(_queue(channel)).data)


@extend_schema(tags=["posts"])
class PostQueueViewSet(TeamScoped, viewsets.GenericViewSet):
    """A post's place in its channels' queues."""

    queryset = Post.objects.none()
    serializer_class = PostSerializer
    pagination_class = None
    # What a post's state can refuse (409): only drafts and scheduled posts join a queue...
    conflicts = {"add", "top", "remove"}

    def get_queryset(self):
        return Post.objects.filter(team=self.team).select_related("team").prefetch_related("publications")

    def _answer(self, post: Post) -> Response:
        return Response(PostSerializer(self.get_queryset().get(pk=post.pk)).data)

    @extend_schema(request=None, responses=PostSerializer)
    def add(self, request, pk=None):
        """Add the post to the queue: each of its channels gives it its next free slot (one post on
        three accounts may get three times); the post is SCHEDULED at the earliest."""
        return self._answer(services.post_queue(post=self.get_object(), role=self.request.auth.member_role))

    @extend_schema(request=None, responses=PostSerializer)
    def top(self, request, pk=None):
        """Move the post to the top of its queues: it takes their next free slots."""
        return self._answer(services.post_queue_top(post=self.get_object()))

    @extend_schema(request=None, responses=PostSerializer)
    def remove(self, request, pk=None):
        """Take the post out of its queues (a DRAFT again); its slots go to the posts after it."""
        return self._answer(services.post_queue_remove(post=self.get_object()))


ID = r"(?P<pk>[0-9]{1,19})"


def urls():
    """The routes, mounted by api.urls before its catch-all."""
    from django.urls import re_path

    channel = ChannelQueueViewSet.as_view
    post = PostQueueViewSet.as_view
    return [
        re_path(rf"^channels/{ID}/slots$", channel({"get": "slots", "put": "set_slots"}), name="channel-slots"),
        re_path(rf"^channels/{ID}/queue$", channel({"get": "queue"}), name="channel-queue"),
        re_path(rf"^channels/{ID}/queue/pause$", channel({"post": "pause"}), name="channel-queue-pause"),
        re_path(rf"^channels/{ID}/queue/resume$", channel({"post": "resume"}), name="channel-queue-resume"),
        re_path(rf"^channels/{ID}/queue/shuffle$", channel({"post": "shuffle"}), name="channel-queue-shuffle"),
        re_path(rf"^posts/{ID}/queue$", post({"post": "add"}), name="post-queue"),
        re_path(rf"^posts/{ID}/queue/top$", post({"post": "top"}), name="post-queue-top"),
        re_path(rf"^posts/{ID}/queue/remove$", post({"post": "remove"}), name="post-queue-remove"),
    ]
