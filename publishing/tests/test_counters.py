"""Prometheus counters never go back: not when a team is deleted (as the bench does after its
run), not when old rows are rolled up and pruned. A drop reads as a counter reset."""

from __future__ import annotations

from datetime import timedelta

from django.test import TestCase
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from devtools import stack
from devtools.testing import flush_redis
from publishing import sweep
from publishing.models import JobMetric, Post, Publication
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event
from webhooks.services import events_prune

Outcome = JobMetric.Outcome


def monotonic_samples(client) -> dict[tuple, float]:
    """Every sample of every counter and histogram family on /metrics: {(name, labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.type in ("counter", "histogram"):
            for sample in family.samples:
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


class CounterTests(TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)

    def bench_like_run(self, name: str):
        """What a bench leaves: a team whose posts went out or failed, job metrics, webhook
        deliveries that succeeded, failed or wait, with their attempts."""
        team = stack.team_create(name=name, platforms=["FACEBOOK", "TWITTER"])
        connection = team.connections.get(platform="FACEBOOK")
        endpoint = Endpoint.objects.create(team=team, url="https://hooks.example.com/planrrr")
        for i, outcome in enumerate([Outcome.PUBLISHED, Outcome.RETRY, Outcome.PUBLISHED, Outcome.FAILED]):
            post = Post.objects.create(team=team, content=f"{name} {i}", platforms=["FACEBOOK"])
            publication = Publication.objects.create(post=post, connection=connection, platform="FACEBOOK")
            JobMetric.objects.create(
                platform="FACEBOOK",
                outcome=outcome,
                publication_id=publication.pk,
                duration_ms=50.0 * (i + 1),
                lag_ms=100.0,
                peak_rss_bytes=1,
            )
            event = Event.objects.create(id=f"msg_{name}_{i}", team=team, type="post.published", payload=b"{}")
            status = [Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.PENDING][i % 3]
            delivery = Delivery.objects.create(event=event, endpoint=endpoint, status=status, attempt_count=2)
            DeliveryAttempt.objects.create(delivery=delivery, number=1, succeeded=False, status_code=500)
            DeliveryAttempt.objects.create(
                delivery=delivery, number=2, succeeded=status == Delivery.Status.SUCCEEDED, status_code=200
            )
        return team

    def assertNoCounterWentBack(self, before: dict, after: dict, step: str):
        for key, value in before.items():
            self.assertIn(key, after, f"{key} vanished {step}")
            self.assertGreaterEqual(after[key], value, f"{key} went back {step}")

    def test_counters_survive_a_deleted_team_and_retention(self):
        self.bench_like_run("earlier")
        before = monotonic_samples(self.client)
        self.assertGreater(before["planrrr_publications_published_total", (("platform", "FACEBOOK"),)], 0)
        self.assertGreater(before["planrrr_webhook_deliveries_succeeded_total", ()], 0)

        team = self.bench_like_run("bench")
        during = monotonic_samples(self.client)
        team.delete()
        after_delete = monotonic_samples(self.client)

        self.assertNoCounterWentBack(before, during, "during the run")
        self.assertNoCounterWentBack(during, after_delete, "when the bench deleted its team")
        self.assertEqual(after_delete, during)

        # Everything old enough: rolled up and pruned, hour by hour.
        later = timezone.now() + timedelta(days=400)
        JobMetric.objects.update(created_at=timezone.now() - timedelta(days=400))
        Event.objects.update(created_at=timezone.now() - timedelta(days=400))
        Delivery.objects.filter(status=Delivery.Status.PENDING).update(status=Delivery.Status.FAILED)
        after_fail = monotonic_samples(self.client)
        sweep.job_metrics_rollup(later, hours=24 * 800)
        events_prune(later)
        after_prune = monotonic_samples(self.client)

        self.assertFalse(JobMetric.objects.exists())
        self.assertFalse(Event.objects.exists())
        self.assertNoCounterWentBack(after_delete, after_fail, "when a delivery failed for good")
        self.assertNoCounterWentBack(after_fail, after_prune, "after rollups and pruning")
        self.assertEqual(after_prune, after_fail)
