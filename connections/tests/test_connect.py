"""The connect flow from the admin: who may start it, the state's rules (forged, replayed, expired,
cross-team, another user's: refused, nothing stored), and picking pages and authors."""

import time
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import responses
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import TestCase, override_settings
from django.urls import reverse

from connections.connect import STATE_SALT
from connections.models import Connection
from connections.tests.oauth_apps import FB_ACCOUNTS, FB_TOKEN, LI_TOKEN, OAUTH, X_TOKEN
from planrrr.models import Membership, Team

ME = "https://api.x.test/2/users/me"


class ConnectTestCase(TestCase):
    """Named actors: the team's owner, a plain member, an outsider (admin of another team)."""

    @classmethod
    def setUpTestData(cls):
        users = get_user_model().objects
        cls.team = Team.objects.create(name="Acme")
        cls.other_team = Team.objects.create(name="Rival")
        cls.owner = users.create_user("owner", is_staff=True)
        cls.member = users.create_user("member", is_staff=True)
        cls.outsider = users.create_user("outsider", is_staff=True)
        Membership.objects.create(user=cls.owner, team=cls.team, role=Membership.Role.OWNER)
        Membership.objects.create(user=cls.member, team=cls.team, role=Membership.Role.MEMBER)
        Membership.objects.create(user=cls.outsider, team=cls.other_team, role=Membership.Role.ADMIN)

    def setUp(self):
        self.client.force_login(self.owner)

    def start(self, platform="twitter", team=None) -> dict:
        """Start a connect; the authorization URL's parameters."""
        response = self.client.post(reverse("connections:connect_start", args=[(team or self.team).pk, platform]))
        self.assertEqual(response.status_code, 302, getattr(response, "content", b"")[:500])
        return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}

    def callback(self, platform="twitter", **params):
        return self.client.get(reverse("connections:connect_callback", args=[platform]), params)

    def assertRefused(self, response, words: str):
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, words, status_code=400)
        self.assertContains(response, "Nothing was stored", status_code=400)
        self.assertEqual(Connection.objects.count(), 0)


@override_settings(**OAUTH)
class ConnectPageTests(ConnectTestCase):
    def test_it_offers_a_button_per_configured_platform(self):
        page = self.client.get(reverse("connections:connect", args=[self.team.pk]))
        self.assertContains(page, 'id="connect-twitter"')
        self.assertContains(page, 'id="connect-facebook"')
        self.assertContains(page, 'id="connect-linkedin"')

    def test_it_says_what_to_set_for_a_platform_not_configured(self):
        with override_settings(X_CLIENT_ID="", X_CLIENT_SECRET=""):
            page = self.client.get(reverse("connections:connect", args=[self.team.pk]))
        self.assertContains(page, "not configured: set X_CLIENT_ID and X_CLIENT_SECRET")
        self.assertNotContains(page, 'id="connect-twitter"')

    def test_it_refuses_a_plain_member_and_an_outsider(self):
        # A member may not connect (403); to an outsider the team is not there (404, as in the admin).
        for user, status in ((self.member, 403), (self.outsider, 404)):
            self.client.force_login(user)
            self.assertEqual(self.client.get(reverse("connections:connect", args=[self.team.pk])).status_code, status)
            response = self.client.post(reverse("connections:connect_start", args=[self.team.pk, "twitter"]))
            self.assertEqual(response.status_code, status)
            self.assertFalse(Connection.objects.filter(team=self.team, platform="TWITTER").exists())

    def test_it_sends_anonymous_people_to_the_admin_login(self):
        self.client.logout()
        response = self.client.get(reverse("connections:connect", args=[self.team.pk]))
        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("admin:login"), response["Location"])

    def test_it_is_linked_from_the_team_admin(self):
        self.client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", None))
        page = self.client.get(reverse("admin:planrrr_team_changelist"))
        self.assertContains(page, reverse("connections:connect", args=[self.team.pk]))


