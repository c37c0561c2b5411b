"""Bluesky's engagement figures: app.bsky.feed.getPosts (25 uris), app.bsky.actor.getProfile."""

import responses

from connections.platforms.base import Account, RateLimited
from connections.platforms.bluesky.adapter import BlueskyAdapter
from connections.tests.contract import BLUESKY, AdapterTestCase, pinned

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
ACCOUNT = Account(account_id=DID, access_token="jwt-1", base_url=BLUESKY)


def view(uri: str, **counts) -> dict:
    return {"uri": uri, "cid": "bafy", "author": {"did": DID}, "record": {}, **counts}


class BlueskyMetricsTests(AdapterTestCase):
    adapter_class = BlueskyAdapter

    def test_it_reads_twenty_five_posts_a_call(self):
        uris = [f"at://{DID}/app.bsky.feed.post/3k{i:011d}" for i in range(25)]
        posts = [view(u, likeCount=7, repostCount=2, replyCount=1, quoteCount=1) for u in uris[:24]]
        self.http.add(responses.GET, pinned(f"{BLUESKY}/xrpc/app.bsky.feed.getPosts"), json={"posts": posts})

        found = self.adapter.post_metrics(ACCOUNT, uris)

        self.assertEqual(self.query_list(self.http.calls[0], "uris"), uris)
        self.assertEqual(len(found), 24, "a deleted post is left out")
        self.assertEqual(found[uris[0]].values, {"likes": 7, "comments": 1, "shares": 3})
        self.assertIn("Bluesky counts no views", found[uris[0]].unavailable["views"])

    def test_a_count_bluesky_drops_is_unavailable_and_the_others_are_read(self):
        uri = f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaaaa"
        posts = [view(uri, likeCount=7, repostCount=2, replyCount=1)]
        self.http.add(responses.GET, pinned(f"{BLUESKY}/xrpc/app.bsky.feed.getPosts"), json={"posts": posts})

        figures = self.adapter.post_metrics(ACCOUNT, [uri])[uri]

        self.assertIn("quoteCount", figures.unavailable)
        self.assertEqual(figures.values["shares"], 2, "reposts without the quotes it no longer gives")
        self.assertNotIn("quoteCount", figures.raw)

    def test_a_429_says_when_to_come_back(self):
        self.http.add(
            responses.GET,
            pinned(f"{BLUESKY}/xrpc/app.bsky.feed.getPosts"),
            status=429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"RateLimit-Reset": "1740831300"},
        )
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, [f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaaaa"])

    def test_it_reads_the_profile_followers(self):
        self.http.add(
            responses.GET,
            pinned(f"{BLUESKY}/xrpc/app.bsky.actor.getProfile"),
            json={"did": DID, "followersCount": 321, "followsCount": 4, "postsCount": 50},
        )
        self.assertEqual(self.adapter.account_metrics(ACCOUNT).values, {"followers": 321})

    def query_list(self, call, name: str) -> list[str]:
        from urllib.parse import parse_qs, urlsplit

        return parse_qs(urlsplit(call.request.url).query)[name]

    def test_the_backfill_lists_the_accounts_own_posts_not_its_reposts(self):
        from datetime import timedelta

        from connections.tests.contract import NOW

        def item(uri: str, days: float, **extra) -> dict:
            created = (NOW - timedelta(days=days)).isoformat()
            return {"post": {"uri": uri, "record": {"text": "hi", "createdAt": created}}, **extra}

        own = f"at://{DID}/app.bsky.feed.post/3kaaaaaaaaaaa"
        feed = [
            item(own, 1),
            item("at://did:plc:other/app.bsky.feed.post/3kb", 2, reason={"$type": "app.bsky.feed.defs#reasonRepost"}),
            item(f"at://{DID}/app.bsky.feed.post/3kcccccccccc", 120),
        ]
        url = pinned(f"{BLUESKY}/xrpc/app.bsky.feed.getAuthorFeed")
        self.http.add(responses.GET, url, json={"feed": feed, "cursor": "c2"})

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=NOW - timedelta(days=90), cursor=None)

        self.assertEqual([p.external_id for p in listed], [own])
        self.assertIsNone(cursor, "past 90 days: no next page")
