import json
import re
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
from connections.platforms.pinterest.adapter import MAX_REGISTRATIONS, PinterestAdapter
from connections.tests.contract import NOW, AdapterContract, AdapterTestCase, pinned
from planrrr.crypto import encrypt

API = "https://pinterest.test/v5"
PINS = f"{API}/pins"
MEDIA = f"{API}/media"
UPLOAD = "https://pinterest-media-upload.s3.test/"
BOARD, OTHER = "1130405542553124017", "1130405542553124018"
BOARD_PINS = f"{API}/boards/{BOARD}/pins"
A, B = "https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"
VIDEO = "https://cdn.example.com/clip.mp4"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
DETAILS = {
    "defaultBoardId": BOARD,
    "defaultBoardName": "Coffee at home",
    "boards": [{"id": BOARD, "name": "Coffee at home"}, {"id": OTHER, "name": "Latte art"}],
}
PARAMETERS = {
    "x-amz-date": "20260101T000000Z",
    "x-amz-signature": "sig",
    "x-amz-security-token": "st",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "key": "uploads/17/4d/be/2:video:1:555",
    "policy": "pol",
    "x-amz-credential": "cred",
    "Content-Type": "multipart/form-data",
}


def error(status: int, code: int, message: str, **kwargs) -> dict:
    return {"status": status, "json": {"code": code, "message": message}, **kwargs}


def form_names(call: responses.Call) -> list[str]:
    """The multipart fields of a request, in the order they were sent."""
    body = call.request.body
    body = body if isinstance(body, bytes) else body.read()
    return [name.decode() for name in re.findall(rb'Content-Disposition: form-data; name="([^"]+)"', body)]


