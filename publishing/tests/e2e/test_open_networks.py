"""Bluesky and Mastodon over the wire (issue 13): real workers, the stand-in's PDS and instance,
accounts connected through their own flows (an app-password session, OAuth on the instance)."""

import secrets
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone

from connections.models import Connection
from connections.platforms import get_client
from connections.services import connection_connect
from planrrr.models import Installation
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

# 👍🏽: two code points, one grapheme.
THUMBS = "\U0001f44d\U0001f3fd"
BLUESKY_HANDLE = "acmecoffee.bsky.social"
# Requests that would mean an unknown outcome was settled by reading or searching posts.
LISTINGS = ("listRecords", "searchPosts", "getAuthorFeed", "/statuses", "/search")


class OpenNetworkTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.bluesky = self.connect_bluesky()
        self.mastodon = self.connect_mastodon()

    def connect_bluesky(self) -> Connection:
        """What the connect form does: one session from the handle and app password."""
        choice = get_client("BLUESKY").create_session(
            base_url=self.mock.bluesky_url, identifier=BLUESKY_HANDLE, password="abcd-efgh-ijkl-mnop"
        )
        return connection_connect(team=self.team, choice=choice)[0]

    def connect_mastodon(self) -> Connection:
        """The OAuth flow on the instance: app registered there, consent approved, code exchanged."""
        client = get_client("MASTODON").for_instance(self.mock.mastodon_url)
        redirect_uri = f"{self.live_server_url}/connect/mastodon/callback"
        verifier = secrets.token_urlsafe(64)
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=verifier)
        code = parse_qs(urlsplit(self.mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=verifier)
        return connection_connect(team=self.team, choice=client.accounts(grant)[0])[0]

    def post(self, content: str, platforms: list[str]) -> Post:
        return services.post_create(team=self.team, content=content, platforms=platforms, scheduled_at=timezone.now())

    def requests_named(self, platform: str, name: str) -> list[dict]:
        return [r for r in self.mock.requests(platform, path=name) if r["status"] == 200]

    def test_it_connects_both_through_their_flows(self):
        self.assertEqual(self.bluesky.account_id, "did:plc:ewvi7nxzyoun6zhxrhs64oiz")
        self.assertEqual(self.bluesky.base_url, self.mock.bluesky_url)
        self.assertTrue(self.bluesky.refreshable)
        self.assertEqual(self.bluesky.app_password, "abcd-efgh-ijkl-mnop")
        self.assertIsNotNone(self.bluesky.expires_at)
        self.assertTrue(self.mastodon.account_id.startswith("109302316291234567@"))
        self.assertEqual(self.mastodon.base_url, self.mock.mastodon_url)
        self.assertFalse(self.mastodon.refreshable)
        self.assertEqual(len(self.requests_named("MASTODON", "/api/v1/apps")), 1)

    def test_a_lost_answer_on_each_open_network_still_makes_exactly_one_post(self):
        self.mock.fail("BLUESKY", "accept_then_drop", times=1)
        self.mock.fail("MASTODON", "accept_then_drop", times=1)
        self.start_worker()
        post = self.post("Four networks, once each.", ["FACEBOOK", "TWITTER", "BLUESKY", "MASTODON"])

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        for platform in ("FACEBOOK", "TWITTER", "BLUESKY", "MASTODON"):
            self.assertEqual(len(self.mock.posts(platform)), 1, platform)
        bluesky, mastodon = self.publication(post, "BLUESKY"), self.publication(post, "MASTODON")
        self.assertEqual(bluesky.status, Publication.Status.PUBLISHED)
        self.assertEqual(mastodon.status, Publication.Status.PUBLISHED)
        # Bluesky: the second attempt found the record at the rkey chosen before the first.
        self.assertEqual(bluesky.external_id, self.mock.posts("BLUESKY")[0]["id"])
        self.assertTrue(bluesky.external_id.endswith(f"/app.bsky.feed.post/{bluesky.metadata['rkey']}"))
        self.assertEqual(len(self.mock.requests("BLUESKY", path="createRecord")), 1)
        found = self.requests_named("BLUESKY", "getRecord")
        self.assertEqual([r["query"]["rkey"] for r in found], [bluesky.metadata["rkey"]])
        # Mastodon: the retry found the status among the account's own statuses (the instance
        # keeps an Idempotency-Key only an hour, and a retry may come later) and sent nothing.
        creates = self.mock.requests("MASTODON", method="POST", path="/api/v1/statuses")
        self.assertEqual(len(creates), 1)
        key = f"planrrr-{Installation.objects.get().key.hex}-publication-{mastodon.pk}"
        self.assertEqual(creates[0]["headers"]["Idempotency-Key"], key, "unique to the installation")
        self.assertEqual(mastodon.external_id, self.mock.posts("MASTODON")[0]["id"])
        self.assertTrue(mastodon.metadata.get("reconciled"))
        lookups = self.requests_named("MASTODON", f"/api/v1/accounts/{self.mastodon.account_id.split('@')[0]}/statuses")
        self.assertEqual(len(lookups), 1)
        # Bluesky was not settled by reading or searching recent posts.
        reads = [r["path"] for r in self.mock.requests("BLUESKY") if r["method"] == "GET"]
        self.assertFalse([path for path in reads if any(name in path for name in LISTINGS)], reads)

    def test_a_bluesky_connection_publishes_50_posts_with_one_session(self):
        self.start_worker()
        posts = [self.post(f"Post {i} of 50 #planrrr", ["BLUESKY"]) for i in range(50)]

        for post in posts:
            self.wait_until_final(post, timeout=60)
            self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts("BLUESKY")), 50)
        self.assertLessEqual(self.mock.bluesky_sessions(), 1)

    def test_an_expired_session_is_refreshed_and_the_post_published(self):
        # The access JWT ends before its time: the PDS answers 400 ExpiredToken.
        self.mock.expire_token(self.bluesky.access_token)
        self.start_worker()
        post = self.post("After the session expired.", ["BLUESKY"])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        expired = [r for r in self.mock.requests("BLUESKY", path="createRecord") if r["status"] == 400]
        self.assertEqual(len(expired), 1)
        self.assertEqual(len(self.requests_named("BLUESKY", "refreshSession")), 1)
        self.assertEqual(self.mock.bluesky_sessions(), 1)
        self.bluesky.refresh_from_db()
        self.assertEqual(self.bluesky.status, Connection.Status.ACTIVE)

    def test_a_dead_refresh_token_makes_one_new_session_with_the_app_password(self):
        self.mock.revoke_token(self.bluesky.refresh_token)
        self.start_worker()
        post = self.post("After the refresh token died.", ["BLUESKY"])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(self.mock.bluesky_sessions(), 2)
        self.bluesky.refresh_from_db()
        self.assertEqual(self.bluesky.status, Connection.Status.ACTIVE)

    def test_it_counts_graphemes_300_emoji_with_skin_tones_go_out_301_are_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self.post(THUMBS * 301, ["BLUESKY"])
        self.assertIn("Bluesky allows at most 300 characters; this post has 301", str(caught.exception))
        self.start_worker()
        post = self.post(THUMBS * 300, ["BLUESKY"])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(self.mock.posts("BLUESKY")[0]["text"], THUMBS * 300)

    def test_a_revoked_mastodon_token_expires_the_connection(self):
        self.mock.revoke_token(self.mastodon.access_token)
        self.start_worker()
        post = self.post("Token revoked.", ["MASTODON"])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.FAILED)
        self.assertIn("The access token is invalid", self.publication(post, "MASTODON").error)
        self.mastodon.refresh_from_db()
        self.assertEqual(self.mastodon.status, Connection.Status.EXPIRED)
