"""The stand-in's run-time switches (``_control/config``): they start from the settings
``RATE_LIMIT_ENABLED``, ``RANDOM_FAILURES`` (a fraction, 0..1), ``LATENCY_MS`` and
``LATENCY_P99_MS`` (a lognormal tail), and the platforms' behaviour (lifetimes, limits, lags)
from the defaults below; ``_control/config`` changes any of them at run time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from django.conf import settings

DAY_SECONDS = 86_400


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
    # Status polls a video answers still processing before it is done: a Facebook video
    # (video_status "processing", then "ready"), an Instagram Reel or a Threads video container,
    # or a carousel with a video item (IN_PROGRESS, then FINISHED). Meta takes a minute or more.
    video_polls_before_ready: int = 2
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
    # Threads (connections/platforms/threads/standin.py): threads_publish answers "media not
    # found" (code 24, subcode 4279009) for a container younger than this; status polls a new
    # container answers IN_PROGRESS; posts and replies per account in 24 hours; codes 10 minutes
    # (unconfirmed), short-lived tokens an hour, long-lived 60 days, refreshable from 24 hours old.
    threads_publish_lag_seconds: float = 2.0
    threads_polls_before_finished: int = 0
    threads_daily_limit: int = 250
    threads_reply_daily_limit: int = 1000
    threads_code_seconds: float = 600.0
    threads_short_lived_token_seconds: float = 3600.0
    threads_long_lived_token_seconds: float = 60.0 * DAY_SECONDS
    threads_refresh_min_age_seconds: float = DAY_SECONDS
    # Pinterest (connections/platforms/pinterest/standin.py): looks at an uploaded video
    # (GET /v5/media/{id}) that answer processing before succeeded; the next uploads cut off
    # half-way (the connection dropped mid-body, nothing kept); boards deleted since connect
    # (comma-separated ids); codes 10 minutes (unconfirmed), access tokens 30 days, continuous
    # refresh tokens 60 days.
    pinterest_processing_polls: int = 2
    pinterest_cut_uploads: int = 0
    pinterest_deleted_boards: str = ""
    pinterest_code_seconds: float = 600.0
    pinterest_access_token_seconds: float = 30.0 * DAY_SECONDS
    pinterest_refresh_token_seconds: float = 60.0 * DAY_SECONDS
    # TikTok (connections/platforms/tiktok/standin.py): codes 10 minutes (unconfirmed), access
    # tokens 24 hours, refresh tokens 365 days; status/fetch answers PROCESSING_UPLOAD (or
    # PROCESSING_DOWNLOAD) this many times once the video arrived, then PUBLISH_COMPLETE; the
    # smallest chunk of a FILE_UPLOAD (TikTok: 5 MB; lower it to chunk the stand-in's small
    # videos); a fail_reason the next videos end FAILED with ("" for none).
    tiktok_code_seconds: float = 600.0
    tiktok_access_token_seconds: float = DAY_SECONDS
    tiktok_refresh_token_seconds: float = 365.0 * DAY_SECONDS
    tiktok_polls_before_complete: int = 1
    tiktok_min_chunk_bytes: int = 5_000_000
    tiktok_fail_reason: str = ""
    # Google (connections/platforms/google/standin_auth.py): codes 10 minutes, access tokens an
    # hour; refresh tokens do not expire (a Testing app's 7 days: _control/oauth {"expire": ...}).
    google_code_seconds: float = 600.0
    google_access_token_seconds: float = 3600.0
    # YouTube (connections/platforms/youtube/standin.py): status polls a new video answers
    # uploadStatus "uploaded" before "processed", or with youtube_fate "failed" or "rejected" that
    # (failureReason codec, rejectionReason duplicate); the project's videos.insert calls a Pacific
    # day (the quota's own bucket);
    # with youtube_cut_at_bytes above 0 the next upload chunk crossing that offset is stored up to
    # it and the connection is cut (once: the switch goes back to 0).
    youtube_polls_before_processed: int = 1
    youtube_fate: str = ""
    youtube_daily_uploads: int = 100
    youtube_cut_at_bytes: int = 0
    # With youtube_stall_at_bytes above 0 the chunk crossing that offset is stored whole, then its
    # answer held back youtube_stall_seconds (once): a worker killed while it waits.
    youtube_stall_at_bytes: int = 0
    youtube_stall_seconds: float = 30.0
    # The YouTube Analytics API's reports (youtube-analytics/v2/reports): the next
    # youtube_reports_rate_limited queries answer 429 rateLimitExceeded with Retry-After 1.
    youtube_reports_rate_limited: int = 0
    # Google Business Profile (connections/platforms/google_business/standin.py): GETs of a new
    # local post answered PROCESSING before it is LIVE (or REJECTED, while
    # gbp_reject_contains is in its summary or "*" for all).
    gbp_polls_before_live: int = 2
    gbp_reject_contains: str = ""

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
DELAYS = {
    "mastodon_idempotency_seconds",
    "bluesky_appview_lag_seconds",
    "threads_publish_lag_seconds",
    "threads_refresh_min_age_seconds",
    "youtube_stall_seconds",
}


def _coerce(key: str, value: Any, current: Any) -> Any:
    if key == "seed":
        return None if value is None else int(value)
    kind = type(current) if current is not None else int
    if kind is str:
        return str(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{key} must be a number") from err
