from datetime import timedelta
from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from devtools.receiver import Answer
from webhooks.models import TEST_EVENT, Delivery, Endpoint
from webhooks.tests.base import BaseTestCase


class AdminTestCase(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.admin = get_user_model().objects.create_superuser("ann", "ann@example.com", None)
        self.client.force_login(self.admin)

    def messages(self, response) -> list[str]:
        return [str(m) for m in get_messages(response.wsgi_request)]


class EndpointAdminTests(AdminTestCase):
    def test_it_shows_the_secret_once_at_creation_and_masked_afterwards(self):
        response = self.client.post(
            reverse("admin:webhooks_endpoint_add"),
            {"team": self.team.id, "url": self.receiver.url, "description": "CRM", "events": ["post.published"]},
            follow=True,
        )
        endpoint = Endpoint.objects.get()
        self.assertEqual(endpoint.events, ["post.published"])
        self.assertContains(response, f"<code>{endpoint.secret}</code>", count=1)
        self.assertContains(response, "it will not be shown again")

        page = self.client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.id])).content.decode()
        self.assertNotIn(endpoint.secret, page)
        self.assertIn(endpoint.masked_secret, page)
        listing = self.client.get(reverse("admin:webhooks_endpoint_changelist")).content.decode()
        self.assertNotIn(endpoint.secret, listing)

    @override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    def test_it_refuses_a_private_url_with_a_message_saying_what_to_change(self):
        response = self.client.post(
            reverse("admin:webhooks_endpoint_add"), {"team": self.team.id, "url": "http://169.254.169.254/"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "169.254.169.254 is a link-local address")
        self.assertContains(response, "Use a URL whose host is reachable from the public internet")
        self.assertFalse(Endpoint.objects.exists())

    def test_it_sends_a_test_event(self):
        endpoint = self.endpoint(events=["post.failed"])
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                reverse("admin:webhooks_endpoint_changelist"),
                {"action": "send_test_event", "_selected_action": [endpoint.id]},
            )
        self.assertEqual(response.status_code, 302)
        delivery = Delivery.objects.get()
        self.assertEqual((delivery.event.type, delivery.endpoint), (TEST_EVENT, endpoint))
        self.assertEqual(self.queued_job_ids(), [delivery.job_id])
        self.attempt(delivery)
        self.assertEqual(self.receiver.received[0].json["event"], TEST_EVENT)
        self.assertEqual(self.receiver.received[0].verified_with, [endpoint.secret])

    def test_it_rotates_the_secret_showing_the_new_one_once(self):
        endpoint = self.endpoint()
        response = self.client.post(
            reverse("admin:webhooks_endpoint_changelist"),
            {"action": "rotate_secret", "_selected_action": [endpoint.id]},
        )
        endpoint.refresh_from_db()
        [message] = self.messages(response)
        self.assertIn(f"<code>{endpoint.secret}</code>", message)
        self.assertIn("signed with both the old and the new secret", message)
        self.assertEqual(endpoint.signing_secrets(), [endpoint.secret, self.receiver.secrets[0]])

    def test_it_enables_a_disabled_endpoint(self):
        endpoint = self.endpoint()
        Endpoint.objects.update(active=False, disabled_reason="410 Gone", failing_since=timezone.now())
        self.client.post(
            reverse("admin:webhooks_endpoint_changelist"), {"action": "enable", "_selected_action": [endpoint.id]}
        )
        endpoint.refresh_from_db()
        self.assertEqual((endpoint.active, endpoint.disabled_reason, endpoint.failing_since), (True, "", None))


class DeliveryAdminTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        self.receiver.answer(Answer(500, body=b"upstream down"))
        self.endpoint()
        self.delivery = self.attempt(self.record().deliveries.get())

    def test_it_lists_deliveries_with_filters(self):
        url = reverse("admin:webhooks_delivery_changelist")
        for query in [
            "",
            "?status__exact=PENDING",
            "?event__type=post.published",
            f"?endpoint__id__exact={self.delivery.endpoint_id}",
            f"?endpoint__team__id__exact={self.team.id}",
        ]:
            with self.subTest(query=query):
                response = self.client.get(url + query)
                self.assertContains(response, f"/admin/webhooks/delivery/{self.delivery.id}/change/")
        response = self.client.get(url + "?status__exact=SUCCEEDED")
        self.assertNotContains(response, f"/admin/webhooks/delivery/{self.delivery.id}/change/")

    def test_it_shows_the_attempts_of_a_delivery(self):
        response = self.client.get(reverse("admin:webhooks_delivery_change", args=[self.delivery.id]))
        self.assertContains(response, "upstream down")
        self.assertContains(response, "The receiver answered 500 Internal Server Error.")
        self.assertContains(response, self.delivery.event_id)

    def test_it_redelivers_selected_deliveries(self):
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(
                reverse("admin:webhooks_delivery_changelist"),
                {"action": "redeliver", "_selected_action": [self.delivery.id]},
            )
        again = Delivery.objects.get(redelivery_of=self.delivery)
        self.assertEqual(self.queued_job_ids()[-1], again.job_id)

    def test_it_redelivers_every_failed_delivery_since_a_time(self):
        Delivery.objects.update(status=Delivery.Status.FAILED)
        url = reverse("admin:webhooks_delivery_redeliver_failed")
        self.assertContains(self.client.get(url), "Redeliver failed deliveries")
        since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        response = self.client.post(url, {"since": since})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(Delivery.objects.filter(redelivery_of=self.delivery).count(), 1)
        self.assertIn("1 failed delivery(ies) since", self.messages(response)[0])


class RedeliverCommandTests(BaseTestCase):
    def test_it_redelivers_failed_deliveries_since_a_time(self):
        self.endpoint()
        failed = self.record().deliveries.get()
        Delivery.objects.update(status=Delivery.Status.FAILED)
        out = StringIO()
        since = (timezone.now() - timedelta(minutes=5)).isoformat()
        call_command("webhooks_redeliver", "--since", since, f"--team={self.team.id}", stdout=out)
        self.assertIn("Redelivered 1 failed delivery(ies)", out.getvalue())
        self.assertTrue(Delivery.objects.filter(redelivery_of=failed, status=Delivery.Status.PENDING).exists())

    def test_it_refuses_a_time_it_cannot_read(self):
        with self.assertRaisesMessage(CommandError, "write it like 2026-11-24T10:30"):
            call_command("webhooks_redeliver", "--since", "yesterday")
