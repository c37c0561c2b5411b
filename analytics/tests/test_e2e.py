"""Engagement figures over the wire (issue 24): a real worker publishes a post on the seven
networks through the stand-in, then reads each one's figures on the analytics queue. X answers the
first analytics read with a 429, which defers the analytics only (a second X post goes out at
once); Instagram no longer gives "saved", which is recorded unavailable, not zero. The posts an
account made outside planrrr are listed (the backfill), tracked and read on every network that
lists them."""

from datetime import timedelta

from django.utils import timezone

from analytics import selectors
from analytics.models import ChannelDay, ChannelSync, ExternalPost, QuotaUse, Tracking
from analytics.tests.base import Published
from connections.models import Connection
from devtools.stack import ACCOUNTS, DETAILS
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase
from webhooks import services as webhooks
from webhooks.models import Event

NETWORKS = ("FACEBOOK", "TWITTER", "INSTAGRAM", "LINKEDIN", "BLUESKY", "MASTODON", "THREADS")
ANALYTICS = {
    "ANALYTICS_SWEEP_INTERVAL_SECONDS": "0.3",
    "ANALYTICS_FIRST_SYNC_SECONDS": "0",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "THREADS_PUBLISH_WAIT_SECONDS": "1",
}


# Videos and pins made before (the stand-in's _control/posts): their figures grow from then.
MADE = {"TIKTOK": "7300000000000000042", "YOUTUBE": "e2eVideo042", "PINTEREST": "1130405700000000042"}
# Beside the image pin above, a video pin: its play time is watchSeconds.
VIDEO_PIN = "1130405700000000043"


