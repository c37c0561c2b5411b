"""The API's JSON shapes (camelCase). Serializers parse and format types only: every rule and
its message is the rule book's (publishing.rules), applied by the services."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.problems import camel
from connections.models import Connection, Platform
from publishing import rules
from publishing.models import Post, Publication
from webhooks.models import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint

BULK_MAX = 500


class StrictSerializer(serializers.Serializer):
    """Unknown fields are refused (400), naming the field meant when one is misspelt."""

    # A misspelt ``scheduled_at`` must not make a draft. The schema says so (api.schema:
    # ``additionalProperties: false``).
    refuses_unknown_fields = True

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = {}
            for name in data:
                if name not in self.fields or self.fields[name].read_only:
                    hint = f" Did you mean {camel(name)!r}?" if camel(name) in self.fields else ""
                    unknown[name] = [f"Unknown field {name!r}.{hint}"]
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


class Text(serializers.CharField):
    """A JSON string, and only a string: DRF's CharField takes ``5`` as ``"5"``, which hides a
    client's bug (a number where text belongs) and is not what the schema says."""

    default_error_messages = {"invalid": "Give text (a JSON string in quotes), not {kind}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", kind=_kind(data))
        return super().to_internal_value(data)


def _kind(value) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a number)"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


class Wording(Text):
    """Text that must say something (the schema says ``minLength: 1``). An empty one still
    reaches the rule book, which says what to write, in the admin's words."""

    def run_validation(self, data=serializers.empty):
        return "" if data == "" else super().run_validation(data)


class Rfc3339Field(serializers.DateTimeField):
    """An RFC 3339 time with its offset (``2030-01-15T09:30:00+01:00`` or ``…Z``); a time
    without one is refused with the rule book's message, never read in some zone."""

    def to_internal_value(self, value):
        try:
            parsed = parse_datetime(value.strip()) if isinstance(value, str) else None
        except ValueError:  # well-formed but impossible: an offset of 24 hours or more, a 30 February
            parsed = None
        if parsed is None:
            raise serializers.ValidationError(
                "Give an RFC 3339 date and time with its offset, e.g. 2030-01-15T09:30:00+01:00."
            )
        if timezone.is_naive(parsed):
            raise serializers.ValidationError(rules.no_zone(parsed))
        return parsed


# What the rule book refuses, said in the schema too (a generated client checks it first).
HTTP_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
MEDIA_URLS_SCHEMA = {
    "type": "array",
    "items": {**HTTP_URL, "maxLength": rules.MAX_MEDIA_URL_LENGTH},
    "maxItems": rules.MAX_MEDIA_URLS,
}


@extend_schema_field(MEDIA_URLS_SCHEMA)
class MediaUrlsField(serializers.ListField):
    """Links to images (http or https); the rule book checks them."""


# The shapes of ``variants`` and ``thread``, for the schema: VariantsField and ThreadField take them
# as JSON and leave every check to the rule book, which refuses unknown keys by name.
class ThreadPartSerializer(StrictSerializer):
    """A follow-up part of a thread."""

    content = Text()
    mediaUrls = MediaUrlsField(child=Text(), required=False)


class VariantSerializer(StrictSerializer):
    """What one platform gets instead of the post's own text, media or thread."""

    content = Text(required=False)
    mediaUrls = MediaUrlsField(child=Text(), required=False)
    thread = ThreadPartSerializer(many=True, required=False, max_length=rules.MAX_THREAD_PARTS)


class VariantsSerializer(StrictSerializer):
    """Per-platform or per-channel text, media and thread overriding the main ones there: keyed
    by platform name, or by channel id (as a string of digits: "7"), whose entry overrides its
    platform's."""

    # api.schema: the channel ids' keys (patternProperties), beside the platforms' names.
    channel_keys = True

    def get_fields(self):
        return {platform: VariantSerializer(required=False) for platform in Platform.values}


def _keys(value, names: dict[str, str]):
    """A dict's keys renamed by ``names`` (others untouched); anything else as it is."""
    return {names.get(k, k): v for k, v in value.items()} if isinstance(value, dict) else value


def _thread(value, names: dict[str, str]):
    return [_keys(part, names) for part in value] if isinstance(value, list) else value


TO_MODEL, TO_JSON = {"mediaUrls": "media_urls"}, {"media_urls": "mediaUrls"}


@extend_schema_field(VariantsSerializer)
class VariantsField(serializers.JSONField):
    """{PLATFORM: {content?, mediaUrls?, thread?}} <-> the model's {PLATFORM: {content?,
    media_urls?, thread?}}. Other keys pass through untouched, for the rule book to refuse by name."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            return data
        return {platform: self._variant(variant, TO_MODEL) for platform, variant in data.items()}

    def to_representation(self, value):
        if not isinstance(value, dict):
            return {}
        return {platform: self._variant(variant, TO_JSON) for platform, variant in value.items()}

    @staticmethod
    def _variant(variant, names):
        variant = _keys(variant, names)
        if isinstance(variant, dict) and "thread" in variant:
            variant["thread"] = _thread(variant["thread"], names)
        return variant


@extend_schema_field(ThreadPartSerializer(many=True, max_length=rules.MAX_THREAD_PARTS))
class ThreadField(serializers.JSONField):
    """[{content, mediaUrls?}] <-> the model's [{content, media_urls?}]; the rule book checks it."""

    def to_internal_value(self, data):
        return _thread(super().to_internal_value(data), TO_MODEL)

    def to_representation(self, value):
        return _thread(value or [], TO_JSON)


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
        ]
        read_only_fields = fields


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
