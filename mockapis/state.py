"""The stand-in's memory: posts, media, the request log, injected failures, rate windows.

One :data:`store` per serving process, guarded by one lock: the live test server and
``run_mock_apis`` answer on many threads. Nothing here speaks HTTP; the platform modules turn
what the store decides (a rule to apply, a window that is full) into their platform's answer.

Behaviour switches start from the settings ``RATE_LIMIT_ENABLED``, ``RANDOM_FAILURES`` (a
fraction, 0..1), ``LATENCY_MS`` and ``LATENCY_P99_MS`` (a lognormal tail), and change at run
time through ``_control/config``.

OAuth (mockapis.oauth and each platform's ``standin_auth.py``): the store remembers every
authorization code and token it issues (:class:`Code`, :class:`Issued`) and whether each is still
good. The people a consent page "logs in" are each platform's demo identities, kept with its
stand-in (connections/platforms/<name>/standin*.py).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict
from typing import Any

from mockapis.config import DAY_SECONDS, Config
from mockapis.grants import Grants
from mockapis.records import Code, Issued, Post, Rule, Window, iso

REQUEST_LOG_SIZE = 50_000
# A disabled rate limit still reports the platforms' headers, against a window nobody reaches. It
# was 10,000 a window: `manage.py bench --posts 10000` reached it on its one Mastodon account (a
# few posts sent twice after a lost answer), and its last 175 posts waited out the window's 15
# minutes, as planrrr does when Mastodon says none remain.
NOMINAL_LIMIT, NOMINAL_WINDOW_SECONDS = 1_000_000, 900.0
# The standard normal's 99th percentile: a lognormal's p99 is exp(mu + Z99 * sigma).
Z99 = 2.3263478740408408


class Store(Grants):
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
            # Its own sequence: latency draws do not shift which requests fail.
            self._latency_random = random.Random(self.config.seed)
            self.posts: list[Post] = []
            # The same posts by (platform, account), in the order they were made: what an account's
            # reads and its daily cap look at, without going through every account's posts.
            self.by_account: defaultdict[tuple[str, str], list[Post]] = defaultdict(list)
            # The latest post per (platform, account, text): duplicate checks in O(1).
            self.latest: dict[tuple[str, str, str], Post] = {}
            self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
            self.media: list[dict] = []
            self.rules: list[Rule] = []
            self.windows: dict[tuple[str, str, bool], list[float]] = {}
            self.duplicate_rejections: Counter[str] = Counter()
            # Platform objects that are not posts, by collection, each a stand-in's own (Facebook
            # photos, Instagram containers, LinkedIn images and their upload tokens, X media ...).
            self.objects: defaultdict[str, dict[str, dict]] = defaultdict(dict)
            self.tokens: dict[str, dict[str, str]] = {}
            # Comments made on posts (not posts themselves: they never count as duplicates).
            self.comments: list[dict[str, Any]] = []
            self.codes: dict[str, Code] = {}
            # Engagement metrics each platform no longer gives (_control/analytics).
            self.retired: dict[str, set[str]] = {}
            # Posts by (platform, id): a metrics read looks up to 100 at once.
            self.by_id: dict[tuple[str, str], Post] = {}
            self.issued: dict[str, Issued] = {}
            woken, self._wake = self._wake, threading.Event()
        woken.set()

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            seed_before = self.config.seed
            self.config.update(data)
            if "seed" in data or self.config.seed != seed_before:
                self.rng = random.Random(self.config.seed)
                self._latency_random = random.Random(self.config.seed)
            if {"rate_limit", "rate_limit_enabled"} & set(data):
                self.windows.clear()
            return self.config.as_dict()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the store is reset (a test ending releases its stalls)."""
        if seconds > 0:
            self._wake.wait(seconds)

    def latency(self) -> None:
        self.sleep(self.latency_draw() / 1000)

    def latency_draw(self) -> float:
        """Milliseconds this request waits: the median ``latency_ms``, or with ``latency_p99_ms``
        above it a lognormal draw fitted to both (mu = ln median, sigma = ln(p99 / median) / z99)."""
        median, p99 = self.config.latency_ms, self.config.latency_p99_ms
        if median <= 0 or p99 <= median:
            return float(median)
        sigma = math.log(p99 / median) / Z99
        with self.lock:
            return self._latency_random.lognormvariate(math.log(median), sigma)

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

    def take_rule(self, platform: str, kind: str, body: str = "") -> Rule | None:
        """The first rule matching this request, with one of its times used up."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(platform, kind, body):
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
        unique_id: bool = False,
        **extra: Any,
    ) -> tuple[Post | None, Post | None]:
        """Record a post, unless the account posted the same text within the duplicate window
        or already made ``daily_limit`` posts in the last 24 hours.

        ``unique_id``: the id is the client's (``make_id`` returns it), and one already used is refused.

        Returns ``(post, None)``, ``(None, the earlier post)`` for a duplicate, or ``(None, None)``
        over the daily limit. Checked and recorded under one lock, so concurrent requests cannot
        both get through.
        """
        post_id = make_id()
        with self.lock:
            if unique_id:
                # The client chose the id (a Bluesky rkey): one that exists is refused, with the post.
                existing = self.by_id.get((platform, post_id))
                if existing is not None:
                    return None, existing
            if daily_limit is not None:
                since = time.time() - DAY_SECONDS
                made = sum(1 for p in self.by_account[(platform, account)] if p.created >= since)
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
            self.by_account[(platform, account)].append(post)
            self.by_id[(platform, post_id)] = post
            self.latest[key] = post
            return post, None

    def seed_posts(self, platform: str, account: str, items: list[dict[str, Any]]) -> int:
        """Posts made ``age_seconds`` ago without their requests (``_control/posts``); returns how many."""
        now = time.time()
        with self.lock:
            for item in items:
                post = Post(
                    platform=platform,
                    id=str(item["id"]),
                    account=account,
                    text=str(item.get("text") or ""),
                    created=now - float(item.get("age_seconds") or 0),
                    extra=dict(item.get("extra") or {}),
                )
                self.posts.append(post)
                self.by_account[(platform, account)].append(post)
                self.by_id[(platform, post.id)] = post
        return len(items)

    def find_posts(self, platform: str, account: str | None = None) -> list[Post]:
        """Posts newest first."""
        with self.lock:
            if account is not None:
                return list(reversed(self.by_account.get((platform, account), ())))
            return [p for p in reversed(self.posts) if p.platform == platform]

    def find_post(self, platform: str, post_id: str) -> Post | None:
        with self.lock:
            return self.by_id.get((platform, post_id))

    def retire_metrics(self, platform: str, names: list[str]) -> None:
        with self.lock:
            self.retired[platform] = set(names)

    def retired_metrics(self, platform: str) -> set[str]:
        with self.lock:
            return set(self.retired.get(platform, ()))

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

    def add_comment(self, platform: str, post_id: str, account: str, text: str, comment_id: str) -> dict:
        entry = {
            "platform": platform,
            "id": comment_id,
            "post_id": post_id,
            "account": account,
            "text": text,
            "created": time.time(),
            "created_at": iso(time.time()),
        }
        with self.lock:
            self.comments.append(entry)
        return entry

    def find_comments(self, platform: str, post_id: str | None = None) -> list[dict]:
        """Comments oldest first."""
        with self.lock:
            return [
                dict(c)
                for c in self.comments
                if c["platform"] == platform and (post_id is None or c["post_id"] == post_id)
            ]

    def bind_token(self, platform: str, token: str, account: str, **details: str) -> None:
        """Say which account a bearer token acts for; posts made with it so far move to it."""
        with self.lock:
            self.tokens[token] = {"platform": platform, "account": account, **details}
            for post in self.posts:
                if post.platform == platform and post.extra.get("token") == token:
                    post.account = account
            self.latest = {(p.platform, p.account, p.text): p for p in self.posts}
            self.by_account = defaultdict(list)
            for post in self.posts:
                self.by_account[(post.platform, post.account)].append(post)

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
