import json
from datetime import timedelta

import responses

from connections.platforms.base import (
    Account,
    Draft,
    Duplicate,
    PermanentError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.linkedin.adapter import LinkedInAdapter, little_text
from connections.tests.contract import LINKEDIN, NOW, PNG, AdapterContract, AdapterTestCase
from planrrr.text import MAX_WAIT

POSTS = f"{LINKEDIN}/rest/posts"
IMAGES = f"{LINKEDIN}/rest/images"
AUTHOR = "urn:li:organization:123"


class LittleTextTests(AdapterTestCase):
    def test_it_escapes_reserved_characters_but_not_hashtags_or_urls(self):
        self.assertEqual(
            little_text("Launch (beta) @ 5pm_ish #news # (see https://ex.com/a_b?c=1.) ~ok*"),
            r"Launch \(beta\) \@ 5pm\_ish #news \# \(see https://ex.com/a_b?c=1.\) \~ok\*",
        )
        self.assertEqual(little_text(r"a\b [c] {d} <e> |f|"), r"a\\b \[c\] \{d\} \<e\> \|f\|")


class LinkedInTests(AdapterContract, AdapterTestCase):
    adapter_class = LinkedInAdapter
    account = Account(account_id=AUTHOR, access_token="token-1")
    too_long_text = "a" * 3_001
    rate_limited_retry_at = NOW + timedelta(seconds=120)
    errors = {
        "rate_limited": (
            {
                "status": 429,
                "json": {
                    "serviceErrorCode": 101,
                    "message": "Resource level throttle limit for calls to this resource is reached.",
                    "status": 429,
                },
                "headers": {"Retry-After": "120"},
            },
            RateLimited,
            "LinkedIn API error (429): Resource level throttle limit for calls to this resource is reached.",
        ),
        "token_expired": (
            {"status": 401, "json": {"serviceErrorCode": 65601, "message": "REVOKED_ACCESS_TOKEN", "status": 401}},
            TokenExpired,
            "LinkedIn API error (401): REVOKED_ACCESS_TOKEN",
        ),
        "permanent": (
            {
                "status": 422,
                "json": {
                    "message": "Content is a duplicate of urn:li:share:6",
                    "status": 422,
                    "errorDetails": {
                        "inputErrors": [
                            {
                                "description": "Duplicate post is detected",
                                "input": {"inputPath": {"fieldPath": "/commentary"}},
                                "code": "DUPLICATE_POST",
                            }
                        ]
                    },
                },
            },
            Duplicate,
            "LinkedIn API error (422): Content is a duplicate of urn:li:share:6 [DUPLICATE_POST]",
        ),
        "server_error": (
            {"status": 504, "body": "upstream timed out"},
            TransientError,
            "LinkedIn API error (504): 'upstream timed out'",
        ),
    }
    # A 201 is the post made: without its id header we cannot tell which, so reconcile.
    malformed_successes = [{"status": 201, "body": ""}, {"status": 201, "headers": {"x-restli-id": ""}}]

    def mock_success(self) -> str:
        self.http.add(responses.POST, POSTS, status=201, headers={"x-restli-id": "urn:li:share:7"})
        return "urn:li:share:7"

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, POSTS, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, POSTS, **kwargs)

    def mock_recent(self, text: str) -> None:
        self.http.add(
            responses.GET,
            POSTS,
            json={
                "elements": [
                    {
                        "id": "found-1",
                        "author": AUTHOR,
                        "commentary": little_text(text),
                        "createdAt": int(NOW.timestamp() * 1000) + 5000,
                    }
                ]
            },
        )

    def mock_recent_pages(self, first: str, second: str) -> dict:
        created = int(NOW.timestamp() * 1000) + 5000
        full = [
            {"id": f"other-{i}", "author": AUTHOR, "commentary": little_text(first), "createdAt": created}
            for i in range(100)
        ]
        self.http.add(responses.GET, POSTS, json={"elements": full})
        found = {"id": "found-1", "author": AUTHOR, "commentary": little_text(second), "createdAt": created}
        self.http.add(responses.GET, POSTS, json={"elements": [found]})
        return {"start": "100"}

    def assertLinkedInHeaders(self, request) -> None:
        self.assertEqual(request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(request.headers["LinkedIn-Version"], "202501")
        self.assertEqual(request.headers["X-Restli-Protocol-Version"], "2.0.0")

    def test_it_posts_the_commentary_as_the_author(self):
        self.mock_success()
        published = self.adapter.publish(self.account, Draft(text="Hello (world)"))
        self.assertEqual(published.url, "https://www.linkedin.com/feed/update/urn:li:share:7/")
        request = self.http.calls[0].request
        self.assertLinkedInHeaders(request)
        self.assertEqual(
            json.loads(request.body),
            {
                "author": AUTHOR,
                "commentary": r"Hello \(world\)",
                "visibility": "PUBLIC",
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
            },
        )

    def add_upload(self, n: int) -> None:
        self.http.add(
            responses.POST,
            IMAGES,
            json={"value": {"uploadUrl": f"https://upload.linkedin.test/dms/{n}", "image": f"urn:li:image:{n}"}},
        )
        self.http.add(responses.PUT, f"https://upload.linkedin.test/dms/{n}", status=201)

    def test_it_uploads_one_image_and_attaches_it(self):
        self.add_image("https://cdn.example.com/a.png")
        self.add_upload(1)
        self.mock_success()
        draft = Draft(text="One", media_urls=["https://cdn.example.com/a.png"])
        self.adapter.publish(self.account, draft)

        _, initialize, put, post = self.http.calls
        self.assertEqual(self.query(initialize), {"action": "initializeUpload"})
        self.assertLinkedInHeaders(initialize.request)
        self.assertEqual(json.loads(initialize.request.body), {"initializeUploadRequest": {"owner": AUTHOR}})
        self.assertEqual(put.request.body, PNG)
        self.assertEqual(put.request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(put.request.headers["Content-Type"], "image/png")
        self.assertEqual(json.loads(post.request.body)["content"], {"media": {"id": "urn:li:image:1"}})
        self.assertEqual(draft.state["mediaIds"], ["urn:li:image:1"])

    def test_it_attaches_several_images_as_a_multi_image_post(self):
        for n in (1, 2):
            self.add_image(f"https://cdn.example.com/{n}.png")
            self.add_upload(n)
        self.mock_success()
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"])
        self.adapter.publish(self.account, draft)
        self.assertEqual(
            json.loads(self.http.calls[-1].request.body)["content"],
            {"multiImage": {"images": [{"id": "urn:li:image:1"}, {"id": "urn:li:image:2"}]}},
        )
        self.assertEqual(draft.state["mediaIds"], ["urn:li:image:1", "urn:li:image:2"])

    def test_it_records_an_image_only_once_its_bytes_are_uploaded(self):
        self.add_image("https://cdn.example.com/1.png")
        self.add_upload(1)
        self.add_image("https://cdn.example.com/2.png")
        self.http.add(
            responses.POST, IMAGES, json={"value": {"uploadUrl": "https://upload.linkedin.test/dms/2", "image": "x"}}
        )
        self.http.add(responses.PUT, "https://upload.linkedin.test/dms/2", status=500)
        draft = Draft(text="Two", media_urls=["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"])
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.assertEqual(draft.state["mediaIds"], ["urn:li:image:1"])

    def test_it_treats_an_upload_answer_without_url_as_malformed(self):
        self.add_image("https://cdn.example.com/1.png")
        self.http.add(responses.POST, IMAGES, json={"value": {"image": "urn:li:image:1"}})
        with self.assertRaisesMessage(TransientError, "LinkedIn API error: malformed answer, no value.uploadUrl"):
            self.adapter.publish(self.account, Draft(text="One", media_urls=["https://cdn.example.com/1.png"]))

    def test_it_counts_the_escapes_against_the_limit(self):
        self.assertEqual(
            self.adapter.validate(text="(" + "a" * 2_998 + ")", media_urls=[]),
            ["LinkedIn allows at most 3,000 characters; this post has 3,002. Shorten it by 2."],
        )

    def test_it_treats_every_401_as_an_expired_token(self):
        self.mock_key_call(status=401, json={"serviceErrorCode": 65600, "message": "Invalid access token"})
        with self.assertRaisesMessage(TokenExpired, "LinkedIn API error (401): Invalid access token"):
            self.adapter.publish(self.account, Draft(text="Hi"))

    def test_it_waits_the_default_backoff_without_retry_after(self):
        self.mock_key_call(status=429, json={"serviceErrorCode": 101, "message": "Throttled"})
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=60))

    def test_it_reads_retry_after_as_a_date(self):
        self.mock_key_call(status=429, json={}, headers={"Retry-After": "Sat, 01 Mar 2025 12:05:00 GMT"})
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, Draft(text="Hi"))
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(minutes=5))

    def test_it_waits_at_most_a_day_however_far_retry_after_is(self):
        for value in ("999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"):
            with self.subTest(value=value):
                self.http.reset()
                self.mock_key_call(status=429, json={}, headers={"Retry-After": value})
                with self.assertLogs("planrrr.text", "WARNING") as logs, self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + MAX_WAIT)
                self.assertEqual(len(logs.records), 1)
                self.assertIn("LinkedIn Retry-After", logs.output[0])

    def test_it_waits_the_default_backoff_for_a_retry_after_it_cannot_read(self):
        for value in ("-5", "NaN", "soon", "Fri, 31 Dec 99999 23:59:59 GMT", "1e400"):
            with self.subTest(value=value):
                self.http.reset()
                self.mock_key_call(status=429, json={}, headers={"Retry-After": value})
                with self.assertRaises(RateLimited) as caught:
                    self.adapter.publish(self.account, Draft(text="Hi"))
                self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=60))

    def test_it_gives_up_on_other_client_errors(self):
        self.mock_key_call(status=403, json={"message": "Not enough permissions to access: POST /posts", "status": 403})
        with self.assertRaisesMessage(
            PermanentError, "LinkedIn API error (403): Not enough permissions to access: POST /posts"
        ):
            self.adapter.publish(self.account, Draft(text="Hi"))

    def test_it_looks_for_recent_posts_of_the_author(self):
        self.mock_recent("Hi (there)")
        self.assertEqual(self.adapter.find_published(self.account, Draft(text="Hi (there)"), NOW), "found-1")
        call = self.http.calls[0]
        self.assertIn("author=urn%3Ali%3Aorganization%3A123", call.request.url)
        self.assertEqual(self.query(call), {"q": "author", "author": AUTHOR, "count": "100", "start": "0"})
        self.assertLinkedInHeaders(call.request)

    def test_it_ignores_a_matching_post_older_than_the_attempt(self):
        self.http.add(
            responses.GET,
            POSTS,
            json={"elements": [{"id": "old", "commentary": "Hi", "createdAt": int(NOW.timestamp() * 1000) - 1}]},
        )
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Hi"), NOW))


