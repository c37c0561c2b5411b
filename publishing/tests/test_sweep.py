"""The sweep rebuilds from the database whatever Redis lost; each case in isolation."""

from datetime import timedelta
from unittest import mock

import django_rq
import rq
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.test import TestCase, override_settings
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from devtools.testing import flush_redis
from publishing import rules, selectors, services, sweep
from publishing.models import Post, Publication
from publishing.tests.base import Actors


@override_settings(SWEEP_REQUEUE_AFTER_SECONDS=10)
class SweepTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")
        self.long_ago = timezone.now() - timedelta(minutes=5)

    def publishing_post(self) -> Publication:
        post = services.post_create(team=self.team, content="Swept", platforms=["FACEBOOK"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, scheduled_at=self.long_ago)
        publication = post.publications.get()
        with self.captureOnCommitCallbacks(execute=True):
            services.publication_enqueue(publication=publication)
        Publication.objects.filter(pk=publication.pk).update(enqueued_at=self.long_ago)
        publication.refresh_from_db()
        return publication

    def job_ids(self) -> list[str]:
        return self.queue.get_job_ids()

    def test_it_dispatches_a_due_post_nobody_enqueued(self):
        post = services.post_create(team=self.team, content="Due", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, scheduled_at=self.long_ago)

        with self.captureOnCommitCallbacks(execute=True):
            sweep.due_posts_dispatch()

        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHING)
        self.assertEqual(len(self.job_ids()), 2)

    def test_it_leaves_a_live_job_alone(self):
        publication = self.publishing_post()
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 0)
        self.assertEqual(self.job_ids(), [publication.job_id])

    def test_it_leaves_alone_a_job_a_worker_takes_while_it_looks(self):
        # The job is popped by a worker between the sweep's two reads (its status, the queue):
        # still QUEUED, no longer in the queue. Read in that order, it looked lost and was enqueued
        # a second time: during a burst's long queue, a dozen publications a sweep.
        publication = self.publishing_post()
        fetch_many = Job.fetch_many

        def fetched_then_taken(*args, **kwargs):
            jobs = fetch_many(*args, **kwargs)
            self.queue.connection.lrem(self.queue.key, 0, publication.job_id)  # a worker's pop
            return jobs

        with (
            mock.patch.object(Job, "fetch_many", side_effect=fetched_then_taken),
            self.captureOnCommitCallbacks(execute=True),
        ):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 0)

    def test_it_leaves_alone_a_publication_settled_while_it_looks(self):
        # Read among the candidates, then settled by its attempt before the sweep read Redis: its
        # job ended (here: gone), and it was enqueued a second time, its settled row given a new
        # job id (a few a sweep during a burst of 30,000). The same for one that got a retry's job.
        published, retried = self.publishing_post(), self.publishing_post()
        fetch_many = Job.fetch_many

        def settled_meanwhile(*args, **kwargs):
            Publication.objects.filter(pk=published.pk).update(status=Publication.Status.PUBLISHED)
            Publication.objects.filter(pk=retried.pk).update(job_id="publication-retry-job")
            return [None for _ in fetch_many(*args, **kwargs)]

        with (
            mock.patch.object(Job, "fetch_many", side_effect=settled_meanwhile),
            self.captureOnCommitCallbacks(execute=True),
        ):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 0)

        self.assertEqual(Publication.objects.get(pk=published.pk).job_id, published.job_id)
        self.assertEqual(Publication.objects.get(pk=retried.pk).job_id, "publication-retry-job")
        self.assertEqual(sorted(self.job_ids()), sorted([published.job_id, retried.job_id]))

    @override_settings(PUBLISH_BATCH_SIZE=1)  # a job each (several to a job: test_batches)
    def test_it_requeues_the_lost_jobs_at_once_in_one_line(self):
        publications = [self.publishing_post() for _ in range(3)]
        flush_redis()

        with self.captureOnCommitCallbacks(execute=True), self.assertLogs("planrrr.sweep") as logged:
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 3)

        (line,) = logged.records
        self.assertEqual(line.requeued, 3)
        for publication in publications:
            publication.refresh_from_db()
            self.assertIn(str(publication.pk), line.getMessage())
        self.assertEqual(sorted(self.job_ids()), sorted(p.job_id for p in publications))

    def test_it_requeues_a_job_redis_forgot(self):
        publication = self.publishing_post()
        flush_redis()
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 1)
        publication.refresh_from_db()
        self.assertEqual(self.job_ids(), [publication.job_id])

    def test_it_requeues_a_job_a_killed_worker_popped_once_it_stayed_so(self):
        # Popped off the list (as a worker listening on two queues does in one step), then the
        # worker died: the job says QUEUED but is in no queue. A worker alive marks it started a
        # moment later; one that waits for a core during a burst takes longer, and the sweep
        # enqueued such jobs a second time (a dozen a sweep in a burst of 30,000): it waits
        # LIMBO_GRACE_SECONDS from when it first saw one.
        publication = self.publishing_post()
        self.queue.connection.lrem(self.queue.key, 0, publication.job_id)
        self.assertEqual(Job.fetch(publication.job_id, connection=self.queue.connection).get_status(), "queued")
        now = timezone.now()
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(now), 0)
            self.assertEqual(sweep.lost_jobs_requeue(now + timedelta(seconds=sweep.LIMBO_GRACE_SECONDS - 1)), 0)
        self.assertEqual(self.job_ids(), [])

        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(now + timedelta(seconds=sweep.LIMBO_GRACE_SECONDS)), 1)

        publication.refresh_from_db()
        self.assertEqual(self.job_ids(), [publication.job_id])

    def started_by(self, publication: Publication, worker_name: str) -> None:
        """The publication's job taken and marked started by ``worker_name``, as RQ does."""
        self.queue.connection.lrem(self.queue.key, 0, publication.job_id)
        job = Job.fetch(publication.job_id, connection=self.queue.connection)
        with self.queue.connection.pipeline() as pipe:
            job.prepare_for_execution(worker_name, pipe)
            pipe.execute()
        self.assertEqual(Job.fetch(publication.job_id, connection=self.queue.connection).get_status(), "started")

    def test_it_requeues_a_started_job_whose_worker_is_gone(self):
        # A job of several publications whose worker was killed: the one it was attempting is its
        # lease's; the others, still PENDING on the job, would wait until RQ finds the job
        # abandoned, past its timeout (several attempts' worth). A killed process's workers are
        # unregistered at once by its pool: the job counts lost from then on.
        publication = self.publishing_post()
        self.started_by(publication, "gone.3")
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 1)
        publication.refresh_from_db()
        self.assertEqual(self.job_ids(), [publication.job_id])

    def test_it_leaves_alone_a_started_job_whose_worker_is_registered(self):
        publication = self.publishing_post()
        worker = rq.SimpleWorker([self.queue], connection=self.queue.connection, name="alive.3")
        worker.register_birth()
        self.addCleanup(worker.register_death)
        self.started_by(publication, worker.name)
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 0)
        self.assertEqual(Publication.objects.get(pk=publication.pk).job_id, publication.job_id)

    def test_it_requeues_a_scheduled_job_long_overdue(self):
        # A retry scheduled for five minutes ago: no scheduler is running to enqueue it.
        publication = self.publishing_post()
        self.queue.remove(publication.job_id)
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=self.long_ago)
        self.queue.enqueue_at(
            self.long_ago, "publishing.jobs.publication_publish", publication.pk, job_id=publication.job_id
        )
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.lost_jobs_requeue(timezone.now()), 1)

    def test_it_hands_a_dead_attempt_over_to_reconciliation(self):
        publication = self.publishing_post()
        Publication.objects.filter(pk=publication.pk).update(
            status=Publication.Status.PUBLISHING, attempt_count=1, lease_expires_at=self.long_ago
        )
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.expired_leases_recover(timezone.now()), 1)
        publication.refresh_from_db()
        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertTrue(publication.outcome_unknown)
        self.assertIn("interrupted", publication.error)

    def test_it_settles_a_post_whose_publications_all_ended(self):
        publication = self.publishing_post()
        Publication.objects.filter(pk=publication.pk).update(
            status=Publication.Status.PUBLISHED, external_id="1_2", published_at=timezone.now()
        )
        self.assertEqual(sweep.settled_posts_finalize(), 1)
        self.assertEqual(Post.objects.get(pk=publication.post_id).status, Post.Status.PUBLISHED)


