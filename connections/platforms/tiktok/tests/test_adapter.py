import json
from datetime import timedelta

import requests
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
from connections.platforms.tiktok.adapter import TikTokAdapter, chunk_plan
from connections.tests.contract import NOW, AdapterContract, AdapterTestCase, pinned
from planrrr.crypto import decrypt, encrypt

API = "https://tiktok.test"
CREATOR = f"{API}/v2/post/publish/creator_info/query/"
INIT = f"{API}/v2/post/publish/video/init/"
STATUS = f"{API}/v2/post/publish/status/fetch/"
LIST = f"{API}/v2/video/list/"
UPLOAD = "https://upload.tiktok.test/video/?upload_id=p-1&upload_token=UPLOADSECRET"
VIDEO = "https://cdn.example.com/clip.mp4"
# An MP4's first box, padded: 1,000 bytes.
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 988
PUBLIC = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]


def ok(data: dict) -> dict:
    return {"json": {"data": data, "error": {"code": "ok", "message": "", "log_id": "L1"}}}


def failure(code: str, message: str, status: int) -> dict:
    return {"status": status, "json": {"data": {}, "error": {"code": code, "message": message, "log_id": "L1"}}}


def uploaded(**state) -> Draft:
    """A draft whose video TikTok has whole: what is left is reading its status."""
    return Draft(
        text="Hello world",
        media_urls=[VIDEO],
        state={"publishId": "p-1", "source": "FILE_UPLOAD", "uploaded": True, **state},
    )


