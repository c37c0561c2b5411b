import json
from datetime import UTC, datetime, timedelta

import requests
import responses
from django.test import override_settings

from connections.platforms.base import Draft, NotReady, PermanentError, RateLimited, TokenExpired, TransientError
from connections.platforms.youtube.adapter import (
    SESSION,
    VIDEO_ID,
    YouTubeAdapter,
    next_pacific_midnight,
    session_uri,
    title_of,
)
from connections.tests.contract import NOW, AdapterContract, AdapterTestCase, pinned
from planrrr.crypto import encrypt

API = "https://youtube.test"
UPLOAD = f"{API}/upload/youtube/v3/videos"
SESSION_URI = f"{UPLOAD}?uploadType=resumable&upload_id=up-1"
VIDEOS = f"{API}/youtube/v3/videos"
CHANNELS = f"{API}/youtube/v3/channels"
ITEMS = f"{API}/youtube/v3/playlistItems"
CLIP = "https://cdn.example.com/clip.mp4"
KIB = 1024
# An MP4's first box (ftyp), padded: what fetch_video takes for a video.
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * (600_000 - 24)


def google_error(status: int, message: str, reason: str, status_name: str = "") -> dict:
    """Google's envelope (https://cloud.google.com/apis/design/errors)."""
    return {
        "status": status,
        "json": {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}],
                "status": status_name,
            }
        },
    }


def resource(video_id: str, upload_status: str, **status) -> dict:
    return {"kind": "youtube#video", "id": video_id, "status": {"uploadStatus": upload_status, **status}}


