"""Recurring posts: occurrences in the team's time zone, each a post of its own, made when the
one before ends; a failed one does not stop the series, a cancelled one does."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.test import TestCase
from django.utils import timezone

from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import Actors

PARIS = ZoneInfo("Europe/Paris")
WEEKLY = "FREQ=WEEKLY;BYDAY=MO;COUNT=8"


class OccurrenceTests(TestCase):
    def test_a_weekly_series_keeps_its_local_time_across_a_daylight_saving_change(self):
        # Monday 23 March 2026, 09:00 in Paris (CET, UTC+1); clocks go forward on 29 March.
        start = datetime(2026, 3, 23, 9, 0, tzinfo=PARIS)

        after_change = services.occurrence_after(repeat=WEEKLY, start=start, after=start, zone=PARIS)

        self.assertEqual(after_change, datetime(2026, 3, 30, 9, 0, tzinfo=PARIS))
        self.assertEqual(start.astimezone(UTC).hour, 8)
        self.assertEqual(after_change.astimezone(UTC).hour, 7, "09:00 local is 07:00 UTC in summer time")

    def test_it_ends_with_the_rule(self):
        start = datetime(2026, 3, 23, 9, 0, tzinfo=PARIS)
        last = datetime(2026, 5, 11, 9, 0, tzinfo=PARIS)  # the 8th Monday
        self.assertEqual(
            services.occurrence_after(repeat=WEEKLY, start=start, after=last - timedelta(days=1), zone=PARIS), last
        )
        self.assertIsNone(services.occurrence_after(repeat=WEEKLY, start=start, after=last, zone=PARIS))


class SeriesTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.team.timezone = "Europe/Paris"
        self.team.save()

    def first(self, **fields) -> Post:
        # Occurrences are whole seconds (RFC 5545 times have no fraction); the same weekday.
        fields = {"content": "Weekly coffee", "platforms": ["FACEBOOK"], "repeat": "FREQ=WEEKLY;COUNT=8", **fields}
        at = self.soon(3600).replace(microsecond=0)
        return services.post_create(team=self.team, scheduled_at=at, **fields)

    def end(self, post: Post, status: str) -> Post:
        """What the publish path does: the post publishing, its publications final, finalized."""
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        Publication.objects.filter(post=post).update(status=status, published_at=timezone.now())
        services.post_finalize(post_id=post.pk)
        post.refresh_from_db()
        return post

    def test_a_failed_occurrence_does_not_stop_the_next(self):
        first = self.first()
        self.assertEqual(self.end(first, Publication.Status.FAILED).status, Post.Status.FAILED)

        second = Post.objects.get(series=first)
        self.assertEqual(second.status, Post.Status.SCHEDULED)
        self.assertEqual(second.scheduled_at, first.scheduled_at + timedelta(days=7))
        self.assertEqual((second.content, second.platforms, second.repeat), ("Weekly coffee", ["FACEBOOK"], ""))
        self.assertEqual(second.publications.get().status, Publication.Status.PENDING)

        self.end(second, Publication.Status.PUBLISHED)
        third = Post.objects.filter(series=first).order_by("scheduled_at").last()
        self.assertEqual(third.scheduled_at, first.scheduled_at + timedelta(days=14))
        # Finalizing twice makes no second occurrence.
        self.assertIsNone(services.series_continue(post=second))
        self.assertEqual(Post.objects.filter(series=first).count(), 2)

    def test_cancelling_the_series_stops_future_occurrences_only(self):
        first = self.end(self.first(), Publication.Status.PUBLISHED)
        waiting = Post.objects.get(series=first)

        self.assertTrue(services.post_cancel(post=waiting))

        self.assertIsNone(services.series_continue(post=first))
        first.refresh_from_db()
        self.assertEqual(first.status, Post.Status.PUBLISHED, "what went out stays")
        self.assertEqual(Post.objects.filter(series=first).count(), 1)

    def test_it_refuses_rules_that_fire_too_often_never_or_are_not_rules(self):
        for repeat, words in [
            ("FREQ=MINUTELY;INTERVAL=30", "more often than hourly"),
            ("FREQ=DAILY;BYHOUR=9,10;BYMINUTE=0,30", "more often than hourly"),
            ("FREQ=WEEKLY;COUNT=1", "never fires after the first post"),
            ("every monday", "not an RFC 5545 RRULE"),
        ]:
            with self.subTest(repeat=repeat), self.assertRaises(ValidationError) as caught:
                self.first(repeat=repeat)
            self.assertIn(words, caught.exception.message_dict["repeat"][0])
        self.assertFalse(Post.objects.exists())
