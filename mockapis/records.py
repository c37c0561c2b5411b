"""What the stand-in deals in, as the store (mockapis.state) keeps it: the kinds of request and
the failure modes the gate applies (mockapis.gate), a failure rule, a rate window, a post, and
the OAuth codes and tokens the platforms' consent and token endpoints issue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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
# (nothing is created); AFTER_CREATE modes let the request create its post first. STALL_MODES wait
# ``seconds`` before the request goes on (``stall_then_accept``: a platform still making the post
# after the client stopped waiting for its answer, as a request far out in the latency tail is).
ANSWER_MODES = ("error", "server_error", "timeout", "rate_limit", "token_expired", "token_revoked", "duplicate")
AFTER_CREATE_MODES = ("accept_then_drop", "accept_then_stall")
STALL_MODES = ("stall_then_accept",)
# Meta containers (and Facebook videos) created while one of these applies end in ERROR / EXPIRED.
CONTAINER_MODES = ("container_error", "container_expired")
MODES = ANSWER_MODES + AFTER_CREATE_MODES + STALL_MODES + CONTAINER_MODES
DEFAULT_SECONDS = {"timeout": 3.0, "accept_then_stall": 3.0, "stall_then_accept": 3.0, "rate_limit": 60.0}


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


def pkce_matches(code: Code, verifier: str) -> bool:
    """RFC 7636 section 4.6: S256 compares BASE64URL(SHA256(verifier)) without padding."""
    if code.code_challenge_method == "plain":
        return hmac.compare_digest(verifier, code.code_challenge)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(digest, code.code_challenge)
