import json
from datetime import timedelta

import responses
from django.test import override_settings

from connections.platforms.base import (
    Account,
    Draft,
    Duplicate,
    NotReady,
    PermanentError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.tests.contract import GRAPH, NOW, AdapterContract, AdapterTestCase
from planrrr.text import MAX_WAIT

FEED = f"{GRAPH}/acct-1/feed"
PHOTOS = f"{GRAPH}/acct-1/photos"


def graph_error(code: int, message: str, *, status: int = 400, subcode: int | None = None, **extra) -> dict:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf", **extra}
    if subcode:
        error["error_subcode"] = subcode
    return {"status": status, "json": {"error": error}}


class FacebookTests(AdapterContract, AdapterTestCase):
    adapter_class = FacebookAdapter
    too_long_text = "a" * 63_207
    rate_limited_retry_at = NOW + timedelta(minutes=19)
    errors = {
        # Business use case limit: the header says 19 minutes, longer than the 60 s backoff.
        "rate_limited": (
            {
                **graph_error(80001, "There have been too many calls to this Page account."),
                "headers": {
                    "X-Business-Use-Case-Usage": json.dumps(
                        {"acct-1": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 19}]}
                    )
                },
            },
            RateLimited,
            "Facebook API error (code 80001): There have been too many calls to this Page account.",
        ),
        "token_expired": (
            graph_error(190, "Error validating access token: Session has expired.", subcode=463),
            TokenExpired,
            "Facebook API error (code 190, subcode 463): Error validating access token: Session has expired.",
        ),
        "permanent": (
            graph_error(506, "Duplicate status message"),
            Duplicate,
            "Facebook API error (code 506): Duplicate status message",
        ),
        "server_error": (
            graph_error(2, "Service temporarily unavailable", status=503),
            TransientError,
            "Facebook API error (code 2): Service temporarily unavailable",
        ),
    }
    malformed_successes = [
        {"status": 200, "body": "<html>oops</html>"},
        {"status": 200, "json": {"success": True}},
        {"status": 200, "json": ["not", "an", "object"]},
    ]

    def mock_success(self) -> str:
        self.http.add(responses.POST, FEED, json={"id": "acct-1_111"})
        return "acct-1_111"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, FEED, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, FEED, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            FEED,
            json={"data": [{"id": "found-1", "message": text, "created_time": "2025-03-01T12:00:05+0000"}]},
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        recent = "2025-03-01T12:00:05+0000"
        self.http.add(
            responses.GET,
            FEED,
            json={
                "data": [{"id": "other-1", "message": first, "created_time": recent}],
                "paging": {"cursors": {"before": "b1", "after": "a1"}, "next": f"{FEED}?after=a1"},
            },
        )
        self.http.add(
            responses.GET, FEED, json={"data": [{"id": "found-1", "message": second, "created_time": recent}]}
        )
        return {"after": "a1"}

    def test_it_posts_text_to_the_page_feed_as_a_form(self):
        self.mock_success()
        published = self.adapter.publish(self.account, Draft(text="Hello world & more"))
        self.assertEqual(published.url, "https://www.facebook.com/acct-1_111")
        call = self.http.calls[0]
        self.assertEqual(call.request.headers["Content-Type"], "application/x-www-form-urlencoded")
        self.assertEqual(self.form(call), {"message": "Hello world & more", "access_token": "token-1"})
        self.assertNotIn("Authorization", call.request.headers)

    def test_it_posts_one_image_as_a_photo_with_a_caption(self):
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-1", "post_id": "acct-1_222"})
        draft = Draft(text="Look", media_urls=["https://cdn.example.com/a.png"])
        published = self.adapter.publish(self.account, draft)
        self.assertEqual(published.external_id, "acct-1_222")
        self.assertEqual(
            self.form(self.http.calls[0]),
            {"url": "https://cdn.example.com/a.png", "caption": "Look", "access_token": "token-1"},
        )
        self.assertEqual(draft.state["mediaIds"], ["photo-1"])

    def test_it_attaches_several_unpublished_photos_to_one_feed_post(self):
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-1"})
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-2"})
        self.http.add(responses.POST, FEED, json={"id": "acct-1_333"})
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"])
        published = self.adapter.publish(self.account, draft)

        self.assertEqual(published.external_id, "acct-1_333")
        first, second, feed = (self.form(call) for call in self.http.calls)
        self.assertEqual(
            first, {"url": "https://cdn.example.com/a.png", "published": "false", "access_token": "token-1"}
        )
        self.assertEqual(second["url"], "https://cdn.example.com/b.png")
        self.assertEqual(
            feed,
            {
                "message": "Two",
                "attached_media[0]": '{"media_fbid": "photo-1"}',
                "attached_media[1]": '{"media_fbid": "photo-2"}',
                "access_token": "token-1",
            },
        )
        self.assertEqual(draft.state["mediaIds"], ["photo-1", "photo-2"])

    def test_it_stages_one_photo_unpublished_then_publishes_with_a_single_feed_call(self):
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-1"})
        draft = Draft(text="Staged", media_urls=["https://cdn.example.com/a.png"])
        self.adapter.stage(self.account, draft)
        self.assertEqual(draft.state["mediaIds"], ["photo-1"])
        self.assertEqual(self.form(self.http.calls[0])["published"], "false")

        self.http.add(responses.POST, FEED, json={"id": "acct-1_555"})
        published = self.adapter.publish(self.account, draft)

        self.assertEqual(published.external_id, "acct-1_555")
        self.assertEqual(len(self.http.calls), 2, "publishing at the slot is one request")
        self.assertEqual(self.form(self.http.calls[1])["attached_media[0]"], '{"media_fbid": "photo-1"}')

    def test_it_keeps_uploaded_photos_across_a_failure_and_does_not_upload_them_again(self):
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-1"})
        self.http.add(responses.POST, PHOTOS, **graph_error(1, "An unknown error occurred", status=500))
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"])
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state["mediaIds"], ["photo-1"])

        self.http.reset()
        self.http.add(responses.POST, PHOTOS, json={"id": "photo-2"})
        self.http.add(responses.POST, FEED, json={"id": "acct-1_444"})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "acct-1_444")
        self.assertEqual(self.form(self.http.calls[0])["url"], "https://cdn.example.com/b.png")
        self.assertEqual(draft.state["mediaIds"], ["photo-1", "photo-2"])

    def test_it_treats_rate_limit_codes_as_rate_limited_for_at_least_the_backoff(self):
        for code in (4, 17, 32, 613, 80001):
            with self.subTest(code=code):
                self.http.reset()
                self.mock_key_call(**graph_error(code, "Application request limit reached"))
                with self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=60))

    def test_it_gives_up_on_policy_and_invalid_parameter_codes(self):
        for code, message in ((368, "The action attempted has been deemed abusive"), (100, "Invalid parameter")):
            with self.subTest(code=code):
                self.http.reset()
                self.mock_key_call(**graph_error(code, message))
                with self.assertRaisesMessage(
                    PermanentError,
                    f"Facebook API error (code {code}): {message}",
                ):
                    self.adapter.publish(self.account, Draft(text="Hi"))

    def test_it_quotes_the_message_meant_for_people_too(self):
        self.mock_key_call(**graph_error(100, "Invalid parameter", error_user_msg="The photo URL is not reachable."))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(
            caught.exception.message,
            "Facebook API error (code 100): Invalid parameter (The photo URL is not reachable.)",
        )

    def test_it_retries_codes_the_platform_marks_transient(self):
        self.mock_key_call(**graph_error(341, "Application limit reached", is_transient=True))
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, Draft(text="Hi"))

    def test_it_gives_up_on_an_unknown_code_with_a_4xx(self):
        self.mock_key_call(**graph_error(12345, "Something new"))
        with self.assertRaisesMessage(
            PermanentError,
            "Facebook API error (code 12345): Something new",
        ):
            self.adapter.publish(self.account, Draft(text="Hi"))

    def test_it_classifies_an_answer_without_the_graph_envelope_by_status(self):
        for status, expected in ((502, TransientError), (429, RateLimited), (404, PermanentError)):
            with self.subTest(status=status):
                self.http.reset()
                self.mock_key_call(status=status, body="<html>Oops</html>")
                with self.assertRaises(expected) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.message, f"Facebook API error (HTTP {status}): '<html>Oops</html>'")

    def test_it_slows_down_when_usage_headers_near_the_limit(self):
        self.http.add(
            responses.POST,
            FEED,
            json={"id": "acct-1_1"},
            headers={
                "X-App-Usage": json.dumps({"call_count": 95, "total_cputime": 10, "total_time": 12}),
                "X-Page-Usage": "not json",
            },
        )
        published = self.adapter.publish(self.account, Draft(text="Hi"))
        # 95% -> three quarters of the 60 s backoff.
        self.assertEqual(published.slow_down_until, NOW + timedelta(seconds=45))
        self.assertEqual(
            published.metadata, {"usage": {"X-App-Usage": {"call_count": 95, "total_cputime": 10, "total_time": 12}}}
        )

    def test_it_waits_the_time_to_regain_access_when_it_is_longer(self):
        usage = {"acct-1": [{"type": "pages", "call_count": 99, "estimated_time_to_regain_access": 5}]}
        self.http.add(
            responses.POST, FEED, json={"id": "acct-1_1"}, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
        )
        published = self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(published.slow_down_until, NOW + timedelta(minutes=5))

    def test_it_does_not_slow_down_below_ninety_percent_or_on_malformed_headers(self):
        for headers in (
            {"X-App-Usage": json.dumps({"call_count": 89})},
            {"X-App-Usage": json.dumps({"call_count": "lots"})},
            {"X-Business-Use-Case-Usage": json.dumps({"acct-1": "nope"})},
            {"X-Business-Use-Case-Usage": json.dumps([1, 2])},
            {},
        ):
            with self.subTest(headers=headers):
                self.http.reset()
                self.http.add(responses.POST, FEED, json={"id": "acct-1_1"}, headers=headers)
                self.assertIsNone(self.adapter.publish(self.account, Draft(text="Hi")).slow_down_until)

    def test_it_looks_for_recent_posts_since_the_attempt(self):
        self.mock_recent("Hello world")
        self.adapter.find_published(self.account, Draft(text="Hello world"), NOW)
        self.assertEqual(
            self.query(self.http.calls[0]),
            {
                "fields": "id,message,created_time",
                "since": str(int(NOW.timestamp())),
                "limit": "100",
                "access_token": "token-1",
            },
        )

    def test_it_ignores_a_matching_post_older_than_the_attempt(self):
        self.http.add(
            responses.GET,
            FEED,
            json={"data": [{"id": "old-1", "message": "Hello world", "created_time": "2025-02-01T12:00:00+0000"}]},
        )
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Hello world"), NOW))

    def test_it_waits_at_most_a_day_however_long_the_platform_says_to_regain_access(self):
        for minutes in (10**12, 1e300, "99999999999999"):
            with self.subTest(minutes=minutes):
                self.http.reset()
                usage = {"acct-1": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": minutes}]}
                self.mock_key_call(
                    **graph_error(80001, "Too many calls"), headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
                )
                with self.assertLogs("planrrr.text", "WARNING") as logs, self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + MAX_WAIT)
                self.assertEqual(len(logs.records), 1)
                self.assertIn("estimated_time_to_regain_access", logs.output[0])

    def test_it_waits_the_backoff_when_the_time_to_regain_access_is_negative_or_not_a_number(self):
        for minutes in (-5, -1e300, "NaN", "soon", None, [1]):
            with self.subTest(minutes=minutes):
                self.http.reset()
                usage = {"acct-1": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": minutes}]}
                self.mock_key_call(
                    **graph_error(80001, "Too many calls"), headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
                )
                with self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=60))

    def test_it_slows_down_at_most_a_day_however_long_the_usage_header_says(self):
        usage = {"acct-1": [{"type": "pages", "call_count": 99, "estimated_time_to_regain_access": 1e300}]}
        self.http.add(
            responses.POST, FEED, json={"id": "acct-1_1"}, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
        )
        with self.assertLogs("planrrr.text", "WARNING"):
            published = self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(published.slow_down_until, NOW + MAX_WAIT)


