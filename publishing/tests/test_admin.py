"""The admin operators work in: every page renders, secrets stay hidden, bad posts are refused."""

import uuid
from datetime import UTC, datetime

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis
from planrrr.models import Team
from publishing import services
from publishing.models import Post, Publication
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
        self.assertContains(self.client.get(reverse("admin:publishing_post_changelist")), "None -")

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
            # The channel's posting slots (an inline), none.
            "slots-TOTAL_FORMS": "0",
            "slots-INITIAL_FORMS": "0",
        }
        self.assertEqual(self.client.post(url, data).status_code, 302)
        self.facebook.refresh_from_db()
        self.assertEqual((self.facebook.name, self.facebook.access_token), ("Renamed", "mock_fb_token"))

    def test_it_refuses_a_post_that_could_not_succeed_with_the_reason(self):
        self.outsiders_page = self.connect("FACEBOOK", "555", "their_token", team=self.outsiders)
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            {
                "team": self.team.pk,
                "content": "x" * 300,
                "channels": [self.twitter.pk, self.outsiders_page.pk],
                "media_urls": "",
                "scheduled_at_0": timezone.now().date().isoformat(),
                "scheduled_at_1": "12:00:00",
                **INLINE_MANAGEMENT,
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "at most 280")
        # Another team's account is refused, by the rules every entry point asks.
        self.assertContains(response, f"Channel {self.outsiders_page.pk} is not one of your team")
        self.assertEqual(Post.objects.count(), 1)

    def test_it_creates_a_scheduled_post_with_its_publications(self):
        response = self.client.post(
            reverse("admin:publishing_post_add"),
            {
                "team": self.team.pk,
                "content": "From the admin",
                "channels": [self.facebook.pk],
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


class OperatorActionTests(Actors, TestCase):
    """What an on-call person does in the admin: retry, cancel, publish now, per object and in bulk,
    told which object and why one was skipped."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.staff = get_user_model().objects.create_superuser("root", "root@example.org", "password")
        self.client.force_login(self.staff)

    def failed_post(self, platforms=("FACEBOOK", "TWITTER"), failed=("FACEBOOK",)) -> Post:
        post = services.post_create(team=self.team, content="Menu", platforms=list(platforms))
        for publication in post.publications.all():
            if publication.platform in failed:
                publication.status, publication.error, publication.attempt_count = "FAILED", "Platform said no", 3
            else:
                publication.status, publication.external_id = "PUBLISHED", "1"
            publication.save()
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PARTIAL)
        return post

    def messages_of(self, response) -> list[str]:
        return [str(m) for m in response.context["messages"]]

    def test_it_retries_selected_failed_publications_naming_them(self):
        post = self.failed_post()
        failed = post.publications.get(platform="FACEBOOK")
        published = post.publications.get(platform="TWITTER")

        response = self.client.post(
            reverse("admin:publishing_publication_changelist"),
            {"action": "retry", "_selected_action": [failed.pk, published.pk]},
            follow=True,
        )

        text = " | ".join(self.messages_of(response))
        self.assertIn(f"Publication #{published.pk} (TWITTER of post #{post.pk}): not retried, it is PUBLISHED", text)
        self.assertIn(f"Post #{post.pk} “Menu”: retrying publication(s) #{failed.pk} (FACEBOOK).", text)
        failed.refresh_from_db()
        self.assertEqual(failed.status, Publication.Status.PENDING)

    def test_it_refuses_a_retry_that_cannot_succeed_yet_with_the_reason(self):
        post = self.failed_post()
        Connection.objects.filter(pk=self.facebook.pk).update(status=Connection.Status.EXPIRED)
        failed = post.publications.get(platform="FACEBOOK")

        response = self.client.post(reverse("admin:publishing_publication_retry", args=[failed.pk]), follow=True)

        text = " | ".join(self.messages_of(response))
        self.assertIn(f"publication #{failed.pk} (FACEBOOK) not retried. FACEBOOK:", text)
        self.assertIn("is EXPIRED, reconnect it first", text)
        failed.refresh_from_db()
        self.assertEqual(failed.status, Publication.Status.FAILED)

    def test_post_page_has_actions_and_no_save_or_delete(self):
        post = self.failed_post()

        page = self.client.get(reverse("admin:publishing_post_change", args=[post.pk])).content.decode()

        self.assertIn(reverse("admin:publishing_post_act", args=[post.pk, "retry_failed"]), page)
        self.assertNotIn('name="_save"', page)
        self.assertNotIn("deletelink", page)
        # Only the buttons that apply: a post that has ended is not published now or cancelled.
        for action in ("publish_now", "cancel", "add_to_queue", "queue_top", "queue_remove"):
            self.assertNotIn(reverse("admin:publishing_post_act", args=[post.pk, action]), page)

    def test_the_post_page_links_the_live_post_tells_each_attempt_and_labels_its_times(self):
        Team.objects.filter(pk=self.team.pk).update(timezone="Europe/Paris")
        post = self.failed_post()
        published = post.publications.get(platform="TWITTER")
        failed = post.publications.get(platform="FACEBOOK")
        Publication.objects.filter(pk=published.pk).update(
            published_at=datetime(2026, 12, 7, 7, 49, tzinfo=UTC),
            lease_token=uuid.uuid4(),
            metadata={
                "url": "https://x.com/acme/status/1",
                "history": [
                    {"attempt": 1, "at": "2026-12-07T07:48:00+00:00", "outcome": "RETRY", "error": "X said 503"},
                    {"attempt": 2, "at": "2026-12-07T07:49:00+00:00", "outcome": "PUBLISHED", "error": ""},
                ],
            },
        )
        Post.objects.filter(pk=post.pk).update(published_at=datetime(2026, 12, 7, 7, 49, tzinfo=UTC))

        page = self.client.get(reverse("admin:publishing_post_change", args=[post.pk])).content.decode()
        self.assertIn('href="https://x.com/acme/status/1"', page)
        self.assertIn("attempt 1 · 2026-12-07 08:48 Europe/Paris · retry X said 503", page)
        self.assertIn("2026-12-07 08:49 Europe/Paris", page)
        self.assertNotIn("lease", page.lower())

        detail = self.client.get(reverse("admin:publishing_publication_change", args=[published.pk])).content.decode()
        self.assertIn("attempt 2 · 2026-12-07 08:49 Europe/Paris · published", detail)
        self.assertNotIn("Lease token", detail)
        self.assertNotIn("Stage token", detail)
        self.assertNotIn(str(Publication.objects.get(pk=published.pk).lease_token), detail)
        self.assertIn(
            "Platform said no",
            self.client.get(reverse("admin:publishing_publication_change", args=[failed.pk])).content.decode(),
        )

        listing = self.client.get(reverse("admin:publishing_post_changelist")).content.decode()
        self.assertIn("2026-12-07 08:49 Europe/Paris", listing)

    def test_the_accounts_list_labels_expiry_and_shows_only_a_rate_limit_still_running(self):
        Team.objects.filter(pk=self.team.pk).update(timezone="Europe/Paris")
        Connection.objects.filter(pk=self.facebook.pk).update(
            expires_at=datetime(2027, 1, 10, 12, 0, tzinfo=UTC),
            rate_limited_until=timezone.now() - timezone.timedelta(hours=1),
        )
        Connection.objects.filter(pk=self.twitter.pk).update(
            rate_limited_until=datetime(2030, 1, 1, 8, 0, tzinfo=UTC),
        )
        listing = self.client.get(reverse("admin:connections_connection_changelist")).content.decode()
        self.assertIn("2027-01-10 13:00 Europe/Paris", listing)
        self.assertIn("2030-01-01 09:00 Europe/Paris", listing)
        past = self.client.get(reverse("admin:connections_connection_change", args=[self.facebook.pk])).content.decode()
        self.assertNotIn(f"{timezone.now():%Y}-", past.split("Rate limited until")[1][:300])

    def test_a_scheduled_posts_page_offers_publish_now_cancel_and_the_queue_not_retry(self):
        post = services.post_create(
            team=self.team, content="Later", platforms=["FACEBOOK"], scheduled_at=self.soon(600)
        )

        page = self.client.get(reverse("admin:publishing_post_change", args=[post.pk])).content.decode()

        for action in ("publish_now", "cancel", "add_to_queue"):
            self.assertIn(reverse("admin:publishing_post_act", args=[post.pk, action]), page)
        for action in ("retry_failed", "queue_top", "queue_remove"):
            self.assertNotIn(reverse("admin:publishing_post_act", args=[post.pk, action]), page)

    def test_publication_page_is_read_only_with_retry_and_a_job_link(self):
        post = self.failed_post()
        failed = post.publications.get(platform="FACEBOOK")
        Publication.objects.filter(pk=failed.pk).update(job_id="publication-1-abc")

        page = self.client.get(reverse("admin:publishing_publication_change", args=[failed.pk])).content.decode()

        self.assertIn(reverse("admin:publishing_publication_retry", args=[failed.pk]), page)
        self.assertIn(reverse("django_rq:job_detail", args=[0, "publication-1-abc"]), page)
        self.assertNotIn('name="_save"', page)
        self.assertNotIn("deletelink", page)

    def test_cancel_names_each_post_and_why_one_was_skipped(self):
        scheduled = services.post_create(
            team=self.team, content="Later", platforms=["FACEBOOK"], scheduled_at=self.soon(600)
        )
        done = self.failed_post()

        response = self.client.post(
            reverse("admin:publishing_post_changelist"),
            {"action": "cancel", "_selected_action": [scheduled.pk, done.pk]},
            follow=True,
        )

        text = " | ".join(self.messages_of(response))
        self.assertIn(f"Post #{scheduled.pk} “Later”: cancelled.", text)
        self.assertIn(f"Post #{done.pk} “Menu”: not cancelled, it is PARTIAL", text)

    def test_posts_list_shows_a_chip_per_platform(self):
        self.failed_post()

        page = self.client.get(reverse("admin:publishing_post_changelist")).content.decode()

        self.assertRegex(page, r'title="Platform said no"[^>]*>FACEBOOK Facebook FAILED</span>')
        self.assertRegex(page, r">TWITTER Twitter PUBLISHED</span>")

    def test_view_site_is_not_a_404(self):
        page = self.client.get(reverse("admin:index"))
        site_url = page.context["site_url"]
        self.assertEqual(self.client.get(site_url).status_code, 200)
