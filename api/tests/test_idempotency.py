"""Idempotency-Key: a replay gets the first answer and creates nothing; another body is 422;
two requests at once with one key make one post."""

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import requests
from django.db import connection as db
from django.test import LiveServerTestCase

from api.tests.base import ApiActors, ApiTestCase
from planrrr.testing import flush_redis, wait_for
from publishing import services
from publishing.models import Post

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
