"""Posting slots and queues, and the platforms' caps at the door, on the real database."""

from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.test import TestCase

from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post, PostingSlot, Publication
from publishing.services import queue
from publishing.tests.base import INSTAGRAM_USER, Actors

PARIS = ZoneInfo("Europe/Paris")
PHOTO = ["https://example.org/photo.jpg"]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Clock:
    """timezone.now() as the test says (every module reads it through django.utils.timezone)."""

    def __init__(self, now: datetime):
        self.now = now
        self.patch = mock.patch("django.utils.timezone.now", side_effect=lambda: self.now)

    def __enter__(self):
        self.patch.start()
        return self

    def __exit__(self, *exc):
        self.patch.stop()


class QueueTestCase(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.team.timezone = "Europe/Paris"
        self.team.save()

    def draft(self, text: str, platforms=("FACEBOOK",), **kwargs) -> Post:
        return services.post_create(team=self.team, content=text, platforms=list(platforms), **kwargs)

    def slots(self, channel, *slots):
        queue.channel_slots_set(channel=channel, slots=list(slots))

    def times(self, post: Post) -> dict[str, datetime | None]:
        return {p.platform: p.scheduled_at for p in post.publications.order_by("platform")}


class QueueAcrossDSTTests(QueueTestCase):
    def test_a_sunday_nine_oclock_slot_stays_nine_local_across_the_march_change(self):
        with Clock(utc(2027, 3, 20, 10)):
            self.slots(self.facebook, {"weekday": 6, "time": "09:00"})
            posts = [self.draft(f"post {i}") for i in range(3)]
            for post in posts:
                services.post_queue(post=post)
        locals_ = [Post.objects.get(pk=p.pk).scheduled_at.astimezone(PARIS) for p in posts]
        self.assertEqual(
            [t.strftime("%Y-%m-%d %H:%M %z") for t in locals_],
            [
                "2027-03-21 09:00 +0100",
                "2027-03-28 09:00 +0200",
                "2027-04-04 09:00 +0200",
            ],
        )
        self.assertEqual(Post.objects.get(pk=posts[1].pk).status, Post.Status.SCHEDULED)

    def test_a_nine_oclock_slot_stays_nine_local_across_the_october_change(self):
        with Clock(utc(2027, 10, 29, 10)):
            self.slots(self.facebook, {"weekday": 6, "time": "09:00"}, {"weekday": 5, "time": "09:00"})
            posts = [self.draft(f"post {i}") for i in range(3)]
            for post in posts:
                services.post_queue(post=post)
        times = [Post.objects.get(pk=p.pk).scheduled_at for p in posts]
        self.assertEqual(times, [utc(2027, 10, 30, 7), utc(2027, 10, 31, 8), utc(2027, 11, 6, 8)])

    def test_a_slot_in_the_spring_gap_moves_to_the_end_of_the_gap(self):
        with Clock(utc(2027, 3, 27, 10)):
            self.slots(self.facebook, {"weekday": 6, "time": "02:30"})
            post = self.draft("night owl")
            services.post_queue(post=post)
        post.refresh_from_db()
        self.assertEqual(post.scheduled_at, utc(2027, 3, 28, 1))
        self.assertEqual(post.scheduled_at.astimezone(PARIS).strftime("%H:%M"), "03:00")


class QueueActionsTests(QueueTestCase):
    def setUp(self):
        super().setUp()
        self.clock = Clock(utc(2027, 5, 3, 6))  # Monday 08:00 in Paris
        self.clock.__enter__()
        self.addCleanup(self.clock.__exit__)
        # Every day at 09:00 and 17:00, Paris.
        self.slots(self.facebook, *[{"weekday": d, "time": t} for d in range(7) for t in ("09:00", "17:00")])
        self.posts = [self.draft(f"post {i}") for i in range(3)]
        for post in self.posts:
            services.post_queue(post=post)

    def scheduled(self) -> list[datetime]:
        return [Post.objects.get(pk=p.pk).scheduled_at for p in self.posts]

    FIRST, SECOND, THIRD = utc(2027, 5, 3, 7), utc(2027, 5, 3, 15), utc(2027, 5, 4, 7)

    def test_posts_take_the_next_free_slots_in_order(self):
        self.assertEqual(self.scheduled(), [self.FIRST, self.SECOND, self.THIRD])
        view = queue.channel_queue(channel=self.facebook, free=2)
        self.assertEqual([t.post_id for t in view.targets], [p.pk for p in self.posts])
        self.assertEqual(view.free, [utc(2027, 5, 4, 15), utc(2027, 5, 5, 7)])

    def test_top_moves_a_post_first_and_the_others_down(self):
        services.post_queue_top(post=self.posts[2])
        self.assertEqual(self.scheduled(), [self.SECOND, self.THIRD, self.FIRST])

    def test_remove_frees_the_slot_for_the_next_ones(self):
        services.post_queue_remove(post=self.posts[0])
        first = Post.objects.get(pk=self.posts[0].pk)
        self.assertEqual((first.status, first.scheduled_at), (Post.Status.DRAFT, None))
        self.assertEqual(self.scheduled()[1:], [self.FIRST, self.SECOND])
        self.assertEqual(self.times(first), {"FACEBOOK": None})

    def test_cancelling_frees_the_slot(self):
        services.post_cancel(post=self.posts[1])
        self.assertEqual([self.scheduled()[0], self.scheduled()[2]], [self.FIRST, self.SECOND])

    def test_a_post_given_its_own_time_leaves_the_queue_and_takes_that_slot(self):
        services.post_schedule(post=self.posts[2], scheduled_at=self.FIRST + timedelta(seconds=20))
        self.assertEqual(self.scheduled(), [self.SECOND, self.THIRD, self.FIRST + timedelta(seconds=20)])
        self.assertIsNone(Publication.objects.get(post=self.posts[2]).queue_position)

    def test_shuffle_keeps_the_same_slots(self):
        with mock.patch("publishing.services.queue.random.shuffle", side_effect=lambda items: items.reverse()):
            queue.channel_queue_shuffle(channel=self.facebook)
        self.assertEqual(self.scheduled(), [self.THIRD, self.SECOND, self.FIRST])

    def test_pause_holds_every_target_and_resume_gives_the_next_free_slots_from_now(self):
        queue.channel_queue_pause(channel=self.facebook)
        for post in Post.objects.filter(pk__in=[p.pk for p in self.posts]):
            self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, None))
        self.assertEqual(services.posts_dispatch(), 0)
        self.clock.now = utc(2027, 5, 4, 8)  # Tuesday 10:00: Monday's slots and Tuesday 09:00 went by
        queue.channel_queue_resume(channel=self.facebook)
        self.assertEqual(self.scheduled(), [utc(2027, 5, 4, 15), utc(2027, 5, 5, 7), utc(2027, 5, 5, 15)])

    def test_changing_the_slots_moves_the_queue(self):
        self.slots(self.facebook, {"weekday": 2, "time": "12:30"})
        self.assertEqual(
            self.scheduled(), [utc(2027, 5, 5, 10, 30), utc(2027, 5, 12, 10, 30), utc(2027, 5, 19, 10, 30)]
        )

    def test_an_edit_keeps_the_post_in_its_place(self):
        services.post_update(post=self.posts[0], content="typo fixed")
        self.assertEqual(self.scheduled(), [self.FIRST, self.SECOND, self.THIRD])

    def test_a_channel_without_slots_cannot_be_queued_on(self):
        post = self.draft("to X", platforms=["TWITTER"])
        with self.assertRaisesMessage(ValidationError, "has no posting slots"):
            services.post_queue(post=post)

    def test_bad_slots_are_refused_naming_them(self):
        with self.assertRaises(ValidationError) as caught:
            queue.channel_slots_set(channel=self.facebook, slots=[{"weekday": 7, "time": "09:00"}, {"weekday": 1}])
        self.assertEqual(len(caught.exception.message_dict["slots"]), 2)
        self.assertEqual(PostingSlot.objects.filter(channel=self.facebook).count(), 14)

    def test_a_post_to_two_channels_gets_a_time_on_each(self):
        self.slots(self.twitter, {"weekday": 1, "time": "12:00"})
        post = self.draft("both", platforms=["FACEBOOK", "TWITTER"])
        services.post_queue(post=post)
        self.assertEqual(self.times(post), {"FACEBOOK": utc(2027, 5, 4, 15), "TWITTER": utc(2027, 5, 4, 10)})
        self.assertEqual(Post.objects.get(pk=post.pk).scheduled_at, utc(2027, 5, 4, 10))


