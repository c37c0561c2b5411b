"""The OAuth clients over a real socket: every call's whole answer within
PLATFORM_CALL_DEADLINE_SECONDS and MAX_ANSWER_BYTES, Authlib's token requests included, as the
adapters' calls (connections/tests/test_http.py)."""

import time

from django.test import TestCase, override_settings

from connections.grants import Grant
from connections.models import Connection
from connections.oauth import MAX_ANSWER_BYTES, OAuthFailure
from connections.platforms.bluesky.client import BlueskyClient
from connections.platforms.mastodon.client import MastodonClient
from connections.platforms.mastodon.models import MastodonApp
from connections.platforms.x.client import XClient
from connections.services import connection_refresh
from connections.tests.oauth_apps import OAUTH
from connections.tests.servers import JsonServer, SlowServer
from connections.tests.test_lifecycle import x_connection
from planrrr.models import Team


@override_settings(
    **OAUTH,
    PLATFORM_TIMEOUT=(1.0, 5.0),
    PLATFORM_CALL_DEADLINE_SECONDS=1.0,
    # The stand-in servers of Bluesky and Mastodon below are on loopback.
    INSTANCE_ALLOW_PRIVATE_URLS=True,
)
class OAuthCallDeadlineTests(TestCase):
    def assertCutAtDeadline(self, call) -> OAuthFailure:
        """``call`` fails after the 1 s deadline, well before the answer would have ended (6 s), and
        not as a dead grant: the connection is kept and the call tried again later."""
        started = time.monotonic()
        with self.assertRaises(OAuthFailure) as caught:
            call()
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 5.0)
        self.assertFalse(caught.exception.grant_dead)
        return caught.exception

    def test_it_cuts_an_answer_that_drips_past_the_deadline(self):
        # One byte every 0.2 s, each well within the 5 s read timeout.
        with (
            SlowServer(content_type="application/json", length=30, interval=0.2) as server,
            override_settings(TWITTER_API_URL=server.url),
        ):
            error = self.assertCutAtDeadline(lambda: XClient().accounts(Grant(access_token="acc-1")))
        self.assertEqual(
            error.message, "X was too slow when asked to read the X account: its answer did not finish within 1 s."
        )
        self.assertEqual(server.requests, ["/2/users/me?user.fields=profile_image_url"])

    def test_it_cuts_a_chunk_size_line_that_drips_past_the_deadline(self):
        # All inside one read of http.client: only the watchdog can end it.
        with SlowServer(content_type="application/json", length=60, interval=0.1, chunked=True) as server:
            error = self.assertCutAtDeadline(
                lambda: BlueskyClient().create_session(
                    base_url=server.url, identifier="acme.bsky.social", password="pw"
                )
            )
        self.assertEqual(
            error.message,
            "Bluesky was too slow when asked to log in to Bluesky: its answer did not finish within 1 s.",
        )

    def test_it_refuses_an_answer_larger_than_the_limit(self):
        with (
            JsonServer({"data": {"id": "1", "padding": "x" * MAX_ANSWER_BYTES}}) as server,
            override_settings(TWITTER_API_URL=server.url),
            self.assertRaises(OAuthFailure) as caught,
        ):
            XClient().accounts(Grant(access_token="acc-1"))
        self.assertEqual(
            caught.exception.message,
            "X answered too much when asked to read the X account: more than 1,048,576 bytes.",
        )
        self.assertFalse(caught.exception.grant_dead)

    def test_it_cuts_a_mastodon_app_registration_that_drips_past_the_deadline(self):
        with SlowServer(content_type="application/json", length=30, interval=0.2) as server:
            error = self.assertCutAtDeadline(
                lambda: MastodonClient(base_url=server.url).register(redirect_uri="https://planrrr.example/cb")
            )
        self.assertEqual(
            error.message,
            f"Mastodon was too slow when asked to register planrrr at {server.url}: its answer did not finish "
            "within 1 s.",
        )
        self.assertEqual(server.requests, ["/api/v1/apps"])
        self.assertEqual(MastodonApp.objects.count(), 0)

    def test_it_cuts_a_code_exchange_through_authlib_at_the_deadline(self):
        with (
            SlowServer(content_type="application/json", length=60, interval=0.1, chunked=True) as server,
            override_settings(TWITTER_API_URL=server.url),
        ):
            error = self.assertCutAtDeadline(
                lambda: XClient().exchange(code="the-code", redirect_uri="https://app/cb", code_verifier="v" * 64)
            )
        self.assertEqual(
            error.message,
            "X was too slow when asked to exchange the authorization code: its answer did not finish within 1 s.",
        )
        self.assertEqual(server.requests, ["/2/oauth2/token"])

    def test_a_token_refresh_cut_at_the_deadline_leaves_the_connection_active(self):
        # connection_refresh holds the connection's row lock across this call.
        connection = x_connection(Team.objects.create(name="Acme"))
        with (
            SlowServer(content_type="application/json", length=30, interval=0.2) as server,
            override_settings(TWITTER_API_URL=server.url),
        ):
            error = self.assertCutAtDeadline(lambda: connection_refresh(connection_id=connection.pk))
        self.assertEqual(
            error.message, "X was too slow when asked to refresh the token: its answer did not finish within 1 s."
        )
        self.assertEqual(server.requests, ["/2/oauth2/token"])
        saved = Connection.objects.get(pk=connection.pk)
        self.assertEqual(saved.status, Connection.Status.ACTIVE)
        self.assertEqual(saved.refresh_failures, 1)
        self.assertEqual(saved.refresh_error, error.message)
        self.assertEqual((saved.access_token, saved.refresh_token), ("acc-1", "ref-1"))
