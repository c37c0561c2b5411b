"""YouTube's engagement figures: videos.list?part=statistics (50 ids a call), channels.list statistics."""

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited
from connections.platforms.youtube.adapter import YouTubeAdapter
from connections.tests.contract import AdapterTestCase

API = "https://youtube.test"
VIDEOS = f"{API}/youtube/v3/videos"
CHANNELS = f"{API}/youtube/v3/channels"
ACCOUNT = Account(account_id="UCAcmeCoffeeRoasters0001", access_token="ya29.1")


@override_settings(YOUTUBE_API_URL=API)
class YouTubeMetricsTests(AdapterTestCase):
    adapter_class = YouTubeAdapter

    def test_it_reads_fifty_videos_a_call_with_counts_as_strings(self):
        ids = [f"vid{i:08d}" for i in range(50)]
        items = [
            {"id": i, "statistics": {"viewCount": "1200", "likeCount": "40", "favoriteCount": "0", "commentCount": "7"}}
            for i in ids[:49]
        ]
        self.http.add(responses.GET, VIDEOS, json={"kind": "youtube#videoListResponse", "items": items})

        found = self.adapter.post_metrics(ACCOUNT, ids)

        query = self.query(self.http.calls[0])
        self.assertEqual((query["part"], query["id"]), ("statistics", ",".join(ids)))
        self.assertEqual(len(found), 49, "a deleted video is left out")
        self.assertEqual(found[ids[0]].values, {"views": 1200, "videoViews": 1200, "likes": 40, "comments": 7})
        self.assertIn("yt-analytics.readonly", found[ids[0]].unavailable["estimatedMinutesWatched"])
        self.assertIn("YouTube Analytics API", found[ids[0]].unavailable["reach"])

    def test_a_hidden_like_count_is_unavailable_not_zero(self):
        items = [{"id": "vid1", "statistics": {"viewCount": "1200", "commentCount": "7"}}]
        self.http.add(responses.GET, VIDEOS, json={"items": items})

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
