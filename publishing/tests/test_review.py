"""Approval (Team.requires_approval): members write and submit, admins and owners approve or
reject; nothing in review is ever published."""

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api import services as api_services
from devtools.testing import flush_redis
from planrrr.models import Membership, Team
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import Actors
from webhooks import services as webhooks
from webhooks.models import Event

MEMBER, ADMIN = Membership.Role.MEMBER, Membership.Role.ADMIN


class ReviewActors(Actors):
    def make_review_actors(self):
        self.make_actors()
        self.team.requires_approval = True
        self.team.save()
        User = get_user_model()
        self.member = User.objects.create_user("mo", "mo@example.org", "password", is_staff=True)
        self.admin_user = User.objects.create_user("ada", "ada@example.org", "password", is_staff=True)
        Membership.objects.create(user=self.member, team=self.team, role=MEMBER)
        Membership.objects.create(user=self.admin_user, team=self.team, role=ADMIN)
        staff_perms = Permission.objects.filter(content_type__app_label="publishing")
        for user in (self.member, self.admin_user):
            user.user_permissions.set(staff_perms)
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):
            webhooks.endpoint_create(team=self.team, url="http://127.0.0.1:9/hooks")

    def in_review(self, **fields) -> Post:
        fields = {"content": "Draft by a member", "platforms": ["FACEBOOK"], "scheduled_at": self.soon(3600), **fields}
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(team=self.team, author=self.member, role=MEMBER, **fields)
            return services.post_submit(post=post, user=self.member)

    def events(self, name: str) -> list[dict]:
        return [json.loads(e.body)["data"] for e in Event.objects.filter(type=name).order_by("created_at")]


class ReviewServiceTests(ReviewActors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_review_actors()

    def test_it_makes_a_members_post_a_draft_that_must_be_submitted(self):
        post = services.post_create(
            team=self.team, content="Mine", platforms=["FACEBOOK"], scheduled_at=self.soon(3600), role=MEMBER
        )
        self.assertEqual(post.status, Post.Status.DRAFT)
        self.assertIn("requires approval", post.warnings[-1])
        with self.assertRaises(PermissionDenied):
            services.post_schedule(post=post, publish_now=True, role=MEMBER)

        post = services.post_submit(post=post, user=self.member)

        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertEqual(self.events("post.submitted")[0]["postId"], post.pk)

    def test_a_member_cannot_approve_or_reject(self):
        post = self.in_review()
        with self.assertRaisesMessage(PermissionDenied, "Only an admin or owner"):
            services.post_approve(post=post, role=MEMBER)
        with self.assertRaises(PermissionDenied):
            services.post_reject(post=post, role=MEMBER, note="no")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)

    def test_it_never_dispatches_or_claims_a_post_in_review_that_is_due(self):
        post = self.in_review()
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now())  # due now
        publication = post.publications.get()

        self.assertEqual(services.posts_dispatch(), 0)
        # Even a stray publish job for it (a queue that was not cleaned) does nothing.
        self.assertEqual(services.publication_publish(publication_id=publication.pk), "SKIPPED")

        post.refresh_from_db()
        publication.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.PENDING, 0))

    def test_approval_schedules_the_post_at_its_time(self):
        post = self.in_review()
        at = post.scheduled_at

        post = services.post_approve(post=post, role=ADMIN, user=self.admin_user)

        self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, at))
        self.assertEqual(post.reviewed_by, self.admin_user)
        self.assertEqual(self.events("post.approved")[0]["by"], "ada")

    def test_it_asks_before_publishing_now_a_post_whose_time_has_passed(self):
        post = self.in_review()
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timezone.timedelta(hours=2))
        post.refresh_from_db()
        with self.assertRaises(ValidationError) as caught:
            services.post_approve(post=post, role=ADMIN)
        self.assertIn("publishNow", caught.exception.message_dict["scheduled_at"][0])

        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_approve(post=post, role=ADMIN, publish_now=True)

        self.assertIn(post.status, [Post.Status.SCHEDULED, Post.Status.PUBLISHING])
        self.assertLess(timezone.now() - post.scheduled_at, timezone.timedelta(minutes=1))

    def test_rejection_returns_a_draft_with_the_note(self):
        post = self.in_review()
        with self.assertRaises(ValidationError):
            services.post_reject(post=post, role=ADMIN, note="  ")

        post = services.post_reject(post=post, role=ADMIN, note="Say which roast.", user=self.admin_user)

        self.assertEqual((post.status, post.review_note), (Post.Status.DRAFT, "Say which roast."))
        self.assertEqual(self.events("post.rejected")[0]["note"], "Say which roast.")

    def test_editing_an_approved_post_sends_it_back_to_review(self):
        post = services.post_approve(post=self.in_review(), role=ADMIN)

        post = services.post_update(post=post, content="Changed after approval", role=MEMBER)

        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertEqual(len(self.events("post.submitted")), 2)
        self.assertEqual(services.posts_dispatch(), 0)

    def test_a_team_without_approval_schedules_as_before(self):
        self.team.requires_approval = False
        self.team.save()
        post = services.post_create(
            team=self.team, content="Free", platforms=["FACEBOOK"], scheduled_at=self.soon(3600), role=MEMBER
        )
        self.assertEqual(post.status, Post.Status.SCHEDULED)


