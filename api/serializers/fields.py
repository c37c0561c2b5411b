"""The API's field types and the strict serializer every request body is read with: text that
refuses what cannot be stored, RFC 3339 times, media URLs, variants and threads."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.problems import camel
from connections.models import Platform
from publishing import rules


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
    options = serializers.DictField(
        required=False,
        help_text="The platform's own settings for this post (a YouTube title, a Pinterest board, a TikTok "
        "privacy level): each platform's names are in its docs page; a name it does not take is refused.",
    )


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