class CapsTests(QueueTestCase):
    def setUp(self):
        super().setUp()
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.clock = Clock(utc(2027, 5, 3, 6))
        self.clock.__enter__()
        self.addCleanup(self.clock.__exit__)

    def fill(self, connection, platform: str, times: list[datetime]) -> None:
        """Targets already scheduled on the account (rows, as any entry point leaves them)."""
        for at in times:
            post = Post.objects.create(
                team=self.team, content="x", platforms=[platform], status=Post.Status.SCHEDULED, scheduled_at=at
            )
            Publication.objects.create(post=post, platform=platform, connection=connection)

    def test_the_25th_instagram_post_in_24_hours_is_taken_and_the_26th_refused_with_the_next_room(self):
        start = utc(2027, 5, 3, 8)
        self.fill(self.instagram, "INSTAGRAM", [start + timedelta(minutes=20 * i) for i in range(24)])
        at = start + timedelta(hours=10)
        self.draft("25th", platforms=["INSTAGRAM"], media_urls=PHOTO, scheduled_at=at)
        with self.assertRaises(ValidationError) as caught:
            self.draft("26th", platforms=["INSTAGRAM"], media_urls=PHOTO, scheduled_at=at + timedelta(hours=1))
        (message,) = caught.exception.message_dict["scheduled_at"]
        self.assertIn("Instagram takes at most 25 posts per 24 h", message)
        # The first of the 25 leaves the window 24 h after it: 2027-05-04 08:00 UTC, 10:00 in Paris.
        self.assertIn("The next room is at 2027-05-04 10:00 (Europe/Paris)", message)
        self.draft("26th, later", platforms=["INSTAGRAM"], media_urls=PHOTO, scheduled_at=start + timedelta(hours=24))

    def test_published_posts_count_too(self):
        start = utc(2027, 5, 2, 8)
        self.fill(self.instagram, "INSTAGRAM", [])
        for i in range(25):
            post = Post.objects.create(
                team=self.team, content="x", platforms=["INSTAGRAM"], status=Post.Status.PUBLISHED
            )
            Publication.objects.create(
                post=post,
                platform="INSTAGRAM",
                connection=self.instagram,
                status=Publication.Status.PUBLISHED,
                published_at=start + timedelta(minutes=i),
            )
        with self.assertRaisesMessage(ValidationError, "The next room is at 2027-05-03 10:00"):
            self.draft("one more", platforms=["INSTAGRAM"], media_urls=PHOTO, scheduled_at=utc(2027, 5, 3, 7))

    def test_x_takes_200_in_15_minutes_and_refuses_the_201st(self):
        start = utc(2027, 5, 3, 12)
        self.fill(self.twitter, "TWITTER", [start + timedelta(seconds=3 * i) for i in range(199)])
        self.draft("200th", platforms=["TWITTER"], scheduled_at=start + timedelta(minutes=10))
        with self.assertRaisesMessage(ValidationError, "X takes at most 200 posts per 15 min"):
            self.draft("201st", platforms=["TWITTER"], scheduled_at=start + timedelta(minutes=11))

    def test_scheduling_a_draft_is_checked_too(self):
        start = utc(2027, 5, 3, 12)
        self.fill(self.twitter, "TWITTER", [start + timedelta(seconds=3 * i) for i in range(200)])
        post = self.draft("draft", platforms=["TWITTER"])
        with self.assertRaisesMessage(ValidationError, "The next room is at"):
            services.post_schedule(post=post, scheduled_at=start + timedelta(minutes=1))

    def test_the_queue_skips_a_full_day(self):
        self.slots(self.instagram, *[{"weekday": d, "time": "12:00"} for d in range(7)])
        self.fill(self.instagram, "INSTAGRAM", [utc(2027, 5, 3, 9) + timedelta(minutes=i) for i in range(25)])
        post = self.draft("queued", platforms=["INSTAGRAM"], media_urls=PHOTO)
        services.post_queue(post=post)
        # Monday 12:00 Paris (10:00 UTC) is inside the window of the 25; Tuesday 12:00 is past it.
        self.assertEqual(Post.objects.get(pk=post.pk).scheduled_at, utc(2027, 5, 4, 10))

    def test_a_live_figure_replaces_the_declared_one(self):
        from publishing.services.caps import cap_live_store

        cap_live_store(connection_id=self.instagram.pk, count=2)
        self.fill(self.instagram, "INSTAGRAM", [utc(2027, 5, 3, 9), utc(2027, 5, 3, 10)])
        with self.assertRaisesMessage(ValidationError, "Instagram takes at most 2 posts per 24 h"):
            self.draft("third", platforms=["INSTAGRAM"], media_urls=PHOTO, scheduled_at=utc(2027, 5, 3, 11))


