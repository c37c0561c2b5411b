"""What a media URL is, an image or a video, by its path's extension: the same rule at the door,
at publish time and in the stand-ins (docs/posts.md says so to users). Import-light, as the
declarations are: the rules and the base adapter import it."""

from __future__ import annotations

from urllib.parse import urlsplit

from connections.platforms.declaration import IMAGE, VIDEO

# The extensions of a video's URL path; every other media URL is an image.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm")


def media_kind(url: object) -> str:
    """IMAGE or VIDEO: what a media URL is, by its path's extension (a signed URL's query string
    does not count). Anything not a video is an image, so a URL that is no URL at all is
    refused by the image rules with the message it always had."""
    try:
        path = urlsplit(url).path.lower() if isinstance(url, str) else ""
    except ValueError:
        path = ""
    return VIDEO if path.endswith(VIDEO_EXTENSIONS) else IMAGE


def split_media(urls: list[str]) -> tuple[list[str], list[str]]:
    """A post's media URLs as (images, videos), each in the post's order."""
    images = [url for url in urls if media_kind(url) == IMAGE]
    return images, [url for url in urls if media_kind(url) == VIDEO]
