"""The stand-in's Bluesky PDS and Mastodon instance answer as the real ones do (docs/platforms/)."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from mockapis.state import store
from mockapis.tests.base import StandInTestCase

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10" + b"\x00" * 40


class MastodonStandInTests(StandInTestCase):
    def setUp(self):
        super().setUp()
        self.token = "a-pasted-mastodon-token"

    def status(self, text: str = "Hello", key: str = "k-1"):
        return self.client.post(
            "/mastodon/api/v1/statuses",
            json.dumps({"status": text}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    def test_it_answers_the_same_idempotency_key_with_the_same_status(self):
        first, again = self.status(), self.status()
        self.assertEqual(first.status_code, 200)
        self.assertEqual(first.json()["id"], again.json()["id"])
        self.assertEqual(len(first.json()["id"]), 18)
        self.assertEqual(len(store.find_posts("MASTODON")), 1)
        self.assertNotEqual(self.status(key="k-2").json()["id"], first.json()["id"])
        self.assertTrue(first.headers["X-RateLimit-Reset"].endswith("Z"))

    def test_it_refuses_text_over_the_instances_limit(self):
        store.configure({"mastodon_max_characters": 10})
        answer = self.status(text="x" * 11)
        self.assertEqual(answer.status_code, 422)
        self.assertEqual(answer.json()["error"], "Validation failed: Text character limit of 10 exceeded")
        limits = self.client.get("/mastodon/api/v2/instance").json()["configuration"]["statuses"]
        self.assertEqual(limits["max_characters"], 10)

    def test_it_processes_media_with_a_202_then_206_then_200(self):
        auth = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        upload = self.client.post(
            "/mastodon/api/v2/media", {"file": SimpleUploadedFile("a.png", PNG, content_type="image/png")}, **auth
        )
        self.assertEqual((upload.status_code, upload.json()["url"]), (202, None))
        media_id = upload.json()["id"]
        self.assertEqual(self.client.get(f"/mastodon/api/v1/media/{media_id}", **auth).status_code, 206)
        self.assertEqual(self.client.get(f"/mastodon/api/v1/media/{media_id}", **auth).status_code, 200)

    def test_it_answers_a_revoked_token_with_a_401(self):
        self.token = "revoked-token"
        answer = self.status()
        self.assertEqual((answer.status_code, answer.json()["error"]), (401, "The access token is invalid"))
