import json
import re
from datetime import timedelta

import requests
import responses
from django.core.cache import cache
from django.test import override_settings

from connections.platforms.base import (
    Account,
    Draft,
    NotReady,
    PermanentError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.mastodon.adapter import MastodonAdapter
from connections.tests.contract import MASTODON, NOW, PNG, AdapterContract, AdapterTestCase, pinned
from planrrr.text import MAX_WAIT

# Registered as requested: at the address the instance's name was checked to resolve to.
API = pinned(MASTODON)
STATUSES = f"{API}/api/v1/statuses"
INSTANCE = f"{API}/api/v2/instance"
MEDIA = f"{API}/api/v2/media"
STATUS_ID = "113427315827212800"
# GET /api/v1/accounts/:id/statuses of whichever account a test acts for.
ACCOUNT_STATUSES = re.compile(re.escape(API) + r"/api/v1/accounts/[^/?]+/statuses")
RESET = (NOW + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instance(max_characters: int = 500, max_media: int = 4) -> dict:
    return {
        "domain": "mastodon.test",
        "configuration": {
            "statuses": {
                "max_characters": max_characters,
                "max_media_attachments": max_media,
                "characters_reserved_per_url": 23,
            },
            "media_attachments": {"image_size_limit": 16777216},
        },
    }


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
class MastodonTests(AdapterContract, AdapterTestCase):
    adapter_class = MastodonAdapter
    account = Account(account_id="109302316291234567@mastodon.test", access_token="token-1", base_url=MASTODON)
    too_long_text = "a" * 501
    rate_limited_retry_at = NOW + timedelta(minutes=3)
    errors = {
        "rate_limited": (
            {
                "status": 429,
                "json": {"error": "Too many requests"},
                "headers": {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": RESET},
            },
            RateLimited,
            "Mastodon API error (429): Too many requests",
        ),
        "token_expired": (
            {"status": 401, "json": {"error": "The access token is invalid"}},
            TokenExpired,
            "Mastodon API error (401): The access token is invalid",
        ),
        "permanent": (
            {"status": 422, "json": {"error": "Validation failed: Text character limit of 500 exceeded"}},
            PermanentError,
            "Mastodon API error (422): Validation failed: Text character limit of 500 exceeded",
        ),
        "server_error": (
            {"status": 503, "json": {"error": "Service Unavailable"}},
            TransientError,
            "Mastodon API error (503): Service Unavailable",
        ),
    }
    malformed_successes = [
        {"status": 200, "body": "<html>"},
        {"status": 200, "json": {"uri": "x"}},
        {"status": 200, "json": ["x"]},
    ]

    def setUp(self):
        super().setUp()
        cache.clear()
        # The instance's limits, read once and cached; tests that need others register their own.
        self.http.add(responses.GET, INSTANCE, json=instance())
        self.adapter.limits(MASTODON)
        self.http.calls.reset()

    def draft(self) -> Draft:
        return Draft(text="Hello world", idempotency_key="planrrr-publication-7")

    def mock_success(self) -> str:
        self.http.add(
            responses.POST,
            STATUSES,
            json={"id": STATUS_ID, "url": f"https://mastodon.test/@acme/{STATUS_ID}", "content": "<p>Hello world</p>"},
            headers={"X-RateLimit-Remaining": "299", "X-RateLimit-Reset": RESET},
        )
        return STATUS_ID

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, STATUSES, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, ACCOUNT_STATUSES, **kwargs)

    def status(self, status_id: str, text: str) -> dict:
        created = NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        content = f"<p>{text}</p>"
        return {"id": status_id, "created_at": created, "in_reply_to_id": None, "content": content, "reblog": None}

    def mock_recent(self, text: str) -> None:
        self.mock_recent_call(json=[self.status("found-1", text)])

    def mock_recent_pages(self, first: str, second: str) -> dict[str, str]:
        page = [self.status(str(113427315827212900 - n), first) for n in range(40)]
        self.mock_recent_call(json=page)
        self.mock_recent_call(json=[self.status("found-1", second)])
        return {"max_id": page[-1]["id"]}

    def test_it_posts_with_an_idempotency_key_of_the_publication(self):
        self.mock_success()
        published = self.adapter.publish(self.account, self.draft())
        request = self.http.calls[-1].request
        self.assertEqual(request.headers["Idempotency-Key"], "planrrr-publication-7")
        self.assertEqual(request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(json.loads(request.body), {"status": "Hello world", "visibility": "public"})
        self.assertEqual(published.url, f"https://mastodon.test/@acme/{STATUS_ID}")
        self.assertIsNone(published.slow_down_until)

    def test_it_sends_the_same_key_on_every_attempt(self):
        self.mock_key_call(body=requests.exceptions.ConnectionError("Connection aborted."))
        self.mock_success()
        draft = self.draft()
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, STATUS_ID)
        keys = [call.request.headers["Idempotency-Key"] for call in self.http.calls if call.request.method == "POST"]
        self.assertEqual(keys, ["planrrr-publication-7", "planrrr-publication-7"])

    def test_it_reads_the_statuses_of_the_account_by_its_id_on_the_instance(self):
        self.mock_recent("Hello world")
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), "found-1")
        self.assertEqual(
            self.http.calls[0].request.url.split("?")[0], f"{API}/api/v1/accounts/109302316291234567/statuses"
        )

    def test_it_reads_the_limits_of_the_instance_and_caches_them(self):
        cache.clear()
        self.http.replace(responses.GET, INSTANCE, json=instance(max_characters=5000, max_media=8))
        self.assertEqual(self.adapter.validate(text="a" * 5000, media_urls=[], base_url=MASTODON), [])
        self.assertEqual(
            self.adapter.validate(text="a" * 5001, media_urls=["https://cdn.example.com/a.png"] * 9, base_url=MASTODON),
            [
                "Mastodon allows at most 5,000 characters; this post has 5,001. Shorten it by 1.",
                "This Mastodon instance takes at most 8 images; this post has 9.",
            ],
        )
        self.assertEqual(len([c for c in self.http.calls if c.request.url == INSTANCE]), 1)

    def test_it_falls_back_to_mastodon_defaults_when_the_instance_cannot_be_read(self):
        cache.clear()
        self.http.replace(responses.GET, INSTANCE, status=503)
        problems = self.adapter.validate(text="a" * 501, media_urls=[], base_url=MASTODON)
        self.assertEqual(problems, ["Mastodon allows at most 500 characters; this post has 501. Shorten it by 1."])

    def test_an_instance_that_cannot_be_read_is_not_asked_again_for_each_post(self):
        # A bulk of posts for an instance that is down waited on it once per post, for up to the
        # call's timeouts each, while the person or program that sent them waited.
        cache.clear()
        self.http.replace(responses.GET, INSTANCE, body=requests.exceptions.ConnectTimeout())
        for _ in range(3):
            problems = self.adapter.validate(text="a" * 501, media_urls=[], base_url=MASTODON)
            self.assertEqual(problems, ["Mastodon allows at most 500 characters; this post has 501. Shorten it by 1."])

        self.assertEqual(len([c for c in self.http.calls if c.request.url == INSTANCE]), 1)
        self.assertEqual(self.http.calls[0].request.req_kwargs["timeout"], (3.0, 5.0))

    def test_it_counts_urls_as_reserved_characters_and_remote_mentions_without_domain(self):
        text = "a" * 460 + " https://example.com/" + "x" * 200 + " @someone@example.social"
        # 460 + 1 + 23 + 1 + len("@someone") = 493
        self.assertEqual(self.adapter.validate(text=text, media_urls=[], base_url=MASTODON), [])

    def test_it_uploads_media_and_waits_while_it_is_processing(self):
        self.add_image("https://cdn.example.com/a.png")
        self.http.add(responses.POST, MEDIA, status=202, json={"id": "22348641", "type": "image", "url": None})
        self.http.add(responses.GET, f"{API}/api/v1/media/22348641", status=206, json={"id": "22348641"})
        draft = Draft(text="Latte", media_urls=["https://cdn.example.com/a.png"], idempotency_key="k")
        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=2))
        self.assertEqual(draft.state["mediaIds"], ["22348641"])
        upload = next(call.request for call in self.http.calls if call.request.url == MEDIA)
        self.assertIn(b'name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + PNG, upload.body)

        self.http.replace(
            responses.GET, f"{API}/api/v1/media/22348641", json={"id": "22348641", "url": "https://m/1.png"}
        )
        self.mock_success()
        self.adapter.publish(self.account, draft)
        self.assertEqual(json.loads(self.http.calls[-1].request.body)["media_ids"], ["22348641"])
        self.assertEqual(draft.state["mediaReady"], ["22348641"])

    def test_it_slows_down_when_the_window_is_used_up(self):
        self.http.add(
            responses.POST,
            STATUSES,
            json={"id": STATUS_ID},
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": RESET},
        )
        self.assertEqual(self.adapter.publish(self.account, self.draft()).slow_down_until, NOW + timedelta(minutes=3))

    def test_it_clamps_a_reset_far_in_the_future(self):
        self.mock_key_call(
            status=429, json={"error": "Too many requests"}, headers={"X-RateLimit-Reset": "9999-01-01T00:00:00Z"}
        )
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(caught.exception.retry_at, NOW + MAX_WAIT)

    def test_it_needs_a_server(self):
        with self.assertRaisesMessage(PermanentError, "The Mastodon connection names no server"):
            self.adapter.publish(Account(account_id="1@x", access_token="t"), self.draft())
