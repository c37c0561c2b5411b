"""The rule book's words: the limits every entry point names and every message that says what
to change (``publishing.rules``). One place, so that the door, the admin, the API and the publish
path say the same thing in the same words."""

from __future__ import annotations

from datetime import datetime

from connections.models import Connection, Platform
from connections.platforms import adapter_classes

# The platform names, fixed once the adapters are registered: Platform.values builds its list
# anew at every call (~5 µs), and the publish path asks at every attempt.
PLATFORM_NAMES = frozenset(Platform.values)


def label(platform: str) -> str:
    return Platform(platform).label if platform in PLATFORM_NAMES else str(platform)


def spoken_list(words: list[str]) -> str:
    """ "X", "X and Bluesky", "X, Bluesky and Mastodon"."""
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


# --- limits ----------------------------------------------------------------------------------

# The platforms that take threads, as their adapters say (``supports_threads``): "X, Bluesky and
# Mastodon". Help texts and refusals name them from here.
# A thread is published part after part within an attempt (each part a request, and its record
# written before the next): past a few dozen parts one attempt cannot finish within its job
# timeout, and the platforms' posting limits would stop it before its end anyway.
MAX_THREAD_PARTS = 25

# The most images any platform takes on one post (LinkedIn's 20): a longer list is refused
# before each URL is checked (each check resolves the host).
MAX_MEDIA_URLS = max(adapter.max_images for adapter in adapter_classes())

# The longest media URL kept (Post.media_urls' column; variants and thread parts keep theirs in
# JSON, with the same bound).
MAX_MEDIA_URL_LENGTH = 2_000

THREAD_PLATFORMS = spoken_list([adapter.label for adapter in adapter_classes() if adapter.supports_threads])


# --- messages ------------------------------------------------------------------------------

EMPTY = "The post is empty: write some text."

NO_PLATFORMS = "Choose at least one platform."


def unknown_platform(name: object) -> str:
    return f"Unknown platform {name!r}: choose from {', '.join(sorted(Platform.values))}."


def listed_twice(name: str) -> str:
    return f"{name} is listed twice: list each platform once."


def other_team(platform: str, connection: Connection) -> str:
    return f"The {label(platform)} connection #{connection.pk} belongs to another team: use one of yours."


def wrong_platform(platform: str, connection: Connection) -> str:
    return f"Connection #{connection.pk} is a {label(connection.platform)} account, not {label(platform)}."


def no_connection(team_id: int, platform: str) -> str:
    inactive = Connection.objects.filter(team_id=team_id, platform=platform).exclude(status=Connection.Status.ACTIVE)
    if inactive.exists():
        return f"Your {label(platform)} connection has expired or was revoked: reconnect it, or remove {platform}."
    return f"Your team has no {label(platform)} connection: connect an account, or remove {platform}."


def reconnect(platform: str, reason: str) -> str:
    name = label(platform)
    return f"{reason} — the {name} access token is expired or revoked: reconnect the {name} account in planrrr."


UNDECRYPTABLE = "The access token cannot be decrypted with TOKEN_ENCRYPTION_KEY (was the key changed?)"


def gave_up(reason: str, attempts: int) -> str:
    return f"{reason} (gave up after {attempts} attempts)"


def no_zone(naive: datetime) -> str:
    return (
        f"{naive.isoformat()} has no time zone: give the offset "
        f"(e.g. {naive.isoformat()}+00:00) so the post goes out when you mean."
    )


VARIANT_KEYS = ("content", "media_urls", "thread", "options")

PART_KEYS = ("content", "media_urls")


def variant_not_listed(platform: str) -> str:
    return f"{label(platform)} is not among this post's platforms: add {platform} to them, or remove its variant."


def variant_channel_not_listed(channel: str) -> str:
    return f"Channel #{channel} is not among this post's channels: add it to them, or remove its variant."


def variant_unknown_key(key: object) -> str:
    return f"Unknown key {key!r}: a variant takes {', '.join(VARIANT_KEYS)} only."


def no_threads(platform: str) -> str:
    # Facebook, Instagram and LinkedIn have no reply chains of a page's own posts: a thread
    # there would be comments, which people read differently. Say so rather than change it.
    return (
        f"{label(platform)} has no threads (only {THREAD_PLATFORMS} have): remove the thread, give {platform} "
        'a variant with an empty thread ("thread": []), or put the extra text in the first comment.'
    )
