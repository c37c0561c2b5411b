"""Named actors for the API tests: Acme with a write key and a read key, and Outsiders with a
row of every resource (which Acme's keys must never see)."""

from __future__ import annotations

from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from api import services as api_services
from devtools.testing import flush_redis
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import Actors
from webhooks import services as webhooks
from webhooks.models import Delivery


class ApiActors(Actors):
    def make_api_actors(self) -> None:
        self.make_actors()
        self.key, self.write_key = api_services.api_key_create(team=self.team, name="CMS", role="write")
        self.read, self.read_key = api_services.api_key_create(team=self.team, name="Dashboard", role="read")
        self.their_key_row, self.their_key = api_services.api_key_create(
            team=self.outsiders, name="Theirs", role="write"
        )

    def outsiders_rows(self) -> dict[str, int]:
        """One row of every resource in the other team; returns their ids by resource."""
        connection = self.connect("FACEBOOK", "555", "their_token", team=self.outsiders)
        post = services.post_create(team=self.outsiders, content="Theirs", platforms=["FACEBOOK"])
        endpoint = webhooks.endpoint_create(team=self.outsiders, url="http://127.0.0.1:9/theirs")
        delivery = webhooks.endpoint_send_test_event(endpoint=endpoint)
        return {
            "posts": post.pk,
            "publications": Publication.objects.get(post=post).pk,
            "connections": connection.pk,
            "channels": connection.pk,
            "webhook-endpoints": endpoint.pk,
            "deliveries": Delivery.objects.get(pk=delivery.pk).pk,
        }


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class ApiTestCase(ApiActors, TestCase):
    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_api_actors()
        self.api = self.client_for(self.write_key)

    def client_for(self, key: str | None) -> APIClient:
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    def create_post(self, **fields) -> dict:
        body = {"content": "Hello from the API", "platforms": ["FACEBOOK"], **fields}
        with self.captureOnCommitCallbacks(execute=True):
            response = self.api.post("/api/v1/posts", body, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()

    def post_row(self, data: dict) -> Post:
        return Post.objects.get(pk=data["id"])