class PostFinalizeTests(Actors, TestCase):
    """The post's status, derived by one guarded UPDATE once no publication is open."""

    def setUp(self):
        flush_redis()
        self.make_actors()
        post = services.post_create(team=self.team, content="Both", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        self.post = post
        self.facebook_pub = post.publications.get(platform="FACEBOOK")
        self.twitter_pub = post.publications.get(platform="TWITTER")

    def end(self, publication: Publication, status: str, at=None) -> None:
        Publication.objects.filter(pk=publication.pk).update(status=status, published_at=at)

    def test_it_waits_while_a_publication_is_open(self):
        self.end(self.facebook_pub, Publication.Status.PUBLISHED, timezone.now())
        self.assertIsNone(services.post_finalize(post_id=self.post.pk))
        self.assertEqual(Post.objects.get(pk=self.post.pk).status, Post.Status.PUBLISHING)

    def test_published_everywhere_is_published_at_the_last_time(self):
        first, last = timezone.now() - timedelta(seconds=5), timezone.now()
        self.end(self.facebook_pub, Publication.Status.PUBLISHED, first)
        self.end(self.twitter_pub, Publication.Status.PUBLISHED, last)

        self.assertEqual(services.post_finalize(post_id=self.post.pk), Post.Status.PUBLISHED)
        self.post.refresh_from_db()
        self.assertEqual(self.post.published_at, last)

    def test_published_somewhere_is_partial(self):
        self.end(self.facebook_pub, Publication.Status.PUBLISHED, timezone.now())
        self.end(self.twitter_pub, Publication.Status.FAILED)
        self.assertEqual(services.post_finalize(post_id=self.post.pk), Post.Status.PARTIAL)

    def test_published_nowhere_is_failed_without_a_time(self):
        self.end(self.facebook_pub, Publication.Status.FAILED)
        self.end(self.twitter_pub, Publication.Status.FAILED)
        self.assertEqual(services.post_finalize(post_id=self.post.pk), Post.Status.FAILED)
        self.assertIsNone(Post.objects.get(pk=self.post.pk).published_at)

    def test_it_decides_once(self):
        self.end(self.facebook_pub, Publication.Status.PUBLISHED, timezone.now())
        self.end(self.twitter_pub, Publication.Status.PUBLISHED, timezone.now())
        self.assertEqual(services.post_finalize(post_id=self.post.pk), Post.Status.PUBLISHED)
        self.assertIsNone(services.post_finalize(post_id=self.post.pk))


class NothingToPublishTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()

    def test_a_publishing_post_with_no_publication_fails_saying_why(self):
        # Left by an older version that let a row with no platforms through: it must end.
        post = Post.objects.create(
            team=self.team, content="Nowhere", platforms=[], status=Post.Status.PUBLISHING, scheduled_at=timezone.now()
        )
        self.assertEqual(sweep.settled_posts_finalize(), 1)
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.FAILED)
        self.assertIn("no publication to make", post.error)

    def test_a_year_one_row_is_late_from_its_creation(self):
        Post.objects.create(
            team=self.team,
            content="Year one",
            platforms=["FACEBOOK"],
            status=Post.Status.SCHEDULED,
            scheduled_at=timezone.now().replace(year=1),
        )
        count, late = selectors.overdue_posts()
        self.assertEqual(count, 1)
        self.assertLess(late, 60)


