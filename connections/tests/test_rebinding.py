"""Calls to a connection's own server (a Mastodon instance, a Bluesky PDS) whose name answers one
address when it is checked and another when it is connected to (DNS rebinding), over real sockets.

Two servers listen on the same port: ``public`` on 127.0.0.2, which the tests let count as a public
address (the instance as it was checked), and ``private`` on 127.0.0.1 (loopback, standing for the
private network and the metadata service). The resolver answers 127.0.0.2 to the check
(``planrrr.urlsafety.check_public_url``) and 127.0.0.1 to anyone else: to a connection that
resolves the name again. Nothing may ever arrive at ``private``.
"""

import socket
import sys
from contextlib import ExitStack
from unittest import mock

from django.core.cache import cache
from django.test import TestCase, override_settings

from connections.oauth import OAuthFailure
from connections.platforms import get_adapter
from connections.platforms.base import Account, Draft, PermanentError, TransientError
from connections.platforms.bluesky.client import BlueskyClient
from connections.platforms.mastodon.adapter import MastodonAdapter
from connections.platforms.mastodon.client import MastodonClient
from connections.platforms.mastodon.models import MastodonApp
from connections.tests.servers import JsonServer
from planrrr import urlsafety
from planrrr.http import PinnedSession

NAME = "instance.rebind.test"
PUBLIC, PRIVATE = "127.0.0.2", "127.0.0.1"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
# One answer every call of a test can read: a Mastodon instance's limits, a status, an app, a token
# and an account, a Bluesky session.
ANSWER = {
    "configuration": {"statuses": {"max_characters": 500, "max_media_attachments": 4}},
    "id": "109302316291234567",
    "url": "https://instance.rebind.test/@acme/1",
    "acct": "acme",
    "client_id": "cid",
    "client_secret": "csecret",
    "access_token": "tok",
    "token_type": "Bearer",
    "scope": "read:accounts write:statuses write:media",
    "did": DID,
    "handle": "acme.bsky.social",
    "accessJwt": "access-jwt",
    "refreshJwt": "refresh-jwt",
}
_real_getaddrinfo = socket.getaddrinfo
_real_refusal_reason = urlsafety.refusal_reason


def _checking() -> bool:
    """Whether the lookup under way is the check's (rather than a connection's)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is urlsafety.check_public_url.__code__:
            return True
        frame = frame.f_back
    return False


def rebinding(answers: dict[str, str]):
    """A getaddrinfo answering ``NAME`` with ``answers["check"]`` to the check and
    ``answers["connect"]`` to anyone else, read at every lookup (a test may change them)."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host != NAME:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        ip = answers["check"] if _checking() else answers["connect"]
        if ip is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))]

    return mock.patch("socket.getaddrinfo", side_effect=getaddrinfo)


