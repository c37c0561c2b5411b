"""Replies (X threads) and comments (Facebook, Instagram, LinkedIn) in the platforms' shapes
(docs/platforms/: each network's replies and comments), and failures injected on them."""

from urllib.parse import quote

from mockapis.state import store

from .base import ORG, PAGE, StandInTestCase, linkedin_post_body


class RepliesAndCommentsTests(StandInTestCase):
    def test_it_records_an_x_reply_to_the_previous_post(self):
        first = self.tweet({"text": "1/2"}).json()["data"]["id"]

        response = self.tweet({"text": "2/2", "reply": {"in_reply_to_tweet_id": first}})

        self.assertEqual(response.status_code, 201)
        self.assertEqual([p["in_reply_to"] for p in self.posts("TWITTER")], [None, first])

    def test_it_refuses_a_reply_to_a_post_that_does_not_exist(self):
        response = self.tweet({"text": "2/2", "reply": {"in_reply_to_tweet_id": "1"}})
        self.assertEqual(response.status_code, 400)
        self.assertIn("deleted or not visible", response.json()["errors"][0]["message"])

    def test_it_answers_a_facebook_comment_and_lists_it(self):
        post_id = self.graph("POST", f"{PAGE}/feed", {"message": "Hello"}).json()["id"]

        comment = self.graph("POST", f"{post_id}/comments", {"message": "Link: https://acme.example"})

        self.assertEqual(comment.status_code, 200)
        self.assertRegex(comment.json()["id"], rf"^{PAGE}_\d+$")
        listed = self.graph("GET", f"{post_id}/comments").json()["data"]
        self.assertEqual(
            [(c["id"], c["message"]) for c in listed], [(comment.json()["id"], "Link: https://acme.example")]
        )

    def test_it_answers_a_linkedin_comment_with_201_and_the_comment(self):
        self.linkedin("POST", "posts", linkedin_post_body("Hello LinkedIn"))
        urn = self.posts("LINKEDIN")[0]["id"]
        body = {"actor": ORG, "object": urn, "message": {"text": "First!"}}

        response = self.linkedin("POST", f"socialActions/{quote(urn, safe='')}/comments", body)

        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["message"], {"text": "First!"})
        self.assertEqual(response["x-restli-id"], response.json()["id"])
        self.assertEqual(store.find_comments("LINKEDIN", urn)[0]["text"], "First!")

    def test_it_fails_comments_on_their_own_kind_and_parts_by_their_text(self):
        post_id = self.graph("POST", f"{PAGE}/feed", {"message": "Hello"}).json()["id"]
        self.fail("FACEBOOK", "server_error", on="comment", times=1)
        self.fail("TWITTER", "server_error", contains="part two", times=1)

        self.assertEqual(self.graph("POST", f"{post_id}/comments", {"message": "x"}).status_code, 500)
        self.assertEqual(self.graph("POST", f"{post_id}/comments", {"message": "x"}).status_code, 200)
        self.assertEqual(self.tweet({"text": "part one"}).status_code, 201)
        self.assertEqual(self.tweet({"text": "part two"}).status_code, 500)
        self.assertEqual(self.tweet({"text": "part two"}).status_code, 201)
