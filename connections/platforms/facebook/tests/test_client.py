"""Facebook's client against recorded answers (responses): the long-lived token, pages, failures."""

import responses
from django.test import SimpleTestCase, override_settings

from connections.grants import Grant
from connections.oauth import OAuthFailure
from connections.platforms.facebook.client import FacebookClient
from connections.tests.oauth_apps import FB_ACCOUNTS, FB_TOKEN, OAUTH, query


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
                        "picture": {"data": {"url": "https://scontent.test/p1.jpg", "is_silhouette": False}},
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
        self.assertEqual(query(responses.calls[0])["fields"], "id,name,access_token,instagram_business_account,picture")
        self.assertEqual([c.avatar_url for c in choices], ["https://scontent.test/p1.jpg", "", ""])
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
