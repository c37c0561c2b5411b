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

import base64
import hashlib
import hmac
import math
import random
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

# What a request does, which decides what applies to it: rate limits and random failures
# only to CREATE (the calls that make a post); injected failures to the kind their rule names.
CREATE, MEDIA, READ = "create", "media", "read"
# A comment on a post (Facebook and Instagram ``/{id}/comments``, LinkedIn ``socialActions``).
# X replies, thread parts and first comments alike, are posts: CREATE.
COMMENT = "comment"
# TOKEN: the OAuth token endpoints (code exchange, refresh), which take no bearer token.
TOKEN = "token"
KINDS = (CREATE, MEDIA, READ, TOKEN, COMMENT)
# The consent pages: no bearer token either; only rules with on="any" reach them.
AUTHORIZE = "authorize"

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
# The standard normal's 99th percentile: a lognormal's p99 is exp(mu + Z99 * sigma).
Z99 = 2.3263478740408408


@dataclass
class Config:
    """Run-time switches. ``as_dict`` and ``update`` use the JSON shape of ``_control/config``."""

    rate_limit_enabled: bool = False
    rate_limit: int = 5
    rate_window_seconds: float = 2.0
    random_failures: float = 0.0
    # Every request waits ``latency_ms`` (the median) or, with ``latency_p99_ms`` above it, a
    # draw from the lognormal distribution with that median and that 99th percentile: real
    # platforms answer in a few hundred milliseconds with a long tail of seconds.
    latency_ms: int = 0
    latency_p99_ms: int = 0
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
    # OAuth lifetimes (docs/platforms/). X: codes 30 s, access tokens 2 h, refresh tokens
    # single use (no lifetime of their own here).
    x_code_seconds: float = 30.0
    x_access_token_seconds: float = 7200.0
    # Facebook: codes 10 minutes; a user token from a code lives about an hour, the long-lived
    # one from fb_exchange_token about 60 days; page tokens listed with a long-lived user token
    # never expire (with a short-lived one they end with it).
    facebook_code_seconds: float = 600.0
    facebook_user_token_seconds: float = 3600.0
    facebook_long_lived_token_seconds: float = 60.0 * DAY_SECONDS
    # LinkedIn: codes 30 minutes, access 60 days, refresh 365 days, not extended by refreshing;
    # refresh tokens only for apps approved for them (switch off to play an app that is not).
    linkedin_code_seconds: float = 1800.0
    linkedin_access_token_seconds: float = 60.0 * DAY_SECONDS
    linkedin_refresh_token_seconds: float = 365.0 * DAY_SECONDS
    linkedin_refresh_tokens: bool = True
    # Bluesky sessions: access JWT 2 hours, refresh JWT 90 days.
    bluesky_access_token_seconds: float = 7200.0
    bluesky_refresh_token_seconds: float = 90.0 * DAY_SECONDS
    # Mastodon: codes 10 minutes (tokens do not expire); the instance's limits
    # (GET /api/v2/instance); GET /api/v1/media/:id answers 206 this many times before 200 (0: the
    # upload answers 200 at once instead of 202).
    mastodon_code_seconds: float = 600.0
    mastodon_max_characters: int = 500
    mastodon_max_media_attachments: int = 4
    mastodon_media_polls_before_ready: int = 1
    # How long a Mastodon instance keeps an Idempotency-Key per account (PostStatusService:
    # ``redis.setex(idempotency_key, 3_600, @status.id)``). Shorten it (0: forget at once) to play a
    # retry that comes after the instance forgot the key: a long rate limit, a person's retry.
    mastodon_idempotency_seconds: float = 3600.0
    # How far Bluesky's AppView (app.bsky.* reads: getAuthorFeed) lags behind the PDS that wrote a
    # record (com.atproto.repo.getRecord sees it at once): a post younger than this is not in the
    # author feed yet.
    bluesky_appview_lag_seconds: float = 0.0

    @classmethod
    def from_settings(cls) -> Config:
        return cls(
            rate_limit_enabled=bool(getattr(settings, "RATE_LIMIT_ENABLED", False)),
            random_failures=float(getattr(settings, "RANDOM_FAILURES", 0.0) or 0.0),
            latency_ms=int(getattr(settings, "LATENCY_MS", 0) or 0),
            latency_p99_ms=int(getattr(settings, "LATENCY_P99_MS", 0) or 0),
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
        if changes.get("latency_ms", self.latency_ms) < 0 or changes.get("latency_p99_ms", self.latency_p99_ms) < 0:
            raise ValueError("latency_ms and latency_p99_ms are milliseconds, 0 or more")
        if changes.get("rate_limit", self.rate_limit) < 1 or changes.get("rate_window_seconds", 1) <= 0:
            raise ValueError("rate_limit.limit must be at least 1 and rate_limit.window_seconds above 0")
        for key, value in changes.items():
            if key in LIFETIMES and value <= 0:
                raise ValueError(f"{key} must be above 0 seconds")
            if key in DELAYS and value < 0:
                raise ValueError(f"{key} must be 0 seconds or more")
            setattr(self, key, value)


LIFETIMES = {f.name for f in fields(Config) if f.name.endswith(("_code_seconds", "_token_seconds"))}
DELAYS = {"mastodon_idempotency_seconds", "bluesky_appview_lag_seconds"}


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
    # Only requests whose body contains this text (one part of a thread, one comment); "" for all.
    contains: str = ""

    def matches(self, platform: str, kind: str, body: str = "") -> bool:
        return (
            self.platform == platform
            and (self.on == "any" or self.on == kind)
            and (not self.contains or self.contains in body)
        )


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


class OAuthRefused(Exception):
    """A code or refresh token that cannot be used: ``reason`` is unknown, used, expired, revoked,
    client (issued to another client), redirect_uri or verifier (PKCE)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Code:
    """An authorization code, from an approved consent page."""

    code: str
    platform: str
    client_id: str
    redirect_uri: str
    account: str
    scopes: list[str]
    expires_at: float
    code_challenge: str = ""
    code_challenge_method: str = ""
    # Exchange attempts, good or not; redeemed once one succeeded (codes are single use).
    redemptions: int = 0
    redeemed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(expires_at=iso(self.expires_at), expired=time.time() >= self.expires_at)
        return data


@dataclass
class Issued:
    """A token the stand-in issued: ``kind`` access or refresh (``page`` for Facebook page
    tokens); one ``grant`` per code redeemed, shared by the tokens refreshed from it."""

    token: str
    kind: str
    platform: str
    account: str
    client_id: str
    scopes: list[str]
    grant: str
    expires_at: float | None
    issued_at: float = field(default_factory=time.time)
    # None while good; "revoked" (revoke endpoint or _control/oauth) or "rotated" (a spent X
    # refresh token).
    ended: str | None = None
    # Refresh tokens: how many times a client presented it to the token endpoint, good or not.
    uses: int = 0
    replaced_by: str | None = None
    # Platform specifics: Facebook's long_lived flag, the page a page token is for.
    details: dict[str, Any] = field(default_factory=dict)

    def problem(self, now: float | None = None) -> str | None:
        """None while the token is good; else "revoked" or "expired" (the gate's words)."""
        if self.ended:
            return "revoked"
        if self.expires_at is not None and (now or time.time()) >= self.expires_at:
            return "expired"
        return None

    def expires_in(self) -> int:
        return max(0, math.ceil(self.expires_at - time.time())) if self.expires_at is not None else 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            issued_at=iso(self.issued_at),
            expires_at=None if self.expires_at is None else iso(self.expires_at),
            status=self.problem() or "active",
        )
        if self.ended == "rotated":
            data["status"] = "rotated"
        return data


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
            # Its own sequence: latency draws do not shift which requests fail.
            self._latency_random = random.Random(self.config.seed)
            self.posts: list[Post] = []
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
                existing = next((p for p in self.posts if p.platform == platform and p.id == post_id), None)
                if existing is not None:
                    return None, existing
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

    def token_account(self, token: str) -> dict[str, str] | None:
        with self.lock:
            return self.tokens.get(token)

    # --- OAuth ---------------------------------------------------------------------------

    def issue_code(self, platform: str, *, lifetime: float, **details: Any) -> Code:
        code = Code(code=self.token(43), platform=platform, expires_at=time.time() + lifetime, **details)
        with self.lock:
            self.codes[code.code] = code
        return code

    def redeem_code(
        self, platform: str, value: str, *, client_id: str, redirect_uri: str, verifier: str | None
    ) -> Code:
        """The code, spent now; raises OAuthRefused. A code whose authorize request sent a
        ``code_challenge`` needs the matching ``verifier``. A refused attempt spends nothing
        (but counts as a redemption)."""
        with self.lock:
            code = self.codes.get(value)
            if code is None or code.platform != platform:
                raise OAuthRefused("unknown")
            code.redemptions += 1
            if code.redeemed:
                raise OAuthRefused("used")
            if time.time() >= code.expires_at:
                raise OAuthRefused("expired")
            if client_id != code.client_id:
                raise OAuthRefused("client")
            if redirect_uri != code.redirect_uri:
                raise OAuthRefused("redirect_uri")
            if code.code_challenge and not pkce_matches(code, verifier or ""):
                raise OAuthRefused("verifier")
            code.redeemed = True
            return code

    def issue_token(
        self,
        platform: str,
        kind: str,
        *,
        account: str,
        client_id: str,
        scopes: list[str],
        grant: str,
        lifetime: float | None,
        prefix: str = "",
        length: int = 64,
        **details: Any,
    ) -> Issued:
        issued = Issued(
            token=prefix + self.token(length),
            kind=kind,
            platform=platform,
            account=account,
            client_id=client_id,
            scopes=list(scopes),
            grant=grant,
            expires_at=None if lifetime is None else time.time() + lifetime,
            details=details,
        )
        with self.lock:
            self.issued[issued.token] = issued
        return issued

    def issued_token(self, token: str | None) -> Issued | None:
        with self.lock:
            return self.issued.get(token) if token else None

    def bearer_problem(self, token: str | None) -> str | None:
        """For a bearer token the stand-in issued: "expired", "revoked", or "invalid" (a refresh
        token is no bearer token); None while good, and for tokens it did not issue."""
        issued = self.issued_token(token)
        if issued is None:
            return None
        if issued.kind == "refresh":
            return "invalid"
        return issued.problem()

    def spend_refresh(self, platform: str, token: str, *, client_id: str, rotate: bool) -> Issued:
        """Present a refresh token: counted, checked, and with ``rotate`` spent, all under one
        lock, so that of two clients racing with one token exactly one gets through.
        Raises OAuthRefused."""
        with self.lock:
            issued = self.issued.get(token)
            if issued is None or issued.platform != platform or issued.kind != "refresh":
                raise OAuthRefused("unknown")
            issued.uses += 1
            if issued.ended == "rotated":
                raise OAuthRefused("used")
            problem = issued.problem()
            if problem:
                raise OAuthRefused(problem)
            if client_id != issued.client_id:
                raise OAuthRefused("client")
            if rotate:
                issued.ended = "rotated"
            return issued

    def link_refresh(self, spent: Issued, successor: Issued) -> None:
        with self.lock:
            spent.replaced_by = successor.token

    def end_token(self, token: str, how: str = "revoked") -> Issued | None:
        """Revoke a token (a refresh token: its whole grant, as RFC 7009 asks), or with
        how="expired" make it expire now. None if the stand-in never issued it."""
        with self.lock:
            issued = self.issued.get(token)
            if issued is None:
                return None
            if how == "expired":
                issued.expires_at = time.time()
                return issued
            ending = [issued]
            if issued.kind == "refresh":
                ending = [i for i in self.issued.values() if i.grant == issued.grant]
            for one in ending:
                one.ended = one.ended or "revoked"
            return issued

    def snapshot_oauth(self, platform: str | None = None) -> dict[str, Any]:
        with self.lock:
            tokens = [i.as_dict() for i in self.issued.values() if platform in (None, i.platform)]
            codes = [c.as_dict() for c in self.codes.values() if platform in (None, c.platform)]
        return {
            "tokens": tokens,
            "codes": codes,
            "refresh_uses": {t["token"]: t["uses"] for t in tokens if t["kind"] == "refresh"},
        }

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


def pkce_matches(code: Code, verifier: str) -> bool:
    """RFC 7636 section 4.6: S256 compares BASE64URL(SHA256(verifier)) without padding."""
    if code.code_challenge_method == "plain":
        return hmac.compare_digest(verifier, code.code_challenge)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(digest, code.code_challenge)


store = Store()
