"""A small Python client for the stand-in's control interface (see mockapis.control).

mock = MockApis(f"{self.live_server_url}/mock")    # or MockApis("http://127.0.0.1:8080")
mock.reset()
mock.fail("TWITTER", "error")                       # until reset
mock.fail("FACEBOOK", "timeout", times=2, seconds=1)
mock.configure(rate_limit_enabled=True, rate_limit={"limit": 5, "window_seconds": 2})
mock.posts("FACEBOOK"); mock.duplicates(); mock.requests("TWITTER"); mock.media_ids("INSTAGRAM")
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
        """The platform base URL settings pointing at this stand-in (for a worker's environment)."""
        return {
            "FACEBOOK_API_URL": self.url("graph"),
            "INSTAGRAM_API_URL": self.url("graph"),
            "TWITTER_API_URL": self.url("x"),
            "LINKEDIN_API_URL": self.url("linkedin"),
        }

    # --- control -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget posts, media, the log and failures; config back to the settings."""
        self._call("POST", "_control/reset")

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change switches (partial): rate_limit_enabled, rate_limit={"limit", "window_seconds"},
        random_failures, latency_ms, seed, container_polls_before_finished, ig_daily_limit,
        duplicate_window_seconds, media_slow_seconds, fetch_timeout_seconds. Returns the config."""
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
    ) -> list[dict]:
        """Make ``platform`` fail in ``mode`` for the next ``times`` matching requests (None: until
        reset). ``on``: "create" (default), "media", "read" or "any". Returns the active rules."""
        body: dict[str, Any] = {"platform": platform, "mode": mode, "times": times}
        if seconds is not None:
            body["seconds"] = seconds
        if on is not None:
            body["on"] = on
        if message is not None:
            body["message"] = message
        return self._call("POST", "_control/fail", json=body)["rules"]

    def clear_failures(self, platform: str | None = None) -> None:
        self._call("DELETE", "_control/fail", params={"platform": platform} if platform else None)

    def bind_token(self, token: str, account_id: str, *, platform: str = "TWITTER", **details: str) -> None:
        """Say which account a bearer token acts for (X tokens carry no account of their own)."""
        self._call(
            "POST", "_control/tokens", json={"platform": platform, "token": token, "account_id": account_id, **details}
        )

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
