"""Over the wire: LinkedIn's connect flow and token lifecycle against its stand-in."""

from __future__ import annotations

from urllib.parse import urlencode

import requests

from mockapis.tests.base import CALLBACK, ORG, OAuthTestCase, linkedin_post_body, query_of

LINKEDIN_VERSION = {"LinkedIn-Version": "202501", "X-Restli-Protocol-Version": "2.0.0"}


class LinkedInOAuthTests(OAuthTestCase):
    def authorize_url(self) -> str:
        query = {
            "response_type": "code",
            "client_id": "li-client",
            "redirect_uri": CALLBACK,
            "state": "l1",
            "scope": "openid profile w_member_social w_organization_social rw_organization_admin",
        }
        return f"{self.settings['LINKEDIN_OAUTH_URL']}/oauth/v2/authorization?{urlencode(query)}"

    def token(self, data: dict) -> requests.Response:
        return requests.post(
            f"{self.settings['LINKEDIN_OAUTH_URL']}/oauth/v2/accessToken",
            data={"client_id": "li-client", "client_secret": "li-secret", **data},
            timeout=5,
        )

    def connect(self) -> dict:
        redirect = self.mock.approve(self.authorize_url())
        self.assertEqual(query_of(redirect)["state"], "l1")
        response = self.token(
            {"grant_type": "authorization_code", "code": query_of(redirect)["code"], "redirect_uri": CALLBACK}
        )
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def api(self, path: str, token: str, **params) -> requests.Response:
        return requests.get(
            f"{self.settings['LINKEDIN_API_URL']}/{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}", **LINKEDIN_VERSION},
            timeout=5,
        )

    def post(self, token: str) -> requests.Response:
        return requests.post(
            f"{self.settings['LINKEDIN_API_URL']}/rest/posts",
            json=linkedin_post_body("hello"),
            headers={"Authorization": f"Bearer {token}", **LINKEDIN_VERSION},
            timeout=5,
        )

    def test_it_redirects_a_cancel_with_linkedins_error(self):
        redirect = self.mock.approve(self.authorize_url(), deny=True)

        self.assertEqual(query_of(redirect)["error"], "user_cancelled_authorize")

    def test_it_exchanges_a_code_for_an_access_and_a_refresh_token(self):
        tokens = self.connect()

        self.assertEqual(
            set(tokens), {"access_token", "expires_in", "scope", "refresh_token", "refresh_token_expires_in"}
        )
        self.assertEqual(tokens["expires_in"], 60 * 86_400)
        self.assertEqual(tokens["refresh_token_expires_in"], 365 * 86_400)

    def test_it_gives_no_refresh_token_when_configured_so(self):
        self.mock.configure(linkedin_refresh_tokens=False)

        self.assertEqual(set(self.connect()), {"access_token", "expires_in", "scope"})

    def test_it_refreshes_without_extending_the_refresh_token(self):
        self.mock.token_lifetimes(linkedin_refresh_token_seconds=100)
        tokens = self.connect()
        [issued] = self.mock.issued_tokens("LINKEDIN", kind="refresh")

        refreshed = self.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})

        self.assertEqual(refreshed.status_code, 200, refreshed.content)
        body = refreshed.json()
        self.assertEqual(body["refresh_token"], tokens["refresh_token"])
        self.assertLessEqual(body["refresh_token_expires_in"], 100)
        self.assertNotEqual(body["access_token"], tokens["access_token"])
        [still] = self.mock.issued_tokens("LINKEDIN", kind="refresh")
        self.assertEqual(still["expires_at"], issued["expires_at"])
        self.assertEqual(self.mock.refresh_uses("LINKEDIN"), {tokens["refresh_token"]: 1})

    def test_it_refuses_an_expired_refresh_token_with_invalid_grant(self):
        tokens = self.connect()
        self.mock.expire_token(tokens["refresh_token"])

        refused = self.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})

        self.assertEqual(refused.status_code, 400)
        self.assertEqual(refused.json()["error"], "invalid_grant")

    def test_it_refuses_a_bad_code_with_invalid_grant(self):
        refused = self.token({"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK})

        self.assertEqual((refused.status_code, refused.json()["error"]), (400, "invalid_grant"))

    def test_it_names_the_member_and_the_organizations_they_administer(self):
        token = self.connect()["access_token"]

        userinfo = self.api("v2/userinfo", token).json()
        acls = self.api("rest/organizationAcls", token, q="roleAssignee", role="ADMINISTRATOR", state="APPROVED").json()

        self.assertEqual((userinfo["sub"], userinfo["name"]), ("yrZCpj2Z12", "Dana Demo"))
        self.assertEqual(
            [(e["organization"], e["role"], e["state"]) for e in acls["elements"]],
            [(ORG, "ADMINISTRATOR", "APPROVED"), ("urn:li:organization:2414183", "ADMINISTRATOR", "APPROVED")],
        )
        org = self.api("rest/organizations/5515715", token).json()
        self.assertEqual(org["localizedName"], "Acme Coffee Ltd")

    def test_it_answers_an_expired_access_token_with_65600_and_a_revoked_one_with_65601(self):
        self.mock.token_lifetimes(linkedin_access_token_seconds=1)
        tokens = self.connect()
        self.assertEqual(self.post(tokens["access_token"]).status_code, 201)
        self.wait_until_expired(tokens["access_token"])

        expired = self.post(tokens["access_token"])

        self.assertEqual((expired.status_code, expired.json()["serviceErrorCode"]), (401, 65600))
        fresh = self.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
        self.mock.revoke_token(fresh["access_token"])
        revoked = self.post(fresh["access_token"])
        self.assertEqual((revoked.status_code, revoked.json()["serviceErrorCode"]), (401, 65601))
