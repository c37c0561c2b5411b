"""A media URL's kind, and fetching a post's images and videos for the platforms that take bytes
(images: X, LinkedIn; videos: TikTok's FILE_UPLOAD, YouTube's resumable upload).

A media URL is an image or a video by its path's extension (``media_kind``: .mp4, .m4v, .mov and
.webm are videos, anything else an image), the same rule at the door and at publish time;
docs/posts.md says so to users. Facebook, Instagram, Threads and Pinterest fetch
``media_urls`` themselves; the others make us upload the bytes.

A media URL is a user's input pointing anywhere, so the fetch is bounded on every side: http(s)
only; public addresses only, through planrrr.urlsafety's session, which checks every request
(each redirect hop too) and connects to the very address it checked (no DNS rebinding); a
connect and read timeout, and an overall deadline (MEDIA_FETCH_DEADLINE_SECONDS, redirects
included: a server dripping a byte at a time passes every read timeout); a byte cap checked
against Content-Length and again while streaming; an ``image/*`` content type (a video:
``video/*``, or bytes that are one). An image is read into memory (MEDIA_MAX_BYTES); a video is
streamed into a temporary file (MEDIA_MAX_VIDEO_BYTES, MEDIA_VIDEO_FETCH_DEADLINE_SECONDS) that
the upload reads chunk by chunk, and removed when the :class:`Video` is closed.

Outcomes follow the adapters' classes: a URL that can never work (404, 410, too large, not an
image, private) is a PermanentError naming the URL; one that may work later (timeout, connection
error, 5xx, 429) is a TransientError.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings

from connections.platforms.base import PermanentError, TransientError
from connections.platforms.kinds import media_kind, split_media  # noqa: F401 (re-exported)
from connections.platforms.reading import BodyTooLarge, DeadlineExceeded, read_within
from planrrr.urlsafety import UnsafeURL, public_session

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Media:
    url: str
    content: bytes
    content_type: str
    filename: str


@dataclass
class Video:
    """A downloaded video: a temporary file of ``size`` bytes, read a chunk at a time. Close it
    (or use it in a ``with``) to remove the file."""

    url: str
    path: str
    size: int
    content_type: str
    filename: str
    _closed: bool = field(default=False, repr=False)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end): one chunk of an upload, or the rest
        of one after the platform said how much of it arrived."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def chunks(self, size: int, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of each ``size``-byte chunk from ``start`` to the end."""
        offset = start
        while offset < self.size:
            piece = self.read(offset, size)
            yield offset, piece
            offset += len(piece)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch_media(url: str) -> Media:
    """Download one image. Returns Media; raises PermanentError or TransientError naming the URL."""
    deadline = time.monotonic() + settings.MEDIA_FETCH_DEADLINE_SECONDS
    return _fetch(url, lambda response: _read(url, response, deadline), accept="image/*")


def fetch_video(url: str) -> Video:
    """Download one video into a temporary file. Returns Video (close it when done); raises
    PermanentError or TransientError naming the URL."""
    deadline = time.monotonic() + settings.MEDIA_VIDEO_FETCH_DEADLINE_SECONDS
    return _fetch(url, lambda response: _read_video(url, response, deadline), accept="video/*")


def _fetch(url: str, read, *, accept: str):
    current = url
    with public_session(allow_private=settings.MEDIA_ALLOW_PRIVATE_URLS) as session:
        for _ in range(MAX_REDIRECTS + 1):
            if not _is_http(current):
                where = "it is" if current == url else f"it redirects to {current}, which is"
                raise PermanentError(f"Could not use media {url}: {where} not an http:// or https:// link.")
            response = _get(url, current, session, accept=accept)
            with response:
                # Redirects are followed by hand, so that each hop is checked like the first.
                if response.is_redirect and response.headers.get("Location"):
                    current = _join(current, response.headers["Location"])
                    continue
                return read(response)
    raise PermanentError(f"Could not use media {url}: it redirects more than {MAX_REDIRECTS} times.")


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _join(base: str, location: str) -> str:
    try:
        return urljoin(base, location)
    except ValueError:
        return location


