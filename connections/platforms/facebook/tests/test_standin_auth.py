"""Over the wire: Facebook Login and page tokens against the stand-in."""

from __future__ import annotations

from urllib.parse import urlencode

import requests

from mockapis.tests.base import CALLBACK, PAGE, OAuthTestCase, query_of

IG_USER = "17841400008460056"


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