def duplicate_answer(message: str, description: str = "Duplicate post is detected") -> dict:
    """LinkedIn's 422 for a repeated commentary."""
    return {
        "status": 422,
        "json": {
            "message": message,
            "status": 422,
            "errorDetails": {"inputErrors": [{"description": description, "input": {}, "code": "DUPLICATE_POST"}]},
        },
    }


class DuplicateTests(AdapterTestCase):
    """A DUPLICATE_POST names the post it duplicates; the post named is checked before it is adopted."""

    adapter_class = LinkedInAdapter
    account = Account(account_id=AUTHOR, access_token="token-1")
    urn = "urn:li:share:7893000000000000001"
    # When the first attempt began, less the minute allowed for LinkedIn's clock.
    since = NOW

    def refusal(self, **answer) -> Duplicate:
        self.http.add(responses.POST, POSTS, **answer)
        with self.assertRaises(Duplicate) as caught:
            self.adapter.publish(self.account, Draft(text="Said twice"))
        return caught.exception

    def test_it_reads_the_urn_of_the_post_duplicated_from_the_message(self):
        error = self.refusal(
            **duplicate_answer(
                "com.linkedin.content.common.exception.BadRequestResponseException: "
                f"Content is a duplicate of {self.urn}"
            )
        )
        self.assertEqual(error.existing_id, self.urn)
        self.assertIn(f"Content is a duplicate of {self.urn} [DUPLICATE_POST]", error.message)

    def test_it_reads_the_urn_from_an_input_errors_description(self):
        error = self.refusal(
            **duplicate_answer("Unprocessable entity", "Content is a duplicate of urn:li:ugcPost:7893000000000000002")
        )
        self.assertEqual(error.existing_id, "urn:li:ugcPost:7893000000000000002")

    def test_a_duplicate_that_names_no_post_has_no_urn(self):
        error = self.refusal(**duplicate_answer("Duplicate post is detected", "Content is a duplicate of urn:li:x:1"))
        self.assertIsNone(error.existing_id)

    def post(self, **fields) -> dict:
        return {
            "id": self.urn,
            "author": AUTHOR,
            "commentary": "Said twice",
            "lifecycleState": "PUBLISHED",
            "createdAt": int(self.since.timestamp() * 1000) + 30_000,
            **fields,
        }

    def test_it_gets_the_post_by_its_encoded_urn_and_adopts_the_accounts_own_recent_one(self):
        self.http.add(responses.GET, f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001", json=self.post())

        self.assertTrue(self.adapter.post_made_since(self.account, self.urn, self.since))

        request = self.http.calls[0].request
        self.assertEqual(request.url, f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001")
        self.assertEqual(request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(request.headers["LinkedIn-Version"], "202501")
        self.assertEqual(request.headers["X-Restli-Protocol-Version"], "2.0.0")

    def test_it_takes_a_post_made_at_the_very_start_of_the_window(self):
        self.http.add(
            responses.GET,
            f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001",
            json=self.post(createdAt=NOW.timestamp() * 1000),
        )
        self.assertTrue(self.adapter.post_made_since(self.account, self.urn, self.since))

    def test_it_refuses_another_authors_an_older_a_draft_or_another_post(self):
        cases = {
            "another author": {"author": "urn:li:organization:999"},
            "made before the attempt": {"createdAt": int(self.since.timestamp() * 1000) - 1},
            "a draft": {"lifecycleState": "DRAFT"},
            "no creation time": {"createdAt": None},
            "another post": {"id": "urn:li:share:1"},
        }
        for name, fields in cases.items():
            with self.subTest(name):
                self.http.reset()
                self.http.add(
                    responses.GET, f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001", json=self.post(**fields)
                )
                self.assertFalse(self.adapter.post_made_since(self.account, self.urn, self.since))

    def test_it_asks_nothing_about_what_is_not_a_post_urn(self):
        for external_id in ("", "urn:li:organization:123", "urn:li:share:1/../images", "7893000000000000001"):
            with self.subTest(external_id):
                self.assertFalse(self.adapter.post_made_since(self.account, external_id, self.since))
        self.assertEqual(len(self.http.calls), 0)

    def test_a_post_that_is_not_there_or_a_failed_check_raises(self):
        path = f"{POSTS}/urn%3Ali%3Ashare%3A7893000000000000001"
        cases = [
            (
                {
                    "status": 404,
                    "json": {"status": 404, "message": f"Not enough permissions or {self.urn} does not exist"},
                },
                PermanentError,
            ),
            ({"status": 503, "json": {"status": 503, "message": "Service Unavailable"}}, TransientError),
            ({"status": 200, "body": "not json"}, TransientError),
        ]
        for answer, expected in cases:
            with self.subTest(answer["status"]):
                self.http.reset()
                self.http.add(responses.GET, path, **answer)
                with self.assertRaises(expected):
                    self.adapter.post_made_since(self.account, self.urn, self.since)
