"""HttpAdapter over a real socket: the overall deadline of a call, and urllib3's URL log lines."""

import logging
import time

from django.test import SimpleTestCase, override_settings

from connections.platforms.base import Account, Draft, TransientError
from connections.platforms.facebook import FacebookAdapter
from connections.platforms.twitter import TwitterAdapter
from connections.tests.contract import NOW
from connections.tests.servers import SlowServer

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
                    lambda: TwitterAdapter().publish(Account("1", TOKEN), Draft(text="Hello world"))
                )
        self.assertEqual(error.message, "X API error: the answer did not finish within 1 s")
        self.assertEqual(server.requests, ["/2/tweets"])

    def test_it_gives_up_on_an_answer_that_stalls_past_the_deadline_before_the_read_timeout(self):
        with SlowServer(content_type="application/json", interval=None) as server:
            with override_settings(FACEBOOK_API_URL=server.url):
                error = self.assertCutAtDeadline(
                    lambda: FacebookAdapter().find_published(Account("1", TOKEN), Draft(text="Hello"), NOW)
                )
        self.assertEqual(error.message, "Facebook API error: the answer did not finish within 1 s")


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
