"""Approval with real workers: a post in review stays unpublished while due, whatever runs;
once approved it goes out at its time."""

from django.utils import timezone

from planrrr.models import Membership
from publishing import services
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase

OWNER = Membership.Role.OWNER


class ReviewLiveTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.team.requires_approval = True
        self.team.save()

    def test_a_due_post_in_review_is_not_published_until_approved_then_goes_out_at_its_time(self):
        waiting = services.post_create(
            team=self.team,
            content="Waiting for my editor",
            platforms=["FACEBOOK"],
            scheduled_at=timezone.now(),
            role=Membership.Role.MEMBER,
        )
        waiting = services.post_submit(post=waiting)
        self.start_worker()
        # Posts of the same team due as well: once two are out one after the other, dispatch and
        # the sweep have run several times with the post in review due.
        for text in ("Approved already", "And one more"):
            self.wait_until_final(
                services.post_create(
                    team=self.team, content=text, platforms=["FACEBOOK"], scheduled_at=timezone.now(), role=OWNER
                )
            )

        waiting.refresh_from_db()
        self.assertEqual(waiting.status, Post.Status.IN_REVIEW)
        self.assertEqual([p["text"] for p in self.mock.posts()], ["Approved already", "And one more"])

        at = self.soon(2)
        services.post_approve(post=waiting, role=Membership.Role.ADMIN, scheduled_at=at)
        self.wait_until_final(waiting)

        self.assertEqual(waiting.status, Post.Status.PUBLISHED)
        self.assertGreaterEqual(waiting.published_at, at)
        self.assertEqual(self.mock.posts()[-1]["text"], "Waiting for my editor")
