"""The admin's queue: a channel's page edits its weekly slots and shows its queue with pause,
resume and shuffle; a post's actions add it to the queue. Through the services, team-scoped."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse

from devtools.testing import flush_redis
from planrrr.models import Membership
from planrrr.teamadmin import TEAM_GROUP, team_group_sync
from publishing import services
from publishing.models import Post, PostingSlot
from publishing.tests.base import Actors


class QueueAdminTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.team.timezone = "Europe/Paris"
        self.team.save()
        self.owner.is_staff = True
        self.owner.save()
        team_group_sync()
        self.owner.groups.add(Group.objects.get(name=TEAM_GROUP))
        self.client.force_login(self.owner)
        self.page = reverse("admin:connections_connection_change", args=[self.facebook.pk])

    def slots_form(self, *slots) -> dict:
        data = {
            "team": self.team.pk,
            "platform": "FACEBOOK",
            "account_id": self.facebook.account_id,
            "name": "Acme page",
            "access_token": "",
            "refresh_token": "",
            "scopes": "",
            "base_url": "",
            "status": "ACTIVE",
            "status_detail": "",
            "slots-TOTAL_FORMS": str(len(slots)),
            "slots-INITIAL_FORMS": "0",
            "slots-MIN_NUM_FORMS": "0",
            "slots-MAX_NUM_FORMS": "1000",
        }
        for index, (weekday, at) in enumerate(slots):
            data[f"slots-{index}-weekday"] = str(weekday)
            data[f"slots-{index}-time"] = at
        return data

    def test_the_channel_page_edits_its_slots_and_the_queue_takes_them(self):
        post = services.post_create(team=self.team, content="Queued soon", platforms=["FACEBOOK"])
        response = self.client.post(self.page, self.slots_form((0, "09:00"), (3, "17:30")))
        self.assertEqual(response.status_code, 302, getattr(response, "context_data", {}).get("errors"))
        self.assertEqual(
            sorted((s.weekday, s.time.strftime("%H:%M")) for s in PostingSlot.objects.filter(channel=self.facebook)),
            [(0, "09:00"), (3, "17:30")],
        )
        act = reverse("admin:publishing_post_act", args=[post.pk, "add_to_queue"])
        self.client.post(act)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        local = post.scheduled_at.astimezone(self.team.zone)
        self.assertIn((local.weekday(), local.strftime("%H:%M")), [(0, "09:00"), (3, "17:30")])
        page = self.client.get(self.page)
        self.assertContains(page, "1 queued post(s)")
        self.assertContains(page, f"Post #{post.pk}")
        self.assertContains(page, "Pause the queue")

    def test_pause_and_resume_from_the_channel_page(self):
        services.channel_slots_set(channel=self.facebook, slots=[{"weekday": d, "time": "09:00"} for d in range(7)])
        post = services.post_queue(post=services.post_create(team=self.team, content="Held", platforms=["FACEBOOK"]))
        self.client.post(reverse("admin:connections_connection_queue", args=[self.facebook.pk, "pause"]))
        post.refresh_from_db()
        self.assertIsNone(post.scheduled_at)
        self.assertContains(self.client.get(self.page), "held")
        self.client.post(reverse("admin:connections_connection_queue", args=[self.facebook.pk, "resume"]))
        post.refresh_from_db()
        self.assertIsNotNone(post.scheduled_at)

    def test_a_member_cannot_pause_and_another_teams_channel_is_not_found(self):
        member = get_user_model().objects.create_user("bob", "bob@example.org", "password", is_staff=True)
        member.groups.add(Group.objects.get(name=TEAM_GROUP))
        Membership.objects.create(user=member, team=self.team, role=Membership.Role.MEMBER)
        self.client.force_login(member)
        response = self.client.post(reverse("admin:connections_connection_queue", args=[self.facebook.pk, "pause"]))
        self.assertEqual(response.status_code, 403)
        other = self.connect("FACEBOOK", "999", "t", team=self.outsiders)
        self.client.force_login(self.owner)
        response = self.client.post(reverse("admin:connections_connection_queue", args=[other.pk, "pause"]))
        self.assertEqual(response.status_code, 404)
