"""The stand-in's Bluesky PDS and Mastodon instance answer as the real ones do (docs/platforms/)."""

import json

from mockapis.state import store
from mockapis.tests.base import StandInTestCase

RKEY = "3l6oveex3ii2l"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10" + b"\x00" * 40


class BlueskyStandInTests(StandInTestCase):
    def setUp(self):
        super().setUp()
        answer = self.xrpc(
            "com.atproto.server.createSession", {"identifier": "acmecoffee.bsky.social", "password": "p"}
        )
        self.session = answer.json()

    def xrpc(self, method: str, body=None, *, token: str = "", get: bool = False, **extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if get:
            return self.client.get(f"/bsky/xrpc/{method}", body or {}, **headers)
        return self.client.post(
            f"/bsky/xrpc/{method}", json.dumps(body or {}), content_type="application/json", **headers, **extra
        )

    def create(self, rkey: str = RKEY, text: str = "Hello"):
        record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}
        body = {"repo": self.session["did"], "collection": "app.bsky.feed.post", "rkey": rkey, "record": record}
        return self.xrpc("com.atproto.repo.createRecord", body, token=self.session["accessJwt"])

    def test_it_creates_a_session_with_jwts_that_carry_exp(self):
        self.assertEqual(self.session["did"], "did:plc:ewvi7nxzyoun6zhxrhs64oiz")
        self.assertEqual(self.session["accessJwt"].count("."), 2)

    def test_it_writes_a_record_at_the_clients_key_and_refuses_it_again_with_a_500(self):
        first = self.create()
        self.assertEqual(first.status_code, 200)
        self.assertEqual(first.json()["uri"], f"at://{self.session['did']}/app.bsky.feed.post/{RKEY}")
        self.assertTrue(first.json()["cid"].startswith("bafyrei"))
        again = self.create()
        self.assertEqual((again.status_code, again.json()["error"]), (500, "InternalServerError"))
        found = self.xrpc(
            "com.atproto.repo.getRecord",
            {"repo": self.session["did"], "collection": "app.bsky.feed.post", "rkey": RKEY},
            token=self.session["accessJwt"],
            get=True,
        )
        self.assertEqual(found.json()["uri"], first.json()["uri"])
        self.assertEqual(len(store.find_posts("BLUESKY")), 1)
        self.assertIn("RateLimit-Reset", first.headers)

    def test_it_answers_a_missing_record_with_record_not_found(self):
        missing = self.xrpc(
            "com.atproto.repo.getRecord",
            {"repo": self.session["did"], "collection": "app.bsky.feed.post", "rkey": RKEY},
            token=self.session["accessJwt"],
            get=True,
        )
        self.assertEqual((missing.status_code, missing.json()["error"]), (400, "RecordNotFound"))

    def test_it_answers_an_expired_access_token_with_a_400_expired_token(self):
        store.end_token(self.session["accessJwt"], "expired")
        answer = self.create()
        self.assertEqual((answer.status_code, answer.json()["error"]), (400, "ExpiredToken"))

    def test_it_refuses_text_over_300_graphemes(self):
        self.assertEqual(self.create(text="\U0001f44d\U0001f3fd" * 300).status_code, 200)
        answer = self.create(rkey="3l6oveex3ii2m", text="\U0001f44d\U0001f3fd" * 301)
        self.assertEqual(answer.status_code, 400)
        self.assertIn("must not be longer than 300 graphemes", answer.json()["message"])

    def test_it_rotates_refresh_tokens(self):
        renewed = self.xrpc("com.atproto.server.refreshSession", token=self.session["refreshJwt"])
        self.assertEqual(renewed.status_code, 200)
        spent = self.xrpc("com.atproto.server.refreshSession", token=self.session["refreshJwt"])
        self.assertEqual((spent.status_code, spent.json()["error"]), (400, "ExpiredToken"))

    def test_it_stores_blobs_by_cid(self):
        answer = self.client.post(
            "/bsky/xrpc/com.atproto.repo.uploadBlob",
            PNG,
            content_type="image/png",
            HTTP_AUTHORIZATION=f"Bearer {self.session['accessJwt']}",
        )
        self.assertEqual(answer.status_code, 200)
        self.assertTrue(answer.json()["blob"]["ref"]["$link"].startswith("bafkrei"))
