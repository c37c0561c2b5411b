"""Instagram's backfill: the account's media, newest first, without stories; a Reel's watch time
(its other figures are Meta's insights: connections/platforms/meta/tests/test_insights.py)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import responses

from connections.platforms.base import Account, TransientError
from connections.platforms.instagram.adapter import InstagramAdapter
from connections.platforms.meta.insights import InsightsMixin
from connections.tests.contract import GRAPH, NOW, AdapterTestCase

ACCOUNT = Account(account_id="17841400008460056", access_token="token-1")
LISTING = f"{GRAPH}/17841400008460056/media"
SINCE = NOW - timedelta(days=90)


def media(media_id: str, age: timedelta, product: str = "FEED") -> dict:
    return {
        "id": media_id,
        "timestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "caption": f"Caption {media_id}",
        "permalink": f"https://www.instagram.com/p/{media_id}/",
        "media_type": "IMAGE",
        "media_product_type": product,
    }


class InstagramBackfillTests(AdapterTestCase):
    adapter_class = InstagramAdapter

    def test_it_lists_feed_posts_and_reels_pages_by_cursor_and_leaves_stories_out(self):
        first = {
            "data": [media("3", timedelta(hours=2), "STORY"), media("2", timedelta(hours=5), "REELS")],
            "paging": {"cursors": {"after": "QVFI"}, "next": f"{LISTING}?after=QVFI"},
        }
        self.http.add(responses.GET, LISTING, json=first)
        self.http.add(
            responses.GET, LISTING, json={"data": [media("1", timedelta(days=89)), media("0", timedelta(days=95))]}
        )

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)
        self.assertEqual(
            ([p.external_id for p in listed], cursor), (["2"], "after=QVFI"), "a story expires: not tracked"
        )
        self.assertEqual((listed[0].text, listed[0].url), ("Caption 2", "https://www.instagram.com/p/2/"))
        self.assertIn("media_product_type", self.query(self.http.calls[0])["fields"])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["after"], "QVFI")
        self.assertEqual(([p.external_id for p in listed], cursor), (["1"], None), "older than 90 days: the end")

    def test_a_malformed_page_is_a_clear_error(self):
        self.http.add(responses.GET, LISTING, body="<html>gateway</html>")

        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertIn("Instagram API error: malformed answer", caught.exception.message)


def insight(name: str, value) -> dict:
    return {"name": name, "period": "lifetime", "values": [{"value": value}], "id": f"1/insights/{name}/lifetime"}


def refusal(message: str) -> dict:
    return {"status": 400, "json": {"error": {"message": message, "type": "OAuthException", "code": 100}}}


NOT_REELS = "(#100) The Media Insights API does not support the {} metric for this media product type."
FIGURES = {"views": 500, "reach": 300, "likes": 20, "comments": 4, "shares": 2, "saved": 6}


class InstagramWatchTimeTests(AdapterTestCase):
    """A Reel's watch time (ig_reels_video_view_total_time, milliseconds) is watchSeconds, asked in the
    insights call the other figures come from (connections/platforms/meta/insights.py)."""

    adapter_class = InstagramAdapter

    def setUp(self):
        super().setUp()
        InsightsMixin.retired.clear()
        InsightsMixin.not_videos.clear()
        self.addCleanup(InsightsMixin.retired.clear)
        self.addCleanup(InsightsMixin.not_videos.clear)

    def metrics_asked(self, index: int) -> list[str]:
        return parse_qs(urlsplit(self.http.calls[index].request.url).query)["metric"][0].split(",")

    def test_a_reels_watch_time_is_whole_seconds_and_the_raw_names_are_kept(self):
        reel = {**FIGURES, "ig_reels_video_view_total_time": 2_104_999, "ig_reels_avg_watch_time": 4_210}
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": [insight(k, v) for k, v in reel.items()]})

        figures = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]

        self.assertEqual(len(self.http.calls), 1, "one call for all the figures")
        self.assertIn("ig_reels_video_view_total_time", self.metrics_asked(0))
        self.assertEqual(figures.values["watchSeconds"], 2_104)
        self.assertNotIn("watchSeconds", figures.unavailable)
        self.assertEqual(figures.raw["ig_reels_video_view_total_time"], 2_104_999)
        self.assertEqual(figures.raw["ig_reels_avg_watch_time"], 4_210)
        self.assertEqual(figures.values["views"], 500)

    def test_a_post_that_is_not_a_reel_has_no_watch_time_saying_so_and_costs_no_extra_call_later(self):
        self.http.add(
            responses.GET, f"{GRAPH}/1/insights", **refusal(NOT_REELS.format("ig_reels_video_view_total_time"))
        )
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": [insight(k, v) for k, v in FIGURES.items()]})
        self.http.add(responses.GET, f"{GRAPH}/2/insights", json={"data": [insight("views", 1)]})

        first = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]
        again = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]
        reel = self.adapter.post_metrics(ACCOUNT, ["2"])["2"]

        for figures in (first, again):
            self.assertNotIn("watchSeconds", figures.values, "unavailable, never zero")
            self.assertIn("Not a video", figures.unavailable["watchSeconds"])
            self.assertIn("media product type", figures.unavailable["watchSeconds"])
            self.assertEqual(figures.values["likes"], 20)
        self.assertNotIn("ig_reels_video_view_total_time", self.metrics_asked(1))
        self.assertNotIn("ig_reels_video_view_total_time", self.metrics_asked(2), "remembered: no refused call")
        self.assertEqual(len(self.http.calls), 4)
        self.assertIn("ig_reels_video_view_total_time", self.metrics_asked(3), "another post is still asked")
        self.assertNotIn("Not a video", reel.unavailable["watchSeconds"])
        self.assertEqual(InsightsMixin.retired, {}, "not a retirement")

    def test_a_retired_watch_time_metric_is_unavailable_with_metas_words_and_the_others_are_read(self):
        words = (
            "(#100) Starting from version v25.0 and above, the ig_reels_video_view_total_time metric is no longer "
            "supported. Please refer to the documentation for a list of supported metrics."
        )
        self.http.add(responses.GET, f"{GRAPH}/1/insights", **refusal(words))
        rest = {**FIGURES, "ig_reels_avg_watch_time": 4_210}
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": [insight(k, v) for k, v in rest.items()]})

        figures = self.adapter.post_metrics(ACCOUNT, ["1"])["1"]

        self.assertNotIn("watchSeconds", figures.values)
        self.assertIn("no longer gives 'ig_reels_video_view_total_time'", figures.unavailable["watchSeconds"])
        self.assertIn("v25.0", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.values["saves"], 6)
        self.assertEqual(figures.raw["ig_reels_avg_watch_time"], 4_210)

    def test_a_malformed_insights_answer_is_a_clear_error(self):
        self.http.add(responses.GET, f"{GRAPH}/1/insights", json={"data": {"name": "views"}})

        with self.assertRaises(TransientError) as raised:
            self.adapter.post_metrics(ACCOUNT, ["1"])

        self.assertIn("malformed answer, no data list in the answer of insights", raised.exception.message)