@override_settings(
    INSTANCE_ALLOW_PRIVATE_URLS=False,
    PLATFORM_TIMEOUT=(1.0, 5.0),
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
)
class RebindingTests(TestCase):
    def setUp(self):
        cache.clear()
        stack = ExitStack()
        self.addCleanup(stack.close)
        self.private = stack.enter_context(JsonServer(ANSWER, host=PRIVATE, keep_alive=True))
        self.public = stack.enter_context(JsonServer(ANSWER, host=PUBLIC, port=self.private.port, keep_alive=True))
        self.server = f"http://{NAME}:{self.private.port}"
        self.answers = {"check": PUBLIC, "connect": PRIVATE}
        stack.enter_context(rebinding(self.answers))
        # 127.0.0.2 stands for the instance's public address; every other address keeps the real rules.
        stack.enter_context(
            mock.patch.object(
                urlsafety,
                "refusal_reason",
                side_effect=lambda ip: None if str(ip) == PUBLIC else _real_refusal_reason(ip),
            )
        )

    def account(self) -> Account:
        return Account(account_id=f"1@{NAME}", access_token="tok-1", base_url=self.server)

    def assertOnlyPublicReached(self, *paths: str) -> None:
        self.assertEqual(self.private.requests, [], "a request went to the address of the second lookup")
        self.assertEqual(self.public.requests, list(paths))
        self.assertEqual(set(self.public.hosts), {f"{NAME}:{self.private.port}"})

    def test_an_adapter_publishes_at_the_address_it_checked(self):
        published = MastodonAdapter().publish(self.account(), Draft(text="Hello"))
        self.assertEqual(published.external_id, "109302316291234567")
        self.assertOnlyPublicReached("/api/v2/instance", "/api/v1/statuses")

    def test_a_bluesky_session_is_created_at_the_address_it_checked(self):
        choice = BlueskyClient().create_session(base_url=self.server, identifier="acme.bsky.social", password="pw")
        self.assertEqual(choice.account_id, DID)
        self.assertOnlyPublicReached("/xrpc/com.atproto.server.createSession")

    def test_a_mastodon_app_is_registered_and_a_code_exchanged_at_the_address_it_checked(self):
        client = MastodonClient(base_url=self.server)
        redirect_uri = "https://planrrr.example/connect/mastodon/callback"
        grant = client.exchange(code="the-code", redirect_uri=redirect_uri, code_verifier="v" * 64)
        [choice] = client.accounts(grant)
        self.assertEqual(
            (grant.access_token, choice.account_id), ("tok", f"109302316291234567@{NAME}:{self.private.port}")
        )
        self.assertEqual(MastodonApp.objects.get().client_id, "cid")
        # Registration (planrrr.oauth's request_json), the token (Authlib's fetch_token), the account.
        self.assertOnlyPublicReached("/api/v1/apps", "/oauth/token", "/api/v1/accounts/verify_credentials")

    def test_a_name_that_now_resolves_to_loopback_is_refused_before_any_connection(self):
        self.answers["check"] = PRIVATE
        # The instance's limits are read first, and their failure only logged (validation goes on).
        with self.assertRaises(PermanentError) as caught, self.assertLogs("planrrr.connections.mastodon", "WARNING"):
            MastodonAdapter().publish(self.account(), Draft(text="Hello"))
        self.assertIn(f"The Mastodon server {self.server} cannot be used:", caught.exception.message)
        self.assertIn("resolves to 127.0.0.1, which is a loopback address", caught.exception.message)
        with self.assertRaises(OAuthFailure) as caught:
            BlueskyClient().create_session(base_url=self.server, identifier="acme.bsky.social", password="pw")
        self.assertIn("resolves to 127.0.0.1, which is a loopback address", caught.exception.message)
        self.assertFalse(caught.exception.grant_dead)
        self.assertEqual((self.private.requests, self.public.requests), ([], []))

    def test_a_name_that_does_not_resolve_now_is_worth_retrying(self):
        self.answers["check"] = None
        with self.assertRaises(TransientError) as caught, self.assertLogs("planrrr.connections.mastodon", "WARNING"):
            MastodonAdapter().publish(self.account(), Draft(text="Hello"))
        self.assertIn(f"The Mastodon server {self.server} could not be reached:", caught.exception.message)
        self.assertFalse(caught.exception.maybe_sent)
        with self.assertRaises(OAuthFailure) as caught:
            BlueskyClient().create_session(base_url=self.server, identifier="acme.bsky.social", password="pw")
        self.assertIn("could not be reached to log in to Bluesky", caught.exception.message)
        self.assertFalse(caught.exception.grant_dead)
        self.assertEqual((self.private.requests, self.public.requests), ([], []))

    @override_settings(INSTANCE_ALLOW_PRIVATE_URLS=True)
    def test_private_addresses_allowed_are_still_pinned(self):
        MastodonAdapter().publish(self.account(), Draft(text="Hello"))
        self.assertOnlyPublicReached("/api/v2/instance", "/api/v1/statuses")

    @override_settings(INSTANCE_ALLOW_PRIVATE_URLS=True)
    def test_a_kept_connection_serves_only_the_address_it_was_opened_to(self):
        adapter = MastodonAdapter()
        for _ in range(3):
            adapter.publish(self.account(), Draft(text="Hello"))
        self.assertEqual(len(set(self.public.client_ports)), 1, "one connection, reused")
        # The name now answers the other address, at the check too (allowed here): the next request
        # goes there, on a connection of its own, not down the socket kept for the first address.
        self.answers["check"] = PRIVATE
        adapter.publish(self.account(), Draft(text="Hello"))
        self.assertEqual(self.private.requests, ["/api/v1/statuses"])
        self.assertEqual(len(self.public.requests), 4)  # the limits were read once, then cached

    def test_the_servers_of_connections_share_one_pinned_session_the_platforms_another(self):
        bluesky, mastodon, facebook = get_adapter("BLUESKY"), get_adapter("MASTODON"), get_adapter("FACEBOOK")
        self.assertIsInstance(bluesky.session, PinnedSession)
        self.assertIs(bluesky.session, mastodon.session)
        self.assertNotIsInstance(facebook.session, PinnedSession)
        self.assertIs(facebook.session, get_adapter("TWITTER").session)
