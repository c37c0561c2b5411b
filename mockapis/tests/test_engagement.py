"""The stand-ins' engagement figures: counts that grow with a post's age and never go back, in each
platform's shape, and a metric retired by ``_control/analytics`` (Graph refuses it with code 100,
the others leave it out)."""

import json
import time

from mockapis import engagement
from mockapis.state import store
from mockapis.tests.base import PAGE, X_TOKEN, StandInTestCase


class EngagementTests(StandInTestCase):
    def test_a_count_grows_with_the_posts_age_and_never_goes_back(self):
        now = time.time()
        counts = [engagement.count("1", now - age, "like_count", now=now) for age in (60, 3600, 86400, 30 * 86400)]
        self.assertEqual(counts, sorted(counts))
        self.assertGreater(counts[-1], counts[0])
        self.assertGreater(engagement.count("1", now - 3600, "impression_count", now=now), counts[1], "views run ahead")

    def test_x_answers_public_metrics_for_up_to_a_hundred_ids(self):
        post, _ = store.create_post("TWITTER", "2244994945", "Hello", make_id=store.snowflake)
        answer = self.client.get(
            "/x/2/tweets",
            {"ids": f"{post.id},123", "tweet.fields": "public_metrics"},
            HTTP_AUTHORIZATION=f"Bearer {X_TOKEN}",
        ).json()
        self.assertEqual(answer["data"][0]["id"], post.id)
        self.assertIn("impression_count", answer["data"][0]["public_metrics"])
        self.assertEqual(answer["errors"][0]["resource_id"], "123")
        too_many = ",".join(str(i) for i in range(101))
        self.assertEqual(
            self.client.get("/x/2/tweets", {"ids": too_many}, HTTP_AUTHORIZATION="Bearer t").status_code, 400
        )

    def test_a_retired_metric_fails_a_graph_call_and_is_left_out_elsewhere(self):
        self.client.post(
            "/_control/analytics",
            json.dumps({"platform": "INSTAGRAM", "retire": ["saved"]}),
            content_type="application/json",
        )
        self.client.post(
            "/_control/analytics",
            json.dumps({"platform": "TWITTER", "retire": ["impression_count"]}),
            content_type="application/json",
        )
        media, _ = store.create_post("INSTAGRAM", PAGE, "Hi", make_id=lambda: "179000")
        refused = self.graph("GET", "179000/insights", {"metric": "reach,saved"})
        self.assertEqual(refused.status_code, 400)
        self.assertEqual(refused.json()["error"]["code"], 100)
        self.assertIn("saved metric is no longer supported", refused.json()["error"]["message"])
        self.assertEqual(
            [d["name"] for d in self.graph("GET", "179000/insights", {"metric": "reach"}).json()["data"]], ["reach"]
        )
        tweet, _ = store.create_post("TWITTER", "2244994945", "Hello", make_id=store.snowflake)
        metrics = self.client.get(
            "/x/2/tweets", {"ids": tweet.id, "tweet.fields": "public_metrics"}, HTTP_AUTHORIZATION=f"Bearer {X_TOKEN}"
        ).json()["data"][0]["public_metrics"]
        self.assertNotIn("impression_count", metrics)
        self.assertIn("like_count", metrics)

    def test_a_reel_and_a_page_video_give_their_watch_time_in_milliseconds_growing_with_age(self):
        reel, _ = store.create_post("INSTAGRAM", PAGE, "Reel", make_id=lambda: "179001", media_product_type="REELS")
        photo, _ = store.create_post("INSTAGRAM", PAGE, "Photo", make_id=lambda: "179002")
        store.put("videos", "5551", {"id": "5551", "page": PAGE})
        video, _ = store.create_post("FACEBOOK", PAGE, "Video", make_id=lambda: "5551")
        for post in (reel, photo, video):
            post.created = time.time() - 86400

        def watched(path: str, metrics: str) -> dict:
            answer = self.graph("GET", path, {"metric": metrics})
            self.assertEqual(answer.status_code, 200, answer.content)
            return {d["name"]: d["values"][0]["value"] for d in answer.json()["data"]}

        first = watched("179001/insights", "views,ig_reels_video_view_total_time,ig_reels_avg_watch_time")
        self.assertEqual(first["ig_reels_video_view_total_time"], first["views"] * 4_200)
        self.assertEqual(first["ig_reels_avg_watch_time"], 4_200)
        reel.created -= 30 * 86400
        later = watched("179001/insights", "ig_reels_video_view_total_time")
        self.assertGreater(later["ig_reels_video_view_total_time"], first["ig_reels_video_view_total_time"])

        refused = self.graph_error(self.graph("GET", "179002/insights", {"metric": "views,ig_reels_avg_watch_time"}))
        self.assertEqual(refused["code"], 100)
        self.assertIn(
            "does not support the ig_reels_avg_watch_time metric for this media product type", refused["message"]
        )

        page_video = watched("5551/video_insights", "total_video_view_total_time,total_video_avg_time_watched")
        self.assertGreater(page_video["total_video_view_total_time"], 0)
        self.assertEqual(page_video["total_video_avg_time_watched"], 4_200)
        not_video = self.graph_error(
            self.graph("GET", "179002/video_insights", {"metric": "total_video_view_total_time"})
        )
        self.assertEqual(not_video["error_subcode"], 33)

    def test_a_pin_gives_its_lifetime_comments_and_reactions_and_a_video_pin_its_play_time_in_milliseconds(self):
        from connections.platforms.pinterest.standin import AVERAGE_PLAY_MS, PEOPLE

        owner = PEOPLE[0]["id"]
        video, _ = store.create_post("PINTEREST", owner, "Video", make_id=lambda: "113001", creative_type="VIDEO")
        image, _ = store.create_post("PINTEREST", owner, "Image", make_id=lambda: "113002", creative_type="REGULAR")
        for post in (video, image):
            post.created = time.time() - 86400
        today = time.strftime("%Y-%m-%d", time.gmtime())
        asked = "IMPRESSION,VIDEO_MRC_VIEW,TOTAL_COMMENTS,TOTAL_REACTIONS,VIDEO_V50_WATCH_TIME,VIDEO_AVG_WATCH_TIME"

        def analytics(pin_id: str) -> dict:
            answer = self.client.get(
                f"/pinterest/v5/pins/{pin_id}/analytics",
                {"start_date": today, "end_date": today, "metric_types": asked, "app_types": "ALL"},
                HTTP_AUTHORIZATION="Bearer pina_e2e",
            )
            self.assertEqual(answer.status_code, 200, answer.content)
            return answer.json()["all"]

        first = analytics("113001")
        self.assertEqual(set(first["lifetime_metrics"]), {"TOTAL_COMMENTS", "TOTAL_REACTIONS"})
        self.assertTrue(all(isinstance(v, int) for v in first["lifetime_metrics"].values()))
        summary = first["summary_metrics"]
        self.assertNotIn("TOTAL_COMMENTS", summary, "lifetime counts are not in the summary")
        self.assertEqual(summary["VIDEO_V50_WATCH_TIME"], int(summary["VIDEO_MRC_VIEW"] * AVERAGE_PLAY_MS))
        self.assertEqual(summary["VIDEO_AVG_WATCH_TIME"], 2507.75)
        self.assertGreater(summary["VIDEO_V50_WATCH_TIME"], 0)
        video.created -= 30 * 86400
        later = analytics("113001")
        self.assertGreater(later["summary_metrics"]["VIDEO_V50_WATCH_TIME"], summary["VIDEO_V50_WATCH_TIME"])
        self.assertGreater(later["lifetime_metrics"]["TOTAL_REACTIONS"], first["lifetime_metrics"]["TOTAL_REACTIONS"])

        pin = analytics("113002")
        self.assertEqual(set(pin["summary_metrics"]), {"IMPRESSION"}, "an image pin has no video metrics")
        self.assertEqual(set(pin["lifetime_metrics"]), {"TOTAL_COMMENTS", "TOTAL_REACTIONS"})
        self.client.post(
            "/_control/analytics",
            json.dumps({"platform": "PINTEREST", "retire": ["TOTAL_COMMENTS"]}),
            content_type="application/json",
        )
        self.assertEqual(set(analytics("113002")["lifetime_metrics"]), {"TOTAL_REACTIONS"}, "retired: left out")
