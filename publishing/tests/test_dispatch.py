"""The dispatch: what is due goes out once, what is not (cancelled, moved later) does not."""

from datetime import timedelta
from unittest import mock

import django_rq
import redis
import rq
from django.db import connection as db
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis
from planrrr import outages
from publishing import services, sweep
from publishing.models import Post, Publication
from publishing.services import dispatch
from publishing.tests.base import Actors


class DispatchTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")

    def scheduled(self, platforms=("FACEBOOK", "TWITTER"), minutes=10) -> Post:
        return services.post_create(
            team=self.team, content="Scheduled", platforms=list(platforms), scheduled_at=self.soon(minutes * 60)
        )

    def fall_due(self, post: Post) -> None:
        Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))

    def dispatch(self) -> int:
        with self.captureOnCommitCallbacks(execute=True):
            return services.posts_dispatch()

    def test_a_cancelled_post_stays_home(self):
        post = self.scheduled()
        self.assertTrue(services.post_cancel(post=post))
        self.fall_due(post)

        self.assertEqual(self.dispatch(), 0)

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.CANCELLED)
        self.assertEqual(self.queue.count, 0)

    def test_a_post_already_publishing_cannot_be_cancelled(self):
        post = self.scheduled()
        self.fall_due(post)
        self.dispatch()

        self.assertFalse(services.post_cancel(post=post))
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)

    def test_a_post_moved_later_goes_out_at_its_new_time_only(self):
        post = self.scheduled(minutes=1)
        with self.captureOnCommitCallbacks(execute=True):
            services.post_schedule(post=post, scheduled_at=self.soon(3600))
        self.assertEqual(self.dispatch(), 0)

        self.fall_due(post)
        self.assertEqual(self.dispatch(), 2)
        self.assertEqual(self.dispatch(), 0)  # once
        self.assertEqual(self.queue.count, 2)

    def test_a_post_moved_to_now_goes_out_at_once(self):
        post = self.scheduled()
        with self.captureOnCommitCallbacks(execute=True):
            services.post_schedule(post=post, scheduled_at=timezone.now())

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(self.queue.count, 2)

    def test_a_row_written_straight_into_the_database_gets_its_publications(self):
        # Another program wrote it: a platform with no connection, one planrrr does not know.
        post = Post.objects.create(
            team=self.team,
            content="From SQL",
            platforms=["FACEBOOK", "LINKEDIN", "MYSPACE"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now() - timedelta(seconds=1),
        )

        self.assertEqual(self.dispatch(), 1)

        publications = {p.platform: p for p in post.publications.all()}
        self.assertEqual(publications["FACEBOOK"].status, Publication.Status.PENDING)
        self.assertEqual(self.queue.get_job_ids(), [publications["FACEBOOK"].job_id])
        self.assertEqual(publications["LINKEDIN"].status, Publication.Status.FAILED)
        self.assertIn("no LinkedIn connection: connect an account", publications["LINKEDIN"].error)
        self.assertEqual(publications["MYSPACE"].status, Publication.Status.FAILED)
        self.assertIn("Unknown platform 'MYSPACE'", publications["MYSPACE"].error)

    def test_a_post_with_nothing_it_can_publish_fails_at_once(self):
        post = Post.objects.create(
            team=self.team,
            content="Nowhere to go",
            platforms=["MYSPACE"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now() - timedelta(seconds=1),
        )

        self.assertEqual(self.dispatch(), 0)

        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.FAILED)
        self.assertEqual(self.queue.count, 0)

    def test_a_batch_with_nothing_to_publish_does_not_end_the_round(self):
        # A full batch of posts that all fail at the door (the round's first, of ten) enqueues
        # nothing; the next batch is still read in the same round.
        past = timezone.now() - timedelta(minutes=1)
        Post.objects.bulk_create(
            Post(
                team=self.team,
                content=f"Nowhere {i}",
                platforms=["MYSPACE"],
                status=Post.Status.SCHEDULED,
                scheduled_at=past,
            )
            for i in range(10)
        )
        last = services.post_create(team=self.team, content="Somewhere", platforms=["FACEBOOK"])
        Post.objects.filter(pk=last.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())

        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_posts_dispatch(), 1)

        self.assertEqual(Post.objects.get(pk=last.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(Post.objects.filter(status=Post.Status.FAILED).count(), 10)

    @override_settings(DISPATCH_INTERVAL_SECONDS=0.3)
    def test_a_post_due_before_the_next_round_starts_at_its_time_not_a_round_late(self):
        soon = services.post_create(team=self.team, content="Soon", platforms=["FACEBOOK"])
        later = services.post_create(team=self.team, content="Later", platforms=["FACEBOOK"])
        due = timezone.now() + timedelta(seconds=0.15)
        Post.objects.filter(pk=soon.pk).update(status=Post.Status.SCHEDULED, scheduled_at=due)
        Post.objects.filter(pk=later.pk).update(
            status=Post.Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(seconds=5)
        )

        # Not due as the round starts: waited for, in this round.
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_posts_dispatch(), 1)

        publication = Publication.objects.get(post=soon)
        self.assertEqual(Post.objects.get(pk=soon.pk).status, Post.Status.PUBLISHING)
        self.assertGreaterEqual(publication.enqueued_at, due, "never before its time")
        self.assertEqual(Post.objects.get(pk=later.pk).status, Post.Status.SCHEDULED)

        # Nothing due within the interval: one query, and no wait.
        with self.assertNumQueries(1), mock.patch.object(sweep.time, "sleep") as slept:
            self.assertEqual(sweep.due_posts_dispatch(), 0)
        slept.assert_not_called()

    def test_a_burst_starts_with_a_small_batch_then_takes_the_rest_at_once(self):
        # The first jobs of a burst reach the workers after ten posts are dispatched; the other
        # 140 go in one more round, not in four growing ones.
        past = timezone.now() - timedelta(seconds=1)
        Post.objects.bulk_create(
            Post(
                team=self.team,
                content=f"Burst {i}",
                platforms=["FACEBOOK"],
                status=Post.Status.SCHEDULED,
                scheduled_at=past,
            )
            for i in range(150)
        )
        limits = []
        real = dispatch._posts_dispatch

        def recorded(*, post_ids, limit):
            limits.append(limit)
            return real(post_ids=post_ids, limit=limit)

        with mock.patch.object(dispatch, "_posts_dispatch", recorded), self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_posts_dispatch(), 150)
        self.assertEqual(limits, [10, 490])
        self.assertFalse(Post.objects.filter(status=Post.Status.SCHEDULED).exists())

    @override_settings(SWEEP_REQUEUE_AFTER_SECONDS=0)
    def test_redis_down_at_dispatch_loses_nothing(self):
        post = self.scheduled()
        self.fall_due(post)
        down = redis.exceptions.ConnectionError("Connection refused")
        with self.assertLogs(level="ERROR"):
            with mock.patch.object(rq.Queue, "enqueue_many", side_effect=down):
                self.dispatch()

        # The dispatch stands, its jobs do not exist: the sweep enqueues them.
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)
        self.assertEqual(self.queue.count, 0)
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 2)
        self.assertEqual(sorted(self.queue.get_job_ids()), sorted(post.publications.values_list("job_id", flat=True)))