VIDEOS = f"{GRAPH}/acct-1/videos"
CLIP = "https://cdn.example.com/clips/launch.mp4"
PHOTO = "https://cdn.example.com/a.jpg"


def video_status(state: str, **status) -> dict:
    """GET /{video-id}?fields=status, as https://developers.facebook.com/docs/graph-api/reference/video-status
    shapes it."""
    return {"json": {"id": "v-1", "status": {"video_status": state, **status}}}


@override_settings(META_VIDEO_POLL_SECONDS=30)
class FacebookVideoTests(AdapterTestCase):
    """A Page video: uploaded from its URL (file_url), PUBLISHED once Facebook has processed it."""

    adapter_class = FacebookAdapter
    account = Account(account_id="acct-1", access_token="token-1")

    def draft(self, **state) -> Draft:
        return Draft(text="Roasting day, in 30 seconds.", media_urls=[CLIP], state=dict(state))

    def test_it_uploads_the_video_from_its_url_and_waits_while_facebook_processes_it(self):
        self.http.add(responses.POST, VIDEOS, json={"id": "v-1"})
        self.http.add(
            responses.GET, f"{GRAPH}/v-1", **video_status("processing", processing_progress=40, processing_phase={})
        )
        draft = self.draft()

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        upload, check = self.http.calls
        self.assertEqual(
            self.form(upload),
            {"file_url": CLIP, "description": "Roasting day, in 30 seconds.", "access_token": "token-1"},
        )
        self.assertEqual(self.query(check), {"fields": "status", "access_token": "token-1"})
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=30))
        self.assertEqual(
            caught.exception.message, "Facebook is still processing the video (video v-1 is processing, 40 % done)."
        )
        self.assertEqual(draft.state, {"videoId": "v-1", "mediaIds": ["v-1"]})

    def test_it_publishes_the_video_once_ready_without_uploading_it_again(self):
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("ready", processing_progress=100))

        published = self.adapter.publish(self.account, self.draft(videoId="v-1", mediaIds=["v-1"]))

        self.assertEqual(len(self.http.calls), 1, "a status read, no upload")
        self.assertEqual(published.external_id, "v-1")
        self.assertEqual(published.url, "https://www.facebook.com/acct-1/videos/v-1")

    @override_settings(META_VIDEO_POLL_SECONDS=2)
    def test_it_looks_again_after_meta_video_poll_seconds(self):
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("processing"))
        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, self.draft(videoId="v-1"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=2))
        self.assertEqual(caught.exception.message, "Facebook is still processing the video (video v-1 is processing).")

    def test_it_fails_with_facebooks_reason_when_processing_fails_and_a_retry_uploads_anew(self):
        errors = [{"code": 1363008, "message": "Video Format Not Supported: the video file is corrupt."}]
        self.http.add(
            responses.GET,
            f"{GRAPH}/v-1",
            **video_status("error", processing_phase={"status": "error", "errors": errors}),
        )
        draft = self.draft(videoId="v-1", mediaIds=["v-1"])

        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)

        self.assertEqual(
            caught.exception.message,
            "Facebook API error: could not process the video (video v-1 is error): "
            "Video Format Not Supported: the video file is corrupt. (code 1363008)",
        )
        self.assertEqual(draft.state, {"failedVideos": ["v-1"]}, "the next attempt uploads anew")

    def test_it_says_so_when_facebook_gives_no_reason(self):
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("expired"))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, self.draft(videoId="v-1"))
        self.assertTrue(caught.exception.message.endswith("(video v-1 is expired): no reason given"))

    def test_a_status_without_video_status_is_malformed(self):
        for body in ({"id": "v-1"}, {"status": "ready"}, {"status": {"video_status": ""}}):
            with self.subTest(body=body):
                self.http.reset()
                self.http.add(responses.GET, f"{GRAPH}/v-1", json=body)
                with self.assertRaises(TransientError):
                    self.adapter.publish(self.account, self.draft(videoId="v-1"))

    def test_a_refused_video_url_fails_with_facebooks_words(self):
        self.http.add(responses.POST, VIDEOS, **graph_error(389, "(#389) Unable to fetch video file from URL."))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(
            caught.exception.message, "Facebook API error (code 389): (#389) Unable to fetch video file from URL."
        )

    def test_a_lost_upload_is_found_among_the_pages_videos_and_waited_for(self):
        self.http.add(
            responses.GET,
            VIDEOS,
            json={
                "data": [
                    {"id": "v-2", "description": "Another clip", "created_time": "2025-03-01T12:00:09+0000"},
                    {
                        "id": "v-1",
                        "description": "Roasting day, in 30 seconds.",
                        "created_time": "2025-03-01T12:00:05+0000",
                    },
                ]
            },
        )
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("processing"))
        draft = self.draft()

        with self.assertRaises(NotReady):
            self.adapter.find_published(self.account, draft, NOW)

        listing = self.query(self.http.calls[0])
        self.assertEqual(
            {key: listing[key] for key in ("type", "since", "fields")},
            {"type": "uploaded", "since": str(int(NOW.timestamp())), "fields": "id,description,created_time"},
        )
        self.assertEqual(draft.state, {"videoId": "v-1", "mediaIds": ["v-1"]}, "the next attempt polls it")

    def test_a_lost_upload_found_processed_is_the_post(self):
        self.http.add(
            responses.GET,
            VIDEOS,
            json={
                "data": [
                    {
                        "id": "v-1",
                        "description": "Roasting day, in 30 seconds.",
                        "created_time": "2025-03-01T12:00:05+0000",
                    }
                ]
            },
        )
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("ready"))
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), "v-1")

    def test_it_finds_no_video_older_than_the_attempt_nor_one_that_failed(self):
        old = {"id": "v-0", "description": "Roasting day, in 30 seconds.", "created_time": "2025-03-01T11:00:00+0000"}
        failed = {
            "id": "v-1",
            "description": "Roasting day, in 30 seconds.",
            "created_time": "2025-03-01T12:00:05+0000",
        }
        self.http.add(responses.GET, VIDEOS, json={"data": [failed, old]})
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(failedVideos=["v-1"]), NOW))

    def test_an_upload_whose_answer_came_is_not_looked_for(self):
        self.http.add(responses.GET, f"{GRAPH}/v-1", **video_status("ready"))
        self.assertEqual(self.adapter.find_published(self.account, self.draft(videoId="v-1"), NOW), "v-1")
        self.assertEqual(len(self.http.calls), 1)

    def test_it_takes_one_video_alone(self):
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=[CLIP, PHOTO]),
            ["Facebook takes images or a video in one post, not both: keep the video or the images for Facebook."],
        )
        self.assertEqual(
            self.adapter.validate(text="Hi", media_urls=[CLIP, CLIP.replace("launch", "teaser")]),
            ["Facebook takes at most 1 video in a post; this post has 2."],
        )
        self.assertEqual(self.adapter.validate(text="Hi", media_urls=[CLIP]), [])

    def test_it_stages_no_video(self):
        # Uploading the video publishes it: nothing goes up before the post's time.
        draft = self.draft()
        self.adapter.stage(self.account, draft)
        self.assertEqual((len(self.http.calls), draft.state), (0, {}))
