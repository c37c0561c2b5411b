"""Issue 9 over the wire: nothing goes out that should not, one bad row never stops the rest,
and every attempt ends — with real workers, killed mid-step, against the stand-in."""

from django.db import connection as db
from django.utils import timezone

from connections.models import Connection
from devtools.testing import wait_for
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.tests.base import PublishingLiveTestCase

# Short leases so a killed stager's lease runs out within a test; the job timeout stays under it.
FAST_LEASE = {"PUBLISH_JOB_TIMEOUT": "3", "PUBLISH_LEASE_SECONDS": "4", "SWEEP_REQUEUE_AFTER_SECONDS": "1"}


class StagedThenChangedTests(PublishingLiveTestCase):
    """A post whose media is being staged when its worker dies, then is cancelled or moved."""

    def staging_post(self, *, seconds: float) -> Post:
        self.mock.configure(media_slow_seconds=20)
        post = services.post_create(
            team=self.team,
            content="Staged, then changed",
            media_urls=[self.mock.media_url("photo-slow.png")],
            platforms=["TWITTER"],
            scheduled_at=self.soon(seconds),
        )

        def staging():
            publication = self.publication(post, "TWITTER")
            return publication.stage_token is not None and publication

        wait_for(staging, timeout=10, message="the media to be staging")
        return post

    def probe(self, seconds: float) -> Post:
        """A plain post due later: once it is out, the workers have had every chance to do wrong."""
        return services.post_create(
            team=self.team, content="Probe", platforms=["FACEBOOK"], scheduled_at=self.soon(seconds)
        )

    def test_a_cancelled_post_whose_stager_was_killed_never_goes_out(self):
        stager = self.start_worker(**FAST_LEASE)
        post = self.staging_post(seconds=2)
        stager.kill()
        self.assertTrue(services.post_cancel(post=post))
        self.start_worker(**FAST_LEASE)
        probe = self.probe(seconds=8)  # past the slot and past the dead stager's lease

        self.wait_until_final(probe, timeout=30)

        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.CANCELLED)
        publication = self.publication(post, "TWITTER")
        self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.PENDING, 0))
        self.assertEqual(self.mock.posts(platform="TWITTER"), [])
        self.assertEqual(self.mock.requests(platform="TWITTER", method="POST", path="tweets"), [])

    def test_a_staged_post_moved_later_goes_out_only_at_its_new_time(self):
        stager = self.start_worker(**FAST_LEASE)
        post = self.staging_post(seconds=2)
        stager.kill()
        self.mock.configure(media_slow_seconds=0)  # the new slot's upload works
        new_time = self.soon(10)
        services.post_schedule(post=post, scheduled_at=new_time)
        self.start_worker(**FAST_LEASE)

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        sent = self.mock.requests(platform="TWITTER", method="POST", path="tweets")
        self.assertEqual(len(sent), 1)
        self.assertGreaterEqual(sent[0]["ts"], new_time.timestamp(), "not before its new time")
        self.assertEqual(len(self.mock.posts(platform="TWITTER")), 1)


class EveryAttemptEndsTests(PublishingLiveTestCase):
    def test_a_nul_byte_in_the_platforms_error_ends_failed_at_the_attempt_limit(self):
        self.mock.fail("FACEBOOK", mode="server_error", message="Broken\x00answer \ud800 from the platform")
        self.start_worker(PUBLISH_MAX_ATTEMPTS=3)
        post = services.post_create(
            team=self.team, content="Never lands", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post, timeout=40)

        publication = self.publication(post, "FACEBOOK")
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertEqual(publication.attempt_count, 3)
        self.assertIn("Broken\N{REPLACEMENT CHARACTER}answer", publication.error)
        self.assertIn("gave up after 3 attempts", publication.error)
        self.assertEqual(len(self.mock.requests(platform="FACEBOOK", method="POST")), 3)

    def test_a_media_url_that_drips_frees_the_worker_within_its_deadline(self):
        # One byte a second: every read arrives within the read timeout, only the overall
        # deadline ends the download. One worker: the text post behind it must not wait long.
        self.start_worker(MEDIA_FETCH_DEADLINE_SECONDS=2, PUBLISH_MAX_ATTEMPTS=2)
        dripping = services.post_create(
            team=self.team,
            content="Dripping image",
            media_urls=[self.mock.media_url("photo-drip.png")],
            platforms=["TWITTER"],
            scheduled_at=timezone.now(),
        )
        behind = services.post_create(
            team=self.team, content="Behind it", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(behind, timeout=20)
        self.assertEqual(behind.status, Post.Status.PUBLISHED)
        self.wait_until_final(dripping, timeout=30)
        publication = self.publication(dripping, "TWITTER")
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("did not finish within 2 s", publication.error)
        self.assertIn("gave up after 2 attempts", publication.error)
        durations = JobMetric.objects.filter(publication_id=publication.pk).values_list("duration_ms", flat=True)
        self.assertEqual(len(durations), 2)
        self.assertTrue(all(d < 6000 for d in durations), f"attempts held the worker for {list(durations)} ms")
        self.assertEqual(self.mock.posts(platform="TWITTER"), [])


class OneBadRowTests(PublishingLiveTestCase):
    """Team A's bad rows (a NULL platform, a token that cannot be decrypted) and team B's post,
    all due at once: B's goes out within a dispatch round or two, A's fail with their reasons."""

    def test_team_as_bad_rows_do_not_delay_team_bs_post(self):
        self.start_worker()
        with db.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,
                                             created_at, updated_at)
                VALUES (%s, 'Bad row', ARRAY['FACEBOOK', NULL]::varchar[], '{}', 'SCHEDULED', now(), now(), now())
                RETURNING id
                """,
                [self.team.pk],
            )
            null_row = cursor.fetchone()[0]
        undecryptable = services.post_create(team=self.team, content="A's token", platforms=["TWITTER"])
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE connections_connection SET access_token = 'fernet:garbage' WHERE id = %s", [self.twitter.pk]
            )
        self.connect("FACEBOOK", "2222", "mock_fb_token", team=self.outsiders)
        theirs = services.post_create(team=self.outsiders, content="B's post", platforms=["FACEBOOK"])
        now = timezone.now()
        Post.objects.filter(pk__in=[undecryptable.pk, theirs.pk]).update(status=Post.Status.SCHEDULED, scheduled_at=now)

        self.wait_until_final(theirs, timeout=20)
        self.assertEqual(theirs.status, Post.Status.PUBLISHED)
        started = self.publication(theirs, "FACEBOOK").first_attempt_at
        self.assertLess((started - now).total_seconds(), 5, "B waited on A's rows")

        self.assertEqual(self.wait_until_final(Post.objects.get(pk=null_row)).status, Post.Status.FAILED)
        self.assertIn("among its platforms", Post.objects.get(pk=null_row).error)
        self.wait_until_final(undecryptable)
        self.assertIn("cannot be decrypted", self.publication(undecryptable, "TWITTER").error)
        self.assertEqual(Connection.objects.get(pk=self.twitter.pk).status, Connection.Status.EXPIRED)
        self.assertEqual(self.mock.requests(platform="TWITTER"), [])
