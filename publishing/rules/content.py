"""What each platform gets of a post: its variant's text, media and thread where it has one, else
the post's own (``publishing.rules``). The publish path, staging and the rule book read a post
through these, so every platform is checked on what it will be sent."""

from __future__ import annotations


def content_for(post_or_fields, platform: str) -> tuple[str, list[str]]:
    """The text and media ``platform`` actually gets: its variant's, where the post has one,
    else the main ones. Takes a Post or a mapping with ``content``, ``media_urls`` and
    ``variants``; a variant that is not a mapping (a row written past the door) is ignored."""
    if isinstance(post_or_fields, dict):
        get = post_or_fields.get
    else:

        def get(name, default=None):
            return getattr(post_or_fields, name, default)

    text, media = get("content"), get("media_urls")
    variants = get("variants")
    variant = variants.get(platform) if isinstance(variants, dict) else None
    if isinstance(variant, dict):
        text = variant.get("content", text)
        media = variant.get("media_urls", media)
    if media is None:
        media = []
    # Anything else than a list (a row written past the door) is left for the caller to refuse.
    return text, list(media) if isinstance(media, list | tuple) else media


def has_media(post) -> bool:
    """Whether any platform of the post gets media: the post's own, or only a variant's (an
    Instagram photo on a post that is text elsewhere). What staging ahead of the slot is for.
    ``HAS_MEDIA_SQL`` asks the same of a row in SQL."""
    platforms = post.platforms if isinstance(post.platforms, list) else []
    return any(content_for(post, platform)[1] for platform in platforms)


# ``has_media`` of a post's row in SQL, for a query on publishing_post (its columns unqualified):
# for each of its platforms, ``content_for``'s media (the variant's ``media_urls`` where the
# variant is an object that has the key, else the post's own), true as Python finds it true (a
# non-empty list, object or text, a number but 0, true). The sweep stages with it; a test holds
# it to the Python rule on rows written past the door.
HAS_MEDIA_SQL = """EXISTS (
    SELECT 1 FROM unnest(platforms) AS platform
     WHERE CASE WHEN jsonb_typeof(variants -> platform) = 'object' AND (variants -> platform) ? 'media_urls'
                THEN CASE jsonb_typeof(variants -> platform -> 'media_urls')
                          WHEN 'array' THEN jsonb_array_length(variants -> platform -> 'media_urls') > 0
                          WHEN 'object' THEN variants -> platform -> 'media_urls' <> '{}'::jsonb
                          WHEN 'string' THEN variants -> platform -> 'media_urls' <> '""'::jsonb
                          WHEN 'number' THEN variants -> platform -> 'media_urls' <> '0'::jsonb
                          WHEN 'boolean' THEN variants -> platform -> 'media_urls' = 'true'::jsonb
                          ELSE false
                     END
                ELSE COALESCE(cardinality(media_urls), 0) > 0
            END
)"""


def thread_for(post_or_fields, platform: str) -> list:
    """The follow-up parts ``platform`` gets: its variant's ``thread`` where it has one, else the
    post's. Anything else than a list (a row written past the door) is returned for the caller
    to refuse."""
    if isinstance(post_or_fields, dict):
        thread, variants = post_or_fields.get("thread"), post_or_fields.get("variants")
    else:
        thread, variants = getattr(post_or_fields, "thread", None), getattr(post_or_fields, "variants", None)
    variant = variants.get(platform) if isinstance(variants, dict) else None
    if isinstance(variant, dict) and "thread" in variant:
        thread = variant["thread"]
    return [] if thread is None else thread
