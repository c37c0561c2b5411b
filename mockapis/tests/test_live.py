"""Over the wire: the stand-in served by a real threaded server, called with requests."""

import os
import re
import selectors
import subprocess
import sys
import threading
import time

import requests
from django.conf import settings
from django.test import LiveServerTestCase, SimpleTestCase

from mockapis.client import MockApis
from mockapis.media import HUGE_BYTES
from mockapis.server import make_server
from mockapis.state import store

from .base import ORG, PAGE, linkedin_post_body

X_HEADERS = {"Authorization": "Bearer live-token"}
LINKEDIN_HEADERS = {"Authorization": "Bearer li", "LinkedIn-Version": "202501", "X-Restli-Protocol-Version": "2.0.0"}


class LiveServerTests(LiveServerTestCase):
    """Mounted under /mock/ in the project's live test server, as the end-to-end tests use it."""

    databases = set()

    def setUp(self) -> None:
        self.mock = MockApis(f"{self.live_server_url}/mock")
        self.mock.reset()
        self.addCleanup(store.reset)

    def test_it_creates_the_post_and_cuts_the_connection_on_accept_then_drop(self):
        self.mock.fail("TWITTER", "accept_then_drop", times=1)

        with self.assertRaises(requests.ConnectionError):
            requests.post(self.mock.url("x/2/tweets"), json={"text": "lost answer"}, headers=X_HEADERS, timeout=5)

        self.assertEqual([p["text"] for p in self.mock.posts("TWITTER")], ["lost answer"])
        # The next request is answered normally, and the post is there to be found.
        listed = requests.get(self.mock.url("x/2/users/2244994945/tweets"), headers=X_HEADERS, timeout=5).json()
        self.assertEqual(listed["data"][0]["text"], "lost answer")

    def test_it_logs_a_stalled_request_while_it_stalls(self):
        self.mock.fail("FACEBOOK", "accept_then_stall", times=1, seconds=30)
        answered = threading.Event()

        def post() -> None:
            requests.post(self.mock.url(f"graph/v21.0/{PAGE}/feed"), data={"message": "x", "access_token": "t"})
            answered.set()

        threading.Thread(target=post, daemon=True).start()
        deadline = time.monotonic() + 5
        while not self.mock.requests("FACEBOOK") and time.monotonic() < deadline:
            time.sleep(0.02)

        [entry] = self.mock.requests("FACEBOOK")
        self.assertEqual((entry["status"], entry["outcome"]), (None, "pending"))
        self.assertEqual(len(self.mock.posts("FACEBOOK")), 1, "created before the stall")
        self.assertFalse(answered.is_set())
        self.mock.reset()  # wakes the stall
        self.assertTrue(answered.wait(5))

    def test_it_outlasts_the_clients_read_timeout_on_timeout(self):
        self.mock.fail("FACEBOOK", "timeout", times=1, seconds=2)

        with self.assertRaises(requests.ReadTimeout):
            requests.post(
                self.mock.url(f"graph/v21.0/{PAGE}/feed"), data={"message": "x", "access_token": "t"}, timeout=(2, 0.3)
            )

        self.assertEqual(self.mock.posts(), [])

    def test_it_fetches_facebook_photos_from_the_media_server(self):
        def photo(name: str) -> requests.Response:
            return requests.post(
                self.mock.url(f"graph/v21.0/{PAGE}/photos"),
                data={"url": self.mock.media_url(name), "caption": name, "access_token": "t"},
                timeout=10,
            )

        self.mock.configure(fetch_timeout_seconds=0.5, media_slow_seconds=5)
        ok = photo("a.jpg")
        failures = {name: photo(name).json()["error"] for name in ("b-missing.jpg", "c-huge.jpg", "d-text.jpg")}
        slow = photo("e-slow.jpg").json()["error"]

        self.assertEqual(set(ok.json()), {"id", "post_id"})
        self.assertEqual(self.mock.media("FACEBOOK")[0]["content_type"], "image/jpeg")
        for error in [*failures.values(), slow]:
            self.assertEqual(error["code"], 324)
        self.assertIn("HTTP 404", failures["b-missing.jpg"]["message"])
        self.assertIn("not an image", failures["d-text.jpg"]["message"])
        self.assertIn("did not answer", slow["message"])
        # Each was really fetched; the slow one is still asleep, not answered yet.
        fetched = {r["path"].rsplit("/", 1)[1]: r["status"] for r in self.mock.requests("MEDIA")}
        self.assertEqual(
            fetched, {"a.jpg": 200, "b-missing.jpg": 404, "c-huge.jpg": 200, "d-text.jpg": 200, "e-slow.jpg": None}
        )

    def test_it_answers_9004_for_an_instagram_image_it_cannot_fetch(self):
        response = requests.post(
            self.mock.url("graph/v21.0/1784/media"),
            data={"image_url": self.mock.media_url("x-missing.jpg"), "access_token": "t"},
            timeout=10,
        )

        error = response.json()["error"]
        self.assertEqual((error["code"], error["error_subcode"]), (9004, 2207052))

    def test_it_cuts_a_huge_file_short_after_announcing_its_size(self):
        response = requests.get(self.mock.media_url("a-huge.jpg"), stream=True, timeout=5)

        self.assertGreater(int(response.headers["Content-Length"]), 50 * 1024 * 1024)
        with self.assertRaises(requests.exceptions.ChunkedEncodingError):
            response.content  # noqa: B018 - reading is the point
        head = requests.head(self.mock.media_url("a-huge.jpg"), timeout=5)
        self.assertEqual(int(head.headers["Content-Length"]), HUGE_BYTES)

    def test_it_takes_linkedin_images_at_an_absolute_upload_url_here(self):
        init = requests.post(
            self.mock.url("linkedin/rest/images"),
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": ORG}},
            headers=LINKEDIN_HEADERS,
            timeout=5,
        ).json()["value"]
        self.assertTrue(init["uploadUrl"].startswith(f"{self.live_server_url}/mock/linkedin/upload/"))

        put = requests.put(
            init["uploadUrl"],
            data=requests.get(self.mock.media_url("a.png"), timeout=5).content,
            headers={"Authorization": "Bearer li", "Content-Type": "image/png"},
            timeout=5,
        )
        post = requests.post(
            self.mock.url("linkedin/rest/posts"),
            json=linkedin_post_body("with image", content={"media": {"id": init["image"]}}),
            headers=LINKEDIN_HEADERS,
            timeout=5,
        )

        self.assertEqual((put.status_code, post.status_code), (201, 201))
        self.assertEqual(self.mock.media_ids("LINKEDIN"), [init["image"]])
        self.assertEqual(self.mock.posts("LINKEDIN")[0]["media_ids"], [init["image"]])

    def test_it_is_driven_by_the_client(self):
        self.mock.fail("FACEBOOK", "error", times=1)
        self.mock.configure(seed=3)
        url = self.mock.url(f"graph/v21.0/{PAGE}/feed")

        first = requests.post(url, data={"message": "x", "access_token": "t"}, timeout=5)
        second = requests.post(url, data={"message": "x", "access_token": "t"}, timeout=5)

        self.assertEqual((first.status_code, second.status_code), (400, 200))
        self.assertEqual(self.mock.config()["seed"], 3)
        self.assertEqual([r["status"] for r in self.mock.requests("FACEBOOK")], [400, 200])
        self.assertEqual((len(self.mock.posts()), self.mock.duplicates()), (1, 0))


