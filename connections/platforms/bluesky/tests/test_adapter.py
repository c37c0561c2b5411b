import json
from datetime import timedelta

import requests
import responses
from django.test import SimpleTestCase, override_settings

from connections.platforms.base import Account, Draft, PermanentError, RateLimited, TokenExpired, TransientError
from connections.platforms.bluesky.adapter import BlueskyAdapter
from connections.platforms.bluesky.richtext import detect_facets, grapheme_count, new_tid
from connections.tests.contract import BLUESKY, NOW, PNG, AdapterContract, AdapterTestCase, pinned

# Registered as requested: at the address the PDS's name was checked to resolve to.
XRPC = pinned(f"{BLUESKY}/xrpc")
CREATE = f"{XRPC}/com.atproto.repo.createRecord"
GET_RECORD = f"{XRPC}/com.atproto.repo.getRecord"
UPLOAD = f"{XRPC}/com.atproto.repo.uploadBlob"
RESOLVE = f"{XRPC}/com.atproto.identity.resolveHandle"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
RKEY = "3l6oveex3ii2l"
URI = f"at://{DID}/app.bsky.feed.post/{RKEY}"
CID = "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
RESET = int((NOW + timedelta(minutes=5)).timestamp())
# 👍🏽: a thumbs up and a skin-tone modifier, two code points, one grapheme.
THUMBS = "\U0001f44d\U0001f3fd"


def error(status: int, name: str, message: str, **kwargs) -> dict:
    return {"status": status, "json": {"error": name, "message": message}, **kwargs}


class GraphemeTests(SimpleTestCase):
    def test_it_counts_an_emoji_with_a_skin_tone_as_one(self):
        self.assertEqual(grapheme_count(THUMBS), 1)
        self.assertEqual(grapheme_count("👩🏽‍💻🇫🇷e\u0301"), 3)

    def test_it_accepts_300_emoji_with_skin_tones_and_refuses_301(self):
        adapter = BlueskyAdapter()
        self.assertEqual(adapter.validate(text=THUMBS * 300, media_urls=[]), [])
        problems = adapter.validate(text=THUMBS * 301, media_urls=[])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("Bluesky allows at most 300 characters; this post has 301", problems[0])

    def test_it_refuses_text_over_3000_bytes(self):
        # 300 graphemes of four code points each: 300 * 11 bytes.
        problems = BlueskyAdapter().validate(text="👩‍💻" * 300, media_urls=[])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("Bluesky allows at most 3,000 bytes of text; this post has 3,300", problems[0])


