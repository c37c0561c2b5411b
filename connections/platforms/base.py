"""The one interface every platform adapter speaks.

An adapter turns a platform's HTTP answers into one of three kinds of outcome:

* success: ``publish`` returns :class:`Published` with the platform's id;
* retry later: it raises :class:`TransientError` (try again with backoff),
  :class:`RateLimited` (try again at ``retry_at``) or :class:`NotReady` (the platform is
  still processing media we sent; look again at ``retry_at``);
* give up: it raises :class:`PermanentError` (with the platform's own message) or
  :class:`TokenExpired` (the connection must be reconnected).

Everything above the adapter is platform-blind: it branches on these classes only.
Adapters never retry by themselves; RQ does (one retry mechanism).

Every message of these errors is stored as-is (``Publication.error``), logged and sent in
webhooks, so it is made safe when the error is made: ``planrrr.text.safe_text`` removes the
account's token (and any ``access_token=…`` or ``Bearer …``) and whatever PostgreSQL cannot
store. Errors from a call are scrubbed again with the token of the account it was made for.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from django.conf import settings

from planrrr.crypto import is_undecryptable
from planrrr.http import PlatformSession
from planrrr.text import safe_text, scrub
from planrrr.urlsafety import UnsafeURL, check_public_url

# Pieces a body is read in, so that a deadline is checked between two of them.
READ_PIECE_BYTES = 16 * 1024


class PlatformError(Exception):
    """A classified failure. ``message`` is meant for people: it says what happened and,
    where the platform said why, quotes it."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        maybe_sent: bool = False,
        secrets: Iterable[str | None] = (),
    ):
        message = safe_text(message, secrets=secrets)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        # True when the platform may have acted on the request although we did not get
        # its answer (read timeout, dropped connection, unreadable success body). The next
        # attempt must reconcile before posting again.
        self.maybe_sent = maybe_sent

    def redact(self, secrets: Iterable[str | None]) -> PlatformError:
        """This error with ``secrets`` removed from its message (and so from its repr); returns it."""
        self.message = safe_text(self.message, secrets=secrets)
        self.args = (self.message, *self.args[1:])
        return self


class TransientError(PlatformError):
    """Try again later with backoff: timeouts, connection errors, 5xx, malformed bodies."""


class RateLimited(PlatformError):
    """The platform refused for now; try again at ``retry_at``."""

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class NotReady(PlatformError):
    """The platform is still working on something we started (an Instagram container,
    a video upload): check again at ``retry_at``. Not a failure; costs no retry."""

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class PermanentError(PlatformError):
    """Give up: the platform will never accept this request (validation, duplicate, policy)."""


class Duplicate(PermanentError):
    """The platform refuses the text as one this account already posted (Facebook 506, X 403,
    LinkedIn DUPLICATE_POST). After an attempt whose outcome was lost it usually means that
    attempt went out; the caller says so."""


class TokenExpired(PlatformError):
    """The access token is expired or revoked: the team must reconnect the account."""


@dataclass
class Account:
    """What an adapter needs to act for a connection."""

    account_id: str
    access_token: str = field(repr=False)
    # The connection's own API base (a Mastodon instance, a Bluesky PDS); "" for platforms
    # with one API for everybody, whose base comes from the settings.
    base_url: str = ""

    @classmethod
    def of(cls, connection) -> Account:
        """The account of a stored Connection: every call for it goes through here, so none
        forgets the connection's own server."""
        return cls(account_id=connection.account_id, access_token=connection.access_token, base_url=connection.base_url)


@dataclass
class Draft:
    """What to publish, plus ``state``: the publication's metadata, which the adapter may
    read and update (uploaded ``mediaIds``, pending containers) and which is saved after
    every attempt, whatever its outcome."""

    text: str
    media_urls: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    # Stable for the publication (its part, its first comment) across attempts and unique to this
    # installation, for platforms that take one (Mastodon's Idempotency-Key). A platform may keep
    # it for less time than planrrr waits: it is a second guard, never the only one.
    idempotency_key: str = ""
    # A thread part or a first comment: the platform id of the post this one replies to (X
    # ``reply.in_reply_to_tweet_id``; for a comment, the post commented on), and of the thread's
    # first post (Bluesky's ``reply.root`` needs it); "" for a post of its own.
    reply_to: str = ""
    reply_root: str = ""