class RootServerTests(SimpleTestCase):
    """The server run_mock_apis uses: the stand-in's URLs at the root and nothing of the project."""

    def setUp(self) -> None:
        store.reset()
        self.server = make_server("127.0.0.1", 0)
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.addCleanup(store.reset)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def test_it_serves_the_platform_apis_at_the_root(self):
        tweet = requests.post(f"{self.base}/x/2/tweets", json={"text": "root"}, headers=X_HEADERS, timeout=5)
        feed = requests.post(f"{self.base}/graph/v21.0/{PAGE}/feed", data={"message": "root", "access_token": "t"})

        self.assertEqual((tweet.status_code, feed.status_code), (201, 200))
        self.assertEqual(len(MockApis(self.base).posts()), 2)

    def test_it_serves_nothing_of_the_project(self):
        with self.assertLogs("django.request", "WARNING"):
            for path in ("/admin/", "/mock/_control/", "/metrics"):
                self.assertEqual(requests.get(f"{self.base}{path}", timeout=5).status_code, 404, path)

    def test_it_cuts_the_connection_on_accept_then_drop_here_too(self):
        MockApis(self.base).fail("LINKEDIN", "accept_then_drop", times=1)

        with self.assertRaises(requests.ConnectionError):
            requests.post(
                f"{self.base}/linkedin/rest/posts", json=linkedin_post_body("x"), headers=LINKEDIN_HEADERS, timeout=5
            )

        self.assertEqual(len(MockApis(self.base).posts("LINKEDIN")), 1)


class RunMockApisCommandTests(SimpleTestCase):
    def test_it_serves_on_the_port_it_prints(self):
        process = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_mock_apis", "--port", "0", "--seed", "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "LATENCY_MS": "1"},
        )
        self.addCleanup(process.wait, 5)
        self.addCleanup(process.kill)

        line = _read_line(process, timeout=30)

        self.assertIn("Stand-in platform APIs on http://127.0.0.1:", line)
        base = re.search(r"http://127\.0\.0\.1:\d+", line).group()
        config = MockApis(base).config()
        self.assertEqual((config["seed"], config["latency_ms"]), (5, 1))


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    """The first line the process prints, within the deadline."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline, buffer = time.monotonic() + timeout, b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None and not selector.select(0):
            raise AssertionError(f"run_mock_apis printed no line: {buffer!r}")
        if selector.select(remaining):
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"run_mock_apis exited: {buffer!r}")
            buffer += chunk
    return buffer.decode().splitlines()[0]
