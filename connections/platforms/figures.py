"""Engagement figures as an adapter reads them from its platform (docs/analytics.md).

Every platform names its counts its own way (X ``like_count``, Bluesky ``likeCount``, Mastodon
``favourites_count``, Graph ``likes``): an adapter maps them onto the common names below and keeps
the platform's own names and values beside them, since platforms rename and retire metrics. A
metric the platform does not give, or no longer gives, is *unavailable* (with the reason), never
zero, and never fails the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The common names (a contract: the API's fields, the CSV's columns, the webhook's figures). Each is
# a count, but watchSeconds: the time the post's video was watched, in whole seconds (YouTube counts
# it in minutes: docs/analytics.md).
VIEWS, REACH, LIKES, COMMENTS, SHARES, SAVES, CLICKS, VIDEO_VIEWS, WATCH_SECONDS, FOLLOWERS = (
    "views",
    "reach",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "videoViews",
    "watchSeconds",
    "followers",
)
POST_NAMES = (VIEWS, REACH, LIKES, COMMENTS, SHARES, SAVES, CLICKS, VIDEO_VIEWS, WATCH_SECONDS)
COMMON_NAMES = (*POST_NAMES, FOLLOWERS)
# A value beyond PostgreSQL's bigint is no count a platform means: refused as malformed.
MAX_COUNT = 2**63 - 1


@dataclass
class Figures:
    """One reading of a post or an account: ``values`` by common name (only those the platform
    gave), ``raw`` the platform's own names and values as it sent them (numbers only), and
    ``unavailable`` the names (common or the platform's) it did not give, each with why."""

    values: dict[str, int] = field(default_factory=dict)
    raw: dict[str, int] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def mapped(
        cls,
        raw: Mapping[str, Any],
        mapping: Mapping[str, Iterable[str]],
        *,
        expected: Iterable[str] = (),
        lacks: Mapping[str, str] | None = None,
        label: str = "",
    ) -> Figures:
        """The figures of a platform's counts ``raw``: each common name of ``mapping`` is the sum
        of the platform's names it lists that are present (X's shares: retweets and quotes); one
        with none present is unavailable. ``expected``: the platform's names it documents, each
        missing one recorded unavailable as no longer given; ``lacks``: the common names the
        platform never gives, with why."""
        counts = {name: number for name, value in raw.items() if (number := count(value)) is not None}
        figures = cls(raw=counts)
        for name in expected:
            if name not in counts:
                figures.unavailable[name] = f"{label} did not return {name!r} (retired or not given for this post)."
        for common, names in mapping.items():
            present = [counts[name] for name in names if name in counts]
            if present:
                figures.values[common] = min(sum(present), MAX_COUNT)
            else:
                figures.unavailable.setdefault(common, f"{label} did not return {' or '.join(map(repr, names))}.")
        for common, why in (lacks or {}).items():
            figures.values.pop(common, None)
            figures.unavailable[common] = why
        if WATCH_SECONDS not in mapping and any(name in POST_NAMES for name in mapping):
            # A post's figures without watch time (the adapters that read it, YouTube's, Instagram's,
            # Facebook's and Pinterest's, add it beside these).
            figures.unavailable.setdefault(WATCH_SECONDS, f"planrrr reads no watch time from {label}.")
        return figures


def count(value: Any) -> int | None:
    """A platform's count as an int, or None when it is not one (a bool, a text, a float with a
    fraction, a negative number, a value beyond a bigint): never guessed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_COUNT:
        return value
    return None


@dataclass
class ListedPost:
    """A post of the account as the platform lists it (``recent_posts``: the backfill)."""

    external_id: str
    published_at: datetime
    text: str = ""
    url: str = ""
    # Other ids the platform knows this post by, where planrrr may hold it under one of them (a
    # Facebook video is published under its video id and listed under its post id).
    aliases: tuple[str, ...] = ()