@override_settings(MEDIA_STAGING_LEAD_SECONDS=300)
class MediaStagingTests(Actors, TestCase):
    """Media is staged ahead of the slot whether it is the post's own or only a variant's."""

    def setUp(self):
        flush_redis()
        self.make_actors()
        self.instagram = self.connect("INSTAGRAM", "17841400008460056", "mock_ig_token")
        self.queue = django_rq.get_queue("default")
        self.scheduler = ScheduledJobRegistry(queue=self.queue)

    def scheduled(self, **fields) -> Post:
        with self.captureOnCommitCallbacks(execute=True):
            return services.post_create(
                team=self.team,
                platforms=["FACEBOOK", "INSTAGRAM"],
                scheduled_at=timezone.now() + timedelta(minutes=2),
                **fields,
            )

    def test_a_post_whose_only_media_is_a_variants_is_staged(self):
        post = self.scheduled(
            content="Text on Facebook",
            variants={"INSTAGRAM": {"content": "A photo", "media_urls": ["https://cdn.example.com/photo.jpg"]}},
        )
        job_id = services.stage_job_id(post)
        self.assertIn(job_id, self.queue.get_job_ids() + self.scheduler.get_job_ids())

        flush_redis()  # Redis lost the staging job: the sweep finds the post again
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_media_stage(timezone.now()), 1)
        self.assertEqual(self.queue.get_job_ids(), [job_id])

    def test_a_post_with_no_media_anywhere_is_not_staged(self):
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(
                team=self.team,
                content="Text only",
                platforms=["FACEBOOK", "TWITTER"],
                variants={"TWITTER": {"content": "Shorter", "media_urls": []}},
                scheduled_at=timezone.now() + timedelta(minutes=2),
            )
        self.assertEqual(self.queue.get_job_ids() + self.scheduler.get_job_ids(), [])
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_media_stage(timezone.now()), 0)
        self.assertEqual(services.post_stage(post_id=post.pk), 0)

    def test_a_post_whose_variants_take_its_media_away_is_not_staged_again_and_again(self):
        # Instagram's variant has media of its own but Instagram is not among the post's platforms,
        # and Facebook's variant drops the post's photo: no platform gets media. The sweep asked
        # SQL a different question than rules.has_media, and enqueued a staging job that did
        # nothing, at every sweep until the slot.
        with self.captureOnCommitCallbacks(execute=True):
            post = services.post_create(
                team=self.team,
                content="Text only in the end",
                platforms=["FACEBOOK"],
                media_urls=["https://cdn.example.com/photo.jpg"],
                variants={"FACEBOOK": {"media_urls": []}},
                scheduled_at=timezone.now() + timedelta(minutes=2),
            )
        Post.objects.filter(pk=post.pk).update(
            variants={"FACEBOOK": {"media_urls": []}, "INSTAGRAM": {"media_urls": ["https://cdn.example.com/a.jpg"]}}
        )
        post.refresh_from_db()
        self.assertFalse(rules.has_media(post))
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(sweep.due_media_stage(timezone.now()), 0)
        self.assertEqual(self.queue.get_job_ids() + self.scheduler.get_job_ids(), [])


