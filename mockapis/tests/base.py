"""What the stand-in's tests share: a clean store per test and requests in each platform's shape."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.test import LiveServerTestCase, SimpleTestCase, override_settings

from mockapis.client import MockApis
from mockapis.media import Image
from mockapis.state import store

PAGE = "104857600123456"
IG_USER = "17841400008460056"
X_TOKEN = "x-user-token"
ORG = "urn:li:organization:5515715"
LINKEDIN_HEADERS = {
    "HTTP_AUTHORIZATION": "Bearer li-token",
    "HTTP_LINKEDIN_VERSION": "202501",
    "HTTP_X_RESTLI_PROTOCOL_VERSION": "2.0.0",
}
AN_IMAGE = Image("image/jpeg", 16, 16, 162)
CALLBACK = "https://planrrr.example/connect/callback"


def linkedin_post_body(commentary: str, **extra: Any) -> dict[str, Any]:
    """The body of POST /rest/posts (docs/platforms/linkedin.md)."""
    return {
        "author": ORG,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        **extra,
    }


@override_settings(
    ROOT_URLCONF="connections.platforms.standins", RATE_LIMIT_ENABLED=False, RANDOM_FAILURES=0.0, LATENCY_MS=0
)
class StandInTestCase(SimpleTestCase):
    """The stand-in at the root (as run_mock_apis serves it), behaviour switches off."""

    def setUp(self) -> None:
        super().setUp()
        store.reset()
        self.addCleanup(store.reset)

    def graph(self, method: str, path: str, data: dict | None = None, token: str = "page-token"):
        data = {**(data or {}), "access_token": token}
        if method == "GET":
            return self.client.get(f"/graph/v21.0/{path}", data)
        return self.client.post(f"/graph/v21.0/{path}", data)

    def tweet(self, body: dict, token: str = X_TOKEN):
        return self.client.post(
            "/x/2/tweets", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    def x_get(self, path: str, params: dict | None = None, token: str = X_TOKEN):
        return self.client.get(f"/x/2/{path}", params or {}, HTTP_AUTHORIZATION=f"Bearer {token}")

    def linkedin(self, method: str, path: str, body: Any = None, **headers: str):
        headers = {**LINKEDIN_HEADERS, **headers}
        if method == "GET":
            return self.client.get(f"/linkedin/rest/{path}", body or {}, **headers)
        return self.client.post(f"/linkedin/rest/{path}", json.dumps(body), content_type="application/json", **headers)

    def control(self, path: str, body: dict | None = None):
        return self.client.post(f"/_control/{path}", json.dumps(body or {}), content_type="application/json")

    def fail(self, platform: str, mode: str, **options: Any) -> None:
        response = self.control("fail", {"platform": platform, "mode": mode, **options})
        self.assertEqual(response.status_code, 200, response.content)

    def configure(self, **options: Any) -> None:
        response = self.control("config", options)
        self.assertEqual(response.status_code, 200, response.content)

    def posts(self, platform: str | None = None) -> list[dict]:
        return self.client.get("/_control/posts", {"platform": platform} if platform else {}).json()["posts"]

    def graph_error(self, response) -> dict:
        self.assertIn("error", response.json(), response.content)
        return response.json()["error"]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class OAuthTestCase(LiveServerTestCase):
    """Over the wire, as a connect flow meets the stand-in: under /mock/ in the live test server,
    ``self.settings`` the platforms' variables pointing at it."""

    databases = set()

    def setUp(self) -> None:
        self.mock = MockApis(f"{self.live_server_url}/mock")
        self.mock.reset()
        self.addCleanup(store.reset)
        self.settings = self.mock.api_settings()

    def wait_for(self, what: str, condition) -> None:
        """Poll the stand-in until ``condition()`` holds (a lifetime of a second or so, configured)."""
        deadline = time.monotonic() + 10
        while not condition():
            if time.monotonic() > deadline:
                self.fail(f"{what}: not within 10 s")
            time.sleep(0.05)

    def wait_until_expired(self, token: str) -> None:
        self.wait_for(
            "token expired",
            lambda: [t["status"] for t in self.mock.issued_tokens() if t["token"] == token] == ["expired"],
        )
