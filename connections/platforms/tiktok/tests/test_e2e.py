"""TikTok over the wire (issue 23): real workers publishing videos to the stand-in's Content
Posting API, the account connected through Login Kit (code, tokens, profile, creator_info).

A publication is an init (its publish_id recorded before any byte goes), the chunks, then
status/fetch until PUBLISH_COMPLETE. A lost answer to the init, a connection cut mid-upload and a
worker killed mid-init each still give exactly one post, and TikTok gets each byte once."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone

from api.serializers.posts import PostSerializer
from connections.models import Connection
from connections.platforms import get_client
from connections.services import connection_connect, connection_refresh
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase

APP = {"TIKTOK_CLIENT_KEY": "planrrr-e2e", "TIKTOK_CLIENT_SECRET": "e2e-tiktok-secret"}
# The stand-in's big video is 1,310,720 bytes: five chunks of 256 KiB (TikTok's smallest is 5 MB,
# played smaller here so that a small file is chunked).
CHUNK = 256 * 1024
CHUNKED = {"TIKTOK_UPLOAD_CHUNK_BYTES": str(CHUNK)}


class TikTokTests(PublishingLiveTestCase):
    def platform_env(self) -> dict[str, str]:
        return {**super().platform_env(), **APP}

    def setUp(self):
        super().setUp()
        self.mock.configure(tiktok_min_chunk_bytes=CHUNK, tiktok_polls_before_complete=0)
        self.tiktok = self.connect_tiktok()

    def connect_tiktok(self, login: str | None = None) -> Connection:
        """What the connect page does: consent approved, code exchanged, profile and creator_info."""
        client = get_client("TIKTOK")
        redirect_uri = f"{self.live_server_url}/connect/tiktok/callback"
        url = client.authorization_url(redirect_uri=redirect_uri, state="s", code_verifier=None)
        code = parse_qs(urlsplit(self.mock.approve(url, login=login)).query)["code"][0]
        grant = client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        return connection_connect(team=self.team, choice=client.accounts(grant)[0])[0]

    def post(self, content: str, video: str = "clip-big.mp4", **kwargs) -> Post:
        return services.post_create(
            team=self.team,
            content=content,
            **({"channels": [self.tiktok.pk]} if "channels" not in kwargs else {}),
            media_urls=[self.mock.media_url(video)],
            scheduled_at=timezone.now(),
            **kwargs,
        )

    def inits(self) -> list[dict]:
        return [r for r in self.mock.requests("TIKTOK", method="POST") if r["path"].endswith("/video/init/")]

    def puts(self) -> list[dict]:
        return self.mock.requests("TIKTOK", method="PUT")

    def test_it_connects_through_login_kit_and_renews_the_token(self):
        self.assertEqual((self.tiktok.account_id, self.tiktok.name), ("-000acmecoffeeOpenId", "@acmecoffee"))
        self.assertTrue(self.tiktok.refreshable)
        self.assertLess(self.tiktok.expires_at, timezone.now() + timedelta(hours=24, minutes=1))
        self.assertGreater(self.tiktok.refresh_expires_at, timezone.now() + timedelta(days=364))
        (authorize,) = self.mock.requests("TIKTOK", path="auth/authorize")
        self.assertEqual(authorize["query"]["client_key"], "planrrr-e2e")
        self.assertEqual(authorize["query"]["scope"], "user.info.basic,video.publish,video.list,user.info.stats")

        before = (self.tiktok.access_token, self.tiktok.refresh_token)
        read_at = self.tiktok.details["creatorInfoAt"]
        connection_refresh(connection_id=self.tiktok.pk, valid_for=timedelta(days=2))
        self.tiktok.refresh_from_db()
        self.assertGreater(self.tiktok.details["creatorInfoAt"], read_at, "creator_info read again at the renewal")
        self.assertEqual(self.tiktok.details["username"], "acmecoffee")
        self.assertNotEqual(self.tiktok.access_token, before[0])
        self.assertNotEqual(self.tiktok.refresh_token, before[1], "the new refresh token is stored")
        self.assertEqual(self.tiktok.status, Connection.Status.ACTIVE)
        self.assertEqual(self.mock.refresh_uses("TIKTOK"), {before[1]: 1, self.tiktok.refresh_token: 0})

    def test_a_lost_init_answer_and_a_cut_upload_give_one_post_and_each_byte_once(self):
        # The first init is made, then its answer dropped: its publish_id is never seen, so no byte
        # goes to it. The next upload's first chunk arrives, then the connection is cut.
        self.mock.fail("TIKTOK", "accept_then_drop", times=1)
        self.mock.fail("TIKTOK", "accept_then_drop", times=1, on="media")
        # Processing takes a poll here (PROCESSING_UPLOAD, then PUBLISH_COMPLETE); none elsewhere.
        self.mock.configure(tiktok_polls_before_complete=1)
        self.start_worker(**CHUNKED)
        post = self.post("Our autumn menu, in motion.")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = self.mock.posts("TIKTOK")
        self.assertEqual([p["text"] for p in made], ["Our autumn menu, in motion."], "exactly one post")
        publication = self.publication(post, "TIKTOK")
        self.assertEqual(publication.external_id, made[0]["id"])
        self.assertEqual(publication.metadata["publishId"], made[0]["publish_id"], "the init whose publish_id was kept")
        self.assertEqual(len(self.inits()), 2, "the lost init, then one whose publish_id was kept")
        ranges = [r["headers"].get("Content-Range") for r in self.puts()]
        size = 5 * CHUNK
        self.assertEqual(
            ranges, [f"bytes {i * CHUNK}-{(i + 1) * CHUNK - 1}/{size}" for i in range(5)], "each chunk once"
        )
        self.assertEqual([r["outcome"] for r in self.puts()][-1], "uploaded")

    def test_a_worker_killed_mid_upload_gives_one_post_and_each_byte_once(self):
        # The first chunk arrives and the stand-in stalls its answer; the worker dies (SIGKILL)
        # waiting, having recorded nothing of the upload. The next worker asks TikTok what it has
        # and sends the rest under the same publish_id.
        self.mock.fail("TIKTOK", "accept_then_stall", times=1, seconds=30, on="media")
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4, **CHUNKED)
        post = self.post("Killed mid-upload.")
        wait_for(lambda: self.puts(), message="the first chunk to arrive")
        self.assertEqual(self.publication(post, "TIKTOK").status, Publication.Status.PUBLISHING)

        first.kill()
        self.start_worker(**CHUNKED)

        self.wait_until_final(post, timeout=40)
        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        self.assertEqual(len(self.mock.posts("TIKTOK")), 1, "exactly one post")
        self.assertEqual(len(self.inits()), 1, "the publish_id kept before the upload is the one finished")
        ranges = [r["headers"].get("Content-Range") for r in self.puts()]
        self.assertEqual(ranges, [f"bytes {i * CHUNK}-{(i + 1) * CHUNK - 1}/{5 * CHUNK}" for i in range(5)])

    def test_failed_ends_with_tiktoks_reason_and_429_is_waited_out(self):
        self.mock.configure(tiktok_fail_reason="duration_check_failed")
        self.mock.fail("TIKTOK", "rate_limit", times=1, seconds=1)
        self.start_worker(TIKTOK_RATE_LIMIT_BACKOFF_SECONDS=1)
        post = self.post("Too long for this account.", video="clip.mp4")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.FAILED, self.worker_logs())
        self.assertEqual(
            self.publication(post, "TIKTOK").error,
            "TikTok could not publish the video: the video is longer than the creator may post "
            "(fail_reason duration_check_failed).",
        )
        self.assertEqual(self.mock.posts("TIKTOK"), [])
        self.assertIn(429, [r["status"] for r in self.inits()])

    def test_an_unaudited_account_is_told_at_scheduling_time_and_its_video_is_posted_privately(self):
        sam = self.connect_tiktok(login="-000samsoloOpenId")
        self.assertEqual(sam.details["privacyLevelOptions"], ["SELF_ONLY"], "creator_info kept at connect")
        self.assertEqual(
            self.tiktok.details["privacyLevelOptions"], ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
        )

        public = {"TIKTOK": {"options": {"privacyLevel": "PUBLIC_TO_EVERYONE"}}}
        with self.assertRaises(ValidationError) as refused:
            self.post("Public, please.", video="clip.mp4", channels=[sam.pk], variants=public)
        self.assertIn(
            "TikTok offers @samsolo the privacy levels SELF_ONLY, not PUBLIC_TO_EVERYONE: set privacyLevel to one "
            "of them.",
            str(refused.exception),
        )

        self.start_worker()
        post = self.post("Private until the audit.", video="clip.mp4", channels=[sam.pk, self.tiktok.pk])
        notices = PostSerializer(post).data["notices"]
        self.assertEqual(
            notices,
            [
                {
                    "channelId": sam.pk,
                    "platform": "TIKTOK",
                    "message": "TikTok will publish this video as private (SELF_ONLY): it will be visible only to "
                    "the account owner until planrrr's TikTok app passes TikTok's audit.",
                }
            ],
            "a notice for the unaudited channel only",
        )
        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        made = {p["account"]: p for p in self.mock.posts("TIKTOK")}
        self.assertEqual(made[sam.account_id]["privacy_level"], "SELF_ONLY")
        self.assertEqual(made[self.tiktok.account_id]["privacy_level"], "PUBLIC_TO_EVERYONE")
        private = Publication.objects.get(post=post, connection=sam)
        self.assertEqual(private.external_id, made[sam.account_id]["publish_id"], "a private post has no public id")