@override_settings(TIKTOK_API_URL=API, TIKTOK_UPLOAD_CHUNK_BYTES=400, MEDIA_MAX_VIDEO_BYTES=1024 * 1024)
class TikTokTests(AdapterContract, AdapterTestCase):
    adapter_class = TikTokAdapter
    reads_recent_posts = False
    too_long_text = "a" * 2201
    rate_limited_retry_at = NOW + timedelta(seconds=60)
    errors = {
        "rate_limited": (
            failure("rate_limit_exceeded", "The API rate limit was exceeded.", 429),
            RateLimited,
            "TikTok API error (rate_limit_exceeded): The API rate limit was exceeded.",
        ),
        "token_expired": (
            failure("access_token_invalid", "The access token is invalid.", 401),
            TokenExpired,
            "TikTok API error (access_token_invalid): The access token is invalid.",
        ),
        "permanent": (
            failure("invalid_params", "publish_id is not valid.", 400),
            PermanentError,
            "TikTok API error (invalid_params): publish_id is not valid.",
        ),
        "server_error": (
            failure("internal_error", "Something went wrong.", 500),
            TransientError,
            "TikTok API error (internal_error): Something went wrong.",
        ),
    }
    malformed_successes = [{"status": 200, "body": "not json"}, {"status": 200, **ok({})}]

    def draft(self) -> Draft:
        return uploaded()

    def mock_success(self) -> str:
        self.http.add(responses.POST, STATUS, **ok({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [71]}))
        return "71"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, STATUS, **kwargs)

    mock_recent_call = mock_key_call

    def add_video(self, body: bytes = MP4) -> None:
        self.http.add(responses.GET, pinned(VIDEO), body=body, content_type="video/mp4")

    def body(self, call) -> dict:
        return json.loads(call.request.body)

    def test_it_refuses_too_many_images(self):
        # A video-only platform refuses images whatever their number.
        problems = self.adapter.validate(text="Hello", media_urls=["https://cdn.example.com/a.png"])
        self.assertEqual(len(problems), 1)
        self.assertIn("TikTok takes video only: replace 1 image", problems[0])

    def test_it_asks_for_a_video(self):
        self.assertEqual(
            self.adapter.validate(text="Hello", media_urls=[]),
            ["TikTok needs a video: add a video URL (.mp4, .m4v, .mov, .webm) or remove TikTok."],
        )

    def test_it_counts_the_title_in_utf16_runes(self):
        self.assertEqual(self.adapter.text_length("a😀"), 3)

    def test_it_plans_chunks_as_tiktok_asks(self):
        self.assertEqual(chunk_plan(4_000_000, 10_000_000), (4_000_000, 1), "smaller than a chunk: whole")
        self.assertEqual(chunk_plan(50_000_123, 10_000_000), (10_000_000, 5), "the trailing bytes join the last")
        self.assertEqual(chunk_plan(19_999_999, 10_000_000), (19_999_999, 1))

    def test_the_init_asks_creator_info_then_records_the_publish_id_before_any_byte(self):
        self.http.add(responses.POST, CREATOR, **ok({"privacy_level_options": PUBLIC, "duet_disabled": True}))
        self.add_video()
        self.http.add(responses.POST, INIT, **ok({"publish_id": "p-1", "upload_url": UPLOAD}))
        draft = Draft(text="Hello world", media_urls=[VIDEO], options={"disableComment": True})

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        self.assertEqual(caught.exception.retry_at, NOW, "the upload follows at once")
        self.assertEqual(
            self.body(self.http.calls[2]),
            {
                "post_info": {
                    "title": "Hello world",
                    "privacy_level": "PUBLIC_TO_EVERYONE",
                    "disable_comment": True,
                    "disable_duet": True,
                    "disable_stitch": False,
                },
                "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 400, "total_chunk_count": 2},
            },
        )
        state = dict(draft.state)
        self.assertEqual(decrypt(state.pop("uploadUrl")), UPLOAD)
        self.assertEqual(
            state,
            {
                "publishId": "p-1",
                "source": "FILE_UPLOAD",
                "privacyLevel": "PUBLIC_TO_EVERYONE",
                "videoSize": 1000,
                "chunkSize": 400,
                "chunks": 2,
            },
        )

    def test_it_refuses_a_privacy_level_tiktok_no_longer_offers_before_init(self):
        self.http.add(
            responses.POST, CREATOR, **ok({"privacy_level_options": ["SELF_ONLY"], "creator_username": "samsolo"})
        )
        draft = Draft(text="Hello", media_urls=[VIDEO], options={"privacyLevel": "PUBLIC_TO_EVERYONE"})
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(
            caught.exception.message,
            "TikTok no longer offers @samsolo the privacy level PUBLIC_TO_EVERYONE; it offers SELF_ONLY: change the "
            "post's privacyLevel for TikTok, then retry.",
        )
        self.assertEqual(len(self.http.calls), 1, "no init")

    def upload_state(self, **extra) -> Draft:
        return Draft(
            text="Hello world",
            media_urls=[VIDEO],
            state={
                "publishId": "p-1",
                "source": "FILE_UPLOAD",
                "uploadUrl": encrypt(UPLOAD),
                "videoSize": 1000,
                "chunkSize": 400,
                "chunks": 2,
                **extra,
            },
        )

    def test_it_uploads_the_chunks_in_order_with_their_content_range(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 0}))
        self.add_video()
        self.http.add(responses.PUT, UPLOAD, status=206)
        self.http.add(responses.PUT, UPLOAD, status=201)
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 1000}))
        draft = self.upload_state()

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        self.assertIn("The video (publish_id p-1) is being processed by TikTok", caught.exception.message)
        first, second = self.http.calls[2:4]
        self.assertEqual(first.request.headers["Content-Range"], "bytes 0-399/1000")
        self.assertEqual(second.request.headers["Content-Range"], "bytes 400-999/1000", "the last takes the rest")
        self.assertEqual(len(first.request.body) + len(second.request.body), 1000)
        self.assertNotIn("Authorization", first.request.headers, "the upload URL is its own credential")
        self.assertTrue(draft.state["uploaded"])

    def test_it_resumes_an_upload_where_tiktok_says_it_stopped(self):
        # A cut after the first chunk: TikTok has 400 bytes; only the rest is sent.
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 400}))
        self.add_video()
        self.http.add(responses.PUT, UPLOAD, status=201)
        self.http.add(responses.POST, STATUS, **ok({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7]}))
        self.assertEqual(self.adapter.publish(self.account, self.upload_state()).external_id, "7")
        (put,) = [call for call in self.http.calls if call.request.method == "PUT"]
        self.assertEqual(put.request.headers["Content-Range"], "bytes 400-999/1000")

    def test_a_lost_answer_to_the_last_chunk_sends_nothing_again(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 1000}))
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 1000}))
        with self.assertRaises(NotReady):
            self.adapter.publish(self.account, self.upload_state())
        self.assertFalse([call for call in self.http.calls if call.request.method == "PUT"])

    def test_a_cut_mid_upload_is_transient_and_keeps_the_publish_id(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 0}))
        self.add_video()
        self.http.add(responses.PUT, UPLOAD, body=requests.exceptions.ConnectionError(f"reset {UPLOAD}"))
        draft = self.upload_state()
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertNotIn("UPLOADSECRET", caught.exception.message)
        self.assertEqual(draft.state["publishId"], "p-1")

    def test_it_waits_while_tiktok_processes(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 1000}))
        with override_settings(TIKTOK_STATUS_POLL_SECONDS=7):
            with self.assertRaises(NotReady) as caught:
                self.adapter.publish(self.account, uploaded())
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=7))

    def test_a_private_post_is_known_by_its_publish_id_and_a_public_one_by_its_url(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []}))
        self.assertEqual(self.adapter.publish(self.account, uploaded()).external_id, "p-1")
        self.http.add(responses.POST, STATUS, **ok({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [71]}))
        account = Account(account_id="acct-1", access_token="token-1")
        account.details = {"username": "acmecoffee"}
        published = self.adapter.publish(account, uploaded())
        self.assertEqual(published.url, "https://www.tiktok.com/@acmecoffee/video/71")

    def test_failed_is_permanent_with_the_reason_in_words_and_forgets_the_publish_id(self):
        self.http.add(responses.POST, STATUS, **ok({"status": "FAILED", "fail_reason": "frame_rate_check_failed"}))
        draft = uploaded()
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertEqual(
            caught.exception.message,
            "TikTok could not publish the video: the video's frame rate is outside 23 to 60 FPS "
            "(fail_reason frame_rate_check_failed).",
        )
        self.assertEqual(draft.state, {}, "a retry starts anew")

    def test_the_daily_limits_are_waits_and_the_unaudited_refusal_says_what_to_do(self):
        self.mock_key_call(**failure("spam_risk_too_many_posts", "Too many posts.", 403))
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, uploaded())
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(hours=1))
        self.mock_key_call(**failure("unaudited_client_can_only_post_to_private_accounts", "Unaudited.", 403))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, uploaded())
        self.assertIn("post with privacyLevel SELF_ONLY", caught.exception.message)

    def test_a_lost_file_upload_init_cannot_be_a_post_and_costs_no_call(self):
        draft = Draft(text="Hello world", media_urls=[VIDEO], state={"source": "FILE_UPLOAD"})
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW))
        self.assertEqual(len(self.http.calls), 0)

    def test_a_lost_pull_from_url_init_is_looked_for_among_the_videos(self):
        created = int(NOW.timestamp()) + 5
        self.http.add(
            responses.POST,
            LIST,
            **ok({"videos": [{"id": "o", "title": "Other", "create_time": created}], "cursor": 1, "has_more": True}),
        )
        self.http.add(
            responses.POST,
            LIST,
            **ok({"videos": [{"id": "v-9", "title": "Hello world", "create_time": created}], "has_more": False}),
        )
        draft = Draft(text="Hello world", media_urls=[VIDEO], state={"source": "PULL_FROM_URL"})
        self.assertEqual(self.adapter.find_published(self.account, draft, NOW), "v-9")
        self.assertEqual(self.body(self.http.calls[1]), {"max_count": 20, "cursor": 1})

    def test_prepare_records_the_source_before_an_init(self):
        draft = Draft(text="Hello", media_urls=[VIDEO])
        self.assertTrue(self.adapter.prepare(draft))
        self.assertEqual(draft.state, {"source": "FILE_UPLOAD"})
        self.assertFalse(self.adapter.prepare(draft), "nothing new to record")
        with override_settings(TIKTOK_MEDIA_DOMAIN_VERIFIED=True):
            self.assertTrue(self.adapter.prepare(draft))
            self.assertEqual(draft.state, {"source": "PULL_FROM_URL"})

    def test_it_pulls_from_a_verified_domain(self):
        self.http.add(responses.POST, CREATOR, **ok({"privacy_level_options": PUBLIC}))
        self.http.add(responses.POST, INIT, **ok({"publish_id": "p-2"}))
        draft = Draft(text="Hi", media_urls=[VIDEO], options={"privacyLevel": "SELF_ONLY"})
        with override_settings(TIKTOK_MEDIA_DOMAIN_VERIFIED=True), self.assertRaises(NotReady):
            self.adapter.publish(self.account, draft)
        self.assertEqual(self.body(self.http.calls[1])["source_info"], {"source": "PULL_FROM_URL", "video_url": VIDEO})
        self.assertEqual(self.body(self.http.calls[1])["post_info"]["privacy_level"], "SELF_ONLY")
        self.assertEqual(draft.state["publishId"], "p-2")

    def test_the_door_checks_the_privacy_level_against_the_accounts_levels(self):
        details = {"username": "samsolo", "privacyLevelOptions": ["SELF_ONLY"]}
        self.assertEqual(
            self.adapter.options_problems({"privacyLevel": "PUBLIC_TO_EVERYONE"}, details=details),
            [
                "TikTok offers @samsolo the privacy levels SELF_ONLY, not PUBLIC_TO_EVERYONE: set privacyLevel to "
                "one of them."
            ],
        )
        self.assertEqual(self.adapter.options_problems({"privacyLevel": "SELF_ONLY"}, details=details), [])
        self.assertIn("must be one of", self.adapter.options_problems({"privacyLevel": "EVERYONE"}, details=details)[0])
        self.assertIn("true or false", self.adapter.options_problems({"disableDuet": "yes"}, details=details)[0])

    def test_an_account_offered_only_private_posts_gets_a_notice_not_a_refusal(self):
        notices = self.adapter.options_notices({}, details={"privacyLevelOptions": ["SELF_ONLY"]})
        self.assertEqual(
            notices,
            [
                "TikTok will publish this video as private (SELF_ONLY): it will be visible only to the account owner "
                "until planrrr's TikTok app passes TikTok's audit."
            ],
        )
        self.assertEqual(self.adapter.options_notices({}, details={"privacyLevelOptions": PUBLIC}), [])
