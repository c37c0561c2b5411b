import time
from datetime import UTC, datetime, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from mockapis.media import PNG_BYTES
from mockapis.tests.base import X_TOKEN, StandInTestCase

USER = "2244994945"


class XTests(StandInTestCase):
    def upload(self, data: bytes = PNG_BYTES, token: str = X_TOKEN):
        return self.client.post(
            "/x/2/media/upload",
            {"media": SimpleUploadedFile("a.png", data, "image/png"), "media_category": "tweet_image"},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    def test_it_creates_a_tweet_with_201_and_a_snowflake_id(self):
        response = self.tweet({"text": "Hello X"})

        self.assertEqual(response.status_code, 201)
        data = response.json()["data"]
        self.assertRegex(data["id"], r"^\d{19}$")
        self.assertEqual((data["text"], data["edit_history_tweet_ids"]), ("Hello X", [data["id"]]))
        for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            self.assertTrue(response[header].isdigit(), header)
        self.assertGreater(int(response["x-rate-limit-reset"]), time.time())

    def test_it_refuses_duplicate_text_with_403(self):
        self.tweet({"text": "Same"})

        response = self.tweet({"text": "Same"})

        self.assertEqual(response.status_code, 403)
        self.assertEqual(response["Content-Type"], "application/problem+json")
        self.assertEqual(
            response.json(),
            {
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            },
        )
        self.assertEqual(self.client.get("/_control/posts").json()["duplicate_rejections"], 1)

    def test_it_answers_401_for_a_missing_expired_or_revoked_token(self):
        for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer abc-expired"}, {"HTTP_AUTHORIZATION": "Bearer revoked"}):
            response = self.client.post("/x/2/tweets", {"text": "x"}, content_type="application/json", **headers)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(
                response.json(),
                {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
            )
        self.assertEqual(self.posts(), [])

    def test_it_takes_uploaded_media_ids_in_a_tweet(self):
        upload = self.upload()
        media = upload.json()["data"]
        self.assertEqual(media["media_key"], f"3_{media['id']}")
        self.assertEqual((media["image"]["w"], media["image"]["h"]), (16, 16))

        response = self.tweet({"text": "With media", "media": {"media_ids": [media["id"]]}})

        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.posts("TWITTER")[0]["media_ids"], [media["id"]])

    def test_it_refuses_unknown_media_ids_and_non_images(self):
        unknown = self.tweet({"text": "x", "media": {"media_ids": ["1234"]}})
        not_image = self.upload(b"<html>")

        self.assertEqual(unknown.status_code, 400)
        self.assertEqual(unknown.json()["errors"], [{"message": "Your media IDs are invalid."}])
        self.assertEqual(unknown.json()["type"], "https://api.twitter.com/2/problems/invalid-request")
        self.assertEqual(not_image.status_code, 400)

    def test_it_refuses_more_than_280_weighted_characters(self):
        self.assertEqual(self.tweet({"text": "a" * 280}).status_code, 201)
        self.assertEqual(self.tweet({"text": "b" * 281}).status_code, 400)
        self.assertEqual(self.tweet({"text": "界" * 141}).status_code, 400)
        self.assertEqual(self.tweet({"text": "https://example.org/" + "x" * 300}).status_code, 201)

    def test_it_lists_the_users_tweets_for_reconciliation(self):
        made = self.tweet({"text": "Find me"}).json()["data"]["id"]

        listed = self.x_get(f"users/{USER}/tweets", {"max_results": 20, "start_time": _rfc3339(minutes=-1)})

        self.assertEqual(listed.json()["data"], [{"id": made, "text": "Find me", "edit_history_tweet_ids": [made]}])
        self.assertEqual(listed.json()["meta"]["result_count"], 1)
        # The token now acts for that user: its posts and users/me say so.
        self.assertEqual(self.posts("TWITTER")[0]["account"], USER)
        self.assertEqual(self.x_get("users/me").json()["data"]["id"], USER)

    def test_it_pages_with_next_token_and_pagination_token(self):
        made = [self.tweet({"text": f"Tweet {i}"}).json()["data"]["id"] for i in range(7)]

        first = self.x_get(f"users/{USER}/tweets", {"max_results": 5}).json()
        token = first["meta"]["next_token"]
        second = self.x_get(f"users/{USER}/tweets", {"max_results": 5, "pagination_token": token}).json()

        self.assertEqual([t["id"] for t in first["data"] + second["data"]], made[::-1])
        self.assertNotIn("next_token", second["meta"])

    def test_it_gives_created_at_only_when_asked_and_no_data_when_empty(self):
        self.tweet({"text": "t"})

        with_time = self.x_get(f"users/{USER}/tweets", {"tweet.fields": "created_at"}).json()["data"][0]
        later = self.x_get(f"users/{USER}/tweets", {"start_time": _rfc3339(minutes=5)}).json()

        self.assertRegex(with_time["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(later, {"meta": {"result_count": 0}})

    def test_it_refuses_max_results_out_of_range(self):
        response = self.x_get(f"users/{USER}/tweets", {"max_results": 3})

        self.assertEqual(response.status_code, 400)

    def test_it_answers_429_with_reset_headers_when_over_the_window(self):
        self.configure(rate_limit_enabled=True, rate_limit={"limit": 1, "window_seconds": 30})
        self.assertEqual(self.tweet({"text": "one"}).status_code, 201)

        response = self.tweet({"text": "two"})

        self.assertEqual(response.status_code, 429)
        self.assertEqual((response["x-rate-limit-limit"], response["x-rate-limit-remaining"]), ("1", "0"))
        self.assertAlmostEqual(int(response["x-rate-limit-reset"]), time.time() + 30, delta=2)
        for suffix in ("limit", "remaining", "reset"):
            self.assertTrue(response[f"x-user-limit-24hour-{suffix}"].isdigit())
        self.assertEqual(len(self.posts()), 1)

    def test_it_answers_a_forced_rate_limit_with_reset_seconds_ahead(self):
        self.fail("TWITTER", "rate_limit", times=1, seconds=5)

        response = self.tweet({"text": "x"})

        self.assertEqual(response.status_code, 429)
        self.assertAlmostEqual(int(response["x-rate-limit-reset"]), time.time() + 5, delta=1.5)

    def test_it_fails_with_an_invalid_request_saying_api_error_when_told(self):
        self.fail("TWITTER", "error")

        response = self.tweet({"text": "x"})

        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["title"], "Invalid Request")
        self.assertIn("API error", response.json()["detail"])
        self.assertEqual(self.posts(), [])


def _rfc3339(*, minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
