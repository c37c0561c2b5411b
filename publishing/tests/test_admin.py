"""The admin operators work in: every page renders, secrets stay hidden, bad posts are refused."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from planrrr.testing import flush_redis
from publishing import services
from publishing.models import Post
from publishing.tests.base import Actors

# The publications inline's management form, which every admin post form carries.
INLINE_MANAGEMENT = {"publications-TOTAL_FORMS": "0", "publications-INITIAL_FORMS": "0"}


class AdminTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.staff = get_user_model().objects.create_superuser("root", "root@example.org", "password")
        self.client.force_login(self.staff)
        with self.captureOnCommitCallbacks(execute=True):
            self.post = services.post_create(
                team=self.team, content="Admin view", platforms=["FACEBOOK", "TWITTER"], scheduled_at=self.soon(60)
            )

    def test_a_bad_row_does_not_break_the_lists(self):
        # Rows written by other programs: a NULL platform, no platforms, a token that cannot be
        # decrypted. Every list and page still renders, saying what is wrong.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,
                                             created_at, updated_at)
                VALUES (%s, 'Bad row', ARRAY['FACEBOOK', NULL]::varchar[], '{}', 'SCHEDULED', now(), now(), now()),
                       (%s, 'No platforms', '{}', '{}', 'SCHEDULED', now(), now(), now())
                RETURNING id
                """,
                [self.team.pk, self.team.pk],
            )
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "UPDATE connections_connection SET access_token = 'fernet:garbage' WHERE id = %s", [self.facebook.pk]
            )
        for url in [
            reverse("admin:publishing_post_changelist"),
            *(reverse("admin:publishing_post_change", args=[pk]) for pk in ids),
            reverse("admin:publishing_publication_changelist"),
            reverse("admin:connections_connection_changelist"),
            reverse("admin:connections_connection_change", args=[self.facebook.pk]),
        ]:
            self.assertEqual(self.client.get(url).status_code, 200, url)
        self.assertContains(self.client.get(reverse("admin:publishing_post_changelist")), "FACEBOOK, None")

    def test_it_renders_every_changelist_and_change_page(self):
        for model in admin.site._registry:
            meta = model._meta
            if not meta.managed:
                continue  # django-rq's dashboard entry has no table
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
            self.assertEqual(self.client.get(url).status_code, 200, url)
            first = model.objects.first()
            if first is not None:
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
                self.assertEqual(self.client.get(url).status_code, 200, url)

    def test_it_shows_publications_inline_and_filters_by_platform(self):
        page = self.client.get(reverse("admin:publishing_post_change", args=[self.post.pk])).content.decode()
        self.assertIn("FACEBOOK", page)
        self.assertIn("TWITTER", page)
        listing = self.client.get(reverse("admin:publishing_post_changelist"), {"platform": "LINKEDIN"})
        self.assertNotContains(listing, "Admin view")
        listing = self.client.get(reverse("admin:publishing_post_changelist"), {"platform": "TWITTER", "q": "Admin"})
        self.assertContains(listing, "Admin view")

    def test_it_never_shows_an_access_token(self):
        for url in (
            reverse("admin:connections_connection_changelist"),
            reverse("admin:connections_connection_change", args=[self.facebook.pk]),
        ):
            page = self.client.get(url)
            self.assertNotContains(page, "mock_fb_token")
        self.assertContains(self.client.get(reverse("admin:connections_connection_changelist")), "••••oken")

    def test_it_keeps_the_token_when_the_field_is_left_blank(self):
        url = reverse("admin:connections_connection_change", args=[self.facebook.pk])
        data = {
            "team": self.team.pk,
            "platform": "FACEBOOK",
            "account_id": self.facebook.account_id,
            "name": "Renamed",
            "access_token": "",
            "status": "ACTIVE",
            "status_detail": "",
        }
        self.assertEqual(self.client.post(url, data).status_code, 302)
        self.facebook.refresh_from_db()
        self.assertEqual((self.facebook.name, self.facebook.access_token), ("Renamed", "mock_fb_token"))

    def test_it_refuses_a_post_that_could_not_succeed_with_the_reason(self):
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            {
                "team": self.team.pk,
                "content": "x" * 300,
                "platforms": "TWITTER,LINKEDIN",
                "media_urls": "",
                "scheduled_at_0": timezone.now().date().isoformat(),
                "scheduled_at_1": "12:00:00",
                **INLINE_MANAGEMENT,
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "at most 280")
        self.assertContains(response, "no LinkedIn connection")
        self.assertEqual(Post.objects.count(), 1)

    def test_it_creates_a_scheduled_post_with_its_publications(self):
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            {
                "team": self.team.pk,
                "content": "From the admin",
                "platforms": "FACEBOOK",
                "media_urls": "",
                "scheduled_at_0": (timezone.now().date()).isoformat(),
                "scheduled_at_1": "23:59:59",
                **INLINE_MANAGEMENT,
            },
        )
        self.assertEqual(response.status_code, 302)
        post = Post.objects.get(content="From the admin")
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(list(post.publications.values_list("platform", flat=True)), ["FACEBOOK"])
