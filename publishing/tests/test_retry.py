"""Failed publications put back on their way (publishing/services/retry.py): one move, with one
set of checks, for a person's retry (API, admin) and for the re-queue after a reconnect."""

import threading

from django.core.exceptions import ValidationError
from django.db import connection as db
from django.db import connections
from django.test import TestCase, TransactionTestCase
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis, wait_for
from publishing import metadata as keys
from publishing import services
from publishing.models import Post, Publication
from publishing.services import retry
from publishing.tests.base import Actors


class ReopenTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()

    def failed(self, platforms=("FACEBOOK", "TWITTER"), post_status=Post.Status.FAILED, **fields) -> Post:
        post = services.post_create(team=self.team, content="Again", platforms=list(platforms))
        Post.objects.filter(pk=post.pk).update(status=post_status, scheduled_at=timezone.now())
        post.publications.update(status=Publication.Status.FAILED, error="No.", **fields)
        return post

    def test_a_retry_refuses_an_account_that_is_not_connected_and_moves_nothing(self):
        post = self.failed()
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.REVOKED)
        with self.assertRaisesMessage(ValidationError, "TWITTER: X Twitter is REVOKED, reconnect it first"):
            services.publications_retry(post=post)
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.FAILED)
        self.assertEqual(set(post.publications.values_list("status", flat=True)), {Publication.Status.FAILED})

    def test_a_retry_of_a_token_failure_drops_its_mark(self):
        # Left on a publication retried by a person, the mark made a reconnect re-queue it later
        # although it had failed again for another reason.
        post = self.failed(platforms=["TWITTER"], metadata={keys.FAILED_BECAUSE: keys.TOKEN, keys.PARTS: ["1"]})
        with self.captureOnCommitCallbacks(execute=True):
            services.publications_retry(post=post)
        publication = post.publications.get()
        self.assertEqual(publication.metadata, {keys.PARTS: ["1"]}, "the steps done stay")
        Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.FAILED, error="Too long.")
        Post.objects.filter(pk=post.pk).update(status=Post.Status.FAILED)
        self.assertEqual(services.publications_requeue_after_reconnect(connection=self.twitter), 0)

    def test_a_retry_keeps_the_publication_s_own_account_when_it_is_connected(self):
        # A team with two X accounts: the publication goes out on its own, not on the oldest.
        post = self.failed(platforms=["TWITTER"])
        own = self.connect("TWITTER", "1000000000000000001", "second_token")
        post.publications.update(connection=own)
        with self.captureOnCommitCallbacks(execute=True):
            (retried,) = services.publications_retry(post=post)
        self.assertEqual(Publication.objects.get(pk=retried.pk).connection_id, own.pk)

    def test_a_retry_never_moves_a_publication_to_another_account_of_its_platform(self):
        # The channel chosen is the account: another X account of the team is not a stand-in.
        post = self.failed(platforms=["TWITTER"])
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.EXPIRED)
        self.connect("TWITTER", "1000000000000000002", "new_token")
        with self.assertRaisesMessage(ValidationError, "TWITTER: X Twitter is EXPIRED, reconnect it first"):
            services.publications_retry(post=post)
        # Reconnected (in place: the same connection), it goes out on that account.
        Connection.objects.filter(pk=self.twitter.pk).update(status=Connection.Status.ACTIVE)
        with self.captureOnCommitCallbacks(execute=True):
            services.publications_retry(post=post)
        self.assertEqual(post.publications.get().connection_id, self.twitter.pk)

    def test_a_reconnect_and_a_retry_make_the_same_move(self):
        fields = {"attempt_count": 2, "first_attempt_at": timezone.now(), "next_attempt_at": timezone.now()}
        by_person = self.failed(platforms=["TWITTER"], **fields, metadata={keys.FAILED_BECAUSE: keys.TOKEN})
        Post.objects.filter(pk=by_person.pk).update(error="A reason.")
        with self.captureOnCommitCallbacks(execute=True):
            services.publications_retry(post=by_person)
        person = by_person.publications.get()
        Publication.objects.filter(pk=person.pk).update(status=Publication.Status.PUBLISHED)
        by_reconnect = self.failed(platforms=["TWITTER"], **fields, metadata={keys.FAILED_BECAUSE: keys.TOKEN})
        Post.objects.filter(pk=by_reconnect.pk).update(error="A reason.")
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(services.publications_requeue_after_reconnect(connection=self.twitter), 1)
        reconnect = by_reconnect.publications.get()

        moved = ["status", "attempt_count", "error", "next_attempt_at", "outcome_unknown", "metadata", "connection_id"]
        person.refresh_from_db()
        Publication.objects.filter(pk=person.pk).update(status=reconnect.status)
        person.status = reconnect.status
        self.assertEqual([getattr(person, f) for f in moved], [getattr(reconnect, f) for f in moved])
        self.assertEqual((reconnect.status, reconnect.attempt_count, reconnect.error), ("PENDING", 0, ""))
        self.assertTrue(reconnect.outcome_unknown, "attempted before: looked up before it is sent again")
        self.assertEqual(reconnect.first_attempt_at, person.first_attempt_at)
        for post in (by_person, by_reconnect):
            post.refresh_from_db()
            self.assertEqual((post.status, post.error), (Post.Status.PUBLISHING, ""))
            self.assertTrue(post.publications.get().job_id)

    def test_a_publication_never_attempted_starts_afresh(self):
        post = self.failed(platforms=["TWITTER"], first_attempt_at=timezone.now())
        with self.captureOnCommitCallbacks(execute=True):
            services.publications_retry(post=post)
        publication = post.publications.get()
        self.assertFalse(publication.outcome_unknown)
        self.assertIsNone(publication.first_attempt_at, "its waits are counted from its next attempt")