@override_settings(
    YOUTUBE_API_URL=API,
    YOUTUBE_UPLOAD_CHUNK_BYTES=256 * KIB,
    YOUTUBE_PROCESSING_POLL_SECONDS=60,
    MEDIA_MAX_VIDEO_BYTES=10 * 1024 * 1024,
)
class YouTubeTests(AdapterContract, AdapterTestCase):
    adapter_class = YouTubeAdapter
    too_long_text = "a" * 5001
    rate_limited_retry_at = NOW + timedelta(seconds=60)
    errors = {
        "rate_limited": (
            {
                **google_error(429, "Resource has been exhausted.", "rateLimitExceeded"),
                "headers": {"Retry-After": "60"},
            },
            RateLimited,
            "YouTube API error (429 rateLimitExceeded): Resource has been exhausted.",
        ),
        "token_expired": (
            google_error(401, "Request had invalid authentication credentials.", "authError"),
            TokenExpired,
            "YouTube API error (401 authError): Request had invalid authentication credentials.",
        ),
        "permanent": (
            google_error(400, "The request metadata specifies an invalid video title.", "invalidTitle"),
            PermanentError,
            "YouTube API error (400 invalidTitle): The request metadata specifies an invalid video title.",
        ),
        "server_error": (
            google_error(503, "Backend Error", "backendError"),
            TransientError,
            "YouTube API error (503 backendError): Backend Error",
        ),
    }
    # 200 without a session in Location.
    malformed_successes = [{"status": 200, "body": "not json"}, {"status": 200, "json": {}}]

    def draft(self) -> Draft:
        return Draft(text="Hello world", media_urls=[CLIP])

    def add_video(self, body: bytes = MP4) -> None:
        self.http.add(responses.GET, pinned(CLIP), body=body, content_type="video/mp4")

    def add_session(self, location: str = SESSION_URI) -> None:
        self.http.add(responses.POST, UPLOAD, status=200, json={}, headers={"Location": location})

    def add_chunk(self, *, stored: int | None = None, **kwargs) -> None:
        if stored is not None:
            kwargs = {"status": 308, "headers": {"Range": f"bytes=0-{stored - 1}"}, "body": ""}
        self.http.add(responses.PUT, UPLOAD, **kwargs)

    def mock_success(self) -> str:
        self.add_video()
        self.add_session()
        self.add_chunk(stored=256 * KIB)
        self.add_chunk(stored=512 * KIB)
        self.add_chunk(json=resource("vid-1", "processed", privacyStatus="public"))
        return "vid-1"

    def mock_key_call(self, **kwargs) -> None:
        self.add_video()
        self.http.add(responses.POST, UPLOAD, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, CHANNELS, **kwargs)

    def add_channel(self) -> None:
        self.http.add(
            responses.GET,
            CHANNELS,
            json={"items": [{"id": "acct-1", "contentDetails": {"relatedPlaylists": {"uploads": "UU-1"}}}]},
        )

    def item(self, video_id: str, text: str, added: str = "2025-03-01T12:00:05Z") -> dict:
        title = title_of(text, {})
        return {
            "snippet": {"title": title, "description": text, "publishedAt": added, "resourceId": {"videoId": video_id}}
        }

    def mock_recent(self, text: str) -> None:
        self.add_channel()
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("found-1", text)]})
        if text == self.draft().text:
            self.http.add(responses.GET, VIDEOS, json={"items": [resource("found-1", "processed")]})

    # --- the contract, where YouTube differs -----------------------------------------------------

    def test_it_refuses_text_over_the_limit(self):
        (problem,) = self.adapter.validate(text="a" * 5001, media_urls=[CLIP])
        self.assertIn("YouTube allows at most 5,000 bytes (UTF-8) in a video's description", problem)
        self.assertIn("Shorten it by 1 bytes.", problem)
        self.assertEqual(self.adapter.validate(text="a" * 5000, media_urls=[CLIP]), [])
        # Bytes, not characters: 2,501 two-byte characters are 5,002 bytes.
        self.assertTrue(self.adapter.validate(text="é" * 2501, media_urls=[CLIP]))

    def test_it_refuses_too_many_images(self):
        self.assertEqual(
            self.adapter.validate(text="Hello", media_urls=["https://cdn.example.com/0.png"]),
            [
                "YouTube takes video only: replace 1 image (https://cdn.example.com/0.png) with a video URL "
                "(.mp4, .m4v, .mov, .webm) or remove YouTube."
            ],
        )
        self.assertEqual(
            self.adapter.validate(text="Hello", media_urls=[]),
            ["YouTube needs a video: add a video URL (.mp4, .m4v, .mov, .webm) or remove YouTube."],
        )

    def test_it_reads_the_next_page_of_recent_posts(self):
        self.add_channel()
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("other-1", "Other")], "nextPageToken": "p2"})
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("found-1", "Hello world")]})
        self.http.add(responses.GET, VIDEOS, json={"items": [resource("found-1", "processed")]})
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), "found-1")
        self.assertEqual(self.query(self.http.calls[2])["pageToken"], "p2")

    def test_it_reads_at_most_reconcile_max_pages(self):
        self.add_channel()
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("other-1", "Other")], "nextPageToken": "p2"})
        with override_settings(RECONCILE_MAX_PAGES=1):
            self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))
        self.assertEqual(len(self.http.calls), 2)

    # --- the resumable upload ----------------------------------------------------------------------

    def test_it_uploads_in_chunks_of_256_kib_from_where_youtube_stands(self):
        self.mock_success()
        saved = []
        draft = Draft(text="Roasting day\nFrom green beans.", media_urls=[CLIP])
        draft.checkpoint = lambda: saved.append(json.loads(json.dumps(draft.state))) or True

        published = self.adapter.publish(self.account, draft)

        _, start, *chunks = self.http.calls
        self.assertEqual(self.query(start), {"uploadType": "resumable", "part": "snippet,status"})
        self.assertEqual(start.request.headers["X-Upload-Content-Length"], str(len(MP4)))
        self.assertEqual(start.request.headers["X-Upload-Content-Type"], "video/mp4")
        self.assertEqual(start.request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(
            json.loads(start.request.body),
            {
                "snippet": {
                    "title": "Roasting day",
                    "description": "Roasting day\nFrom green beans.",
                    "categoryId": "22",
                },
                "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
            },
        )
        self.assertEqual(
            [c.request.headers["Content-Range"] for c in chunks],
            ["bytes 0-262143/600000", "bytes 262144-524287/600000", "bytes 524288-599999/600000"],
        )
        self.assertEqual(b"".join(c.request.body for c in chunks), MP4)
        self.assertEqual((published.external_id, published.url), ("vid-1", "https://www.youtube.com/watch?v=vid-1"))
        self.assertEqual(
            [s.get(SESSION, {}).get("offset") for s in saved],
            [0, 256 * KIB, 512 * KIB, None],
            "the row after each step",
        )
        self.assertEqual(draft.state, {VIDEO_ID: "vid-1"})

    def test_after_a_cut_it_asks_the_offset_and_resumes_from_it(self):
        self.add_video()
        self.add_session()
        self.add_chunk(stored=256 * KIB)
        self.add_chunk(body=requests.exceptions.ConnectionError("Connection aborted."))
        self.add_chunk(stored=300_001)  # what arrived of the cut chunk, not a multiple of 256 KiB
        self.add_chunk(stored=300_001 + 256 * KIB)
        self.add_chunk(status=201, json=resource("vid-2", "processed"))

        self.assertEqual(self.adapter.publish(self.account, self.draft()).external_id, "vid-2")

        ranges = [c.request.headers["Content-Range"] for c in self.http.calls[2:]]
        self.assertEqual(
            ranges,
            [
                "bytes 0-262143/600000",
                "bytes 262144-524287/600000",
                "bytes */600000",
                "bytes 300001-562144/600000",
                "bytes 562145-599999/600000",
            ],
        )
        self.assertFalse(self.http.calls[4].request.body, "a status query sends no bytes")

    def test_a_5xx_to_a_chunk_leaves_the_session_to_the_next_attempt(self):
        self.add_video()
        self.add_session()
        self.add_chunk(**google_error(503, "Backend Error", "backendError"))
        draft = self.draft()
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(
            {**draft.state[SESSION], "uri": session_uri(draft.state[SESSION])},
            {"uri": SESSION_URI, "size": len(MP4), "offset": 0},
        )
        self.assertNotIn(SESSION_URI, str(draft.state), "the session URI is kept encrypted")

        # The next attempt asks where the session stands and goes on from there.
        self.add_video()
        self.add_chunk(stored=256 * KIB)
        self.add_chunk(stored=512 * KIB)
        self.add_chunk(json=resource("vid-3", "processed"))
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "vid-3")
        self.assertEqual(self.http.calls[-3].request.headers["Content-Range"], "bytes */600000")
        self.assertEqual(self.http.calls[-2].request.headers["Content-Range"], "bytes 262144-524287/600000")

    def test_an_expired_session_is_started_again(self):
        self.add_video()
        self.add_chunk(**google_error(404, "Not Found", "notFound"))
        self.add_session(location=f"{UPLOAD}?uploadType=resumable&upload_id=up-2")
        self.add_chunk(json=resource("vid-4", "processed"))
        draft = self.draft()
        draft.state[SESSION] = {"uri": encrypt(SESSION_URI), "size": len(MP4), "offset": 512 * KIB}
        with override_settings(YOUTUBE_UPLOAD_CHUNK_BYTES=1024 * KIB):
            self.assertEqual(self.adapter.publish(self.account, draft).external_id, "vid-4")
        self.assertIn("upload_id=up-2", self.http.calls[-1].request.url)

    def test_a_session_made_for_another_file_is_not_resumed(self):
        self.add_video()
        self.add_session(location=f"{UPLOAD}?uploadType=resumable&upload_id=up-3")
        self.add_chunk(json=resource("vid-7", "processed"))
        draft = self.draft()
        draft.state[SESSION] = {"uri": encrypt(SESSION_URI), "size": 999, "offset": 0}
        with override_settings(YOUTUBE_UPLOAD_CHUNK_BYTES=1024 * KIB):
            self.assertEqual(self.adapter.publish(self.account, draft).external_id, "vid-7")
        self.assertEqual([c.request.method for c in self.http.calls], ["GET", "POST", "PUT"])
        self.assertIn("upload_id=up-3", self.http.calls[-1].request.url)

    def test_it_sends_no_token_to_a_session_on_another_host(self):
        self.add_video()
        self.add_session(location="https://attacker.example/upload?upload_id=1")
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertIn("no upload session on the API's host", caught.exception.message)
        self.assertEqual(len(self.http.calls), 2)

    # --- processing ----------------------------------------------------------------------------------

    def test_an_uploaded_video_waits_for_processing_then_is_published(self):
        self.add_video()
        self.add_session()
        self.add_chunk(stored=256 * KIB)
        self.add_chunk(stored=512 * KIB)
        self.add_chunk(json=resource("vid-5", "uploaded"))
        draft = self.draft()
        with self.assertRaises(NotReady) as waiting:
            self.adapter.publish(self.account, draft)
        self.assertEqual(waiting.exception.retry_at, NOW + timedelta(seconds=60))
        self.assertEqual(draft.state, {VIDEO_ID: "vid-5"})

        self.http.add(responses.GET, VIDEOS, json={"items": [resource("vid-5", "processed")]})
        self.assertEqual(self.adapter.publish(self.account, draft).external_id, "vid-5")
        self.assertEqual(self.query(self.http.calls[-1]), {"part": "status,processingDetails", "id": "vid-5"})

    def test_a_failed_or_rejected_video_ends_with_youtubes_reason(self):
        cases = {
            ("failed", "failureReason", "codec"): "YouTube could not process the video v: its codec is not supported "
            "(failureReason codec).",
            ("rejected", "rejectionReason", "copyright"): "YouTube rejected the video v: copyright infringement "
            "(rejectionReason copyright).",
        }
        for (status, field, reason), message in cases.items():
            with self.subTest(status=status):
                self.http.add(responses.GET, VIDEOS, json={"items": [resource("v", status, **{field: reason})]})
                with self.assertRaises(PermanentError) as caught:
                    self.adapter.publish(self.account, Draft(text="Hello", media_urls=[CLIP], state={VIDEO_ID: "v"}))
                self.assertEqual(caught.exception.message, message)

    def test_the_projects_used_quota_is_a_wait_until_midnight_pacific(self):
        self.mock_key_call(
            **google_error(
                403,
                'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started'
                '#quota">quota</a>.',
                "quotaExceeded",
                "PERMISSION_DENIED",
            )
        )
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        # 12:00 UTC on 1 March is 04:00 PST: the quota comes back at 08:00 UTC the next day.
        self.assertEqual(caught.exception.retry_at, datetime(2025, 3, 2, 8, 0, tzinfo=UTC))
        self.assertIn(
            "(403 quotaExceeded): The request cannot be completed because you have exceeded your quota.",
            caught.exception.message,
        )

    def test_midnight_pacific_follows_daylight_saving_time(self):
        self.assertEqual(
            next_pacific_midnight(datetime(2025, 7, 1, 12, tzinfo=UTC)), datetime(2025, 7, 2, 7, tzinfo=UTC)
        )

    # --- a lost answer ----------------------------------------------------------------------------------

    def test_a_lost_answer_is_found_in_the_sessions_own_status(self):
        draft = self.draft()
        draft.state[SESSION] = {"uri": encrypt(SESSION_URI), "size": len(MP4), "offset": 512 * KIB}
        self.add_chunk(status=200, json=resource("vid-6", "processed"))
        self.assertEqual(self.adapter.find_published(self.account, draft, NOW), "vid-6")

        draft = self.draft()
        draft.state[SESSION] = {"uri": encrypt(SESSION_URI), "size": len(MP4), "offset": 256 * KIB}
        self.add_chunk(stored=512 * KIB)
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW), "not complete: publish resumes")
        self.assertIn(SESSION, draft.state)

    def test_a_video_found_still_processing_is_waited_on_not_uploaded_again(self):
        self.add_channel()
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("found-2", "Hello world")]})
        self.http.add(responses.GET, VIDEOS, json={"items": [resource("found-2", "uploaded")]})
        draft = self.draft()
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW))
        self.assertEqual(draft.state, {VIDEO_ID: "found-2"})

    def test_an_upload_made_before_the_attempt_is_not_taken_for_it(self):
        self.add_channel()
        self.http.add(responses.GET, ITEMS, json={"items": [self.item("old-1", "Hello world", "2025-03-01T11:00:00Z")]})
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))

    # --- options -------------------------------------------------------------------------------------

    def test_the_title_and_status_come_from_the_variants_options(self):
        self.mock_success()
        draft = self.draft()
        draft.options = {"title": "Latte art", "privacyStatus": "unlisted", "madeForKids": True, "tags": ["coffee"]}
        self.adapter.publish(self.account, draft)
        body = json.loads(self.http.calls[1].request.body)
        self.assertEqual(body["snippet"]["title"], "Latte art")
        self.assertEqual(body["snippet"]["tags"], ["coffee"])
        self.assertEqual(body["status"], {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": True})

    def test_it_refuses_an_option_it_does_not_take(self):
        self.assertEqual(
            self.adapter.options_problems({"board": "x"}, details={}),
            ["YouTube takes no option 'board': its options are title, privacyStatus, madeForKids, tags."],
        )

    def test_the_title_is_the_texts_first_line_cut_to_100_characters(self):
        self.assertEqual(title_of("\n  " + "x" * 120 + "\nmore", {}), "x" * 100)
        self.assertEqual(title_of("Hello\nworld", {"title": "  Mine "}), "Mine")

    def test_it_refuses_options_youtube_would_refuse(self):
        problems = self.adapter.options_problems(
            {"title": "a" * 101, "privacyStatus": "friends", "madeForKids": "yes", "tags": ["a b"] * 130}, details={}
        )
        self.assertEqual(
            problems,
            [
                "YouTube allows at most 100 characters in a title; options.title has 101. Shorten it by 1.",
                "YouTube's options.privacyStatus is one of public, unlisted, private; got 'friends'.",
                "YouTube's options.madeForKids is true or false.",
                "YouTube allows at most 500 characters of tags (commas and the quotes of tags with spaces count); "
                "options.tags has 779.",
            ],
        )
        self.assertEqual(
            self.adapter.options_problems({"title": "<b>"}, details={}),
            ["YouTube takes no < or > in a title: remove them from options.title."],
        )
        self.assertEqual(
            self.adapter.validate(text="a <b> c", media_urls=[CLIP]),
            ["YouTube takes no < or > in a video's title or description: remove them from the text."],
        )
