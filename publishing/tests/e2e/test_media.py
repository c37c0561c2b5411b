"""Seed scenario 3 (media upload before publishing) and issue 5's media rules, over the wire."""

from django.db import connection as db
from django.utils import timezone

from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import INSTAGRAM_USER, LINKEDIN_ORG, PublishingLiveTestCase


class MediaTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.linkedin = self.connect("LINKEDIN", LINKEDIN_ORG, "mock_li_token")
        self.images = [self.mock.media_url("image1.png"), self.mock.media_url("image2.png")]

    def test_it_uploads_media_before_publishing(self):
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Post with media",
            media_urls=self.images,
            platforms=["FACEBOOK", "INSTAGRAM"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        instagram = self.publication(post, "INSTAGRAM")
        self.assertEqual(instagram.status, Publication.Status.PUBLISHED)
        self.assertEqual(len(instagram.metadata["mediaIds"]), 2)
        facebook = self.publication(post, "FACEBOOK")
        self.assertEqual(len(facebook.metadata["mediaIds"]), 2)
        # The stand-in fetched each image and holds what was uploaded, under those ids.
        uploaded = set(self.mock.media_ids("INSTAGRAM"))
        self.assertTrue(set(instagram.metadata["mediaIds"]) <= uploaded, (instagram.metadata, uploaded))
        # The container was polled until FINISHED before media_publish, not published early.
        publish_calls = self.mock.requests(platform="INSTAGRAM", method="POST", path="media_publish")
        self.assertEqual(len(publish_calls), 1)

    def test_it_publishes_images_on_every_platform(self):
        self.mock.bind_token("mock_twitter_token", "2244994945")
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Latte art, two ways.",
            media_urls=self.images,
            platforms=["FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED, list(post.publications.values("platform", "error")))
        for publication in post.publications.all():
            self.assertEqual(len(publication.metadata["mediaIds"]), 2, publication.platform)
        (tweet,) = self.mock.posts("TWITTER")
        self.assertEqual(len(tweet["media_ids"]), 2)

    def test_it_fails_each_platform_with_a_clear_error_when_media_cannot_be_fetched(self):
        self.start_worker()
        missing = self.mock.media_url("gone-missing.png")
        post = services.post_create(
            team=self.team,
            content="The image is gone",
            media_urls=[missing],
            platforms=["TWITTER", "LINKEDIN", "FACEBOOK"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post)

        # X and LinkedIn take bytes, which we fetch; Facebook fetches the URL itself.
        for platform in ("TWITTER", "LINKEDIN"):
            publication = self.publication(post, platform)
            self.assertEqual(publication.status, Publication.Status.FAILED)
            self.assertIn(missing, publication.error)
            self.assertIn("404", publication.error)
            self.assertEqual(publication.attempt_count, 1, "a missing image is not retried")
        self.assertEqual(self.publication(post, "FACEBOOK").status, Publication.Status.FAILED)
        self.assertEqual(post.status, Post.Status.FAILED)
        self.assertEqual(self.mock.posts(), [])

    def test_it_refuses_at_publish_time_what_a_direct_insert_got_wrong(self):
        self.start_worker()
        with db.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,
                                             created_at, updated_at)
                VALUES (%s, %s, %s, '{}', 'SCHEDULED', now(), now(), now()) RETURNING id
                """,
                [self.team.pk, "No image for Instagram, and " + "x" * 300, ["INSTAGRAM", "TWITTER", "FACEBOOK"]],
            )
            post = Post.objects.get(pk=cursor.fetchone()[0])

        self.wait_until_final(post)

        self.assertEqual(post.status, Post.Status.PARTIAL)
        self.assertIn("needs at least one image", self.publication(post, "INSTAGRAM").error)
        self.assertIn("at most 280", self.publication(post, "TWITTER").error)
        self.assertEqual(self.publication(post, "FACEBOOK").status, Publication.Status.PUBLISHED)
        self.assertEqual(self.publication(post, "INSTAGRAM").attempt_count, 0, "refused without calling")
        self.assertEqual(self.mock.requests(platform="INSTAGRAM"), [])

    def test_it_gives_up_on_a_container_instagram_could_not_process(self):
        self.mock.fail("INSTAGRAM", mode="container_error", times=1)
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Broken image",
            media_urls=self.images[:1],
            platforms=["INSTAGRAM"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post, timeout=30)

        instagram = self.publication(post, "INSTAGRAM")
        self.assertEqual(instagram.status, Publication.Status.FAILED)
        self.assertIn("Instagram", instagram.error)

    def test_it_fails_media_that_is_too_large_or_not_an_image(self):
        self.start_worker()
        posts = {
            name: services.post_create(
                team=self.team,
                content=f"Bad media: {name}",
                media_urls=[self.mock.media_url(name)],
                platforms=["TWITTER"],
                scheduled_at=timezone.now(),
            )
            for name in ("poster-huge.png", "page-text.png")
        }

        for name, post in posts.items():
            self.wait_until_final(post)
            publication = self.publication(post, "TWITTER")
            self.assertEqual(publication.status, Publication.Status.FAILED, name)
            self.assertIn(self.mock.media_url(name), publication.error)
        self.assertIn("MB", self.publication(posts["poster-huge.png"], "TWITTER").error)
        self.assertIn("text/html", self.publication(posts["page-text.png"], "TWITTER").error)
        self.assertEqual(self.mock.posts(), [])

    def test_it_waits_out_instagrams_daily_publishing_limit(self):
        self.mock.configure(ig_daily_limit=0)
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Over the daily limit",
            media_urls=self.images[:1],
            platforms=["INSTAGRAM"],
            scheduled_at=timezone.now(),
        )

        def waiting():
            publication = self.publication(post, "INSTAGRAM")
            return "rate limited" in publication.error and publication

        publication = wait_for(waiting, timeout=20, message="the publication to wait for the daily limit")
        self.assertGreater((publication.next_attempt_at - timezone.now()).total_seconds(), 30 * 60)
        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertEqual(publication.attempt_count, 0, "a limit is not a failed attempt: it gives its attempt back")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING)


class StagingTests(PublishingLiveTestCase):
    """Media goes up ahead of the slot, so the publish call at the scheduled time is one request."""

    def setUp(self):
        super().setUp()
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.linkedin = self.connect("LINKEDIN", LINKEDIN_ORG, "mock_li_token")
        self.images = [self.mock.media_url("image1.png"), self.mock.media_url("image2.png")]

    def test_it_stages_media_before_the_slot(self):
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Staged ahead",
            media_urls=self.images,
            platforms=["FACEBOOK", "INSTAGRAM", "TWITTER", "LINKEDIN"],
            scheduled_at=self.soon(4),
        )

        def staged():
            return all("stagedAt" in p.metadata for p in post.publications.all())

        wait_for(staged, timeout=4, message="every publication to be staged before the slot")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.SCHEDULED, "staged before the slot, not published")
        self.assertEqual(self.mock.posts(), [])

        self.wait_until_final(post, timeout=20)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        for publication in post.publications.all():
            self.assertEqual(len(publication.metadata["mediaIds"]), 2, publication.platform)
            self.assertEqual(publication.attempt_count, 1)
        # At the slot, each platform was only asked to create the post: no upload came after it.
        after = [
            r
            for r in self.mock.requests(method="POST") + self.mock.requests(method="PUT")
            if r["ts"] >= post.scheduled_at.timestamp()
        ]
        self.assertEqual(sorted(r["platform"] for r in after), ["FACEBOOK", "INSTAGRAM", "LINKEDIN", "TWITTER"], after)

    def test_it_shows_a_staging_failure_before_the_slot_and_publishes_anyway(self):
        self.mock.fail("TWITTER", mode="server_error", on="media", times=1)
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Staging hiccup",
            media_urls=self.images[:1],
            platforms=["TWITTER"],
            scheduled_at=self.soon(3),
        )

        def failed_staging():
            publication = self.publication(post, "TWITTER")
            return "Staging the media failed" in publication.error and publication

        publication = wait_for(failed_staging, timeout=3, message="the staging failure to show")
        self.assertIn("X API error", publication.error)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.SCHEDULED)

        self.wait_until_final(post, timeout=20)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(self.publication(post, "TWITTER").error, "")
