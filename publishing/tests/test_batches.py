"""Several publications a job (a burst's, once the queue is long): grouped by account, each
attempted at its turn with its own claim, the rest split off after an attempt the platform did not
answer well (docs/performance.md, "Several publications a job")."""

import contextlib
import json
from datetime import timedelta
from unittest import mock

import django_rq
import responses
import rq
from django.test import TestCase, override_settings
from django.utils import timezone

from devtools.testing import flush_redis
from planrrr import threaded
from publishing import services
from publishing.models import JobMetric, Post, Publication
from publishing.services import dispatch
from publishing.tests.base import FACEBOOK_PAGE, Actors

FEED = f"https://graph.facebook.test/v21.0/{FACEBOOK_PAGE}/feed"


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", PUBLISH_BATCH_SIZE=4, PUBLISH_BATCH_BACKLOG=3)
class BatchDispatchTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")

    def due(self, count: int, platforms=("FACEBOOK", "TWITTER")) -> list[Post]:
        posts = [
            services.post_create(team=self.team, content=f"Burst {n}", platforms=list(platforms)) for n in range(count)
        ]
        Post.objects.filter(pk__in=[p.pk for p in posts]).update(
            status=Post.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1)
        )
        return posts

    def dispatch(self) -> int:
        with self.captureOnCommitCallbacks(execute=True):
            return services.posts_dispatch()

    def jobs(self) -> list[rq.job.Job]:
        return [rq.job.Job.fetch(job_id, connection=self.queue.connection) for job_id in self.queue.get_job_ids()]

    def fill_the_queue(self, jobs: int) -> None:
        """``jobs`` other jobs waiting in the publish queue."""
        queue = django_rq.get_queue("default", commit_mode="auto")
        for _ in range(jobs):
            queue.enqueue("publishing.jobs.publication_publish", 0)
        self.assertEqual(queue.count, jobs)

    def test_one_job_a_publication_while_the_queue_is_short(self):
        self.due(5)
        self.fill_the_queue(2)

        self.assertEqual(self.dispatch(), 10)

        published = [job for job in self.jobs() if job.args != (0,)]
        self.assertEqual(len(published), 10)
        self.assertTrue(all(job.func_name == dispatch.JOB for job in published))
        for publication in Publication.objects.all():
            (job,) = [job for job in published if job.args == (publication.pk,)]
            self.assertEqual(job.id, publication.job_id)

    def test_once_the_queue_is_long_an_accounts_publications_go_four_to_a_job(self):
        self.due(9)
        self.fill_the_queue(3)

        self.assertEqual(self.dispatch(), 18)

        jobs = [job for job in self.jobs() if job.args != (0,)]
        batches = [job for job in jobs if job.func_name == dispatch.BATCH_JOB]
        singles = [job for job in jobs if job.func_name == dispatch.JOB]
        sizes = sorted(len(job.args[0]) for job in batches)
        self.assertEqual((sizes, len(singles)), ([4, 4, 4, 4], 2), "9 of each account: 4, 4 and one alone")
        for job in singles:
            self.assertEqual(Publication.objects.get(pk=job.args[0]).job_id, job.id)
        for job in batches:
            members = Publication.objects.filter(pk__in=job.args[0])
            self.assertEqual({p.job_id for p in members}, {job.id}, "each row holds its job's id")
            self.assertEqual(len({(p.platform, p.connection_id) for p in members}), 1, "one account a job")
            self.assertEqual(job.timeout, len(job.args[0]) * 120, "each attempt bounded as a job of its own")
        self.assertEqual(sum(sizes) + len(singles), Publication.objects.count())
        # In the order they were due: the accounts' jobs take turns in the queue.
        platforms = [
            Publication.objects.get(pk=(job.args[0] if job in singles else job.args[0][0])).platform for job in jobs
        ]
        self.assertEqual(platforms, ["FACEBOOK", "TWITTER"] * 3)

    def test_publications_without_an_account_go_alone(self):
        # None connected: the rows may be any team's, and one team's never wait on another's.
        lone = [Publication(pk=n, platform="FACEBOOK", connection_id=None) for n in (1, 2, 3)]
        mine = [Publication(pk=n, platform="FACEBOOK", connection_id=self.facebook.pk) for n in (4, 5)]
        self.fill_the_queue(3)

        groups = dispatch._batches([*lone, *mine], size=4)

        self.assertEqual([[p.pk for p in group] for group in groups], [[1], [2], [3], [4, 5]])

    @override_settings(PUBLISH_BATCH_SIZE=1)
    def test_a_batch_size_of_one_never_groups(self):
        self.due(9)
        self.fill_the_queue(3)

        self.dispatch()

        self.assertTrue(all(job.func_name == dispatch.JOB for job in self.jobs()))


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", PUBLISH_BATCH_SIZE=4, PUBLISH_BATCH_BACKLOG=0)
class BatchJobTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.queue = django_rq.get_queue("default")
        self.enterContext(responses.mock)

    def batch(self, count: int) -> list[Publication]:
        """``count`` Facebook posts due now, dispatched as one job."""
        posts = [
            services.post_create(team=self.team, content=f"One of {count}: {n}", platforms=["FACEBOOK"])
            for n in range(count)
        ]
        Post.objects.filter(pk__in=[p.pk for p in posts]).update(
            status=Post.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1)
        )
        with self.captureOnCommitCallbacks(execute=True):
            services.posts_dispatch()
        publications = list(Publication.objects.order_by("pk"))
        self.assertEqual(len({p.job_id for p in publications}), 1)
        return publications

    def run_jobs(self) -> None:
        """The queue's jobs run by a worker in this process, as a job thread would."""
        worker = rq.SimpleWorker([self.queue], connection=self.queue.connection)
        with self.captureOnCommitCallbacks(execute=True):
            worker.work(burst=True)

    def test_each_is_claimed_at_its_turn_and_one_cancelled_meanwhile_never_goes_out(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        first, second, third = self.batch(3)
        # Stopped after the job was made: its claim refuses it.
        Post.objects.filter(pk=second.post_id).update(status=Post.Status.CANCELLED)

        with mock.patch("publishing.services.publish._queue_empty", return_value=False):  # a burst's queue
            self.run_jobs()

        statuses = dict(Publication.objects.values_list("pk", "status"))
        self.assertEqual(statuses[first.pk], Publication.Status.PUBLISHED)
        self.assertEqual(statuses[second.pk], Publication.Status.PENDING)
        self.assertEqual(statuses[third.pk], Publication.Status.PUBLISHED)
        self.assertEqual(len(responses.calls), 2)
        self.assertEqual(
            [m.outcome for m in JobMetric.objects.order_by("pk")], [JobMetric.Outcome.PUBLISHED] * 2, "one metric each"
        )

    def test_an_attempt_that_raises_leaves_the_others_going(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        first, second, third = self.batch(3)
        publish = services.publish.publication_publish

        def raising_for_the_first(*, publication_id):
            if publication_id == first.pk:
                raise RuntimeError("a bug in one row")
            return publish(publication_id=publication_id)

        with (
            mock.patch.object(services.publish, "publication_publish", side_effect=raising_for_the_first),
            self.assertLogs("planrrr.publishing", "ERROR") as logged,
        ):
            outcomes = services.publications_publish(publication_ids=[first.pk, second.pk, third.pk])

        self.assertEqual(outcomes, ["", JobMetric.Outcome.PUBLISHED, JobMetric.Outcome.PUBLISHED])
        self.assertIn(f"publication {first.pk}: its attempt raised", logged.output[0])

    def run_batch(self, publications: list[Publication], *, queue_empty: bool | None) -> list[str]:
        """The batch's job taken from the queue and run, the publish queue then empty or not (None:
        as the process's threads and CPU say)."""
        job = self.queue.dequeue_any([self.queue], timeout=None, connection=self.queue.connection)[0]
        self.assertEqual(job.args, ([p.pk for p in publications],))
        with (
            mock.patch("publishing.services.publish.get_current_job", return_value=job),
            mock.patch("publishing.services.publish._queue_empty", return_value=queue_empty)
            if queue_empty is not None
            else contextlib.nullcontext(),
            self.captureOnCommitCallbacks(execute=True),
        ):
            return services.publications_publish(publication_ids=[p.pk for p in publications])

    def assert_a_job_each(self, rest: list[Publication], batch_id: str) -> None:
        rest = list(Publication.objects.filter(pk__in=[p.pk for p in rest]).order_by("pk"))
        self.assertTrue(all(p.status == Publication.Status.PENDING and p.attempt_count == 0 for p in rest))
        self.assertEqual(len({p.job_id for p in rest}), len(rest), "a job each")
        self.assertNotIn(batch_id, {p.job_id for p in rest})
        for publication in rest:
            queued = rq.job.Job.fetch(publication.job_id, connection=self.queue.connection)
            self.assertEqual((queued.func_name, queued.args), (dispatch.JOB, (publication.pk,)))

    def test_after_a_failure_tried_again_later_the_rest_go_back_to_the_queue_a_job_each(self):
        responses.post(FEED, status=500, json={"error": {"message": "Service temporarily down", "code": 2}})
        publications = self.batch(4)

        outcomes = self.run_batch(publications, queue_empty=False)

        self.assertEqual(outcomes, [JobMetric.Outcome.RETRY])
        self.assertEqual(len(responses.calls), 1, "the others did not wait on Facebook one after another")
        self.assert_a_job_each(publications[1:], publications[0].job_id)

    def test_once_no_job_waits_the_rest_go_back_to_the_queue_a_job_each_for_the_idle_threads(self):
        publications = self.batch(4)
        batch_id = publications[0].job_id
        jobs_when_called: list[set[str]] = []

        def published(request):
            jobs_when_called.append(
                set(Publication.objects.exclude(pk=publications[0].pk).values_list("job_id", flat=True))
            )
            return 200, {}, json.dumps({"id": f"{FACEBOOK_PAGE}_1"})

        responses.add_callback(responses.POST, FEED, callback=published)

        outcomes = self.run_batch(publications, queue_empty=True)

        self.assertEqual(outcomes, [JobMetric.Outcome.PUBLISHED])
        self.assert_a_job_each(publications[1:], batch_id)
        # Idle threads as the job started: the others went to them before the first was sent.
        self.assertEqual(len(jobs_when_called), 1)
        self.assertNotIn(batch_id, jobs_when_called[0])

    def test_on_a_busy_cpu_it_keeps_its_publications_although_threads_are_idle(self):
        # A burst with no latency: threads wait for jobs because the CPU, not the platform, is
        # what they wait for; handing the rest back would add RQ's work for each and publish no
        # faster.
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publications = self.batch(3)
        with (
            mock.patch("planrrr.threaded.idle_threads", return_value=5),
            mock.patch("planrrr.threaded.cpu_has_room", return_value=False),
        ):
            outcomes = self.run_batch(publications, queue_empty=None)
        self.assertEqual(outcomes, [JobMetric.Outcome.PUBLISHED] * 3)
        self.assertEqual({p.job_id for p in Publication.objects.all()}, {publications[0].job_id}, "none handed back")

    def test_the_rest_are_handed_to_threads_that_fall_idle_while_a_call_lasts(self):
        # The burst's end: this job waits on a slow call while threads of its process are idle.
        # The process's main thread hands the rest back a job each; the job stops at this one.
        publications = self.batch(4)
        batch_id = publications[0].job_id

        def slow_call(request):
            with mock.patch("planrrr.threaded.idle_threads", return_value=5):
                self.assertEqual(threaded.hand_back_take(), 3)  # what ThreadedWorker.hand_back_to_idle does
            return 200, {}, json.dumps({"id": f"{FACEBOOK_PAGE}_1"})

        responses.add_callback(responses.POST, FEED, callback=slow_call)

        outcomes = self.run_batch(publications, queue_empty=False)

        self.assertEqual(outcomes, [JobMetric.Outcome.PUBLISHED])
        self.assertEqual(len(responses.calls), 1)
        self.assert_a_job_each(publications[1:], batch_id)

    def test_while_jobs_wait_it_attempts_them_all(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publications = self.batch(4)

        outcomes = self.run_batch(publications, queue_empty=False)

        self.assertEqual(outcomes, [JobMetric.Outcome.PUBLISHED] * 4)
        self.assertEqual(
            set(Publication.objects.values_list("status", "job_id")),
            {(Publication.Status.PUBLISHED, publications[0].job_id)},
        )

    def test_it_tells_rq_it_is_alive_between_publications_once_a_beat_has_passed(self):
        # A beat lasts an attempt's timeout and a minute: one before an attempt that starts
        # BATCH_BEAT_SECONDS or more after the last keeps RQ from finding the job abandoned.
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        ids = [p.pk for p in self.batch(4)]
        for beat, beats in ((10.0, 0), (0.0, 3)):
            Post.objects.update(status=Post.Status.PUBLISHING)
            Publication.objects.update(status=Publication.Status.PENDING, attempt_count=0)
            with (
                self.subTest(beat=beat),
                mock.patch("planrrr.threaded.job_heartbeat") as heartbeat,
                mock.patch("publishing.services.publish.BATCH_BEAT_SECONDS", beat),
                mock.patch("publishing.services.publish._queue_empty", return_value=False),
            ):
                outcomes = services.publications_publish(publication_ids=ids)
                self.assertEqual(outcomes, [JobMetric.Outcome.PUBLISHED] * 4)
                self.assertEqual(heartbeat.call_count, beats)
