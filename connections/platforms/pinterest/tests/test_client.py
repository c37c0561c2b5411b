import base64
from datetime import timedelta
from urllib.parse import parse_qs

import responses
from django.test import override_settings
from django.utils import timezone

from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.platforms.pinterest.client import PinterestClient
from connections.services import connection_refresh
from connections.tests.test_connect import ConnectTestCase

API = "https://api.pinterest.test"
TOKEN = f"{API}/v5/oauth/token"
ACCOUNT = f"{API}/v5/user_account"
BOARDS = f"{API}/v5/boards"
APP = {
    "PINTEREST_APP_ID": "app-1",
    "PINTEREST_APP_SECRET": "secret-1",
    "PINTEREST_API_URL": API,
    "PINTEREST_OAUTH_URL": "https://www.pinterest.test",
}


def granted(**extra) -> dict:
    return {
        "access_token": "pina_1",
        "refresh_token": "pinr_1",
        "response_type": "authorization_code",
        "token_type": "bearer",
        "expires_in": 2592000,
        "refresh_token_expires_in": 5184000,
        "refresh_token_expires_at": 1900000000,
        "scope": "boards:read,pins:read,pins:write,user_accounts:read",
        **extra,
    }


@override_settings(**APP)
class PinterestClientTests(ConnectTestCase):
    def answer(self, boards: list[dict]) -> None:
        responses.post(TOKEN, json=granted())
        responses.get(ACCOUNT, json={"id": "77", "username": "acme", "profile_image": "https://i.pinimg.com/a.jpg"})
        responses.get(BOARDS, json={"items": boards[:1], "bookmark": "b2"})
        responses.get(BOARDS, json={"items": boards[1:], "bookmark": None})

    def test_it_asks_consent_at_www_pinterest_com_oauth_with_comma_separated_scopes(self):
        params = self.start("pinterest")
        self.assertEqual(params["scope"], "boards:read,pins:read,pins:write,user_accounts:read")
        self.assertEqual(params["response_type"], "code")

    @responses.activate
    def test_the_person_picks_the_default_board_and_every_board_is_kept(self):
        self.answer([{"id": "1", "name": "Home"}, {"id": "2", "name": "Latte art"}])
        pick_url = self.callback("pinterest", code="c", state=self.start("pinterest")["state"])["Location"]

        exchange = responses.calls[0].request
        self.assertEqual(exchange.headers["Authorization"], "Basic " + base64.b64encode(b"app-1:secret-1").decode())
        form = {k: v[0] for k, v in parse_qs(exchange.body).items()}
        self.assertEqual((form["grant_type"], form["continuous_refresh"]), ("authorization_code", "true"))
        self.assertNotIn("client_secret", form)
        self.assertEqual(parse_qs(responses.calls[3].request.url.split("?")[1])["bookmark"], ["b2"])

        page = self.client.get(pick_url)
        self.assertContains(page, 'value="PINTEREST:77:1"')
        self.assertContains(page, 'value="PINTEREST:77:2"')
        self.assertContains(page, "pins go to the board &#x27;Latte art&#x27;")
        self.client.post(pick_url, {"account": ["PINTEREST:77:2"]})

        connection = Connection.objects.get()
        self.assertEqual((connection.account_id, connection.name), ("77", "@acme"))
        self.assertEqual(connection.details["defaultBoardId"], "2")
        self.assertEqual([b["id"] for b in connection.details["boards"]], ["1", "2"])
        self.assertGreater(connection.refresh_expires_at, timezone.now() + timedelta(days=59))

    @responses.activate
    def test_it_refuses_two_default_boards_for_one_account(self):
        self.answer([{"id": "1", "name": "Home"}, {"id": "2", "name": "Latte art"}])
        pick_url = self.callback("pinterest", code="c", state=self.start("pinterest")["state"])["Location"]
        refused = self.client.post(pick_url, {"account": ["PINTEREST:77:1", "PINTEREST:77:2"]})
        self.assertContains(refused, "Pick one choice for @acme, not several", status_code=400)
        self.assertEqual(Connection.objects.count(), 0)

    @responses.activate
    def test_an_account_without_boards_is_told_to_make_one(self):
        responses.get(ACCOUNT, json={"id": "77", "username": "acme"})
        responses.get(BOARDS, json={"items": [], "bookmark": None})
        with self.assertRaises(OAuthFailure) as caught:
            PinterestClient().accounts(PinterestClient().grant_from(granted()))
        self.assertIn("has no board to pin to: create one on Pinterest", caught.exception.message)

    @responses.activate
    def test_a_refresh_renews_the_continuous_refresh_token_too(self):
        connection = Connection.objects.create(
            team=self.team,
            platform="PINTEREST",
            account_id="77",
            access_token="pina_old",
            refresh_token="pinr_old",
            expires_at=timezone.now() + timedelta(days=1),
        )
        responses.post(
            TOKEN, json=granted(access_token="pina_new", refresh_token="pinr_new", response_type="refresh_token")
        )
        connection_refresh(connection_id=connection.pk, valid_for=timedelta(days=2))
        connection.refresh_from_db()
        self.assertEqual((connection.access_token, connection.refresh_token), ("pina_new", "pinr_new"))
        form = {k: v[0] for k, v in parse_qs(responses.calls[0].request.body).items()}
        self.assertEqual(
            (form["grant_type"], form["refresh_token"], form["continuous_refresh"]),
            ("refresh_token", "pinr_old", "true"),
        )

    @responses.activate
    def test_a_refused_refresh_token_ends_the_grant(self):
        connection = Connection.objects.create(
            team=self.team,
            platform="PINTEREST",
            account_id="77",
            access_token="pina_old",
            refresh_token="pinr_old",
            expires_at=timezone.now() + timedelta(days=1),
        )
        responses.post(TOKEN, status=400, json={"code": 1, "message": "Invalid refresh token: it is revoked."})
        with self.assertRaises(OAuthFailure):
            connection_refresh(connection_id=connection.pk, valid_for=timedelta(days=2))
        connection.refresh_from_db()
        self.assertEqual(connection.status, Connection.Status.EXPIRED)
        self.assertIn("Invalid refresh token", connection.status_detail)
