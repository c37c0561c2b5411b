"""The request body limit: it fits the largest request the API takes, and a larger body is a 413
problem that names the limit (it was Django's bare HTML "Bad Request (400)" past 2.5 MB)."""

import json

from django.conf import settings
from django.test import override_settings

from api.serializers import BULK_MAX
from api.tests.base import ApiTestCase
from connections.platforms import adapter_classes


class BodyLimitTests(ApiTestCase):
    def test_it_fits_a_bulk_of_the_longest_posts_a_platform_takes(self):
        longest = max(adapter.max_text_length for adapter in adapter_classes())  # Facebook's 63,206
        post = {
            "content": "x" * longest,
            "platforms": ["FACEBOOK"],
            "scheduledAt": "2030-01-15T09:30:00+01:00",
            "firstComment": "x" * 500,
        }
        body = json.dumps({"posts": [post] * BULK_MAX}).encode()
        self.assertLess(len(body), settings.API_MAX_BODY_BYTES)

    def test_it_reads_a_bulk_larger_than_django_reads_for_a_form(self):
        # 500 posts of 5,300 characters: 2.66 MB, past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
        items = [{"content": "y" * 5_300, "platforms": []} for _ in range(BULK_MAX)]
        body = json.dumps({"posts": items})
        self.assertGreater(len(body), settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        response = self.api.post("/api/v1/posts/bulk", body, content_type="application/json")
        self.assertEqual(response.status_code, 200, response.content[:300])
        self.assertEqual(response.json()["failed"], BULK_MAX, "read, each refused for its own reason")
        self.assertIn("Choose at least one platform.", response.json()["results"][0]["errors"]["platforms"])

    @override_settings(API_MAX_BODY_BYTES=1_000)
    def test_it_refuses_a_larger_body_with_a_problem_naming_the_limit(self):
        for path in ("/api/v1/posts", "/api/v1/posts/bulk", "/api/v1/webhook-endpoints"):
            with self.subTest(path):
                response = self.api.post(path, {"content": "x" * 1_000}, format="json")
                self.assertEqual(response.status_code, 413)
                self.assertEqual(response["Content-Type"], "application/problem+json")
                self.assertIn("the API reads at most 1,000 bytes (API_MAX_BODY_BYTES)", response.json()["detail"])
        keyed = self.api.post(
            "/api/v1/posts/1/cancel", {"content": "x" * 1_000}, format="json", HTTP_IDEMPOTENCY_KEY="cancel"
        )
        self.assertEqual(keyed.status_code, 413, "the key's fingerprint reads the body under the same limit")
        self.assertEqual(self.api.post("/api/v1/posts", {"content": "x"}, format="json").status_code, 400)


class UnreadableRequestTests(ApiTestCase):
    # Found by the schema fuzz: a request with an empty Host header was Django's HTML
    # "Bad Request (400)" on every path, an answer the schema did not list.
    def test_an_empty_or_unknown_host_is_a_problem_saying_what_to_send(self):
        for host in ("", "exa mple.com", "[::1"):
            for method, path in (("get", "/api/v1/posts"), ("post", "/api/v1/posts/1/cancel")):
                with self.subTest(host=host, path=path):
                    response = getattr(self.api, method)(path, HTTP_HOST=host)
                    self.assertEqual(response.status_code, 400)
                    self.assertEqual(response["Content-Type"], "application/problem+json")
                    self.assertIn("Host header", response.json()["detail"])

    @override_settings(ALLOWED_HOSTS=["planrrr.example"])
    def test_a_host_the_server_does_not_answer_to_says_so_and_pages_outside_the_api_stay_djangos(self):
        response = self.api.get("/api/v1/posts", HTTP_HOST="elsewhere.example")
        self.assertEqual(response.status_code, 400)
        self.assertIn("(ALLOWED_HOSTS)", response.json()["detail"])
        self.assertNotIn("elsewhere.example", response.json()["detail"])
        page = self.client.get("/admin/login/", HTTP_HOST="elsewhere.example")
        self.assertEqual(page.status_code, 400)
        self.assertTrue(page["Content-Type"].startswith("text/html"))

    def test_the_schema_lists_it_for_every_operation(self):
        schema = self.api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                with self.subTest(f"{method.upper()} {path}"):
                    self.assertIn("400", operation["responses"])
