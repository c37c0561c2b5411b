"""What an uploaded file is, read from its bytes (never from its name or the browser's word):
an image Pillow opens (JPEG, PNG, GIF, WebP), or a video by its container's header (MP4,
QuickTime, WebM: the same test planrrr's fetcher applies), with its size, dimensions, duration
and a thumbnail. A video's duration, dimensions and first frame come from ffprobe and ffmpeg
where they are installed (FFPROBE_PATH, FFMPEG_PATH); elsewhere the video is kept with a
placeholder that says so."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from connections.platforms.media import video_type
from workspace.media.limits import GIF, JPEG, PNG, TYPE_NAMES, WEBP

# Pillow's format names of the images the networks take.
IMAGE_FORMATS = {"JPEG": JPEG, "PNG": PNG, "GIF": GIF, "WEBP": WEBP}
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", GIF: ".gif", WEBP: ".webp", "video/mp4": ".mp4",
              "video/quicktime": ".mov", "video/webm": ".webm"}  # fmt: skip
THUMBNAIL_PX = 480
# ffprobe and ffmpeg on a broken or hostile file must not hold the request for long.
TOOL_SECONDS = 20
# Pillow refuses to open an image larger than this many pixels (a "decompression bomb").
Image.MAX_IMAGE_PIXELS = 90_000_000
NO_FFMPEG = "No preview: ffmpeg is not installed on the server, so planrrr cannot show a video's first frame."


class NotMedia(ValueError):
    """The file is neither an image nor a video a network takes; the message says what to do."""


@dataclass
class Inspected:
    kind: str
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    thumbnail: bytes | None = None
    thumbnail_note: str = ""


def inspect(path: str, name: str) -> Inspected:
    """What the file at ``path`` is; raises NotMedia saying why it cannot be used."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    container = video_type(head)
    if container:
        return _video(path, container)
    try:
        with Image.open(path) as image:
            content_type = IMAGE_FORMATS.get(image.format or "")
            if content_type is None:
                raise NotMedia(
                    f"{name} is a {image.format} image; the networks take JPEG, PNG, GIF or WebP: convert it to JPEG."
                )
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
            thumbnail = _image_thumbnail(image)
    except NotMedia:
        raise
    except Image.DecompressionBombError as err:
        raise NotMedia(f"{name} has too many pixels to be a post's image: make it smaller.") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise NotMedia(
            f"{name} is neither an image (JPEG, PNG, GIF, WebP) nor a video (MP4, MOV, WebM), or it is damaged: "
            "upload a picture or a video."
        ) from err
    return Inspected(
        kind="image",
        content_type=content_type,
        extension=EXTENSIONS[content_type],
        width=width,
        height=height,
        thumbnail=thumbnail,
    )


def _image_thumbnail(image: Image.Image) -> bytes:
    image.seek(0)
    frame = ImageOps.exif_transpose(image).convert("RGB")
    frame.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=82)
    return out.getvalue()


def _tool(setting: str) -> str | None:
    return shutil.which(getattr(settings, setting))


def _video(path: str, content_type: str) -> Inspected:
    inspected = Inspected(kind="video", content_type=content_type, extension=EXTENSIONS[content_type])
    ffprobe, ffmpeg = _tool("FFPROBE_PATH"), _tool("FFMPEG_PATH")
    if ffprobe:
        inspected.width, inspected.height, inspected.duration = _probe(ffprobe, path)
    if not ffmpeg:
        inspected.thumbnail_note = NO_FFMPEG
        return inspected
    with tempfile.NamedTemporaryFile(suffix=".jpg") as frame:
        try:
            subprocess.run(
                [ffmpeg, "-v", "error", "-y", "-i", path, "-frames:v", "1", "-vf",
                 f"scale='min({THUMBNAIL_PX},iw)':-2", frame.name],
                check=True, capture_output=True, timeout=TOOL_SECONDS,
            )  # fmt: skip
            frame.seek(0)
            inspected.thumbnail = frame.read() or None
        except (subprocess.SubprocessError, OSError):
            inspected.thumbnail = None
    if not inspected.thumbnail:
        inspected.thumbnail_note = f"No preview: ffmpeg could not read a frame of this {TYPE_NAMES[content_type]}."
    return inspected


def _probe(ffprobe: str, path: str) -> tuple[int | None, int | None, float | None]:
    try:
        run = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height:format=duration", "-of", "json", path],
            check=True, capture_output=True, timeout=TOOL_SECONDS,
        )  # fmt: skip
        found = json.loads(run.stdout or b"{}")
    except (subprocess.SubprocessError, OSError, ValueError):
        return None, None, None
    stream = (found.get("streams") or [{}])[0]
    try:
        duration = float(found.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        duration = None
    return stream.get("width"), stream.get("height"), duration
