"""Threads and first comments on Bluesky and Mastodon over the wire (issues 12 and 13): real
workers, the stand-in's PDS and instance; a thread resumes where it stopped, and no part goes
out twice."""

from django.utils import timezone

from devtools.testing import wait_for
from planrrr.models import Installation
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase
from publishing.tests.e2e import test_open_networks

PARTS = [f"Part {n} of 3: roasting, told once and in order." for n in range(1, 4)]


class OpenNetworkCase(PublishingLiveTestCase):
    """Both open networks connected; the tests are in the classes below, one per kind of
    fault, so that the parallel runner spreads them over its processes."""

    # Both accounts connected through their own flows, as in test_open_networks (its module, not
    # its class, is imported here: the test loader would run its tests twice).
    connect_bluesky = test_open_networks.OpenNetworkTests.connect_bluesky
    connect_mastodon = test_open_networks.OpenNetworkTests.connect_mastodon
    requests_named = test_open_networks.OpenNetworkTests.requests_named

    def setUp(self):
        super().setUp()
        self.bluesky = self.connect_bluesky()
        self.mastodon = self.connect_mastodon()

    def thread(self, platform: str, **fields) -> Post:
        return services.post_create(
            team=self.team,
            content=PARTS[0],
            thread=[{"content": text} for text in PARTS[1:]],
            platforms=[platform],
            scheduled_at=timezone.now(),
            **fields,
        )

    def creates(self, platform: str, path: str) -> list[dict]:
        return [r for r in self.mock.requests(platform, method="POST") if r["path"].endswith(path)]

    def commented(self, publication: Publication):
        def done():
            publication.refresh_from_db()
            return publication.metadata.get("firstComment", {}).get("id")

        return wait_for(done, timeout=30, message=f"the first comment (workers: {self.worker_logs()})")

    def post_with_comment(self, platform: str) -> Post:
        return services.post_create(
            team=self.team,
            content=f"New roast on {platform}",
            first_comment="More in the shop: https://acme.example/shop",
            platforms=[platform],
            scheduled_at=timezone.now(),
        )


class BlueskyThreadKillTests(OpenNetworkCase):
    def test_a_bluesky_thread_resumes_after_a_kill_and_a_500_without_posting_a_part_twice(self):
        # Part 2 reaches the PDS, which writes it and stalls: the worker is SIGKILLed before it
        # records part 2 as done (its record key was written before the request went out). The
        # next attempt finds part 2 at that key, then part 3 fails with a 500; the next sends it.
        self.mock.fail("BLUESKY", mode="accept_then_stall", times=1, seconds=30, contains="Part 2 of 3")
        self.mock.fail("BLUESKY", mode="server_error", times=1, contains="Part 3 of 3")
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = self.thread("BLUESKY")
        wait_for(lambda: len(self.mock.posts("BLUESKY")) == 2, message="part 2 to reach the stand-in")
        self.assertEqual(len(self.publication(post, "BLUESKY").metadata["parts"]), 1)

        first.kill()
        self.start_worker()
        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        received = self.mock.posts("BLUESKY")
        self.assertEqual([p["text"] for p in received], PARTS, "exactly 3 posts, in order")
        root = {"uri": received[0]["id"], "cid": received[0]["cid"]}
        self.assertNotIn("reply", received[0]["record"])
        for previous, part in zip(received, received[1:], strict=False):
            parent = {"uri": previous["id"], "cid": previous["cid"]}
            self.assertEqual(part["record"]["reply"], {"root": root, "parent": parent})
        publication = self.publication(post, "BLUESKY")
        self.assertEqual(publication.metadata["parts"], [p["id"] for p in received])
        self.assertEqual(publication.external_id, received[0]["id"])
        self.assertEqual(publication.metadata["reconciledParts"], [1], "part 2 was found, not sent again")
        self.assertEqual(publication.attempt_count, 3)
        self.assertTrue(self.requests_named("BLUESKY", "getRecord"), "part 2 was looked for at its record key")
        self.assertEqual(len(self.creates("BLUESKY", "createRecord")), 4, "parts 1, 2, 3 (refused) and 3")


