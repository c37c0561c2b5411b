"""The publication state machine (publishing/services/attempts.py): the claim refuses whatever
should not go out, every attempt ends through settle, and every publication ends."""

import json
from datetime import timedelta
from unittest import mock

import responses
from django.db import OperationalError
from django.db import connection as db
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from connections.models import Connection
from devtools.testing import flush_redis
from planrrr import outages
from planrrr.tests.test_sql import db_default_field
from publishing import rules, services, sweep
from publishing.models import JobMetric, Post, Publication
from publishing.services import attempts, finalize, signals
from publishing.services import outcome as ending
from publishing.tests.base import FACEBOOK_PAGE, Actors
from webhooks.models import Delivery, Event
from webhooks.services import endpoint_create

GRAPH = "https://graph.facebook.test/v21.0"
FEED = f"{GRAPH}/{FACEBOOK_PAGE}/feed"


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", PUBLISH_MAX_ATTEMPTS=3)
class AttemptTests(Actors, TestCase):
    def setUp(self):
        flush_redis()
        self.make_actors()
        self.enterContext(responses.mock)  # the default mock: responses.post() and responses.calls

    def publication(self, *, post_status=Post.Status.PUBLISHING, seconds=-1, **fields) -> Publication:
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK"])
        Post.objects.filter(pk=post.pk).update(
            status=post_status, scheduled_at=timezone.now() + timedelta(seconds=seconds)
        )
        publication = post.publications.get()
        if fields:
            Publication.objects.filter(pk=publication.pk).update(**fields)
        return publication

    def publish(self, publication: Publication) -> str:
        with self.captureOnCommitCallbacks(execute=True):
            outcome = services.publication_publish(publication_id=publication.pk)
        publication.refresh_from_db()
        return outcome

    def test_it_never_claims_a_publication_whose_post_is_not_publishing(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        for status in (Post.Status.DRAFT, Post.Status.SCHEDULED, Post.Status.CANCELLED):
            with self.subTest(status=status):
                publication = self.publication(post_status=status)
                self.assertEqual(self.publish(publication), JobMetric.Outcome.SKIPPED)
                self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.PENDING, 0))
        self.assertEqual(len(responses.calls), 0)

    @override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
    def test_a_column_with_only_a_database_default_is_left_to_the_database(self):
        # The settle's and the finalize's statements insert JobMetric, Event and Delivery rows: a
        # field with only a db_default on them is filled by PostgreSQL, not sent as a parameter
        # (which failed every settle, each then taken for a retry by the minimal outcome).
        endpoint_create(team=self.team, url="http://127.0.0.1:9/planrrr")
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publication = self.publication()
        with db_default_field(JobMetric), db_default_field(Event), db_default_field(Delivery):
            self.assertEqual(self.publish(publication), JobMetric.Outcome.PUBLISHED)
            self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.PUBLISHED, 1))
            self.assertEqual(list(JobMetric.objects.values_list("added", flat=True)), [7])
            events = dict(Event.objects.values_list("type", "added"))
            self.assertEqual(events, {"post.published": 7, "post.completed": 7})
            self.assertEqual(list(Delivery.objects.values_list("added", flat=True)), [7, 7])

    def test_it_never_claims_before_the_post_is_due(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publication = self.publication(seconds=60)
        self.assertEqual(self.publish(publication), JobMetric.Outcome.SKIPPED)
        self.assertEqual(len(responses.calls), 0)

    def test_it_waits_for_a_live_stage_lease_and_takes_over_an_expired_one(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publication = self.publication(stage_expires_at=timezone.now() + timedelta(minutes=1))
        self.assertEqual(self.publish(publication), JobMetric.Outcome.SKIPPED)
        self.assertEqual(len(responses.calls), 0)

        Publication.objects.filter(pk=publication.pk).update(stage_expires_at=timezone.now() - timedelta(seconds=1))
        self.assertEqual(self.publish(publication), JobMetric.Outcome.PUBLISHED)
        self.assertEqual(publication.external_id, f"{FACEBOOK_PAGE}_1")

    def test_it_stores_a_platform_error_with_a_nul_byte_and_ends_at_the_limit(self):
        responses.post(FEED, status=500, json={"error": {"message": "bad\x00byte", "code": 1, "type": "X"}})
        responses.get(FEED, json={"data": []})  # reconciliation: not among the page's posts
        publication = self.publication()
        for attempt in (1, 2, 3):
            Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
            self.publish(publication)
            self.assertEqual(publication.attempt_count, attempt)
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("bad\N{REPLACEMENT CHARACTER}byte", publication.error)
        self.assertIn("gave up after 3 attempts", publication.error)
        self.assertEqual(len([c for c in responses.calls if c.request.method == "POST"]), 3)
        self.assertEqual(Post.objects.get(pk=publication.post_id).status, Post.Status.FAILED)

    def test_each_attempts_end_is_kept_with_its_error_in_words(self):
        # The first attempt's error stays readable after a second attempt went out (a person sees
        # "attempt 2" and why there was one).
        responses.post(FEED, status=500, json={"error": {"message": "Service temporarily down", "code": 2}})
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_7"})
        responses.get(FEED, json={"data": []})  # reconciliation: not among the page's posts
        publication = self.publication()
        self.publish(publication)
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
        self.publish(publication)
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        history = publication.metadata["history"]
        self.assertEqual([(h["attempt"], h["outcome"]) for h in history], [(1, "RETRY"), (2, "PUBLISHED")])
        self.assertIn("Service temporarily down", history[0]["error"])
        self.assertEqual(history[1]["error"], "")
        self.assertLessEqual(history[0]["at"], history[1]["at"])

    def test_the_history_keeps_the_last_ten(self):
        responses.post(FEED, status=500, json={"error": {"message": "down", "code": 2}})
        responses.get(FEED, json={"data": []})
        at = "2026-01-01T00:00:00+00:00"
        earlier = [{"attempt": n, "at": at, "outcome": "RETRY", "error": "x"} for n in range(10)]
        publication = self.publication(metadata={"history": [*earlier, "not an entry"]})
        self.publish(publication)
        history = publication.metadata["history"]
        self.assertEqual(len(history), 10)
        self.assertEqual(history[0]["attempt"], 1)
        self.assertIn("down", history[-1]["error"])

    def test_a_rate_limit_holds_the_account_and_its_next_publication_waits_without_a_call(self):
        usage = {FACEBOOK_PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5}]}
        responses.post(
            FEED,
            status=400,
            json={"error": {"message": "Too many calls", "code": 80001, "type": "OAuthException"}},
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
        publication = self.publication()
        self.assertEqual(self.publish(publication), JobMetric.Outcome.RATE_LIMITED)
        self.facebook.refresh_from_db()
        self.assertIsNotNone(self.facebook.rate_limited_until)
        self.assertEqual(self.facebook.rate_limited_until, publication.next_attempt_at)

        other = self.publication()
        self.assertEqual(self.publish(other), JobMetric.Outcome.SKIPPED)
        self.assertEqual(len(responses.calls), 1, "the account's next publication waits without calling")
        self.assertEqual(
            (other.status, other.next_attempt_at), (Publication.Status.PENDING, publication.next_attempt_at)
        )

    def test_a_success_near_the_usage_limit_slows_the_account_down(self):
        usage = {FACEBOOK_PAGE: [{"type": "pages", "call_count": 95, "total_cputime": 10, "total_time": 10}]}
        responses.post(
            FEED, json={"id": f"{FACEBOOK_PAGE}_1"}, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
        )
        publication = self.publication()
        self.assertEqual(self.publish(publication), JobMetric.Outcome.PUBLISHED)
        self.facebook.refresh_from_db()
        self.assertIsNotNone(self.facebook.rate_limited_until)
        self.assertGreater(self.facebook.rate_limited_until, timezone.now())

    def test_an_absurd_rate_limit_wait_is_clamped_to_a_day(self):
        usage = {FACEBOOK_PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 10**15}]}
        responses.post(
            FEED,
            status=400,
            json={"error": {"message": "Too many calls", "code": 80001, "type": "OAuthException"}},
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
        publication = self.publication()
        self.publish(publication)
        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertLessEqual(publication.next_attempt_at, timezone.now() + timedelta(hours=24, seconds=5))
        self.assertEqual(publication.attempt_count, 0, "a wait the platform asked for costs no attempt")

    def test_an_outcome_that_cannot_be_written_still_ends_and_counts(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publication = self.publication()
        with mock.patch.object(ending, "_settle", side_effect=RuntimeError("disk on fire")):
            self.assertEqual(self.publish(publication), JobMetric.Outcome.SKIPPED)
        self.assertEqual(publication.status, Publication.Status.PENDING)
        self.assertTrue(publication.outcome_unknown, "the platform may have it: the next attempt asks first")
        self.assertIn("could not be recorded", publication.error)
        self.assertEqual((publication.attempt_count, publication.lease_token), (1, None))

        Publication.objects.filter(pk=publication.pk).update(attempt_count=3)
        publication.refresh_from_db()
        attempt = attempts.Attempt(publication=publication, token=None, started=0.0)
        Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.PUBLISHING)
        publication.status = Publication.Status.PUBLISHING
        with mock.patch.object(ending, "_settle", side_effect=RuntimeError("disk on fire")):
            ending.settle(attempt, attempts.Result(attempts.LATER, "x"))
        publication.refresh_from_db()
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("gave up after 3 attempts", publication.error)
        self.assertTrue(publication.outcome_unknown, "it may have gone out: a retry looks it up first")

    def test_a_recovered_attempt_counts_and_the_last_one_fails_with_a_reason(self):
        long_ago = timezone.now() - timedelta(minutes=5)
        publication = self.publication(
            status=Publication.Status.PUBLISHING, attempt_count=2, lease_expires_at=long_ago, lease_token=None
        )
        with self.captureOnCommitCallbacks(execute=True):
            sweep.expired_leases_recover(timezone.now())
        publication.refresh_from_db()
        self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.PENDING, 2))
        self.assertTrue(publication.outcome_unknown)

        Publication.objects.filter(pk=publication.pk).update(
            status=Publication.Status.PUBLISHING, attempt_count=3, lease_expires_at=long_ago
        )
        with self.captureOnCommitCallbacks(execute=True):
            sweep.expired_leases_recover(timezone.now())
        publication.refresh_from_db()
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.assertIn("was interrupted", publication.error)
        self.assertIn("gave up after 3 attempts", publication.error)
        self.assertEqual(Post.objects.get(pk=publication.post_id).status, Post.Status.FAILED)
        history = publication.metadata["history"]
        self.assertEqual([(h["attempt"], h["outcome"]) for h in history], [(2, "INTERRUPTED"), (3, "FAILED")])
        self.assertIn("was interrupted", history[0]["error"])

    def test_a_refusal_costs_no_attempt(self):
        publication = self.publication()
        Connection.objects.filter(pk=self.facebook.pk).update(status=Connection.Status.REVOKED)
        self.publish(publication)
        self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.FAILED, 0))
        self.assertIn("reconnect", publication.error)
        self.assertEqual(len(responses.calls), 0)

    def test_a_publication_whose_account_expired_before_its_attempt_is_requeued_by_a_reconnect(self):
        # The account's token died just before (another publication's attempt learnt it): this
        # one fails as those waiting then did, to be re-queued once the account is reconnected.
        publication = self.publication()
        Connection.objects.filter(pk=self.facebook.pk).update(
            status=Connection.Status.EXPIRED, status_detail="The session has been invalidated"
        )
        self.publish(publication)
        self.assertEqual((publication.status, publication.attempt_count), (Publication.Status.FAILED, 0))
        self.assertIn("The session has been invalidated — the Facebook access token", publication.error)
        self.assertEqual(publication.metadata.get("failedBecause"), "token")
        self.assertEqual(len(responses.calls), 0)

        Connection.objects.filter(pk=self.facebook.pk).update(status=Connection.Status.ACTIVE)
        self.facebook.refresh_from_db()
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(services.publications_requeue_after_reconnect(connection=self.facebook), 1)

    def test_a_dead_token_expires_the_connection_with_the_platform_s_whole_reason(self):
        # The reason is carried as data, not read back out of the publication's error by
        # splitting on its " — ": a platform's message with a dash of its own is kept whole.
        said = "Error validating access token: the session was invalidated — the user changed their password"
        responses.post(FEED, status=400, json={"error": {"message": said, "type": "OAuthException", "code": 190}})
        publication = self.publication()
        self.publish(publication)
        self.assertEqual(publication.status, Publication.Status.FAILED)
        self.facebook.refresh_from_db()
        self.assertEqual(self.facebook.status, Connection.Status.EXPIRED)
        self.assertIn(said, self.facebook.status_detail)
        self.assertEqual(publication.error, rules.reconnect("FACEBOOK", self.facebook.status_detail))

    def test_a_lag_is_measured_from_when_the_post_became_due(self):
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        publication = self.publication()
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE publishing_post SET scheduled_at = '0001-01-01T00:00:00Z' WHERE id = %s", [publication.post_id]
            )
        self.publish(publication)
        metric = JobMetric.objects.get(publication_id=publication.pk, outcome=JobMetric.Outcome.PUBLISHED)
        self.assertGreaterEqual(metric.lag_ms, 0)
        self.assertLess(metric.lag_ms, 60_000, "from the row's creation, not from year 1")