@override_settings(**OAUTH)
class XConnectTests(ConnectTestCase):
    def answer_x(self):
        responses.post(
            X_TOKEN,
            json={
                "access_token": "acc-1",
                "refresh_token": "ref-1",
                "expires_in": 7200,
                "scope": "tweet.write offline.access",
            },
        )
        responses.get(ME, json={"data": {"id": "42", "name": "Acme", "username": "acme"}})

    @responses.activate
    def test_it_connects_an_x_account_through_the_flow(self):
        self.answer_x()
        params = self.start()
        response = self.callback(code="the-code", state=params["state"])
        self.assertEqual(response.status_code, 302)
        connection = Connection.objects.get()
        self.assertEqual(
            (connection.team, connection.platform, connection.account_id, connection.name),
            (self.team, "TWITTER", "42", "@acme"),
        )
        self.assertEqual((connection.access_token, connection.refresh_token), ("acc-1", "ref-1"))
        self.assertEqual(connection.scopes, "tweet.write offline.access")
        self.assertEqual(connection.status, "ACTIVE")
        sent = {k: v[0] for k, v in parse_qs(responses.calls[0].request.body).items()}
        # The verifier sent at the exchange matches the challenge sent to the consent page.
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        self.assertEqual(create_s256_code_challenge(sent["code_verifier"]), params["code_challenge"])
        self.assertEqual(sent["redirect_uri"], params["redirect_uri"])

    @responses.activate
    def test_it_reconnects_an_existing_account_in_place(self):
        old = Connection.objects.create(
            team=self.team,
            platform="TWITTER",
            account_id="42",
            access_token="old",
            status="EXPIRED",
            status_detail="dead",
        )
        self.answer_x()
        self.callback(code="the-code", state=self.start()["state"])
        saved = Connection.objects.get()
        self.assertEqual(
            (saved.pk, saved.status, saved.status_detail, saved.access_token), (old.pk, "ACTIVE", "", "acc-1")
        )

    @responses.activate
    def test_it_refuses_a_replayed_state(self):
        self.answer_x()
        state = self.start()["state"]
        self.callback(code="the-code", state=state)
        Connection.objects.all().delete()
        self.assertRefused(self.callback(code="the-code", state=state), "already used")
        self.assertEqual(len(responses.calls), 2)  # the first exchange and identity only

    def test_it_refuses_a_forged_state(self):
        self.start()
        forged = signing.dumps(
            {"n": "guess", "u": self.owner.pk, "t": self.team.pk, "p": "TWITTER"}, key="not-our-key", salt=STATE_SALT
        )
        self.assertRefused(self.callback(code="c", state=forged), "forged")
        self.assertRefused(self.callback(code="c", state="garbage"), "forged")
        self.assertRefused(self.callback(code="c"), "forged")

    def test_it_refuses_an_expired_state(self):
        state = self.start()["state"]
        later = time.time() + 601
        with mock.patch("django.core.signing.time.time", return_value=later):
            self.assertRefused(self.callback(code="c", state=state), "expired")

    def test_it_refuses_a_state_for_another_team(self):
        state = self.start()["state"]
        data = signing.loads(state, salt=STATE_SALT)
        # Even a validly signed state naming another team does not match what this session started.
        crossed = signing.dumps({**data, "t": self.other_team.pk}, salt=STATE_SALT)
        self.assertRefused(self.callback(code="c", state=crossed), "another team")

    def test_it_refuses_a_state_for_another_platform(self):
        state = self.start()["state"]
        self.assertRefused(self.callback("linkedin", code="c", state=state), "another team or platform")

    def test_it_refuses_a_state_from_another_users_session(self):
        state = self.start()["state"]
        self.client.force_login(self.outsider)
        self.assertRefused(self.callback(code="c", state=state), "another browser session")

    def test_it_refuses_a_state_signed_for_another_user(self):
        state = self.start()["state"]
        data = signing.loads(state, salt=STATE_SALT)
        self.assertRefused(
            self.callback(code="c", state=signing.dumps({**data, "u": self.outsider.pk}, salt=STATE_SALT)),
            "another user",
        )

    def test_it_refuses_when_the_person_lost_the_right_to_connect(self):
        state = self.start()["state"]
        Membership.objects.filter(user=self.owner).update(role=Membership.Role.MEMBER)
        self.assertRefused(self.callback(code="c", state=state), "admins and owners")

    def test_it_says_the_person_declined(self):
        state = self.start()["state"]
        response = self.callback(error="access_denied", error_description="The user denied", state=state)
        self.assertContains(response, "did not grant access: The user denied", status_code=400)
        self.assertEqual(Connection.objects.count(), 0)

    @responses.activate
    def test_it_shows_a_failed_exchange_without_secrets_and_stores_nothing(self):
        responses.post(X_TOKEN, status=400, json={"error": "invalid_request", "error_description": "code expired"})
        response = self.callback(code="the-code", state=self.start()["state"])
        self.assertContains(response, "code expired", status_code=502)
        self.assertNotContains(response, "x-secret-value", status_code=502)
        self.assertNotContains(response, "the-code", status_code=502)
        self.assertEqual(Connection.objects.count(), 0)


