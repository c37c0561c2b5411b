"""A small Python client for the stand-in's control interface (see mockapis.control).

mock = MockApis(f"{self.live_server_url}/mock")    # or MockApis("http://127.0.0.1:8080")
mock.reset()
mock.fail("TWITTER", "error")                       # until reset
mock.fail("FACEBOOK", "timeout", times=2, seconds=1)
mock.configure(rate_limit_enabled=True, rate_limit={"limit": 5, "window_seconds": 2})
mock.posts("FACEBOOK"); mock.duplicates(); mock.requests("TWITTER"); mock.media_ids("INSTAGRAM")
mock.token_lifetimes(x_access_token_seconds=3)      # OAuth (mockapis.oauth)
mock.approve(authorize_url)                         # the consent page's redirect, with code and state
mock.issued_tokens("TWITTER", kind="refresh"); mock.refresh_uses("TWITTER"); mock.expire_token(token)
mock.bluesky_url, mock.mastodon_url                 # the servers of Bluesky and Mastodon connections
mock.bluesky_sessions()                             # createSession calls answered
mock.retire_metrics("INSTAGRAM", ["saved"])         # a platform stops giving an engagement metric
"""

from __future__ import annotations

from typing import Any

import requests


class MockApisError(RuntimeError):
    """The control interface refused a call; the message is its explanation."""


