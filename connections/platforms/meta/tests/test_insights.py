"""Engagement figures through Meta's insights edges: Facebook posts, Instagram media, Threads media.
A metric Meta retires fails the whole call with code 100: it is dropped, recorded unavailable with
Meta's words, and the others are read."""

from urllib.parse import parse_qs, urlsplit

import responses

from connections.platforms.base import Account, RateLimited
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.platforms.meta.insights import InsightsMixin
from connections.platforms.threads.adapter import ThreadsAdapter
from connections.tests.contract import GRAPH, AdapterTestCase

ACCOUNT = Account(account_id="17841400000000000", access_token="token-1")


def insight(name: str, value) -> dict:
    return {"name": name, "period": "lifetime", "values": [{"value": value}], "id": f"1/insights/{name}/lifetime"}


def retired(name: str) -> dict:
    message = (
        f"(#100) Starting from version v22.0 and above, the {name} metric is no longer supported for the queried "
        "user. Please refer to the documentation for a list of supported metrics."
    )
    return {"status": 400, "json": {"error": {"message": message, "type": "OAuthException", "code": 100}}}


class InsightsCase(AdapterTestCase):
    def setUp(self):
        super().setUp()
        InsightsMixin.retired.clear()
        InsightsMixin.not_videos.clear()
        self.addCleanup(InsightsMixin.retired.clear)
        self.addCleanup(InsightsMixin.not_videos.clear)

    def metrics_asked(self, index: int) -> list[str]:
        return parse_qs(urlsplit(self.http.calls[index].request.url).query)["metric"][0].split(",")


class InstagramInsightsTests(InsightsCase):
    adapter_class = InstagramAdapter

    def test_it_maps_media_insights_without_impressions(self):
        names = {
            "views": 500,
            "reach": 300,
            "likes": 20,
            "comments": 4,
            "shares": 2,
            "saved": 6,
            "total_interactions": 32,
        }
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": [insight(k, v) for k, v in names.items()]})

        figures = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]

        self.assertNotIn("impressions", self.metrics_asked(0), "v22.0 removed it")
        self.assertEqual(
            figures.values, {"views": 500, "reach": 300, "likes": 20, "comments": 4, "shares": 2, "saves": 6}
        )
        self.assertEqual(figures.raw["total_interactions"], 32)

    def test_a_retired_metric_is_unavailable_and_the_others_are_read(self):
        self.http.add(responses.GET, f"{GRAPH}/1/insights", **retired("saved"))
        rest = {"views": 500, "reach": 300, "likes": 20, "comments": 4, "shares": 2, "total_interactions": 32}
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": [insight(k, v) for k, v in rest.items()]})
        self.http.add(responses.GET, f"{GRAPH}/2/insights", json={"data": [insight(k, v) for k, v in rest.items()]})

        found = self.adapter.post_metrics(ACCOUNT, ["1", "2"])

        self.assertNotIn("saved", self.metrics_asked(1))
        self.assertNotIn("saved", self.metrics_asked(2), "not asked again within the day")
        for figures in found.values():
            self.assertNotIn("saves", figures.values, "unavailable, never zero")
            self.assertIn("no longer gives 'saved'", figures.unavailable["saves"])
            self.assertIn("v22.0", figures.unavailable["saved"])
            self.assertEqual(figures.values["likes"], 20)

    def test_a_deleted_media_is_left_out(self):
        error = {
            "message": "Unsupported get request. Object with ID '1' does not exist",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
        }
        self.http.add(responses.GET, f"{GRAPH}/1/insights", status=400, json={"error": error})
        self.assertEqual(self.adapter.post_metrics(ACCOUNT, ["1"]), {})

    def test_a_rate_limit_is_raised_for_the_whole_call(self):
        self.http.add(
            responses.GET,
            f"{GRAPH}/1/insights",
            status=400,
            json={"error": {"message": "(#32) Page request limit reached", "code": 32}},
        )
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["1"])

    def test_it_reads_the_account_followers(self):
        self.http.add(
            responses.GET,
            f"{GRAPH}/{ACCOUNT.account_id}",
            json={"followers_count": 900, "follows_count": 3, "media_count": 12, "id": "x"},
        )
        figures = self.adapter.account_metrics(ACCOUNT)
        self.assertEqual(figures.values, {"followers": 900})
        self.assertEqual(figures.raw["media_count"], 12)


class FacebookInsightsTests(InsightsCase):
    adapter_class = FacebookAdapter

    def test_it_maps_post_insights_and_their_breakdowns(self):
        data = [
            insight("post_impressions", 1000),
            insight("post_impressions_unique", 700),
            insight("post_clicks", 30),
            insight("post_reactions_by_type_total", {"like": 10, "love": 5}),
            insight("post_activity_by_action_type", {"like": 15, "comment": 4, "share": 3}),
            insight("post_video_views", 0),
        ]
        self.http.add(responses.GET, f"{GRAPH}/1_2/insights", json={"data": data})

        figures = self.adapter.post_metrics(ACCOUNT, ["1_2"])["1_2"]

        self.assertEqual(
            figures.values,
            {"views": 1000, "reach": 700, "clicks": 30, "likes": 15, "comments": 4, "shares": 3, "videoViews": 0},
        )
        self.assertEqual(figures.raw["post_reactions_by_type_total.love"], 5)
        self.assertIn("saves", figures.unavailable)

    def test_a_metric_named_by_its_index_is_dropped(self):
        self.http.add(
            responses.GET,
            f"{GRAPH}/1_2/insights",
            status=400,
            json={
                "error": {"message": "(#100) metric[0] must be one of the following values: post_clicks", "code": 100}
            },
        )
        self.http.add(responses.GET, f"{GRAPH}/1_2/insights", json={"data": [insight("post_clicks", 3)]})

        figures = self.adapter.post_metrics(ACCOUNT, ["1_2"])["1_2"]

        self.assertNotIn("post_impressions", self.metrics_asked(1))
        self.assertIn("views", figures.unavailable)
        self.assertEqual(figures.values["clicks"], 3)


class ThreadsInsightsTests(InsightsCase):
    adapter_class = ThreadsAdapter

    def test_it_maps_a_post_insights(self):
        names = {"views": 80, "likes": 9, "replies": 2, "reposts": 1, "quotes": 1, "shares": 0}
        self.http.add(
            responses.GET,
            "https://graph.threads.net/v1.0/9/insights",
            json={"data": [insight(k, v) for k, v in names.items()]},
        )
        figures = self.adapter.post_metrics(ACCOUNT, ["9"])["9"]
        self.assertEqual(figures.values, {"views": 80, "likes": 9, "comments": 2, "shares": 2})

    def test_it_reads_the_followers_from_threads_insights(self):
        data = [{"name": "followers_count", "period": "day", "total_value": {"value": 55}}]
        self.http.add(
            responses.GET, f"https://graph.threads.net/v1.0/{ACCOUNT.account_id}/threads_insights", json={"data": data}
        )
        self.assertEqual(self.adapter.account_metrics(ACCOUNT).values, {"followers": 55})
