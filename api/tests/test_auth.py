"""Who may call: keys, roles, revocation, throttling."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from django.test import LiveServerTestCase, override_settings
from django.utils import timezone

from api import services as api_services
from api.models import ApiKey
from api.tests.base import ApiActors, ApiTestCase
from devtools.testing import flush_redis


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

    def test_it_says_which_role_a_key_lacks(self):
        self.team.requires_approval = True
        self.team.save()
        post = self.create_post()
        self.assertEqual(self.api.post(f"/api/v1/posts/{post['id']}/submit").status_code, 200)
        for action, body in (("approve", {}), ("reject", {"note": "No"}), ("publish-now", None)):
            with self.subTest(action):
                refused = self.api.post(f"/api/v1/posts/{post['id']}/{action}", body, format="json")
                self.assertEqual(refused.status_code, 403, refused.content)
                self.assertIn(
                    "This API key has the write role: it takes a key with the approve role", refused.json()["detail"]
                )


class ConcurrentThrottleTests(ApiActors, LiveServerTestCase):
    """The rate holds exactly when a key's requests come at once (DRF's own count is a read, then a
    write: concurrent requests all read the same count and all pass)."""

    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.make_api_actors()

    @override_settings(API_THROTTLE_RATE="40/min")
    def test_it_lets_exactly_the_rate_through_when_requests_come_at_once(self):
        http = requests.Session()
        http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
        start = threading.Barrier(16)

        def send(_):
            start.wait(timeout=10)
            answers = []
            for _ in range(8):
                response = http.get(
                    f"{self.live_server_url}/api/v1/me",
                    headers={"Authorization": f"Bearer {self.write_key}"},
                    timeout=30,
                )
                answers.append(response.status_code)
            return answers

        with ThreadPoolExecutor(16) as pool:
            statuses = Counter(status for answers in pool.map(send, range(16)) for status in answers)
        self.assertEqual(statuses, Counter({200: 40, 429: 88}))
