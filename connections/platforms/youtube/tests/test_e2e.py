"""YouTube over the wire (issue 23): real workers uploading to the stand-in's YouTube Data API,
the channel connected through Google's OAuth flow (PKCE, offline access, the channel picker); its
figures, watch time from the YouTube Analytics API's reports (issue 24).

A video is a resumable upload in 256 KiB chunks here (YOUTUBE_UPLOAD_CHUNK_BYTES); the stand-in
counts every byte it receives per upload session, so "each byte once" is checked, not assumed.
"""

import secrets
from datetime import datetime, time, timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from analytics import selectors
from analytics.models import QuotaUse, Tracking
from analytics.services import sweep, sync
from analytics.tests.base import Published
from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.platforms import get_client
from connections.platforms.youtube import ANALYTICS_SCOPE
from connections.platforms.youtube.client import YouTubeClient
from connections.platforms.youtube.standin import sessions
from connections.services import connection_connect, connection_refresh
from devtools.testing import wait_for
from mockapis.media import BIG_VIDEO_BYTES
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

APP = {"GOOGLE_CLIENT_ID": "planrrr-e2e.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "e2e-google-secret"}
CHUNKS = {"YOUTUBE_UPLOAD_CHUNK_BYTES": str(256 * 1024), "YOUTUBE_PROCESSING_POLL_SECONDS": "1"}
PACIFIC = ZoneInfo("America/Los_Angeles")


class YouTubeCase(PublishingLiveTestCase):
    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **APP, **CHUNKS}

    def setUp(self):
        super().setUp()
        self.youtube = self.connect_youtube()

    def connect_youtube(self) -> Connection:
        """What the connect page does: Google's consent approved, the code exchanged with its PKCE
        verifier, the person's channel offered and picked."""
        client = get_client("YOUTUBE")
        redirect_uri = f"{self.live_server_url}/connect/youtube/callback"
        verifier = secrets.token_urlsafe(48)
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=verifier)
        self.authorize_query = parse_qs(urlsplit(url).query)
        code = parse_qs(urlsplit(self.mock.approve(url)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=verifier)
        (choice,) = client.accounts(grant)
        return connection_connect(team=self.team, choice=choice)[0]

    def post(self, content: str, video: str = "clip.mp4", **kwargs) -> Post:
        return services.post_create(
            team=self.team,
            content=content,
            channels=[self.youtube.pk],
            media_urls=[self.mock.media_url(video)],
            scheduled_at=kwargs.pop("scheduled_at", timezone.now()),
            **kwargs,
        )

    def videos(self) -> list[dict]:
        return self.mock.posts("YOUTUBE")


class YouTubePublishingTests(Published, YouTubeCase):
    def test_it_connects_the_channel_with_a_lasting_refresh_token_and_renews_it(self):
        for name, value in {"access_type": "offline", "prompt": "consent", "code_challenge_method": "S256"}.items():
            self.assertEqual(self.authorize_query[name], [value])
        self.assertEqual((self.youtube.account_id, self.youtube.name), ("UCAcmeCoffeeRoasters0001", "Acme Coffee"))
        self.assertTrue(self.youtube.refresh_token.startswith("1//"))
        self.assertTrue(self.youtube.refreshable)
        before = self.youtube.access_token
        connection_refresh(connection_id=self.youtube.pk, valid_for=timedelta(days=1))
        self.youtube.refresh_from_db()
        self.assertNotEqual(self.youtube.access_token, before)
        self.assertTrue(self.youtube.refresh_token.startswith("1//"), "Google sends no new one: the old one is kept")

    def test_a_refresh_token_ended_after_7_days_in_testing_asks_for_a_reconnect(self):
        (refresh,) = self.mock.issued_tokens("YOUTUBE", kind="refresh")
        self.mock.expire_token(refresh["token"])
        with self.assertRaises(OAuthFailure) as caught:
            connection_refresh(connection_id=self.youtube.pk, valid_for=timedelta(days=1))
        self.assertTrue(caught.exception.grant_dead)
        self.youtube.refresh_from_db()
        self.assertEqual(self.youtube.status, Connection.Status.EXPIRED)
        self.assertIn("Token has been expired or revoked", self.youtube.status_detail)
        self.assertIn(
            "7 days after consent while the Google Cloud project's OAuth consent screen is in 'Testing'",
            self.youtube.status_detail,
        )

    def test_a_cut_mid_upload_and_a_lost_last_answer_give_one_video_with_each_byte_sent_once(self):
        # The stand-in stores the chunk crossing 600,000 bytes up to there, then cuts the
        # connection; later the chunk that completes the file makes the video and the connection
        # drops unanswered.
        self.mock.configure(youtube_cut_at_bytes=600_000, youtube_polls_before_processed=0)
        self.mock.fail("YOUTUBE", "accept_then_drop", times=1, on="create")
        self.start_worker(**CHUNKS)
        post = self.post("Roasting day\nFrom green beans to the cup.", video="roast-big.mp4")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        (video,) = self.videos()
        (session,) = sessions()
        self.assertEqual(session["size"], BIG_VIDEO_BYTES)
        self.assertEqual(session["bytes_received"], BIG_VIDEO_BYTES, "every byte once: none sent twice")
        self.assertEqual(video["title"], "Roasting day")
        self.assertEqual(video["text"], "Roasting day\nFrom green beans to the cup.")
        publication = self.publication(post, "YOUTUBE")
        self.assertEqual(publication.external_id, video["id"])
        self.assertEqual(publication.metadata.get("url"), f"https://www.youtube.com/watch?v={video['id']}")
        puts = self.mock.requests("YOUTUBE", method="PUT")
        outcomes = [r["outcome"] for r in puts]
        cut = outcomes.index("cut")
        self.assertEqual(outcomes[cut + 1], "status", "after the cut, YouTube is asked where the upload stands")
        self.assertEqual(outcomes[-1], "status", "after the lost last answer too: the video is found there")
        self.assertEqual(len(self.mock.requests("YOUTUBE", method="POST", path="upload")), 1, "one upload session")

    def test_the_projects_daily_quota_is_planned_at_the_door(self):
        tomorrow = timezone.now().astimezone(PACIFIC).date() + timedelta(days=2)
        noon = datetime.combine(tomorrow, time(12), tzinfo=PACIFIC)
        with override_settings(YOUTUBE_DAILY_QUOTA_UNITS=3200, YOUTUBE_UPLOAD_COST_UNITS=1600):
            self.post("First of the day", scheduled_at=noon)
            self.post("Second of the day", scheduled_at=noon + timedelta(hours=3))
            with self.assertRaises(ValidationError) as refused:
                self.post("Third of the day", scheduled_at=noon + timedelta(hours=5))
        message = str(refused.exception)
        self.assertIn("YouTube takes at most 2 posts a day from this planrrr installation", message)
        self.assertIn(f"{tomorrow.isoformat()} already has 2 published or scheduled", message)
        self.assertIn(
            f"The next day with room starts at {tomorrow + timedelta(days=1)} 00:00 (America/Los_Angeles)", message
        )

    def test_a_video_rejected_in_processing_fails_and_a_used_quota_is_a_wait(self):
        # YouTube rejects the first video while processing it: FAILED with the reason.
        self.mock.configure(youtube_fate="rejected", youtube_polls_before_processed=1)
        self.start_worker(**CHUNKS)
        options = {"title": "Latte art, again", "privacyStatus": "unlisted", "madeForKids": False}
        post = self.post("Same clip again", variants={"YOUTUBE": {"options": options}})

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.FAILED, self.worker_logs())
        publication = self.publication(post, "YOUTUBE")
        self.assertIn("YouTube rejected the video", publication.error)
        self.assertIn("it duplicates a video already on the channel (rejectionReason duplicate)", publication.error)
        (video,) = self.videos()
        self.assertEqual((video["title"], video["privacyStatus"]), ("Latte art, again", "unlisted"), "the options")

        # Then the project's quota is used up elsewhere: quotaExceeded, a wait until midnight Pacific.
        self.mock.configure(youtube_daily_uploads=0)
        post = self.post("Over the quota")
        publication = self.publication(post, "YOUTUBE")
        wait_for(
            lambda: Publication.objects.filter(pk=publication.pk, error__contains="quotaExceeded").exists(),
            timeout=20,
            message="the quota refusal",
        )
        publication.refresh_from_db()
        self.assertEqual(publication.status, Publication.Status.PENDING)
        midnight = datetime.combine(timezone.now().astimezone(PACIFIC).date() + timedelta(days=1), time(0), PACIFIC)
        self.assertEqual(publication.next_attempt_at, midnight)
        self.assertIn("waiting until midnight Pacific time", publication.error)
        self.assertEqual(len(self.videos()), 1, "nothing uploaded over the quota")

    def test_a_lost_answer_to_the_session_gives_one_video(self):
        # The session is made, its answer lost: nothing was uploaded with it, and the channel's
        # uploads hold no such video, so a new session uploads it once.
        self.mock.configure(youtube_polls_before_processed=0)
        self.mock.fail("YOUTUBE", "accept_then_drop", times=1, on="media")
        self.start_worker(**CHUNKS)
        post = self.post("A session lost")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(len(self.videos()), 1)
        self.assertTrue(self.mock.requests("YOUTUBE", path="playlistItems"), "looked among the uploads first")

    def test_a_worker_killed_mid_upload_resumes_from_the_row_and_gives_one_video(self):
        # The session and the first chunk go through, the second chunk is stored and its answer
        # held back; the worker dies (SIGKILL); the next one reads the session from the row.
        # Processed at once: after the kill, RQ's scheduler lock is the dead worker's until it lapses.
        self.mock.configure(
            youtube_stall_at_bytes=256 * 1024 + 1, youtube_stall_seconds=8, youtube_polls_before_processed=0
        )
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4, **CHUNKS)
        post = self.post("Killed mid-upload", video="killed-big.mp4")
        wait_for(lambda: sessions() and sessions()[0]["stored"] == 2 * 256 * 1024, message="the second chunk stored")
        publication = self.publication(post, "YOUTUBE")
        self.assertEqual(publication.metadata.get("uploadSession", {}).get("offset"), 256 * 1024, publication.metadata)

        first.kill()
        self.start_worker(**CHUNKS)

        self.wait_until_final(post, timeout=40)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        (video,) = self.videos()
        (session,) = sessions()
        self.assertEqual(session["bytes_received"], BIG_VIDEO_BYTES, "resumed, not sent again")
        self.assertEqual(len(self.mock.requests("YOUTUBE", method="POST", path="upload")), 1, "one upload session")

    def test_watch_time_is_read_from_the_analytics_api_and_a_channel_without_its_permission_is_told_to_reconnect(self):
        self.assertIn(ANALYTICS_SCOPE, self.authorize_query["scope"][0].split())
        self.assertIn(ANALYTICS_SCOPE, self.youtube.scopes.split(), "granted, and kept")
        # A video three days old (the reports run a day or more behind), tracked as planrrr's own.
        video, three_days = "e2eWatched01", timezone.now() - timedelta(days=3)
        self.mock.seed_posts("YOUTUBE", self.youtube.account_id, [{"id": video, "text": "Old", "age_seconds": 259200}])
        publication = self.published(self.youtube, video, at=three_days)
        sweep.trackings_start()
        self.mock.retire_metrics("YOUTUBE", ["averageViewDuration"])
        self.mock.configure(youtube_reports_rate_limited=1)
        before = len(self.mock.requests("YOUTUBE", method="GET"))

        # The report answers 429: the reading waits, the channel's publishing does not.
        state = sync.channel_sync(connection_id=self.youtube.pk)
        self.assertIn("YouTube rate-limited the figures' reads", state.status_detail)
        self.youtube.refresh_from_db()
        self.assertIsNone(self.youtube.rate_limited_until)
        tracking = Tracking.objects.get(publication=publication)
        self.assertIsNone(tracking.captured_at)

        sync.channel_sync(connection_id=self.youtube.pk)
        tracking.refresh_from_db()
        self.assertGreater(tracking.watch_seconds, 0)
        self.assertEqual(tracking.watch_seconds, tracking.raw["estimatedMinutesWatched"] * 60, "minutes, in seconds")
        self.assertIsNotNone(tracking.shares)
        self.assertGreater(tracking.views, 0)
        self.assertIn("no longer gives 'averageViewDuration'", tracking.unavailable["averageViewDuration"])
        reports = self.mock.requests("YOUTUBE", path="v2/reports")
        self.assertEqual([r["status"] for r in reports], [429, 400, 200], "asked again without the retired metric")
        self.assertEqual(reports[-1]["query"]["filters"], f"video=={video}")
        # A unit of the project's quota per Data API call; the reports spend none of them.
        data_reads = [r for r in self.mock.requests("YOUTUBE", method="GET")[before:] if "v2/reports" not in r["path"]]
        self.assertEqual(QuotaUse.objects.get(platform="YOUTUBE").units, len(data_reads))

        # Connected again as before planrrr asked for the permission, from a time it kept no scopes:
        # YouTube's 403 says so, the other figures are read, and the answer says to reconnect.
        with mock.patch.object(YouTubeClient, "scope_list", YouTubeClient.scope_list[:2]):
            self.connect_youtube()
        Connection.objects.filter(pk=self.youtube.pk).update(scopes="")
        Tracking.objects.filter(pk=tracking.pk).update(next_sync_at=timezone.now())
        sync.channel_sync(connection_id=self.youtube.pk)
        tracking.refresh_from_db()
        self.assertEqual(self.mock.requests("YOUTUBE", path="v2/reports")[-1]["status"], 403)
        self.assertIsNone(tracking.watch_seconds, "unavailable, not zero")
        self.assertGreater(tracking.views, 0)
        answer = selectors.publication_analytics(publication, tracking)
        self.assertIsNone(answer["latest"]["watchSeconds"])
        self.assertIn("reconnect the channel to allow it", answer["unavailable"]["watchSeconds"])
