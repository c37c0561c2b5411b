"""Video on Meta's three networks over the wire (issue 23): real workers publishing to the
stand-in, which fetches each video from the stand-in's media server and processes it over a few
status polls (``video_polls_before_ready``, one here): a Facebook Page video, an Instagram Reel (its
container made ahead of the slot by staging) and a Threads video are each PUBLISHED once, after
waits that cost no attempt; a video Instagram cannot process ends FAILED with Instagram's reason;
a Facebook upload whose answer is lost is found on the page and gives one post."""

from django.utils import timezone

from devtools.stack import ACCOUNTS
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import INSTAGRAM_USER, PublishingLiveTestCase


class MetaVideoTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.threads = self.connect("THREADS", ACCOUNTS["THREADS"], "mock_threads_token")
        self.mock.configure(video_polls_before_ready=1, threads_publish_lag_seconds=0)
        self.clip = self.mock.media_url("roasting-day.mp4")
        self.start_worker()

    def status_reads(self, platform: str, node: str) -> list[dict]:
        return [r for r in self.mock.requests(platform, method="GET") if r["path"].rstrip("/").endswith(f"/{node}")]

    def test_a_video_is_published_once_on_each_network_after_processing(self):
        # Due within MEDIA_STAGING_LEAD_SECONDS: staged at once (the Instagram and Threads containers
        # made), then published now rather than waiting for its time.
        post = services.post_create(
            team=self.team,
            content="Roasting day, in three seconds.",
            media_urls=[self.clip],
            platforms=["FACEBOOK", "INSTAGRAM", "THREADS"],
            scheduled_at=self.soon(120),
        )
        wait_for(
            lambda: all("stagedAt" in p.metadata for p in post.publications.all()),
            timeout=20,
            message="staging before the slot",
        )
        self.assertEqual(self.mock.posts(), [], "nothing public before the slot")
        slot = timezone.now().timestamp()
        services.post_schedule(post=post, publish_now=True)

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, list(post.publications.values("platform", "error")))
        facebook, instagram, threads = (self.publication(post, p) for p in ("FACEBOOK", "INSTAGRAM", "THREADS"))
        (video,) = self.mock.posts("FACEBOOK")
        self.assertEqual((video["id"], video["media_type"]), (facebook.external_id, "VIDEO"))
        (reel,) = self.mock.posts("INSTAGRAM")
        self.assertEqual((reel["id"], reel["media_product_type"]), (instagram.external_id, "REELS"))
        (thread,) = self.mock.posts("THREADS")
        self.assertEqual((thread["id"], thread["media_type"]), (threads.external_id, "VIDEO"))
        for publication in (facebook, instagram, threads):
            self.assertEqual(publication.attempt_count, 1, f"{publication.platform}: the waits cost no attempt")
        # Each was published only after the stand-in's processing: a "still processing" answer and a
        # ready one at least, and each video fetched by the platform itself.
        self.assertGreaterEqual(len(self.status_reads("FACEBOOK", facebook.external_id)), 2)
        self.assertGreaterEqual(len(self.status_reads("INSTAGRAM", instagram.metadata["containerId"])), 2)
        self.assertGreaterEqual(len(self.status_reads("THREADS", threads.metadata["containerId"])), 2)
        fetched = [r for r in self.mock.requests("MEDIA") if r["path"].endswith("roasting-day.mp4")]
        self.assertEqual(len(fetched), 3)
        # Staged: after the slot Instagram and Threads were only asked to publish; Facebook's upload
        # came at the slot (uploading a Page video publishes it).
        made = [r for r in self.mock.requests(method="POST") if r["ts"] >= slot]
        self.assertEqual(
            sorted(r["path"].rsplit("/", 1)[-1] for r in made), ["media_publish", "threads_publish", "videos"]
        )

    def test_a_video_instagram_cannot_process_fails_with_its_reason_and_a_lost_upload_gives_one_post(self):
        self.mock.fail("INSTAGRAM", "container_error", times=1, message="Error: the video codec is not supported.")
        self.mock.fail("FACEBOOK", "accept_then_drop", times=1)
        post = services.post_create(
            team=self.team,
            content="Exactly one video.",
            media_urls=[self.clip],
            platforms=["FACEBOOK", "INSTAGRAM"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PARTIAL, self.worker_logs())
        instagram = self.publication(post, "INSTAGRAM")
        self.assertEqual(instagram.status, Publication.Status.FAILED)
        self.assertIn("could not process the media", instagram.error)
        self.assertIn("Error: the video codec is not supported.", instagram.error)
        self.assertEqual(self.mock.posts("INSTAGRAM"), [])
        facebook = self.publication(post, "FACEBOOK")
        self.assertEqual(facebook.status, Publication.Status.PUBLISHED, facebook.error)
        uploads = [r for r in self.mock.requests("FACEBOOK", method="POST") if r["path"].endswith("/videos")]
        self.assertEqual(len(uploads), 1, "found on the page, not uploaded again")
        (video,) = self.mock.posts("FACEBOOK")
        self.assertEqual(facebook.external_id, video["id"])
        self.assertTrue(facebook.metadata.get("reconciled"))
