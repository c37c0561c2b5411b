"""A team's time zone: the admin shows and takes times in it, and says which zone it is."""

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import TestCase
from django.urls import reverse

from devtools.testing import flush_redis
from planrrr.models import Team
from publishing import services
from publishing.models import Post
from publishing.tests.base import Actors
from publishing.tests.test_admin import INLINE_MANAGEMENT


class TeamTimezoneTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.team.timezone = "Europe/Paris"
        self.team.save()
        self.staff = get_user_model().objects.create_superuser("root", "root@example.org", "password")
        self.client.force_login(self.staff)

    def add_in_admin(self, day: str) -> Post:
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            {
                "team": self.team.pk,
                "content": f"Paris morning {day}",
                "channels": [self.facebook.pk],
                "media_urls": "",
                "variants": "",
                "scheduled_at_0": day,
                "scheduled_at_1": "09:30:00",
                **INLINE_MANAGEMENT,
            },
        )
        self.assertEqual(response.status_code, 302, response.content.decode()[-3000:])
        return Post.objects.get(content=f"Paris morning {day}")

    def test_it_reads_admin_times_in_the_team_zone_in_winter_and_summer(self):
        winter = self.add_in_admin("2030-01-15")
        summer = self.add_in_admin("2030-07-15")
        self.assertEqual(winter.scheduled_at, datetime(2030, 1, 15, 8, 30, tzinfo=UTC))
        self.assertEqual(summer.scheduled_at, datetime(2030, 7, 15, 7, 30, tzinfo=UTC))

    def test_it_shows_the_time_in_the_team_zone_naming_it(self):
        post = services.post_create(
            team=self.team,
            content="Shown in Paris time",
            platforms=["FACEBOOK"],
            scheduled_at=datetime(2030, 1, 15, 8, 30, tzinfo=UTC),
        )
        page = self.client.get(reverse("admin:publishing_post_change", args=[post.pk]))
        self.assertContains(page, "2030-01-15 09:30 Europe/Paris (08:30 UTC)")
        listing = self.client.get(reverse("admin:publishing_post_changelist"))
        self.assertContains(listing, "09:30 Europe/Paris")

    def test_it_says_which_zone_the_add_form_takes(self):
        page = self.client.get(reverse("admin:publishing_post_add"), {"team": self.team.pk})
        self.assertContains(page, "Date and time in Europe/Paris")

    def test_it_refuses_an_unknown_zone(self):
        with self.assertRaisesMessage(ValidationError, "Unknown time zone 'Mars/Olympus'"):
            Team(name="Space", timezone="Mars/Olympus").full_clean()
