"""Reading an answer whole within a deadline (and, if asked, a byte limit), for every platform
call: the adapters' (``connections.platforms.http``), the connect and renewal clients'
(``connections.oauth``) and the media downloads' (``connections.platforms.media``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
import time
from typing import Any, BinaryIO

import requests
import urllib3

# Pieces a body is read in, so that a deadline is checked between two of them.
READ_PIECE_BYTES = 16 * 1024


class DeadlineExceeded(Exception):
    """A body was still arriving at its deadline."""


class BodyTooLarge(Exception):
    """A body went past the byte limit it was read with."""


def read_within(
    response: requests.Response, *, deadline: float, limit: int | None = None, into: BinaryIO | None = None
) -> bytes:
    """The whole body of a streamed response, read in small pieces, by ``deadline`` (a
    ``time.monotonic()`` value) and, if given, within ``limit`` bytes. Raises DeadlineExceeded or
    BodyTooLarge, or what the transport raises (urllib3 errors, OSError). With ``into`` (a file
    open for writing), the pieces are written there as they arrive and b"" is returned: a video
    is not held in memory.

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
            if into is None:
                pieces.append(piece)
            else:
                into.write(piece)
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