class AnalyticsOverTheWireTests(Published, PublishingLiveTestCase):
    def channels(self) -> dict[str, Connection]:
        found = {"FACEBOOK": self.facebook, "TWITTER": self.twitter}
        servers = {"BLUESKY": self.mock.bluesky_url, "MASTODON": self.mock.mastodon_url}
        for platform in ("INSTAGRAM", "LINKEDIN", "BLUESKY", "MASTODON", "THREADS"):
            found[platform] = Connection.objects.create(
                team=self.team,
                platform=platform,
                account_id=ACCOUNTS[platform],
                name=platform.title(),
                access_token=f"e2e_{platform.lower()}",
                base_url=servers.get(platform, ""),
            )
        return found

    def test_figures_are_read_from_every_network_and_a_429_defers_only_the_analytics(self):
        channels = self.channels()
        self.mock.configure(threads_publish_lag_seconds=0, container_polls_before_finished=0)
        self.mock.retire_metrics("INSTAGRAM", ["saved"])
        self.mock.fail("TWITTER", "rate_limit", times=1, seconds=1, on="read")
        webhooks.endpoint_create(
            team=self.team, url=f"{self.live_server_url}/mock/_control/", events=["post.analytics_available"]
        )
        self.start_worker("default", "webhooks", "analytics", **ANALYTICS)

        post = services.post_create(
            team=self.team,
            content="Our autumn menu is here.",
            channels=[channel.pk for channel in channels.values()],
            variants={"INSTAGRAM": {"media_urls": [self.mock.media_url("a.jpg")]}},
            scheduled_at=timezone.now(),
        )
        self.assertEqual(self.wait_until_final(post, timeout=30).status, Post.Status.PUBLISHED, self.worker_logs())

        def all_read():
            # A channel's own figures come after its posts', in the same job or, when the job's slice
            # ended first (a loaded machine), in the next.
            read = Tracking.objects.filter(publication__post=post, captured_at__isnull=False).count()
            days = ChannelDay.objects.filter(connection__in=channels.values()).count()
            # X's channel figures are written before its job ends; the job's end writes its state.
            x_ended = ChannelSync.objects.filter(
                pk=self.twitter.pk, last_synced_at__isnull=False, claimed_until__isnull=True
            ).exists()
            return read == len(NETWORKS) and days == len(NETWORKS) and x_ended

        def state() -> str:
            channels = list(ChannelSync.objects.values("pk", "claimed_until", "waits_until", "status_detail"))
            trackings = list(Tracking.objects.values("platform", "next_sync_at", "captured_at", "error"))
            return f"channels {channels}, trackings {trackings}, workers: {self.worker_logs()}"

        try:
            wait_for(all_read, timeout=60, message="every network's figures")
        except AssertionError as failed:
            raise AssertionError(f"{failed}: {state()}") from None

        for tracking in Tracking.objects.filter(publication__post=post):
            with self.subTest(platform=tracking.platform):
                self.assertIsNotNone(tracking.likes, tracking.unavailable)
                self.assertIsNotNone(tracking.comments, tracking.unavailable)
                self.assertEqual(tracking.error, "")
                self.assertIsNotNone(tracking.next_sync_at)
                self.assertTrue(ChannelDay.objects.filter(connection_id=tracking.connection_id).exists())
        instagram = Tracking.objects.get(publication__post=post, platform="INSTAGRAM")
        self.assertIsNone(instagram.saves, "a retired metric is unavailable, not zero")
        self.assertIn("no longer gives 'saved'", instagram.unavailable["saves"])
        self.assertIsNotNone(instagram.reach, "the others are still read")
        self.assertIsNone(instagram.watch_seconds)
        self.assertIn("Not a video", instagram.unavailable["watchSeconds"], "an image: Meta refuses the Reels metrics")
        x = Tracking.objects.get(publication__post=post, platform="TWITTER")
        self.assertIsNotNone(x.views)
        self.assertIsNone(x.reach)
        # X's first analytics read was refused (429) and read again after its reset; publishing
        # on the account was never deferred by it.
        reads = [r for r in self.mock.requests("TWITTER", method="GET") if r["status"] in (200, 429)]
        self.assertEqual(reads[0]["status"], 429)
        self.assertTrue(any(r["status"] == 200 and r["path"].endswith("/2/tweets") for r in reads[1:]))
        self.twitter.refresh_from_db()
        self.assertIsNone(self.twitter.rate_limited_until)
        self.assertEqual(ChannelSync.objects.get(pk=self.twitter.pk).status_detail, "", "cleared once read")
        self.assertEqual(Event.objects.filter(team=self.team, type="post.analytics_available").count(), len(NETWORKS))

        second = services.post_create(
            team=self.team, content="A second post, at once.", platforms=["TWITTER"], scheduled_at=timezone.now()
        )
        self.assertEqual(self.wait_until_final(second, timeout=15).status, Post.Status.PUBLISHED)
        self.assertLess(second.published_at - second.scheduled_at, timedelta(seconds=5))

    def test_tiktok_youtube_pinterest_and_a_business_locations_figures_are_read_and_a_429_defers_only_them(self):
        channels = {
            platform: Connection.objects.create(
                team=self.team,
                platform=platform,
                account_id=ACCOUNTS[platform],
                name=platform.title(),
                access_token=f"e2e_{platform.lower()}",
            )
            for platform in (*MADE, "GOOGLE_BUSINESS")
        }
        for platform, external_id in MADE.items():
            self.mock.seed_posts(
                platform, ACCOUNTS[platform], [{"id": external_id, "text": "Autumn", "age_seconds": 7200}]
            )
            self.published(channels[platform], external_id)
        video_pin = {
            "id": VIDEO_PIN,
            "text": "Autumn, the film",
            "age_seconds": 7200,
            "extra": {"creative_type": "VIDEO"},
        }
        self.mock.seed_posts("PINTEREST", ACCOUNTS["PINTEREST"], [video_pin])
        self.published(channels["PINTEREST"], VIDEO_PIN)
        # Made in the apps, 40 days ago, not through planrrr: found by the channels' backfill.
        outside = {"TIKTOK": "7300000000000000099", "YOUTUBE": "e2eOutside99"}
        for platform, external_id in outside.items():
            age = 40 * 86400
            self.mock.seed_posts(platform, ACCOUNTS[platform], [{"id": external_id, "text": "Hi", "age_seconds": age}])
        local_post = f"{ACCOUNTS['GOOGLE_BUSINESS']}/localPosts/e2e1"
        self.published(channels["GOOGLE_BUSINESS"], local_post)
        self.mock.retire_metrics("TIKTOK", ["share_count"])
        self.mock.fail("YOUTUBE", "rate_limit", times=1, seconds=1, on="read")
        self.start_worker("default", "webhooks", "analytics", **ANALYTICS)

        def all_read():
            read = Tracking.objects.filter(
                external_id__in=[*MADE.values(), VIDEO_PIN], captured_at__isnull=False
            ).count()
            business = Tracking.objects.filter(external_id=local_post, next_sync_at__isnull=True).exists()
            days = ChannelDay.objects.filter(connection__in=channels.values()).count()
            found = ExternalPost.objects.filter(external_id__in=outside.values(), captured_at__isnull=False).count()
            listed = ChannelSync.objects.filter(pk=channels["PINTEREST"].pk, backfill_done_at__isnull=False).exists()
            return read == len(MADE) + 1 and business and days == len(channels) and found == len(outside) and listed

        try:
            wait_for(all_read, timeout=60, message="the figures of TikTok, YouTube, Pinterest and the location")
        except AssertionError as failed:
            states = list(
                ChannelSync.objects.values("pk", "claimed_until", "waits_until", "status_detail", "backfill_detail")
            )
            states.append(list(ExternalPost.objects.values("platform", "external_id", "captured_at", "error")))
            raise AssertionError(
                f"{failed}: {states}, {list(Tracking.objects.values())}, {self.worker_logs()}"
            ) from None

        figures = {t.platform: t for t in Tracking.objects.filter(external_id__in=MADE.values())}
        tiktok, youtube, pinterest = figures["TIKTOK"], figures["YOUTUBE"], figures["PINTEREST"]
        self.assertGreater(tiktok.views, 0)
        self.assertEqual(tiktok.video_views, tiktok.views)
        self.assertIsNotNone(tiktok.likes)
        self.assertIsNone(tiktok.shares, "a retired metric is unavailable, not zero")
        self.assertIn("share_count", tiktok.unavailable)
        self.assertIn("planrrr reads no watch time from TikTok", tiktok.unavailable["watchSeconds"])
        self.assertGreater(youtube.views, 0)
        self.assertIsNotNone(youtube.comments)
        self.assertIn("no figures for this video yet", youtube.unavailable["watchSeconds"], "2 hours old")
        self.assertGreater(pinterest.views, 0)
        self.assertIsNotNone(pinterest.saves)
        # Reactions and comments are the pin's lifetime counts (lifetime_metrics); an image pin has no
        # play time, which is unavailable, not zero.
        self.assertGreater(pinterest.likes, 0)
        self.assertGreater(pinterest.comments, 0)
        self.assertEqual(pinterest.raw["TOTAL_REACTIONS"], pinterest.likes)
        self.assertIsNone(pinterest.watch_seconds)
        self.assertIn("a video pin's only", pinterest.unavailable["watchSeconds"])
        self.assertIsNone(pinterest.video_views)
        film = Tracking.objects.get(external_id=VIDEO_PIN)
        self.assertGreater(film.video_views, 0)
        self.assertGreater(film.watch_seconds, 0, film.unavailable)
        self.assertEqual(film.watch_seconds, film.raw["VIDEO_V50_WATCH_TIME"] // 1000, "milliseconds, whole seconds")
        self.assertIn("VIDEO_AVG_WATCH_TIME", film.raw)
        self.assertIsNotNone(film.comments)
        business = Tracking.objects.get(external_id=local_post)
        self.assertIsNone(business.captured_at)
        self.assertIn("reportInsights", business.error)
        day = ChannelDay.objects.get(connection=channels["GOOGLE_BUSINESS"])
        self.assertIn("WEBSITE_CLICKS", day.raw)
        self.assertIsNone(day.followers)
        self.assertEqual(ChannelDay.objects.get(connection=channels["TIKTOK"]).followers > 0, True)
        self.assertIsNotNone(ChannelDay.objects.get(connection=channels["YOUTUBE"]).followers)
        self.assertIsNotNone(ChannelDay.objects.get(connection=channels["PINTEREST"]).followers)
        # YouTube's first read answered 429: read again after it, the channel's publishing untouched;
        # every call, the refused one too, spent a unit of the project's quota.
        # (The YouTube Analytics API's reports spend none of them.)
        youtube_gets = self.mock.requests("YOUTUBE", method="GET")
        reads = [r["status"] for r in youtube_gets if r["status"] in (200, 429) and "v2/reports" not in r["path"]]
        self.assertEqual(reads[0], 429)
        self.assertIn(200, reads[1:])
        channels["YOUTUBE"].refresh_from_db()
        self.assertIsNone(channels["YOUTUBE"].rate_limited_until)
        self.assertEqual(QuotaUse.objects.get(platform="YOUTUBE").units, len(reads))
        # The backfill found the posts made outside planrrr only, read them, and shows them as such.
        for platform, external_id in outside.items():
            post = ExternalPost.objects.get(connection=channels[platform])
            self.assertEqual(post.external_id, external_id, "planrrr's own post is not taken")
            self.assertGreater(post.views, 0)
            self.assertGreater(post.next_sync_at - post.captured_at, timedelta(days=6), "weekly at 40 days")
            if platform == "YOUTUBE":
                self.assertGreater(post.watch_seconds, 0, "from the YouTube Analytics API's report")
        now = timezone.now()
        answer = selectors.channel_analytics(channel=channels["TIKTOK"], start=now - timedelta(days=90), end=now)
        self.assertEqual(answer["backfill"]["state"], "done")
        self.assertEqual([p["externalId"] for p in answer["externalPosts"]], [outside["TIKTOK"]])
        self.assertFalse(answer["externalPosts"][0]["publishedByPlanrrr"])
        summary = selectors.summary(team_id=self.team.pk, start=now - timedelta(days=60), end=now)
        self.assertEqual(summary["notByPlanrrr"]["posts"], len(outside))
        # Pinterest lists its pins too: its only one is planrrr's, not taken.
        self.assertIn(
            "0 posts made outside planrrr", ChannelSync.objects.get(pk=channels["PINTEREST"].pk).backfill_detail
        )
        self.assertFalse(ExternalPost.objects.filter(connection=channels["PINTEREST"]).exists())

    def test_the_posts_made_outside_planrrr_on_the_five_graph_and_rest_networks_are_listed_tracked_and_read(self):
        """Facebook, Instagram, Threads, LinkedIn and Pinterest: each lists the account's own posts of the
        last 90 days, planrrr's own left out, and what is not the account's post (an Instagram story, a
        Threads repost, a LinkedIn draft, a repin) too; a 429 on LinkedIn defers its analytics only; an
        expired Threads token skips that channel, saying so."""
        day = 86400
        channels = {"FACEBOOK": self.facebook}
        for platform in ("INSTAGRAM", "THREADS", "LINKEDIN", "PINTEREST"):
            channels[platform] = Connection.objects.create(
                team=self.team,
                platform=platform,
                account_id=ACCOUNTS[platform],
                name=platform.title(),
                access_token=f"e2e_{platform.lower()}",
                details=DETAILS.get(platform, {}),
            )
        expired = Connection.objects.create(
            team=self.team, platform="THREADS", account_id="7362450999999999", access_token="e2e_expired"
        )
        ids = {
            "FACEBOOK": f"{ACCOUNTS['FACEBOOK']}_7700",
            "INSTAGRAM": "1780000000007700",
            "THREADS": "1800000000007700",
            "LINKEDIN": "urn:li:share:730000000007700",
            "PINTEREST": "113040570007700",
        }
        not_the_accounts = {
            "INSTAGRAM": {"media_product_type": "STORY"},
            "THREADS": {"media_type": "REPOST_FACADE"},
            "LINKEDIN": {"lifecycle_state": "DRAFT"},
            "PINTEREST": {"parent_pin_id": "99"},
        }
        for platform, channel in channels.items():
            made = ids[platform]
            # Oldest first: the stand-in lists the latest made first.
            posts = [
                {"id": f"{made}1", "text": "Before the 90 days", "age_seconds": 100 * day},
                {"id": f"{made}2", "text": "Made in the app", "age_seconds": 40 * day},
                {"id": f"{made}3", "text": "Through planrrr", "age_seconds": 3600},
            ]
            if platform in not_the_accounts:
                posts.append(
                    {"id": f"{made}4", "text": "Not a post", "age_seconds": 60, "extra": not_the_accounts[platform]}
                )
            self.mock.seed_posts(platform, ACCOUNTS[platform], posts)
            self.published(channel, f"{made}3")
        self.mock.fail("LINKEDIN", "rate_limit", times=1, seconds=1, on="read")
        self.start_worker("default", "analytics", **ANALYTICS)

        def all_read():
            done = ChannelSync.objects.filter(connection__in=channels.values(), backfill_done_at__isnull=False)
            read = ExternalPost.objects.filter(captured_at__isnull=False).count()
            expired.refresh_from_db()
            # The account is marked expired inside the job; the job's end writes why on its state.
            told = ChannelSync.objects.filter(pk=expired.pk, claimed_until__isnull=True).exclude(status_detail="")
            return (
                done.count() == len(channels)
                and read == len(channels)
                and expired.status == Connection.Status.EXPIRED
                and told.exists()
            )

        try:
            wait_for(all_read, timeout=60, message="the five networks' posts made outside planrrr")
        except AssertionError as failed:
            states = list(
                ChannelSync.objects.values("pk", "claimed_until", "waits_until", "status_detail", "backfill_detail")
            )
            raise AssertionError(
                f"{failed}: {states}, {list(ExternalPost.objects.values())}, {self.worker_logs()}"
            ) from None

        for platform, channel in channels.items():
            with self.subTest(platform=platform):
                post = ExternalPost.objects.get(connection=channel)
                self.assertEqual(post.external_id, f"{ids[platform]}2", "only the account's own, made outside planrrr")
                self.assertGreater(post.views, 0)
                self.assertGreater(post.next_sync_at - post.captured_at, timedelta(days=6), "weekly at 40 days")
                self.assertIn("1 posts made outside planrrr", ChannelSync.objects.get(pk=channel.pk).backfill_detail)
        self.assertTrue(
            ExternalPost.objects.get(connection=channels["LINKEDIN"]).url.startswith("https://www.linkedin.com/")
        )
        # LinkedIn's first read was refused (429) and made again after it; its publishing was never deferred.
        reads = [r["status"] for r in self.mock.requests("LINKEDIN", method="GET") if r["status"] in (200, 429)]
        self.assertEqual(reads[0], 429)
        channels["LINKEDIN"].refresh_from_db()
        self.assertIsNone(channels["LINKEDIN"].rate_limited_until)
        state = ChannelSync.objects.get(pk=expired.pk)
        # Refused once ("The Threads token was refused: reconnect…"), then skipped while expired, saying so.
        self.assertRegex(state.status_detail, r"(token was refused|account is expired).*reconnect")
        self.assertIn("code 190", state.status_detail)
        self.assertIsNone(state.backfill_done_at, "listed once reconnected")