@dataclass
class Published:
    external_id: str
    url: str = ""
    metadata: dict = field(default_factory=dict)
    # Set when the platform's usage headers say we are close to its limit: further
    # calls for this account should wait until then.
    slow_down_until: datetime | None = None


class Adapter:
    """Base adapter: declares a platform's limits and validates a draft against them."""

    platform: ClassVar[str]
    label: ClassVar[str]
    max_text_length: ClassVar[int]
    max_images: ClassVar[int]
    requires_media: ClassVar[bool] = False
    # Whether ``publish`` takes ``Draft.reply_to`` (threads). Platforms without say so at the door.
    supports_threads: ClassVar[bool] = False
    # A first comment's limit (a platform's own comment limit where it differs from its posts').
    max_comment_length: ClassVar[int] = 2_200
    # Whether ``publish`` sends ``Draft.idempotency_key`` (Mastodon's Idempotency-Key): the caller
    # makes one only for the platforms that take it.
    takes_idempotency_key: ClassVar[bool] = False

    def text_length(self, text: str) -> int:
        """Length as the platform counts it (X weighs characters; most count code points)."""
        return len(text)

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        """Problems that would make the platform refuse this draft, each saying what to change.
        ``base_url``: the connection's own API base, for platforms whose limits are the
        instance's (Mastodon); the others ignore it."""
        problems = []
        length = self.text_length(text)
        if length > self.max_text_length:
            problems.append(
                f"{self.label} allows at most {self.max_text_length:,} characters; this post has "
                f"{length:,}. Shorten it by {length - self.max_text_length:,}."
            )
        if self.requires_media and not media_urls:
            problems.append(f"{self.label} needs at least one image: add a media URL or remove {self.label}.")
        if len(media_urls) > self.max_images:
            problems.append(f"{self.label} takes at most {self.max_images} images; this post has {len(media_urls)}.")
        return problems

    def refuse_invalid(self, draft: Draft, *, base_url: str = "") -> None:
        """The rules again at publish time, since rows can be written straight into the database,
        past the door: ``validate`` plus ``media_url_problem`` for every media URL. Raises
        PermanentError naming every problem, if there is any."""
        problems = self.validate(text=draft.text, media_urls=draft.media_urls, base_url=base_url)
        problems.extend(problem for url in draft.media_urls if (problem := media_url_problem(url)))
        if problems:
            raise PermanentError(" ".join(problems))

    def stage(self, account: Account, draft: Draft) -> None:
        """Do ahead of the slot what publishing needs before the post itself (upload media,
        create containers), recording it in ``draft.state`` so that ``publish`` then makes a
        single request. Raises a PlatformError subclass on error. Nothing to do by default."""

    def prepare(self, draft: Draft) -> bool:
        """Fix in ``draft.state``, before the request goes out, what finds its outcome if the
        answer is lost (Bluesky: the record key it will write). True if the state changed: the
        caller then writes it on the publication's row before calling ``publish``, so that a
        worker killed mid-request leaves it to the next attempt's ``find_published``. Nothing
        by default (a platform's idempotency key or a search of recent posts does that)."""
        return False

    def publish(self, account: Account, draft: Draft) -> Published:
        """Publish the draft. Returns Published; raises a PlatformError subclass on error."""
        raise NotImplementedError

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """Reconciliation: the id of the post this draft would be if an attempt since ``since``
        made it (by what planrrr chose before sending, or by its text among the account's recent
        posts; for a thread part, among its posts and replies), or None. Called before retrying an
        attempt whose outcome is unknown, however long after: it must not count on anything the
        platform keeps for less time than planrrr may wait (a rate limit, a person's retry)."""
        raise NotImplementedError

    def comment(self, account: Account, draft: Draft) -> str:
        """Comment ``draft.text`` on the account's post ``draft.reply_to`` (on X, Bluesky and
        Mastodon a reply to it, ``draft.reply_root`` the post too); returns the comment's id.
        ``draft.state`` is the comment's own across its attempts (what ``prepare`` fixes), its
        ``idempotency_key`` the comment's. Raises a PlatformError subclass on error."""
        raise PermanentError(f"{self.label} takes no first comment from planrrr.")

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """Reconciliation of a first comment whose outcome is unknown, as ``find_published`` for a
        post: the id of the account's comment ``draft`` on ``draft.reply_to``, or None."""
        return None