class ReviewAdminTests(ReviewActors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_review_actors()
        self.url = reverse("admin:publishing_post_changelist")

    def act(self, action: str, post: Post, **extra):
        body = {"action": action, "_selected_action": [post.pk], **extra}
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(self.url, body, follow=True)

    def test_a_member_cannot_approve_in_the_admin(self):
        post = self.in_review()
        self.client.force_login(self.member)
        self.assertNotContains(self.client.get(self.url), 'value="approve"')  # not offered

        response = self.act("approve", post)

        self.assertContains(response, "No action selected.")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)

    def test_an_admin_elsewhere_cannot_approve_where_they_are_a_member(self):
        post = self.in_review()
        elsewhere = Team.objects.create(name="Elsewhere")
        Membership.objects.create(user=self.member, team=elsewhere, role=ADMIN)
        self.client.force_login(self.member)

        response = self.act("approve", post)

        self.assertContains(response, "Only an admin or owner of the team can approve posts.")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)

    def test_an_admin_approves_and_confirms_publishing_now_a_late_post(self):
        post = self.in_review()
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timezone.timedelta(hours=1))
        self.client.force_login(self.admin_user)

        page = self.act("approve", post)
        self.assertContains(page, "Approve and publish now")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW, "nothing happens before the approver confirms")

        self.act("approve", post, confirm="publish_now")
        post.refresh_from_db()
        self.assertIn(post.status, [Post.Status.SCHEDULED, Post.Status.PUBLISHING])

    def test_an_admin_rejects_with_a_note(self):
        post = self.in_review()
        self.client.force_login(self.admin_user)
        self.assertContains(self.act("reject", post), "the author reads this note")

        self.act("reject", post, review_note="Too long.")

        post.refresh_from_db()
        self.assertEqual((post.status, post.review_note), (Post.Status.DRAFT, "Too long."))


class ReviewApiTests(ReviewActors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_review_actors()
        _, self.write_key = api_services.api_key_create(team=self.team, name="CMS", role="write")
        _, self.approve_key = api_services.api_key_create(team=self.team, name="Editor", role="approve")

    def call(self, key: str, path: str, body=None):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        with self.captureOnCommitCallbacks(execute=True):
            return client.post(f"/api/v1/posts{path}", body or {}, format="json")

    def test_a_write_key_submits_but_cannot_approve(self):
        created = self.call(
            self.write_key,
            "",
            {"content": "From the CMS", "platforms": ["FACEBOOK"], "scheduledAt": "2099-01-01T09:00:00Z"},
        )
        self.assertEqual(created.status_code, 201, created.content)
        self.assertEqual(created.json()["status"], "DRAFT")
        post_id = created.json()["id"]

        submitted = self.call(self.write_key, f"/{post_id}/submit")
        self.assertEqual(submitted.json()["status"], "IN_REVIEW")
        refused = self.call(self.write_key, f"/{post_id}/approve")
        self.assertEqual(refused.status_code, 403, refused.content)
        self.assertEqual(Post.objects.get(pk=post_id).status, Post.Status.IN_REVIEW)

        approved = self.call(self.approve_key, f"/{post_id}/approve")
        self.assertEqual(approved.status_code, 200, approved.content)
        self.assertEqual(approved.json()["status"], "SCHEDULED")

    def test_an_approve_key_rejects_with_a_note_and_needs_publish_now_for_a_late_post(self):
        post = self.in_review()
        rejected = self.call(self.approve_key, f"/{post.pk}/reject", {"note": "Wrong price"})
        self.assertEqual((rejected.json()["status"], rejected.json()["reviewNote"]), ("DRAFT", "Wrong price"))

        services.post_submit(post=post)
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timezone.timedelta(hours=1))
        late = self.call(self.approve_key, f"/{post.pk}/approve")
        self.assertEqual(late.status_code, 400)
        self.assertIn("publishNow", late.json()["errors"]["scheduledAt"][0])
        now = self.call(self.approve_key, f"/{post.pk}/approve", {"publishNow": True})
        self.assertEqual(now.status_code, 200, now.content)
