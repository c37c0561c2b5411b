"""Engagement figures as the stand-ins serve them: every post's counts grow with its age, each at
its own pace (a deterministic draw from its id and the metric's name, so two reads agree and a
later read never shows less), and an account's followers grow with the clock. A platform's stand-in
names its own metrics and serves them in its own shapes; what it no longer gives is what
``_control/analytics`` retired (Graph answers such a metric with its code 100, the others leave
the field out).
"""

from __future__ import annotations

import hashlib
import math
import time

# The pace of a metric, by what its name says it counts: views and impressions run far ahead of
# reach, which runs ahead of likes, which run ahead of comments and shares.
PACES = (
    (("impression", "view", "play"), 40.0),
    (("reach", "unique"), 25.0),
    (("click",), 3.0),
    (("like", "favourite", "reaction", "interaction"), 4.0),
    (("repl", "comment"), 1.0),
    (("share", "repost", "retweet", "reblog", "quote"), 1.0),
    (("save", "bookmark"), 0.8),
)
# Followers count from a start common to every account, growing a follower a minute.
FOLLOWERS_EPOCH = 1_780_000_000


def _draw(*parts: str) -> float:
    """A number in [0.5, 1.5) fixed by ``parts``."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") / 2**32


def pace(name: str) -> float:
    lowered = name.lower()
    return next((pace for words, pace in PACES if any(word in lowered for word in words)), 1.0)


def count(post_id: str, created: float, name: str, *, now: float | None = None) -> int:
    """The post's count of ``name`` now: its pace times the square root of its age in minutes."""
    minutes = max(0.0, ((now if now is not None else time.time()) - created) / 60)
    return int(pace(name) * _draw(post_id, name) * math.sqrt(minutes))


def counts(post_id: str, created: float, names: tuple[str, ...] | list[str]) -> dict[str, int]:
    now = time.time()
    return {name: count(post_id, created, name, now=now) for name in names}


def followers(account: str, *, now: float | None = None) -> int:
    now = now if now is not None else time.time()
    return int(500 * _draw(account, "followers")) + max(0, int((now - FOLLOWERS_EPOCH) / 60))
