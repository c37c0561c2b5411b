"""The analytics API: a post's figures over time, a channel's, a team's summary, in JSON and CSV,
with the team's keys only."""

from datetime import timedelta

from django.utils import timezone

from analytics.models import ChannelDay, ChannelSync, ExternalPost, Snapshot, Tracking
from analytics.tests.base import Published
from api.tests.base import ApiTestCase


class AnalyticsApiTests(Published, ApiTestCase):
    def setUp(self):
        super().setUp()
        self.now = timezone.now()
        self.publication = self.published(self.twitter, "111", at=self.now - timedelta(hours=3), content="Best coffee")
        self.tracking = self.track(self.publication, views=900, likes=40, comments=2, shares=4, saves=5)
        for hours, views in ((2, 300), (1, 900)):
            Snapshot.objects.create(
                publication_id=self.publication.pk,
                captured_at=self.now - timedelta(hours=hours),
                team_id=self.team.pk,
                views=views,
                likes=views // 20,
                raw={"impression_count": views},
                unavailable=["reach"],
            )

    def track(self, publication, **figures) -> Tracking:
        return Tracking.objects.create(
            publication=publication,
            team=self.team,
            connection=publication.connection,
            platform=publication.platform,
            external_id=publication.external_id,
            published_at=publication.published_at,
            captured_at=self.now - timedelta(hours=1),
            first_captured_at=self.now - timedelta(hours=2),
            next_sync_at=self.now + timedelta(hours=1),
            raw={"impression_count": figures.get("views", 0)},
            unavailable={"reach": "X gives no reach (unique viewers) in public_metrics."},
            **figures,
        )

    def test_a_post_answers_its_series_latest_and_what_the_platform_does_not_give(self):
        response = self.client_for(self.read_key).get(f"/api/v1/posts/{self.publication.post_id}/analytics")

        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(body["capturedAt"], self.tracking.captured_at.isoformat().replace("+00:00", "Z"))
        self.assertIsNotNone(body["nextSyncAt"])
        [item] = body["publications"]
        self.assertEqual(item["latest"]["views"], 900)
        self.assertIsNone(item["latest"]["reach"], "null, not zero")
        self.assertIn("reach", item["unavailable"])
        self.assertIn("clicks", item["unavailable"], "what X never gives, from its adapter")
        self.assertEqual([reading["views"] for reading in item["series"]], [300, 900])
        self.assertEqual(item["channelId"], self.twitter.pk)
        self.assertEqual(item["parts"], [], "a single post has no parts")

    def test_a_post_answers_csv_by_format_or_accept(self):
        for response in (
            self.api.get(f"/api/v1/posts/{self.publication.post_id}/analytics?format=csv"),
            self.api.get(f"/api/v1/posts/{self.publication.post_id}/analytics", HTTP_ACCEPT="text/csv"),
        ):
            self.assertEqual(response.status_code, 200)
            self.assertTrue(response["Content-Type"].startswith("text/csv"))
            lines = response.content.decode().splitlines()
            self.assertEqual(
                lines[0],
                "publicationId,platform,channelId,capturedAt,views,reach,likes,comments,shares,saves,clicks,videoViews,watchSeconds",
            )
            self.assertEqual(len(lines), 3)
            self.assertIn(",TWITTER,", lines[1])

    def test_another_teams_post_or_channel_is_404_and_bad_input_is_400(self):
        theirs = self.outsiders_rows()
        self.assertEqual(self.api.get(f"/api/v1/posts/{theirs['posts']}/analytics").status_code, 404)
        self.assertEqual(self.api.get(f"/api/v1/channels/{theirs['channels']}/analytics").status_code, 404)
        response = self.api.get(f"/api/v1/posts/{self.publication.post_id}/analytics?format=xml")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response["Content-Type"], "application/problem+json")
        self.assertIn("format", response.json()["errors"])
        response = self.api.get(
            "/api/v1/analytics/summary?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&format=csv"
        )
        self.assertEqual((response.status_code, response["Content-Type"]), (400, "application/problem+json"))
        self.assertEqual(self.api.get("/api/v1/analytics/summary?top=0").status_code, 400)
        self.assertEqual(self.api.get("/api/v1/analytics/summary?from=yesterday").status_code, 400)
        self.assertEqual(self.client_for(None).get("/api/v1/analytics/summary").status_code, 401)

    def test_a_channel_answers_its_followers_by_day_and_why_it_waits(self):
        for days, followers in ((2, 100), (1, 110), (0, 125)):
            at = self.now - timedelta(days=days)
            ChannelDay.objects.create(connection=self.twitter, day=at.date(), captured_at=at, followers=followers)
        ChannelSync.objects.create(
            connection=self.twitter,
            waits_until=self.now + timedelta(hours=2),
            status_detail="X rate-limited the figures' reads: they are read again from ...",
        )

        body = self.api.get(f"/api/v1/channels/{self.twitter.pk}/analytics").json()

        self.assertEqual(body["followers"], 125)
        self.assertEqual([day["followers"] for day in body["days"]], [100, 110, 125])
        self.assertIn("rate-limited", body["status"])
        self.assertEqual(body["postsTracked"], 1)
        self.assertEqual(body["nextSyncAt"], (self.now + timedelta(hours=2)).isoformat().replace("+00:00", "Z"))
        csv = self.api.get(f"/api/v1/channels/{self.twitter.pk}/analytics?format=csv").content.decode().splitlines()
        self.assertEqual((csv[0], len(csv)), ("channelId,day,capturedAt,followers", 4))

    def test_a_linkedin_member_channel_says_why_it_has_no_figures(self):
        member = self.connect("LINKEDIN", "urn:li:person:abc", "token")
        body = self.api.get(f"/api/v1/channels/{member.pk}/analytics").json()
        self.assertIn("Community Management API", body["notOffered"])

    def test_the_summary_totals_by_network_and_channel_and_ranks_top_posts(self):
        other = self.published(self.facebook, "1_2", at=self.now - timedelta(hours=5), content="Our menu")
        self.track(other, views=5000, reach=3000, likes=10, comments=1, shares=0, saves=None)
        old = self.published(self.facebook, "1_3", at=self.now - timedelta(days=20))
        self.track(old, views=1, likes=999)

        body = self.api.get("/api/v1/analytics/summary").json()

        self.assertEqual(body["posts"], 2, "the last 7 days")
        self.assertEqual(body["totals"]["views"], 5900)
        self.assertEqual(body["totals"]["reach"], 3000)
        self.assertIsNone(body["totals"]["clicks"], "no post gave it")
        self.assertEqual({n["platform"]: n["views"] for n in body["byNetwork"]}, {"FACEBOOK": 5000, "TWITTER": 900})
        self.assertEqual([c["channelId"] for c in body["byChannel"]], sorted([self.twitter.pk, self.facebook.pk]))
        self.assertEqual([p["content"] for p in body["topPosts"]], ["Best coffee", "Our menu"])
        self.assertEqual(body["topPosts"][0]["engagement"], 51)
        csv = self.api.get("/api/v1/analytics/summary", HTTP_ACCEPT="text/csv").content.decode().splitlines()
        self.assertEqual(
            csv[0],
            "scope,platform,channelId,name,postId,posts,views,reach,likes,comments,shares,saves,clicks,videoViews,watchSeconds",
        )
        self.assertEqual(
            [line.split(",")[0] for line in csv[1:]], ["network", "network", "channel", "channel", "post", "post"]
        )

    def test_the_schema_lists_the_analytics_operations(self):
        schema = self.client_for(None).get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
        for path in ("/api/v1/posts/{id}/analytics", "/api/v1/channels/{id}/analytics", "/api/v1/analytics/summary"):
            self.assertIn("text/csv", schema["paths"][path]["get"]["responses"]["200"]["content"])

    def test_posts_made_outside_planrrr_are_shown_apart_and_marked_so(self):
        ChannelSync.objects.create(
            connection=self.twitter,
            backfill_since=self.now - timedelta(days=90),
            backfill_done_at=self.now,
            backfill_found=1,
            backfill_detail="1 posts made outside planrrr since ... found and tracked.",
        )
        ExternalPost.objects.create(
            connection=self.twitter,
            team=self.team,
            platform="TWITTER",
            external_id="999",
            published_at=self.now - timedelta(days=2),
            text="Made in the X app",
            url="https://x.com/i/status/999",
            found_at=self.now,
            captured_at=self.now,
            next_sync_at=self.now + timedelta(hours=6),
            views=70,
            likes=9,
        )

        channel = self.api.get(f"/api/v1/channels/{self.twitter.pk}/analytics").json()
        summary = self.api.get("/api/v1/analytics/summary").json()

        self.assertEqual(channel["backfill"]["state"], "done")
        self.assertEqual(channel["externalPostsTracked"], 1)
        [external] = channel["externalPosts"]
        self.assertEqual(
            (external["externalId"], external["publishedByPlanrrr"], external["views"]), ("999", False, 70)
        )
        self.assertEqual(channel["postsTracked"], 1, "planrrr's own, apart")
        self.assertEqual(summary["posts"], 1)
        self.assertEqual(summary["totals"]["views"], 900, "planrrr's posts only")
        self.assertTrue(summary["topPosts"][0]["publishedByPlanrrr"])
        self.assertEqual(summary["notByPlanrrr"]["posts"], 1)
        self.assertEqual(summary["notByPlanrrr"]["totals"]["likes"], 9)
        self.assertEqual(summary["notByPlanrrr"]["topPosts"][0]["url"], "https://x.com/i/status/999")
