import json
from datetime import timedelta

import responses
from django.test import SimpleTestCase

from connections.platforms.base import Draft, Duplicate, PermanentError, RateLimited, TokenExpired, TransientError
from connections.platforms.x.adapter import XAdapter, weighted_length
from connections.tests.contract import NOW, PNG, AdapterContract, AdapterTestCase, X, pinned
from planrrr.text import MAX_WAIT

TWEETS = f"{X}/2/tweets"
UPLOAD = f"{X}/2/media/upload"
RESET = int((NOW + timedelta(minutes=15)).timestamp())


def problem(status: int, detail: str, **extra) -> dict:
    return {
        "status": status,
        "json": {"title": "Forbidden", "type": "about:blank", "status": status, "detail": detail, **extra},
        "content_type": "application/problem+json",
    }


class WeightedLengthTests(SimpleTestCase):
    def test_it_counts_latin_text_one_per_character(self):
        self.assertEqual(weighted_length("Hello, world! Ça va? ÿ"), 22)

    def test_it_counts_cjk_two_per_character(self):
        self.assertEqual(weighted_length("日本語のテキスト"), 16)
        self.assertEqual(weighted_length("한국어"), 6)

    def test_it_counts_each_emoji_sequence_as_two(self):
        for emoji in ("😀", "❤️", "👍🏽", "👩🏽‍💻", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"):
            with self.subTest(emoji=emoji):
                self.assertEqual(weighted_length(emoji), 2)
        self.assertEqual(weighted_length("ok 👍"), 5)

    def test_it_counts_an_emoji_right_after_plain_text_as_two(self):
        # Plain text is counted a run at a time: the run's last character may start an emoji.
        self.assertEqual(weighted_length("Call us 1️⃣ or #️⃣ now"), len("Call us ") + 2 + len(" or ") + 2 + len(" now"))
        self.assertEqual(weighted_length("abc1\u20e3"), 3 + 2)
        self.assertEqual(weighted_length("abc\u200d👍"), 3 + 1 + 2)
        self.assertEqual(weighted_length("👩\u200dabc"), 2 + 2)  # the joiner takes the "a" into the emoji

    def test_it_counts_every_url_as_twenty_three(self):
        self.assertEqual(weighted_length("https://example.com/" + "a" * 100), 23)
        self.assertEqual(weighted_length("see http://x.co, and www.example.org/page."), 4 + 23 + 6 + 23 + 1)

    def test_it_counts_general_punctuation_in_the_narrow_ranges_as_one(self):
        # U+2013 en dash, U+201C/D quotes, U+2032 prime: in 8208-8223 and 8242-8247.
        self.assertEqual(weighted_length("–“”′"), 4)
        # U+2026 ellipsis (8230) is outside them: two.
        self.assertEqual(weighted_length("…"), 2)

    def test_it_counts_decomposed_accents_as_x_does_after_normalising(self):
        self.assertEqual(weighted_length("e\u0301"), 1)


class XTests(AdapterContract, AdapterTestCase):
    adapter_class = XAdapter
    too_long_text = "a" * 281
    rate_limited_retry_at = NOW + timedelta(minutes=15)
    errors = {
        "rate_limited": (
            {
                "status": 429,
                "json": {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"},
                "headers": {
                    "x-rate-limit-limit": "100",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(RESET),
                },
            },
            RateLimited,
            "X API error (429): Too Many Requests",
        ),
        "token_expired": (
            {
                "status": 401,
                "json": {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
            },
            TokenExpired,
            "X API error (401): Unauthorized",
        ),
        "permanent": (
            problem(403, "You are not allowed to create a Tweet with duplicate content."),
            Duplicate,
            "X API error (403): You are not allowed to create a Tweet with duplicate content.",
        ),
        "server_error": (
            {"status": 503, "json": {"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503}},
            TransientError,
            "X API error (503): Service Unavailable",
        ),
    }
    malformed_successes = [
        {"status": 201, "body": "<html>"},
        {"status": 201, "json": {"data": {}}},
        {"status": 201, "json": {"data": "1"}},
    ]

    def mock_success(self) -> str:
        self.http.add(responses.POST, TWEETS, status=201, json={"data": {"id": "1346889436626259968", "text": "x"}})
        return "1346889436626259968"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, TWEETS, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, f"{X}/2/users/acct-1/tweets", **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            f"{X}/2/users/acct-1/tweets",
            json={"data": [{"id": "found-1", "text": text, "edit_history_tweet_ids": ["found-1"]}], "meta": {}},
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        url = f"{X}/2/users/acct-1/tweets"
        other = {"id": "other-1", "text": first, "edit_history_tweet_ids": ["other-1"]}
        self.http.add(responses.GET, url, json={"data": [other], "meta": {"result_count": 1, "next_token": "t1"}})
        found = {"id": "found-1", "text": second, "edit_history_tweet_ids": ["found-1"]}
        self.http.add(responses.GET, url, json={"data": [found], "meta": {"result_count": 1}})
        return {"pagination_token": "t1"}

    def test_it_posts_json_with_the_user_token(self):
        self.mock_success()
        published = self.adapter.publish(self.account, Draft(text="Hello world"))
        self.assertEqual(published.url, "https://x.com/i/status/1346889436626259968")
        request = self.http.calls[0].request
        self.assertEqual(request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(request.headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(request.body), {"text": "Hello world"})
        self.assertIsNone(published.slow_down_until)

    def test_it_uploads_images_then_attaches_their_ids(self):
        self.add_image("https://cdn.example.com/a.png")
        self.http.add(responses.POST, UPLOAD, json={"data": {"id": "m-1", "media_key": "3_m-1"}})
        self.add_image("https://cdn.example.com/b.jpg", content_type="image/jpeg")
        self.http.add(responses.POST, UPLOAD, json={"data": {"id": "m-2", "media_key": "3_m-2"}})
        self.mock_success()
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/a.png", "https://cdn.example.com/b.jpg"])
        self.adapter.publish(self.account, draft)

        upload = self.http.calls[1].request
        self.assertEqual(upload.headers["Authorization"], "Bearer token-1")
        self.assertTrue(upload.headers["Content-Type"].startswith("multipart/form-data; boundary="))
        self.assertIn(b'name="media_category"\r\n\r\ntweet_image', upload.body)
        self.assertIn(b'name="media"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + PNG, upload.body)
        self.assertIn(b'filename="b.jpg"\r\nContent-Type: image/jpeg', self.http.calls[3].request.body)
        self.assertEqual(
            json.loads(self.http.calls[4].request.body), {"text": "Two", "media": {"media_ids": ["m-1", "m-2"]}}
        )
        self.assertEqual(draft.state["mediaIds"], ["m-1", "m-2"])

    def test_it_does_not_upload_again_what_a_failed_attempt_uploaded(self):
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/a.png"], state={"mediaIds": ["m-1"]})
        self.mock_success()
        self.adapter.publish(self.account, draft)
        self.assertEqual(json.loads(self.http.calls[0].request.body)["media"], {"media_ids": ["m-1"]})

    def test_it_fails_the_post_when_an_image_cannot_be_used(self):
        self.http.add(responses.GET, pinned("https://cdn.example.com/a.png"), status=404)
        with self.assertRaisesMessage(PermanentError, "Could not use media https://cdn.example.com/a.png: it answered"):
            self.adapter.publish(self.account, Draft(text="Hi", media_urls=["https://cdn.example.com/a.png"]))

    def test_it_treats_an_upload_without_an_id_as_malformed(self):
        self.add_image("https://cdn.example.com/a.png")
        self.http.add(responses.POST, UPLOAD, json={"errors": [{"detail": "boom"}]})
        with self.assertRaisesMessage(TransientError, "X API error: malformed answer, no media id"):
            self.adapter.publish(self.account, Draft(text="Hi", media_urls=["https://cdn.example.com/a.png"]))

    def test_it_quotes_the_specific_messages_of_an_invalid_request(self):
        self.mock_key_call(
            status=400,
            json={
                "errors": [{"message": "API error: the stand-in was told to fail"}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
        )
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(caught.exception.message, "X API error (400): API error: the stand-in was told to fail")

    def test_it_waits_for_the_24_hour_window_when_that_is_the_one_exhausted(self):
        day_reset = int((NOW + timedelta(hours=20)).timestamp())
        self.mock_key_call(
            status=429,
            json={"title": "Too Many Requests"},
            headers={
                "x-rate-limit-remaining": "99",
                "x-rate-limit-reset": str(RESET),
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": str(day_reset),
            },
        )
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(hours=20))

    def test_it_waits_the_default_backoff_without_a_reset_header(self):
        self.mock_key_call(status=429, json={"title": "Too Many Requests"})
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=60))

    def test_it_slows_down_when_no_call_remains_in_the_window(self):
        self.mock_key_call(
            status=201,
            json={"data": {"id": "1"}},
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET)},
        )
        self.assertEqual(
            self.adapter.publish(self.account, Draft(text="Hi")).slow_down_until, NOW + timedelta(minutes=15)
        )

    def test_it_waits_at_most_a_day_however_far_the_reset_header_is(self):
        for window in ("x-rate-limit", "x-user-limit-24hour"):
            with self.subTest(window=window):
                self.http.reset()
                self.mock_key_call(
                    status=429,
                    json={"title": "Too Many Requests"},
                    headers={f"{window}-remaining": "0", f"{window}-reset": "99999999999999"},
                )
                with self.assertLogs("planrrr.text", "WARNING") as logs, self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + MAX_WAIT)
                self.assertEqual(len(logs.records), 1)
                self.assertIn(f"{window}-reset", logs.output[0])

    def test_it_reads_a_reset_header_it_cannot_use_as_no_reset(self):
        for value, expected in (
            ("NaN", NOW + timedelta(seconds=60)),
            ("soon", NOW + timedelta(seconds=60)),
            ("", NOW + timedelta(seconds=60)),
            ("-5", NOW + timedelta(seconds=1)),
            ("1e400", NOW + MAX_WAIT),
        ):
            with self.subTest(value=value):
                self.http.reset()
                self.mock_key_call(
                    status=429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": value}
                )
                with self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, expected)

    def test_it_slows_down_at_most_a_day_however_far_the_reset_header_is(self):
        self.mock_key_call(
            status=201,
            json={"data": {"id": "1"}},
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": "99999999999999"},
        )
        with self.assertLogs("planrrr.text", "WARNING"):
            self.assertEqual(self.adapter.publish(self.account, Draft(text="Hi")).slow_down_until, NOW + MAX_WAIT)

    def test_it_refuses_text_over_280_weighted_characters(self):
        text = "日本" * 70 + "a"  # 140 characters, 281 weighted
        self.assertEqual(
            self.adapter.validate(text=text, media_urls=[]),
            ["X allows at most 280 characters; this post has 281. Shorten it by 1."],
        )
        self.assertEqual(self.adapter.validate(text="https://example.com/" + "a" * 300, media_urls=[]), [])

    def test_it_looks_for_recent_posts_since_the_attempt(self):
        self.mock_recent("Hello world")
        self.adapter.find_published(self.account, Draft(text="Hello world"), NOW)
        call = self.http.calls[0]
        self.assertEqual(self.query(call), {"max_results": "100", "start_time": "2025-03-01T12:00:00Z"})
        self.assertEqual(call.request.headers["Authorization"], "Bearer token-1")

    def test_it_recognises_its_text_as_x_gives_it_back(self):
        # X escapes &, < and > and replaces links by t.co ones; media adds a t.co link at the end.
        self.mock_recent("Tom &amp; Jerry https://t.co/AbC123 https://t.co/XyZ789")
        draft = Draft(text="Tom & Jerry https://example.com/cartoon", media_urls=["https://cdn.example.com/a.png"])
        self.assertEqual(self.adapter.find_published(self.account, draft, NOW), "found-1")

    def test_it_finds_nothing_in_an_empty_window(self):
        self.http.add(responses.GET, f"{X}/2/users/acct-1/tweets", json={"meta": {"result_count": 0}})
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Hi"), NOW))
