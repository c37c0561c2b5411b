"""The stand-in's memory: posts, media, the request log, injected failures, rate windows.

One :data:`store` per serving process, guarded by one lock: the live test server and
``run_mock_apis`` answer on many threads. Nothing here speaks HTTP; the platform modules turn
what the store decides (a rule to apply, a window that is full) into their platform's answer.

Behaviour switches start from the settings ``RATE_LIMIT_ENABLED``, ``RANDOM_FAILURES`` (a
fraction, 0..1) and ``LATENCY_MS``, and change at run time through ``_control/config``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

PLATFORMS = ("FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN")

# What a request does, which decides what applies to it: rate limits and random failures
# only to CREATE (the calls that make a post); injected failures to the kind their rule names.
CREATE, MEDIA, READ = "create", "media", "read"
KINDS = (CREATE, MEDIA, READ)

# Failure modes for _control/fail. The first group answers instead of the platform's success
# (nothing is created); AFTER_CREATE modes let the request create its post first.
ANSWER_MODES = ("error", "server_error", "timeout", "rate_limit", "token_expired", "token_revoked", "duplicate")
AFTER_CREATE_MODES = ("accept_then_drop", "accept_then_stall")
# Instagram containers created while one of these applies end in ERROR / EXPIRED.
CONTAINER_MODES = ("container_error", "container_expired")
MODES = ANSWER_MODES + AFTER_CREATE_MODES + CONTAINER_MODES
DEFAULT_SECONDS = {"timeout": 3.0, "accept_then_stall": 3.0, "rate_limit": 60.0}

REQUEST_LOG_SIZE = 50_000
# A disabled rate limit still reports X's headers, against a window nobody reaches.
NOMINAL_LIMIT, NOMINAL_WINDOW_SECONDS = 10_000, 900.0
DAY_SECONDS = 86_400


@dataclass
class Config:
    """Run-time switches. ``as_dict`` and ``update`` use the JSON shape of ``_control/config``."""

    rate_limit_enabled: bool = False
    rate_limit: int = 5
    rate_window_seconds: float = 2.0
    random_failures: float = 0.0
    latency_ms: int = 0
    seed: int | None = None
    # Status polls a new Instagram container answers IN_PROGRESS before it is FINISHED.
    container_polls_before_finished: int = 1
    ig_daily_limit: int = 50
    # The same text twice on one account within this window is refused as a duplicate.
    duplicate_window_seconds: float = DAY_SECONDS
    # How long media/<name>-slow.<ext> sleeps before answering.
    media_slow_seconds: float = 30.0
    # How long Facebook and Instagram wait for an image URL they fetch.
    fetch_timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls) -> Config:
        return cls(
            rate_limit_enabled=bool(getattr(settings, "RATE_LIMIT_ENABLED", False)),
            random_failures=float(getattr(settings, "RANDOM_FAILURES", 0.0) or 0.0),
            latency_ms=int(getattr(settings, "LATENCY_MS", 0) or 0),
            seed=getattr(settings, "MOCK_APIS_SEED", None),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate_limit"] = {"limit": data.pop("rate_limit"), "window_seconds": data.pop("rate_window_seconds")}
        return data

    def update(self, data: dict[str, Any]) -> None:
        """Apply a partial ``_control/config`` body. Raises ValueError naming the bad key."""
        data = dict(data)
        rate_limit = data.pop("rate_limit", None)
        if rate_limit is not None:
            if not isinstance(rate_limit, dict):
                raise ValueError('rate_limit must be an object: {"limit": 5, "window_seconds": 2}')
            if "limit" in rate_limit:
                data["rate_limit"] = rate_limit["limit"]
            if "window_seconds" in rate_limit:
                data["rate_window_seconds"] = rate_limit["window_seconds"]
        known = {f.name: f for f in fields(self)}
        changes = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown config key {key!r}; known: {', '.join(sorted(self.as_dict()))}")
            changes[key] = _coerce(key, value, getattr(self, key))
        if not 0 <= changes.get("random_failures", self.random_failures) <= 1:
            raise ValueError("random_failures is a fraction between 0 and 1")
        if changes.get("rate_limit", self.rate_limit) < 1 or changes.get("rate_window_seconds", 1) <= 0:
            raise ValueError("rate_limit.limit must be at least 1 and rate_limit.window_seconds above 0")
        for key, value in changes.items():
            setattr(self, key, value)


def _coerce(key: str, value: Any, current: Any) -> Any:
    if key == "seed":
        return None if value is None else int(value)
    kind = type(current) if current is not None else int
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key} must be a number") from err


@dataclass
class Rule:
    """An injected failure: ``mode`` for the next ``times`` matching requests (None: until reset)."""

    platform: str
    mode: str
    times: int | None = None
    seconds: float = 0.0
    on: str = CREATE
    # The platform's error text to answer with (server_error), for platforms whose answers
    # carry hostile text: a NUL byte, a lone surrogate, a token-looking string.
    message: str = ""

    def matches(self, platform: str, kind: str) -> bool:
        return self.platform == platform and (self.on == "any" or self.on == kind)


@dataclass
class Window:
    """A fixed rate-limit window for one platform and account, as seen by one request."""

    limit: int
    used: int
    reset_at: float
    enforced: bool

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.enforced and self.used > self.limit

    @property
    def percent(self) -> int:
        """Usage in percent, as Graph's usage headers put it (0 while rate limiting is off)."""
        return min(100, math.ceil(self.used * 100 / self.limit)) if self.enforced else 0

    def seconds_left(self, now: float | None = None) -> float:
        return max(0.0, self.reset_at - (now if now is not None else time.time()))


