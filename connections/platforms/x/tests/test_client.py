"""X's client against recorded answers (responses): exchange, refresh, rotation, and its failures."""

import base64
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from django.test import SimpleTestCase, override_settings

from connections.grants import Grant
from connections.oauth import OAuthFailure
from connections.platforms.x.client import XClient
from connections.tests.oauth_apps import OAUTH, X_TOKEN, form


@override_settings(**OAUTH)
class XClientTests(SimpleTestCase):
    def test_it_builds_an_authorization_url_with_pkce_s256(self):
        url = XClient().authorization_url(redirect_uri="https://app/cb", state="st", code_verifier="v" * 64)
        parts = urlsplit(url)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.assertEqual(f"{parts.scheme}://{parts.netloc}{parts.path}", "https://x.test/i/oauth2/authorize")
        self.assertEqual(params["code_challenge_method"], "S256")
        self.assertEqual(params["state"], "st")
        self.assertEqual(params["client_id"], "x-id")
        self.assertIn("offline.access", params["scope"].split())
        self.assertNotIn("v" * 64, url)

    @responses.activate
    def test_it_exchanges_the_code_with_basic_auth_and_the_verifier(self):
        responses.post(
            X_TOKEN,
            json={
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": "acc-1",
                "refresh_token": "ref-1",
                "scope": "tweet.read offline.access",
            },
        )
        grant = XClient().exchange(code="the-code", redirect_uri="https://app/cb", code_verifier="ver")
        self.assertEqual((grant.access_token, grant.refresh_token), ("acc-1", "ref-1"))
        self.assertEqual(grant.scopes, "tweet.read offline.access")
        self.assertIsNotNone(grant.expires_at)
        sent = form(responses.calls[0])
        self.assertEqual(sent["grant_type"], "authorization_code")
        self.assertEqual(sent["code_verifier"], "ver")
        self.assertEqual(sent["redirect_uri"], "https://app/cb")
        self.assertEqual(responses.calls[0].request.req_kwargs["timeout"], (5.0, 30.0))
        basic = base64.b64encode(b"x-id:x-secret-value").decode()
        self.assertEqual(responses.calls[0].request.headers["Authorization"], f"Basic {basic}")

    @responses.activate
    def test_it_refreshes_and_returns_the_rotated_refresh_token(self):
        responses.post(X_TOKEN, json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 7200})
        grant = XClient().refresh(refresh_token="ref-1")
        self.assertEqual((grant.access_token, grant.refresh_token), ("acc-2", "ref-2"))
        sent = form(responses.calls[0])
        self.assertEqual(
            (sent["grant_type"], sent["refresh_token"], sent["client_id"]), ("refresh_token", "ref-1", "x-id")
        )
        self.assertNotIn("scope", sent)

    @responses.activate
    def test_it_reads_a_spent_refresh_token_as_a_dead_grant(self):
        # X's answer to a reused refresh token (docs/platforms/x.md).
        responses.post(
            X_TOKEN,
            status=400,
            json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
        )
        with self.assertRaises(OAuthFailure) as caught:
            XClient().refresh(refresh_token="ref-spent")
        self.assertTrue(caught.exception.grant_dead)
        self.assertIn("Value passed for the token was invalid.", caught.exception.message)
        self.assertNotIn("ref-spent", caught.exception.message)

    @responses.activate
    def test_it_reads_a_429_as_transient_with_the_reset_time(self):
        responses.post(
            X_TOKEN, status=429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": "9999999999"}
        )
        with self.assertRaises(OAuthFailure) as caught:
            XClient().refresh(refresh_token="ref-1")
        self.assertFalse(caught.exception.grant_dead)
        self.assertIsNotNone(caught.exception.retry_at)

    @responses.activate
    def test_it_reads_a_5xx_a_timeout_and_a_broken_connection_as_transient(self):
        responses.post(X_TOKEN, status=503, body="upstream down")
        responses.post(X_TOKEN, body=requests.exceptions.ReadTimeout(f"{X_TOKEN}?refresh_token=ref-1"))
        responses.post(X_TOKEN, body=requests.exceptions.ConnectionError("refresh_token=ref-1 refused"))
        for _ in range(3):
            with self.assertRaises(OAuthFailure) as caught:
                XClient().refresh(refresh_token="ref-1")
            self.assertFalse(caught.exception.grant_dead)
            self.assertNotIn("ref-1", caught.exception.message)

    @responses.activate
    def test_it_does_not_take_bad_app_credentials_for_a_dead_grant(self):
        responses.post(X_TOKEN, status=401, json={"error": "unauthorized_client", "error_description": "Missing creds"})
        with self.assertRaises(OAuthFailure) as caught:
            XClient().refresh(refresh_token="ref-1")
        self.assertFalse(caught.exception.grant_dead)
        self.assertIn("X_CLIENT_SECRET", caught.exception.message)

    @responses.activate
    def test_it_names_the_account_from_users_me(self):
        responses.get("https://api.x.test/2/users/me", json={"data": {"id": "42", "name": "Acme", "username": "acme"}})

        [choice] = XClient().accounts(Grant(access_token="acc-1"))
        self.assertEqual((choice.platform, choice.account_id, choice.name), ("TWITTER", "42", "@acme"))
        self.assertEqual(responses.calls[0].request.headers["Authorization"], "Bearer acc-1")

    def test_it_says_what_to_set_when_not_configured(self):
        with override_settings(X_CLIENT_ID=""):
            self.assertFalse(XClient().configured)
            self.assertEqual(XClient().not_configured_message, "not configured: set X_CLIENT_ID and X_CLIENT_SECRET")
