"""The workspace's frame: who gets in, which team, whose zone the times are in."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import RequestFactory, TestCase

from planrrr.models import Membership, Team
from workspace.access import Workspace, person_zone
from workspace.models import Preference


class FrameTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        users = get_user_model().objects
        cls.paris = Team.objects.create(name="Paris bakery", timezone="Europe/Paris")
        cls.tokyo = Team.objects.create(name="Tokyo tea", timezone="Asia/Tokyo")
        cls.mia = users.create_user("mia", password="writes every day")
        Membership.objects.create(user=cls.mia, team=cls.paris, role=Membership.Role.MEMBER)
        cls.olga = users.create_user("olga", password="owns two teams")
        Membership.objects.create(user=cls.olga, team=cls.paris, role=Membership.Role.OWNER)
        Membership.objects.create(user=cls.olga, team=cls.tokyo, role=Membership.Role.OWNER)

    def test_a_logged_out_person_is_sent_to_the_workspace_login(self):
        response = self.client.get(f"/app/{self.paris.pk}/preferences/")
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/app/login/?next="))
        self.assertContains(self.client.get("/app/login/"), "Log in to your team")

    def test_a_person_sees_only_their_own_teams(self):
        self.client.force_login(self.mia)
        self.assertEqual(self.client.get(f"/app/{self.tokyo.pk}/preferences/").status_code, 404)
        self.assertEqual(self.client.get("/app/999999/preferences/").status_code, 404)
        # One team: straight in.
        self.assertRedirects(self.client.get("/app/"), f"/app/{self.paris.pk}/", fetch_redirect_response=False)

    def test_a_person_in_several_teams_picks_one(self):
        self.client.force_login(self.olga)
        page = self.client.get("/app/")
        self.assertContains(page, "Paris bakery")
        self.assertContains(page, "Tokyo tea")

    def test_times_are_in_the_persons_zone_and_say_so(self):
        self.client.force_login(self.mia)
        page = self.client.get(f"/app/{self.paris.pk}/preferences/")
        self.assertContains(page, "times in Europe/Paris")
        response = self.client.post(f"/app/{self.paris.pk}/preferences/", {"timezone": "America/New_York"}, follow=True)
        self.assertContains(response, "times in America/New_York")
        self.assertEqual(Preference.objects.get(user=self.mia).timezone, "America/New_York")
        refused = self.client.post(f"/app/{self.paris.pk}/preferences/", {"timezone": "Mars/Olympus"})
        self.assertContains(refused, "Select a valid choice")

        self.mia.refresh_from_db()
        request = RequestFactory().get("/")
        request.workspace = Workspace(
            team=self.paris, role="MEMBER", user=self.mia, zone=person_zone(self.mia, self.paris)
        )
        html = Template("{% load workspace %}{% when at %}").render(
            Context({"request": request, "at": datetime(2026, 12, 7, 8, 0, tzinfo=UTC)})
        )
        self.assertIn("Mon 7 Dec 2026, 03:00 America/New_York", html)
        self.assertIn('datetime="2026-12-07T08:00:00+00:00"', html)

    def test_blank_follows_each_teams_zone(self):
        Preference.objects.create(user=self.olga, timezone="")
        self.assertEqual(person_zone(self.olga, self.tokyo).key, "Asia/Tokyo")
        self.assertEqual(person_zone(self.olga, self.paris).key, "Europe/Paris")
