"""Webhook endpoints and deliveries over the API."""

from api.tests.base import ApiTestCase
from webhooks.models import Delivery, Endpoint


class WebhookApiTests(ApiTestCase):
    def create(self, **fields) -> dict:
        response = self.api.post(
            "/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook", **fields}, format="json"
        )
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()

    def test_it_shows_the_secret_in_the_create_answer_only(self):
        data = self.create(events=["post.published"])
        self.assertTrue(data["secret"].startswith("whsec_"))
        self.assertEqual(Endpoint.objects.get(pk=data["id"]).secret, data["secret"])
        again = self.api.get(f"/api/v1/webhook-endpoints/{data['id']}")
        self.assertNotIn("secret", again.json())
        self.assertNotIn(data["secret"], self.api.get("/api/v1/webhook-endpoints").content.decode())

    def test_it_refuses_a_bad_url_or_event_with_the_model_messages(self):
        response = self.api.post(
            "/api/v1/webhook-endpoints", {"url": "ftp://x", "events": ["post.exploded"]}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("https://", response.json()["errors"]["url"][0])
        self.assertIn("post.exploded", response.json()["errors"]["events"][0])

    def test_it_updates_disables_and_deletes(self):
        data = self.create()
        changed = self.api.patch(
            f"/api/v1/webhook-endpoints/{data['id']}", {"description": "CRM", "active": False}, format="json"
        )
        self.assertEqual((changed.json()["description"], changed.json()["active"]), ("CRM", False))
        self.assertEqual(self.api.delete(f"/api/v1/webhook-endpoints/{data['id']}").status_code, 204)
        self.assertFalse(Endpoint.objects.filter(pk=data["id"]).exists())

    def test_it_rotates_the_secret(self):
        data = self.create()
        rotated = self.api.post(f"/api/v1/webhook-endpoints/{data['id']}/rotate").json()
        self.assertNotEqual(rotated["secret"], data["secret"])
        self.assertEqual(Endpoint.objects.get(pk=data["id"]).secret, rotated["secret"])

    def test_it_sends_a_test_event_and_redelivers(self):
        data = self.create()
        with self.captureOnCommitCallbacks(execute=True):
            sent = self.api.post(f"/api/v1/webhook-endpoints/{data['id']}/test")
        self.assertEqual(sent.status_code, 202)
        self.assertEqual(sent.json()["eventType"], "webhook.test")
        listed = self.api.get("/api/v1/deliveries", {"endpoint": data["id"]}).json()["results"]
        self.assertEqual([d["id"] for d in listed], [sent.json()["id"]])
        with self.captureOnCommitCallbacks(execute=True):
            again = self.api.post(f"/api/v1/deliveries/{sent.json()['id']}/redeliver")
        self.assertEqual(again.status_code, 202)
        self.assertEqual(again.json()["redeliveryOf"], sent.json()["id"])
        self.assertEqual(Delivery.objects.filter(endpoint_id=data["id"]).count(), 2)
