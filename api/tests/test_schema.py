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

    def test_it_documents_the_problems_each_operation_answers(self):
        schema = self.client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        paths = schema["paths"]
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        self.assertEqual(schema["components"]["schemas"]["Problem"]["required"], ["status", "title", "type"])
        expected = {
            ("get", "/api/v1/posts"): {"400", "401", "429", "503"},
            ("post", "/api/v1/posts"): {"400", "401", "403", "413", "415", "422", "429", "503"},
            ("get", "/api/v1/posts/{id}"): {"400", "401", "404", "429", "503"},
            ("patch", "/api/v1/posts/{id}"): {"400", "401", "403", "404", "409", "413", "415", "429", "503"},
            ("post", "/api/v1/posts/{id}/approve"): {
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
                "422",
                "429",
                "503",
            },
            ("post", "/api/v1/webhook-endpoints"): {"400", "401", "403", "409", "413", "415", "422", "429", "503"},
            ("delete", "/api/v1/webhook-endpoints/{id}"): {"400", "401", "403", "404", "429", "503"},
            ("get", "/api/v1/me"): {"400", "401", "429", "503"},
        }
        for (method, path), codes in expected.items():
            with self.subTest(method=method, path=path):
                responses = paths[path][method]["responses"]
                self.assertEqual({code for code in responses if code >= "400"}, codes)
                for code in codes:
                    self.assertEqual(responses[code]["content"], problem)
        self.assertIn("Retry-After", paths["/api/v1/me"]["get"]["responses"]["429"]["headers"])
        # PostgreSQL or Redis unreachable (planrrr.health's OutageMiddleware): 503 with Retry-After.
        self.assertIn("Retry-After", paths["/api/v1/me"]["get"]["responses"]["503"]["headers"])
        self.assertIn("WWW-Authenticate", paths["/api/v1/me"]["get"]["responses"]["401"]["headers"])

    def test_it_says_what_the_server_takes_and_returns(self):
        schema = self.client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        components, paths = schema["components"]["schemas"], schema["paths"]
        self.assertTrue(components["Connection"]["properties"]["expiresAt"]["nullable"])
        self.assertTrue(components["Post"]["properties"]["scheduledAt"]["nullable"])
        strict = ["PostCreateRequest", "PostWriteRequest", "PatchedPostPatchRequest", "BulkRequest", "ApproveRequest"]
        strict += ["RejectRequest", "EndpointWriteRequest", "VariantRequest", "ThreadPartRequest"]
        for name in strict:
            with self.subTest(name):
                self.assertIs(components[name]["additionalProperties"], False)
        parameters = {p["name"]: p for p in paths["/api/v1/posts"]["post"]["parameters"]}
        self.assertEqual(
            parameters["Idempotency-Key"]["schema"],
            {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
        )
        parameters = {p["name"]: p for p in paths["/api/v1/posts"]["get"]["parameters"]}
        self.assertEqual(parameters["limit"]["schema"], {"type": "integer", "minimum": 1, "default": 50})
        self.assertIn("400 if altered", parameters["cursor"]["description"])
