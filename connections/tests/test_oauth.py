"""The OAuth clients against recorded platform answers (responses): exchange, refresh, rotation,
and the classification of failures."""

import base64
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from django.test import SimpleTestCase, override_settings

from connections.grants import Grant
from connections.oauth import OAuthFailure
from connections.platforms.facebook.client import FacebookClient
from connections.platforms.linkedin.client import LinkedInClient
from connections.platforms.x.client import XClient

OAUTH = {
    "X_CLIENT_ID": "x-id",
    "X_CLIENT_SECRET": "x-secret-value",
    "FACEBOOK_APP_ID": "fb-id",
    "FACEBOOK_APP_SECRET": "fb-secret-value",
    "LINKEDIN_CLIENT_ID": "li-id",
    "LINKEDIN_CLIENT_SECRET": "li-secret-value",
    "X_OAUTH_URL": "https://x.test",
    "TWITTER_API_URL": "https://api.x.test",
    "FACEBOOK_OAUTH_URL": "https://www.facebook.test",
    "FACEBOOK_API_URL": "https://graph.facebook.test",
    "GRAPH_API_VERSION": "v21.0",
    "LINKEDIN_OAUTH_URL": "https://www.linkedin.test",
    "LINKEDIN_API_URL": "https://api.linkedin.test",
}
X_TOKEN = "https://api.x.test/2/oauth2/token"
FB_TOKEN = "https://graph.facebook.test/v21.0/oauth/access_token"
FB_ACCOUNTS = "https://graph.facebook.test/v21.0/me/accounts"
LI_TOKEN = "https://www.linkedin.test/oauth/v2/accessToken"


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body or "").items()}


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


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


@override_settings(**OAUTH)
class FacebookClientTests(SimpleTestCase):
    @responses.activate
    def test_it_exchanges_the_code_then_for_a_long_lived_token(self):
        responses.get(FB_TOKEN, json={"access_token": "short", "token_type": "bearer", "expires_in": 3600})
        responses.get(FB_TOKEN, json={"access_token": "long", "token_type": "bearer", "expires_in": 5184000})
        grant = FacebookClient().exchange(code="c0de", redirect_uri="https://app/cb", code_verifier=None)
        self.assertEqual(grant.access_token, "long")
        self.assertEqual(grant.refresh_token, "")
        first, second = query(responses.calls[0]), query(responses.calls[1])
        self.assertEqual(
            (first["code"], first["client_id"], first["client_secret"]), ("c0de", "fb-id", "fb-secret-value")
        )
        self.assertEqual((second["grant_type"], second["fb_exchange_token"]), ("fb_exchange_token", "short"))

    @responses.activate
    def test_it_offers_each_page_with_its_own_token_and_its_linked_instagram_account(self):
        responses.get(
            FB_ACCOUNTS,
            json={
                "data": [
                    {
                        "id": "p1",
                        "name": "Acme",
                        "access_token": "page-1-token",
                        "instagram_business_account": {"id": "ig1"},
                    }
                ],
                "paging": {"cursors": {"after": "A"}, "next": f"{FB_ACCOUNTS}?after=A&access_token=long"},
            },
        )
        responses.get(
            FB_ACCOUNTS, json={"data": [{"id": "p2", "name": "Other", "access_token": "page-2-token"}], "paging": {}}
        )

        choices = FacebookClient().accounts(Grant(access_token="long"))
        got = [(c.platform, c.account_id, c.grant.access_token) for c in choices]
        self.assertEqual(
            got,
            [
                ("FACEBOOK", "p1", "page-1-token"),
                ("INSTAGRAM", "ig1", "page-1-token"),
                ("FACEBOOK", "p2", "page-2-token"),
            ],
        )
        self.assertEqual(query(responses.calls[0])["fields"], "id,name,access_token,instagram_business_account")
        self.assertIn("after=A", responses.calls[1].request.url)
        self.assertTrue(all(call.request.req_kwargs["timeout"] for call in responses.calls))

    @responses.activate
    def test_it_keeps_the_secret_and_the_token_out_of_graph_errors(self):
        responses.get(
            FB_TOKEN,
            status=400,
            json={"error": {"message": "Invalid verification code format.", "type": "OAuthException", "code": 100}},
        )
        with self.assertRaises(OAuthFailure) as caught:
            FacebookClient().exchange(code="c0de", redirect_uri="https://app/cb", code_verifier=None)
        self.assertIn("Invalid verification code format.", caught.exception.message)
        self.assertNotIn("fb-secret-value", caught.exception.message)


@override_settings(**OAUTH)
class LinkedInClientTests(SimpleTestCase):
    @responses.activate
    def test_it_exchanges_with_the_secret_in_the_form(self):
        responses.post(
            LI_TOKEN, json={"access_token": "li-acc", "expires_in": 5184000, "scope": "openid,profile,w_member_social"}
        )
        grant = LinkedInClient().exchange(code="c", redirect_uri="https://app/cb", code_verifier=None)
        self.assertEqual(grant.scopes, "openid profile w_member_social")
        self.assertEqual(grant.refresh_token, "")
        sent = form(responses.calls[0])
        self.assertEqual((sent["client_id"], sent["client_secret"]), ("li-id", "li-secret-value"))

    @responses.activate
    def test_it_reads_invalid_grant_as_a_dead_grant(self):
        responses.post(
            LI_TOKEN,
            status=400,
            json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        )
        with self.assertRaises(OAuthFailure) as caught:
            LinkedInClient().refresh(refresh_token="li-ref")
        self.assertTrue(caught.exception.grant_dead)
        self.assertIn("Token has been expired or revoked.", caught.exception.message)

    @responses.activate
    def test_it_offers_the_member_and_the_organizations_they_administer(self):
        responses.get("https://api.linkedin.test/v2/userinfo", json={"sub": "abc", "name": "Ada"})
        responses.get(
            "https://api.linkedin.test/rest/organizationAcls",
            json={
                "elements": [{"organization": "urn:li:organization:7", "role": "ADMINISTRATOR", "state": "APPROVED"}]
            },
        )

        choices = LinkedInClient().accounts(Grant(access_token="li-acc"))
        self.assertEqual([c.account_id for c in choices], ["urn:li:person:abc", "urn:li:organization:7"])
        acl = responses.calls[1].request
        self.assertEqual(acl.headers["X-Restli-Protocol-Version"], "2.0.0")
        self.assertIn("LinkedIn-Version", acl.headers)
        self.assertEqual(query(responses.calls[1])["q"], "roleAssignee")

    @responses.activate
    def test_it_offers_the_member_alone_when_organizations_cannot_be_listed(self):
        responses.get("https://api.linkedin.test/v2/userinfo", json={"sub": "abc", "name": "Ada"})
        responses.get(
            "https://api.linkedin.test/rest/organizationAcls", status=403, json={"message": "Not enough permissions"}
        )

        self.assertEqual(
            [c.account_id for c in LinkedInClient().accounts(Grant(access_token="li-acc"))], ["urn:li:person:abc"]
        )
