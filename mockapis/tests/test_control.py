import threading
import time

from django.test import override_settings

from mockapis.gate import ConnectionDropped
from mockapis.state import store

from .base import PAGE, StandInTestCase


class ControlTests(StandInTestCase):
    def feed(self, message: str):
        return self.graph("POST", f"{PAGE}/feed", {"message": message})

    def test_it_resets_posts_log_failures_and_config(self):
        self.feed("x")
        self.fail("FACEBOOK", "error")
        self.configure(latency_ms=5)

        self.control("reset")

        self.assertEqual(self.posts(), [])
        self.assertEqual(self.client.get("/_control/requests").json()["requests"], [])
        self.assertEqual(self.client.get("/_control/fail").json()["rules"], [])
        self.assertEqual(self.client.get("/_control/config").json()["latency_ms"], 0)

    @override_settings(RATE_LIMIT_ENABLED=True, RANDOM_FAILURES=0.25, LATENCY_MS=3)
    def test_it_starts_from_the_settings(self):
        store.reset()

        config = self.client.get("/_control/config").json()

        self.assertEqual(
            (config["rate_limit_enabled"], config["random_failures"], config["latency_ms"]), (True, 0.25, 3)
        )
        self.assertEqual(config["rate_limit"], {"limit": 5, "window_seconds": 2.0})

    def test_it_refuses_bad_config_and_fail_bodies_with_a_reason(self):
        cases = [
            ("config", {"random_failures": 2}, "between 0 and 1"),
            ("config", {"nonsense": 1}, "unknown config key"),
            ("config", {"rate_limit": {"limit": 0}}, "at least 1"),
            ("fail", {"platform": "MYSPACE", "mode": "error"}, "platform must be one of"),
            ("fail", {"platform": "TWITTER", "mode": "explode"}, "mode must be one of"),
            ("fail", {"platform": "TWITTER", "mode": "error", "times": 0}, "positive integer"),
            ("fail", {"platform": "TWITTER", "mode": "container_error"}, "INSTAGRAM"),
        ]
        for path, body, reason in cases:
            response = self.control(path, body)
            self.assertEqual(response.status_code, 400, body)
            self.assertIn(reason, response.json()["error"])

    def test_it_applies_a_failure_the_given_number_of_times(self):
        self.fail("FACEBOOK", "server_error", times=2)

        statuses = [self.feed(f"post {i}").status_code for i in range(3)]

        self.assertEqual(statuses, [500, 500, 200])
        self.assertEqual(len(self.posts()), 1)

    def test_it_applies_a_failure_until_reset_without_times_and_clears_with_mode_none(self):
        self.fail("FACEBOOK", "error")
        self.assertEqual([self.feed(f"p{i}").status_code for i in range(3)], [400, 400, 400])

        self.fail("FACEBOOK", "none")

        self.assertEqual(self.feed("p").status_code, 200)

    def test_it_fails_only_the_platform_and_kind_a_rule_names(self):
        self.fail("TWITTER", "error")
        self.fail("FACEBOOK", "error", on="media")

        self.assertEqual(self.feed("x").status_code, 200)
        self.assertEqual(self.graph("GET", f"{PAGE}/feed").status_code, 200)

    def test_it_draws_random_failures_reproducibly_with_a_seed(self):
        def run() -> list[int]:
            self.control("reset")
            self.configure(random_failures=0.5, seed=7)
            return [self.feed(f"post {i}").status_code for i in range(20)]

        first, second = run(), run()

        self.assertEqual(first, second)
        self.assertTrue({500, 503} & set(first) and 200 in first, first)
        self.assertEqual(len(self.posts()), first.count(200))
        outcomes = {e["outcome"] for e in self.client.get("/_control/requests").json()["requests"]}
        self.assertIn("random_failure", outcomes)

    def test_it_adds_the_configured_latency(self):
        self.configure(latency_ms=150)
        started = time.monotonic()

        self.feed("x")

        self.assertGreaterEqual(time.monotonic() - started, 0.15)

    def test_it_draws_a_long_tailed_latency_with_the_configured_median_and_p99(self):
        self.configure(latency_ms=300, latency_p99_ms=2000, seed=7)

        draws = sorted(store.latency_draw() for _ in range(20_000))

        self.assertAlmostEqual(draws[len(draws) // 2], 300, delta=15)
        self.assertAlmostEqual(draws[int(len(draws) * 0.99)], 2000, delta=200)

    def test_it_waits_the_median_when_no_tail_is_configured(self):
        self.configure(latency_ms=300, latency_p99_ms=0)

        self.assertEqual({store.latency_draw() for _ in range(10)}, {300.0})

    def test_it_refuses_a_negative_latency(self):
        response = self.control("config", {"latency_p99_ms": -1})

        self.assertEqual(response.status_code, 400)

    def test_it_times_out_without_creating_the_post(self):
        self.fail("FACEBOOK", "timeout", times=1, seconds=0.1)
        started = time.monotonic()

        response = self.feed("x")

        self.assertGreaterEqual(time.monotonic() - started, 0.1)
        self.assertEqual(response.status_code, 504)
        self.assertEqual(self.posts(), [])

    def test_it_creates_then_answers_late_on_accept_then_stall(self):
        self.fail("FACEBOOK", "accept_then_stall", times=1, seconds=0.1)

        response = self.feed("x")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.posts()), 1)

    def test_it_waits_then_creates_on_stall_then_accept(self):
        self.fail("FACEBOOK", "stall_then_accept", times=1, seconds=0.1)
        started = time.monotonic()

        response = self.feed("x")

        self.assertGreaterEqual(time.monotonic() - started, 0.1)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.posts()), 1)

    def test_it_creates_and_gives_no_answer_on_accept_then_drop(self):
        self.fail("TWITTER", "accept_then_drop", times=1)

        # Django's test client has no socket to cut: the view raises instead of answering.
        with self.assertRaises(ConnectionDropped), self.assertLogs("django.request", "ERROR"):
            self.tweet({"text": "dropped"})

        self.assertEqual(len(self.posts("TWITTER")), 1)
        [entry] = self.client.get("/_control/requests", {"platform": "TWITTER"}).json()["requests"]
        self.assertEqual(entry["outcome"], "created:accept_then_drop")

    def test_it_answers_each_platforms_token_error_in_token_modes(self):
        self.fail("FACEBOOK", "token_expired", times=1)
        self.fail("TWITTER", "token_revoked", times=1)

        self.assertEqual(self.graph_error(self.feed("x"))["error_subcode"], 463)
        self.assertEqual(self.tweet({"text": "x"}).status_code, 401)

    def test_it_answers_a_duplicate_without_creating_in_duplicate_mode(self):
        self.fail("TWITTER", "duplicate", times=1)

        self.assertEqual(self.tweet({"text": "x"}).status_code, 403)
        self.assertEqual(self.posts(), [])

    def test_it_reports_posts_with_the_duplicates_count(self):
        self.configure(duplicate_window_seconds=0)
        self.feed("twice")
        self.feed("twice")
        self.feed("once")

        body = self.client.get("/_control/posts", {"platform": "FACEBOOK"}).json()

        self.assertEqual((body["count"], body["duplicates"]), (3, 1))

    def test_it_logs_every_request_with_status_and_outcome(self):
        self.feed("x")
        self.tweet({"text": "y"}, token="t-expired")

        entries = self.client.get("/_control/requests").json()["requests"]

        self.assertEqual(
            [(e["platform"], e["method"], e["status"], e["outcome"]) for e in entries],
            [("FACEBOOK", "POST", 200, "created"), ("TWITTER", "POST", 401, "token_expired")],
        )
        self.assertEqual(entries[0]["body"]["message"], "x")
        self.assertEqual(entries[0]["account"], PAGE)
        self.assertEqual(entries[1]["headers"]["Authorization"], "Bearer t-expired")
        only_x = self.client.get("/_control/requests", {"platform": "TWITTER", "path": "/x/2/tweets"}).json()
        self.assertEqual(only_x["count"], 1)

    def test_it_wakes_sleeping_requests_on_reset(self):
        done = threading.Event()
        threading.Thread(target=lambda: (store.sleep(30), done.set()), daemon=True).start()
        deadline = time.monotonic() + 5
        while not done.is_set() and time.monotonic() < deadline:
            store.reset()
            done.wait(0.01)

        self.assertTrue(done.is_set())

    def test_it_binds_a_token_to_an_account(self):
        self.tweet({"text": "mine"}, token="tok")

        self.control("tokens", {"platform": "TWITTER", "token": "tok", "account_id": "42", "username": "acme"})

        self.assertEqual(self.posts("TWITTER")[0]["account"], "42")
        me = self.x_get("users/me", token="tok").json()["data"]
        self.assertEqual((me["id"], me["username"]), ("42", "acme"))

    def test_it_fails_the_next_uploads_with_media_on_upload(self):
        response = self.control("media", {"platform": "INSTAGRAM", "on_upload": "server_error", "times": 1})

        self.assertEqual(response.json()["rules"][0]["on"], "media")
        ig = self.graph("POST", "1784/media", {"image_url": "http://img/a.jpg"})
        self.assertEqual(ig.status_code, 500)
