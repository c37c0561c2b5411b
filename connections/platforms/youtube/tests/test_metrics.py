"""YouTube's engagement figures: videos.list?part=statistics (50 ids a call), the YouTube Analytics
API's report for the same videos (watch time, shares), channels.list statistics."""

from dataclasses import replace

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited, TransientError
from connections.platforms.youtube import ANALYTICS_SCOPE
from connections.platforms.youtube.adapter import YouTubeAdapter
from connections.tests.contract import AdapterTestCase

API = "https://youtube.test"
ANALYTICS = "https://youtubeanalytics.test"
VIDEOS = f"{API}/youtube/v3/videos"
REPORTS = f"{ANALYTICS}/v2/reports"
CHANNELS = f"{API}/youtube/v3/channels"
ACCOUNT = Account(account_id="UCAcmeCoffeeRoasters0001", access_token="ya29.1")
OLD_SCOPES = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"


def statistics(*ids: str) -> dict:
    return {
        "items": [{"id": i, "statistics": {"viewCount": "1200", "likeCount": "40", "commentCount": "7"}} for i in ids]
    }


def table(metrics: tuple[str, ...], rows: list[list]) -> dict:
    headers = [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"}]
    headers += [{"name": m, "columnType": "METRIC", "dataType": "INTEGER"} for m in metrics]
    return {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers, "rows": rows}


def google_error(status: int, message: str, reason: str) -> dict:
    errors = [{"message": message, "domain": "global", "reason": reason}]
    return {"json": {"error": {"code": status, "message": message, "errors": errors}}, "status": status}


METRICS = ("estimatedMinutesWatched", "averageViewDuration", "views", "shares")


@override_settings(YOUTUBE_API_URL=API, YOUTUBE_ANALYTICS_URL=ANALYTICS)
class YouTubeMetricsTests(AdapterTestCase):
    adapter_class = YouTubeAdapter

    def test_it_reads_fifty_videos_a_call_with_counts_as_strings(self):
        ids = [f"vid{i:08d}" for i in range(50)]
        items = [
            {"id": i, "statistics": {"viewCount": "1200", "likeCount": "40", "favoriteCount": "0", "commentCount": "7"}}
            for i in ids[:49]
        ]
        self.http.add(responses.GET, VIDEOS, json={"kind": "youtube#videoListResponse", "items": items})

        rows = [[i, 130 + n, 95, 80 + n, 3] for n, i in enumerate(ids[1:49])]
        self.http.add(responses.GET, REPORTS, json=table(METRICS, rows))

        found = self.adapter.post_metrics(ACCOUNT, ids)

        query = self.query(self.http.calls[0])
        self.assertEqual((query["part"], query["id"]), ("statistics", ",".join(ids)))
        self.assertEqual(len(found), 49, "a deleted video is left out")
        report = self.query(self.http.calls[1])
        self.assertEqual(report["ids"], "channel==MINE")
        self.assertEqual(report["filters"], "video==" + ",".join(ids[:49]), "one report for the videos listed")
        self.assertEqual((report["dimensions"], report["metrics"]), ("video", ",".join(METRICS)))
        self.assertEqual(report["maxResults"], "49")
        second = found[ids[1]]
        self.assertEqual(
            second.values,
            {"views": 1200, "videoViews": 1200, "likes": 40, "comments": 7, "watchSeconds": 130 * 60, "shares": 3},
        )
        self.assertEqual(second.raw["estimatedMinutesWatched"], 130)
        self.assertEqual((second.raw["averageViewDuration"], second.raw["views"]), (95, 80), "kept raw")
        self.assertIn("unique viewers", second.unavailable["reach"])
        # The first video has no row yet (YouTube's reports run behind): unavailable, not zero.
        self.assertNotIn("watchSeconds", found[ids[0]].values)
        self.assertIn("no figures for this video yet", found[ids[0]].unavailable["watchSeconds"])
        self.assertEqual(found[ids[0]].values["views"], 1200, "the Data API's figures are kept")

    def test_a_channel_connected_without_the_analytics_permission_is_told_to_reconnect_for_watch_time(self):
        # Known from the token's scopes: no report is asked for.
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        figures = self.adapter.post_metrics(replace(ACCOUNT, scopes=OLD_SCOPES), ["vid1"])["vid1"]
        self.assertEqual(len(self.http.calls), 1)
        self.assertIn("reconnect the channel", figures.unavailable["watchSeconds"])
        self.assertIn("yt-analytics.readonly", figures.unavailable["shares"])
        self.assertEqual(figures.values["likes"], 40)

        # Scopes not kept (a connection made before planrrr kept them): YouTube's 403 says it.
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        refusal = google_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
        self.http.add(responses.GET, REPORTS, **refusal)
        figures = self.adapter.post_metrics(ACCOUNT, ["vid1"])["vid1"]
        self.assertIn("reconnect the channel", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.values["views"], 1200)

        # With the permission, the report is asked for.
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        self.http.add(responses.GET, REPORTS, json=table(METRICS, [["vid1", 10, 60, 9, 1]]))
        figures = self.adapter.post_metrics(replace(ACCOUNT, scopes=f"{OLD_SCOPES} {ANALYTICS_SCOPE}"), ["vid1"])
        self.assertEqual(figures["vid1"].values["watchSeconds"], 600)

    def test_a_retired_metric_is_left_out_of_the_report_and_unavailable(self):
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        unknown = "Unknown identifier (averageViewDuration) given in field parameters.metrics."
        self.http.add(responses.GET, REPORTS, **google_error(400, unknown, "badRequest"))
        kept = ("estimatedMinutesWatched", "views", "shares")
        self.http.add(responses.GET, REPORTS, json=table(kept, [["vid1", 20, 15, 2]]))

        figures = self.adapter.post_metrics(ACCOUNT, ["vid1"])["vid1"]

        self.assertEqual(self.query(self.http.calls[2])["metrics"], ",".join(kept))
        self.assertIn("no longer gives 'averageViewDuration'", figures.unavailable["averageViewDuration"])
        self.assertEqual((figures.values["watchSeconds"], figures.values["shares"]), (1200, 2))

    def test_a_429_on_the_report_defers_the_reading_and_a_spent_analytics_quota_only_the_watch_time(self):
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        limited = google_error(429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded")
        self.http.add(responses.GET, REPORTS, headers={"Retry-After": "30"}, **limited)
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["vid1"])

        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        spent = google_error(
            403, "The request cannot be completed because you have exceeded your quota.", "quotaExceeded"
        )
        self.http.add(responses.GET, REPORTS, **spent)
        figures = self.adapter.post_metrics(ACCOUNT, ["vid1"])["vid1"]
        self.assertIn("YouTube Analytics API quota", figures.unavailable["watchSeconds"])
        self.assertEqual(figures.values["views"], 1200)

    def test_a_report_refused_for_good_leaves_only_the_watch_time_unavailable(self):
        self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
        self.http.add(responses.GET, REPORTS, **google_error(400, "The query is not supported.", "badRequest"))

        figures = self.adapter.post_metrics(ACCOUNT, ["vid1"])["vid1"]

        self.assertIn("YouTube Analytics refused the report", figures.unavailable["watchSeconds"])
        self.assertIn("The query is not supported.", figures.unavailable["shares"])
        self.assertEqual(figures.values["likes"], 40)

    def test_a_malformed_report_is_a_clear_error(self):
        for body, words in (
            ({"kind": "youtubeAnalytics#resultTable"}, "no video column"),
            (table(METRICS, [["vid1", 1, 2]]), "a YouTube Analytics report row of 3 values for 5 columns"),
            ({**table(METRICS, []), "rows": "none"}, "is not a list"),
        ):
            with self.subTest(words=words):
                self.http.add(responses.GET, VIDEOS, json=statistics("vid1"))
                self.http.add(responses.GET, REPORTS, json=body)
                with self.assertRaises(TransientError) as caught:
                    self.adapter.post_metrics(ACCOUNT, ["vid1"])
                self.assertIn(words, caught.exception.message)

    def test_a_hidden_like_count_is_unavailable_not_zero(self):
        items = [{"id": "vid1", "statistics": {"viewCount": "1200", "commentCount": "7"}}]
        self.http.add(responses.GET, VIDEOS, json={"items": items})
        self.http.add(responses.GET, REPORTS, json=table(METRICS, []))

        figures = self.adapter.post_metrics(ACCOUNT, ["vid1"])["vid1"]

        self.assertNotIn("likes", figures.values)
        self.assertIn("likeCount", figures.unavailable)
        self.assertEqual(figures.values["comments"], 7)

    def test_a_429_says_when_to_come_back(self):
        error = {"error": {"code": 429, "message": "Too many", "errors": [{"reason": "rateLimitExceeded"}]}}
        self.http.add(responses.GET, VIDEOS, status=429, json=error, headers={"Retry-After": "60"})
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["vid1"])

    def test_it_reads_the_subscribers_and_a_hidden_count_is_unavailable(self):
        stats = {"viewCount": "90000", "subscriberCount": "1230", "hiddenSubscriberCount": False, "videoCount": "12"}
        self.http.add(responses.GET, CHANNELS, json={"items": [{"id": ACCOUNT.account_id, "statistics": stats}]})
        hidden = {"viewCount": "90000", "hiddenSubscriberCount": True, "videoCount": "12"}
        self.http.add(responses.GET, CHANNELS, json={"items": [{"id": ACCOUNT.account_id, "statistics": hidden}]})

        self.assertEqual(self.adapter.account_metrics(ACCOUNT).values, {"followers": 1230})
        self.assertEqual(self.query(self.http.calls[0])["id"], ACCOUNT.account_id)
        figures = self.adapter.account_metrics(ACCOUNT)
        self.assertEqual(figures.values, {})
        self.assertIn("hides its subscriber count", figures.unavailable["followers"])
