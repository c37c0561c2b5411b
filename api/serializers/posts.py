"""Posts and their publications as the API reads and writes them (the bulk, review, retry)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.fields import (
    MediaUrlsField,
    Rfc3339Field,
    StrictSerializer,
    Text,
    ThreadField,
    VariantsField,
    Wording,
)
from publishing import rules
from publishing.models import Post, Publication

BULK_MAX = 500


# --- posts -----------------------------------------------------------------------------------


class PublicationSerializer(serializers.ModelSerializer):
    postId = serializers.IntegerField(source="post_id", read_only=True)
    externalId = serializers.CharField(source="external_id", read_only=True)
    attemptCount = serializers.IntegerField(source="attempt_count", read_only=True)
    publishedAt = serializers.DateTimeField(source="published_at", read_only=True, allow_null=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", read_only=True, allow_null=True)
    connectionId = serializers.IntegerField(source="connection_id", read_only=True, allow_null=True)
    channelId = serializers.IntegerField(
        source="connection_id",
        read_only=True,
        allow_null=True,
        help_text="The channel (account) it goes to; null for a platform no account was found for.",
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Publication
        fields = [
            "id",
            "postId",
            "platform",
            "status",
            "externalId",
            "error",
            "attemptCount",
            "metadata",
            "publishedAt",
            "nextAttemptAt",
            "connectionId",
            "channelId",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields


NOTICES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "channelId": {"type": "integer"},
            "platform": {"$ref": "#/components/schemas/Platform"},
            "message": {"type": "string"},
        },
        "required": ["channelId", "platform", "message"],
    },
}


class PostSerializer(serializers.ModelSerializer):
    channels = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    mediaUrls = serializers.ListField(source="media_urls", child=serializers.CharField(), read_only=True)
    variants = VariantsField(read_only=True)
    thread = ThreadField(read_only=True)
    firstComment = serializers.CharField(source="first_comment", read_only=True)
    seriesId = serializers.IntegerField(source="series_id", read_only=True, allow_null=True)
    reviewNote = serializers.CharField(source="review_note", read_only=True)
    scheduledAt = serializers.DateTimeField(source="scheduled_at", read_only=True, allow_null=True)
    publishedAt = serializers.DateTimeField(source="published_at", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    publications = PublicationSerializer(many=True, read_only=True)
    notices = serializers.SerializerMethodField(
        help_text="What a platform says of a channel of this post although nothing is refused (TikTok: the "
        "video will be private while planrrr's TikTok app is not audited): channelId, platform, message.",
    )

    class Meta:
        model = Post
        fields = [
            "id",
            "status",
            "content",
            "channels",
            "platforms",
            "mediaUrls",
            "variants",
            "thread",
            "firstComment",
            "repeat",
            "seriesId",
            "reviewNote",
            "scheduledAt",
            "publishedAt",
            "error",
            "createdAt",
            "updatedAt",
            "publications",
            "notices",
        ]
        read_only_fields = fields

    @extend_schema_field(NOTICES_SCHEMA)
    def get_notices(self, post: Post) -> list[dict]:
        return rules.post_notices(post)


@extend_schema_field(
    {"type": "array", "items": {"$ref": "#/components/schemas/Platform"}, "minItems": 1, "uniqueItems": True}
)
class PlatformsField(serializers.ListField):
    """Platform names; the rule book says which are unknown, listed twice, or not connected."""


@extend_schema_field({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "uniqueItems": True})
class ChannelsField(serializers.ListField):
    """Channel ids (GET /api/v1/channels); the rule book says which are not the team's or not active."""


class PostWriteSerializer(StrictSerializer):
    """A post to create (or, every field given, to replace)."""

    content = Wording(trim_whitespace=False)
    channels = ChannelsField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        help_text="Where it goes: the accounts (GET /api/v1/channels), in this order.",
    )
    platforms = PlatformsField(
        child=Text(),
        required=False,
        help_text=(
            "Where it goes, by platform: each platform listed must have exactly one active account in the "
            "team (else give channels). With channels too, the platforms of those channels."
        ),
    )
    mediaUrls = MediaUrlsField(child=Text(), required=False, default=list)
    variants = VariantsField(required=False, default=dict)
    thread = ThreadField(
        required=False,
        default=list,
        help_text=f"Follow-up parts, each a reply to the one before ({rules.THREAD_PLATFORMS} only).",
    )
    firstComment = Text(
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text="Commented once published (on X, Bluesky and Mastodon, a reply to the post).",
    )
    repeat = Text(required=False, default="", allow_blank=True, help_text="RFC 5545 RRULE in the team's zone.")
    scheduledAt = Rfc3339Field(
        required=False, allow_null=True, default=None, help_text="RFC 3339 with an offset; none makes a draft."
    )

    def service_fields(self) -> dict:
        data = self.validated_data
        names = {"mediaUrls": "media_urls", "scheduledAt": "scheduled_at", "firstComment": "first_comment"}
        return {names.get(name, name): value for name, value in data.items() if name in self.fields}


class PostCreateSerializer(PostWriteSerializer):
    publishNow = serializers.BooleanField(required=False, default=False, help_text="Publish at once.")

    def service_fields(self) -> dict:
        fields = super().service_fields()
        fields["publish_now"] = fields.pop("publishNow", False)
        return fields


class PostPatchSerializer(PostWriteSerializer):
    """Only the fields given change."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["mediaUrls"].default = serializers.empty
        self.fields["variants"].default = serializers.empty
        self.fields["scheduledAt"].default = serializers.empty
        for name in ("thread", "firstComment", "repeat"):
            self.fields[name].default = serializers.empty


class ApproveSerializer(StrictSerializer):
    """How to approve a post in review: at its time, at a new one, or now."""

    publishNow = serializers.BooleanField(
        required=False, default=False, help_text="Publish at once: required when the post's time has passed."
    )
    scheduledAt = Rfc3339Field(required=False, allow_null=True, default=None, help_text="A new time (optional).")


class RejectSerializer(StrictSerializer):
    """Why the post goes back to its author."""

    note = Wording(trim_whitespace=False, help_text="Why: the author reads it.")


@extend_schema_field(PostCreateSerializer(many=True))
class BulkPostsField(serializers.ListField):
    """The posts of a bulk request: objects, each checked as POST /posts checks its body."""


class BulkSerializer(StrictSerializer):
    """Up to 500 posts, each created or refused on its own."""

    posts = BulkPostsField(child=serializers.DictField(), min_length=1, max_length=BULK_MAX)


class BulkItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="201 created, or 400 with errors.")
    post = PostSerializer(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkItemSerializer(many=True)


class RetrySerializer(serializers.Serializer):
    retried = PublicationSerializer(many=True)
