"""Fetching a post's images for the platforms that take bytes (X, LinkedIn).

Facebook and Instagram fetch ``media_urls`` themselves; X and LinkedIn make us upload the
bytes. A media URL is a user's input pointing anywhere, so the fetch is bounded on every
side: http(s) only; public addresses only, through planrrr.urlsafety's session, which checks
every request (each redirect hop too) and connects to the very address it checked (no DNS
rebinding); a connect and read timeout, and an overall deadline (MEDIA_FETCH_DEADLINE_SECONDS,
redirects included: a server dripping a byte at a time passes every read timeout); a byte cap
checked against Content-Length and again while streaming; an ``image/*`` content type.

Outcomes follow the adapters' classes: a URL that can never work (404, 410, too large, not
an image, private) is a PermanentError naming the URL; one that may work later (timeout,
connection error, 5xx, 429) is a TransientError.
"""

from __future__ import annotations

import mimetypes
import posixpath
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings

from connections.platforms.base import PermanentError, TransientError
from connections.platforms.reading import BodyTooLarge, DeadlineExceeded, read_within
from planrrr.urlsafety import UnsafeURL, public_session

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Media:
    url: str
    content: bytes
    content_type: str
    filename: str


def fetch_media(url: str) -> Media:
    """Download one image. Returns Media; raises PermanentError or TransientError naming the URL."""
    current = url
    deadline = time.monotonic() + settings.MEDIA_FETCH_DEADLINE_SECONDS
    with public_session(allow_private=settings.MEDIA_ALLOW_PRIVATE_URLS) as session:
        for _ in range(MAX_REDIRECTS + 1):
            if not _is_http(current):
                where = "it is" if current == url else f"it redirects to {current}, which is"
                raise PermanentError(f"Could not use media {url}: {where} not an http:// or https:// link.")
            response = _get(url, current, session)
            with response:
                # Redirects are followed by hand, so that each hop is checked like the first.
                if response.is_redirect and response.headers.get("Location"):
                    current = _join(current, response.headers["Location"])
                    continue
                return _read(url, response, deadline)
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


def _get(url: str, current: str, session: requests.Session) -> requests.Response:
    try:
        return session.get(
            current,
            stream=True,
            timeout=settings.MEDIA_FETCH_TIMEOUT,
            allow_redirects=False,
            headers={"Accept": "image/*"},
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


def _read(url: str, response: requests.Response, deadline: float) -> Media:
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
