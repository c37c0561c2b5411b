"""The stand-in's Bluesky PDS and Mastodon instance take replies in the platforms' shapes, refuse
the ones the real ones refuse, and list replies with what they reply to."""

import json

from mockapis.state import store
from mockapis.tests.base import StandInTestCase


class MastodonReplyStandInTests(StandInTestCase):
    def setUp(self):
        super().setUp()
        self.client.defaults["HTTP_AUTHORIZATION"] = "Bearer a-pasted-mastodon-token"

    def status(self, text: str, key: str, **fields):
        return self.client.post(
            "/mastodon/api/v1/statuses",
            json.dumps({"status": text, **fields}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    def test_it_answers_a_reply_with_what_it_replies_to_and_lists_it(self):
        first = self.status("1/2", "k-1").json()
        reply = self.status("2/2", "k-2", in_reply_to_id=first["id"]).json()
        self.assertEqual(reply["in_reply_to_id"], first["id"])
        self.assertEqual(reply["in_reply_to_account_id"], first["account"]["id"])
        self.assertIsNone(first["in_reply_to_id"])

        listed = self.client.get(f"/mastodon/api/v1/accounts/{first['account']['id']}/statuses").json()
        self.assertEqual(
            [(s["id"], s["in_reply_to_id"]) for s in listed], [(reply["id"], first["id"]), (first["id"], None)]
        )
        without = self.client.get(
            f"/mastodon/api/v1/accounts/{first['account']['id']}/statuses", {"exclude_replies": "true"}
        ).json()
        self.assertEqual([s["id"] for s in without], [first["id"]])

    def test_it_answers_a_repeated_key_with_the_same_status_until_its_window_ends(self):
        first = self.status("Once", "k-1").json()
        again = self.status("Once", "k-1").json()
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(len(store.find_posts("MASTODON")), 1)

        store.configure({"mastodon_idempotency_seconds": 0})  # the instance forgot the key (an hour later)
        later = self.status("Once", "k-1").json()

        self.assertNotEqual(later["id"], first["id"])
        self.assertEqual(len(store.find_posts("MASTODON")), 2)

    def test_it_renders_the_content_as_mastodon_does_and_never_returns_the_text(self):
        text = (
            "New roast & more <3\nSee https://acme.example/shop/a-very-long-path-to-the-roast and ask "
            "@dana@example.social or @acme\n\n#coffee #Roast"
        )
        status = self.status(text, "k-1").json()

        self.assertNotIn("text", status)
        content = status["content"]
        self.assertTrue(content.startswith("<p>New roast &amp; more &lt;3<br />See <a href="), content)
        self.assertIn(
            '<span class="invisible">https://</span><span class="ellipsis">acme.example/shop/a-very-long-</span>'
            '<span class="invisible">path-to-the-roast</span></a>',
            content,
        )
        self.assertIn('class="u-url mention">@<span>dana</span></a></span> or <span class="h-card"', content)
        self.assertIn('rel="tag">#<span>coffee</span></a> <a href=', content)
        self.assertEqual(content.count("<p>"), 2)

    def test_it_answers_a_reply_to_an_unknown_status_with_a_404(self):
        answer = self.status("2/2", "k-2", in_reply_to_id="109999999999999999")
        self.assertEqual(answer.status_code, 404)
        self.assertEqual(answer.json(), {"error": "The post you are trying to reply to does not appear to exist."})
        self.assertEqual(len(store.find_posts("MASTODON")), 0)
