"""The analytics in the admin: a post's curve, a channel's followers and the week's top posts,
drawn as inline SVG with a mark per data point; another team's rows are 404s."""

import re
from datetime import timedelta

from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from analytics.models import ChannelDay, ChannelSync, Snapshot, Tracking
from analytics.tests.base import Published
from planrrr import teamadmin
from publishing.tests.base import Actors

POINT = re.compile(r'class="point"')


class AnalyticsAdminTests(Published, Actors, TestCase):
    def setUp(self):
        super().setUp()
        self.make_actors()
        self.owner.is_staff = True
        self.owner.save()
        self.owner.groups.add(Group.objects.get(name=teamadmin.TEAM_GROUP))
        self.client.force_login(self.owner)
        now = timezone.now()
        publication = self.published(self.twitter, "111", at=now - timedelta(hours=5), content="Best coffee in town")
        self.tracking = Tracking.objects.create(
            publication=publication,
            team=self.team,
            connection=self.twitter,
            platform="TWITTER",
            external_id="111",
            published_at=publication.published_at,
            captured_at=now,
            views=900,
            likes=40,
        )
        for hours in range(4):
            Snapshot.objects.create(
                publication_id=publication.pk,
                captured_at=now - timedelta(hours=hours),
                team_id=self.team.pk,
                views=900 - 100 * hours,
                likes=40 - hours,
                comments=None,
                shares=1,
            )

    def test_a_posts_page_draws_its_curve_a_point_per_reading_and_series(self):
        response = self.client.get(reverse("admin:analytics_tracking_change", args=[self.tracking.pk]))

        self.assertEqual(response.status_code, 200)
        body = response.content.decode()
        # views, likes, shares: four readings each; comments not given: no point, never a zero.
        self.assertEqual(len(POINT.findall(body)), 12)
        self.assertIn('data-series="views"', body)
        self.assertNotIn('data-series="comments"', body)
        self.assertIn("views 900 at", body)

    def test_a_channels_page_draws_its_followers(self):
        now = timezone.now()
        for days in range(3):
            at = now - timedelta(days=days)
            ChannelDay.objects.create(connection=self.twitter, day=at.date(), captured_at=at, followers=100 + days)
        ChannelSync.objects.create(connection=self.twitter, status_detail="The budget of 12 calls per 15 min is spent")

        response = self.client.get(reverse("admin:analytics_channelsync_change", args=[self.twitter.pk]))

        body = response.content.decode()
        self.assertEqual(len(POINT.findall(body)), 3)
        self.assertIn("The budget of 12 calls per 15 min is spent", body)

    def test_the_week_page_ranks_the_top_posts_with_a_bar_each(self):
        response = self.client.get(reverse("admin:analytics_tracking_week"))

        body = response.content.decode()
        self.assertEqual(len(POINT.findall(body)), 1)
        self.assertIn("X: Best coffee in town: 40", body)

    def test_another_teams_rows_are_404(self):
        theirs = self.connect("TWITTER", "999", "their-token", team=self.outsiders)
        publication = self.published(theirs, "222")
        tracking = Tracking.objects.create(
            publication=publication,
            team=self.outsiders,
            connection=theirs,
            platform="TWITTER",
            external_id="222",
            published_at=publication.published_at,
            captured_at=timezone.now(),
            likes=1000,
        )
        self.assertEqual(
            self.client.get(reverse("admin:analytics_tracking_change", args=[tracking.pk])).status_code, 404
        )
        self.assertNotIn("Hello", self.client.get(reverse("admin:analytics_tracking_week")).content.decode())
