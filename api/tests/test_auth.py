"""Who may call: keys, roles, revocation, throttling."""

from django.test import override_settings
from django.utils import timezone

from api import services as api_services
from api.models import ApiKey
from api.tests.base import ApiTestCase


class AuthTests(ApiTestCase):
    def assertUnauthorized(self, response) -> None:
        self.assertEqual(response.status_code, 401, response.content)
        self.assertTrue(response["WWW-Authenticate"].startswith("Bearer"))
        self.assertEqual(response["Content-Type"], "application/problem+json")
        self.assertEqual(response.json()["status"], 401)

    def test_it_refuses_a_request_without_a_key(self):
        self.assertUnauthorized(self.client_for(None).get("/api/v1/posts"))

    def test_it_refuses_an_unknown_key(self):
        self.assertUnauthorized(self.client_for("planrrr_00000000_nope").get("/api/v1/me"))
        self.assertUnauthorized(self.client_for(self.write_key + "x").get("/api/v1/me"))

    def test_it_refuses_a_revoked_key(self):
        self.assertEqual(self.api.get("/api/v1/me").status_code, 200)
        self.assertTrue(api_services.api_key_revoke(api_key=self.key))
        self.assertUnauthorized(self.api.get("/api/v1/me"))

    def test_it_stores_only_a_hash_of_the_key(self):
        row = ApiKey.objects.get(pk=self.key.pk)
        self.assertNotIn(self.write_key, [row.key_hash, row.prefix, row.name])
        self.assertTrue(self.write_key.startswith(row.prefix + "_"))
        self.assertEqual(row.key_hash, api_services.key_hash(self.write_key))

    def test_it_says_who_the_key_is_and_records_its_use(self):
        data = self.api.get("/api/v1/me").json()
        self.assertEqual(data["team"], {"id": self.team.pk, "name": "Acme", "timezone": "UTC"})
        self.assertEqual((data["key"]["name"], data["role"]), ("CMS", "write"))
        self.assertNotIn(self.write_key, str(data))
        self.assertLessEqual(ApiKey.objects.get(pk=self.key.pk).last_used_at, timezone.now())

    def test_it_lets_a_read_key_read_only(self):
        reader = self.client_for(self.read_key)
        self.assertEqual(reader.get("/api/v1/posts").status_code, 200)
        self.assertEqual(reader.get("/api/v1/me").json()["role"], "read")
        refused = reader.post("/api/v1/posts", {"content": "x", "platforms": ["FACEBOOK"]}, format="json")
        self.assertEqual(refused.status_code, 403)
        self.assertIn("read-only", refused.json()["detail"])
        post = self.create_post()
        for method, path in [
            ("patch", f"/api/v1/posts/{post['id']}"),
            ("post", f"/api/v1/posts/{post['id']}/cancel"),
            ("post", "/api/v1/webhook-endpoints"),
        ]:
            self.assertEqual(getattr(reader, method)(path, {}, format="json").status_code, 403, path)

    @override_settings(API_THROTTLE_RATE="3/min")
    def test_it_throttles_each_key_with_retry_after(self):
        for _ in range(3):
            self.assertEqual(self.api.get("/api/v1/me").status_code, 200)
        throttled = self.api.get("/api/v1/me")
        self.assertEqual(throttled.status_code, 429)
        self.assertGreater(int(throttled["Retry-After"]), 0)
        self.assertEqual(throttled["Content-Type"], "application/problem+json")
        # Another key has its own allowance.
        self.assertEqual(self.client_for(self.read_key).get("/api/v1/me").status_code, 200)
