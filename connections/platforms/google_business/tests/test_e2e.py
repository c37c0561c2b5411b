"""Google Business Profile over the wire (issue 23): real workers posting to the stand-in's My
Business API, the location connected through Google's OAuth flow (its accounts and locations).

A local post answered 200 is PROCESSING; the publication waits until Google says LIVE (then
PUBLISHED with its searchUrl) or REJECTED (then FAILED with Google's words, never PUBLISHED)."""

import secrets
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from connections.models import Connection
from connections.platforms import get_client
from connections.platforms.google_business.standin import posts_made
from connections.services import connection_connect
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

APP = {"GOOGLE_CLIENT_ID": "planrrr-e2e.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "e2e-google-secret"}
FAST = {"GOOGLE_BUSINESS_POLL_SECONDS": "1"}


class GoogleBusinessCase(PublishingLiveTestCase):
    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **APP, **FAST}

    def setUp(self):
        super().setUp()
        self.location = self.connect_location()

    def connect_location(self) -> Connection:
        """Google's consent, the code exchanged with its verifier, the locations offered; the
        first picked."""
        client = get_client("GOOGLE_BUSINESS")
        redirect_uri = f"{self.live_server_url}/connect/google_business/callback"
        verifier = secrets.token_urlsafe(48)
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=verifier)
        code = parse_qs(urlsplit(self.mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=verifier)
        self.choices = client.accounts(grant)
        return connection_connect(team=self.team, choice=self.choices[0])[0]

    def post(self, content: str, **kwargs) -> Post:
        return services.post_create(
            team=self.team, content=content, channels=[self.location.pk], scheduled_at=timezone.now(), **kwargs
        )

    def creates(self) -> list[dict]:
        return [r for r in self.mock.requests("GOOGLE_BUSINESS", method="POST") if r["path"].endswith("/localPosts")]


class GoogleBusinessPublishingTests(GoogleBusinessCase):
    def test_it_offers_the_accounts_locations_to_pick_from(self):
        self.assertEqual(
            [(c.account_id, c.name, c.note) for c in self.choices],
            [
                (
                    "accounts/106432298714625830841/locations/3418226097813749921",
                    "Acme Coffee Main Street",
                    "12 Main Street, Portland",
                ),
                (
                    "accounts/106432298714625830841/locations/9027715543109824412",
                    "Acme Coffee Harbour",
                    "3 Harbour Road, Portland",
                ),
            ],
        )
        self.assertTrue(self.location.refreshable)

    def test_a_rejected_post_ends_failed_and_a_live_one_published_with_its_search_url(self):
        # Google answers 200 PROCESSING to both; after two reads one is LIVE, the other REJECTED.
        self.mock.configure(gbp_polls_before_live=2, gbp_reject_contains="cheapest")
        self.start_worker(**FAST)
        live = self.post("Pumpkin spice is back at Main Street.", media_urls=[self.mock.media_url("pumpkin.jpg")])
        rejected = self.post("The cheapest coffee in town, guaranteed!!!")

        self.wait_until_final(live, timeout=30)
        self.wait_until_final(rejected, timeout=30)

        self.assertEqual(live.status, Post.Status.PUBLISHED, self.worker_logs())
        made = {p["summary"]: p for p in posts_made()}
        publication = self.publication(live, "GOOGLE_BUSINESS")
        live_post = made["Pumpkin spice is back at Main Street."]
        self.assertEqual(live_post["state"], "LIVE")
        self.assertEqual(publication.external_id, live_post["name"])
        self.assertEqual(publication.metadata["url"], live_post["searchUrl"])
        self.assertEqual(publication.attempt_count, 1, "the review waits cost no attempt")
        self.assertEqual(
            live_post["media"], [{"mediaFormat": "PHOTO", "sourceUrl": self.mock.media_url("pumpkin.jpg")}]
        )

        self.assertEqual(rejected.status, Post.Status.FAILED, self.worker_logs())
        failed = self.publication(rejected, "GOOGLE_BUSINESS")
        self.assertEqual(failed.status, Publication.Status.FAILED)
        self.assertIsNone(failed.published_at, "never PUBLISHED, not even for a moment")
        self.assertIn("Google rejected the local post", failed.error)
        self.assertIn("This post was rejected due to content policy violation (state REJECTED)", failed.error)
        self.assertEqual(len(self.creates()), 2, "each posted once, then read until Google decided")

    def test_an_expired_token_a_429_and_a_dropped_answer_give_one_post(self):
        # 401: renewed with the refresh token and sent again; 429: a wait; then the local post is
        # made and its answer lost: found among the location's posts, not posted again.
        self.mock.configure(gbp_polls_before_live=1)
        self.mock.fail("GOOGLE_BUSINESS", "token_expired", times=1)
        self.mock.fail("GOOGLE_BUSINESS", "rate_limit", times=1, seconds=1)
        self.mock.fail("GOOGLE_BUSINESS", "accept_then_drop", times=1)
        self.start_worker(**FAST)
        before = self.location.access_token
        post = self.post("Exactly once on Google.")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        (made,) = posts_made()
        publication = self.publication(post, "GOOGLE_BUSINESS")
        self.assertEqual(publication.external_id, made["name"])
        self.assertEqual(publication.metadata["url"], made["searchUrl"])
        self.assertEqual([r["status"] for r in self.creates()], [401, 429, 200], "nothing posted after the lost answer")
        self.assertTrue(self.mock.requests("GOOGLE_BUSINESS", method="GET", path="/localPosts"))
        self.location.refresh_from_db()
        self.assertNotEqual(self.location.access_token, before, "renewed with the refresh token")

    def test_a_worker_killed_mid_post_gives_one_post(self):
        self.mock.configure(gbp_polls_before_live=0)
        self.mock.fail("GOOGLE_BUSINESS", "accept_then_stall", times=1, seconds=30)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4, **FAST)
        post = self.post("Killed mid-post.")
        wait_for(lambda: self.creates(), message="the local post to arrive")

        first.kill()
        self.start_worker(**FAST)

        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(len(posts_made()), 1)
        self.assertEqual(len(self.creates()), 1)
