"""The admin's post form picks accounts (channels), and changes a post until it starts publishing,
through the same door as the API."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis
from planrrr import teamadmin
from planrrr.models import Membership
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import Actors

AVATAR = "https://scontent.test/coffee.jpg"


class AdminChannelsTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        Connection.objects.filter(pk=self.facebook.pk).update(name="Acme page")
        self.coffee = self.connect("FACEBOOK", "104857600000002", "coffee_token")
        Connection.objects.filter(pk=self.coffee.pk).update(name="Acme Coffee", avatar_url=AVATAR)
        self.old = self.connect("FACEBOOK", "104857600000003", "old_token")
        Connection.objects.filter(pk=self.old.pk).update(name="Old shop page", status=Connection.Status.EXPIRED)
        self.rival = self.connect("FACEBOOK", "104857600000004", "rival_token", team=self.outsiders)
        Connection.objects.filter(pk=self.rival.pk).update(name="Rival page")
        writer = get_user_model().objects.create_user("wendy", password="password", is_staff=True)
        writer.groups.add(Group.objects.get(name=teamadmin.TEAM_GROUP))
        Membership.objects.create(user=writer, team=self.team, role=Membership.Role.OWNER)
        self.client.force_login(writer)

    def form(self, **fields) -> dict:
        when = timezone.localtime(timezone.now() + timedelta(days=1), self.team.zone)
        return {
            "content": "Hello",
            "channels": [self.facebook.pk],
            "media_urls": "",
            "variants": "",
            "thread": "",
            "first_comment": "",
            "repeat": "",
            "scheduled_at_0": when.date().isoformat(),
            "scheduled_at_1": "09:30:00",
            "publications-TOTAL_FORMS": "0",
            "publications-INITIAL_FORMS": "0",
            **fields,
        }

    def test_the_form_offers_the_teams_active_accounts_with_their_names_and_pictures(self):
        page = self.client.get(reverse("admin:publishing_post_add")).content.decode()
        self.assertIn(f'value="{self.coffee.pk}"', page)
        self.assertIn(f"#{self.coffee.pk} Acme Coffee", page)
        self.assertIn(f'src="{AVATAR}"', page)
        self.assertIn(f"#{self.facebook.pk} Acme page", page)
        self.assertIn(f"#{self.twitter.pk} Twitter", page)
        self.assertNotIn("Old shop page", page)  # expired: reconnect it first
        self.assertNotIn("Rival page", page)  # another team's

    def test_it_writes_a_post_to_the_accounts_ticked(self):
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            self.form(team=self.team.pk, channels=[self.coffee.pk, self.twitter.pk]),
        )
        self.assertEqual(response.status_code, 302, response.content.decode()[-2000:])
        post = Post.objects.get(content="Hello")
        self.assertEqual((post.channels, post.platforms), ([self.coffee.pk, self.twitter.pk], ["FACEBOOK", "TWITTER"]))
        self.assertEqual(
            set(post.publications.values_list("connection_id", flat=True)), {self.coffee.pk, self.twitter.pk}
        )

    def test_it_changes_a_scheduled_post_through_the_door(self):
        post = services.post_create(
            team=self.team, content="Helo", channels=[self.facebook.pk], scheduled_at=self.soon(3600)
        )
        kept = Publication.objects.get(post=post)
        url = reverse("admin:publishing_post_change", args=[post.pk])
        self.assertContains(self.client.get(url), 'name="_save"')

        response = self.client.post(url, self.form(content="Hello", channels=[self.facebook.pk, self.coffee.pk]))

        self.assertEqual(response.status_code, 302, response.content.decode()[-2000:])
        post.refresh_from_db()
        self.assertEqual((post.content, post.channels), ("Hello", [self.facebook.pk, self.coffee.pk]))
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(post.scheduled_at.astimezone(self.team.zone).strftime("%H:%M"), "09:30")
        self.assertTrue(Publication.objects.filter(pk=kept.pk, connection=self.facebook).exists())
        self.assertTrue(post.publications.filter(connection=self.coffee).exists())

    def test_it_refuses_a_change_that_could_not_succeed_with_the_reason(self):
        post = services.post_create(team=self.team, content="Fine", channels=[self.twitter.pk])
        url = reverse("admin:publishing_post_change", args=[post.pk])
        response = self.client.post(url, self.form(content="x" * 300, channels=[self.twitter.pk]))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "at most 280")
        post.refresh_from_db()
        self.assertEqual(post.content, "Fine")

    def test_a_post_that_started_publishing_is_read_only(self):
        post = services.post_create(team=self.team, content="Going out", channels=[self.twitter.pk])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        url = reverse("admin:publishing_post_change", args=[post.pk])
        self.assertNotContains(self.client.get(url), 'name="_save"')
        self.client.post(url, self.form(content="Changed", channels=[self.twitter.pk]))
        post.refresh_from_db()
        self.assertEqual(post.content, "Going out")
