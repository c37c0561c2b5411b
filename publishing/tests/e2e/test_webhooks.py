"""Seed scenario 6: publishing triggers signed webhooks, received by a real receiver."""

import json

from django.utils import timezone

from devtools.receiver import Receiver
from publishing import services
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase
from webhooks.services import endpoint_create


class PublishWebhookTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)

    def subscribe(self, events: list[str]) -> None:
        endpoint = endpoint_create(team=self.team, url=self.receiver.url, events=events)
        self.receiver.secrets.append(endpoint.secret)

    def test_it_triggers_webhooks_on_publish_events(self):
        self.subscribe(["post.published", "post.failed"])
        self.start_worker()
        post = services.post_create(
            team=self.team, content="Test webhook", platforms=["FACEBOOK"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post)
        [received] = self.receiver.wait_for(1)

        payload = json.loads(received.body)
        self.assertEqual(payload["event"], "post.published")
        self.assertEqual(payload["data"]["postId"], post.pk)
        self.assertEqual(payload["data"]["platform"], "FACEBOOK")
        self.assertEqual(payload["data"]["externalId"], self.publication(post, "FACEBOOK").external_id)
        self.assertTrue(payload["data"]["externalId"])
        self.assertEqual(received.verified_with, self.receiver.secrets, "standardwebhooks verifies the signature")
        self.assertEqual(received.headers["webhook-id"], payload["id"])
        # Exactly one: post.completed was not subscribed to, and nothing is sent twice.
        self.assertEqual(len(self.receiver.received), 1)

    def test_it_tells_every_outcome_and_the_completion_once(self):
        self.subscribe([])  # every event
        self.mock.fail("TWITTER", mode="error")
        self.start_worker()
        post = services.post_create(
            team=self.team, content="Half and half", platforms=["FACEBOOK", "TWITTER"], scheduled_at=timezone.now()
        )

        self.wait_until_final(post)
        received = self.receiver.wait_for(3)

        events = sorted(json.loads(r.body)["event"] for r in received)
        self.assertEqual(events, ["post.completed", "post.failed", "post.published"])
        failed = next(json.loads(r.body) for r in received if json.loads(r.body)["event"] == "post.failed")
        self.assertEqual(failed["data"]["platform"], "TWITTER")
        self.assertIn("API error", failed["data"]["error"])
        completed = next(json.loads(r.body) for r in received if json.loads(r.body)["event"] == "post.completed")
        self.assertEqual(completed["data"]["status"], Post.Status.PARTIAL)
        self.assertTrue(all(r.verified_with for r in received))
