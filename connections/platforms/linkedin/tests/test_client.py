"""LinkedIn's client against recorded answers (responses): exchange, refresh, members and organizations."""

import responses
from django.test import SimpleTestCase, override_settings

from connections.grants import Grant
from connections.oauth import OAuthFailure
from connections.platforms.linkedin.client import LinkedInClient
from connections.tests.oauth_apps import LI_TOKEN, OAUTH, form, query


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
    def test_it_names_organizations_by_their_localized_name_and_shows_the_members_picture(self):
        picture = "https://media.licdn.com/dms/image/abc.jpg"
        responses.get("https://api.linkedin.test/v2/userinfo", json={"sub": "abc", "name": "Ada", "picture": picture})
        responses.get(
            "https://api.linkedin.test/rest/organizationAcls",
            json={"elements": [{"organization": "urn:li:organization:7"}, {"organization": "urn:li:organization:8"}]},
        )
        responses.get("https://api.linkedin.test/rest/organizations/7", json={"id": 7, "localizedName": "Acme Coffee"})
        responses.get("https://api.linkedin.test/rest/organizations/8", status=403, json={"message": "Not enough"})

        choices = LinkedInClient().accounts(Grant(access_token="li-acc"))
        self.assertEqual([c.name for c in choices], ["Ada", "Acme Coffee", "Organization 8"])
        self.assertEqual(choices[0].avatar_url, picture)
        lookup = responses.calls[2].request
        self.assertEqual(lookup.headers["X-Restli-Protocol-Version"], "2.0.0")
        self.assertIn("LinkedIn-Version", lookup.headers)

    @responses.activate
    def test_it_offers_the_member_alone_when_organizations_cannot_be_listed(self):
        responses.get("https://api.linkedin.test/v2/userinfo", json={"sub": "abc", "name": "Ada"})
        responses.get(
            "https://api.linkedin.test/rest/organizationAcls", status=403, json={"message": "Not enough permissions"}
        )

        self.assertEqual(
            [c.account_id for c in LinkedInClient().accounts(Grant(access_token="li-acc"))], ["urn:li:person:abc"]
        )
