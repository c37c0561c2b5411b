"""Issue 10 over the wire: accounts connected through the platforms' OAuth flows (the stand-in
plays X), tokens that really expire, renewed by workers, and what a dead grant does."""

import json
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils import timezone

from connections.models import Connection
from devtools.receiver import Receiver
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import TWITTER_USER, PublishingLiveTestCase
from webhooks.services import endpoint_create

OAUTH_APP = {"X_CLIENT_ID": "planrrr-e2e", "X_CLIENT_SECRET": "e2e-client-secret"}


class TokenLifecycleTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        Connection.objects.filter(pk=self.twitter.pk).delete()  # connected through the flow below
        type(self.owner).objects.filter(pk=self.owner.pk).update(is_staff=True, is_superuser=True)
        self.client.force_login(self.owner)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        endpoint = endpoint_create(team=self.team, url=self.receiver.url, events=["connection.expired"])
        self.receiver.secrets.append(endpoint.secret)

    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **OAUTH_APP}

    def connect_x(self) -> Connection:
        """Through the admin's connect page: start, the stand-in's consent page, the callback."""
        start = self.client.post(reverse("connections:connect_start", args=[self.team.pk, "twitter"]))
        self.assertEqual(start.status_code, 302, start.content[:300])
        callback = urlsplit(self.mock.approve(start["Location"]))
        done = self.client.get(f"{callback.path}?{callback.query}")
        self.assertEqual(done.status_code, 302, done.content[:500])
        return Connection.objects.get(team=self.team, platform="TWITTER", account_id=TWITTER_USER)

    def x_post(self, text: str, seconds: float = 0.0) -> Post:
        return services.post_create(
            team=self.team,
            content=text,
            platforms=["TWITTER"],
            scheduled_at=self.soon(seconds) if seconds else timezone.now(),
        )

    def test_it_publishes_past_the_token_lifetime_with_a_renewed_token(self):
        self.mock.token_lifetimes(x_access_token_seconds=3)
        connection = self.connect_x()
        self.assertTrue(connection.refreshable)
        first_token = connection.access_token
        self.start_worker()
        self.start_worker()  # two workers: they must not both spend the refresh token

        post = self.x_post("After the token's lifetime", seconds=7)
        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        connection.refresh_from_db()
        self.assertNotEqual(connection.access_token, first_token)
        self.assertEqual(connection.status, Connection.Status.ACTIVE)
        uses = self.mock.refresh_uses("TWITTER")  # every refresh token issued, the newest unused yet
        self.assertGreaterEqual(sum(uses.values()), 1, "the token was renewed")
        self.assertLessEqual(max(uses.values()), 1, f"each refresh token used at most once: {uses}")
        self.assertEqual(len(self.mock.posts(platform="TWITTER")), 1)

    def test_concurrent_attempts_renew_the_token_once(self):
        self.mock.token_lifetimes(x_access_token_seconds=3600)
        connection = self.connect_x()
        # Expiring within the just-in-time window, with the periodic refresh far off: every
        # attempt wants it renewed at once; the row lock lets one through.
        Connection.objects.filter(pk=connection.pk).update(
            expires_at=timezone.now() + timezone.timedelta(seconds=60),
            next_refresh_at=timezone.now() + timezone.timedelta(hours=1),
        )
        posts = [self.x_post(f"Race {i}") for i in range(4)]
        for _ in range(3):
            self.start_worker()

        for post in posts:
            self.assertEqual(self.wait_until_final(post, timeout=30).status, Post.Status.PUBLISHED)
        uses = self.mock.refresh_uses("TWITTER")
        self.assertEqual(sorted(uses.values()), [0, 1], f"one refresh, no broken chain: {uses}")

    def test_a_transient_refresh_failure_keeps_the_connection_and_publishes_after_the_retry(self):
        self.mock.token_lifetimes(x_access_token_seconds=2)
        connection = self.connect_x()
        self.mock.fail("TWITTER", mode="server_error", on="token", times=2)
        self.mock.expire_token(connection.access_token)
        self.start_worker(TOKEN_REFRESH_RETRY_BASE_SECONDS=1)

        post = self.x_post("Through a token endpoint hiccup")
        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        connection.refresh_from_db()
        self.assertEqual(connection.status, Connection.Status.ACTIVE)
        self.assertEqual(len(self.mock.posts(platform="TWITTER")), 1)

    def test_a_dead_grant_fails_the_waiting_posts_once_and_a_reconnect_requeues_them(self):
        self.mock.token_lifetimes(x_access_token_seconds=3600)
        connection = self.connect_x()
        refresh_token = connection.refresh_token
        self.mock.revoke_token(refresh_token)  # the user removed the app: the whole grant is dead
        self.mock.expire_token(connection.access_token)
        self.start_worker()

        posts = [self.x_post(f"Waiting {i}") for i in range(2)]
        for post in posts:
            self.assertEqual(self.wait_until_final(post, timeout=20).status, Post.Status.FAILED)
            publication = self.publication(post, "TWITTER")
            self.assertIn("reconnect the X account", publication.error)
            self.assertEqual(publication.metadata.get("failedBecause"), "token")
        connection.refresh_from_db()
        self.assertEqual(connection.status, Connection.Status.EXPIRED)
        received = self.receiver.wait_for(1)
        self.assertEqual([json.loads(r.body)["event"] for r in received], ["connection.expired"])

        reconnected = self.connect_x()
        self.assertEqual(reconnected.pk, connection.pk, "updated in place, history kept")
        self.assertEqual(reconnected.status, Connection.Status.ACTIVE)
        # The admin asks, with a count, before re-queueing.
        listing = self.client.get(reverse("admin:connections_connection_changelist"))
        self.assertContains(listing, "2 publication(s) failed because its token had expired")
        requeue = reverse("admin:connections_connection_requeue", args=[reconnected.pk])
        self.assertContains(self.client.get(requeue), "Re-queue 2 publications")
        self.client.post(requeue)
        self.assertEqual(services.publications_requeue_after_reconnect(connection=reconnected), 0, "once")

        for post in posts:
            self.assertEqual(self.wait_until_final(post, timeout=20).status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts(platform="TWITTER")), 2)
        self.assertEqual(len([r for r in self.receiver.received if b"connection.expired" in r.body]), 1)
        wait_for(lambda: Publication.objects.filter(status=Publication.Status.PUBLISHED).count() == 2)
