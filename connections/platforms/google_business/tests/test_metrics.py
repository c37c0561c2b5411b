"""Google Business Profile's figures: none per post (said so), a location's daily metrics through the
Business Profile Performance API."""

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited
from connections.platforms.google_business.adapter import DAILY_METRICS, GoogleBusinessAdapter
from connections.tests.contract import AdapterTestCase

PERFORMANCE = "https://performance.test"
LOCATION = "accounts/106432298714625830841/locations/3418226097813749921"
ACCOUNT = Account(account_id=LOCATION, access_token="ya29.1")
URL = f"{PERFORMANCE}/v1/locations/3418226097813749921:fetchMultiDailyMetricsTimeSeries"


def point(day: int, value: int | None = None) -> dict:
    found = {"date": {"year": 2025, "month": 2, "day": day}}
    if value is not None:
        found["value"] = str(value)
    return found


@override_settings(GOOGLE_BUSINESS_PERFORMANCE_URL=PERFORMANCE)
class GoogleBusinessMetricsTests(AdapterTestCase):
    adapter_class = GoogleBusinessAdapter

    def test_it_says_why_it_reads_no_post_figures_but_reads_the_location(self):
        self.assertIsNone(self.adapter.metrics_refused(ACCOUNT))
        self.assertIn("reportInsights", self.adapter.post_metrics_refused(ACCOUNT))

    def test_it_reads_the_locations_latest_day_a_zero_being_a_day_without_value(self):
        series = [
            {"dailyMetric": "WEBSITE_CLICKS", "timeSeries": {"datedValues": [point(26, 4), point(27, 9), point(28)]}},
            {"dailyMetric": "CALL_CLICKS", "timeSeries": {"datedValues": [point(26, 1), point(27), point(28, 2)]}},
        ]
        self.http.add(responses.GET, URL, json={"multiDailyMetricTimeSeries": [{"dailyMetricTimeSeries": series}]})

        figures = self.adapter.account_metrics(ACCOUNT)

        request = self.http.calls[0].request
        self.assertEqual(request.params["dailyMetrics"], list(DAILY_METRICS))
        # NOW is 2025-03-01: the week before it, yesterday last.
        self.assertEqual(request.params["dailyRange.startDate.day"], "22")
        self.assertEqual(request.params["dailyRange.endDate.month"], "2")
        self.assertEqual(figures.raw, {"WEBSITE_CLICKS": 0, "CALL_CLICKS": 2})
        self.assertIn("no followers", figures.unavailable["followers"])
        self.assertIn("BUSINESS_CONVERSATIONS", figures.unavailable, "a metric Google did not return")

    def test_a_429_says_when_to_come_back(self):
        error = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
        self.http.add(responses.GET, URL, status=429, json=error)
        with self.assertRaises(RateLimited):
            self.adapter.account_metrics(ACCOUNT)