def _get(url: str, current: str, session: requests.Session, *, accept: str) -> requests.Response:
    try:
        return session.get(
            current,
            stream=True,
            timeout=settings.MEDIA_FETCH_TIMEOUT,
            allow_redirects=False,
            headers={"Accept": accept},
        )
    except UnsafeURL as err:
        where = "" if current == url else f" (it redirects to {current})"
        if err.permanent:
            raise PermanentError(f"Could not use media {url}{where}: {err}") from err
        raise TransientError(f"Could not fetch media {url}{where}: {err}") from err
    except requests.exceptions.Timeout as err:
        raise TransientError(f"Could not fetch media {url}: it did not answer in time.") from err
    except requests.exceptions.RequestException as err:
        raise TransientError(f"Could not fetch media {url}: {err.__class__.__name__}.") from err


def _check_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status in (408, 429) or status >= 500:
        raise TransientError(f"Could not fetch media {url}: it answered HTTP {status}; will try again.")
    if status in (404, 410):
        raise PermanentError(f"Could not use media {url}: it answered HTTP {status} (not found). Check the link.")
    if status >= 300:
        raise PermanentError(f"Could not use media {url}: it answered HTTP {status}.")


def _read(url: str, response: requests.Response, deadline: float) -> Media:
    _check_status(url, response)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise PermanentError(f"Could not use media {url}: it is {content_type or 'of no stated type'}, not an image.")

    limit = settings.MEDIA_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PermanentError(f"Could not use media {url}: it is {_size(int(declared))}, the limit is {_size(limit)}.")
    try:
        content = read_within(response, deadline=deadline, limit=limit)
    except BodyTooLarge:
        raise PermanentError(
            f"Could not use media {url}: it is more than {_size(limit)}, the limit is {_size(limit)}."
        ) from None
    except DeadlineExceeded:
        raise TransientError(
            f"Could not fetch media {url}: the download did not finish within "
            f"{settings.MEDIA_FETCH_DEADLINE_SECONDS:g} s."
        ) from None
    except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as err:
        raise TransientError(
            f"Could not fetch media {url}: the download broke off ({err.__class__.__name__})."
        ) from err
    return Media(url=url, content=content, content_type=content_type, filename=_filename(url, content_type))


def _read_video(url: str, response: requests.Response, deadline: float) -> Video:
    _check_status(url, response)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    limit = settings.MEDIA_MAX_VIDEO_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PermanentError(f"Could not use video {url}: it is {_size(int(declared))}, the limit is {_size(limit)}.")
    handle = tempfile.NamedTemporaryFile(prefix="planrrr-video-", suffix=".part", delete=False)  # noqa: SIM115
    try:
        with handle:
            read_within(response, deadline=deadline, limit=limit, into=handle)
        size = os.path.getsize(handle.name)
        with open(handle.name, "rb") as written:
            head = written.read(16)
    except BodyTooLarge:
        os.unlink(handle.name)
        raise PermanentError(
            f"Could not use video {url}: it is more than {_size(limit)}, the limit is {_size(limit)}."
        ) from None
    except DeadlineExceeded:
        os.unlink(handle.name)
        raise TransientError(
            f"Could not fetch video {url}: the download did not finish within "
            f"{settings.MEDIA_VIDEO_FETCH_DEADLINE_SECONDS:g} s."
        ) from None
    except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as err:
        os.unlink(handle.name)
        raise TransientError(
            f"Could not fetch video {url}: the download broke off ({err.__class__.__name__})."
        ) from err
    sniffed = video_type(head)
    # Stores often serve a video as application/octet-stream: the bytes decide, not the label.
    if sniffed is None:
        os.unlink(handle.name)
        raise PermanentError(
            f"Could not use video {url}: it is {content_type or 'of no stated type'}, not an MP4, QuickTime "
            "or WebM video."
        )
    if not content_type.startswith("video/"):
        content_type = sniffed
    return Video(url=url, path=handle.name, size=size, content_type=content_type, filename=_filename(url, content_type))


def video_type(head: bytes) -> str | None:
    """The content type of a video file by its first bytes (an ISO BMFF ``ftyp`` box: MP4 or
    QuickTime; an EBML header: WebM), or None if it is none of these."""
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


def _filename(url: str, content_type: str) -> str:
    name = posixpath.basename(urlsplit(url).path)
    if name and "." in name:
        return name
    fallback = "video" if content_type.startswith("video/") else "image"
    return (name or fallback) + (mimetypes.guess_extension(content_type) or "")


def _size(n: int) -> str:
    """14 MB, 8 MB, 512 KB: sizes as people read them."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n / 1024))} KB"
