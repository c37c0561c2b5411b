"""The stand-in's Bluesky PDS and Mastodon instance take replies in the platforms' shapes, refuse
the ones the real ones refuse, and list replies with what they reply to."""

import json

from mockapis.state import store
from mockapis.tests.base import StandInTestCase

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


class BlueskyReplyStandInTests(StandInTestCase):
    def setUp(self):
        super().setUp()
        self.client.defaults["HTTP_AUTHORIZATION"] = (
            "Bearer "
            + self.xrpc(
                "com.atproto.server.createSession", {"identifier": "acmecoffee.bsky.social", "password": "p"}
            ).json()["accessJwt"]
        )

    def xrpc(self, method: str, body: dict, *, get: bool = False):
        if get:
            return self.client.get(f"/bsky/xrpc/{method}", body)
        return self.client.post(f"/bsky/xrpc/{method}", json.dumps(body), content_type="application/json")

    def create(self, rkey: str, text: str, reply: dict | None = None):
        record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}
        if reply is not None:
            record["reply"] = reply
        body = {"repo": DID, "collection": "app.bsky.feed.post", "rkey": rkey, "record": record}
        return self.xrpc("com.atproto.repo.createRecord", body)

    def ref(self, answer) -> dict:
        return {"uri": answer.json()["uri"], "cid": answer.json()["cid"]}

    def test_it_takes_a_thread_and_lists_its_replies_in_the_author_feed_with_their_refs(self):
        first = self.create("3l6oveex3ii2a", "1/3")
        second = self.create("3l6oveex3ii2b", "2/3", {"root": self.ref(first), "parent": self.ref(first)})
        third = self.create("3l6oveex3ii2c", "3/3", {"root": self.ref(first), "parent": self.ref(second)})
        self.assertEqual((second.status_code, third.status_code), (200, 200))

        feed = self.xrpc("app.bsky.feed.getAuthorFeed", {"actor": DID}, get=True).json()["feed"]

        self.assertEqual([item["post"]["record"]["text"] for item in feed], ["3/3", "2/3", "1/3"])
        self.assertEqual(feed[0]["post"]["record"]["reply"]["parent"], self.ref(second))
        self.assertEqual(feed[0]["reply"]["root"]["uri"], first.json()["uri"])
        self.assertEqual(feed[0]["reply"]["parent"]["uri"], second.json()["uri"])
        self.assertNotIn("reply", feed[2])
        no_replies = self.xrpc("app.bsky.feed.getAuthorFeed", {"actor": DID, "filter": "posts_no_replies"}, get=True)
        self.assertEqual([item["post"]["record"]["text"] for item in no_replies.json()["feed"]], ["1/3"])

    def test_it_pages_the_author_feed_with_a_cursor(self):
        for n, rkey in enumerate(("3l6oveex3ii2a", "3l6oveex3ii2b", "3l6oveex3ii2c")):
            self.create(rkey, f"post {n}")
        page = self.xrpc("app.bsky.feed.getAuthorFeed", {"actor": DID, "limit": 2}, get=True).json()
        rest = self.xrpc(
            "app.bsky.feed.getAuthorFeed", {"actor": DID, "limit": 2, "cursor": page["cursor"]}, get=True
        ).json()
        self.assertEqual(
            [item["post"]["record"]["text"] for item in page["feed"] + rest["feed"]], ["post 2", "post 1", "post 0"]
        )
        self.assertNotIn("cursor", rest)

    def test_it_refuses_a_reply_to_a_record_that_does_not_exist(self):
        missing = {"uri": f"at://{DID}/app.bsky.feed.post/3l6oveex3ii2z", "cid": "bafyreinothing"}
        answer = self.create("3l6oveex3ii2b", "2/2", {"root": missing, "parent": missing})
        self.assertEqual((answer.status_code, answer.json()["error"]), (400, "InvalidRequest"))
        self.assertIn("refers to a record that does not exist", answer.json()["message"])
        self.assertEqual(len(store.find_posts("BLUESKY")), 0)

    def test_it_refuses_a_reply_whose_cid_does_not_match(self):
        first = self.create("3l6oveex3ii2a", "1/2")
        stale = {"uri": first.json()["uri"], "cid": "bafyreistale"}
        answer = self.create("3l6oveex3ii2b", "2/2", {"root": stale, "parent": stale})
        self.assertEqual((answer.status_code, answer.json()["error"]), (400, "InvalidRequest"))
        self.assertIn("does not match the record", answer.json()["message"])

    def test_it_refuses_a_root_that_is_not_the_parents_root(self):
        first = self.create("3l6oveex3ii2a", "1/3")
        second = self.create("3l6oveex3ii2b", "2/3", {"root": self.ref(first), "parent": self.ref(first)})
        answer = self.create("3l6oveex3ii2c", "3/3", {"root": self.ref(second), "parent": self.ref(second)})
        self.assertEqual(answer.status_code, 400)
        self.assertIn("must be the root of the parent's thread", answer.json()["message"])

    def test_the_author_feed_lags_behind_the_pds_by_the_appview_lag(self):
        store.configure({"bluesky_appview_lag_seconds": 60})
        written = self.create("3l6oveex3ii2a", "Just written")

        feed = self.xrpc("app.bsky.feed.getAuthorFeed", {"actor": DID}, get=True).json()["feed"]
        found = self.xrpc(
            "com.atproto.repo.getRecord",
            {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "3l6oveex3ii2a"},
            get=True,
        )

        self.assertEqual(feed, [], "the AppView has not indexed it yet")
        self.assertEqual((found.status_code, found.json()["uri"]), (200, written.json()["uri"]), "the PDS has it")
        store.configure({"bluesky_appview_lag_seconds": 0})
        feed = self.xrpc("app.bsky.feed.getAuthorFeed", {"actor": DID}, get=True).json()["feed"]
        self.assertEqual([item["post"]["uri"] for item in feed], [written.json()["uri"]])

    def test_it_refuses_a_reply_ref_without_a_cid(self):
        first = self.create("3l6oveex3ii2a", "1/2")
        answer = self.create("3l6oveex3ii2b", "2/2", {"root": self.ref(first), "parent": {"uri": first.json()["uri"]}})
        self.assertEqual(answer.status_code, 400)
        self.assertIn('Record/reply/parent must have the property "cid"', answer.json()["message"])