@dataclass
class Post:
    platform: str
    id: str
    account: str
    text: str
    media_ids: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "id": self.id,
            "account": self.account,
            "text": self.text,
            "media_ids": list(self.media_ids),
            "created_at": iso(self.created),
            **self.extra,
        }


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Everything the stand-in remembers, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._issued: set[str] = set()  # ids handed out in this process: never twice, even across resets
        self._id_random = random.SystemRandom()
        self._last_snowflake = 0
        self._wake = threading.Event()
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything; config back to the settings; wake every sleeping request."""
        with self.lock:
            self.config = Config.from_settings()
            self.rng = random.Random(self.config.seed)
            self.posts: list[Post] = []
            # The latest post per (platform, account, text): duplicate checks in O(1).
            self.latest: dict[tuple[str, str, str], Post] = {}
            self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
            self.media: list[dict] = []
            self.rules: list[Rule] = []
            self.windows: dict[tuple[str, str, bool], list[float]] = {}
            self.duplicate_rejections: Counter[str] = Counter()
            # Platform objects that are not posts: Facebook photos, Instagram containers,
            # LinkedIn images and their upload tokens, X tokens bound to users.
            self.objects: dict[str, dict[str, dict]] = {
                "photos": {},
                "containers": {},
                "images": {},
                "uploads": {},
                "x_media": {},
            }
            self.tokens: dict[str, dict[str, str]] = {}
            woken, self._wake = self._wake, threading.Event()
        woken.set()

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            seed_before = self.config.seed
            self.config.update(data)
            if "seed" in data or self.config.seed != seed_before:
                self.rng = random.Random(self.config.seed)
            if {"rate_limit", "rate_limit_enabled"} & set(data):
                self.windows.clear()
            return self.config.as_dict()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the store is reset (a test ending releases its stalls)."""
        if seconds > 0:
            self._wake.wait(seconds)

    def latency(self) -> None:
        self.sleep(self.config.latency_ms / 1000)

    # --- ids -----------------------------------------------------------------------------

    def digits(self, length: int, prefix: str = "") -> str:
        """A fresh id of ``length`` digits (first one non-zero) never handed out before here."""
        with self.lock:
            while True:
                body = str(self._id_random.randrange(10 ** (length - len(prefix) - 1), 10 ** (length - len(prefix))))
                candidate = prefix + body
                if candidate not in self._issued:
                    self._issued.add(candidate)
                    return candidate

    def snowflake(self) -> str:
        """A 19-digit id shaped like X's: milliseconds since X's epoch, worker bits, sequence."""
        with self.lock:
            millis = int(time.time() * 1000) - 1288834974657
            value = max(millis << 22 | self._id_random.randrange(1 << 22), self._last_snowflake + 1)
            self._last_snowflake = value
            return str(value)

    def token(self, length: int = 22) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self._id_random.choice(alphabet) for _ in range(length))

    # --- failure injection, rate limiting ------------------------------------------------

    def add_rule(self, rule: Rule) -> list[dict]:
        with self.lock:
            self.rules.append(rule)
            return [asdict(r) for r in self.rules]

    def clear_rules(self, platform: str | None = None) -> list[dict]:
        with self.lock:
            self.rules = [r for r in self.rules if platform is not None and r.platform != platform]
            return [asdict(r) for r in self.rules]

    def take_rule(self, platform: str, kind: str) -> Rule | None:
        """The first rule matching this request, with one of its times used up."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(platform, kind):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def count_request(self, platform: str, account: str) -> Window:
        """Count one create request in its fixed window and return the window as it now is."""
        with self.lock:
            return self._window(platform, account, add=1)

    def window(self, platform: str, account: str) -> Window:
        with self.lock:
            return self._window(platform, account, add=0)

    def _window(self, platform: str, account: str, *, add: int) -> Window:
        cfg = self.config
        enforced = cfg.rate_limit_enabled
        limit, length = (
            (cfg.rate_limit, cfg.rate_window_seconds) if enforced else (NOMINAL_LIMIT, NOMINAL_WINDOW_SECONDS)
        )
        # A window opens with the first request counted in it and lasts its length ("fixed", not
        # aligned to the clock, so a burst of requests is never split across two windows).
        now = time.time()
        key = (platform, account, enforced)
        slot = self.windows.get(key)
        if slot is None or now >= slot[0] + length:
            slot = self.windows[key] = [now, 0]
        slot[1] += add
        return Window(limit=limit, used=int(slot[1]), reset_at=slot[0] + length, enforced=enforced)

    def random_failure(self) -> int | None:
        """500 or 503 for the configured fraction of create requests (seeded: reproducible)."""
        with self.lock:
            if self.config.random_failures and self.rng.random() < self.config.random_failures:
                return self.rng.choice((500, 503))
        return None

    # --- posts, media, objects -----------------------------------------------------------

    def create_post(
        self,
        platform: str,
        account: str,
        text: str,
        *,
        make_id,
        media_ids: list[str] | None = None,
        reject_duplicates: bool = True,
        daily_limit: int | None = None,
        **extra: Any,
    ) -> tuple[Post | None, Post | None]:
        """Record a post, unless the account posted the same text within the duplicate window
        or already made ``daily_limit`` posts in the last 24 hours.

        Returns ``(post, None)``, ``(None, the earlier post)`` for a duplicate, or ``(None, None)``
        over the daily limit. Checked and recorded under one lock, so concurrent requests cannot
        both get through.
        """
        post_id = make_id()
        with self.lock:
            if daily_limit is not None:
                since = time.time() - DAY_SECONDS
                made = sum(
                    1 for p in self.posts if (p.platform, p.account) == (platform, account) and p.created >= since
                )
                if made >= daily_limit:
                    return None, None
            key = (platform, account, text)
            earlier = self.latest.get(key)
            if reject_duplicates and text and earlier is not None:
                if earlier.created >= time.time() - self.config.duplicate_window_seconds:
                    self.duplicate_rejections[platform] += 1
                    return None, earlier
            post = Post(
                platform=platform, id=post_id, account=account, text=text, media_ids=media_ids or [], extra=extra
            )
            self.posts.append(post)
            self.latest[key] = post
            return post, None

    def find_posts(self, platform: str, account: str | None = None) -> list[Post]:
        """Posts newest first."""
        with self.lock:
            return [
                p for p in reversed(self.posts) if p.platform == platform and (account is None or p.account == account)
            ]

    def find_post(self, platform: str, post_id: str) -> Post | None:
        with self.lock:
            return next((p for p in self.posts if p.platform == platform and p.id == post_id), None)

    def add_media(self, platform: str, account: str, media_id: str, **details: Any) -> dict:
        entry = {"platform": platform, "id": media_id, "account": account, "created_at": iso(time.time()), **details}
        with self.lock:
            self.media.append(entry)
        return entry

    def put(self, collection: str, key: str, value: dict) -> dict:
        with self.lock:
            self.objects[collection][key] = value
        return value

    def get(self, collection: str, key: str) -> dict | None:
        with self.lock:
            return self.objects[collection].get(key)

    def update(self, collection: str, key: str, **changes: Any) -> dict | None:
        with self.lock:
            value = self.objects[collection].get(key)
            if value is not None:
                value.update(changes)
            return value

    def bind_token(self, platform: str, token: str, account: str, **details: str) -> None:
        """Say which account a bearer token acts for; posts made with it so far move to it."""
        with self.lock:
            self.tokens[token] = {"platform": platform, "account": account, **details}
            for post in self.posts:
                if post.platform == platform and post.extra.get("token") == token:
                    post.account = account
            self.latest = {(p.platform, p.account, p.text): p for p in self.posts}

    def token_account(self, token: str) -> dict[str, str] | None:
        with self.lock:
            return self.tokens.get(token)

    # --- the log -------------------------------------------------------------------------

    def log(self, entry: dict) -> dict:
        with self.lock:
            self.requests.append(entry)
        return entry

    def finish_log(self, entry: dict, **answer: Any) -> None:
        """Complete a logged request with how it was answered (status, outcome, duration)."""
        with self.lock:
            entry.update(answer)

    def snapshot_requests(self, platform: str | None = None) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.requests if platform is None or r["platform"] == platform]

    def snapshot_posts(self, platform: str | None = None) -> dict[str, Any]:
        with self.lock:
            posts = [p for p in self.posts if platform is None or p.platform == platform]
            copies = Counter((p.platform, p.account, p.text) for p in posts if p.text)
            rejections = self.duplicate_rejections[platform] if platform else sum(self.duplicate_rejections.values())
            return {
                "posts": [p.as_dict() for p in posts],
                "count": len(posts),
                # Extra copies of a (platform, account, text) already posted: "never twice" means 0.
                "duplicates": sum(n - 1 for n in copies.values() if n > 1),
                # Requests the stand-in refused as duplicate content (X 403, Facebook 506, LinkedIn 422).
                "duplicate_rejections": rejections,
            }

    def snapshot_media(self, platform: str | None = None) -> list[dict]:
        with self.lock:
            return [dict(m) for m in self.media if platform is None or m["platform"] == platform]


store = Store()
