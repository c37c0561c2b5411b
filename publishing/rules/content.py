"""What each target gets of a post: its channel's variant's text, media and thread where it has
one, else its platform's variant's, else the post's own (``publishing.rules``). The publish path,
staging and the rule book read a post through these, so every target is checked on what it
will be sent. Variants are keyed by platform name ("TWITTER") or by channel id ("7")."""

from __future__ import annotations


def _getter(post_or_fields):
    if isinstance(post_or_fields, dict):
        return post_or_fields.get
    return lambda name, default=None: getattr(post_or_fields, name, default)


def variant_for(variants: object, platform: str, channel: int | None = None) -> dict:
    """The variant of a target: its platform's entry, each key of its channel's entry taking
    precedence; entries that are not mappings (a row written past the door) are ignored."""
    if not isinstance(variants, dict):
        return {}
    merged: dict = {}
    for key in (platform, None if channel is None else str(channel)):
        entry = variants.get(key) if key is not None else None
        if isinstance(entry, dict):
            merged.update(entry)
    return merged


def content_for(post_or_fields, platform: str, *, channel: int | None = None) -> tuple[str, list[str]]:
    """The text and media a target (``platform``, and its account ``channel`` where known)
    actually gets: its channel's variant's, else its platform's variant's, else the main ones.
    Takes a Post or a mapping with ``content``, ``media_urls`` and ``variants``."""
    get = _getter(post_or_fields)
    text, media = get("content"), get("media_urls")
    variant = variant_for(get("variants"), platform, channel)
    text = variant.get("content", text)
    media = variant.get("media_urls", media)
    if media is None:
        media = []
    # Anything else than a list (a row written past the door) is left for the caller to refuse.
    return text, list(media) if isinstance(media, list | tuple) else media


def options_for(post_or_fields, platform: str, *, channel: int | None = None) -> dict:
    """The options a target gets (a YouTube title, a Pinterest board): its platform's variant's
    ``options``, each one its channel's variant names taking precedence; {} when none, or when
    what is stored is not an object (a row written past the door: the door refuses it)."""
    get = _getter(post_or_fields)
    variants = get("variants")
    if not isinstance(variants, dict):
        return {}
    merged: dict = {}
    for key in (platform, None if channel is None else str(channel)):
        entry = variants.get(key) if key is not None else None
        options = entry.get("options") if isinstance(entry, dict) else None
        if isinstance(options, dict):
            merged.update(options)
    return merged


def has_media(post) -> bool:
    """Whether any platform of the post gets media: the post's own, or only a variant's (an
    Instagram photo on a post that is text elsewhere), or a variant of one of its channels. What
    staging ahead of the slot is for (each publication then stages what it gets).
    ``HAS_MEDIA_SQL`` asks the same of a row in SQL."""
    platforms = post.platforms if isinstance(post.platforms, list) else []
    if any(content_for(post, platform)[1] for platform in platforms):
        return True
    variants = post.variants if isinstance(post.variants, dict) else {}
    channels = post.channels if isinstance(post.channels, list) else []
    return any(
        isinstance(variants.get(str(channel)), dict) and variants[str(channel)].get("media_urls")
        for channel in channels
    )


# ``has_media`` of a post's row in SQL, for a query on publishing_post (its columns unqualified):
# for each of its platforms, ``content_for``'s media (the variant's ``media_urls`` where the
# variant is an object that has the key, else the post's own), true as Python finds it true (a
# non-empty list, object or text, a number but 0, true). The sweep stages with it; a test holds
# it to the Python rule on rows written past the door.
_TRUTHY_MEDIA = """CASE jsonb_typeof(variants -> {key} -> 'media_urls')
                          WHEN 'array' THEN jsonb_array_length(variants -> {key} -> 'media_urls') > 0
                          WHEN 'object' THEN variants -> {key} -> 'media_urls' <> '{{}}'::jsonb
                          WHEN 'string' THEN variants -> {key} -> 'media_urls' <> '""'::jsonb
                          WHEN 'number' THEN variants -> {key} -> 'media_urls' <> '0'::jsonb
                          WHEN 'boolean' THEN variants -> {key} -> 'media_urls' = 'true'::jsonb
                          ELSE false
                     END"""
HAS_MEDIA_SQL = f"""(EXISTS (
    SELECT 1 FROM unnest(platforms) AS platform
     WHERE CASE WHEN jsonb_typeof(variants -> platform) = 'object' AND (variants -> platform) ? 'media_urls'
                THEN {_TRUTHY_MEDIA.format(key="platform")}
                ELSE COALESCE(cardinality(media_urls), 0) > 0
            END
) OR EXISTS (
    SELECT 1 FROM unnest(channels) AS channel
     WHERE jsonb_typeof(variants -> channel::text) = 'object'
       AND {_TRUTHY_MEDIA.format(key="channel::text")}
))"""


def thread_for(post_or_fields, platform: str, *, channel: int | None = None) -> list:
    """The follow-up parts a target gets: its channel's variant's ``thread``, else its platform's
    variant's, else the post's. Anything else than a list (a row written past the door) is
    returned for the caller to refuse."""
    get = _getter(post_or_fields)
    variant = variant_for(get("variants"), platform, channel)
    thread = variant["thread"] if "thread" in variant else get("thread")
    return [] if thread is None else thread
