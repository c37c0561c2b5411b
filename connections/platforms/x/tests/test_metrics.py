"""X's engagement figures: GET /2/tweets?ids= with public_metrics, GET /2/users/{id}."""

from urllib.parse import parse_qs, urlsplit

import responses

from connections.platforms.base import Account, RateLimited, TokenExpired
from connections.platforms.x.adapter import XAdapter
from connections.tests.contract import AdapterTestCase, X

ACCOUNT = Account(account_id="2244994945", access_token="token-1")
METRICS = {
    "retweet_count": 3,
    "reply_count": 2,
    "like_count": 40,
    "quote_count": 1,
    "bookmark_count": 5,
    "impression_count": 900,
}


class XMetricsTests(AdapterTestCase):
    adapter_class = XAdapter

    def test_it_reads_up_to_a_hundred_posts_in_one_call_and_maps_public_metrics(self):
        ids = [str(10**18 + i) for i in range(100)]
        data = [{"id": i, "text": "t", "edit_history_tweet_ids": [i], "public_metrics": METRICS} for i in ids[:99]]
        missing = {
            "resource_id": ids[99],
            "title": "Not Found Error",
            "detail": f"Could not find tweet with ids: [{ids[99]}].",
        }
        self.http.add(responses.GET, f"{X}/2/tweets", json={"data": data, "errors": [missing]})

        found = self.adapter.post_metrics(ACCOUNT, ids)

        query = parse_qs(urlsplit(self.http.calls[0].request.url).query)
        self.assertEqual(query["ids"], [",".join(ids)])
        self.assertEqual(query["tweet.fields"], ["public_metrics"])
        self.assertEqual(self.http.calls[0].request.headers["Authorization"], "Bearer token-1")
        self.assertEqual(len(found), 99, "a deleted post is left out, not a failure")
        figures = found[ids[0]]
        self.assertEqual(figures.values, {"views": 900, "likes": 40, "comments": 2, "shares": 4, "saves": 5})
        self.assertEqual(figures.raw, METRICS)
        self.assertIn("X gives no reach", figures.unavailable["reach"])
        self.assertNotIn("reach", figures.values)

    def test_a_metric_x_stops_returning_is_unavailable_not_zero(self):
        metrics = {k: v for k, v in METRICS.items() if k != "impression_count"}
        self.http.add(
            responses.GET, f"{X}/2/tweets", json={"data": [{"id": "1", "text": "t", "public_metrics": metrics}]}
        )

        figures = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]

        self.assertNotIn("views", figures.values)
        self.assertIn("impression_count", figures.unavailable)
        self.assertIn("views", figures.unavailable)
        self.assertEqual(figures.values["likes"], 40, "the others are still read")

    def test_a_429_says_when_to_come_back(self):
        self.http.add(
            responses.GET,
            f"{X}/2/tweets",
            status=429,
            json={"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests", "type": "about:blank"},
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1740831300"},
        )
        with self.assertRaises(RateLimited) as caught:
            self.adapter.post_metrics(ACCOUNT, ["1"])
        self.assertEqual(int(caught.exception.retry_at.timestamp()), 1740831300)

    def test_a_refused_token_asks_for_a_reconnection(self):
        self.http.add(responses.GET, f"{X}/2/tweets", status=401, json={"title": "Unauthorized", "status": 401})
        with self.assertRaises(TokenExpired):
            self.adapter.post_metrics(ACCOUNT, ["1"])

    def test_it_reads_the_account_followers(self):
        user = {
            "id": ACCOUNT.account_id,
            "public_metrics": {"followers_count": 1234, "following_count": 5, "tweet_count": 9},
        }
        self.http.add(responses.GET, f"{X}/2/users/{ACCOUNT.account_id}", json={"data": user})

        figures = self.adapter.account_metrics(ACCOUNT)

        self.assertEqual(figures.values, {"followers": 1234})
        self.assertEqual(figures.raw["tweet_count"], 9)
