"""Multi-step publications over the wire (issue 12): a thread resumes exactly where it stopped,
whatever stopped it; a first comment is retried on its own and never touches its post."""

import json

from django.utils import timezone

from devtools.testing import wait_for
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.tests.base import PublishingLiveTestCase
from webhooks import services as webhooks
from webhooks.models import Event

PARTS = [f"Part {n} of 4: a thread that must come out once, in order." for n in range(1, 5)]


class ThreadTests(PublishingLiveTestCase):
    def test_it_resumes_a_thread_after_a_kill_and_a_transient_failure_without_posting_a_part_twice(self):
        # Part 2 reaches X, which creates it and then stalls: the worker is SIGKILLed before it
        # learns (or records) part 2's id. The next attempt must find part 2 among the account's
        # recent posts, then part 3 fails with a 500, then the attempt after that finishes.
        self.mock.fail("TWITTER", mode="accept_then_stall", times=1, seconds=30, contains="Part 2 of 4")
        self.mock.fail("TWITTER", mode="server_error", times=1, contains="Part 3 of 4")
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = services.post_create(
            team=self.team,
            content=PARTS[0],
            thread=[{"content": text} for text in PARTS[1:]],
            platforms=["TWITTER"],
            scheduled_at=timezone.now(),
        )
        wait_for(lambda: len(self.mock.posts(platform="TWITTER")) == 2, message="part 2 to reach the stand-in")
        publication = self.publication(post, "TWITTER")
        self.assertEqual(publication.status, Publication.Status.PUBLISHING)
        self.assertEqual(len(publication.metadata["parts"]), 1, "part 1 was recorded before part 2 was sent")

        first.kill()
        self.start_worker()
        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED)
        received = self.mock.posts(platform="TWITTER")
        self.assertEqual([p["text"] for p in received], PARTS, "exactly 4 parts, in order")
        self.assertIsNone(received[0]["in_reply_to"])
        for previous, part in zip(received, received[1:], strict=False):
            self.assertEqual(part["in_reply_to"], previous["id"], "each part replies to the one before")
        self.assertEqual(self.mock.duplicate_rejections("TWITTER"), 0)
        publication = self.publication(post, "TWITTER")
        self.assertEqual(publication.metadata["parts"], [p["id"] for p in received])
        self.assertEqual(publication.external_id, received[0]["id"])
        # 1: killed after part 2; 2: part 2 reconciled, part 3 failed; 3: parts 3 and 4.
        self.assertEqual(publication.attempt_count, 3)
        self.assertEqual(publication.metadata["reconciledParts"], [1], "part 2 was found, not sent again")
        creates = [r for r in self.mock.requests(platform="TWITTER", method="POST") if r["path"].endswith("/tweets")]
        self.assertEqual(len(creates), 5, "parts 1, 2, 3 (refused), 3 and 4: part 2 was never sent again")


class FirstCommentTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        # Events are recorded for endpoints that want them: one that wants them all.
        webhooks.endpoint_create(team=self.team, url="http://127.0.0.1:9/hooks")

    def test_it_retries_a_failing_first_comment_on_its_own_until_it_is_posted(self):
        self.mock.fail("FACEBOOK", mode="server_error", times=3, on="comment")
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="New roast today",
            first_comment="Order here: https://acme.example/shop #coffee",
            platforms=["FACEBOOK"],
            scheduled_at=timezone.now(),
        )
        self.wait_until_final(post)
        publication = self.publication(post, "FACEBOOK")

        def commented():
            publication.refresh_from_db()
            return publication.metadata.get("firstComment", {}).get("id")

        wait_for(commented, timeout=30, message="the first comment to be posted")
        comments = self.mock.comments(platform="FACEBOOK")
        self.assertEqual(len(comments), 1)
        self.assertEqual(comments[0]["post_id"], publication.external_id)
        self.assertEqual(comments[0]["text"], "Order here: https://acme.example/shop #coffee")
        self.assertEqual(publication.metadata["firstComment"], {"attempts": 4, "id": comments[0]["id"]})
        # The post was published once, and its publication never moved.
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        self.assertEqual(publication.attempt_count, 1)
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)
        self.assertEqual(JobMetric.objects.filter(kind="comment").count(), 4)

    def test_a_first_comment_that_gives_up_leaves_the_post_published_with_a_warning(self):
        self.mock.fail("FACEBOOK", mode="server_error", on="comment")
        self.start_worker(PUBLISH_MAX_ATTEMPTS=2)
        post = services.post_create(
            team=self.team,
            content="Comment will not land",
            first_comment="Link in the first comment",
            platforms=["FACEBOOK"],
            scheduled_at=timezone.now(),
        )
        self.wait_until_final(post)
        publication = self.publication(post, "FACEBOOK")

        def gave_up():
            publication.refresh_from_db()
            return publication.metadata.get("firstComment", {}).get("gaveUp")

        wait_for(gave_up, timeout=30, message="the first comment to give up")
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        state = publication.metadata["firstComment"]
        self.assertEqual(state["attempts"], 2)
        self.assertIn("gave up after 2 attempts", state["error"])
        self.assertIn("The first comment could not be posted", publication.metadata["warnings"][0])
        events = Event.objects.filter(type="post.comment_failed")
        self.assertEqual(events.count(), 1)
        self.assertEqual(json.loads(events.get().body)["data"]["postId"], post.pk)
        self.assertEqual(self.mock.comments(), [])
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)

    def test_it_comments_on_x_with_a_reply_to_the_post(self):
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="On X the first comment is a reply",
            first_comment="Details: https://acme.example/x",
            platforms=["TWITTER"],
            scheduled_at=timezone.now(),
        )
        self.wait_until_final(post)
        publication = self.publication(post, "TWITTER")
        wait_for(lambda: len(self.mock.posts(platform="TWITTER")) == 2, message="the reply")
        reply = self.mock.posts(platform="TWITTER")[1]
        self.assertEqual(reply["in_reply_to"], publication.external_id)

        def recorded():
            publication.refresh_from_db()
            return publication.metadata.get("firstComment", {}).get("id")

        self.assertEqual(wait_for(recorded, message="the comment id"), reply["id"])
