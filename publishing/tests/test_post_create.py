"""Bad input is refused at the door, with a message that says what to change, and nothing
is saved or enqueued."""

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import django_rq
from django.core.exceptions import ValidationError
from django.test import TestCase, override_settings
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import Actors


class PostCreateTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()

    def assertRefused(self, field: str, fragment: str, **kwargs) -> None:
        kwargs = {"team": self.team, "content": "Hello", "platforms": ["FACEBOOK"], **kwargs}
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(ValidationError) as caught:
                services.post_create(**kwargs)
        messages = caught.exception.message_dict.get(field, [])
        self.assertTrue(any(fragment in m for m in messages), f"{fragment!r} not in {caught.exception.message_dict}")
        self.assertFalse(Post.objects.exists())
        self.assertFalse(Publication.objects.exists())
        queue = django_rq.get_queue("default")
        self.assertEqual((queue.count, queue.scheduled_job_registry.count), (0, 0))

    def test_it_refuses_empty_content(self):
        self.assertRefused("content", "The post is empty", content="   ")

    def test_it_refuses_an_unknown_platform(self):
        self.assertRefused(
            "platforms", "Unknown platform 'MYSPACE': choose from BLUESKY, FACEBOOK", platforms=["MYSPACE"]
        )

    def test_it_refuses_a_platform_the_team_has_not_connected(self):
        self.assertRefused(
            "platforms", "no LinkedIn connection: connect an account, or remove LINKEDIN", platforms=["LINKEDIN"]
        )

    def test_it_refuses_an_expired_connection(self):
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.EXPIRED)
        self.assertRefused("platforms", "expired or was revoked: reconnect it", platforms=["TWITTER"])

    def test_it_refuses_a_connection_of_another_team(self):
        theirs = self.connect("FACEBOOK", "999", "their_token", team=self.outsiders)
        self.assertRefused("channels", "is not one of your team's accounts", channels=[theirs.pk])

    def test_it_refuses_text_too_long_for_a_platform(self):
        self.assertRefused("content", "at most 280", platforms=["TWITTER"], content="x" * 281)

    def test_it_refuses_instagram_without_media(self):
        self.connect("INSTAGRAM", "17841400008460056", "ig_token")
        self.assertRefused("media_urls", "needs at least one image", platforms=["INSTAGRAM"])

    def test_it_refuses_a_media_url_that_is_not_http(self):
        self.assertRefused("media_urls", "file:///etc/passwd", media_urls=["file:///etc/passwd"])

    def test_it_refuses_too_many_images_for_a_platform(self):
        images = [f"https://cdn.example.com/{i}.png" for i in range(5)]
        self.assertRefused(
            "media_urls", "X takes at most 4 images; this post has 5", platforms=["TWITTER"], media_urls=images
        )

    def test_it_refuses_more_than_30_hashtags_on_instagram(self):
        self.connect("INSTAGRAM", "17841400008460056", "ig_token")
        caption = " ".join(f"#tag{i}" for i in range(31))
        self.assertRefused(
            "content", "30", platforms=["INSTAGRAM"], content=caption, media_urls=["https://cdn.example.com/1.png"]
        )

    def test_it_refuses_linkedin_text_it_would_truncate(self):
        self.connect("LINKEDIN", "urn:li:organization:5515715", "li_token")
        self.assertRefused("content", "3,000", platforms=["LINKEDIN"], content="y" * 3001)

    def test_it_counts_x_characters_as_x_does(self):
        # Emoji weigh 2 on X: 141 of them are 282 > 280, though only 141 characters.
        self.assertRefused("content", "at most 280", platforms=["TWITTER"], content="\N{GRINNING FACE}" * 141)

    def test_it_refuses_a_media_url_on_a_private_address(self):
        self.assertRefused("media_urls", "169.254.169.254", media_urls=["http://169.254.169.254/latest/meta-data"])

    def test_it_names_every_problem_at_once(self):
        with self.assertRaises(ValidationError) as caught:
            services.post_create(team=self.team, content="", platforms=["MYSPACE", "LINKEDIN"])
        self.assertEqual(set(caught.exception.message_dict), {"content", "platforms"})
        self.assertEqual(len(caught.exception.message_dict["platforms"]), 2)

    def test_it_refuses_text_that_shows_nothing(self):
        self.assertRefused("content", "The post is empty", content="\u200b\u200b \u2060\ufeff")

    def test_it_refuses_a_nul_byte(self):
        self.assertRefused("content", "NUL character", content="Hello\x00world")

    def test_it_refuses_a_lone_surrogate(self):
        self.assertRefused("content", "lone UTF-16 surrogate", content="Hello \ud83d world")

    def test_it_refuses_a_nul_byte_in_a_media_url(self):
        self.assertRefused("media_urls", "NUL character", media_urls=["https://example.org/a\x00.png"])

    def test_it_refuses_a_time_without_a_zone(self):
        naive = timezone.now().replace(tzinfo=None) + timedelta(hours=1)
        self.assertRefused("scheduled_at", "has no time zone", scheduled_at=naive)

    def test_it_refuses_a_time_long_past_unless_asked_to_publish_now(self):
        year_one = timezone.now().replace(year=1)
        self.assertRefused(
            "scheduled_at", "is in the past: pick a time from now on, or publish now", scheduled_at=year_one
        )
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(team=self.team, content="Now", platforms=["FACEBOOK"], publish_now=True)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING)
        self.assertLess(abs((post.scheduled_at - timezone.now()).total_seconds()), 60)

    def test_it_refuses_a_time_past_the_year_9999_in_utc(self):
        # Python reads no year past 9999: a row with one made every read of the team's posts fail.
        last_half_hour = datetime(9999, 12, 31, 23, 30, tzinfo=dt_timezone(timedelta(hours=-1)))
        self.assertRefused("scheduled_at", "outside the years 1 to 9999 in UTC", scheduled_at=last_half_hour)
        post = services.post_create(team=self.team, content="Later", platforms=["FACEBOOK"])
        with self.assertRaises(ValidationError) as caught:
            services.post_update(post=post, scheduled_at=last_half_hour)
        self.assertIn("outside the years 1 to 9999", caught.exception.message_dict["scheduled_at"][0])
        post.refresh_from_db()
        self.assertIsNone(post.scheduled_at)

    def test_it_keeps_a_time_with_any_offset_python_takes(self):
        # RFC 3339 allows offsets up to 23:59; PostgreSQL stores up to 15:59: it is kept as UTC.
        far_east = datetime(2030, 1, 15, 9, 30, tzinfo=dt_timezone(timedelta(hours=18)))
        post = services.post_create(team=self.team, content="Far", platforms=["FACEBOOK"], scheduled_at=far_east)
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, datetime(2030, 1, 14, 15, 30, tzinfo=UTC))

    def test_it_refuses_a_media_url_longer_than_the_column_keeps(self):
        long_url = "https://cdn.example.com/" + "a" * 2000 + ".png"
        self.assertRefused("media_urls", "A media URL takes at most 2,000 characters", media_urls=[long_url])
        self.assertRefused(
            "variants.FACEBOOK.media_urls",
            "A media URL takes at most 2,000 characters",
            variants={"FACEBOOK": {"media_urls": [long_url]}},
        )

    def test_it_takes_a_time_a_moment_ago_as_now(self):
        post = services.post_create(
            team=self.team,
            content="Just now",
            platforms=["FACEBOOK"],
            scheduled_at=timezone.now() - timedelta(minutes=1),
        )
        self.assertEqual(post.status, Post.Status.SCHEDULED)

    def test_it_refuses_platforms_that_are_not_names(self):
        self.assertRefused("platforms", "Unknown platform None", platforms=["FACEBOOK", None])

    def test_it_creates_a_scheduled_post_with_one_publication_per_platform(self):
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(
                team=self.team, content="Hello", platforms=["FACEBOOK", "TWITTER"], scheduled_at=self.soon(60)
            )
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(
            sorted(post.publications.values_list("platform", "connection_id")),
            [("FACEBOOK", self.facebook.pk), ("TWITTER", self.twitter.pk)],
        )
        # Nothing in Redis until it is due: the workers' dispatch finds it in the database then.
        queue = django_rq.get_queue("default")
        self.assertEqual((queue.count, queue.scheduled_job_registry.count), (0, 0))
        self.assertEqual(services.posts_dispatch(post_ids=[post.pk]), 0)

    def test_a_post_due_now_is_dispatched_at_once(self):
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(
                team=self.team, content="Now", platforms=["FACEBOOK", "TWITTER"], scheduled_at=timezone.now()
            )
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING)
        self.assertEqual(
            sorted(django_rq.get_queue("default").job_ids), sorted(post.publications.values_list("job_id", flat=True))
        )

    @override_settings(PUBLISH_BATCH_SIZE=1)  # a job each (several to a job: test_batches)
    def test_the_dispatch_takes_every_due_post_in_one_batch(self):
        with self.captureOnCommitCallbacks(execute=True):
            posts = [
                services.post_create(team=self.team, content=f"Batch {i}", platforms=["FACEBOOK", "TWITTER"])
                for i in range(3)
            ]
        past = timezone.now() - timedelta(seconds=1)
        Post.objects.filter(pk__in=[p.pk for p in posts]).update(status=Post.Status.SCHEDULED, scheduled_at=past)
        later = services.post_create(
            team=self.team, content="Later", platforms=["FACEBOOK"], scheduled_at=self.soon(60)
        )

        # Lock and select the due posts, mark them, read their publications, store the job
        # ids (one UPDATE), inside one transaction: the same six queries for any number of posts
        # (no savepoint per post: a batch that raises is redone post by post, see dispatch).
        with self.captureOnCommitCallbacks(execute=True), self.assertNumQueries(6):
            self.assertEqual(services.posts_dispatch(), 6)

        self.assertEqual(
            set(Post.objects.filter(pk__in=[p.pk for p in posts]).values_list("status", flat=True)),
            {Post.Status.PUBLISHING},
        )
        later.refresh_from_db()
        self.assertEqual(later.status, Post.Status.SCHEDULED)
        self.assertEqual(len(django_rq.get_queue("default").job_ids), 6)

    def test_it_stores_access_tokens_encrypted(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT access_token FROM connections_connection WHERE id = %s", [self.facebook.pk])
            stored = cursor.fetchone()[0]
        self.assertNotIn("mock_fb_token", stored)
        self.assertTrue(stored.startswith("fernet:"))
        self.assertEqual(Connection.objects.get(pk=self.facebook.pk).access_token, "mock_fb_token")


class ExpiryWarningTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()

    def test_it_flags_a_post_scheduled_after_a_token_that_cannot_be_renewed_expires(self):
        ends = timezone.now() + timedelta(days=3)
        Connection.objects.filter(pk=self.facebook.pk).update(expires_at=ends)
        post = services.post_create(
            team=self.team, content="Next week", platforms=["FACEBOOK", "TWITTER"], scheduled_at=self.soon(7 * 86400)
        )
        self.assertEqual(len(post.warnings), 1)
        self.assertIn(f"Your Facebook token for Facebook expires on {ends:%-d %b %Y}", post.warnings[0])
        self.assertIn("before this post", post.warnings[0])
        self.assertEqual(post.publications.get(platform="FACEBOOK").metadata["warnings"], post.warnings)
        self.assertNotIn("warnings", post.publications.get(platform="TWITTER").metadata)

    def test_it_says_nothing_when_the_token_outlives_the_post_or_renews_itself(self):
        Connection.objects.filter(pk=self.facebook.pk).update(expires_at=timezone.now() + timedelta(days=30))
        Connection.objects.filter(pk=self.twitter.pk).update(
            expires_at=timezone.now() + timedelta(hours=2), refresh_token="a-refresh-token"
        )
        post = services.post_create(
            team=self.team, content="Next week", platforms=["FACEBOOK", "TWITTER"], scheduled_at=self.soon(7 * 86400)
        )
        self.assertEqual(post.warnings, [])
