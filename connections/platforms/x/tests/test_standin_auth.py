"""Over the wire: X's connect flow and token lifecycle against its stand-in."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from mockapis.tests.base import CALLBACK, OAuthTestCase, pkce, query_of

X_SCOPES = "tweet.read tweet.write users.read offline.access media.write"


X_USER = "2244994945"


class XOAuthTests(OAuthTestCase):
    def authorize_url(self, challenge: str, *, scope: str = X_SCOPES, state: str = "s1") -> str:
        query = {
            "response_type": "code",
            "client_id": "x-client",
            "redirect_uri": CALLBACK,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.settings['X_OAUTH_URL']}/i/oauth2/authorize?{urlencode(query)}"

    def token(self, data: dict, *, secret: str | None = "x-secret") -> requests.Response:
        headers = {}
        if secret is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"x-client:{secret}".encode()).decode()
        else:
            data = {**data, "client_id": "x-client"}
        return requests.post(
            f"{self.settings['TWITTER_API_URL']}/2/oauth2/token", data=data, headers=headers, timeout=5
        )

    def code(self, challenge: str, **options) -> str:
        redirect = self.mock.approve(self.authorize_url(challenge), **options)
        self.assertTrue(redirect.startswith(CALLBACK), redirect)
        self.assertEqual(query_of(redirect)["state"], "s1")
        return query_of(redirect)["code"]

    def connect(self, **options) -> dict:
        verifier, challenge = pkce()
        code = self.code(challenge, **options)
        response = self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        )
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def tweet(self, token: str, text: str) -> requests.Response:
        return requests.post(
            f"{self.settings['TWITTER_API_URL']}/2/tweets",
            json={"text": text},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )

    def test_it_shows_a_consent_form_that_works_without_javascript(self):
        page = requests.get(self.authorize_url(pkce()[1]), timeout=5)

        self.assertEqual(page.status_code, 200)
        self.assertIn("text/html", page.headers["Content-Type"])
        self.assertIn("x-client", page.text)
        self.assertIn("offline.access", page.text)
        self.assertIn('id="authorize"', page.text)
        self.assertIn('id="cancel"', page.text)
        self.assertIn('<form method="post"', page.text)
        self.assertNotIn("<script", page.text)

    def test_it_redirects_with_access_denied_on_cancel(self):
        redirect = self.mock.approve(self.authorize_url(pkce()[1]), deny=True)

        self.assertEqual(query_of(redirect), {"error": "access_denied", "state": "s1"})

    def test_it_refuses_an_authorize_request_without_a_code_challenge(self):
        url = self.authorize_url("").replace("code_challenge=&", "")

        page = requests.get(url, timeout=5)

        self.assertEqual(page.status_code, 400)
        self.assertIn("code_challenge", page.text)

    def test_it_exchanges_a_code_for_tokens_in_xs_shape(self):
        tokens = self.connect()

        self.assertEqual(set(tokens), {"token_type", "expires_in", "access_token", "scope", "refresh_token"})
        self.assertEqual((tokens["token_type"], tokens["expires_in"]), ("bearer", 7200))
        self.assertEqual(tokens["scope"], X_SCOPES)
        me = requests.get(
            f"{self.settings['TWITTER_API_URL']}/2/users/me",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=5,
        ).json()
        self.assertEqual(me, {"data": {"id": X_USER, "name": "Acme Coffee", "username": "acmecoffee"}})

    def test_it_logs_in_the_identity_picked_on_the_consent_page(self):
        tokens = self.connect(login="783214")

        created = self.tweet(tokens["access_token"], "from support")

        self.assertEqual(created.status_code, 201, created.content)
        self.assertEqual(self.mock.posts("TWITTER")[0]["account"], "783214")

    def test_it_accepts_a_public_client_with_client_id_in_the_form(self):
        verifier, challenge = pkce()
        code = self.code(challenge)

        response = self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier},
            secret=None,
        )

        self.assertEqual(response.status_code, 200, response.content)

    def test_it_gives_no_refresh_token_without_offline_access(self):
        verifier, challenge = pkce()
        redirect = self.mock.approve(self.authorize_url(challenge, scope="tweet.read tweet.write users.read"))
        response = self.token(
            {
                "grant_type": "authorization_code",
                "code": query_of(redirect)["code"],
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            }
        )

        self.assertNotIn("refresh_token", response.json())

    def test_it_refuses_a_pkce_mismatch(self):
        _, challenge = pkce()
        code = self.code(challenge)

        response = self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": pkce()[0]}
        )

        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            response.json(),
            {"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
        )
        self.assertEqual(self.mock.issued_tokens("TWITTER"), [])

    def test_it_refuses_a_code_used_twice(self):
        verifier, challenge = pkce()
        code = self.code(challenge)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        self.assertEqual(self.token(data).status_code, 200)

        again = self.token(data)

        self.assertEqual(again.status_code, 400)
        self.assertEqual(again.json()["error"], "invalid_request")
        [issued_code] = self.mock.oauth("TWITTER")["codes"]
        self.assertEqual((issued_code["redemptions"], issued_code["redeemed"]), (2, True))

    def test_it_refuses_a_code_after_its_lifetime(self):
        self.mock.token_lifetimes(x_code_seconds=0.2)
        verifier, challenge = pkce()
        code = self.code(challenge)
        self.wait_for("code expired", lambda: self.mock.oauth("TWITTER")["codes"][0]["expired"])

        response = self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        )

        self.assertEqual(response.status_code, 400)

    def test_it_asks_a_client_for_its_credentials(self):
        response = requests.post(
            f"{self.settings['TWITTER_API_URL']}/2/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": "r"},
            timeout=5,
        )

        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], "unauthorized_client")

    def test_it_rotates_refresh_tokens_and_refuses_a_spent_one(self):
        first = self.connect()

        second = self.refresh(first["refresh_token"])
        self.assertEqual(second.status_code, 200, second.content)
        second = second.json()
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        self.assertNotEqual(second["access_token"], first["access_token"])

        reused = self.refresh(first["refresh_token"])
        self.assertEqual(reused.status_code, 400)
        self.assertEqual(
            reused.json(), {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
        )
        # The chain goes on from the newest token, and the stand-in counted every presentation.
        third = self.refresh(second["refresh_token"]).json()
        self.assertEqual(
            self.mock.refresh_uses("TWITTER"),
            {first["refresh_token"]: 2, second["refresh_token"]: 1, third["refresh_token"]: 0},
        )

    def test_it_lets_one_of_two_racing_refreshes_through(self):
        tokens = self.connect()
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(lambda _: self.refresh(tokens["refresh_token"]).status_code, range(2)))

        self.assertEqual(statuses, [200, 400])
        self.assertEqual(self.mock.refresh_uses("TWITTER")[tokens["refresh_token"]], 2)

    def test_it_refuses_an_unknown_refresh_token(self):
        response = self.refresh("never-issued")

        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"], "invalid_request")

    def test_it_revokes_a_grant_with_its_refresh_token(self):
        tokens = self.connect()

        revoked = requests.post(
            f"{self.settings['TWITTER_API_URL']}/2/oauth2/revoke",
            data={"token": tokens["refresh_token"], "client_id": "x-client"},
            timeout=5,
        )

        self.assertEqual(revoked.json(), {"revoked": True})
        self.assertEqual(self.refresh(tokens["refresh_token"]).status_code, 400)
        self.assertEqual(self.tweet(tokens["access_token"], "after revoke").status_code, 401)

    def test_it_answers_an_expired_access_token_with_xs_401(self):
        self.mock.token_lifetimes(x_access_token_seconds=1)
        tokens = self.connect()
        self.assertEqual(tokens["expires_in"], 1)
        self.assertEqual(self.tweet(tokens["access_token"], "in time").status_code, 201)
        self.wait_until_expired(tokens["access_token"])

        late = self.tweet(tokens["access_token"], "too late")

        self.assertEqual(late.status_code, 401)
        self.assertEqual(
            late.json(), {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
        )
        fresh = self.refresh(tokens["refresh_token"]).json()
        self.assertEqual(self.tweet(fresh["access_token"], "too late").status_code, 201)
        self.assertEqual({p["account"] for p in self.mock.posts("TWITTER")}, {X_USER})

    def test_it_refuses_a_refresh_token_as_a_bearer_token(self):
        tokens = self.connect()

        self.assertEqual(self.tweet(tokens["refresh_token"], "wrong token").status_code, 401)

    def test_it_fails_the_token_endpoint_when_told_to(self):
        tokens = self.connect()
        self.mock.fail("TWITTER", "server_error", times=1, on="token")
        self.mock.fail("TWITTER", "rate_limit", times=1, on="token")

        self.assertEqual(self.refresh(tokens["refresh_token"]).status_code, 500)
        limited = self.refresh(tokens["refresh_token"])
        self.assertEqual(limited.status_code, 429)
        self.assertIn("x-rate-limit-reset", limited.headers)
        # The failures spent nothing: the refresh token still works, once.
        self.assertEqual(self.refresh(tokens["refresh_token"]).status_code, 200)

    def test_it_keeps_made_up_tokens_working(self):
        self.assertEqual(self.tweet("mock_twitter_token", "as before").status_code, 201)
        self.assertEqual(self.tweet("expired-token", "as before").status_code, 401)
