"""Threads over the wire (issue 23): real workers publishing to the stand-in's Threads API,
the account connected through Threads' own OAuth flow (code, long-lived exchange, profile).

Each post is a container then ``threads_publish``; the stand-in answers "media not found"
(code 24, subcode 4279009) to a publish that comes within ``threads_publish_lag_seconds`` of the
container, as Threads does: a wait, never a failure. A lost answer and a worker killed
mid-publish still give exactly one post."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from connections.models import Connection
from connections.platforms import get_client
from connections.services import connection_connect, connection_refresh
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.services import caps
from publishing.tests.base import PublishingLiveTestCase

APP = {"THREADS_APP_ID": "planrrr-e2e", "THREADS_APP_SECRET": "e2e-threads-secret"}
# The "media not found" wait, short for the tests (15 s in production: Meta advises about 30).
FAST = {"THREADS_PUBLISH_WAIT_SECONDS": "1"}


class ThreadsCase(PublishingLiveTestCase):
    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **APP}

    def setUp(self):
        super().setUp()
        self.threads = self.connect_threads()

    def connect_threads(self) -> Connection:
        """What the connect page does: consent approved, code exchanged, long-lived token, profile."""
        client = get_client("THREADS")
        redirect_uri = f"{self.live_server_url}/connect/threads/callback"
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=None)
        code = parse_qs(urlsplit(self.mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        return connection_connect(team=self.team, choice=client.accounts(grant)[0])[0]

    def post(self, content: str, **kwargs) -> Post:
        return services.post_create(
            team=self.team, content=content, platforms=["THREADS"], scheduled_at=timezone.now(), **kwargs
        )

    def publishes(self) -> list[dict]:
        return [r for r in self.mock.requests("THREADS", method="POST") if r["path"].endswith("/threads_publish")]


class ThreadsPublishingTests(ThreadsCase):
    def test_it_connects_through_the_oauth_flow_with_a_long_lived_token(self):
        self.assertEqual((self.threads.account_id, self.threads.name), ("7362450123456789", "@acmecoffee"))
        self.assertEqual(self.threads.avatar_url, "https://scontent.cdninstagram.com/standin/7362450123456789.jpg")
        self.assertTrue(self.threads.refreshable, "the long-lived token renews itself")
        self.assertGreater(self.threads.expires_at, timezone.now() + timedelta(days=59))
        tokens = self.mock.issued_tokens("THREADS")
        self.assertEqual(len(tokens), 2, "a short-lived token, exchanged for a long-lived one")

    def test_it_renews_the_long_lived_token_with_itself(self):
        self.mock.configure(threads_refresh_min_age_seconds=0)
        before = self.threads.access_token
        connection_refresh(connection_id=self.threads.pk, valid_for=timedelta(days=90))
        self.threads.refresh_from_db()
        self.assertNotEqual(self.threads.access_token, before)
        self.assertEqual(self.threads.refresh_token, self.threads.access_token)
        self.assertEqual(self.threads.status, Connection.Status.ACTIVE)
        self.assertTrue(self.mock.requests("THREADS", path="refresh_access_token"))

    def test_a_publish_too_early_waits_and_the_post_is_made_once(self):
        # The stand-in answers 4279009 to a publish within 2 s of the container, as Threads does.
        self.mock.configure(threads_publish_lag_seconds=2)
        self.start_worker(**FAST)
        post = self.post("Our autumn menu is here.")

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = self.mock.posts("THREADS")
        self.assertEqual([p["text"] for p in made], ["Our autumn menu is here."])
        publication = self.publication(post, "THREADS")
        self.assertEqual(publication.external_id, made[0]["id"])
        outcomes = [r["outcome"] for r in self.publishes()]
        self.assertIn("not_found_yet", outcomes, "published too early at first")
        self.assertEqual(outcomes[-1], "created")
        self.assertEqual(len(self.mock.media("THREADS")), 1, "one container, published once it was found")
        self.assertEqual(publication.attempt_count, 1, "a wait costs no attempt")

    def test_it_publishes_a_carousel_and_a_thread_of_replies(self):
        self.mock.configure(threads_publish_lag_seconds=0)
        self.start_worker(**FAST)
        images = [self.mock.media_url("latte-1.png"), self.mock.media_url("latte-2.png")]
        carousel = self.post("Latte art, two ways.", media_urls=images)
        thread = self.post("1/3 How we roast.", thread=[{"content": "2/3 Twelve minutes."}, {"content": "3/3 Rested."}])

        self.wait_until_final(carousel, timeout=30)
        self.wait_until_final(thread, timeout=30)

        self.assertEqual((carousel.status, thread.status), (Post.Status.PUBLISHED,) * 2, self.worker_logs())
        made = {p["text"]: p for p in self.mock.posts("THREADS")}
        self.assertEqual(made["Latte art, two ways."]["media_type"], "CAROUSEL_ALBUM")
        self.assertEqual(len(made["Latte art, two ways."]["media_ids"]), 2)
        self.assertIsNone(made["1/3 How we roast."]["reply_to"])
        self.assertEqual(made["2/3 Twelve minutes."]["reply_to"], made["1/3 How we roast."]["id"])
        self.assertEqual(made["3/3 Rested."]["reply_to"], made["2/3 Twelve minutes."]["id"])
        self.assertEqual(len(made), 4)

    def test_the_accounts_own_cap_is_read_by_a_worker_and_refuses_past_it_at_the_door(self):
        self.mock.configure(threads_daily_limit=2)
        self.assertEqual([w.count for w in caps.windows_of(self.threads)], [250], "the declared figure until read")
        self.start_worker()

        wait_for(lambda: caps.windows_of(self.threads)[0].count == 2, timeout=20, message="the live figure read")
        (read,) = self.mock.requests("THREADS", path="threads_publishing_limit")
        self.assertEqual(read["status"], 200)
        for i in range(2):
            services.post_create(
                team=self.team, content=f"Later {i}", platforms=["THREADS"], scheduled_at=self.soon(3600 + i)
            )
        with self.assertRaises(ValidationError) as refused:
            services.post_create(
                team=self.team, content="One too many", platforms=["THREADS"], scheduled_at=self.soon(3700)
            )
        self.assertIn("Threads takes at most 2 posts per 24 h on", str(refused.exception))


class ThreadsExactlyOnceTests(ThreadsCase):
    def test_a_dropped_answer_gives_one_post_found_on_the_platform(self):
        # threads_publish makes the post, then the connection drops before any answer.
        self.mock.configure(threads_publish_lag_seconds=0)
        self.mock.fail("THREADS", "accept_then_drop", times=1)
        self.start_worker(**FAST)
        post = self.post("Exactly once on Threads.")

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = self.mock.posts("THREADS")
        self.assertEqual([p["text"] for p in made], ["Exactly once on Threads."], "exactly one post")
        publication = self.publication(post, "THREADS")
        self.assertEqual(publication.external_id, made[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"), "found among the account's threads")
        self.assertEqual(len(self.publishes()), 1, "nothing published after the lost answer")

    def test_a_worker_killed_mid_publish_gives_one_post(self):
        # threads_publish makes the post and stalls; the worker dies (SIGKILL) waiting for it; a
        # new worker takes over after the lease, finds the post and publishes nothing again.
        self.mock.configure(threads_publish_lag_seconds=0)
        self.mock.fail("THREADS", "accept_then_stall", times=1, seconds=30)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4, **FAST)
        post = self.post("Killed mid-publish.")
        wait_for(lambda: self.publishes(), message="threads_publish to arrive")
        self.assertEqual(self.publication(post, "THREADS").status, Publication.Status.PUBLISHING)

        first.kill()
        self.start_worker(**FAST)

        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = self.mock.posts("THREADS")
        self.assertEqual(len(made), 1, "exactly one post")
        self.assertEqual(self.publication(post, "THREADS").external_id, made[0]["id"])
        self.assertEqual(len(self.publishes()), 1)

    def test_server_errors_and_rate_limits_are_retried_into_one_post(self):
        self.mock.configure(threads_publish_lag_seconds=0)
        self.mock.fail("THREADS", "server_error", times=1)
        self.mock.fail("THREADS", "rate_limit", times=1, seconds=1)
        with override_settings(GRAPH_RATE_LIMIT_BACKOFF_SECONDS=1):
            self.start_worker(GRAPH_RATE_LIMIT_BACKOFF_SECONDS=1, **FAST)
            post = self.post("Through a 500 and a 429.")
            self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(len(self.mock.posts("THREADS")), 1)
        statuses = [r["status"] for r in self.publishes()]
        self.assertIn(500, statuses)
        self.assertIn(429, statuses)
