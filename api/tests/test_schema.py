"""The OpenAPI schema validates, and the schema and docs are served."""

from io import StringIO

from django.core.management import call_command
from django.test import TestCase


class SchemaTests(TestCase):
    def test_it_generates_a_valid_schema_without_warnings(self):
        out = StringIO()
        call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
        self.assertIn('"/api/v1/posts/{id}/publish-now"', out.getvalue())

    def test_it_serves_the_schema_and_the_docs(self):
        schema = self.client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        self.assertEqual(schema.status_code, 200)
        self.assertIn("/api/v1/webhook-endpoints/{id}/rotate", schema.json()["paths"])
        self.assertIn("teamApiKey", schema.json()["components"]["securitySchemes"])
        self.assertContains(self.client.get("/api/v1/docs"), "swagger")