class MockApis:
    def __init__(self, base_url: str, *, session: requests.Session | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    # --- where things are ----------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def media_url(self, name: str) -> str:
        """URL of a stand-in image, e.g. media_url("a.jpg"); see mockapis.media for fault names."""
        return self.url(f"media/{name}")

    def api_settings(self) -> dict[str, str]:
        """The platforms' variables pointing at this stand-in (for a worker's environment), as the
        running stand-in says it plays them (``_control/settings``, from the platforms'
        declarations): ``{"TWITTER_API_URL": "<base>/x", ...}``."""
        played = self._call("GET", "_control/settings")["settings"]
        return {
            **{name: self.url(where) for name, where in played.items()},
            # Bluesky and Mastodon servers are per connection (Connection.base_url: bluesky_url and
            # mastodon_url below). The stand-in is on loopback, which a connection's server may only
            # be when this is allowed.
            "INSTANCE_ALLOW_PRIVATE_URLS": "true",
        }

    @property
    def bluesky_url(self) -> str:
        """The stand-in PDS, a Bluesky connection's base_url."""
        return self.url("bsky")

    @property
    def mastodon_url(self) -> str:
        """The stand-in instance, a Mastodon connection's base_url."""
        return self.url("mastodon")

    def bluesky_sessions(self) -> int:
        """How many sessions were created (com.atproto.server.createSession answered 200)."""
        return sum(1 for r in self.requests("BLUESKY", path="createSession") if r["status"] == 200)

    # --- control -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget posts, media, the log, failures and OAuth codes and tokens; config back to the settings."""
        self._call("POST", "_control/reset")

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change switches (partial): rate_limit_enabled, rate_limit={"limit", "window_seconds"},
        random_failures, latency_ms, latency_p99_ms, seed, container_polls_before_finished, ig_daily_limit,
        duplicate_window_seconds, media_slow_seconds, fetch_timeout_seconds, the OAuth lifetimes
        (see token_lifetimes), linkedin_refresh_tokens, mastodon_idempotency_seconds (how long the
        instance keeps an Idempotency-Key) and bluesky_appview_lag_seconds (how far getAuthorFeed
        lags behind the PDS). Returns the config."""
        return self._call("POST", "_control/config", json=options)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "_control/config")

    def fail(
        self,
        platform: str,
        mode: str = "error",
        *,
        times: int | None = None,
        seconds: float | None = None,
        on: str | None = None,
        message: str | None = None,
        contains: str | None = None,
    ) -> list[dict]:
        """Make ``platform`` fail in ``mode`` for the next ``times`` matching requests (None: until
        reset). ``on``: "create" (default), "media", "read", "comment", "token" (the OAuth token
        endpoints) or "any"; ``contains``: only requests whose body contains this text. Returns the
        active rules."""
        body: dict[str, Any] = {"platform": platform, "mode": mode, "times": times}
        if seconds is not None:
            body["seconds"] = seconds
        if on is not None:
            body["on"] = on
        if message is not None:
            body["message"] = message
        if contains is not None:
            body["contains"] = contains
        return self._call("POST", "_control/fail", json=body)["rules"]

    def clear_failures(self, platform: str | None = None) -> None:
        self._call("DELETE", "_control/fail", params={"platform": platform} if platform else None)

    def bind_token(self, token: str, account_id: str, *, platform: str = "TWITTER", **details: str) -> None:
        """Say which account a bearer token acts for (X tokens carry no account of their own)."""
        self._call(
            "POST", "_control/tokens", json={"platform": platform, "token": token, "account_id": account_id, **details}
        )

    def seed_posts(self, platform: str, account: str, posts: list[dict]) -> int:
        """Add posts as if made ``age_seconds`` ago, without their requests: ``[{"id", "text",
        "age_seconds", "extra"}]``. Returns how many."""
        body = {"platform": platform, "account": account, "posts": posts}
        return self._call("POST", "_control/posts", json=body)["made"]

    def retire_metrics(self, platform: str, names: list[str]) -> dict[str, list[str]]:
        """Make ``platform`` no longer give the engagement metrics ``names`` (Graph: code 100 when
        asked for one; the others leave them out); ``[]`` gives them back. Returns every retired list."""
        return self._call("POST", "_control/analytics", json={"platform": platform, "retire": names})["retired"]

    # --- OAuth ---------------------------------------------------------------------------

    def token_lifetimes(self, **seconds: float) -> dict[str, Any]:
        """Set token and code lifetimes, e.g. ``x_access_token_seconds=3``; returns the config.
        Keys: {x,facebook,linkedin}_code_seconds, x_access_token_seconds,
        facebook_user_token_seconds, facebook_long_lived_token_seconds,
        linkedin_access_token_seconds, linkedin_refresh_token_seconds."""
        unknown = [key for key in seconds if not key.endswith(("_code_seconds", "_token_seconds"))]
        if unknown:
            raise MockApisError(f"not a lifetime: {', '.join(unknown)}")
        return self.configure(**seconds)

    def approve(self, authorize_url: str, *, login: str | None = None, deny: bool = False) -> str:
        """Submit the consent page at ``authorize_url`` as its Authorize (or Cancel) button does;
        returns the URL it redirects to (``redirect_uri`` with ``code`` and ``state``, or ``error``)."""
        data = {"decision": "cancel" if deny else "authorize", **({"login": login} if login else {})}
        response = self.session.post(authorize_url, data=data, allow_redirects=False, timeout=self.timeout)
        if response.status_code != 302:
            raise MockApisError(f"consent page: HTTP {response.status_code}: {response.text[:200]}")
        return response.headers["Location"]

    def oauth(self, platform: str | None = None) -> dict[str, Any]:
        """``{"tokens": [...], "codes": [...], "refresh_uses": {token: n}}`` (see mockapis.control)."""
        return self._call("GET", "_control/oauth", params={"platform": platform} if platform else None)

    def issued_tokens(self, platform: str | None = None, *, kind: str | None = None) -> list[dict]:
        """Tokens issued, oldest first; ``kind``: access, refresh or page (Facebook)."""
        return [t for t in self.oauth(platform)["tokens"] if kind in (None, t["kind"])]

    def refresh_uses(self, platform: str | None = None) -> dict[str, int]:
        """How many times each issued refresh token was presented to the token endpoint."""
        return self.oauth(platform)["refresh_uses"]

    def expire_token(self, token: str) -> None:
        """Make an issued token expire now (no waiting out its lifetime)."""
        self._call("POST", "_control/oauth", json={"expire": token})

    def revoke_token(self, token: str) -> None:
        """Revoke an issued token, as the user would (a refresh token: its whole grant)."""
        self._call("POST", "_control/oauth", json={"revoke": token})

    # --- what happened -------------------------------------------------------------------

    def requests(
        self, platform: str | None = None, *, method: str | None = None, path: str | None = None
    ) -> list[dict]:
        """The log of requests received, oldest first (``path`` matches a substring)."""
        params = {key: value for key, value in {"platform": platform, "method": method, "path": path}.items() if value}
        return self._call("GET", "_control/requests", params=params)["requests"]

    def posts(self, platform: str | None = None) -> list[dict]:
        """Posts created, oldest first: platform, id, account, text, media_ids, created_at."""
        return self._posts(platform)["posts"]

    def comments(self, platform: str | None = None) -> list[dict]:
        """Comments made on posts (Facebook, Instagram, LinkedIn), oldest first."""
        return self._call("GET", "_control/comments", params={"platform": platform} if platform else None)["comments"]

    def duplicates(self, platform: str | None = None) -> int:
        """Extra posts with the same (platform, account, text) as an earlier one: 0 means never twice."""
        return self._posts(platform)["duplicates"]

    def duplicate_rejections(self, platform: str | None = None) -> int:
        """Create requests refused as duplicate content (X 403, Facebook 506, LinkedIn 422)."""
        return self._posts(platform)["duplicate_rejections"]

    def media(self, platform: str | None = None) -> list[dict]:
        """Media uploaded: Facebook photos, Instagram containers, X media, LinkedIn images."""
        return self._call("GET", "_control/media", params={"platform": platform} if platform else None)["media"]

    def media_ids(self, platform: str | None = None) -> list[str]:
        return [item["id"] for item in self.media(platform)]

    def _posts(self, platform: str | None) -> dict[str, Any]:
        return self._call("GET", "_control/posts", params={"platform": platform} if platform else None)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.url(path), timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text[:200]
            raise MockApisError(f"{method} {path}: HTTP {response.status_code}: {message}")
        return response.json()