class BadRowTests(Actors, TestCase):
    """One bad row fails alone, with its reason on it; the rest of the batch goes out now."""

    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")
        self.theirs = self.connect("FACEBOOK", "2222", "their_token", team=self.outsiders)

    def insert(self, team, platforms_sql: str) -> int:
        with db.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, scheduled_at,
                                             created_at, updated_at)
                VALUES (%s, 'From SQL', {platforms_sql}, '{{}}', 'SCHEDULED', now() - interval '1 second',
                        now(), now())
                RETURNING id
                """,
                [team.pk],
            )
            return cursor.fetchone()[0]

    def good_post_of_the_other_team(self) -> Post:
        post = services.post_create(team=self.outsiders, content="Theirs", platforms=["FACEBOOK"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())
        return post

    def dispatch(self) -> int:
        with self.captureOnCommitCallbacks(execute=True):
            return sweep.due_posts_dispatch()

    def test_a_null_platform_fails_alone(self):
        bad = self.insert(self.team, "ARRAY['FACEBOOK', NULL]::varchar[]")
        theirs = self.good_post_of_the_other_team()

        self.assertEqual(self.dispatch(), 1)

        self.assertEqual(Post.objects.get(pk=theirs.pk).status, Post.Status.PUBLISHING)
        failed = Post.objects.get(pk=bad)
        self.assertEqual(failed.status, Post.Status.FAILED)
        self.assertIn("lists None among its platforms", failed.error)

    def test_no_platforms_at_all_fails_with_the_reason(self):
        bad = self.insert(self.team, "'{}'")
        self.assertEqual(self.dispatch(), 0)
        failed = Post.objects.get(pk=bad)
        self.assertEqual(failed.status, Post.Status.FAILED)
        self.assertIn("lists no platforms", failed.error)

    def test_a_post_that_raises_fails_alone(self):
        ours = services.post_create(team=self.team, content="Ours", platforms=["FACEBOOK"])
        Post.objects.filter(pk=ours.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())
        theirs = self.good_post_of_the_other_team()
        start = dispatch._start

        def start_or_raise(posts, now):
            if any(post.pk == ours.pk for post in posts):
                raise ValueError("something only this row has")
            return start(posts, now)

        with self.assertLogs("planrrr.publishing", level="ERROR"):
            with mock.patch.object(dispatch, "_start", side_effect=start_or_raise):
                self.assertEqual(self.dispatch(), 1)

        self.assertEqual(Post.objects.get(pk=theirs.pk).status, Post.Status.PUBLISHING)
        failed = Post.objects.get(pk=ours.pk)
        self.assertEqual(failed.status, Post.Status.FAILED)
        self.assertIn("something only this row has", failed.error)

    def test_an_undecryptable_token_fails_its_publications_with_reconnect(self):
        ours = services.post_create(team=self.team, content="Ours", platforms=["FACEBOOK"])
        Post.objects.filter(pk=ours.pk).update(status=Post.Status.SCHEDULED, scheduled_at=timezone.now())
        from_sql = self.insert(self.team, "ARRAY['FACEBOOK']::varchar[]")
        theirs = self.good_post_of_the_other_team()
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE connections_connection SET access_token = 'fernet:not-a-token' WHERE id = %s",
                [self.facebook.pk],
            )

        self.assertEqual(self.dispatch(), 3)
        self.assertEqual(Post.objects.get(pk=theirs.pk).status, Post.Status.PUBLISHING)

        for post_id in (ours.pk, from_sql):
            publication = Publication.objects.get(post_id=post_id)
            with self.captureOnCommitCallbacks(execute=True):
                services.publication_publish(publication_id=publication.pk)
            publication.refresh_from_db()
            self.assertEqual(publication.status, Publication.Status.FAILED)
            self.assertIn("cannot be decrypted", publication.error)
            self.assertIn("reconnect the Facebook account", publication.error)
            self.assertEqual(publication.attempt_count, 0)
        self.assertEqual(Connection.objects.get(pk=self.facebook.pk).status, Connection.Status.EXPIRED)


class RedisOutageDispatchTests(Actors, TransactionTestCase):
    """Outside a transaction, as a worker's dispatch runs: each batch is committed, then its jobs
    are enqueued."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        outages._forget()
        self.addCleanup(outages._forget)
        self.make_actors()

    @override_settings(PUBLISH_BATCH_SIZE=1)  # a job each (several to a job: test_batches)
    def test_a_dispatch_stops_taking_posts_once_redis_cannot_take_their_jobs(self):
        # Redis went down in the middle of a burst's dispatch: every remaining batch was still taken
        # (PUBLISHING, job ids written) with its jobs lost, for the sweep to find 10 s after Redis
        # was back; the posts not taken wait, SCHEDULED, for the first dispatch after the outage.
        long_ago = timezone.now() - timedelta(minutes=1)
        for i in range(30):
            post = services.post_create(team=self.team, content=f"Due {i}", platforms=["FACEBOOK"])
            Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=long_ago)

        with (
            mock.patch.object(dispatch.django_rq, "get_queue", side_effect=redis.ConnectionError("Connection refused")),
            self.assertLogs("planrrr.outage") as logged,
        ):
            services.due_posts_dispatch(batch=10, first=10)

        self.assertEqual(Post.objects.filter(status=Post.Status.PUBLISHING).count(), 10, "the first batch only")
        self.assertEqual(Post.objects.filter(status=Post.Status.SCHEDULED).count(), 20)
        self.assertEqual([(r.outage, r.state) for r in logged.records], [("Redis", "started")])

        services.due_posts_dispatch(batch=10, first=10)
        self.assertEqual(Post.objects.filter(status=Post.Status.SCHEDULED).count(), 0)
        self.assertEqual(len(django_rq.get_queue("default").get_job_ids()), 20)
