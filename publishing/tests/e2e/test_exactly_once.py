"""Sent once, whatever the delay (issue 19, "Sent twice after an hour"), over the wire: real
workers, the stand-in's Mastodon instance and Bluesky PDS.

A retry whose earlier attempt may have gone out looks for it on the platform first, by what
planrrr chose (a Bluesky record key) or among the account's own statuses (Mastodon), and never
counts on a window the platform keeps shorter than planrrr may wait: Mastodon forgets an
Idempotency-Key after an hour, and a rate limit or a person's retry can come later than that.
First comments take the same path as posts: a record key chosen before they are sent, a lost
answer looked for, a token renewed."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from connections.models import Connection
from devtools.testing import wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase
from publishing.tests.e2e import test_open_networks
from publishing.tests.e2e.test_open_network_threads import PARTS

COMMENT = "More in the shop: https://acme.example/shop"


class ExactlyOnceCase(PublishingLiveTestCase):
    """Both open networks connected through their own flows; the tests are in the classes below,
    one per kind of fault, so that the parallel runner spreads them."""

    # As in test_open_networks (its module, not its class, is imported: the loader would run its
    # tests again here).
    connect_bluesky = test_open_networks.OpenNetworkTests.connect_bluesky
    connect_mastodon = test_open_networks.OpenNetworkTests.connect_mastodon
    requests_named = test_open_networks.OpenNetworkTests.requests_named
    post = test_open_networks.OpenNetworkTests.post

    def setUp(self):
        super().setUp()
        self.bluesky = self.connect_bluesky()
        self.mastodon = self.connect_mastodon()

    def statuses(self) -> list[dict]:
        return self.mock.posts("MASTODON")

    def status_creates(self) -> list[dict]:
        return [r for r in self.mock.requests("MASTODON", method="POST") if r["path"].endswith("/api/v1/statuses")]

    def status_lookups(self) -> list[dict]:
        return [
            r
            for r in self.mock.requests("MASTODON", method="GET")
            if "/api/v1/accounts/" in r["path"] and r["path"].endswith("/statuses")
        ]

    def commented(self, publication: Publication, timeout: float = 30) -> dict:
        def done():
            publication.refresh_from_db()
            state = publication.metadata.get("firstComment", {})
            return state if state.get("id") or state.get("gaveUp") else None

        return wait_for(done, timeout=timeout, message=f"the first comment (workers: {self.worker_logs()})")

    def with_comment(self, platform: str, content: str) -> Post:
        return services.post_create(
            team=self.team,
            content=content,
            first_comment=COMMENT,
            platforms=[platform],
            scheduled_at=timezone.now(),
        )


class MastodonPostAfterTheKeyWindowTests(ExactlyOnceCase):
    def test_a_lost_answer_then_a_rate_limit_past_the_key_window_still_makes_one_status(self):
        # The status is made but its answer is lost. The next request is refused with a 429 whose
        # reset comes after the instance has forgotten the Idempotency-Key (an hour on Mastodon,
        # two seconds here): sending the key again then would make a second status.
        self.mock.configure(mastodon_idempotency_seconds=2)
        text = "Fresh roast, announced once."
        self.mock.fail("MASTODON", "accept_then_drop", times=1, contains=text)
        self.start_worker()
        post = self.post(text, ["MASTODON"])
        wait_for(lambda: len(self.statuses()) == 1, message="the status to reach the instance")
        self.mock.fail("MASTODON", "rate_limit", times=1, seconds=3, on="any")

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        statuses = self.statuses()
        self.assertEqual([s["text"] for s in statuses], [text], "exactly one status")
        publication = self.publication(post, "MASTODON")
        self.assertEqual(publication.external_id, statuses[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"), "found among the account's statuses")
        self.assertEqual(len(self.status_creates()), 1, "nothing sent after the lost answer")
        self.assertTrue([r for r in self.status_lookups() if r["status"] == 200])

    def test_a_person_retrying_a_failed_publication_an_hour_later_gets_the_status_that_went_out(self):
        # The only attempt's answer is lost and the publication fails; a person retries it after
        # the instance forgot the key. The retry looks the status up instead of posting it again.
        text = "Retried by a person, posted once."
        self.mock.fail("MASTODON", "accept_then_drop", times=1, contains=text)
        self.start_worker(PUBLISH_MAX_ATTEMPTS=1)
        post = self.post(text, ["MASTODON"])
        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.FAILED, self.worker_logs())
        self.assertEqual(len(self.statuses()), 1, "the lost attempt made the status")
        self.mock.configure(mastodon_idempotency_seconds=0)  # an hour later: the key is forgotten

        services.publications_retry(post=post)
        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        statuses = self.statuses()
        self.assertEqual([s["text"] for s in statuses], [text], "exactly one status")
        publication = self.publication(post, "MASTODON")
        self.assertEqual(publication.external_id, statuses[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"))
        self.assertEqual(len(self.status_creates()), 1)


class MastodonReconnectAfterTheKeyWindowTests(ExactlyOnceCase):
    def test_a_publication_requeued_after_a_reconnect_looks_up_the_status_its_lost_answer_made(self):
        # The status is made but its answer is lost; the look-up that follows is refused, the token
        # revoked: the publication fails ("reconnect") and the connection expires. Reconnected after
        # the key window, the re-queued publication looks the status up instead of posting again.
        text = "Through a revoked token, once."
        self.mock.fail("MASTODON", "accept_then_drop", times=1, contains=text)
        self.mock.fail("MASTODON", "token_revoked", times=1, on="read")
        self.start_worker()
        post = self.post(text, ["MASTODON"])
        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.FAILED, self.worker_logs())
        publication = self.publication(post, "MASTODON")
        self.assertEqual(publication.metadata.get("failedBecause"), "token")
        self.assertTrue(publication.outcome_unknown, "the lost attempt may have gone out: said so on the row")
        self.mock.configure(mastodon_idempotency_seconds=0)  # reconnected an hour later

        reconnected = self.connect_mastodon()
        self.assertEqual(reconnected.pk, self.mastodon.pk)
        self.assertEqual(services.publications_requeue_after_reconnect(connection=reconnected), 1)
        self.wait_until_final(post, timeout=30)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        statuses = self.statuses()
        self.assertEqual([s["text"] for s in statuses], [text], "exactly one status")
        publication.refresh_from_db()
        self.assertEqual(publication.external_id, statuses[0]["id"])
        self.assertTrue(publication.metadata.get("reconciled"))
        self.assertEqual(len(self.status_creates()), 1)


class MastodonThreadPartAfterTheKeyWindowTests(ExactlyOnceCase):
    def test_a_thread_part_whose_answer_was_lost_is_found_after_the_key_window(self):
        self.mock.configure(mastodon_idempotency_seconds=0)
        self.mock.fail("MASTODON", "accept_then_drop", times=1, contains="Part 2 of 3")
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content=PARTS[0],
            thread=[{"content": text} for text in PARTS[1:]],
            platforms=["MASTODON"],
            scheduled_at=timezone.now(),
        )

        self.wait_until_final(post, timeout=40)

        self.assertEqual(post.status, Post.Status.PUBLISHED, self.worker_logs())
        statuses = self.statuses()
        self.assertEqual([s["text"] for s in statuses], PARTS, "exactly 3 statuses, in order")
        for previous, part in zip(statuses, statuses[1:], strict=False):
            self.assertEqual(part["in_reply_to_id"], previous["id"])
        publication = self.publication(post, "MASTODON")
        self.assertEqual(publication.metadata["parts"], [s["id"] for s in statuses])
        self.assertEqual(publication.metadata["reconciledParts"], [1], "part 2 was found, not sent again")
        self.assertEqual(len(self.status_creates()), 3)


class MastodonFirstCommentAfterTheKeyWindowTests(ExactlyOnceCase):
    def test_a_first_comment_whose_answer_was_lost_is_found_after_the_key_window(self):
        self.mock.configure(mastodon_idempotency_seconds=0)
        self.mock.fail("MASTODON", "accept_then_drop", times=1, contains="More in the shop")
        self.start_worker()
        post = self.with_comment("MASTODON", "New roast, with a comment")
        self.wait_until_final(post)
        publication = self.publication(post, "MASTODON")

        state = self.commented(publication)

        statuses = self.statuses()
        self.assertEqual([s["text"] for s in statuses], ["New roast, with a comment", COMMENT], "one comment")
        self.assertEqual(state.get("id"), statuses[1]["id"], state)
        self.assertEqual(statuses[1]["in_reply_to_id"], publication.external_id)
        self.assertTrue(state.get("reconciled"), state)
        self.assertEqual(len(self.status_creates()), 2)


class InstallationKeyTests(ExactlyOnceCase):
    # Publication ids start at 1 in this test, as in a new database.
    reset_sequences = True

    def test_a_database_started_again_does_not_get_the_old_ones_status_back(self):
        # A publication of a database that was started again (or of another installation posting
        # for the same account: staging and production) has the number of an earlier one: its
        # Idempotency-Key must not be the earlier one's, or the instance answers with that status.
        first = self.start_worker()
        before = self.post("Posted by the first database.", ["MASTODON"])
        self.wait_until_final(before)
        self.assertEqual(before.status, Post.Status.PUBLISHED, self.worker_logs())
        number = self.publication(before, "MASTODON").pk
        first.stop(timeout=5)

        call_command("flush", interactive=False, verbosity=0)  # the database, started again
        self.make_actors()
        self.mastodon = self.connect_mastodon()
        self.start_worker()
        after = self.post("Posted by the new database.", ["MASTODON"])
        self.assertEqual(self.publication(after, "MASTODON").pk, number, "the same publication number")
        self.wait_until_final(after)

        self.assertEqual(after.status, Post.Status.PUBLISHED, self.worker_logs())
        statuses = self.statuses()
        self.assertEqual(
            [s["text"] for s in statuses], ["Posted by the first database.", "Posted by the new database."]
        )
        self.assertEqual(self.publication(after, "MASTODON").external_id, statuses[1]["id"])
        keys = [r["headers"]["Idempotency-Key"] for r in self.status_creates()]
        self.assertEqual(len(set(keys)), 2, keys)


class BlueskyFirstCommentTests(ExactlyOnceCase):
    def test_a_first_comment_whose_answer_was_lost_is_found_at_its_record_key_despite_the_appview_lag(self):
        # The PDS writes the reply but its answer is lost; the AppView (getAuthorFeed) shows it only
        # 30 s later. The comment's record key was chosen and kept before it was sent: the retry
        # finds the reply with one getRecord, and sends nothing.
        self.mock.configure(bluesky_appview_lag_seconds=30)
        self.mock.fail("BLUESKY", "accept_then_drop", times=1, contains="More in the shop")
        self.start_worker()
        post = self.with_comment("BLUESKY", "New roast on Bluesky")
        self.wait_until_final(post)
        publication = self.publication(post, "BLUESKY")

        state = self.commented(publication)

        posts = self.mock.posts("BLUESKY")
        self.assertEqual([p["text"] for p in posts], ["New roast on Bluesky", COMMENT], "one reply")
        self.assertEqual(state.get("id"), posts[1]["id"], state)
        ref = {"uri": publication.external_id, "cid": posts[0]["cid"]}
        self.assertEqual(posts[1]["record"]["reply"], {"root": ref, "parent": ref})
        self.assertTrue(state.get("reconciled"), state)
        self.assertEqual(len([r for r in self.mock.requests("BLUESKY", path="createRecord")]), 2)


class FirstCommentTokenTests(ExactlyOnceCase):
    def test_a_first_comment_whose_token_expired_renews_it_and_is_posted(self):
        # The access JWT ends between the post and its comment: the PDS answers the comment 400
        # ExpiredToken. The session is renewed and the comment sent again, as a post's would be.
        self.mock.fail("BLUESKY", "token_expired", times=1, contains="More in the shop")
        self.start_worker()
        post = self.with_comment("BLUESKY", "New roast, then a comment")
        self.wait_until_final(post)
        publication = self.publication(post, "BLUESKY")

        state = self.commented(publication)

        self.assertTrue(state.get("id"), state)
        posts = self.mock.posts("BLUESKY")
        self.assertEqual([p["text"] for p in posts], ["New roast, then a comment", COMMENT])
        self.assertEqual(state["id"], posts[1]["id"])
        self.assertEqual(state["attempts"], 1, "renewed within the attempt")
        self.assertEqual(len(self.requests_named("BLUESKY", "refreshSession")), 1)
        self.bluesky.refresh_from_db()
        self.assertEqual(self.bluesky.status, Connection.Status.ACTIVE)

    def test_a_first_comment_renews_a_token_about_to_expire_before_sending(self):
        # The post went out; by the time of its comment the session's token expires within the
        # minute: it is renewed before the comment is sent, not after a refusal.
        self.start_worker()
        post = self.post("Out before the token's end.", ["BLUESKY"])
        self.wait_until_final(post)
        publication = self.publication(post, "BLUESKY")
        Post.objects.filter(pk=post.pk).update(first_comment=COMMENT)
        Connection.objects.filter(pk=self.bluesky.pk).update(expires_at=timezone.now() + timedelta(seconds=30))

        outcome = services.publication_first_comment(publication_id=publication.pk)

        self.assertEqual(outcome, "PUBLISHED")
        publication.refresh_from_db()
        posts = self.mock.posts("BLUESKY")
        self.assertEqual(publication.metadata["firstComment"]["id"], posts[1]["id"])
        self.assertEqual(len(self.requests_named("BLUESKY", "refreshSession")), 1)
        refused = [r for r in self.mock.requests("BLUESKY", path="createRecord") if r["status"] != 200]
        self.assertEqual(refused, [], "renewed before, never refused")
        self.bluesky.refresh_from_db()
        self.assertGreater(self.bluesky.expires_at, timezone.now() + timedelta(minutes=30))