class BlueskyPostKillTests(OpenNetworkCase):
    def test_a_bluesky_post_whose_worker_was_killed_mid_send_goes_out_once(self):
        # The PDS writes the record and stalls; the worker is SIGKILLed before anything of the
        # attempt is recorded but what was written before the request went out (its record key).
        # The next attempt asks the PDS for that key, finds the post, and sends nothing.
        text = "One post, once, whatever happens to the worker."
        self.mock.fail("BLUESKY", mode="accept_then_stall", times=1, seconds=30, contains=text)
        first = self.start_worker(PUBLISH_JOB_TIMEOUT=3, PUBLISH_LEASE_SECONDS=4)
        post = services.post_create(team=self.team, content=text, platforms=["BLUESKY"], scheduled_at=timezone.now())
        wait_for(lambda: len(self.mock.posts("BLUESKY")) == 1, message="the post to reach the stand-in")

        first.kill()
        self.start_worker()
        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        received = self.mock.posts("BLUESKY")
        self.assertEqual([p["text"] for p in received], [text], "exactly one post")
        publication = self.publication(post, "BLUESKY")
        self.assertEqual(publication.external_id, received[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"), "found at its record key, not sent again")
        self.assertEqual(len(self.creates("BLUESKY", "createRecord")), 1)

    def test_a_first_comment_on_bluesky_is_a_reply_to_the_post(self):
        self.mock.fail("BLUESKY", mode="server_error", times=1, contains="More in the shop")
        self.start_worker()
        post = self.post_with_comment("BLUESKY")
        self.wait_until_final(post)
        publication = self.publication(post, "BLUESKY")

        comment_id = self.commented(publication)

        received = self.mock.posts("BLUESKY")
        self.assertEqual(len(received), 2)
        self.assertEqual(received[1]["id"], comment_id)
        ref = {"uri": publication.external_id, "cid": received[0]["cid"]}
        self.assertEqual(received[1]["record"]["reply"], {"root": ref, "parent": ref})
        self.assertEqual(publication.metadata["firstComment"]["attempts"], 2)


class MastodonThreadTests(OpenNetworkCase):
    def test_a_mastodon_thread_resumes_after_a_lost_answer_and_a_500_without_posting_a_part_twice(self):
        # Part 2 is made but its answer is lost; part 3 fails with a 500. The next attempt finds
        # part 2 among the account's statuses (a reply to part 1 with its text) and sends part 3.
        # Each part also carries its own Idempotency-Key.
        self.mock.fail("MASTODON", mode="accept_then_drop", times=1, contains="Part 2 of 3")
        self.mock.fail("MASTODON", mode="server_error", times=1, contains="Part 3 of 3")
        self.start_worker()
        post = self.thread("MASTODON")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        received = self.mock.posts("MASTODON")
        self.assertEqual([p["text"] for p in received], PARTS, "exactly 3 statuses, in order")
        self.assertIsNone(received[0]["in_reply_to_id"])
        for previous, part in zip(received, received[1:], strict=False):
            self.assertEqual(part["in_reply_to_id"], previous["id"], "each part replies to the one before")
            self.assertEqual(part["visibility"], "public")
        publication = self.publication(post, "MASTODON")
        self.assertEqual(publication.metadata["parts"], [p["id"] for p in received])
        creates = self.creates("MASTODON", "/api/v1/statuses")
        keys = [r["headers"]["Idempotency-Key"] for r in creates]
        key = f"planrrr-{Installation.objects.get().key.hex}-publication-{publication.pk}"
        self.assertEqual(keys, [key, f"{key}-part-1", f"{key}-part-2", f"{key}-part-2"], "part 2 never sent again")
        self.assertEqual(publication.metadata["reconciledParts"], [1])
        self.assertEqual(publication.attempt_count, 3)

    def test_a_first_comment_on_mastodon_is_a_reply_to_the_post(self):
        self.mock.fail("MASTODON", mode="accept_then_drop", times=1, contains="More in the shop")
        self.start_worker()
        post = self.post_with_comment("MASTODON")
        self.wait_until_final(post)
        publication = self.publication(post, "MASTODON")

        comment_id = self.commented(publication)

        received = self.mock.posts("MASTODON")
        self.assertEqual(len(received), 2, "the lost answer's retry made no second comment")
        self.assertEqual(received[1]["id"], comment_id)
        self.assertEqual(received[1]["in_reply_to_id"], publication.external_id)
        creates = self.creates("MASTODON", "/api/v1/statuses")[1:]
        self.assertEqual(
            [(r["headers"]["Idempotency-Key"], r["outcome"]) for r in creates],
            [(f"planrrr-first-comment-{publication.external_id}", "created:accept_then_drop")],
            "found among the account's statuses, not sent again",
        )
        self.assertTrue(publication.metadata["firstComment"]["reconciled"])
