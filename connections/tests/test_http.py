"""HttpAdapter over a real socket: the overall deadline of a call, urllib3's URL log lines, and the
proxy of the environment."""

import logging
import math
import os
import threading
import time
import urllib.request
from unittest import mock

import requests
from django.test import SimpleTestCase, override_settings

from connections.platforms import reading
from connections.platforms.base import Account, Draft, TransientError
from connections.platforms.facebook.adapter import FacebookAdapter
from connections.platforms.reading import DeadlineExceeded, read_within
from connections.platforms.x.adapter import XAdapter
from connections.tests.contract import NOW
from connections.tests.servers import JsonServer, SlowServer
from devtools.testing import wait_for
from planrrr.http import environment_settings

TOKEN = "tok-SECRET-xyz123456789"


@override_settings(PLATFORM_TIMEOUT=(1.0, 5.0), PLATFORM_CALL_DEADLINE_SECONDS=1.0, GRAPH_API_VERSION="v21.0")
class CallDeadlineTests(SimpleTestCase):
    MARGIN = 1.5

    def assertCutAtDeadline(self, call) -> TransientError:
        started = time.monotonic()
        with self.assertRaises(TransientError) as caught:
            call()
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 1.0 + self.MARGIN)
        self.assertTrue(caught.exception.maybe_sent)
        return caught.exception

    def test_it_gives_up_on_an_answer_that_drips_past_the_deadline(self):
        with SlowServer(content_type="application/json", interval=0.2) as server:
            with override_settings(TWITTER_API_URL=server.url):
                error = self.assertCutAtDeadline(
                    lambda: XAdapter().publish(Account("1", TOKEN), Draft(text="Hello world"))
                )
        self.assertEqual(error.message, "X API error: the answer did not finish within 1 s")
        self.assertEqual(server.requests, ["/2/tweets"])

    def test_it_gives_up_on_a_chunked_answer_whose_chunk_size_line_drips_past_the_deadline(self):
        # Every byte comes well within the read timeout, all inside one read of the body.
        with SlowServer(content_type="application/json", length=100, interval=0.1, chunked=True) as server:
            with override_settings(TWITTER_API_URL=server.url):
                error = self.assertCutAtDeadline(
                    lambda: XAdapter().publish(Account("1", TOKEN), Draft(text="Hello world"))
                )
        self.assertEqual(error.message, "X API error: the answer did not finish within 1 s")

    def test_it_gives_up_on_an_answer_that_stalls_past_the_deadline_before_the_read_timeout(self):
        with SlowServer(content_type="application/json", interval=None) as server:
            with override_settings(FACEBOOK_API_URL=server.url):
                error = self.assertCutAtDeadline(
                    lambda: FacebookAdapter().find_published(Account("1", TOKEN), Draft(text="Hello"), NOW)
                )
        self.assertEqual(error.message, "Facebook API error: the answer did not finish within 1 s")

    def test_it_cuts_a_stall_whose_deadline_comes_before_that_of_a_read_in_progress(self):
        # The watchdog sleeps until the earliest deadline it knows: a nearer one must wake it.
        with SlowServer(content_type="application/json", interval=None) as server:
            longer = threading.Thread(target=self.read_stalled, args=(server.url, 4.0), daemon=True)
            longer.start()
            # The longer read has reached the stand-in and the watchdog sleeps until its deadline.
            wait_for(
                lambda: server.requests and reading._watchdog._wakes_at != math.inf,
                timeout=5,
                message="the longer read to be watched",
            )
            with override_settings(TWITTER_API_URL=server.url):
                self.assertCutAtDeadline(lambda: XAdapter().publish(Account("1", TOKEN), Draft(text="Hello world")))
        longer.join(5)

    def read_stalled(self, url: str, seconds: float) -> None:
        try:
            read_within(requests.get(url, stream=True, timeout=(1.0, 5.0)), deadline=time.monotonic() + seconds)
        except (DeadlineExceeded, OSError, requests.exceptions.RequestException):
            pass

    def test_a_forked_process_cuts_a_stall_at_its_deadline(self):
        # A forking RQ worker's work-horse: the parent's watchdog thread is not in the child.
        with SlowServer(content_type="application/json", interval=None) as server:
            self.read_stalled(server.url, 0.1)  # the parent has its watchdog running
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    started = time.monotonic()
                    try:
                        read_within(requests.get(server.url, stream=True, timeout=(1.0, 5.0)), deadline=started + 1.0)
                    except DeadlineExceeded:
                        code = 0 if time.monotonic() - started < 1.0 + self.MARGIN else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)

    def test_it_never_shuts_the_socket_of_a_read_that_finished(self):
        # By its deadline the connection may be back in the pool, carrying another request.
        raw = mock.Mock()
        raw.read1.side_effect = [b"{}", b""]
        self.assertEqual(read_within(mock.Mock(raw=raw), deadline=time.monotonic() + 0.2), b"{}")
        time.sleep(0.5)  # past the deadline: what is checked is that nothing happens then
        raw.shutdown.assert_not_called()


