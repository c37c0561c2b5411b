"""Idempotency-Key: a replay gets the first answer and creates nothing; another body is 422;
two requests at once with one key make one post."""

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import requests
from django.db import connection as db
from django.test import LiveServerTestCase, override_settings

from api import services as api_services
from api.models import IdempotencyKey
from api.tests.base import ApiActors, ApiTestCase
from devtools.testing import flush_redis, wait_for
from publishing import services
from publishing.models import Post
from webhooks.models import Endpoint

BODY = {"content": "Once only", "platforms": ["FACEBOOK"]}


class IdempotencyTests(ApiTestCase):
    def send(self, body=BODY, key="order-42", path="/api/v1/posts"):
        return self.api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    def test_it_replays_the_first_answer_without_creating_anything(self):
        first = self.send()
        again = self.send()
        self.assertEqual((first.status_code, again.status_code), (201, 201))
        self.assertEqual(again.json(), first.json())
        self.assertEqual(again["Location"], first["Location"])
        self.assertEqual(again["Idempotent-Replayed"], "true")
        self.assertEqual(Post.objects.filter(team=self.team).count(), 1)

    def test_it_replays_a_refusal_as_it_was(self):
        bad = {"content": "", "platforms": ["FACEBOOK"]}
        first, again = self.send(bad), self.send(bad)
        self.assertEqual((first.status_code, again.status_code), (400, 400))
        self.assertEqual(again.json(), first.json())
        self.assertEqual(again["Content-Type"], "application/problem+json")

    def test_it_refuses_the_same_key_with_another_body(self):
        self.send()
        other = self.send({**BODY, "content": "Something else"})
        self.assertEqual(other.status_code, 422)
        self.assertIn("different request", other.json()["detail"])
        self.assertEqual(Post.objects.filter(team=self.team).count(), 1)

    def test_it_keeps_keys_per_team(self):
        self.send()
        theirs = self.client_for(self.their_key).post(
            "/api/v1/posts", {"content": "Theirs", "platforms": ["FACEBOOK"]}, format="json",
            HTTP_IDEMPOTENCY_KEY="order-42",
        )  # fmt: skip
        self.assertEqual(theirs.status_code, 400, "their own answer (no connection), not ours replayed")
        self.assertIn("no Facebook connection", theirs.json()["errors"]["platforms"][0])

    def test_it_applies_to_actions_too(self):
        post = self.send().json()
        path = f"/api/v1/posts/{post['id']}/cancel"
        first = self.api.post(path, HTTP_IDEMPOTENCY_KEY="cancel-1")
        again = self.api.post(path, HTTP_IDEMPOTENCY_KEY="cancel-1")
        self.assertEqual((first.status_code, again.status_code), (200, 200), "not 409: the first answer")

    def test_it_keeps_and_replays_a_refusal_naming_a_field_with_a_nul_or_a_lone_surrogate(self):
        # The kept answer repeated the field's name, which PostgreSQL cannot store: a 500, where
        # the same body without the header was a 400.
        self.team.requires_approval = True
        self.team.save()
        review = self.send(key="draft").json()
        self.api.post(f"/api/v1/posts/{review['id']}/submit")
        _, approve_key = api_services.api_key_create(team=self.team, name="Reviewer", role="approve")
        self.api = self.client_for(approve_key)
        # The JSON text carries the escape; the answer names the field with it, as the client wrote it.
        for name in ("a\\u0000", "a\\ud800"):
            bad = f'"{name}": 1'
            for path, body in [
                ("/api/v1/posts", '{"content": "x", "platforms": ["FACEBOOK"], ' + bad + "}"),
                ("/api/v1/posts/bulk", '{"posts": [{"content": "x", "platforms": ["FACEBOOK"], ' + bad + "}]}"),
                (f"/api/v1/posts/{review['id']}/approve", "{" + bad + "}"),
                (f"/api/v1/posts/{review['id']}/reject", '{"note": "No", ' + bad + "}"),
            ]:
                for key in (None, f"bad-key-{path}-{name}"):
                    with self.subTest(path=path, name=name, key=key):
                        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
                        answers = [
                            self.api.post(path, body, content_type="application/json", **headers) for _ in range(2)
                        ]
                        first = answers[0]
                        expected = 200 if path.endswith("bulk") else 400
                        self.assertEqual([a.status_code for a in answers], [expected, expected], first.content)
                        self.assertEqual(answers[1].json(), first.json())
                        errors = first.json()["results"][0]["errors"] if expected == 200 else first.json()["errors"]
                        self.assertEqual(list(errors), [name])
                        self.assertIn("Unknown field", errors[name][0])
        self.assertEqual(Post.objects.filter(team=self.team).count(), 1)

    def test_it_refuses_a_key_that_is_not_printable_ascii(self):
        for key in ("x" * 256, "caf\u00e9", "a\tb"):
            with self.subTest(key=key):
                response = self.send(key=key)
                self.assertEqual(response.status_code, 400)
                self.assertIn("1 to 255 printable ASCII characters", response.json()["detail"])
        self.assertFalse(Post.objects.filter(team=self.team).exists())


