"""Pinterest's engagement figures: a pin's analytics over the last 90 days, the account's followers."""

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited
from connections.platforms.pinterest.adapter import PinterestAdapter
from connections.tests.contract import AdapterTestCase

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
