import json
import re
from datetime import timedelta

import responses
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
from connections.platforms.google_business.adapter import LOCAL_POST, GoogleBusinessAdapter
from connections.platforms.youtube.tests.test_adapter import google_error
from connections.tests.contract import NOW, AdapterContract, AdapterTestCase

API = "https://gbp.test"
PARENT = "accounts/1/locations/2"
POSTS = f"{API}/v4/{PARENT}/localPosts"
ANY_POSTS = re.compile(rf"{API}/v4/.+/localPosts")
A = "https://cdn.example.com/a.jpg"


def local_post(post_id: str, state: str, summary: str = "Hello world", **extra) -> dict:
    body = {"name": f"{PARENT}/localPosts/{post_id}", "summary": summary, "state": state, "topicType": "STANDARD"}
    if state == "LIVE":
        body["searchUrl"] = f"https://local.google.com/place?lpsid={post_id}"
    return {**body, **extra}


@override_settings(GOOGLE_BUSINESS_API_URL=API, GOOGLE_BUSINESS_POLL_SECONDS=60)
class GoogleBusinessTests(AdapterContract, AdapterTestCase):
    adapter_class = GoogleBusinessAdapter
    account = Account(account_id=PARENT, access_token="token-1")
    too_long_text = "a" * 1501
    rate_limited_retry_at = NOW + timedelta(seconds=30)
    errors = {
        "rate_limited": (
            {
                **google_error(429, "Resource has been exhausted.", "", "RESOURCE_EXHAUSTED"),
                "headers": {"Retry-After": "30"},
            },
            RateLimited,
            "Google Business Profile API error (429 RESOURCE_EXHAUSTED): Resource has been exhausted.",
        ),
        "token_expired": (
            google_error(401, "Request had invalid authentication credentials.", "", "UNAUTHENTICATED"),
            TokenExpired,
            "Google Business Profile API error (401 UNAUTHENTICATED): Request had invalid authentication credentials.",
        ),
        "permanent": (
            google_error(400, "Request contains an invalid argument.", "", "INVALID_ARGUMENT"),
            PermanentError,
            "Google Business Profile API error (400 INVALID_ARGUMENT): Request contains an invalid argument.",
        ),
        "server_error": (
            google_error(503, "The service is currently unavailable.", "", "UNAVAILABLE"),
            TransientError,
            "Google Business Profile API error (503 UNAVAILABLE): The service is currently unavailable.",
        ),
    }
    malformed_successes = [{"status": 200, "body": "not json"}, {"status": 200, "json": {}}]

    def mock_success(self) -> str:
        self.http.add(responses.POST, POSTS, json=local_post("p1", "LIVE"))
        return f"{PARENT}/localPosts/p1"

    # Any location's: the contract's token test acts for an account of its own.
    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, ANY_POSTS, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, ANY_POSTS, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(responses.GET, POSTS, json={"localPosts": [{**local_post("x", "LIVE", text), "name": "found-1"}]})

    def mock_recent_pages(self, first: str, second: str) -> dict:
        self.http.add(
            responses.GET, POSTS, json={"localPosts": [local_post("o", "LIVE", first)], "nextPageToken": "t2"}
        )
        self.http.add(
            responses.GET, POSTS, json={"localPosts": [{**local_post("x", "LIVE", second), "name": "found-1"}]}
        )
        return {"pageToken": "t2"}

    def test_it_posts_a_standard_local_post_with_its_photo_and_button(self):
        self.mock_success()
        draft = Draft(
            text="Pumpkin spice",
            media_urls=[A],
            options={"callToAction": {"actionType": "ORDER", "url": "https://acme.example/order"}},
        )
        published = self.adapter.publish(self.account, draft)
        self.assertEqual(
            json.loads(self.http.calls[0].request.body),
            {
                "summary": "Pumpkin spice",
                "topicType": "STANDARD",
                "media": [{"mediaFormat": "PHOTO", "sourceUrl": A}],
                "callToAction": {"actionType": "ORDER", "url": "https://acme.example/order"},
            },
        )
        self.assertEqual(published.url, "https://local.google.com/place?lpsid=p1")

    def test_a_post_answered_processing_waits_and_is_published_once_live(self):
        self.http.add(responses.POST, POSTS, json=local_post("p2", "PROCESSING"))
        draft = Draft(text="Hello world")
        with self.assertRaises(NotReady) as waiting:
            self.adapter.publish(self.account, draft)
        self.assertEqual(waiting.exception.retry_at, NOW + timedelta(seconds=60))
        self.assertIn(
            "(state PROCESSING): This post is being processed and is not appearing in search results.",
            waiting.exception.message,
        )
        self.assertEqual(draft.state, {LOCAL_POST: f"{PARENT}/localPosts/p2"})

        self.http.add(responses.GET, f"{POSTS}/p2", json=local_post("p2", "PROCESSING"))
        with self.assertRaises(NotReady):
            self.adapter.publish(self.account, draft)
        self.http.add(responses.GET, f"{POSTS}/p2", json=local_post("p2", "LIVE"))
        published = self.adapter.publish(self.account, draft)
        self.assertEqual(published.external_id, f"{PARENT}/localPosts/p2")
        self.assertEqual(len([c for c in self.http.calls if c.request.method == "POST"]), 1, "posted once")

    def test_a_rejected_post_fails_with_googles_words(self):
        self.http.add(responses.GET, f"{POSTS}/p3", json=local_post("p3", "REJECTED"))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, Draft(text="Hello world", state={LOCAL_POST: f"{PARENT}/localPosts/p3"}))
        self.assertIn(
            "This post was rejected due to content policy violation (state REJECTED)", caught.exception.message
        )

    def test_a_lost_answer_found_still_in_review_is_waited_on(self):
        self.http.add(
            responses.GET,
            POSTS,
            json={"localPosts": [local_post("p4", "PROCESSING", createTime="2025-03-01T12:00:01Z")]},
        )
        draft = Draft(text="Hello world")
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW))
        self.assertEqual(draft.state, {LOCAL_POST: f"{PARENT}/localPosts/p4"})

    def test_a_post_made_before_the_attempt_is_not_taken_for_it(self):
        self.http.add(
            responses.GET, POSTS, json={"localPosts": [local_post("old", "LIVE", createTime="2025-03-01T11:00:00Z")]}
        )
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Hello world"), NOW))

    def test_it_refuses_a_button_google_would_refuse(self):
        self.assertEqual(self.adapter.options_problems({"callToAction": {"actionType": "CALL"}}, details={}), [])
        self.assertEqual(
            self.adapter.options_problems({"callToAction": {"actionType": "ORDER"}}, details={}),
            ["Google Business Profile's ORDER button needs an http(s) url."],
        )
        self.assertIn("one of BOOK, ORDER", self.adapter.options_problems({"callToAction": "yes"}, details={})[0])
