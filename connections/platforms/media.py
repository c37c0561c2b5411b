"""Fetching a post's images for the platforms that take bytes (X, LinkedIn).

Facebook and Instagram fetch ``media_urls`` themselves; X and LinkedIn make us upload the
bytes. A media URL is a user's input pointing anywhere, so the fetch is bounded on every
side: http(s) only, public addresses only (checked again at every redirect), a connect and
read timeout, a byte cap checked against Content-Length and again while streaming, and an
``image/*`` content type.

Outcomes follow the adapters' classes: a URL that can never work (404, 410, too large, not
an image, private) is a PermanentError naming the URL; one that may work later (timeout,
connection error, 5xx, 429) is a TransientError.
"""

from __future__ import annotations

import mimetypes
import posixpath
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from .base import PermanentError, TransientError, media_url_problem

CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Media:
    url: str
    content: bytes
    content_type: str
    filename: str


def fetch_media(url: str, *, session: requests.Session | None = None) -> Media:
    """Download one image. Returns Media; raises PermanentError or TransientError naming the URL."""
    session = session or requests.Session()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        problem = media_url_problem(current)
        if problem:
            raise PermanentError(problem if current == url else f"Could not use media {url}: it redirects. {problem}")
        response = _get(url, current, session)
        with response:
            # Redirects are followed by hand so that every hop passes the address check.
            if response.is_redirect and response.headers.get("Location"):
                current = urljoin(current, response.headers["Location"])
                continue
            return _read(url, response)
    raise PermanentError(f"Could not use media {url}: it redirects more than {MAX_REDIRECTS} times.")


def _get(url: str, current: str, session: requests.Session) -> requests.Response:
    try:
        return session.get(
            current,
            stream=True,
            timeout=settings.MEDIA_FETCH_TIMEOUT,
            allow_redirects=False,
            headers={"Accept": "image/*"},
        )
    except requests.exceptions.Timeout as err:
        raise TransientError(f"Could not fetch media {url}: it did not answer in time.") from err
    except requests.exceptions.RequestException as err:
        raise TransientError(f"Could not fetch media {url}: {err.__class__.__name__}.") from err


def _read(url: str, response: requests.Response) -> Media:
    status = response.status_code
    if status in (408, 429) or status >= 500:
        raise TransientError(f"Could not fetch media {url}: it answered HTTP {status}; will try again.")
    if status in (404, 410):
        raise PermanentError(f"Could not use media {url}: it answered HTTP {status} (not found). Check the link.")
    if status >= 300:
        raise PermanentError(f"Could not use media {url}: it answered HTTP {status}.")

    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise PermanentError(f"Could not use media {url}: it is {content_type or 'of no stated type'}, not an image.")

    limit = settings.MEDIA_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PermanentError(f"Could not use media {url}: it is {_size(int(declared))}, the limit is {_size(limit)}.")
    chunks, total = [], 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            total += len(chunk)
            # Content-Length may be absent or lie: count what actually arrives.
            if total > limit:
                raise PermanentError(
                    f"Could not use media {url}: it is more than {_size(limit)}, the limit is {_size(limit)}."
                )
            chunks.append(chunk)
    except requests.exceptions.RequestException as err:
        raise TransientError(
            f"Could not fetch media {url}: the download broke off ({err.__class__.__name__})."
        ) from err
    return Media(url=url, content=b"".join(chunks), content_type=content_type, filename=_filename(url, content_type))


def _filename(url: str, content_type: str) -> str:
    name = posixpath.basename(urlsplit(url).path)
    if name and "." in name:
        return name
    return (name or "image") + (mimetypes.guess_extension(content_type) or "")


def _size(n: int) -> str:
    """14 MB, 8 MB, 512 KB: sizes as people read them."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n / 1024))} KB"
