"""Pinterest's engagement figures: a pin's analytics over the last 90 days, the account's followers."""

from datetime import timedelta

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited, TransientError
from connections.platforms.pinterest.adapter import PinterestAdapter
from connections.tests.contract import NOW, AdapterTestCase

API = "https://pinterest.test"
ACCOUNT = Account(account_id="pinner-1", access_token="pina_1")
SUMMARY = {"IMPRESSION": 500, "SAVE": 12, "PIN_CLICK": 30, "OUTBOUND_CLICK": 8, "VIDEO_MRC_VIEW": 90}


@override_settings(PINTEREST_API_URL=API)
class PinterestMetricsTests(AdapterTestCase):
    adapter_class = PinterestAdapter

    def test_it_reads_a_pins_figures_over_the_last_ninety_days(self):
        body = {"all": {"lifetime_metrics": SUMMARY, "daily_metrics": [], "summary_metrics": SUMMARY}}
        self.http.add(responses.GET, f"{API}/v5/pins/991/analytics", json=body)

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        query = self.query(self.http.calls[0])
        # NOW is 2025-03-01: 90 days, today included.
        self.assertEqual((query["start_date"], query["end_date"]), ("2024-12-02", "2025-03-01"))
        self.assertEqual(query["metric_types"], "IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK,VIDEO_MRC_VIEW")
        self.assertEqual(figures.values, {"views": 500, "saves": 12, "clicks": 8, "videoViews": 90})
        self.assertEqual(figures.raw["PIN_CLICK"], 30)
        self.assertIn("no reactions", figures.unavailable["likes"])

    def test_a_metric_pinterest_no_longer_gives_is_unavailable_and_the_others_are_read(self):
        summary = {"IMPRESSION": 500, "PIN_CLICK": 30, "OUTBOUND_CLICK": 8}
        self.http.add(responses.GET, f"{API}/v5/pins/991/analytics", json={"all": {"summary_metrics": summary}})

        figures = self.adapter.post_metrics(ACCOUNT, ["991"])["991"]

        self.assertIn("SAVE", figures.unavailable)
        self.assertNotIn("saves", figures.values)
        self.assertIn("videoViews", figures.unavailable, "an image pin has no video views")
        self.assertEqual(figures.values["views"], 500)

    def test_a_deleted_pin_is_left_out_and_a_429_says_when_to_come_back(self):
        self.http.add(
            responses.GET, f"{API}/v5/pins/991/analytics", status=404, json={"code": 50, "message": "Pin not found."}
        )
        self.http.add(
            responses.GET, f"{API}/v5/pins/992/analytics", status=429, json={"code": 8, "message": "Slow down"}
        )

        self.assertEqual(self.adapter.post_metrics(ACCOUNT, ["991"]), {})
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["992"])

    def test_it_reads_the_followers(self):
        body = {"username": "acme", "follower_count": 321, "following_count": 4, "pin_count": 9, "monthly_views": 77}
        self.http.add(responses.GET, f"{API}/v5/user_account", json=body)

        figures = self.adapter.account_metrics(ACCOUNT)

        self.assertEqual(figures.values, {"followers": 321})
        self.assertEqual(figures.raw["monthly_views"], 77)


@override_settings(PINTEREST_API_URL=API)
class PinterestBackfillTests(AdapterTestCase):
    """The account's own pins made outside planrrr (the backfill): repins left out, bookmark paging."""

    adapter_class = PinterestAdapter

    def pin(self, pin_id: str, days: float, **extra) -> dict:

        created = (NOW - timedelta(days=days)).isoformat()
        return {"id": pin_id, "created_at": created, "description": f"Pin {pin_id}", "is_owner": True, **extra}

    def test_it_lists_the_accounts_own_pins_by_bookmark_until_the_lookback(self):

        since = NOW - timedelta(days=90)
        first = [self.pin("4", 1), self.pin("3", 2, parent_pin_id="77"), self.pin("2", 3, is_owner=False)]
        self.http.add(responses.GET, f"{API}/v5/pins", json={"items": first, "bookmark": "Ym9vaw=="})
        self.http.add(
            responses.GET,
            f"{API}/v5/pins",
            json={"items": [self.pin("1", 89), self.pin("0", 90.5)], "bookmark": "more"},
        )

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=since, cursor=None)
        self.assertEqual(([p.external_id for p in listed], cursor), (["4"], "Ym9vaw=="), "a repin is another's pin")
        self.assertEqual((listed[0].text, listed[0].url), ("Pin 4", "https://www.pinterest.com/pin/4/"))
        self.assertEqual(self.query(self.http.calls[0])["pin_filter"], "exclude_repins")

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=since, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["bookmark"], "Ym9vaw==")
        self.assertEqual(([p.external_id for p in listed], cursor), (["1"], None), "older than 90 days: the end")

    def test_a_malformed_page_is_a_clear_error(self):

        from connections.tests.contract import NOW

        self.http.add(responses.GET, f"{API}/v5/pins", json={"items": None, "bookmark": None})
        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=NOW - timedelta(days=90), cursor=None)
        self.assertIn("Pinterest API error: malformed answer, no items", caught.exception.message)
