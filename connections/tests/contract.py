"""What every adapter's tests share: a frozen clock, HTTP mocked with ``responses`` (no network),
base URLs that can only be mocked, and the contract tests written once (AdapterContract), which
each adapter's test case mixes in and feeds with its platform's shapes."""

from __future__ import annotations

import itertools
import logging
import socket
from datetime import UTC, datetime
from traceback import format_exception
from unittest import mock
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
import responses
from django.test import SimpleTestCase, override_settings

from connections.platforms import get_adapter
from connections.platforms.base import (
    Account,
    Draft,
    PermanentError,
    PlatformError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.http import HttpAdapter
from planrrr.crypto import Undecryptable
from planrrr.text import MAX_TEXT

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
# A token no adapter message may ever show: searched for as "SECRET", so no piece of it survives either.
SECRET = "tok-SECRET-xyz123456789"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

GRAPH = "https://graph.test/v21.0"
X = "https://x.test"
LINKEDIN = "https://linkedin.test"


# What the fake resolver answers: every other name does not resolve. Tests never touch DNS.
ADDRESSES = {
    "cdn.example.com": "93.184.216.34",
    "private.example.com": "10.0.0.7",
    "bsky.test": "93.184.216.35",
    "mastodon.test": "93.184.216.36",
}
BLUESKY = "https://bsky.test"
MASTODON = "https://mastodon.test"


def pinned(url: str) -> str:
    """The URL a pinned session really requests (media fetches, and every call to a Bluesky or
    Mastodon server): planrrr.urlsafety connects to the address it checked, keeping the name in
    the Host header. What ``responses`` sees, so what a test registers."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}[parts.scheme]
    return urlunsplit(parts._replace(netloc=f"{ADDRESSES[parts.hostname]}:{port}"))


def resolve(host: str, port: int, *args, **kwargs) -> list:
    if host not in ADDRESSES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ADDRESSES[host], port))]


@override_settings(
    FACEBOOK_API_URL="https://graph.test",
    INSTAGRAM_API_URL="https://graph.test",
    TWITTER_API_URL=X,
    LINKEDIN_API_URL=LINKEDIN,
    BLUESKY_PDS_URL=BLUESKY,
    INSTANCE_ALLOW_PRIVATE_URLS=False,
    GRAPH_API_VERSION="v21.0",
    LINKEDIN_API_VERSION="202501",
    GRAPH_RATE_LIMIT_BACKOFF_SECONDS=60,
    RATE_LIMIT_DEFAULT_BACKOFF_SECONDS=60,
    PLATFORM_TIMEOUT=(1.0, 2.0),
    MEDIA_FETCH_TIMEOUT=(1.0, 2.0),
    MEDIA_MAX_BYTES=1024 * 1024,
    MEDIA_ALLOW_PRIVATE_URLS=False,
)
class AdapterTestCase(SimpleTestCase):
    """Base for adapter tests: ``self.http`` is the responses mock (every registered answer must
    be used), the clock reads NOW, and names resolve through ADDRESSES."""

    adapter_class: type[HttpAdapter]

    def setUp(self):
        super().setUp()
        self.http = responses.RequestsMock(assert_all_requests_are_fired=True)
        self.http.start()
        self.addCleanup(self.http.reset)
        self.addCleanup(self.http.stop)
        clock = mock.patch("django.utils.timezone.now", return_value=NOW)
        clock.start()
        self.addCleanup(clock.stop)
        resolver = mock.patch("socket.getaddrinfo", side_effect=resolve)
        resolver.start()
        self.addCleanup(resolver.stop)
        if hasattr(self, "adapter_class"):
            self.adapter = self.adapter_class()

    def add_image(self, url: str, body: bytes = PNG, content_type: str = "image/png") -> None:
        self.http.add(responses.GET, pinned(url), body=body, content_type=content_type)

    def form(self, call: responses.Call) -> dict[str, str]:
        """A form-encoded request body as a dict."""
        return dict(parse_qsl(call.request.body))

    def query(self, call: responses.Call) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(call.request.url).query))


class CapturedRecords(logging.Handler):
    """Every log record, formatted with its traceback, whoever logged it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class AdapterContract:
    """The contract every adapter keeps, tested once. A subclass (also an AdapterTestCase) says
    how its platform answers:

    - ``draft()``: a draft the happy path publishes;
    - ``mock_success()``: register the platform's answers for it; return the expected external id;
    - ``mock_key_call(**kwargs)``: register the call that creates the post (or the first call that
      writes) with the given responses kwargs, for failures;
    - ``mock_recent_call(**kwargs)``: the same for the first call reading recent posts
      (reconciliation);
    - ``errors``: {kind: (responses kwargs, expected class, expected message)} for the kinds
      "rate_limited", "token_expired", "permanent", "server_error";
    - ``rate_limited_retry_at``: when the "rate_limited" case says to come back;
    - ``malformed_successes``: responses kwargs of 2xx answers without a usable id;
    - ``mock_recent(text)``: register the recent-posts answer holding one post with this text, id
      "found-1", and return nothing;
    - ``mock_recent_pages(first, second)``: register two pages of recent posts, the first (a full
      page, all recent) with posts of text ``first`` saying there is another, the second with one
      post of text ``second``, id "found-1"; return the continuation the second request must
      carry, as a query parameter {name: value};
    - ``too_long_text``: one character over the limit.

    An adapter that settles an unknown outcome without reading recent posts says so:
    ``reads_recent_posts = False`` (Bluesky: one getRecord of the publication's record key, tested
    in its own file) skips the tests of paging through recent posts. Every adapter settles it with
    a call to the platform: none may count on a key the platform keeps for less time than
    planrrr may wait.
    """

    reads_recent_posts = True

    account = Account(account_id="acct-1", access_token="token-1")
    errors: dict
    rate_limited_retry_at: datetime
    malformed_successes: list[dict]
    too_long_text: str

    def draft(self) -> Draft:
        return Draft(text="Hello world")

    def test_it_is_registered_under_its_platform(self):
        self.assertIsInstance(get_adapter(self.adapter_class.platform), self.adapter_class)

    def test_it_publishes(self):
        expected = self.mock_success()
        published = self.adapter.publish(self.account, self.draft())
        self.assertEqual(published.external_id, expected)

    def test_it_sends_every_call_with_a_timeout(self):
        self.mock_success()
        with mock.patch.object(self.adapter.session, "request", wraps=self.adapter.session.request) as sent:
            self.adapter.publish(self.account, self.draft())
        self.assertTrue(sent.call_args_list)
        for call in sent.call_args_list:
            self.assertEqual(call.kwargs["timeout"], (1.0, 2.0))
            self.assertFalse(call.kwargs["allow_redirects"])

    def test_it_marks_a_read_timeout_as_maybe_sent(self):
        self.mock_key_call(body=requests.exceptions.ReadTimeout("read timed out"))
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertTrue(caught.exception.maybe_sent)
        self.assertIn("network timeout", caught.exception.message)

    def test_it_marks_a_connect_timeout_as_not_sent(self):
        self.mock_key_call(body=requests.exceptions.ConnectTimeout("connect timed out"))
        with self.assertRaises(TransientError) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertFalse(caught.exception.maybe_sent)

    def test_it_treats_a_malformed_success_as_maybe_sent(self):
        for kwargs in self.malformed_successes:
            with self.subTest(kwargs=kwargs):
                self.http.reset()
                self.mock_key_call(**kwargs)
                with self.assertRaises(TransientError) as caught:
                    self.adapter.publish(self.account, self.draft())
                self.assertTrue(caught.exception.maybe_sent)
                self.assertIn(f"{self.adapter.label} API error: malformed answer", caught.exception.message)

    def assertClassified(self, kind: str) -> PlatformError:
        kwargs, expected_class, expected_message = self.errors[kind]
        self.mock_key_call(**kwargs)
        with self.assertRaises(expected_class) as caught:
            self.adapter.publish(self.account, self.draft())
        self.assertIs(type(caught.exception), expected_class)
        self.assertEqual(caught.exception.message, expected_message)
        return caught.exception

    def test_it_says_when_to_come_back_when_rate_limited(self):
        error = self.assertClassified("rate_limited")
        self.assertIsInstance(error, RateLimited)
        self.assertEqual(error.retry_at, self.rate_limited_retry_at)

    def test_it_asks_for_a_reconnection_when_the_token_is_expired(self):
        self.assertIsInstance(self.assertClassified("token_expired"), TokenExpired)

    def test_it_gives_up_with_the_platform_message(self):
        error = self.assertClassified("permanent")
        self.assertIsInstance(error, PermanentError)
        self.assertTrue(error.message.startswith(f"{self.adapter.label} API error"))

    def test_it_retries_a_server_error(self):
        error = self.assertClassified("server_error")
        self.assertIsInstance(error, TransientError)
        self.assertTrue(error.maybe_sent)

    def test_it_refuses_text_over_the_limit(self):
        problems = self.adapter.validate(text=self.too_long_text, media_urls=self.draft().media_urls)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn(f"{self.adapter.label} allows at most {self.adapter.max_text_length:,} characters", problems[0])
        self.assertIn("Shorten it by 1.", problems[0])
        self.assertEqual(self.adapter.validate(text=self.too_long_text[1:], media_urls=self.draft().media_urls), [])

    def test_it_refuses_too_many_images(self):
        urls = [f"https://cdn.example.com/{i}.png" for i in range(self.adapter.max_images + 1)]
        problems = self.adapter.validate(text="Hello", media_urls=urls)
        self.assertEqual(
            problems,
            [f"{self.adapter.label} takes at most {self.adapter.max_images} images; this post has {len(urls)}."],
        )

    def test_it_refuses_at_publish_time_what_validation_refuses(self):
        draft = self.draft()
        draft.media_urls = ["ftp://cdn.example.com/a.png", "https://private.example.com/b.png"]
        with self.assertRaises(PermanentError) as caught:
            self.adapter.publish(self.account, draft)
        self.assertIn(
            "Media URL 'ftp://cdn.example.com/a.png' is not an http:// or https:// link", caught.exception.message
        )
        self.assertIn(
            "Media URL https://private.example.com/b.png cannot be used: "
            "The URL's host private.example.com resolves to 10.0.0.7, which is a private address",
            caught.exception.message,
        )
        self.assertEqual(len(self.http.calls), 0)

    def skip_unless_reading_recent_posts(self):
        if not self.reads_recent_posts:
            self.skipTest(f"{self.adapter.label} does not reconcile by reading recent posts")

    def test_it_finds_a_post_already_published(self):
        self.skip_unless_reading_recent_posts()
        self.mock_recent("Hello world")
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), "found-1")

    def test_it_reads_the_next_page_of_recent_posts(self):
        self.skip_unless_reading_recent_posts()
        continuation = self.mock_recent_pages("Something else", "Hello world")
        self.assertEqual(self.adapter.find_published(self.account, self.draft(), NOW), "found-1")
        self.assertEqual(len(self.http.calls), 2)
        name, value = next(iter(continuation.items()))
        self.assertEqual(self.query(self.http.calls[1])[name], value)

    def test_it_reads_at_most_reconcile_max_pages(self):
        self.skip_unless_reading_recent_posts()
        self.mock_recent_pages("Something else", "Hello world")
        self.http.assert_all_requests_are_fired = False  # the second page is never asked for
        with override_settings(RECONCILE_MAX_PAGES=1):
            self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))
        self.assertEqual(len(self.http.calls), 1)

    def secret_leaks(self) -> dict[str, dict]:
        """Every way a call can fail, each answer or transport error carrying the token as a
        careless platform, proxy or library might put it (in a URL, an echoed header, a body)."""
        url = f"https://api.test/v1/acct-1/feed?fields=id&access_token={SECRET}"
        echo = f"access_token={SECRET} Authorization: Bearer {SECRET} token {SECRET}"
        envelope = {
            # Graph, X (problem+json) and LinkedIn envelopes at once, each quoting the token.
            "error": {"message": f"Invalid OAuth access token {SECRET}", "type": "OAuthException", "code": 190},
            "errors": [{"message": f"Bad token {SECRET}"}],
            "detail": f"Bad token {SECRET}",
            "title": f"Bad token {SECRET}",
            "message": f"Invalid access token {SECRET}",
        }
        return {
            "connection refused": {
                "body": requests.exceptions.ConnectionError(
                    f"HTTPSConnectionPool(host='api.test', port=443): Max retries exceeded with url: {url} "
                    "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] "
                    "Connection refused'))"
                )
            },
            "connection reset": {
                "body": requests.exceptions.ConnectionError(f"('Connection aborted.', {url})"),
            },
            "connect timeout": {"body": requests.exceptions.ConnectTimeout(f"timed out: {url}")},
            "read timeout": {"body": requests.exceptions.ReadTimeout(f"Read timed out. {url} (read timeout=2.0)")},
            "other transport error": {"body": requests.exceptions.ChunkedEncodingError(f"broken {url}")},
            "401 envelope": {"status": 401, "json": {**envelope, "status": 401}},
            "400 envelope": {"status": 400, "json": {**envelope, "error": {**envelope["error"], "code": 100}}},
            "403 envelope": {"status": 403, "json": {**envelope, "status": 403}},
            "429 envelope": {
                "status": 429,
                "json": {**envelope, "error": {**envelope["error"], "code": 4}, "status": 429},
                "headers": {"Retry-After": "30", "x-rate-limit-reset": "99999999999999"},
            },
            "5xx envelope": {"status": 503, "json": {**envelope, "error": {**envelope["error"], "code": 2}}},
            "4xx page echoing the request": {"status": 400, "body": f"<html>{echo}</html>"},
            "5xx page echoing the request": {"status": 502, "body": f"<html>{echo}</html>"},
            "429 page": {"status": 429, "body": echo},
            "malformed success": {"status": 200, "body": f"<html>{echo}</html>"},
            "malformed success, token where the quote is cut": {"status": 201, "body": "x" * 190 + SECRET},
            "success that is not an object": {"status": 200, "json": [SECRET]},
            "NUL bytes": {"status": 400, "body": f"\x00{SECRET}\x00"},
        }

    def test_it_never_lets_the_token_out(self):
        account = Account(
            account_id="acct-1", access_token=SECRET, base_url=self.account.base_url, details=self.account.details
        )
        calls = {
            "publish": (self.mock_key_call, lambda: self.adapter.publish(account, self.draft())),
            "reconcile": (self.mock_recent_call, lambda: self.adapter.find_published(account, self.draft(), NOW)),
        }
        records = CapturedRecords()
        root = logging.getLogger()
        level = root.level
        root.addHandler(records)
        root.setLevel(logging.DEBUG)
        self.addCleanup(root.removeHandler, records)
        self.addCleanup(root.setLevel, level)
        for (call_name, (mock_call, call)), (leak, kwargs) in itertools.product(
            calls.items(), self.secret_leaks().items()
        ):
            with self.subTest(call=call_name, leak=leak):
                self.http.reset()
                mock_call(**kwargs)
                with self.assertRaises(PlatformError) as caught:
                    call()
                error = caught.exception
                for shown in (error.message, str(error), repr(error), *error.args, *format_exception(error)):
                    self.assertNotIn("SECRET", str(shown))
                self.assertNotIn("\x00", error.message)
                self.assertLessEqual(len(error.message), MAX_TEXT)
        self.assertNotIn(SECRET, repr(account))
        for line in records.lines:
            self.assertNotIn("SECRET", line)

    def test_it_does_not_send_a_token_that_cannot_be_decrypted(self):
        account = Account(
            account_id="acct-1",
            access_token=Undecryptable("fernet:stored-under-another-key"),
            base_url=self.account.base_url,
            details=self.account.details,
        )
        calls = [
            lambda: self.adapter.publish(account, self.draft()),
            lambda: self.adapter.find_published(account, self.draft(), NOW),
        ]
        for call in calls:
            with self.assertRaises(TokenExpired) as caught:
                call()
            self.assertEqual(
                caught.exception.message,
                f"The {self.adapter.label} access token cannot be decrypted (was TOKEN_ENCRYPTION_KEY changed?): "
                "reconnect the account.",
            )
        self.assertEqual(len(self.http.calls), 0)

    def test_it_finds_nothing_when_no_recent_post_has_the_text(self):
        self.skip_unless_reading_recent_posts()
        self.mock_recent("Something else")
        self.assertIsNone(self.adapter.find_published(self.account, self.draft(), NOW))
