"""Google's OAuth client as YouTube and Business Profile share it: the consent URL, the code
exchange with PKCE, and the refresh's answers (connections/platforms/google/oauth.py)."""

from urllib.parse import parse_qs, urlsplit

import responses
from django.test import SimpleTestCase, override_settings

from connections.oauth import OAuthFailure
from connections.platforms import get_client

TOKEN = "https://oauth2.test/token"


@override_settings(
    GOOGLE_CLIENT_ID="planrrr.apps.googleusercontent.com",
    GOOGLE_CLIENT_SECRET="google-secret",
    GOOGLE_OAUTH_URL="https://accounts.test",
    GOOGLE_TOKEN_URL="https://oauth2.test",
    PLATFORM_TIMEOUT=(1.0, 2.0),
)
class GoogleClientTests(SimpleTestCase):
    def setUp(self):
        self.http = responses.RequestsMock(assert_all_requests_are_fired=True)
        self.http.start()
        self.addCleanup(self.http.stop)
        self.addCleanup(self.http.reset)

    def test_it_asks_for_offline_access_with_pkce_and_a_fresh_consent(self):
        for platform, scope in (
            (
                "YOUTUBE",
                "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly "
                "https://www.googleapis.com/auth/yt-analytics.readonly",
            ),
            ("GOOGLE_BUSINESS", "https://www.googleapis.com/auth/business.manage"),
        ):
            with self.subTest(platform=platform):
                url = get_client(platform).authorization_url(
                    redirect_uri="https://planrrr.example/cb", state="st", code_verifier="v" * 48
                )
                parts = urlsplit(url)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.assertEqual(
                    f"{parts.scheme}://{parts.netloc}{parts.path}", "https://accounts.test/o/oauth2/v2/auth"
                )
                self.assertEqual(query["scope"], scope)
                self.assertEqual(
                    (query["access_type"], query["prompt"], query["code_challenge_method"]),
                    ("offline", "consent", "S256"),
                )
                self.assertNotIn("google-secret", url)

    def test_it_exchanges_the_code_with_its_verifier_in_the_form(self):
        self.http.add(
            responses.POST,
            TOKEN,
            json={
                "access_token": "ya29.a",
                "expires_in": 3599,
                "refresh_token": "1//r",
                "scope": "s",
                "token_type": "Bearer",
            },
        )
        grant = get_client("YOUTUBE").exchange(
            code="4/c", redirect_uri="https://planrrr.example/cb", code_verifier="v" * 48
        )
        self.assertEqual((grant.access_token, grant.refresh_token), ("ya29.a", "1//r"))
        form = parse_qs(self.http.calls[0].request.body)
        self.assertEqual(form["code_verifier"], ["v" * 48])
        self.assertEqual(form["client_secret"], ["google-secret"])

    def test_an_ended_refresh_token_kills_the_grant_and_says_why(self):
        self.http.add(
            responses.POST,
            TOKEN,
            status=400,
            json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        )
        with self.assertRaises(OAuthFailure) as caught:
            get_client("GOOGLE_BUSINESS").refresh(refresh_token="1//r")
        self.assertTrue(caught.exception.grant_dead)
        self.assertIn(
            "Google refused the grant (invalid_grant: Token has been expired or revoked.)", caught.exception.message
        )
        self.assertIn(
            "7 days after consent while the Google Cloud project's OAuth consent screen is in 'Testing'",
            caught.exception.message,
        )

    def test_a_429_or_a_5xx_at_refresh_may_pass(self):
        for status in (429, 503):
            with self.subTest(status=status):
                self.http.reset()
                self.http.add(responses.POST, TOKEN, status=status, json={"error": "rate_limit_exceeded"})
                with self.assertRaises(OAuthFailure) as caught:
                    get_client("YOUTUBE").refresh(refresh_token="1//r")
                self.assertFalse(caught.exception.grant_dead)