class IdempotentSecretTests(ApiTestCase):
    """A webhook endpoint's signing secret, in the answer kept for a replay: encrypted, never in clear."""

    def stored(self) -> str:
        with db.cursor() as cursor:
            cursor.execute("SELECT coalesce(body::text, '') || sealed_body FROM api_idempotencykey")
            return " ".join(row[0] for row in cursor.fetchall())

    def test_it_keeps_the_secret_of_a_new_endpoint_encrypted_and_replays_it(self):
        body = {"url": "http://127.0.0.1:9/hook"}
        first = self.api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
        again = self.api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
        self.assertEqual((first.status_code, again.status_code), (201, 201))
        secret = first.json()["secret"]
        self.assertTrue(secret.startswith("whsec_"))
        self.assertEqual(again.json(), first.json())
        self.assertEqual((again["Location"], again["Idempotent-Replayed"]), (first["Location"], "true"))
        self.assertEqual(Endpoint.objects.filter(team=self.team).count(), 1)
        kept = self.stored()
        self.assertNotIn("whsec_", kept)
        self.assertNotIn(secret.removeprefix("whsec_"), kept)
        self.assertTrue(IdempotencyKey.objects.get(key="hook-1").sealed_body.startswith("{"), "decrypted in memory")

    def test_it_keeps_a_rotated_secret_encrypted_and_replays_it(self):
        endpoint = self.api.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook"}, format="json").json()
        path = f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate"
        first = self.api.post(path, HTTP_IDEMPOTENCY_KEY="rotate-1")
        again = self.api.post(path, HTTP_IDEMPOTENCY_KEY="rotate-1")
        self.assertEqual(again.json(), first.json())
        self.assertEqual(Endpoint.objects.get(pk=endpoint["id"]).secret, first.json()["secret"], "rotated once")
        self.assertNotIn("whsec_", self.stored())

    def test_a_replay_whose_secret_cannot_be_decrypted_says_to_rotate(self):
        body = {"url": "http://127.0.0.1:9/hook"}
        first = self.api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
        with override_settings(TOKEN_ENCRYPTION_KEY=["another key"]):
            again = self.api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
        self.assertEqual(again.status_code, 409)
        self.assertIn("rotate the webhook endpoint's secret", again.json()["detail"])
        self.assertEqual(again["Location"], first["Location"])
        self.assertNotIn("whsec_", again.content.decode())
        self.assertEqual(Endpoint.objects.filter(team=self.team).count(), 1)


class ConcurrentIdempotencyTests(ApiActors, LiveServerTestCase):
    def setUp(self):
        flush_redis()
        self.make_api_actors()

    def test_it_makes_one_post_from_two_requests_at_once(self):
        real, calls = services.post_create, []

        def slow_create(**kwargs):
            # Hold the first request inside its transaction until the second one waits on the
            # key's unique index: then they truly overlap.
            calls.append(1)
            if len(calls) == 1:
                wait_for(_someone_waits_for_a_lock, timeout=10, message="the second request to wait on the key")
            return real(**kwargs)

        def send(_):
            return requests.post(
                f"{self.live_server_url}/api/v1/posts",
                json=BODY,
                headers={"Authorization": f"Bearer {self.write_key}", "Idempotency-Key": "same-key"},
                timeout=30,
            )

        with mock.patch("publishing.services.post_create", slow_create):
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(send, range(2)))

        self.assertEqual([a.status_code for a in answers], [201, 201])
        self.assertEqual(answers[0].json()["id"], answers[1].json()["id"])
        self.assertEqual(Post.objects.filter(team=self.team).count(), 1)
        self.assertEqual(len(calls), 1)


def _someone_waits_for_a_lock() -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0
