"""A post's page (workspace/posts.py) and the approvals inbox (workspace/approvals.py): what each
channel came to, with the link to the live post and every attempt's error; the actions offered
only where they apply; approve, a late post's question, reject with a note the author reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from analytics.models import Snapshot, Tracking
from planrrr.models import Team
from publishing import metadata as keys
from publishing import services
from publishing.models import Post, Publication
from workspace.tests.test_calendar import MEMBER, NOW, OWNER, CalendarTestCase


def history(*ends: tuple[int, datetime, str, str]) -> dict:
    """A publication's metadata with these attempts' ends (publishing.metadata.HISTORY)."""
    return {
        keys.HISTORY: [
            {"attempt": attempt, "at": at.isoformat(), "outcome": outcome, "error": error}
            for attempt, at, outcome, error in ends
        ]
    }


class PostPageTests(CalendarTestCase):
    def page(self, post: Post):
        return self.client.get(f"/app/{self.team.pk}/posts/{post.pk}/")

    def ended(self) -> Post:
        """A post out on Facebook at attempt 2 (attempt 1: a 500), failed on X."""
        post = self.post(at=NOW + timedelta(hours=1))
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PARTIAL)
        ends = history(
            (1, NOW + timedelta(minutes=1), "RETRY", "Service down (attempt 1)"),
            (2, NOW + timedelta(minutes=2), "PUBLISHED", ""),
        )
        Publication.objects.filter(post=post, platform="FACEBOOK").update(
            status=Publication.Status.PUBLISHED,
            attempt_count=2,
            external_id="1001_77",
            published_at=NOW + timedelta(minutes=2),
            lease_token="6d3e3a39-52cf-4b8b-9d8a-0a8b8cb0e7c1",
            metadata={**ends, keys.URL: "https://www.facebook.com/1001_77", "mediaIds": ["m-internal"]},
        )
        Publication.objects.filter(post=post, platform="TWITTER").update(
            status=Publication.Status.FAILED,
            attempt_count=1,
            error="X says: text too long (gave up)",
            metadata=history((1, NOW, "FAILED", "X says: text too long (gave up)")),
        )
        return post

    def test_each_channel_says_its_status_its_live_link_and_each_attempts_error(self):
        post = self.ended()
        page = self.page(post)
        self.assertContains(page, '<a class="live-link" href="https://www.facebook.com/1001_77"')
        self.assertContains(page, "Attempt 1</span> · <time")
        self.assertContains(page, "Mon 7 Dec 2026, 10:01 Europe/Paris")  # attempt 1, in the person's zone
        self.assertContains(page, 'Failed, tried again later: <span class="attempt-error">Service down (attempt 1)')
        self.assertContains(page, "Attempt 2</span>")
        self.assertContains(page, "10:02 Europe/Paris</time>")
        self.assertContains(page, "X says: text too long (gave up)")
        # Never a token, a lease or the adapter's internals.
        for secret in ("fb-secret-token", "x-secret-token", "6d3e3a39", "m-internal", "lease"):
            self.assertNotContains(page, secret)

    def test_an_attempt_that_found_its_post_says_how(self):
        post = self.post(at=NOW + timedelta(hours=1))
        how = "the platform said the post duplicates 1001_78, made by the attempt whose answer was lost"
        ends = history((1, NOW, "RETRY", "network timeout"), (2, NOW + timedelta(minutes=1), "RECONCILED", ""))
        ends[keys.HISTORY][1]["note"] = how
        Publication.objects.filter(post=post, platform="FACEBOOK").update(
            status=Publication.Status.PUBLISHED, attempt_count=2, external_id="1001_78", metadata=ends
        )
        self.assertContains(
            self.page(post), f"Found already published (an earlier attempt&#x27;s answer was lost): {how}"
        )

    def test_a_media_address_written_past_the_door_is_text_not_a_link(self):
        post = self.post(at=NOW + timedelta(days=1))
        Post.objects.filter(pk=post.pk).update(media_urls=["javascript:alert(1)", "https://cdn.example/bread.jpg"])
        page = self.page(post)
        self.assertNotContains(page, 'href="javascript:')
        self.assertContains(page, "<li>javascript:alert(1)</li>", count=2)
        self.assertContains(page, 'href="https://cdn.example/bread.jpg"', count=2)

    def test_actions_are_offered_only_where_they_apply(self):
        ended = self.ended()
        page = self.page(ended)
        self.assertContains(page, "Retry the failed channels")
        self.assertNotContains(page, "Publish now")
        self.assertNotContains(page, "Cancel this post")

        scheduled = self.post(at=NOW + timedelta(days=1))
        page = self.page(scheduled)
        self.assertContains(page, "Publish now")
        self.assertContains(page, "Cancel this post")
        self.assertNotContains(page, "Retry the failed channels")

        Post.objects.filter(pk=scheduled.pk).update(status=Post.Status.PUBLISHED)
        page = self.page(scheduled)
        for action in ("Publish now", "Cancel this post", "Retry the failed channels"):
            self.assertNotContains(page, action)

    def test_retry_and_cancel_go_through_the_services(self):
        ended = self.ended()
        response = self.client.post(f"/app/{self.team.pk}/posts/{ended.pk}/act/retry/", follow=True)
        self.assertContains(response, f"Post #{ended.pk}: trying again on X.")
        self.assertEqual(ended.publications.get(platform="TWITTER").status, Publication.Status.PENDING)
        self.assertEqual(ended.publications.get(platform="FACEBOOK").status, Publication.Status.PUBLISHED)
        # Once it is publishing again, a cancel is refused with the reason.
        response = self.client.post(f"/app/{self.team.pk}/posts/{ended.pk}/act/cancel/", follow=True)
        self.assertContains(response, "was not cancelled: it is publishing")

        scheduled = self.post(at=NOW + timedelta(days=1))
        response = self.client.post(f"/app/{self.team.pk}/posts/{scheduled.pk}/act/cancel/", follow=True)
        self.assertContains(response, "is cancelled: it will not be published")
        scheduled.refresh_from_db()
        self.assertEqual(scheduled.status, Post.Status.CANCELLED)
        self.assertEqual(self.client.get(f"/app/{self.team.pk}/posts/{scheduled.pk}/act/cancel/").status_code, 405)

    def test_a_member_of_a_team_that_requires_approval_submits_instead_of_publishing(self):
        Team.objects.filter(pk=self.team.pk).update(requires_approval=True)
        self.team.refresh_from_db()
        self.client.force_login(self.mia)
        draft = self.post(at=NOW + timedelta(days=1), author=self.mia, role=MEMBER)
        page = self.page(draft)
        self.assertContains(page, "Submit for approval")
        self.assertNotContains(page, "Publish now")
        # The API refuses a MEMBER's publish-now there too: the page says the service's words.
        response = self.client.post(f"/app/{self.team.pk}/posts/{draft.pk}/act/publish_now/", follow=True)
        self.assertContains(response, "Your team requires approval")
        response = self.client.post(f"/app/{self.team.pk}/posts/{draft.pk}/act/submit/", follow=True)
        self.assertContains(response, "is submitted: an admin or owner approves it")
        draft.refresh_from_db()
        self.assertEqual(draft.status, Post.Status.IN_REVIEW)

    def test_the_analytics_curve_is_drawn_once_there_are_readings(self):
        post = self.ended()
        publication = post.publications.get(platform="FACEBOOK")
        self.assertNotContains(self.page(post), "analytics-chart")
        Tracking.objects.create(
            publication=publication,
            team=self.team,
            connection=self.facebook,
            platform="FACEBOOK",
            external_id="1001_77",
            published_at=publication.published_at,
        )
        for hours, likes in ((1, 3), (2, 8)):
            Snapshot.objects.create(
                publication_id=publication.pk,
                captured_at=publication.published_at + timedelta(hours=hours),
                team_id=self.team.pk,
                likes=likes,
            )
        page = self.page(post)
        self.assertContains(page, "analytics-chart")
        self.assertContains(page, 'data-series="likes"', count=2)

    def test_a_post_made_through_the_api_has_no_author_and_its_page_says_so(self):
        post = services.post_create(
            team=self.team, content="From a key", channels=[self.facebook.pk], scheduled_at=NOW + timedelta(days=1)
        )
        page = self.page(post)
        self.assertContains(page, "— (made through the API)")
        Post.objects.filter(pk=post.pk).update(status=Post.Status.IN_REVIEW)
        self.assertContains(self.client.get(f"/app/{self.team.pk}/approvals/"), "by —,")

    def test_another_teams_post_is_a_404(self):
        theirs = services.post_create(
            team=self.others, content="Tea", channels=[self.other_page.pk], scheduled_at=NOW + timedelta(days=2)
        )
        self.assertEqual(self.page(theirs).status_code, 404)
        self.assertEqual(self.client.post(f"/app/{self.team.pk}/posts/{theirs.pk}/act/cancel/").status_code, 404)


class ApprovalsTests(CalendarTestCase):
    def setUp(self) -> None:
        super().setUp()
        Team.objects.filter(pk=self.team.pk).update(requires_approval=True)
        self.team.refresh_from_db()
        self.url = f"/app/{self.team.pk}/approvals/"

    def submitted(self, *, at=None, content="Mia's new cake"):
        post = services.post_create(
            team=self.team,
            author=self.mia,
            content=content,
            channels=[self.facebook.pk, self.x.pk],
            scheduled_at=at or NOW + timedelta(days=1),
            variants={"TWITTER": {"content": "Short for X"}},
            role=MEMBER,
        )
        return services.post_submit(post=post, user=self.mia)

    def test_an_approver_sees_each_channels_text_and_a_badge(self):
        post = self.submitted()
        page = self.client.get(self.url)
        self.assertContains(page, f"Post #{post.pk}</a>")
        self.assertContains(page, "Mia&#x27;s new cake")
        self.assertContains(page, "Short for X")
        self.assertContains(page, 'class="badge" title="1 waiting for review"')
        self.assertContains(page, f"Approve post #{post.pk}")
        # And as each network will show it: the composer's previews, one per channel.
        self.assertContains(page, "As each network will show it")
        self.assertContains(page, 'aria-label="Preview on Facebook, Bakery page"')
        self.assertContains(page, 'aria-label="Preview on X, @bakery"')

    def test_approve_schedules_it_at_its_time(self):
        post = self.submitted()
        response = self.client.post(f"{self.url}{post.pk}/", {"decision": "approve"}, follow=True)
        self.assertContains(
            response, f"Post #{post.pk} is approved: it is published at Tue 8 Dec 2026, 10:00 Europe/Paris."
        )
        post.refresh_from_db()
        self.assertEqual((post.status, post.reviewed_by), (Post.Status.SCHEDULED, self.olga))
        self.assertContains(response, "Nothing is waiting for review.")

    def test_a_late_post_asks_to_publish_now_or_for_a_new_time(self):
        post = self.submitted()
        Post.objects.filter(pk=post.pk).update(scheduled_at=NOW - timedelta(hours=2))
        asked = self.client.post(f"{self.url}{post.pk}/", {"decision": "approve"})
        self.assertEqual(asked.status_code, 409)
        self.assertContains(asked, "This post was due", status_code=409)
        self.assertContains(asked, "which has passed: publish it now, or give it a new time.", status_code=409)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)

        later = self.client.post(
            f"{self.url}{post.pk}/", {"decision": "approve", "date": "2026-12-09", "time": "08:15"}
        )
        self.assertEqual(later.status_code, 302)
        post.refresh_from_db()
        self.assertEqual(
            (post.status, post.scheduled_at), (Post.Status.SCHEDULED, datetime(2026, 12, 9, 7, 15, tzinfo=UTC))
        )

    def test_approve_and_publish_now(self):
        post = self.submitted()
        Post.objects.filter(pk=post.pk).update(scheduled_at=NOW - timedelta(hours=2))
        with self.captureOnCommitCallbacks(execute=False):
            response = self.client.post(
                f"{self.url}{post.pk}/", {"decision": "approve", "publish_now": "1"}, follow=True
            )
        self.assertContains(response, "is approved: it is published now.")
        post.refresh_from_db()
        self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, NOW))

    def test_reject_with_a_note_the_author_reads(self):
        post = self.submitted()
        empty = self.client.post(f"{self.url}{post.pk}/", {"decision": "reject", "note": "  "})
        self.assertContains(empty, "Say why the post is rejected", status_code=400)
        self.assertContains(empty, 'aria-invalid="true"', status_code=400)
        self.client.post(f"{self.url}{post.pk}/", {"decision": "reject", "note": "Use the winter photo."})
        post.refresh_from_db()
        self.assertEqual((post.status, post.review_note), (Post.Status.DRAFT, "Use the winter photo."))

        self.client.force_login(self.mia)
        mine = self.client.get(self.url)
        self.assertContains(mine, "Sent back to you (1)")
        self.assertContains(mine, "Rejected by Olga: Use the winter photo.")
        self.assertContains(mine, 'class="badge" title="1 sent back to you"')
        page = self.client.get(f"/app/{self.team.pk}/posts/{post.pk}/")
        self.assertContains(page, "<strong>Rejected by Olga:</strong> Use the winter photo.")

    def test_a_member_sees_their_own_posts_waiting_and_cannot_approve(self):
        post = self.submitted()
        olgas = services.post_create(
            team=self.team, author=self.olga, content="Olga's", channels=[self.x.pk], role=OWNER
        )
        Post.objects.filter(pk=olgas.pk).update(status=Post.Status.IN_REVIEW)
        self.client.force_login(self.mia)
        page = self.client.get(self.url)
        self.assertContains(page, "Your posts waiting for review (1)")
        self.assertContains(page, "Waiting for an admin or owner.")
        self.assertNotContains(page, "Approve post")
        refused = self.client.post(f"{self.url}{post.pk}/", {"decision": "approve"})
        self.assertContains(refused, "Only an admin or owner of the team can approve posts.", status_code=403)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertLess(timezone.now(), post.scheduled_at)