class HasMediaTests(Actors, TestCase):
    """rules.has_media and its SQL (rules.HAS_MEDIA_SQL) give the same answer for every row,
    those written past the door too."""

    ROWS = [
        {"platforms": ["FACEBOOK"], "media_urls": ["https://a/1.jpg"]},
        {"platforms": ["FACEBOOK"], "media_urls": []},
        {"platforms": ["FACEBOOK"], "media_urls": ["https://a/1.jpg"], "variants": {"FACEBOOK": {"media_urls": []}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"content": "Other text"}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK", "INSTAGRAM"], "variants": {"INSTAGRAM": {"media_urls": ["https://a/1.jpg"]}}},
        {"platforms": ["FACEBOOK"], "variants": {"INSTAGRAM": {"media_urls": ["https://a/1.jpg"]}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": "not an object"}, "media_urls": ["https://a/1.jpg"]},
        {"platforms": ["FACEBOOK"], "variants": ["not", "an", "object"], "media_urls": ["https://a/1.jpg"]},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": None}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": "https://a/1.jpg"}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": ""}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": {"a": 1}}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": {}}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": 0}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": 2.5}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": True}}},
        {"platforms": ["FACEBOOK"], "variants": {"FACEBOOK": {"media_urls": False}}, "media_urls": ["https://a"]},
        {"platforms": ["FACEBOOK", "FACEBOOK"], "media_urls": ["https://a/1.jpg"]},
        {"platforms": [], "media_urls": ["https://a/1.jpg"]},
    ]

    def setUp(self):
        self.make_actors()

    def test_the_rule_and_its_sql_agree_on_every_row(self):
        post = services.post_create(team=self.team, content="Rows", platforms=["FACEBOOK"])
        rows = Post.objects.filter(pk=post.pk)
        in_sql = rows.alias(media=RawSQL(rules.HAS_MEDIA_SQL, (), output_field=BooleanField())).filter(media=True)
        for fields in self.ROWS:
            with self.subTest(**fields):
                rows.update(**{"variants": {}, "media_urls": [], **fields})
                self.assertEqual(in_sql.exists(), rules.has_media(rows.get()))

    def test_they_agree_on_nulls_written_by_sql(self):
        post = services.post_create(team=self.team, content="Nulls", platforms=["FACEBOOK"])
        rows = Post.objects.filter(pk=post.pk)
        in_sql = rows.alias(media=RawSQL(rules.HAS_MEDIA_SQL, (), output_field=BooleanField())).filter(media=True)
        statements = [
            "UPDATE publishing_post SET platforms = ARRAY[NULL], media_urls = ARRAY['https://a'] WHERE id = %s",
            "UPDATE publishing_post SET platforms = ARRAY['FACEBOOK'], variants = 'null' WHERE id = %s",
            "UPDATE publishing_post SET media_urls = ARRAY[NULL] WHERE id = %s",
            """UPDATE publishing_post SET variants = '{"FACEBOOK": {"media_urls": null}}', media_urls = '{}'
                WHERE id = %s""",
        ]
        for statement in statements:
            with self.subTest(statement=statement):
                with connection.cursor() as cursor:
                    cursor.execute(statement, [post.pk])
                self.assertEqual(in_sql.exists(), rules.has_media(rows.get()))
