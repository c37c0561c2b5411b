"""Facebook's stand-in: pages, photos, the Graph envelope."""

import json
import time
from unittest import mock

from mockapis.media import FetchError
from mockapis.tests.base import AN_IMAGE, PAGE, StandInTestCase


class FacebookTests(StandInTestCase):
    def test_it_creates_a_feed_post_with_a_page_scoped_id(self):
        response = self.graph("POST", f"{PAGE}/feed", {"message": "Hello"})

        self.assertEqual(response.status_code, 200)
        post_id = response.json()["id"]
        self.assertRegex(post_id, rf"^{PAGE}_\d{{15,17}}$")
        [post] = self.posts("FACEBOOK")
        self.assertEqual((post["id"], post["account"], post["text"]), (post_id, PAGE, "Hello"))

    def test_it_lists_the_pages_posts_newest_first_for_reconciliation(self):
        first = self.graph("POST", f"{PAGE}/feed", {"message": "one"}).json()["id"]
        second = self.graph("POST", f"{PAGE}/feed", {"message": "two"}).json()["id"]
        self.graph("POST", "999/feed", {"message": "another page"})

        body = self.graph("GET", f"{PAGE}/feed", {"fields": "id,message,created_time", "since": int(time.time()) - 60})

        self.assertEqual([p["id"] for p in body.json()["data"]], [second, first])
        self.assertEqual(body.json()["data"][0]["message"], "two")
        self.assertRegex(body.json()["data"][0]["created_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
        future = self.graph("GET", f"{PAGE}/feed", {"since": int(time.time()) + 60})
        self.assertEqual(future.json()["data"], [])

    def test_it_pages_with_the_after_cursor_while_it_gives_a_next_page(self):
        made = [self.graph("POST", f"{PAGE}/feed", {"message": f"post {i}"}).json()["id"] for i in range(3)]

        first = self.graph("GET", f"{PAGE}/feed", {"limit": 2}).json()
        second = self.graph("GET", f"{PAGE}/feed", {"limit": 2, "after": first["paging"]["cursors"]["after"]}).json()

        self.assertIn("after=", first["paging"]["next"])
        self.assertEqual([p["id"] for p in first["data"] + second["data"]], made[::-1])
        self.assertNotIn("next", second["paging"])

    def test_it_lists_published_posts_with_their_permalink_and_a_videos_target(self):
        self.control(
            "posts",
            {
                "platform": "FACEBOOK",
                "account": PAGE,
                "posts": [
                    {"id": "v1", "text": "A video", "age_seconds": 60, "extra": {"media_type": "VIDEO"}},
                    {"id": f"{PAGE}_2", "text": "Text", "age_seconds": 30},
                ],
            },
        )

        fields = "id,created_time,permalink_url,message,attachments{target{id}}"
        body = self.graph("GET", f"{PAGE}/published_posts", {"fields": fields, "limit": 1}).json()
        following = self.graph(
            "GET", f"{PAGE}/published_posts", {"fields": fields, "after": body["paging"]["cursors"]["after"]}
        )

        text, video = body["data"][0], following.json()["data"][0]
        self.assertEqual((text["id"], text["permalink_url"]), (f"{PAGE}_2", f"https://www.facebook.com/{PAGE}_2"))
        self.assertNotIn("attachments", text)
        self.assertEqual(video["attachments"]["data"][0]["target"], {"id": "v1"})
        self.assertNotIn("page-token", body["paging"]["next"].split("after=")[1])

    def test_it_refuses_the_same_message_twice_with_code_506(self):
        self.graph("POST", f"{PAGE}/feed", {"message": "Same"})

        response = self.graph("POST", f"{PAGE}/feed", {"message": "Same"})

        self.assertEqual(response.status_code, 400)
        error = self.graph_error(response)
        self.assertEqual((error["code"], error["type"]), (506, "OAuthException"))
        self.assertIn("Duplicate status message", error["message"])
        self.assertTrue(error["fbtrace_id"])
        self.assertEqual(len(self.posts("FACEBOOK")), 1)

    @mock.patch("connections.platforms.facebook.standin.fetch_image", return_value=AN_IMAGE)
    def test_it_attaches_unpublished_photos_to_a_feed_post(self, fetch):
        photo_ids = []
        for name in ("a.jpg", "b.jpg"):
            response = self.graph("POST", f"{PAGE}/photos", {"url": f"http://img/{name}", "published": "false"})
            self.assertEqual(set(response.json()), {"id"})
            photo_ids.append(response.json()["id"])

        fields = {"message": "Two photos"}
        fields.update({f"attached_media[{i}]": json.dumps({"media_fbid": pid}) for i, pid in enumerate(photo_ids)})
        response = self.graph("POST", f"{PAGE}/feed", fields)

        self.assertEqual(response.status_code, 200, response.content)
        [post] = self.posts("FACEBOOK")
        self.assertEqual(post["media_ids"], photo_ids)
        self.assertEqual(fetch.call_args_list[0].args[0], "http://img/a.jpg")

    @mock.patch("connections.platforms.facebook.standin.fetch_image", return_value=AN_IMAGE)
    def test_it_publishes_one_photo_with_its_post_id(self, fetch):
        response = self.graph("POST", f"{PAGE}/photos", {"url": "http://img/a.jpg", "caption": "One photo"})

        body = response.json()
        self.assertRegex(body["id"], r"^\d{15,17}$")
        self.assertRegex(body["post_id"], rf"^{PAGE}_\d{{15,17}}$")
        self.assertEqual(self.posts("FACEBOOK")[0]["text"], "One photo")

    def test_it_refuses_attached_media_that_is_no_photo_of_the_page(self):
        response = self.graph("POST", f"{PAGE}/feed", {"message": "x", "attached_media[0]": '{"media_fbid": "42"}'})

        self.assertEqual(self.graph_error(response)["code"], 100)
        self.assertEqual(self.posts(), [])

    @mock.patch(
        "connections.platforms.facebook.standin.fetch_image",
        side_effect=FetchError("http://img/x.jpg answered HTTP 404"),
    )
    def test_it_answers_code_324_when_the_photo_cannot_be_fetched(self, fetch):
        response = self.graph("POST", f"{PAGE}/photos", {"url": "http://img/x.jpg", "caption": "c"})

        error = self.graph_error(response)
        self.assertEqual(error["code"], 324)
        self.assertIn("answered HTTP 404", error["message"])
        self.assertEqual(self.posts(), [])

    def test_it_answers_code_190_for_expired_and_revoked_tokens_and_104_without_one(self):
        expired = self.graph_error(self.graph("POST", f"{PAGE}/feed", {"message": "x"}, token="tok-expired"))
        revoked = self.graph_error(self.graph("POST", f"{PAGE}/feed", {"message": "x"}, token="tok-revoked"))
        missing = self.graph_error(self.client.post(f"/graph/v21.0/{PAGE}/feed", {"message": "x"}))

        self.assertEqual((expired["code"], expired["error_subcode"]), (190, 463))
        self.assertEqual((revoked["code"], revoked["error_subcode"]), (190, 460))
        self.assertEqual(missing["code"], 104)
        self.assertEqual(self.posts(), [])

    def test_it_takes_the_token_from_an_authorization_header_too(self):
        response = self.client.post(f"/graph/v21.0/{PAGE}/feed", {"message": "x"}, HTTP_AUTHORIZATION="OAuth tok")

        self.assertEqual(response.status_code, 200)

    def test_it_sends_usage_headers_as_json_on_every_answer(self):
        for response in (
            self.graph("POST", f"{PAGE}/feed", {"message": "x"}),
            self.graph("POST", f"{PAGE}/feed", {"message": "x"}),  # 506
            self.graph("GET", "unknown-node"),
        ):
            self.assertIn("json", response["Content-Type"])
            app = json.loads(response["X-App-Usage"])
            self.assertEqual(set(app), {"call_count", "total_cputime", "total_time"})
            json.loads(response["X-Page-Usage"])
            business = json.loads(response["X-Business-Use-Case-Usage"])
            [entries] = business.values()
            self.assertIn("estimated_time_to_regain_access", entries[0])

    def test_it_answers_code_32_with_full_usage_when_the_page_is_over_its_window(self):
        self.configure(rate_limit_enabled=True, rate_limit={"limit": 2, "window_seconds": 60})
        for text in ("a", "b"):
            ok = self.graph("POST", f"{PAGE}/feed", {"message": text})
            self.assertEqual(ok.status_code, 200)
        self.assertEqual(json.loads(ok["X-Page-Usage"])["call_count"], 100)

        refused = self.graph("POST", f"{PAGE}/feed", {"message": "c"})

        self.assertEqual((refused.status_code, self.graph_error(refused)["code"]), (400, 32))
        self.assertEqual(json.loads(refused["X-App-Usage"])["call_count"], 100)
        [usage] = json.loads(refused["X-Business-Use-Case-Usage"])[PAGE]
        self.assertEqual((usage["call_count"], usage["estimated_time_to_regain_access"]), (100, 0))
        self.assertEqual([p["text"] for p in self.posts()], ["a", "b"])
        # Another page has a window of its own.
        self.assertEqual(self.graph("POST", "999/feed", {"message": "c"}).status_code, 200)

    def test_it_fails_with_a_permanent_api_error_when_told(self):
        self.fail("FACEBOOK", "error")

        error = self.graph_error(self.graph("POST", f"{PAGE}/feed", {"message": "x"}))

        self.assertEqual(error["code"], 100)
        self.assertIn("API error", error["message"])
        self.assertEqual(self.posts(), [])

    def test_it_answers_a_transient_500_without_creating_the_post(self):
        self.fail("FACEBOOK", "server_error", times=1)

        failed = self.graph("POST", f"{PAGE}/feed", {"message": "x"})
        retried = self.graph("POST", f"{PAGE}/feed", {"message": "x"})

        self.assertEqual(failed.status_code, 500)
        self.assertTrue(self.graph_error(failed)["is_transient"])
        self.assertEqual(retried.status_code, 200)
        self.assertEqual(len(self.posts()), 1)

    def test_it_answers_unknown_objects_with_code_100_subcode_33(self):
        error = self.graph_error(self.graph("GET", "123456"))

        self.assertEqual((error["code"], error["error_subcode"]), (100, 33))