@override_settings(PINTEREST_API_URL="https://pinterest.test", PINTEREST_MEDIA_POLL_SECONDS=10, RECONCILE_MAX_PAGES=3)
class PinterestTests(AdapterContract, AdapterTestCase):
    adapter_class = PinterestAdapter
    account = Account(account_id="acct-1", access_token="token-1", details=DETAILS)
    too_long_text = "a" * 801
    rate_limited_retry_at = NOW + timedelta(seconds=30)
    errors = {
        "rate_limited": (
            error(429, 8, "You have exceeded your rate limit. Try again later.", headers={"x-ratelimit-reset": "30"}),
            RateLimited,
            "Pinterest API error (429, code 8): You have exceeded your rate limit. Try again later.",
        ),
        "token_expired": (
            error(401, 2, "Authentication failed."),
            TokenExpired,
            "Pinterest API error (401, code 2): Authentication failed.: reconnect the account.",
        ),
        "permanent": (
            error(400, 1, "Invalid parameters: title must be at most 100 characters."),
            PermanentError,
            "Pinterest API error (400, code 1): Invalid parameters: title must be at most 100 characters.",
        ),
        "server_error": (
            error(500, 1, "Something went wrong on our end. Sorry about that."),
            TransientError,
            "Pinterest API error (500, code 1): Something went wrong on our end. Sorry about that.",
        ),
    }
    malformed_successes = [{"status": 201, "body": "not json"}, {"status": 201, "json": {}}]

    def draft(self) -> Draft:
        return Draft(text="Hello world", media_urls=[A])

    def mock_success(self) -> str:
        self.http.add(responses.POST, PINS, status=201, json={"id": "813744226420795884", "board_id": BOARD})
        return "813744226420795884"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, PINS, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, BOARD_PINS, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            BOARD_PINS,
            json={"items": [{"id": "found-1", "description": text, "created_at": "2025-03-01T12:00:05+00:00"}]},
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        recent = "2025-03-01T12:00:05+00:00"
        self.http.add(
            responses.GET,
            BOARD_PINS,
            json={"items": [{"id": "other-1", "description": first, "created_at": recent}], "bookmark": "b-2"},
        )
        self.http.add(
            responses.GET, BOARD_PINS, json={"items": [{"id": "found-1", "description": second, "created_at": recent}]}
        )
        return {"bookmark": "b-2"}

    def body(self, call: responses.Call) -> dict:
        return json.loads(call.request.body)

    # --- image pins, boards and options --------------------------------------------------------

    def test_it_pins_an_image_by_url_to_the_default_board(self):
        self.mock_success()
        published = self.adapter.publish(self.account, self.draft())
        (call,) = self.http.calls
        self.assertEqual(
            self.body(call),
            {"board_id": BOARD, "description": "Hello world", "media_source": {"source_type": "image_url", "url": A}},
        )
        self.assertEqual(call.request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(published.url, "https://www.pinterest.com/pin/813744226420795884/")

    def test_it_pins_several_images_as_a_carousel(self):
        self.mock_success()
        self.adapter.publish(self.account, Draft(text="Two", media_urls=[A, B]))
        self.assertEqual(
            self.body(self.http.calls[0])["media_source"],
            {"source_type": "multiple_image_urls", "items": [{"url": A}, {"url": B}]},
        )

    def test_a_post_may_name_another_board_a_title_a_link_and_alt_text(self):
        self.mock_success()
        options = {"boardId": OTHER, "title": "Flat white", "link": "https://acme.example/menu", "altText": "A cup"}
        draft = Draft(text="Hello", media_urls=[A], options=options)
        self.adapter.publish(self.account, draft)
        body = self.body(self.http.calls[0])
        self.assertEqual(
            {k: body[k] for k in ("board_id", "title", "link", "alt_text")},
            {"board_id": OTHER, "title": "Flat white", "link": "https://acme.example/menu", "alt_text": "A cup"},
        )
        self.assertEqual(draft.state["boardId"], OTHER)

    def test_the_door_refuses_a_board_the_account_does_not_have_naming_those_it_has(self):
        problems = self.adapter.options_problems({"boardId": "999"}, details=DETAILS)
        self.assertEqual(
            problems,
            [
                f"Pinterest board 999 is not one of this account's boards as known ({BOARD} (Coffee at home), "
                f"{OTHER} (Latte art)): pick one of them, or reconnect Pinterest if the board is new."
            ],
        )
        self.assertEqual(self.adapter.options_problems({"boardId": OTHER}, details=DETAILS), [])

    def test_the_door_refuses_options_over_pinterests_limits(self):
        problems = self.adapter.options_problems(
            {"title": "t" * 101, "altText": "a" * 501, "link": "ftp://x"}, details=DETAILS
        )
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("title takes at most 100 characters; this one has 101. Shorten it by 1.", problems[0])
        self.assertIn("altText takes at most 500 characters", problems[1])
        self.assertIn("link is the http(s) URL the pin leads to", problems[2])
        self.assertEqual(self.adapter.options_problems({"title": "t" * 100, "altText": "a" * 500}, details={}), [])

    def test_a_board_that_no_longer_exists_fails_saying_so(self):
        self.http.add(responses.POST, PINS, **error(404, 40, "Board not found."))
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(
            caught.exception.message,
            f"Pinterest board {BOARD} no longer exists, or this account can no longer pin to it (Pinterest API error "
            "(404, code 40): Board not found.): choose another board in the post's options.boardId, or reconnect "
            "Pinterest to choose a new default board.",
        )

    def test_an_account_without_a_default_board_is_told_what_to_do(self):
        account = Account(account_id="acct-1", access_token="token-1")
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(account, self.draft())
        self.assertIn("reconnect Pinterest and choose one", caught.exception.message)
        self.assertEqual(len(self.http.calls), 0)

    def test_a_pin_needs_media(self):
        self.assertEqual(
            self.adapter.validate(text="Just words", media_urls=[]),
            ["Pinterest needs at least one image or video: add a media URL or remove Pinterest."],
        )

    def test_a_video_takes_one_image_beside_it_as_its_cover_in_any_order(self):
        self.assertEqual(self.adapter.validate(text="V", media_urls=[A, VIDEO]), [])
        self.assertEqual(self.adapter.validate(text="V", media_urls=[VIDEO, A]), [])
        self.assertEqual(
            self.adapter.validate(text="V", media_urls=[A, VIDEO, B]),
            [
                "Pinterest takes a video with at most one image beside it, its cover; this post has 2 images: keep "
                "one (or none) for Pinterest."
            ],
        )

    def test_it_honours_retry_after_before_the_reset_header(self):
        self.mock_key_call(**error(429, 8, "Slow down", headers={"Retry-After": "120", "x-ratelimit-reset": "30"}))
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=120))

    # --- video pins ------------------------------------------------------------------------

    def mock_register(self, media_id: str = "555") -> None:
        self.http.add(
            responses.POST,
            MEDIA,
            status=201,
            json={"media_id": media_id, "media_type": "video", "upload_url": UPLOAD, "upload_parameters": PARAMETERS},
        )

    def mock_video(self) -> None:
        self.http.add(responses.GET, pinned(VIDEO), body=MP4, content_type="video/mp4")

    def mock_status(self, status: str, media_id: str = "555") -> None:
        self.http.add(responses.GET, f"{MEDIA}/{media_id}", json={"media_id": media_id, "status": status})

    def test_a_video_is_registered_uploaded_parameters_first_and_waited_for(self):
        self.mock_register()
        self.mock_video()
        self.http.add(responses.POST, UPLOAD, status=204)
        self.mock_status("processing")
        draft = Draft(text="Pouring", media_urls=[VIDEO])

        with self.assertRaises(NotReady) as caught:
            self.adapter.publish(self.account, draft)

        register, fetch, upload, status = self.http.calls
        self.assertEqual(self.body(register), {"media_type": "video"})
        self.assertEqual(form_names(upload), [*PARAMETERS, "file"], "every parameter first, the file last")
        self.assertNotIn("Authorization", upload.request.headers, "S3 takes the policy, never our token")
        self.assertIn(MP4, upload.request.body)
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=10))
        self.assertIn("media 555: processing", caught.exception.message)
        self.assertEqual(draft.state["video"]["mediaId"], "555")
        self.assertTrue(draft.state["video"]["uploaded"])
        self.assertEqual(draft.state["mediaIds"], ["555"])
        self.assertNotIn("x-amz-signature", str(draft.state), "the upload's authorization is not kept once used")

        # The next attempt only looks again, then pins: nothing is registered or uploaded twice.
        self.http.reset()
        self.mock_status("succeeded")
        self.mock_success()
        self.adapter.publish(self.account, draft)
        status, pin = self.http.calls
        self.assertEqual(
            self.body(pin)["media_source"],
            {"source_type": "video_id", "media_id": "555", "cover_image_key_frame_time": 1},
        )

    def test_the_video_is_uploaded_whatever_its_place_and_the_image_is_its_cover(self):
        # One scheduler uploaded the first attachment: the cover, whenever it came first.
        self.mock_register()
        self.mock_video()
        self.http.add(responses.POST, UPLOAD, status=204)
        self.mock_status("succeeded")
        self.mock_success()
        self.adapter.publish(self.account, Draft(text="Cover first", media_urls=[A, VIDEO]))
        upload, pin = self.http.calls[2], self.http.calls[4]
        self.assertIn(MP4, upload.request.body)
        self.assertEqual(
            self.body(pin)["media_source"], {"source_type": "video_id", "media_id": "555", "cover_image_url": A}
        )

    def test_a_video_is_uploaded_ahead_of_its_slot_and_pinned_at_it_with_one_look(self):
        self.mock_register()
        self.mock_video()
        self.http.add(responses.POST, UPLOAD, status=204)
        draft = Draft(text="Staged", media_urls=[VIDEO])
        self.adapter.stage(self.account, draft)
        self.assertEqual(len(self.http.calls), 3, "registered, fetched, uploaded; not looked at")
        self.assertTrue(draft.state["video"]["uploaded"])

        self.http.reset()
        self.mock_status("succeeded")
        self.mock_success()
        self.adapter.publish(self.account, draft)
        self.assertEqual([call.request.method for call in self.http.calls], ["GET", "POST"])

    def test_an_image_pin_stages_nothing(self):
        self.adapter.stage(self.account, self.draft())
        self.assertEqual(len(self.http.calls), 0)

    def test_a_video_pinterest_could_not_process_fails(self):
        draft = Draft(text="Broken", media_urls=[VIDEO], state={"video": {"mediaId": "555", "uploaded": True}})
        self.mock_status("failed")
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertIn(f"Pinterest could not process the video {VIDEO} (media 555: failed)", caught.exception.message)

    def test_a_cut_upload_goes_again_whole_to_a_fresh_registration(self):
        self.mock_register("555")
        self.mock_video()
        self.http.add(responses.POST, UPLOAD, body=requests.exceptions.ConnectionError("Connection aborted."))
        draft = Draft(text="Cut", media_urls=[VIDEO])
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertFalse(caught.exception.maybe_sent, "no pin can come of an upload")
        self.assertIn("uploaded again, whole, to a fresh registration", caught.exception.message)

        self.http.reset()
        self.mock_register("556")
        self.mock_video()
        self.http.add(responses.POST, UPLOAD, status=204)
        self.mock_status("succeeded", "556")
        self.mock_success()
        self.adapter.publish(self.account, draft)
        self.assertEqual(self.body(self.http.calls[-1])["media_source"]["media_id"], "556")
        self.assertEqual(draft.state["mediaIds"], ["555", "556"])

    def test_cut_uploads_give_up_after_max_registrations(self):
        draft = Draft(
            text="Cut", media_urls=[VIDEO], state={"video": {"mediaId": "", "registrations": MAX_REGISTRATIONS}}
        )
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertIn(f"cut {MAX_REGISTRATIONS} times in a row", caught.exception.message)

    def test_s3_refusing_the_form_fails_with_its_words(self):
        self.mock_register()
        self.mock_video()
        self.http.add(
            responses.POST,
            UPLOAD,
            status=400,
            body="<Error><Code>InvalidArgument</Code><Message>Bucket POST must contain a field named 'key'."
            "</Message></Error>",
        )
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, Draft(text="V", media_urls=[VIDEO]))
        self.assertEqual(
            caught.exception.message,
            "Pinterest's upload server answered HTTP 400 (InvalidArgument: Bucket POST must contain a field named "
            "'key'.).",
        )

    def test_an_expired_upload_policy_registers_anew(self):
        draft = Draft(
            text="V",
            media_urls=[VIDEO],
            state={
                "video": {
                    "mediaId": "555",
                    "uploadUrl": UPLOAD,
                    "parameters": encrypt(json.dumps(PARAMETERS)),
                    "uploaded": False,
                    "registrations": 1,
                }
            },
        )
        self.mock_video()
        self.http.add(
            responses.POST,
            UPLOAD,
            status=403,
            body="<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired."
            "</Message></Error>",
        )
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state["video"]["mediaId"], "")

    # --- a lost answer -----------------------------------------------------------------------

    def test_it_matches_the_title_and_link_too_and_ignores_older_pins(self):
        options = {"title": "Flat white", "link": "https://acme.example/menu"}
        self.http.add(
            responses.GET,
            BOARD_PINS,
            json={
                "items": [
                    {"id": "p-1", "description": "Hello", "title": "Other", "created_at": "2025-03-01T12:00:05+00:00"},
                    {
                        "id": "p-2",
                        "description": "Hello",
                        "title": "Flat white",
                        "link": "https://acme.example/menu",
                        "created_at": "2025-03-01T11:00:00+00:00",
                    },
                    {
                        "id": "p-3",
                        "description": "Hello",
                        "title": "Flat white",
                        "link": "https://acme.example/menu",
                        "created_at": "2025-03-01T12:00:01+00:00",
                    },
                ]
            },
        )
        found = self.adapter.find_published(self.account, Draft(text="Hello", options=options), NOW)
        self.assertEqual(found, "p-3")
        self.assertEqual(self.query(self.http.calls[0]), {"page_size": "100"})

    def test_it_looks_on_the_board_the_attempt_pinned_to(self):
        self.http.add(responses.GET, f"{API}/boards/{OTHER}/pins", json={"items": [], "bookmark": None})
        draft = Draft(text="Hello", state={"boardId": OTHER})
        self.assertIsNone(self.adapter.find_published(self.account, draft, NOW))