PACIFIC = ZoneInfo("America/Los_Angeles")
CLIP = ["https://example.org/clip.mp4"]


class ProjectQuotaTests(QueueTestCase):
    """YouTube's daily quota belongs to planrrr's Google project: every team's YouTube posts of one
    Pacific day count against it, at the door and in the queue (publishing.services.caps.QuotaRoom)."""

    def setUp(self):
        super().setUp()
        self.channel = self.connect("YOUTUBE", "UCAcmeCoffeeRoasters0001", "yt-token")
        self.others = self.connect("YOUTUBE", "UCSamSoloMakesVideos0002", "yt-token-2", team=self.outsiders)
        self.enterContext(self.settings(YOUTUBE_DAILY_QUOTA_UNITS=3200, YOUTUBE_UPLOAD_COST_UNITS=1600))

    def video(self, team, channel, at=None, text="A video"):
        return services.post_create(team=team, content=text, channels=[channel.pk], media_urls=CLIP, scheduled_at=at)

    def test_another_teams_uploads_fill_the_pacific_day_at_the_door(self):
        with Clock(utc(2027, 6, 1, 12)):
            # 23:30 and 23:45 Pacific on 2 June are 06:30 and 06:45 UTC on 3 June.
            self.video(self.outsiders, self.others, utc(2027, 6, 3, 6, 30))
            self.video(self.outsiders, self.others, utc(2027, 6, 3, 6, 45))
            with self.assertRaises(ValidationError) as refused:
                self.video(self.team, self.channel, utc(2027, 6, 2, 20))
            # The next Pacific day (3 June from 07:00 UTC) has room, whatever the UTC date says.
            self.video(self.team, self.channel, utc(2027, 6, 3, 7, 30))
        message = str(refused.exception)
        self.assertIn("YouTube takes at most 2 posts a day from this planrrr installation", message)
        self.assertIn("2027-06-02 already has 2 published or scheduled", message)
        self.assertIn(
            "The next day with room starts at 2027-06-03 00:00 (America/Los_Angeles), that is "
            "2027-06-03 09:00 (Europe/Paris)",
            message,
        )

    def test_the_queue_puts_a_video_on_the_next_pacific_day_with_room(self):
        with Clock(utc(2027, 6, 1, 12)):
            self.video(self.outsiders, self.others, utc(2027, 6, 2, 17))
            self.video(self.outsiders, self.others, utc(2027, 6, 2, 18))
            # Every day at 19:00 Paris (10:00 Pacific): 2 June is full, 3 June has room.
            self.slots(self.channel, *({"weekday": day, "time": "19:00"} for day in range(7)))
            first, second, third = (self.video(self.team, self.channel, text=f"Queued {i}") for i in range(3))
            for post in (first, second, third):
                services.post_queue(post=post)
        days = [self.times(post)["YOUTUBE"].astimezone(PACIFIC).date().isoformat() for post in (first, second, third)]
        # One slot a day: 2 June, full across the installation, is skipped.
        self.assertEqual(days, ["2027-06-01", "2027-06-03", "2027-06-04"])
