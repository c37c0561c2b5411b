"""Facebook's backfill: a page's own published posts, newest first, paged with Graph's cursors; a Page
video's watch time (the other engagement figures are Meta's insights:
connections/platforms/meta/tests/test_insights.py)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import responses

from connections.platforms.base import Account, TransientError
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.platforms.meta.insights import InsightsMixin
from connections.tests.contract import GRAPH, NOW, SECRET, AdapterTestCase

ACCOUNT = Account(account_id="104857600123456", access_token=SECRET)
LISTING = f"{GRAPH}/104857600123456/published_posts"
SINCE = NOW - timedelta(days=90)


def post(post_id: str, age: timedelta, **extra) -> dict:
    created = (NOW - age).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": post_id, "created_time": created, "permalink_url": f"https://www.facebook.com/{post_id}", **extra}


class FacebookBackfillTests(AdapterTestCase):
    adapter_class = FacebookAdapter

    def test_it_lists_the_pages_posts_since_the_lookback_and_follows_the_after_cursor(self):
        video = post("p_2", timedelta(days=2), attachments={"data": [{"media_type": "video", "target": {"id": "v9"}}]})
        first = {
            "data": [post("p_1", timedelta(hours=1), message="Autumn menu"), video],
            "paging": {"cursors": {"before": "B", "after": "A2"}, "next": f"{LISTING}?access_token={SECRET}&after=A2"},
        }
        self.http.add(responses.GET, LISTING, json=first)
        self.http.add(responses.GET, LISTING, json={"data": [post("p_3", timedelta(days=89))], "paging": {}})

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)
        self.assertEqual(cursor, "after=A2")
        self.assertEqual(
            [(p.external_id, p.text, p.aliases) for p in listed], [("p_1", "Autumn menu", ()), ("p_2", "", ("v9",))]
        )
        self.assertEqual(listed[0].url, "https://www.facebook.com/p_1")
        query = self.query(self.http.calls[0])
        self.assertEqual(query["since"], str(int(SINCE.timestamp())))
        self.assertIn("permalink_url", query["fields"])

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=cursor)
        self.assertEqual(self.query(self.http.calls[1])["after"], "A2")
        self.assertEqual(([p.external_id for p in listed], cursor), (["p_3"], None), "no next: the last page")

    def test_a_time_paged_next_keeps_its_paging_fields_never_the_token(self):
        following = f"{LISTING}?access_token={SECRET}&until=1700000000&__paging_token=enc_X&limit=100"
        self.http.add(
            responses.GET, LISTING, json={"data": [post("p_1", timedelta(hours=1))], "paging": {"next": following}}
        )

        _, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertEqual(cursor, "until=1700000000&__paging_token=enc_X")
        self.assertNotIn("SECRET", cursor)

    def test_a_post_older_than_the_lookback_ends_the_listing(self):
        body = {
            "data": [post("p_1", timedelta(days=10)), post("p_0", timedelta(days=91))],
            "paging": {"cursors": {"after": "A2"}, "next": f"{LISTING}?after=A2"},
        }
        self.http.add(responses.GET, LISTING, json=body)

        listed, cursor = self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertEqual(([p.external_id for p in listed], cursor), (["p_1"], None))

    def test_a_malformed_page_is_a_clear_error(self):
        self.http.add(responses.GET, LISTING, json={"data": {"id": "p_1"}})

        with self.assertRaises(TransientError) as caught:
            self.adapter.recent_posts(ACCOUNT, since=SINCE, cursor=None)

        self.assertIn("Facebook API error: malformed answer, no data list", caught.exception.message)
        self.assertNotIn("SECRET", caught.exception.message)


def insight(name: str, value) -> dict:
    return {"name": name, "period": "lifetime", "values": [{"value": value}], "id": f"1/insights/{name}/lifetime"}


def graph_error(message: str, code: int = 100) -> dict:
    return {"status": 400, "json": {"error": {"message": message, "type": "OAuthException", "code": code}}}


POST_FIGURES = {"post_impressions": 900, "post_impressions_unique": 700, "post_clicks": 12, "post_video_views": 300}


class FacebookWatchTimeTests(AdapterTestCase):
    """A Page video (held under its video id) has its watch time from /{video-id}/video_insights, in
    milliseconds; a feed post ("<page>_<post>") is not asked."""

    adapter_class = FacebookAdapter

    def setUp(self):
        super().setUp()
        InsightsMixin.retired.clear()
        self.addCleanup(InsightsMixin.retired.clear)

    def answer(self, object_id: str, edge: str, values: dict) -> None:
        data = [insight(k, v) for k, v in values.items()]
        self.http.add(responses.GET, f"{GRAPH}/{object_id}/{edge}", json={"data": data})

    def metrics_asked(self, index: int) -> list[str]:
        return parse_qs(urlsplit(self.http.calls[index].request.url).query)["metric"][0].split(",")

    def test_a_videos_watch_time_is_whole_seconds_and_the_raw_names_are_kept(self):
        self.answer("5551", "insights", POST_FIGURES)
        self.answer(
            "5551", "video_insights", {"total_video_view_total_time": 1_260_700, "total_video_avg_time_watched": 4_202}
        )

        figures = self.adapter.post_metrics(ACCOUNT, ["5551"])["5551"]

        self.assertEqual(self.metrics_asked(1), ["total_video_view_total_time", "total_video_avg_time_watched"])
        self.assertEqual(figures.values["watchSeconds"], 1_260)
        self.assertNotIn("watchSeconds", figures.unavailable)
        self.assertEqual(figures.raw["total_video_view_total_time"], 1_260_700)
        self.assertEqual(figures.raw["total_video_avg_time_watched"], 4_202)
        self.assertEqual(figures.values["videoViews"], 300)

    def test_a_feed_post_is_not_a_video_and_costs_no_video_call(self):
        self.answer("104857600123456_77", "insights", POST_FIGURES)

        figures = self.adapter.post_metrics(ACCOUNT, ["104857600123456_77"])["104857600123456_77"]

        self.assertEqual(len(self.http.calls), 1)
        self.assertNotIn("watchSeconds", figures.values, "unavailable, never zero")
        self.assertIn("Not a video", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.values["views"], 900)

    def test_a_retired_watch_time_metric_is_unavailable_with_metas_words_and_the_others_are_read(self):
        self.answer("5551", "insights", POST_FIGURES)
        self.http.add(
            responses.GET,
            f"{GRAPH}/5551/video_insights",
            **graph_error("(#100) metric[0] must be one of the following values: total_video_avg_time_watched"),
        )
        self.answer("5551", "video_insights", {"total_video_avg_time_watched": 4_202})

        figures = self.adapter.post_metrics(ACCOUNT, ["5551"])["5551"]

        self.assertEqual(self.metrics_asked(2), ["total_video_avg_time_watched"])
        self.assertNotIn("watchSeconds", figures.values)
        self.assertIn("no longer gives 'total_video_view_total_time'", figures.unavailable["watchSeconds"])
        self.assertIn("must be one of", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.raw["total_video_avg_time_watched"], 4_202)
        self.assertEqual(figures.values["clicks"], 12)

    def test_a_refused_video_edge_leaves_the_other_figures(self):
        self.answer("5551", "insights", POST_FIGURES)
        self.http.add(
            responses.GET,
            f"{GRAPH}/5551/video_insights",
            **graph_error("(#10) Application does not have permission for this action", code=10),
        )

        figures = self.adapter.post_metrics(ACCOUNT, ["5551"])["5551"]

        self.assertIn("does not have permission", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.values["reach"], 700)

    def test_a_malformed_video_insights_answer_is_a_clear_error(self):
        self.answer("5551", "insights", POST_FIGURES)
        self.http.add(responses.GET, f"{GRAPH}/5551/video_insights", json={"error_free": True})

        with self.assertRaises(TransientError) as raised:
            self.adapter.post_metrics(ACCOUNT, ["5551"])

        self.assertIn("malformed answer, no data list in the answer of video_insights", raised.exception.message)