class FacetTests(SimpleTestCase):
    def test_it_marks_links_mentions_and_tags_with_utf8_byte_offsets(self):
        text = "Café ☕ @acme.bsky.social: https://example.com/menu. #Coffee!"
        facets = detect_facets(text)
        encoded = text.encode()
        spans = [encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in facets]
        self.assertEqual(spans, ["@acme.bsky.social", "https://example.com/menu", "#Coffee"])
        self.assertEqual(facets[0]["handle"], "acme.bsky.social")
        self.assertEqual(
            facets[1]["features"], [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/menu"}]
        )
        self.assertEqual(facets[2]["features"], [{"$type": "app.bsky.richtext.facet#tag", "tag": "Coffee"}])

    def test_it_does_not_take_a_number_or_an_email_for_a_tag_or_mention(self):
        self.assertEqual(detect_facets("Call #1 or mail me@example.com"), [])


class TidTests(SimpleTestCase):
    def test_it_makes_sortable_13_character_tids(self):
        first, second = new_tid(), new_tid()
        self.assertRegex(first, r"^[234567a-j][234567a-z]{12}$")
        self.assertLess(first, second)


class BlueskyTests(AdapterContract, AdapterTestCase):
    adapter_class = BlueskyAdapter
    account = Account(account_id=DID, access_token="token-1", base_url=BLUESKY)
    reads_recent_posts = False
    too_long_text = "a" * 301
    rate_limited_retry_at = NOW + timedelta(minutes=5)
    errors = {
        "rate_limited": (
            error(
                429,
                "RateLimitExceeded",
                "Rate Limit Exceeded",
                headers={
                    "RateLimit-Limit": "5000",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(RESET),
                    "RateLimit-Policy": "5000;w=3600",
                },
            ),
            RateLimited,
            "Bluesky API error (429): RateLimitExceeded: Rate Limit Exceeded",
        ),
        "token_expired": (
            error(400, "ExpiredToken", "Token has expired"),
            TokenExpired,
            "Bluesky API error (400): ExpiredToken: Token has expired",
        ),
        "permanent": (
            error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes",
            ),
            PermanentError,
            "Bluesky API error (400): InvalidRequest: Invalid app.bsky.feed.post record: "
            "Record/text must not be longer than 300 graphemes",
        ),
        "server_error": (
            error(502, "UpstreamFailure", "Upstream Failure"),
            TransientError,
            "Bluesky API error (502): UpstreamFailure: Upstream Failure",
        ),
    }
    malformed_successes = [
        {"status": 200, "body": "<html>"},
        {"status": 200, "json": {"uri": URI}},
        {"status": 200, "json": ["x"]},
    ]

    def draft(self) -> Draft:
        return Draft(text="Hello world", state={"rkey": RKEY, "createdAt": "2025-03-01T12:00:00.000Z"})

    def mock_success(self) -> str:
        self.http.add(responses.POST, CREATE, json={"uri": URI, "cid": CID, "commit": {"cid": CID, "rev": RKEY}})
        return URI

    def mock_key_call(self, **kwargs) -> None:
        self.http.add(responses.POST, CREATE, **kwargs)

    def mock_recent_call(self, **kwargs) -> None:
        self.http.add(responses.GET, GET_RECORD, **kwargs)

    def test_it_writes_the_record_at_the_key_chosen_before_the_first_attempt(self):
        self.mock_success()
        draft = Draft(text="Hello world")
        published = self.adapter.publish(self.account, draft)
        rkey = draft.state["rkey"]
        self.assertRegex(rkey, r"^[234567a-z]{13}$")
        body = json.loads(self.http.calls[0].request.body)
        self.assertEqual(body["repo"], DID)
        self.assertEqual(body["collection"], "app.bsky.feed.post")
        self.assertEqual(body["rkey"], rkey)
        self.assertEqual(body["record"]["$type"], "app.bsky.feed.post")
        self.assertEqual(body["record"]["text"], "Hello world")
        self.assertEqual(body["record"]["createdAt"], "2025-03-01T12:00:00.000Z")
        self.assertEqual(self.http.calls[0].request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(published.metadata, {"cid": CID})
        self.assertEqual(published.url, f"https://bsky.app/profile/{DID}/post/{rkey}")

    def test_it_keeps_the_key_across_attempts(self):
        self.mock_key_call(body=requests.exceptions.ReadTimeout("read timed out"))
        draft = Draft(text="Hello world")
        with self.assertRaises(TransientError):
            self.adapter.publish(self.account, draft)
        self.mock_success()
        self.adapter.publish(self.account, draft)
        first, second = (json.loads(call.request.body) for call in self.http.calls)
        self.assertEqual(first["rkey"], second["rkey"])
        self.assertEqual(first["record"], second["record"])

    def test_it_settles_a_500_on_an_existing_key_with_get_record(self):
        self.mock_key_call(**error(500, "InternalServerError", "Internal Server Error"))
        self.http.add(responses.GET, GET_RECORD, json={"uri": URI, "cid": CID, "value": {"text": "Hello world"}})
        published = self.adapter.publish(self.account, self.draft())
        self.assertEqual(published.external_id, URI)
        self.assertEqual(
            self.query(self.http.calls[1]), {"repo": DID, "collection": "app.bsky.feed.post", "rkey": RKEY}
        )

    def test_it_retries_a_500_when_the_record_is_not_there(self):
        self.mock_key_call(**error(500, "InternalServerError", "Internal Server Error"))
        self.http.add(responses.GET, GET_RECORD, **error(400, "RecordNotFound", f"Could not locate record: {URI}"))
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertTrue(caught.exception.maybe_sent)

    def test_it_finds_the_record_a_lost_attempt_wrote_with_one_get_record(self):
        self.http.add(responses.GET, GET_RECORD, json={"uri": URI, "cid": CID, "value": {}})
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), URI)
        self.assertEqual(len(self.http.calls), 1)

    def test_it_finds_nothing_when_the_key_holds_no_record(self):
        self.http.add(responses.GET, GET_RECORD, **error(400, "RecordNotFound", f"Could not locate record: {URI}"))
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))

    def test_it_looks_nothing_up_before_a_key_was_chosen(self):
        self.assertIsNone(self.adapter.find_published(self.account, Draft(text="Hello world"), NOW))
        self.assertEqual(len(self.http.calls), 0)

    def test_it_resolves_mentions_and_drops_those_that_do_not_resolve(self):
        self.http.add(responses.GET, RESOLVE, json={"did": "did:plc:alice"})
        self.http.add(responses.GET, RESOLVE, **error(400, "InvalidRequest", "Unable to resolve handle"))
        self.mock_success()
        draft = Draft(text="Hi @alice.bsky.social and @nobody.example", state={"rkey": RKEY})
        self.adapter.publish(self.account, draft)
        record = json.loads(self.http.calls[2].request.body)["record"]
        self.assertEqual(
            record["facets"],
            [
                {
                    "index": {"byteStart": 3, "byteEnd": 21},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"}],
                }
            ],
        )
        self.assertEqual(draft.state["mentions"], {"alice.bsky.social": "did:plc:alice", "nobody.example": None})

    def test_it_uploads_images_as_blobs_and_embeds_them(self):
        self.add_image("https://cdn.example.com/a.png")
        blob = {"$type": "blob", "ref": {"$link": "bafkreiabc"}, "mimeType": "image/png", "size": len(PNG)}
        self.http.add(responses.POST, UPLOAD, json={"blob": blob})
        self.mock_success()
        draft = Draft(text="Latte", media_urls=["https://cdn.example.com/a.png"], state={"rkey": RKEY})
        self.adapter.publish(self.account, draft)
        upload = self.http.calls[1].request
        self.assertEqual(upload.body, PNG)
        self.assertEqual(upload.headers["Content-Type"], "image/png")
        record = json.loads(self.http.calls[2].request.body)["record"]
        self.assertEqual(record["embed"], {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]})
        self.assertEqual(draft.state["mediaIds"], ["bafkreiabc"])

    @override_settings(MEDIA_MAX_BYTES=4 * 1024 * 1024)
    def test_it_refuses_an_image_over_2000000_bytes(self):
        self.add_image("https://cdn.example.com/big.png", body=PNG + b"\x00" * 2_000_000)
        with self.assertRaisesMessage(PermanentError, "Bluesky takes images of at most 2,000,000 bytes"):
            self.adapter.publish(
                self.account, Draft(text="Big", media_urls=["https://cdn.example.com/big.png"], state={"rkey": RKEY})
            )

    def test_it_reads_a_small_rate_limit_reset_as_seconds_to_wait(self):
        self.mock_key_call(**error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers={"RateLimit-Reset": "90"}))
        with self.assertRaises(RateLimited) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertEqual(caught.exception.retry_at, NOW + timedelta(seconds=90))

    def test_it_reads_an_invalid_token_as_expired(self):
        self.mock_key_call(**error(400, "InvalidToken", "Token could not be verified"))
        with self.assertRaises(TokenExpired):
            self.adapter.publish(self.account, self.draft())

    def test_it_refuses_a_pds_on_a_private_address(self):
        account = Account(account_id=DID, access_token="token-1", base_url="https://private.example.com")
        with self.assertRaisesMessage(PermanentError, "The Bluesky server https://private.example.com cannot be used"):
            self.adapter.publish(account, self.draft())
        self.assertEqual(len(self.http.calls), 0)
