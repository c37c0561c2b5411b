"""Connecting Bluesky (handle + app password: one session, stored encrypted) and Mastodon (OAuth on
the person's instance, with planrrr's app registered there once), and renewing a Bluesky session."""

import base64
import json
from datetime import UTC, datetime
from unittest import mock

import responses
from django.test import override_settings
from django.urls import reverse

from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.platforms.mastodon.models import MastodonApp
from connections.services import connection_refresh
from connections.tests.contract import BLUESKY, MASTODON, pinned, resolve
from connections.tests.test_connect import ConnectTestCase

# What the mock sees: every call to the person's server goes to the address its name was checked
# to resolve to (connections.platforms.instance.InstanceSession).
PDS = pinned(BLUESKY)
INSTANCE = pinned(MASTODON)
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
EXP = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())


def jwt(exp: int = EXP, tag: str = "a") -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": DID, "exp": exp}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJFUzI1NksifQ.{claims}.sig-{tag}"


def session(tag: str = "a") -> dict:
    return {"did": DID, "handle": "acme.bsky.social", "accessJwt": jwt(tag=tag), "refreshJwt": f"refresh-{tag}"}


@override_settings(BLUESKY_PDS_URL=BLUESKY, INSTANCE_ALLOW_PRIVATE_URLS=False)
class OpenNetworkConnectTests(ConnectTestCase):
    def setUp(self):
        super().setUp()
        resolver = mock.patch("socket.getaddrinfo", side_effect=resolve)
        resolver.start()
        self.addCleanup(resolver.stop)

    def connect_bluesky(self, **data):
        form = {"handle": "@acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop", "pds_url": BLUESKY, **data}
        return self.client.post(reverse("connections:connect_start", args=[self.team.pk, "bluesky"]), form)

    def test_it_offers_the_bluesky_form_and_the_mastodon_server_field(self):
        response = self.client.get(reverse("connections:connect", args=[self.team.pk]))
        self.assertContains(response, 'id="bluesky-app-password"')
        self.assertContains(response, f'value="{BLUESKY}"')
        self.assertContains(response, 'id="mastodon-instance"')

    @responses.activate
    def test_it_connects_bluesky_with_one_session(self):
        responses.post(f"{PDS}/xrpc/com.atproto.server.createSession", json=session())
        response = self.connect_bluesky()
        self.assertEqual(response.status_code, 302)
        connection = Connection.objects.get()
        self.assertEqual(
            (connection.platform, connection.account_id, connection.name), ("BLUESKY", DID, "@acme.bsky.social")
        )
        self.assertEqual((connection.access_token, connection.refresh_token), (jwt(), "refresh-a"))
        self.assertEqual(connection.app_password, "abcd-efgh-ijkl-mnop")
        self.assertEqual(connection.base_url, BLUESKY)
        self.assertEqual(connection.expires_at, datetime(2030, 1, 1, tzinfo=UTC))
        self.assertEqual(
            json.loads(responses.calls[0].request.body),
            {"identifier": "acme.bsky.social", "password": "abcd-efgh-ijkl-mnop"},
        )
        self.assertEqual(len(responses.calls), 1)

    @responses.activate
    def test_it_refuses_a_wrong_app_password_and_stores_nothing(self):
        responses.post(
            f"{PDS}/xrpc/com.atproto.server.createSession",
            status=401,
            json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        )
        response = self.connect_bluesky()
        self.assertContains(response, "Invalid identifier or password", status_code=502)
        self.assertNotContains(response, "abcd-efgh", status_code=502)
        self.assertEqual(Connection.objects.count(), 0)

    def test_it_refuses_a_pds_on_a_private_address(self):
        response = self.connect_bluesky(pds_url="https://private.example.com")
        self.assertContains(response, "resolves to 10.0.0.7", status_code=400)
        self.assertEqual(Connection.objects.count(), 0)

    @responses.activate
    def test_it_refreshes_a_bluesky_session_and_replaces_a_dead_one_with_the_app_password(self):
        responses.post(f"{PDS}/xrpc/com.atproto.server.createSession", json=session())
        self.connect_bluesky()
        connection = Connection.objects.get()

        responses.post(f"{PDS}/xrpc/com.atproto.server.refreshSession", json=session("b"))
        renewed = connection_refresh(connection_id=connection.pk, rejected_token=connection.access_token)
        self.assertEqual((renewed.access_token, renewed.refresh_token), (jwt(tag="b"), "refresh-b"))
        self.assertEqual(responses.calls[-1].request.headers["Authorization"], "Bearer refresh-a")

        responses.replace(
            responses.POST,
            f"{PDS}/xrpc/com.atproto.server.refreshSession",
            status=400,
            json={"error": "ExpiredToken", "message": "Token has been revoked"},
        )
        responses.replace(responses.POST, f"{PDS}/xrpc/com.atproto.server.createSession", json=session("c"))
        renewed = connection_refresh(connection_id=connection.pk, rejected_token=renewed.access_token)
        self.assertEqual((renewed.access_token, renewed.refresh_token), (jwt(tag="c"), "refresh-c"))
        self.assertEqual(json.loads(responses.calls[-1].request.body)["identifier"], DID)
        self.assertEqual(renewed.status, Connection.Status.ACTIVE)

    @responses.activate
    def test_it_expires_the_connection_when_the_app_password_was_revoked_too(self):
        responses.post(f"{PDS}/xrpc/com.atproto.server.createSession", json=session())
        self.connect_bluesky()
        connection = Connection.objects.get()
        responses.post(
            f"{PDS}/xrpc/com.atproto.server.refreshSession",
            status=400,
            json={"error": "ExpiredToken", "message": "Token has been revoked"},
        )
        responses.replace(
            responses.POST,
            f"{PDS}/xrpc/com.atproto.server.createSession",
            status=401,
            json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        )
        with self.assertRaises(OAuthFailure) as caught:
            connection_refresh(connection_id=connection.pk, rejected_token=connection.access_token)
        self.assertTrue(caught.exception.grant_dead)
        connection.refresh_from_db()
        self.assertEqual(connection.status, Connection.Status.EXPIRED)

    @responses.activate
    def test_an_app_registered_with_older_scopes_is_registered_again_and_replaced(self):
        MastodonApp.objects.create(
            base_url=MASTODON,
            redirect_uri="http://testserver" + reverse("connections:connect_callback", args=["mastodon"]),
            scopes="read write",
            client_id="old-cid",
            client_secret="old-secret",
        )
        responses.post(f"{INSTANCE}/api/v1/apps", json={"client_id": "cid", "client_secret": "csecret"})
        response = self.client.post(
            reverse("connections:connect_start", args=[self.team.pk, "mastodon"]), {"instance": "mastodon.test"}
        )
        self.assertEqual(response.status_code, 302, response.content[:300])
        self.assertIn("client_id=cid", response["Location"])
        app = MastodonApp.objects.get()
        self.assertEqual((app.client_id, app.scopes), ("cid", "read:accounts write:statuses write:media"))

    @responses.activate
    def test_it_connects_mastodon_through_oauth_on_the_instance_registering_the_app_once(self):
        responses.post(f"{INSTANCE}/api/v1/apps", json={"client_id": "cid", "client_secret": "csecret"})
        responses.post(
            f"{INSTANCE}/oauth/token",
            json={"access_token": "tok", "token_type": "Bearer", "scope": "read:accounts write:statuses write:media"},
        )
        responses.get(
            f"{INSTANCE}/api/v1/accounts/verify_credentials",
            json={"id": "109302316291234567", "username": "acme", "acct": "acme"},
        )
        for _ in range(2):
            response = self.client.post(
                reverse("connections:connect_start", args=[self.team.pk, "mastodon"]), {"instance": "mastodon.test/"}
            )
            self.assertEqual(response.status_code, 302)
            self.assertTrue(response["Location"].startswith(f"{MASTODON}/oauth/authorize?"))
        params = dict(p.split("=", 1) for p in response["Location"].split("?", 1)[1].split("&"))
        self.assertEqual(params["client_id"], "cid")
        self.assertEqual(params["code_challenge_method"], "S256")
        self.assertEqual(MastodonApp.objects.count(), 1)

        response = self.callback("mastodon", code="the-code", state=params["state"].replace("%3A", ":"))
        self.assertEqual(response.status_code, 302, response.content[:300])
        connection = Connection.objects.get()
        self.assertEqual(
            (connection.platform, connection.account_id, connection.name, connection.base_url),
            ("MASTODON", "109302316291234567@mastodon.test", "@acme@mastodon.test", MASTODON),
        )
        self.assertEqual((connection.access_token, connection.refresh_token, connection.expires_at), ("tok", "", None))
        token_request = next(c.request for c in responses.calls if c.request.url == f"{INSTANCE}/oauth/token")
        self.assertIn("client_secret=csecret", token_request.body)
        self.assertIn("code_verifier=", token_request.body)

    def test_it_refuses_a_mastodon_server_that_is_not_one(self):
        response = self.client.post(
            reverse("connections:connect_start", args=[self.team.pk, "mastodon"]), {"instance": "ftp://x"}
        )
        self.assertContains(response, "is not a server address", status_code=400)
