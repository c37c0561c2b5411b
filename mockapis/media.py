"""A media file server for posts' ``media_urls``, and the image handling the platforms share.

``GET media/<name>`` serves a small real image made in code (16x16; JPEG for ``.jpg`` /
``.jpeg`` names, PNG otherwise) with Content-Type and Content-Length; a video's name (.mp4, .m4v,
.mov, .webm: connections.platforms.kinds) gets a real 3-second 180x320 H.264/AAC MP4
(``files/sample.mp4``, made with ffmpeg: ``testsrc`` and a 440 Hz ``sine``), and
``...-big.<ext>`` the same padded by a ``free`` box to 1.25 MB, for uploads in several chunks.
The name picks a fault:

* ``...-missing.<ext>``: 404.
* ``...-huge.<ext>``: announces a Content-Length of 60 MB (above any platform's image limit),
  sends a few bytes and cuts the connection (nothing that big is ever allocated).
* ``...-slow.<ext>``: sleeps ``media_slow_seconds`` (``_control/config``, default 30 s) before
  answering, longer than any sensible fetch timeout.
* ``...-text.<ext>``: an HTML page (``text/html``) instead of an image.
* ``...-drip.<ext>``: the image, one byte a second (each read arrives well within any read
  timeout; only an overall deadline stops the download).

Facebook, Instagram and Threads fetch media URLs themselves (docs/platforms/facebook.md: ``/photos`` takes ``url``,
``/media`` takes ``image_url``): :func:`fetch_image` does that here, for real, with a timeout
and a size cap (:func:`fetch_video` for a video). X and LinkedIn receive bytes: :func:`sniff`
checks that they are an image, :func:`sniff_video` that they are a video.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import requests
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from .gate import ConnectionDropped, drop_connection
from .records import iso
from .state import store

SIZE = 16
COLOR = (0x2E, 0x86, 0xDE)
HUGE_BYTES = 60 * 1024 * 1024
# The most the stand-in's Facebook and Instagram accept from an image URL (Instagram's limit
# for a JPEG is 8 MB).
FETCH_MAX_BYTES = 8 * 1024 * 1024


def png(width: int = SIZE, height: int = SIZE, color: tuple[int, int, int] = COLOR) -> bytes:
    """A valid RGB PNG of one colour: signature, IHDR, one zlib IDAT, IEND (RFC 2083)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(color) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = SIZE, height: int = SIZE, gray: int = 0x66) -> bytes:
    """A valid baseline greyscale JPEG of one shade (ITU T.81).

    With a quantisation table of ones, a flat 8x8 block has only a DC coefficient,
    8 * (gray - 128), and every AC coefficient zero (end of block). So two tiny Huffman tables
    suffice: DC categories 0 (code ``0``) and the one of the first block (code ``10``), and AC
    EOB (code ``0``). Every block after the first repeats the DC value: difference 0.
    """
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    dc = 8 * (gray - 128)
    category = abs(dc).bit_length()
    bits = ""
    for i in range(blocks):
        diff = dc if i == 0 else 0
        if diff:
            extra = diff if diff > 0 else diff + (1 << category) - 1
            bits += "10" + format(extra, f"0{category}b")
        else:
            bits += "0"
        bits += "0"  # AC: end of block
    bits += "1" * (-len(bits) % 8)
    scan = bytearray()
    for i in range(0, len(bits), 8):
        byte = int(bits[i : i + 8], 2)
        scan += bytes([byte, 0]) if byte == 0xFF else bytes([byte])

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    dc_symbols = [0] if category == 0 else [0, category]
    dc_counts = [1, 0] if category == 0 else [1, 1]
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + bytes(dc_counts + [0] * 14) + bytes(dc_symbols))
        + segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + bytes(scan)
        + b"\xff\xd9"
    )


PNG_BYTES = png()
JPEG_BYTES = jpeg()
MP4_BYTES = (Path(__file__).parent / "files" / "sample.mp4").read_bytes()
# The names served as a video: the extensions planrrr reads as one (docs/posts.md).
VIDEO_NAMES = (".mp4", ".m4v", ".mov", ".webm")
# What ``...-big.mp4`` weighs: five of YouTube's 256 KiB upload chunks.
BIG_VIDEO_BYTES = 5 * 256 * 1024
# The most the stand-ins accept from a video URL they fetch themselves.
FETCH_MAX_VIDEO_BYTES = 100 * 1024 * 1024


def padded_mp4(size: int) -> bytes:
    """The sample MP4 grown to ``size`` bytes by a trailing ``free`` box, which players skip
    (ISO/IEC 14496-12, 8.1.2): still a valid video."""
    pad = size - len(MP4_BYTES)
    if pad < 8:
        return MP4_BYTES
    return MP4_BYTES + struct.pack(">I", pad) + b"free" + b"\x00" * (pad - 8)


BIG_MP4_BYTES = padded_mp4(BIG_VIDEO_BYTES)


@dataclass(frozen=True)
class Image:
    content_type: str
    width: int
    height: int
    size: int


def sniff(data: bytes, size: int | None = None) -> Image | None:
    """What image the bytes start with (PNG, JPEG, GIF, WebP), or None if they are none."""
    size = len(data) if size is None else size
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return Image("image/png", width, height, size)
    if data.startswith(b"GIF8") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return Image("image/gif", width, height, size)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Image("image/webp", 0, 0, size)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data, size)
    return None


@dataclass(frozen=True)
class Video:
    content_type: str
    size: int


def sniff_video(data: bytes, size: int | None = None) -> Video | None:
    """What video the bytes start with (MP4 or QuickTime by their ``ftyp`` box, WebM by its EBML
    header), or None if they are none."""
    size = len(data) if size is None else size
    if data[4:8] == b"ftyp":
        return Video("video/quicktime" if data[8:10] == b"qt" else "video/mp4", size)
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return Video("video/webm", size)
    return None