class ReopenRaceTests(Actors, TransactionTestCase):
    """A reconnect re-queues a publication of a post still publishing while another publication's
    end finalizes that post: the post is not ended over the publication reopened."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()

    def test_a_finalize_racing_a_requeue_leaves_the_post_publishing(self):
        post = services.post_create(team=self.team, content="Both", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, scheduled_at=timezone.now())
        post.publications.filter(platform="FACEBOOK").update(
            status=Publication.Status.PUBLISHED, external_id="1_2", published_at=timezone.now()
        )
        post.publications.filter(platform="TWITTER").update(
            status=Publication.Status.FAILED, metadata={keys.FAILED_BECAUSE: keys.TOKEN}
        )
        reopened, release = threading.Event(), threading.Event()
        enqueue = retry.publication_enqueue

        def enqueue_then_hold(**kwargs):
            # The requeue has written its rows; its transaction stays open until released.
            job_id = enqueue(**kwargs)
            reopened.set()
            release.wait(10)
            return job_id

        outcomes = {}

        def run(name, call):
            try:
                outcomes[name] = call()
            except Exception as err:  # noqa: BLE001 - reported by the assertions below
                outcomes[name] = err
            finally:
                connections.close_all()

        retry.publication_enqueue = enqueue_then_hold
        self.addCleanup(setattr, retry, "publication_enqueue", enqueue)
        requeue = threading.Thread(
            target=run, args=("requeue", lambda: services.publications_requeue_after_reconnect(connection=self.twitter))
        )
        requeue.start()
        self.assertTrue(reopened.wait(10), "the requeue reopened the publication")
        finalize = threading.Thread(target=run, args=("finalize", lambda: services.post_finalize(post_id=post.pk)))
        finalize.start()

        def finalize_done_or_waiting() -> bool:
            with db.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                return "finalize" in outcomes or cursor.fetchone()[0] > 0

        wait_for(finalize_done_or_waiting, timeout=10, message="the finalize to end or wait for the post's row")
        release.set()
        requeue.join(10)
        finalize.join(10)

        self.assertEqual(outcomes, {"requeue": 1, "finalize": None})
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING, "a publication is open again")
        self.assertEqual(post.publications.get(platform="TWITTER").status, Publication.Status.PENDING)
