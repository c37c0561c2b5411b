"""Mastodon's engagement figures: GET /api/v1/statuses/:id, verify_credentials."""

import responses

from connections.platforms.base import Account, TokenExpired
from connections.platforms.mastodon.adapter import MastodonAdapter
from connections.tests.contract import MASTODON, AdapterTestCase, pinned

ACCOUNT = Account(account_id="109", access_token="token-1", base_url=MASTODON)


class MastodonMetricsTests(AdapterTestCase):
    adapter_class = MastodonAdapter

    def test_it_maps_a_status_counts(self):
        status = {"id": "1", "favourites_count": 9, "reblogs_count": 3, "replies_count": 2, "quotes_count": 1}
        self.http.add(responses.GET, pinned(f"{MASTODON}/api/v1/statuses/1"), json=status)

        figures = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]

        self.assertEqual(figures.values, {"likes": 9, "comments": 2, "shares": 4})
        self.assertEqual(figures.raw["favourites_count"], 9)
        self.assertIn("Mastodon counts no views", figures.unavailable["views"])

    def test_a_deleted_status_is_left_out(self):
        self.http.add(
            responses.GET, pinned(f"{MASTODON}/api/v1/statuses/1"), status=404, json={"error": "Record not found"}
        )
        self.http.add(responses.GET, pinned(f"{MASTODON}/api/v1/statuses/2"), json={"id": "2", "favourites_count": 1})

        found = self.adapter.post_metrics(ACCOUNT, ["1", "2"])

        self.assertEqual(list(found), ["2"])
        self.assertIn("reblogs_count", found["2"].unavailable, "a count it stopped giving")

    def test_a_revoked_token_asks_for_a_reconnection(self):
        self.http.add(
            responses.GET,
            pinned(f"{MASTODON}/api/v1/statuses/1"),
            status=401,
            json={"error": "The access token is invalid"},
        )
        with self.assertRaises(TokenExpired):
            self.adapter.post_metrics(ACCOUNT, ["1"])

    def test_it_reads_the_account_followers(self):
        self.http.add(
            responses.GET,
            pinned(f"{MASTODON}/api/v1/accounts/verify_credentials"),
            json={"id": "109", "followers_count": 77, "following_count": 1, "statuses_count": 5},
        )
        self.assertEqual(self.adapter.account_metrics(ACCOUNT).values, {"followers": 77})

    def test_the_backfill_lists_the_accounts_statuses_until_the_first_older_than_since(self):
        from datetime import timedelta

        from connections.tests.contract import NOW

        def status(i: str, hours: float, **extra) -> dict:
            created = (NOW - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
            return {"id": i, "created_at": created, "content": f"<p>Post {i}</p>", "url": f"https://m/{i}", **extra}

        page = [status(str(40 - n), n) for n in range(40)]
        page[1]["reblog"] = {"id": "other"}
        url = pinned(f"{MASTODON}/api/v1/accounts/109/statuses")
        self.http.add(responses.GET, url, json=page)
        self.http.add(responses.GET, url, json=[status("0", 50), status("-1", 24 * 100)])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=NOW - timedelta(days=90), cursor=None)
        self.assertEqual((len(listed), cursor), (39, "1"), "a boost is not the account's post")
        self.assertEqual((listed[0].text, listed[0].url), ("Post 40", "https://m/40"))
        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=NOW - timedelta(days=90), cursor="1")
        self.assertEqual(self.query(self.http.calls[1])["max_id"], "1")
        self.assertEqual(([p.external_id for p in listed], cursor), (["0"], None), "older than 90 days: the end")