def _jpeg_size(data: bytes, size: int) -> Image:
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return Image("image/jpeg", width, height, size)
        i += 2 + length
    return Image("image/jpeg", 0, 0, size)


class FetchError(Exception):
    """An image URL that could not be used; the message says why, for the platform's error."""


def fetch_image(url: str, timeout: float) -> Image:
    """Download an image as Facebook or Instagram would: a timeout, a size cap, image bytes only."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FetchError(f"{url!r} is not an http(s) URL")
    try:
        with requests.get(url, stream=True, timeout=(min(timeout, 5.0), timeout)) as response:
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > FETCH_MAX_BYTES:
                raise FetchError(f"{url} is {int(declared):,} bytes, more than {FETCH_MAX_BYTES:,}")
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > FETCH_MAX_BYTES:
                    raise FetchError(f"{url} is more than {FETCH_MAX_BYTES:,} bytes")
    except requests.exceptions.Timeout as err:
        raise FetchError(f"{url} did not answer within {timeout:g} s") from err
    except requests.exceptions.RequestException as err:
        raise FetchError(f"{url} could not be downloaded ({err.__class__.__name__})") from err
    image = sniff(bytes(data))
    if image is None:
        kind = response.headers.get("Content-Type", "no content type")
        raise FetchError(f"{url} is not an image ({kind})")
    return image


def fetch_video(url: str, timeout: float) -> Video:
    """Download a video as a platform that pulls from a URL would (Facebook's ``file_url``,
    Instagram's and Threads' ``video_url``, TikTok's PULL_FROM_URL, Pinterest's media source):
    a timeout, a size cap, video bytes only."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FetchError(f"{url!r} is not an http(s) URL")
    try:
        with requests.get(url, stream=True, timeout=(min(timeout, 5.0), timeout)) as response:
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > FETCH_MAX_VIDEO_BYTES:
                raise FetchError(f"{url} is {int(declared):,} bytes, more than {FETCH_MAX_VIDEO_BYTES:,}")
            head, size = b"", 0
            for chunk in response.iter_content(256 * 1024):
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                size += len(chunk)
                if size > FETCH_MAX_VIDEO_BYTES:
                    raise FetchError(f"{url} is more than {FETCH_MAX_VIDEO_BYTES:,} bytes")
    except requests.exceptions.Timeout as err:
        raise FetchError(f"{url} did not answer within {timeout:g} s") from err
    except requests.exceptions.RequestException as err:
        raise FetchError(f"{url} could not be downloaded ({err.__class__.__name__})") from err
    video = sniff_video(head, size)
    if video is None:
        kind = response.headers.get("Content-Type", "no content type")
        raise FetchError(f"{url} is not a video ({kind})")
    return video


@require_safe
def serve(request: HttpRequest, name: str) -> HttpResponse:
    started = time.time()
    entry = store.log(
        {
            "time": iso(started),
            "ts": started,
            "method": request.method,
            "path": request.path,
            "endpoint": "media.serve",
            "platform": "MEDIA",
            "kind": "read",
            "account": "",
            "query": dict(request.GET.items()),
            "body": {},
            "headers": {k: request.headers[k] for k in ("User-Agent", "Accept") if k in request.headers},
            "status": None,
            "outcome": "pending",
            "duration_ms": None,
        }
    )
    response = _answer(request, name)
    response._has_been_logged = True  # 404s and the like are asked for: not worth a warning
    store.finish_log(
        entry,
        status=response.status_code,
        outcome="ok" if response.status_code < 400 else "error",
        duration_ms=round((time.time() - started) * 1000, 1),
    )
    return response


def _answer(request: HttpRequest, name: str) -> HttpResponse:
    stem = name.rsplit(".", 1)[0].lower()
    lowered = name.lower()
    if lowered.endswith(VIDEO_NAMES):
        content_type = "video/quicktime" if lowered.endswith(".mov") else "video/mp4"
        data = BIG_MP4_BYTES if stem.endswith("-big") else MP4_BYTES
    elif lowered.endswith((".jpg", ".jpeg")):
        data, content_type = JPEG_BYTES, "image/jpeg"
    else:
        data, content_type = PNG_BYTES, "image/png"
    if stem.endswith("-missing"):
        return HttpResponse(b"Not Found", status=404, content_type="text/plain")
    if stem.endswith("-text"):
        return HttpResponse(
            b"<!doctype html><title>Not an image</title><p>This is a web page.</p>", content_type="text/html"
        )
    if stem.endswith("-slow"):
        store.sleep(store.config.media_slow_seconds)
    if stem.endswith("-drip"):
        response = StreamingHttpResponse(_drip(data), content_type=content_type)
        response["Content-Length"] = str(len(data))
        return response
    if stem.endswith("-huge"):
        if request.method == "HEAD":
            response = HttpResponse(content_type=content_type)
            response["Content-Length"] = str(HUGE_BYTES)
            return response
        response = StreamingHttpResponse(_huge(request, data), content_type=content_type)
        response["Content-Length"] = str(HUGE_BYTES)
        return response
    response = HttpResponse(data, content_type=content_type)
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _drip(data: bytes):
    for i in range(len(data)):
        yield data[i : i + 1]
        store.sleep(1.0)


def _huge(request: HttpRequest, head: bytes):
    """The first bytes of a file announced as 60 MB, then the connection is cut."""
    yield head[:64]
    try:
        drop_connection(request)
    except ConnectionDropped:
        pass  # no socket (Django's test client): the stream just ends short
