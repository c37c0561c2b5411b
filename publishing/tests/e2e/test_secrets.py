"""Secrets never leave: publish through every adapter with distinctive tokens, force every
error path the stand-in has, then search every row of the database, the workers' logs and the
webhook bodies for the tokens."""

from django.apps import apps
from django.db import connection as db
from django.utils import timezone

from connections.models import Connection
from devtools import stack
from devtools.receiver import Receiver
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post
from publishing.tests.base import INSTAGRAM_USER, LINKEDIN_ORG, TWITTER_USER, PublishingLiveTestCase
from webhooks.services import endpoint_create

TOKENS = {
    "FACEBOOK": "fb-TOPSECRET-4f9a1c77e2",
    "INSTAGRAM": "ig-TOPSECRET-8b2d0e51aa",
    "TWITTER": "x-TOPSECRET-31c6f0d9b4",
    "LINKEDIN": "li-TOPSECRET-a7e3925c10",
    "BLUESKY": "bsky-TOPSECRET-5d0c7e21f3",
    "MASTODON": "masto-TOPSECRET-e86b4a0d27",
}
# Each platform goes through these, in order, then gives up on a permanent error.
FAULTS = [
    {"mode": "timeout", "seconds": 2, "on": "create"},  # read timeout: outcome unknown
    {"mode": "timeout", "seconds": 2, "on": "read"},  # the reconciliation GET times out too
    {"mode": "rate_limit", "seconds": 1},
    {"mode": "server_error"},
    {"mode": "error"},
]


class SecretsTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        Connection.objects.filter(team=self.team).delete()
        self.accounts = {
            "FACEBOOK": self.connect("FACEBOOK", "104857600999", TOKENS["FACEBOOK"]),
            "INSTAGRAM": self.connect("INSTAGRAM", INSTAGRAM_USER, TOKENS["INSTAGRAM"]),
            "TWITTER": self.connect("TWITTER", TWITTER_USER, TOKENS["TWITTER"]),
            "LINKEDIN": self.connect("LINKEDIN", LINKEDIN_ORG, TOKENS["LINKEDIN"]),
            "BLUESKY": self.connect("BLUESKY", stack.ACCOUNTS["BLUESKY"], TOKENS["BLUESKY"]),
            "MASTODON": self.connect("MASTODON", stack.ACCOUNTS["MASTODON"], TOKENS["MASTODON"]),
        }
        # Their servers are per connection: the stand-in's PDS and instance.
        Connection.objects.filter(platform="BLUESKY").update(base_url=self.mock.bluesky_url)
        Connection.objects.filter(platform="MASTODON").update(base_url=self.mock.mastodon_url)
        self.mock.bind_token(TOKENS["TWITTER"], TWITTER_USER)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        endpoint = endpoint_create(team=self.team, url=self.receiver.url, events=[])
        self.receiver.secrets.append(endpoint.secret)

    def test_no_token_is_stored_logged_or_sent_whatever_fails(self):
        for platform in TOKENS:
            for fault in FAULTS:
                self.mock.fail(platform, times=1, **fault)
        self.start_worker(PLATFORM_READ_TIMEOUT=0.5, PUBLISH_MAX_ATTEMPTS=8, GRAPH_RATE_LIMIT_BACKOFF_SECONDS=1)
        image = [self.mock.media_url("image1.png")]
        failing = services.post_create(
            team=self.team, content="Every fault", platforms=list(TOKENS), media_urls=image, scheduled_at=timezone.now()
        )
        self.wait_until_final(failing, timeout=60)
        self.assertEqual(failing.status, Post.Status.FAILED)

        for platform in TOKENS:
            self.mock.fail(platform, mode="token_expired", times=1)
        expired = services.post_create(
            team=self.team, content="Tokens gone", platforms=list(TOKENS), media_urls=image, scheduled_at=timezone.now()
        )
        self.wait_until_final(expired, timeout=30)
        # Each attempt writes its publication's end, then expires its account (outcome._settle): the
        # post is ended by its last publication, maybe before another attempt has expired its account.
        accounts = Connection.objects.filter(team=self.team)
        wait_for(
            lambda: set(accounts.values_list("status", flat=True)) == {Connection.Status.EXPIRED},
            timeout=10,
            message=lambda: f"every account to expire: {dict(accounts.values_list('platform', 'status'))}",
        )
        n = len(TOKENS)
        self.receiver.wait_for(2 * n + 2 + n, timeout=20)  # failed per platform twice, completed x2, expired

        # The tokens did reach the platform (they are the credentials): the test is meaningful.
        self.assertTrue(any(TOKENS["FACEBOOK"] in str(r) for r in self.mock.requests(platform="FACEBOOK")))
        places = {
            "database": self.database_text(),
            "worker logs": self.worker_logs(),
            "webhooks": "\n".join(r.body.decode() for r in self.receiver.received),
        }
        for where, text in places.items():
            for platform, token in TOKENS.items():
                self.assertNotIn(token, text, f"the {platform} token is in the {where}")
            self.assertNotIn("TOPSECRET", text, f"a token is in the {where}")

    def database_text(self) -> str:
        """Every row of every planrrr table, as JSON text."""
        parts = []
        with db.cursor() as cursor:
            for model in apps.get_models():
                if model._meta.app_label not in ("planrrr", "connections", "publishing", "webhooks"):
                    continue
                cursor.execute(f"SELECT row_to_json(t)::text FROM {model._meta.db_table} AS t")
                parts += [row[0] for row in cursor.fetchall()]
        return "\n".join(parts)
