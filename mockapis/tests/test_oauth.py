"""Over the wire: each platform's connect flow and token lifecycle against the stand-in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from django.test import LiveServerTestCase

from mockapis.client import MockApis
from mockapis.state import store

from .base import ORG, PAGE, linkedin_post_body

CALLBACK = "https://planrrr.example/connect/callback"
X_SCOPES = "tweet.read tweet.write users.read offline.access media.write"
X_USER = "2244994945"
IG_USER = "17841400008460056"
LINKEDIN_VERSION = {"LinkedIn-Version": "202501", "X-Restli-Protocol-Version": "2.0.0"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class OAuthTestCase(LiveServerTestCase):
    databases = set()

    def setUp(self) -> None:
        self.mock = MockApis(f"{self.live_server_url}/mock")
        self.mock.reset()
        self.addCleanup(store.reset)
        self.settings = self.mock.api_settings()

    def wait_for(self, what: str, condition) -> None:
        """Poll the stand-in until ``condition()`` holds (a lifetime of a second or so, configured)."""
        deadline = time.monotonic() + 10
        while not condition():
            if time.monotonic() > deadline:
                self.fail(f"{what}: not within 10 s")
            time.sleep(0.05)

    def wait_until_expired(self, token: str) -> None:
        self.wait_for(
            "token expired",
            lambda: [t["status"] for t in self.mock.issued_tokens() if t["token"] == token] == ["expired"],
        )


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


class FacebookOAuthTests(OAuthTestCase):
    SCOPES = "pages_show_list,pages_manage_posts,instagram_basic,instagram_content_publish"

    def authorize_url(self) -> str:
        query = {
            "client_id": "fb-app",
            "redirect_uri": CALLBACK,
            "state": "f1",
            "scope": self.SCOPES,
            "response_type": "code",
        }
        return f"{self.settings['FACEBOOK_OAUTH_URL']}/v21.0/dialog/oauth?{urlencode(query)}"

    def graph(self, path: str, **params) -> requests.Response:
        return requests.get(f"{self.settings['FACEBOOK_API_URL']}/v21.0/{path}", params=params, timeout=5)

    def exchange(self, code: str) -> requests.Response:
        return self.graph(
            "oauth/access_token", client_id="fb-app", client_secret="fb-secret", redirect_uri=CALLBACK, code=code
        )

    def user_token(self) -> dict:
        redirect = self.mock.approve(self.authorize_url())
        self.assertEqual(query_of(redirect)["state"], "f1")
        response = self.exchange(query_of(redirect)["code"])
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def long_lived(self, token: str) -> requests.Response:
        return self.graph(
            "oauth/access_token",
            grant_type="fb_exchange_token",
            client_id="fb-app",
            client_secret="fb-secret",
            fb_exchange_token=token,
        )

    def test_it_exchanges_a_code_then_a_long_lived_token(self):
        short = self.user_token()
        self.assertEqual(set(short), {"access_token", "token_type", "expires_in"})
        self.assertEqual((short["token_type"], short["expires_in"]), ("bearer", 3600))

        long = self.long_lived(short["access_token"])

        self.assertEqual(long.status_code, 200, long.content)
        self.assertEqual(long.json()["expires_in"], 60 * 86_400)
        self.assertNotEqual(long.json()["access_token"], short["access_token"])

    def test_it_refuses_a_used_code_in_graphs_words(self):
        redirect = self.mock.approve(self.authorize_url())
        self.exchange(query_of(redirect)["code"])

        again = self.exchange(query_of(redirect)["code"])

        self.assertEqual(again.status_code, 400)
        error = again.json()["error"]
        self.assertEqual((error["code"], error["error_subcode"]), (100, 36009))

    def test_it_lists_the_users_pages_with_their_own_tokens(self):
        long = self.long_lived(self.user_token()["access_token"]).json()["access_token"]

        listed = self.graph("me/accounts", fields="id,name,access_token,instagram_business_account", access_token=long)

        self.assertEqual(listed.status_code, 200, listed.content)
        body = listed.json()
        self.assertEqual(set(body["paging"]["cursors"]), {"before", "after"})
        pages = {page["id"]: page for page in body["data"]}
        self.assertEqual(set(pages), {PAGE, "104857600654321"})
        self.assertEqual(pages[PAGE]["instagram_business_account"], {"id": IG_USER})
        self.assertNotIn("instagram_business_account", pages["104857600654321"])
        self.assertEqual(pages[PAGE]["name"], "Acme Coffee")
        page_tokens = self.mock.issued_tokens("FACEBOOK", kind="page")
        self.assertEqual({t["token"] for t in page_tokens}, {p["access_token"] for p in pages.values()})
        self.assertEqual({t["expires_at"] for t in page_tokens}, {None}, "page tokens of a long-lived user token")
        posted = requests.post(
            f"{self.settings['FACEBOOK_API_URL']}/v21.0/{PAGE}/feed",
            data={"message": "hello", "access_token": pages[PAGE]["access_token"]},
            timeout=5,
        )
        self.assertEqual(posted.status_code, 200, posted.content)

    def test_it_describes_a_token_with_debug_token(self):
        short = self.user_token()["access_token"]

        data = self.graph("debug_token", input_token=short, access_token="fb-app|fb-secret").json()["data"]

        self.assertTrue(data["is_valid"])
        self.assertEqual(data["user_id"], "10150000000000001")
        self.assertIn("pages_manage_posts", data["scopes"])

    def test_it_answers_an_expired_user_token_with_code_190_subcode_463(self):
        self.mock.token_lifetimes(facebook_user_token_seconds=1)
        short = self.user_token()["access_token"]
        self.wait_until_expired(short)

        listed = self.graph("me/accounts", access_token=short)

        self.assertEqual(listed.status_code, 400)
        error = listed.json()["error"]
        self.assertEqual((error["code"], error["error_subcode"]), (190, 463))
        self.assertIn("Session has expired", error["message"])
        exchange = self.long_lived(short).json()["error"]
        self.assertEqual((exchange["code"], exchange["error_subcode"]), (190, 463))

    def test_it_answers_a_post_with_an_expired_page_token_with_code_190(self):
        short = self.user_token()["access_token"]
        listed = self.graph("me/accounts", fields="id,access_token", access_token=short).json()["data"]
        page_token = next(page["access_token"] for page in listed if page["id"] == PAGE)
        self.mock.expire_token(page_token)

        posted = requests.post(
            f"{self.settings['FACEBOOK_API_URL']}/v21.0/{PAGE}/feed",
            data={"message": "hello", "access_token": page_token},
            timeout=5,
        )

        error = posted.json()["error"]
        self.assertEqual((error["code"], error["error_subcode"]), (190, 463))
        self.assertEqual(self.mock.posts("FACEBOOK"), [])

    def test_it_keeps_made_up_page_tokens_working(self):
        posted = requests.post(
            f"{self.settings['FACEBOOK_API_URL']}/v21.0/{PAGE}/feed",
            data={"message": "hello", "access_token": "mock_fb_token"},
            timeout=5,
        )

        self.assertEqual(posted.status_code, 200, posted.content)


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
