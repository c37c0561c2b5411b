"""The composer's template helpers (workspace.composer)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def slot(slots: dict, name: str) -> list:
    """``{{ slots|slot:"content" }}``: the problems said next to a field."""
    return slots.get(name, []) if isinstance(slots, dict) else []


@register.filter
def at(mapping: dict, key):
    """``{{ per_channel|at:account.pk }}``: a mapping's value by a key that is a variable."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def channel_field(channel: int, name: str) -> str:
    """``{{ account.pk|channel_field:"content" }}``: "v-7-content", a channel's field in the form."""
    return f"v-{channel}-{name}"


@register.filter
def dash(head, tail) -> str:
    """``{{ "thread"|dash:index }}``: "thread-2", a field's id from its parts."""
    return f"{head}-{tail}"


# A platform's mark in the channel picker and the previews where the account has no picture:
# its initials on its colour (composer.css), beside its name in words.
BADGES = {
    "FACEBOOK": "f",
    "INSTAGRAM": "IG",
    "TWITTER": "X",
    "LINKEDIN": "in",
    "BLUESKY": "bs",
    "MASTODON": "M",
    "THREADS": "@",
    "TIKTOK": "TT",
    "PINTEREST": "P",
    "YOUTUBE": "▶",
    "GOOGLE_BUSINESS": "G",
}


@register.filter
def badge(platform: str) -> str:
    return BADGES.get(platform, platform[:2])
