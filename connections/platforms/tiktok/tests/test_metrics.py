"""TikTok's engagement figures: the Display API's video/query (20 ids a call) and user/info's counts."""

import json

import responses
from django.test import override_settings

from connections.platforms.base import Account, RateLimited, TokenExpired
from connections.platforms.tiktok.adapter import TikTokAdapter
from connections.tests.contract import AdapterTestCase

API = "https://tiktok.test"
QUERY = f"{API}/v2/video/query/"
USER = f"{API}/v2/user/info/"
ACCOUNT = Account(account_id="-000acmecoffeeOpenId", access_token="act.1")


def ok(data: dict) -> dict:
    return {"json": {"data": data, "error": {"code": "ok", "message": "", "log_id": "L1"}}}


@override_settings(TIKTOK_API_URL=API)
class TikTokMetricsTests(AdapterTestCase):
    adapter_class = TikTokAdapter

    def test_it_reads_twenty_videos_a_call_and_maps_their_counts(self):
        ids = [str(7_300_000_000_000_000_000 + i) for i in range(20)]
        videos = [
            {"id": i, "view_count": 900, "like_count": 40, "comment_count": 3, "share_count": 2} for i in ids[:19]
        ]
        self.http.add(responses.POST, QUERY, **ok({"videos": videos, "cursor": 0, "has_more": False}))

        found = self.adapter.post_metrics(ACCOUNT, ids)

        call = self.http.calls[0]
        self.assertEqual(json.loads(call.request.body), {"filters": {"video_ids": ids}})
        self.assertEqual(self.query(call)["fields"], "id,view_count,like_count,comment_count,share_count")
        self.assertEqual(len(found), 19, "a deleted video is left out")
        self.assertEqual(
            found[ids[0]].values, {"views": 900, "videoViews": 900, "likes": 40, "comments": 3, "shares": 2}
        )
        self.assertIn("no reach", found[ids[0]].unavailable["reach"])

    def test_a_count_tiktok_no_longer_gives_is_unavailable_and_the_others_are_read(self):
        video = {"id": "7300000000000000001", "view_count": 900, "like_count": 40, "comment_count": 3}
        self.http.add(responses.POST, QUERY, **ok({"videos": [video]}))

        figures = self.adapter.post_metrics(ACCOUNT, ["7300000000000000001"])["7300000000000000001"]

        self.assertIsNone(figures.values.get("shares"))
        self.assertIn("share_count", figures.unavailable)
        self.assertEqual(figures.values["likes"], 40)

    def test_a_private_video_known_by_its_publish_id_is_not_asked_for(self):
        found = self.adapter.post_metrics(ACCOUNT, ["v_pub_file~v2-1.7300"])

        self.assertEqual(len(self.http.calls), 0)
        self.assertEqual(found["v_pub_file~v2-1.7300"].values, {})
        self.assertIn("private (SELF_ONLY)", found["v_pub_file~v2-1.7300"].unavailable["views"])

    def test_a_429_says_when_to_come_back(self):
        body = {"data": {}, "error": {"code": "rate_limit_exceeded", "message": "slow down", "log_id": "L"}}
        self.http.add(responses.POST, QUERY, status=429, json=body, headers={"Retry-After": "30"})
        with self.assertRaises(RateLimited):
            self.adapter.post_metrics(ACCOUNT, ["7300000000000000001"])

    def test_it_reads_the_followers(self):
        user = {"open_id": ACCOUNT.account_id, "follower_count": 321, "following_count": 4, "likes_count": 9}
        self.http.add(responses.GET, USER, **ok({"user": user}))

        figures = self.adapter.account_metrics(ACCOUNT)

        self.assertEqual(figures.values, {"followers": 321})
        self.assertEqual(figures.raw["likes_count"], 9)
        self.assertIn("follower_count", self.query(self.http.calls[0])["fields"])

    def test_an_account_without_user_info_stats_gives_no_followers_and_keeps_its_token(self):
        body = {"data": {}, "error": {"code": "scope_not_authorized", "message": "no scope", "log_id": "L"}}
        self.http.add(responses.GET, USER, status=401, json=body)

        figures = self.adapter.account_metrics(ACCOUNT)

        self.assertEqual(figures.values, {})
        self.assertIn("user.info.stats", figures.unavailable["followers"])

    def test_a_dead_token_on_user_info_is_refused(self):
        body = {"data": {}, "error": {"code": "access_token_invalid", "message": "bad", "log_id": "L"}}
        self.http.add(responses.GET, USER, status=401, json=body)
        with self.assertRaises(TokenExpired) as caught:
            self.adapter.account_metrics(ACCOUNT)
        self.assertNotIn("act.1", caught.exception.message)
