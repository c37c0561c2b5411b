"""YouTube's reads spend only the analytics' share of the project's daily quota (analytics.services.quota,
publishing.services.caps.analytics_quota_units), counted across the installation; Google Business
Profile's posts stop with Google's reason while its locations are read; a private TikTok video stops
saying why."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import responses
from django.test import TestCase, override_settings

from analytics.models import ChannelDay, ChannelSync, QuotaUse, Tracking
from analytics.services import sweep, sync
from analytics.tests.base import Published
from connections.models import Connection
from devtools.testing import flush_redis
from publishing.services.caps import analytics_quota_units
from publishing.tests.base import Actors

YOUTUBE = "https://youtube.test"
YOUTUBE_ANALYTICS = "https://youtubeanalytics.test"
PERFORMANCE = "https://performance.test"
TIKTOK = "https://tiktok.test"
# 23:30 in Los Angeles on 1 March: the Pacific day ends in half an hour.
LATE = datetime(2025, 3, 2, 7, 30, tzinfo=UTC)


def statistics(*ids: str) -> dict:
    return {"items": [{"id": i, "statistics": {"viewCount": "10", "likeCount": "1", "commentCount": "0"}} for i in ids]}


@override_settings(
    YOUTUBE_API_URL=YOUTUBE,
    YOUTUBE_ANALYTICS_URL=YOUTUBE_ANALYTICS,
    GOOGLE_BUSINESS_PERFORMANCE_URL=PERFORMANCE,
    TIKTOK_API_URL=TIKTOK,
    ANALYTICS_FIRST_SYNC_SECONDS=0,
    ANALYTICS_JOB_SECONDS=60,
)
class QuotaTests(Published, Actors, TestCase):
    def setUp(self):
        super().setUp()
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.http = responses.RequestsMock(assert_all_requests_are_fired=True)
        self.http.start()
        self.addCleanup(self.http.stop)
        self.addCleanup(self.http.reset)

    def channel(self, platform: str, account_id: str) -> Connection:
        return Connection.objects.create(team=self.team, platform=platform, account_id=account_id, access_token="t")

    def test_the_analytics_share_leaves_publishing_its_uploads_and_reads(self):
        # The default project: uploads in their own bucket of 100; the 10,000 other units shared by
        # publishing's reads (20 per upload it may make) and the analytics.
        self.assertEqual(analytics_quota_units("YOUTUBE"), 5000)
        with override_settings(YOUTUBE_ANALYTICS_DAILY_UNITS=9999):
            self.assertEqual(analytics_quota_units("YOUTUBE"), 10_000 - 100 * 20)
        # The older model: an upload costs 1,600 of the same 10,000: 6 uploads and their reads first.
        with override_settings(YOUTUBE_DAILY_QUOTA_UNITS=10_000, YOUTUBE_UPLOAD_COST_UNITS=1600):
            self.assertEqual(analytics_quota_units("YOUTUBE"), 10_000 - 6 * 1600 - 6 * 20)
        self.assertIsNone(analytics_quota_units("TWITTER"))

    def test_a_spent_share_waits_for_the_next_pacific_day_across_every_channel(self):
        first, second = self.channel("YOUTUBE", "UCfirst"), self.channel("YOUTUBE", "UCsecond")
        self.published_many(first, ["a1", "a2"])
        self.published_many(second, ["b1"])
        sweep.trackings_start()
        Tracking.objects.update(published_at=LATE - timedelta(hours=2), next_sync_at=LATE - timedelta(hours=1))
        ChannelSync.objects.bulk_create(
            ChannelSync(connection=c, next_account_sync_at=LATE + timedelta(days=9)) for c in (first, second)
        )
        self.http.add(responses.GET, f"{YOUTUBE}/youtube/v3/videos", json=statistics("a1", "a2"))
        # Their report in the YouTube Analytics API, whose quota is its own: no unit of the project's.
        headers = [{"name": "video"}, *({"name": m} for m in ("estimatedMinutesWatched", "averageViewDuration"))]
        report = {"columnHeaders": [*headers, {"name": "views"}, {"name": "shares"}], "rows": [["a1", 7, 60, 5, 1]]}
        self.http.add(responses.GET, f"{YOUTUBE_ANALYTICS}/v2/reports", json=report)

        with override_settings(YOUTUBE_DAILY_QUOTA_UNITS=10_000, YOUTUBE_UPLOAD_COST_UNITS=1600):
            QuotaUse.objects.create(platform="YOUTUBE", day=LATE.date() - timedelta(days=1), units=279)
            with mock.patch("django.utils.timezone.now", return_value=LATE):
                sync.channel_sync(connection_id=first.pk, now=LATE)
                state = sync.channel_sync(connection_id=second.pk, now=LATE)

        self.assertEqual(Tracking.objects.filter(connection=first, captured_at__isnull=False).count(), 2)
        self.assertEqual(QuotaUse.objects.get().units, 280, "one read made, the one unit left: the report spends none")
        self.assertEqual(Tracking.objects.get(external_id="a1").watch_seconds, 420)
        self.assertEqual(Tracking.objects.filter(connection=second, captured_at__isnull=False).count(), 0)
        self.assertEqual(state.waits_until, datetime(2025, 3, 2, 8, 0, tzinfo=UTC), "midnight in Los Angeles")
        self.assertIn("share of the app's daily quota (280 units on 2025-03-01", state.status_detail)
        self.assertIn("kept for publishing", state.status_detail)

    def test_a_business_locations_posts_stop_saying_why_and_its_daily_figures_are_read(self):
        location = self.channel("GOOGLE_BUSINESS", "accounts/1/locations/2")
        self.published(location, "accounts/1/locations/2/localPosts/9")
        sweep.trackings_start()
        body = {
            "multiDailyMetricTimeSeries": [
                {
                    "dailyMetricTimeSeries": [
                        {
                            "dailyMetric": "WEBSITE_CLICKS",
                            "timeSeries": {
                                "datedValues": [{"date": {"year": 2025, "month": 3, "day": 1}, "value": "5"}]
                            },
                        }
                    ]
                }
            ]
        }
        self.http.add(responses.GET, f"{PERFORMANCE}/v1/locations/2:fetchMultiDailyMetricsTimeSeries", json=body)

        state = sync.channel_sync(connection_id=location.pk)

        tracking = Tracking.objects.get(connection=location)
        self.assertIsNone(tracking.next_sync_at)
        self.assertIn("no figures per Business Profile post", tracking.error)
        self.assertEqual(ChannelDay.objects.get(connection=location).raw, {"WEBSITE_CLICKS": 5})
        self.assertEqual(state.status_detail, "")

    def test_a_private_tiktok_video_stops_saying_why_and_is_never_asked_for(self):
        account = self.channel("TIKTOK", "-000samsoloOpenId")
        self.published(account, "v_pub_file~v2-1.7300")
        sweep.trackings_start()
        ChannelSync.objects.create(connection=account, next_account_sync_at=None)
        user = {"open_id": "-000samsoloOpenId", "follower_count": 3}
        ok = {"code": "ok", "message": "", "log_id": "L"}
        self.http.add(responses.GET, f"{TIKTOK}/v2/user/info/", json={"data": {"user": user}, "error": ok})

        sync.channel_sync(connection_id=account.pk)

        tracking = Tracking.objects.get(connection=account)
        self.assertIsNone(tracking.next_sync_at)
        self.assertIsNone(tracking.captured_at, "no reading of nothing")
        self.assertIn("private (SELF_ONLY)", tracking.error)