class HttpAdapter(Adapter):
    """Adapter speaking HTTP with ``requests``: one session, timeouts on every call,
    transport errors classified, JSON decoded. A platform subclass implements
    ``raise_for_response`` for its error envelope."""

    base_url_setting: ClassVar[str]
    # What the calls go through: for one API for everybody, the proxy and CA bundle variables read
    # once per host, not at every request (planrrr.http). ``get_adapter`` shares one per class.
    session_class: ClassVar[type[requests.Session]] = PlatformSession

    def __init__(self, session: requests.Session | None = None):
        self.session = session or self.session_class()

    @property
    def base_url(self) -> str:
        return getattr(settings, self.base_url_setting).rstrip("/")

    def request(self, method: str, path: str, *, account: Account | None = None, **kwargs: Any) -> requests.Response:
        """Send one request for ``account`` (its token placed by ``authorize``), read the whole
        answer within PLATFORM_CALL_DEADLINE_SECONDS, and classify failures. Never follows
        redirects. No error raised here carries the account's token, whatever the platform or
        the transport put in their texts."""
        secrets = (account.access_token,) if account else ()
        try:
            if account is not None:
                self.authorize(account, method, kwargs)
            response = self.send(method, path, **kwargs)
            self.raise_for_response(response)
        except PlatformError as err:
            err.redact(secrets)
            raise
        return response

    def authorize(self, account: Account, method: str, kwargs: dict[str, Any]) -> None:
        """Put the account's token where the platform takes it (a header, by default a Bearer
        token). A token that cannot be decrypted is never sent: the account must be reconnected."""
        if is_undecryptable(account.access_token):
            raise TokenExpired(
                f"The {self.label} access token cannot be decrypted (was TOKEN_ENCRYPTION_KEY changed?): "
                "reconnect the account."
            )
        if not account.access_token:
            raise TokenExpired(f"The {self.label} connection has no access token: reconnect the account.")
        kwargs["headers"] = {"Authorization": f"Bearer {account.access_token}", **kwargs.get("headers", {})}

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The HTTP exchange itself, within an overall deadline: requests' read timeout bounds
        each read, so an answer dripping a byte at a time would hold the worker for the whole job
        timeout. Transport failures are TransientErrors; the request exceptions are not kept as
        their cause, since their text holds the URL (with the Graph API, the token)."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        kwargs.setdefault("timeout", settings.PLATFORM_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        seconds = settings.PLATFORM_CALL_DEADLINE_SECONDS
        deadline = time.monotonic() + seconds
        try:
            response = self.session.request(method, url, stream=True, **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise TransientError(f"{self.label} API did not accept the connection in time") from None
        except requests.exceptions.ReadTimeout:
            # The request went out; the platform may have acted on it.
            raise TransientError(
                f"{self.label} API error: network timeout waiting for the answer", maybe_sent=True
            ) from None
        except requests.exceptions.ConnectionError as err:
            sent = not _is_connect_failure(err)
            raise TransientError(
                f"{self.label} API error: connection failed ({_short(err)})", maybe_sent=sent
            ) from None
        except requests.exceptions.RequestException as err:
            raise TransientError(f"{self.label} API error: {_short(err)}", maybe_sent=True) from None
        try:
            # Read here, within the deadline, and kept where requests keeps a body it read itself
            # (``response.content``, ``.json()`` and ``.text`` then read it from memory).
            response._content = read_within(response, deadline=deadline)
        except DeadlineExceeded:
            response.close()
            raise TransientError(
                f"{self.label} API error: the answer did not finish within {seconds:g} s", maybe_sent=True
            ) from None
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as err:
            response.close()
            raise TransientError(
                f"{self.label} API error: the answer broke off ({err.__class__.__name__})", maybe_sent=True
            ) from None
        return response

    def raise_for_response(self, response: requests.Response) -> None:
        """Raise the PlatformError this response means; return None if it is a success."""
        raise NotImplementedError

    def status_error(self, response: requests.Response, message: str, *, duplicate: bool = False) -> PlatformError:
        """What an error status means on platforms whose errors follow HTTP (X, LinkedIn): 401
        token expired or revoked, 429 rate limited until ``retry_at``, 5xx transient (the
        platform may have acted), a duplicate refusal, anything else permanent."""
        status = response.status_code
        if status == 401:
            return TokenExpired(message, status_code=status)
        if status == 429:
            return RateLimited(message, retry_at=self.retry_at(response), status_code=status)
        if status >= 500:
            return TransientError(message, status_code=status, maybe_sent=True)
        if duplicate:
            return Duplicate(message, status_code=status)
        return PermanentError(message, status_code=status)

    def retry_at(self, response: requests.Response) -> datetime:
        """When a rate-limited request may be sent again, from the platform's headers."""
        raise NotImplementedError

    def json(self, response: requests.Response) -> dict:
        """Decode a success body. An unreadable one is transient, and the platform may have
        acted on the request, so the next attempt reconciles."""
        try:
            body = response.json()
        except ValueError as err:
            raise TransientError(
                f"{self.label} API error: malformed answer (HTTP {response.status_code}, not JSON): {quoted(response)}",
                status_code=response.status_code,
                maybe_sent=True,
            ) from err
        if not isinstance(body, dict):
            raise TransientError(
                f"{self.label} API error: malformed answer (expected a JSON object): {quoted(response)}",
                status_code=response.status_code,
                maybe_sent=True,
            )
        return body

    def malformed(self, response: requests.Response, what: str) -> TransientError:
        return TransientError(
            f"{self.label} API error: malformed answer, {what}: {quoted(response)}",
            status_code=response.status_code,
            maybe_sent=True,
        )


class DeadlineExceeded(Exception):
    """A body was still arriving at its deadline."""


class BodyTooLarge(Exception):
    """A body went past the byte limit it was read with."""


def read_within(response: requests.Response, *, deadline: float, limit: int | None = None) -> bytes:
    """The whole body of a streamed response, read in small pieces, by ``deadline`` (a
    ``time.monotonic()`` value) and, if given, within ``limit`` bytes. Raises DeadlineExceeded or
    BodyTooLarge, or what the transport raises (urllib3 errors, OSError).

    urllib3's ``read1`` returns as soon as some bytes are there, so a drip is checked against the
    deadline at every piece. A server that sends nothing blocks the read until the read timeout,
    which may be later, and a chunked answer can drip its chunk-size line inside one read: at the
    deadline the process's watchdog shuts the socket for reading (urllib3's
    ``HTTPResponse.shutdown``, made to unblock a read from another thread), and the read ends.
    """
    raw = response.raw
    watch = _watchdog.watch(raw, deadline)
    pieces, total = [], 0
    try:
        while True:
            if watch.expired or time.monotonic() >= deadline:
                raise DeadlineExceeded
            try:
                piece = raw.read1(READ_PIECE_BYTES)
            except (urllib3.exceptions.HTTPError, OSError):
                if watch.expired:
                    raise DeadlineExceeded from None
                raise
            if not piece:
                if watch.expired:
                    raise DeadlineExceeded
                return b"".join(pieces)
            total += len(piece)
            # Content-Length may be absent or lie: count what actually arrives.
            if limit is not None and total > limit:
                raise BodyTooLarge
            pieces.append(piece)
    finally:
        _watchdog.done(watch)


class _Watch:
    """A body being read: its response, until the read is done, and whether its deadline came."""

    __slots__ = ("raw", "expired")

    def __init__(self, raw: Any):
        self.raw = raw
        self.expired = False


class _Watchdog:
    """One thread per process that shuts the socket of every read still going at its deadline.

    A ``threading.Timer`` per read did the same for 60-90 µs of CPU a request, and more of wall
    time (a thread started, waited for and ended each time). Here a read costs a heap push under
    a lock (~2 µs). A finished read is only marked
    done; the thread, asleep until the earliest deadline, drops those marked when it wakes, so in
    a worker reading one answer after another it wakes about once per deadline's length, and is
    woken early only when a read's deadline comes before the one it sleeps until.
    """

    def __init__(self) -> None:
        self._reset()
        # A forked child has no thread, and its copy of the lock may have been taken at the fork.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Condition(threading.Lock())
        self._deadlines: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()  # the heap never compares two _Watch
        self._thread: threading.Thread | None = None
        self._wakes_at = math.inf

    def watch(self, raw: Any, deadline: float) -> _Watch:
        watch = _Watch(raw)
        with self._lock:
            heapq.heappush(self._deadlines, (deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="planrrr-read-deadlines", daemon=True)
                self._thread.start()
            elif deadline < self._wakes_at:
                self._lock.notify()
        return watch

    def done(self, watch: _Watch) -> None:
        # Under the lock: once this returns, the thread cannot shut this response's socket (by
        # then back in the pool, for another request).
        with self._lock:
            watch.raw = None

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._deadlines and (self._deadlines[0][2].raw is None or self._deadlines[0][0] <= now):
                    _, _, watch = heapq.heappop(self._deadlines)
                    if watch.raw is not None:
                        watch.expired = True
                        _shut(watch.raw)
                        watch.raw = None
                self._wakes_at = self._deadlines[0][0] if self._deadlines else math.inf
                self._lock.wait(self._wakes_at - now if self._deadlines else None)


def _shut(raw: Any) -> None:
    try:
        raw.shutdown()
    except (ValueError, RuntimeError, OSError, AttributeError):
        pass  # not a socket (a test double), or already done with it


_watchdog = _Watchdog()


def request_secrets(request: requests.PreparedRequest | None) -> list[str]:
    """The credentials a request carried: its Authorization header's and any ``access_token``
    in its URL or form body. A body quoted from an answer is scrubbed of them: a proxy or an
    error page may echo the request."""
    if request is None:
        return []
    secrets = []
    authorization = request.headers.get("Authorization", "")
    if authorization:
        secrets.append(authorization.split(" ", 1)[-1])
    body = request.body if isinstance(request.body, str | bytes) else ""
    for text in (urlsplit(request.url or "").query, body):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        secrets.extend(value for name, value in parse_qsl(text) if name == "access_token")
    return secrets


def quoted(response: requests.Response, limit: int = 200) -> str:
    """The start of an answer's body, quoted for an error message, without the request's credentials
    (scrubbed before it is cut, so that no part of one can remain)."""
    text = response.text
    if not text:
        return "''"
    return repr(safe_text(text, secrets=request_secrets(response.request), limit=limit))


def media_url_problem(url: str) -> str | None:
    """Why a media URL cannot be used, in words that say what to change, or None if it can.

    Only http(s) links, and, unless ``MEDIA_ALLOW_PRIVATE_URLS`` is set, only ones that resolve
    to public addresses: Facebook and Instagram fetch the URL themselves, but X and LinkedIn
    make *us* fetch it, and a link to 169.254.169.254 or 10.x must not turn planrrr into a proxy
    into its own network.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. "http://[::1": an unbalanced IPv6 bracket
        hostname = None
    if not hostname or parts.scheme not in ("http", "https"):
        return f"Media URL {url!r} is not an http:// or https:// link: use a public link to the image."
    if settings.MEDIA_ALLOW_PRIVATE_URLS:
        return None
    try:
        check_public_url(url)
    except UnsafeURL as err:
        if not err.permanent:
            # The name did not resolve just now: no reason to refuse the post. If it still does
            # not when the image is fetched (by us or by the platform), that attempt fails and
            # is retried.
            return None
        return f"Media URL {url} cannot be used: {err}"
    return None


def parse_time(value: Any) -> datetime | None:
    """A platform's ISO 8601 timestamp (``2024-05-01T10:00:00+0000``, ``...Z``) as an aware
    datetime, UTC when it states no offset; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def error_body(response: requests.Response) -> dict:
    """The JSON body of an error response, or {} if it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def header_json(response: requests.Response, name: str) -> Any:
    try:
        return json.loads(response.headers.get(name, ""))
    except ValueError:
        return None


def _is_connect_failure(err: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never established, so nothing was sent."""
    text = repr(err)
    return bool(re.search(r"NewConnectionError|Connection refused|Name or service not known|NameResolution", text))


def _short(err: Exception) -> str:
    # Scrubbed before it is cut: requests' texts hold the URL, with the Graph API the token.
    return safe_text(scrub(str(err)), limit=200)


class _ScrubURLs(logging.Filter):
    """urllib3 logs every request's URL at DEBUG ('"GET /v21.0/1/feed?access_token=… HTTP/1.1" 200'):
    with the Graph API that is the token. Its records are scrubbed before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_ScrubURLs())