class URLLogTests(SimpleTestCase):
    def test_it_keeps_the_token_in_a_graph_url_out_of_urllib3s_log_lines(self):
        with SlowServer(content_type="application/json", length=0) as server:
            with (
                override_settings(FACEBOOK_API_URL=server.url, GRAPH_API_VERSION="v21.0"),
                self.assertLogs("urllib3", logging.DEBUG) as logs,
                self.assertRaises(TransientError) as caught,
            ):
                FacebookAdapter().find_published(Account("1", TOKEN), Draft(text="Hello"), NOW)
        self.assertIn("access_token", server.requests[0])  # a GET: the token is in the query
        self.assertTrue(any("/v21.0/1/feed" in line for line in logs.output), logs.output)
        for line in logs.output:
            self.assertNotIn("SECRET", line)
        self.assertNotIn("SECRET", caught.exception.message)


class EnvironmentProxyTests(SimpleTestCase):
    """HTTP_PROXY and NO_PROXY as an operator sets them, read once per host (planrrr.http)."""

    CREATED = {"data": {"id": "1", "text": "Hello world"}}

    def setUp(self):
        environment_settings.cache_clear()
        self.addCleanup(environment_settings.cache_clear)

    def environment(self, **variables: str):
        # Both spellings: urllib prefers the lower-case one, whichever the test process inherited.
        values = {}
        for name, value in variables.items():
            values[name.lower()] = values[name.upper()] = value
        return mock.patch.dict(os.environ, values)

    def test_it_sends_through_the_proxy_of_the_environment_reading_it_once(self):
        adapter = XAdapter()
        with (
            JsonServer(self.CREATED, status=201) as proxy,
            # A name that resolves nowhere: only the proxy can answer for it.
            override_settings(TWITTER_API_URL="http://api.x.invalid"),
            self.environment(http_proxy=proxy.url, no_proxy=""),
            mock.patch.object(
                urllib.request, "getproxies_environment", wraps=urllib.request.getproxies_environment
            ) as reads,
        ):
            adapter.publish(Account("1", TOKEN), Draft(text="Hello world"))
            first = reads.call_count
            adapter.publish(Account("1", TOKEN), Draft(text="Hello world"))
            adapter.publish(Account("1", TOKEN), Draft(text="Hello world"))
        self.assertEqual(proxy.requests, ["http://api.x.invalid/2/tweets"] * 3)
        self.assertGreater(first, 0)
        self.assertEqual(reads.call_count, first, "the environment was read again for the same host")

    def test_it_goes_straight_to_a_host_in_no_proxy(self):
        with (
            JsonServer(self.CREATED, status=201) as proxy,
            JsonServer(self.CREATED, status=201) as platform,
            override_settings(TWITTER_API_URL=platform.url),
            self.environment(http_proxy=proxy.url, no_proxy="127.0.0.1"),
        ):
            XAdapter().publish(Account("1", TOKEN), Draft(text="Hello world"))
        self.assertEqual(platform.requests, ["/2/tweets"])
        self.assertEqual(proxy.requests, [])
