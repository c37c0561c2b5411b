from __future__ import annotations

import django_rq
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from devtools.receiver import Receiver
from devtools.testing import flush_redis
from planrrr.models import Team
from webhooks import jobs, services
from webhooks.models import Delivery, Endpoint

PUBLISHED = {
    "postId": 41,
    "platform": "FACEBOOK",
    "externalId": "123_456",
    "publicationId": 7,
    "url": "https://fb.com/1",
}


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True, WEBHOOK_TIMEOUT=(2, 2))
class BaseTestCase(TestCase):
    """A team (Acme) with a receiver on a real port, and another team (outsider)."""

    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.addCleanup(flush_redis)
        self.team = Team.objects.create(name="Acme")
        self.outsider = Team.objects.create(name="Outsider")
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)

    def endpoint(self, url: str | None = None, **fields) -> Endpoint:
        endpoint = services.endpoint_create(team=self.team, url=url or self.receiver.url, **fields)
        self.receiver.secrets.append(endpoint.secret)
        return endpoint

    def record(self, event: str = "post.published", data: dict | None = None, team: Team | None = None):
        with self.captureOnCommitCallbacks(execute=True), transaction.atomic():
            return services.event_record(team_id=(team or self.team).id, event=event, data=data or PUBLISHED)

    def attempt(self, delivery: Delivery) -> Delivery:
        """Run the delivery job as a worker would, and return the delivery as it is now."""
        jobs.delivery_attempt(delivery.id)
        delivery.refresh_from_db()
        return delivery

    def make_due(self, delivery: Delivery) -> None:
        """Time passes until the next attempt is due (no waiting in tests)."""
        Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())

    def queued_job_ids(self) -> list[str]:
        return django_rq.get_queue("webhooks").job_ids

    def scheduled_at(self, job_id: str):
        return ScheduledJobRegistry(queue=django_rq.get_queue("webhooks")).get_scheduled_time(job_id)