@override_settings(**OAUTH)
class PickTests(ConnectTestCase):
    def answer_facebook(self):
        responses.get(FB_TOKEN, json={"access_token": "short", "expires_in": 3600})
        responses.get(FB_TOKEN, json={"access_token": "long-user", "expires_in": 5184000})
        responses.get(
            FB_ACCOUNTS,
            json={
                "data": [
                    {
                        "id": "p1",
                        "name": "Acme",
                        "access_token": "page-1-token",
                        "instagram_business_account": {"id": "ig1"},
                    },
                    {"id": "p2", "name": "Side", "access_token": "page-2-token"},
                ]
            },
        )

    @responses.activate
    def test_it_stores_each_picked_page_with_its_own_token_and_offers_linked_instagram(self):
        self.answer_facebook()
        response = self.callback("facebook", code="c", state=self.start("facebook")["state"])
        pick = self.client.get(response["Location"])
        self.assertContains(pick, "Acme (Instagram)")
        self.assertContains(pick, "linked to page Acme")
        self.assertContains(pick, 'value="FACEBOOK:p2"')
        self.assertNotContains(pick, "page-1-token")
        self.assertEqual(Connection.objects.count(), 0)
        done = self.client.post(response["Location"], {"account": ["FACEBOOK:p1", "INSTAGRAM:ig1", "FACEBOOK:p2"]})
        self.assertEqual(done.status_code, 302)
        stored = {(c.platform, c.account_id): c for c in Connection.objects.all()}
        self.assertEqual(stored["FACEBOOK", "p1"].access_token, "page-1-token")
        self.assertEqual(stored["INSTAGRAM", "ig1"].access_token, "page-1-token")
        self.assertEqual(stored["FACEBOOK", "p2"].access_token, "page-2-token")
        self.assertEqual(stored["FACEBOOK", "p1"].refresh_token, "")
        self.assertIsNone(stored["FACEBOOK", "p1"].expires_at)

    @responses.activate
    def test_it_connects_only_what_was_picked_and_only_once(self):
        self.answer_facebook()
        pick_url = self.callback("facebook", code="c", state=self.start("facebook")["state"])["Location"]
        self.client.post(pick_url, {"account": ["FACEBOOK:p2"]})
        self.assertEqual([c.account_id for c in Connection.objects.all()], ["p2"])
        again = self.client.post(pick_url, {"account": ["FACEBOOK:p1"]})
        self.assertContains(again, "already connected", status_code=400)
        self.assertEqual(Connection.objects.count(), 1)

    @responses.activate
    def test_it_refuses_a_pick_from_another_user(self):
        self.answer_facebook()
        pick_url = self.callback("facebook", code="c", state=self.start("facebook")["state"])["Location"]
        self.client.force_login(self.outsider)
        self.assertEqual(self.client.post(pick_url, {"account": ["FACEBOOK:p1"]}).status_code, 400)
        self.assertEqual(Connection.objects.count(), 0)

    @responses.activate
    def test_it_lets_the_person_pick_the_linkedin_author(self):
        responses.post(
            LI_TOKEN,
            json={
                "access_token": "li-acc",
                "expires_in": 5184000,
                "refresh_token": "li-ref",
                "refresh_token_expires_in": 31536000,
            },
        )
        responses.get("https://api.linkedin.test/v2/userinfo", json={"sub": "abc", "name": "Ada"})
        responses.get(
            "https://api.linkedin.test/rest/organizationAcls",
            json={"elements": [{"organization": "urn:li:organization:7"}]},
        )
        pick_url = self.callback("linkedin", code="c", state=self.start("linkedin")["state"])["Location"]
        page = self.client.get(pick_url)
        self.assertContains(page, 'value="LINKEDIN:urn:li:person:abc"')
        self.assertContains(page, 'value="LINKEDIN:urn:li:organization:7"')
        self.client.post(pick_url, {"account": ["LINKEDIN:urn:li:organization:7"]})
        connection = Connection.objects.get()
        self.assertEqual(
            (connection.account_id, connection.access_token, connection.refresh_token),
            ("urn:li:organization:7", "li-acc", "li-ref"),
        )
        self.assertGreater(connection.refresh_expires_at - connection.expires_at, timedelta(days=200))