X = "https://api.x.test"


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", TWITTER_API_URL=X, WEBHOOK_ALLOW_PRIVATE_URLS=True)
class RoundTripTests(Actors, TransactionTestCase):
    """What an attempt costs PostgreSQL as a worker runs it (outside any transaction): the
    claim; the settle (the row, its metric, its webhook event, and the post as finalize reads
    it, in one statement); then either a finalize read (another publication was still open
    when the settle ran: it may have ended since) or the finalize itself (the post's status
    and post.completed, one statement)."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_actors()
        self.enterContext(responses.mock)
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        responses.post(f"{X}/2/tweets", status=201, json={"data": {"id": "1346889436626259968", "text": "Hello"}})
        self.endpoint = endpoint_create(team=self.team, url="http://127.0.0.1:9/planrrr")

    def test_an_attempt_is_three_statements(self):
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, scheduled_at=timezone.now())
        first, last = post.publications.order_by("pk")

        with self.assertNumQueries(3):
            self.assertEqual(services.publication_publish(publication_id=first.pk), JobMetric.Outcome.PUBLISHED)
        with self.assertNumQueries(3):
            self.assertEqual(services.publication_publish(publication_id=last.pk), JobMetric.Outcome.PUBLISHED)

        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(JobMetric.objects.filter(outcome=JobMetric.Outcome.PUBLISHED).count(), 2)
        events = list(Event.objects.order_by("created_at").values_list("type", flat=True))
        self.assertEqual(events, ["post.published", "post.published", "post.completed"])
        self.assertEqual(Delivery.objects.filter(endpoint=self.endpoint).count(), 3)
        completed = json.loads(Event.objects.get(type="post.completed").body)["data"]
        self.assertEqual((completed["postId"], completed["status"]), (post.pk, Post.Status.PUBLISHED))
        self.assertEqual(sorted(p["platform"] for p in completed["publications"]), ["FACEBOOK", "TWITTER"])

    def test_a_post_is_finalized_and_told_once_when_two_finalizers_race(self):
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        post.publications.update(status=Publication.Status.PUBLISHED, published_at=timezone.now())
        publications = list(post.publications.values(*finalize.publication_read()))
        post.status = Post.Status.PUBLISHED
        # Both read every publication final, then both write: the row decides.
        self.assertTrue(finalize._finalize(post, publications))
        self.assertFalse(finalize._finalize(post, publications))
        self.assertIsNone(services.post_finalize(post_id=post.pk))
        self.assertEqual(Event.objects.filter(type="post.completed").count(), 1)

    def test_a_post_with_a_publication_open_is_not_finalized_whatever_was_read(self):
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        publications = list(post.publications.values(*finalize.publication_read()))
        post.status = Post.Status.PUBLISHED
        self.assertFalse(finalize._finalize(post, publications))  # read stale: both are PENDING
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHING)
        self.assertFalse(Event.objects.exists())


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test", TWITTER_API_URL=X, WEBHOOK_ALLOW_PRIVATE_URLS=True)
class CompletedPayloadTests(Actors, TestCase):
    """post.completed says of each publication what its row holds, whichever path ends the post:
    the settle of its last publication (the post read by the settle's statement), a finalize that
    reads it again, or post_fail. Each reads the payload's fields by name, so a field the payload
    gains has its value in every path (not its default in one)."""

    # The payload with fields a path reading a fixed projection would have left at their default.
    WIDER = {"publicationId": "id", "attemptCount": "attempt_count"}

    def setUp(self):
        flush_redis()
        self.make_actors()
        self.enterContext(responses.mock)
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        responses.post(f"{X}/2/tweets", status=201, json={"data": {"id": "1346889436626259968", "text": "Hello"}})
        endpoint_create(team=self.team, url="http://127.0.0.1:9/planrrr")
        self.enterContext(mock.patch.dict(signals.COMPLETED_PUBLICATION, self.WIDER))

    def publishing_post(self) -> Post:
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK", "TWITTER"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, scheduled_at=timezone.now())
        return post

    def told(self, post: Post) -> list[dict]:
        data = json.loads(Event.objects.get(type="post.completed").body)["data"]
        self.assertEqual(data["postId"], post.pk)
        return data["publications"]

    def rows(self, post: Post) -> list[dict]:
        fields = signals.COMPLETED_PUBLICATION
        rows = Publication.objects.filter(post=post).order_by("pk").values(*fields.values())
        return [{key: row[field] for key, field in fields.items()} for row in rows]

    def test_the_settle_of_the_last_publication_tells_each_row_as_it_is(self):
        post = self.publishing_post()
        with self.captureOnCommitCallbacks(execute=True):
            for publication in post.publications.order_by("pk"):
                services.publication_publish(publication_id=publication.pk)
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHED)
        self.assertEqual(self.told(post), self.rows(post))
        self.assertEqual({p["attemptCount"] for p in self.told(post)}, {1})

    def test_a_finalize_that_reads_the_post_again_tells_each_row_as_it_is(self):
        post = self.publishing_post()
        post.publications.update(status=Publication.Status.FAILED, error="No.", attempt_count=3)
        services.post_finalize(post_id=post.pk)
        self.assertEqual(self.told(post), self.rows(post))
        self.assertEqual({p["attemptCount"] for p in self.told(post)}, {3})

    def test_a_post_that_fails_alone_tells_each_row_as_it_is(self):
        post = self.publishing_post()
        post.publications.update(status=Publication.Status.FAILED, error="No.", attempt_count=2)
        services.post_fail(post=post, reason="A bad row.")
        self.assertEqual(self.told(post), self.rows(post))
        self.assertEqual({p["attemptCount"] for p in self.told(post)}, {2})


@override_settings(FACEBOOK_API_URL="https://graph.facebook.test")
class SettleOutageTests(Actors, TransactionTestCase):
    """PostgreSQL unreachable when an attempt's outcome is to be written (issue 19, finding 9);
    outside any transaction, as a worker runs it."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        outages._forget()
        self.addCleanup(outages._forget)
        self.make_actors()
        self.enterContext(responses.mock)
        responses.post(FEED, json={"id": f"{FACEBOOK_PAGE}_1"})
        self.sleeps = []
        self.enterContext(mock.patch("planrrr.outages.time.sleep", self.sleeps.append))
        post = services.post_create(team=self.team, content="Hello", platforms=["FACEBOOK"])
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING, scheduled_at=timezone.now())
        self.publication = post.publications.get()

    def write_failing(self, times: int):
        """ending._write, failing ``times`` times as a restarting PostgreSQL fails it."""
        write, calls = ending._write, []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) <= times:
                raise OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed')
            return write(*args, **kwargs)

        return mock.patch.object(ending, "_write", failing), calls

    def test_the_outcome_is_written_as_soon_as_postgresql_answers_again(self):
        patch, calls = self.write_failing(4)

        with patch, self.assertLogs("planrrr", "INFO") as logged:
            outcome = services.publication_publish(publication_id=self.publication.pk)

        self.assertEqual(outcome, JobMetric.Outcome.PUBLISHED)
        self.publication.refresh_from_db()
        self.assertEqual(
            (self.publication.status, self.publication.attempt_count, self.publication.external_id),
            (Publication.Status.PUBLISHED, 1, f"{FACEBOOK_PAGE}_1"),
        )
        self.assertEqual((len(calls), self.sleeps), (5, [0.25, 0.5, 1.0, 2.0]))
        self.assertEqual(len(responses.calls), 1)
        outage = [(r.outage, r.state) for r in logged.records if hasattr(r, "outage")]
        self.assertEqual(outage, [("PostgreSQL", "started"), ("PostgreSQL", "ended")])
        self.assertFalse([r for r in logged.records if r.exc_info], "no traceback")

    def test_an_outage_longer_than_the_lease_leaves_it_to_the_sweep_in_one_line(self):
        patch, calls = self.write_failing(1000)

        with (
            patch,
            override_settings(PUBLISH_JOB_TIMEOUT=8),
            self.assertLogs("planrrr", "INFO") as logged,
        ):
            outcome = services.publication_publish(publication_id=self.publication.pk)

        self.assertEqual(outcome, JobMetric.Outcome.SKIPPED)
        self.publication.refresh_from_db()
        self.assertEqual(self.publication.status, Publication.Status.PUBLISHING, "the lease is the sweep's")
        # The job's 8 s less 5 s of margin: no pause that would end past it (the pauses are
        # recorded, not slept: each is measured from the same moment).
        self.assertEqual(self.sleeps, [0.25, 0.5, 1.0, 2.0])
        self.assertFalse([r for r in logged.records if r.exc_info], "no traceback")
        (line,) = [r for r in logged.records if "before its lease ran out" in r.getMessage()]
        self.assertEqual(line.levelname, "WARNING")

    def test_the_posts_status_after_a_written_outcome_waits_for_postgresql_too(self):
        # The outcome written, PostgreSQL goes away before the post's status is: that one
        # statement waits too, rather than the attempt being taken for one that wrote nothing.
        finalize, calls = ending.post_finalize_settled, []

        def failing(**kwargs):
            calls.append(1)
            if len(calls) <= 2:
                raise OperationalError("server closed the connection unexpectedly")
            return finalize(**kwargs)

        with (
            mock.patch.object(ending, "post_finalize_settled", failing),
            self.assertLogs("planrrr", "INFO") as logged,
        ):
            outcome = services.publication_publish(publication_id=self.publication.pk)

        self.assertEqual(outcome, JobMetric.Outcome.PUBLISHED)
        self.publication.post.refresh_from_db()
        self.assertEqual(self.publication.post.status, Post.Status.PUBLISHED)
        self.assertEqual(self.sleeps, [0.25, 0.5])
        self.assertFalse([r for r in logged.records if r.levelname == "WARNING" and "left to" in r.getMessage()])
