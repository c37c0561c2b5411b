"""The example of docs/api.md, as a plain requests script against a live server with real workers:
schedule a post with per-platform variants, read its outcome over HTTP; each platform of the
stand-in receives its own text and media."""

import requests

from api import services as api_services
from devtools.testing import wait_for
from publishing.tests.base import INSTAGRAM_USER, LINKEDIN_ORG, PublishingLiveTestCase


class OverTheWireTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.connect("LINKEDIN", LINKEDIN_ORG, "mock_li_token")
        _, key = api_services.api_key_create(team=self.team, name="README", role="write")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"
        self.api = f"{self.live_server_url}/api/v1"

    def test_it_schedules_over_http_and_each_platform_gets_its_variant(self):
        self.start_worker()
        one, two = self.mock.media_url("image1.png"), self.mock.media_url("image2.png")
        created = self.http.post(
            f"{self.api}/posts",
            json={
                "content": "Our new roast is out: a long text for Facebook, with the whole story.",
                "platforms": ["FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN"],
                "scheduledAt": self.soon(1).isoformat(),
                "variants": {
                    "TWITTER": {"content": "New roast is out.", "mediaUrls": [one]},
                    "INSTAGRAM": {"content": "New roast #coffee #latteart", "mediaUrls": [one, two]},
                    "LINKEDIN": {"content": "We are launching a new roast today."},
                },
            },
            headers={"Idempotency-Key": "readme-example-1"},
            timeout=10,
        )
        self.assertEqual(created.status_code, 201, created.text)
        post_id = created.json()["id"]

        def final():
            post = self.http.get(f"{self.api}/posts/{post_id}", timeout=10).json()
            return post if post["status"] in ("PUBLISHED", "PARTIAL", "FAILED") else None

        post = wait_for(final, timeout=40, message=f"post {post_id} over HTTP (workers: {self.worker_logs()})")

        self.assertEqual(post["status"], "PUBLISHED", post["publications"])
        self.assertTrue(all(p["externalId"] for p in post["publications"]))
        received = {p["platform"]: p for p in self.mock.posts()}
        self.assertEqual(received["FACEBOOK"]["text"], created.json()["content"])
        self.assertEqual(received["FACEBOOK"]["media_ids"], [])
        self.assertEqual(received["TWITTER"]["text"], "New roast is out.")
        self.assertEqual(len(received["TWITTER"]["media_ids"]), 1)
        self.assertEqual(received["INSTAGRAM"]["text"], "New roast #coffee #latteart")
        self.assertEqual(len(self.http.get(f"{self.api}/publications?post={post_id}&platform=INSTAGRAM",
                                           timeout=10).json()["results"][0]["metadata"]["mediaIds"]), 2)  # fmt: skip
        self.assertEqual(received["LINKEDIN"]["text"], "We are launching a new roast today.")
