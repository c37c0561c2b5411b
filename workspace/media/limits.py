"""What each platform takes in a file, checked when a file is uploaded to the library, so that a
person learns at once, not at publishing time, that Instagram wants a JPEG.

The kinds a platform takes (image, video) are its declaration's (connections/platforms/*); the
formats, sizes and durations below are the platforms' documented limits (docs/platforms/<name>.md
links each platform's documentation), lowered to planrrr's own caps where planrrr downloads the
file to upload it itself (MEDIA_MAX_BYTES for images, MEDIA_MAX_VIDEO_BYTES for videos).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from connections.platforms import declaration
from connections.platforms.declaration import IMAGE, VIDEO

MB = 1024 * 1024
JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
MP4, MOV, WEBM = "video/mp4", "video/quicktime", "video/webm"
TYPE_NAMES = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WebP", MP4: "MP4", MOV: "MOV", WEBM: "WebM"}


@dataclass(frozen=True)
class Limits:
    image_types: tuple[str, ...] = (JPEG, PNG, GIF, WEBP)
    image_bytes: int | None = None
    video_types: tuple[str, ...] = (MP4, MOV)
    video_bytes: int | None = None
    video_seconds: float | None = None
    # Whether planrrr downloads the file and uploads its bytes (then planrrr's caps apply too),
    # rather than the platform fetching the URL itself.
    planrrr_fetches_images: bool = False
    planrrr_fetches_videos: bool = False


LIMITS: dict[str, Limits] = {
    # Graph API page photos: JPG, PNG, GIF, TIFF, HEIF or WebP, under 4 MB; videos up to 1 GB by file_url.
    "FACEBOOK": Limits(image_bytes=4 * MB, video_bytes=1024 * MB),
    # Content publishing: images JPEG only, 8 MB; Reels MP4/MOV, 300 MB, 3 s to 15 min.
    "INSTAGRAM": Limits(image_types=(JPEG,), image_bytes=8 * MB, video_bytes=300 * MB, video_seconds=15 * 60),
    # Threads: images JPEG or PNG, 8 MB; videos MP4/MOV, 1 GB, 5 min.
    "THREADS": Limits(image_types=(JPEG, PNG), image_bytes=8 * MB, video_bytes=1024 * MB, video_seconds=5 * 60),
    # X media upload: JPEG, PNG, GIF, WebP, 5 MB an image.
    "TWITTER": Limits(image_bytes=5 * MB, planrrr_fetches_images=True),
    # LinkedIn Images API: JPG, GIF, PNG.
    "LINKEDIN": Limits(image_types=(JPEG, PNG, GIF), planrrr_fetches_images=True),
    # app.bsky.embed.images: 2,000,000 bytes a blob.
    "BLUESKY": Limits(image_types=(JPEG, PNG, WEBP, GIF), image_bytes=2_000_000, planrrr_fetches_images=True),
    # The instance says its own (image_size_limit, 16 MB by default), read at publishing time.
    "MASTODON": Limits(image_bytes=16 * MB, planrrr_fetches_images=True),
    # Pins: BMP, JPEG, PNG, TIFF, GIF, WebP up to 20 MB; videos MP4/MOV/M4V up to 2 GB, 4 s to 15 min,
    # uploaded by planrrr (POST /v5/media).
    "PINTEREST": Limits(image_bytes=20 * MB, video_bytes=2048 * MB, video_seconds=15 * 60, planrrr_fetches_videos=True),
    # Content Posting API: MP4, WebM, MOV up to 4 GB; the creator's own longest duration is read at
    # publishing time (creator_info), 10 min at most for most accounts.
    "TIKTOK": Limits(video_types=(MP4, MOV, WEBM), video_bytes=4096 * MB, planrrr_fetches_videos=True),
    # Resumable upload: most formats, uploaded by planrrr.
    "YOUTUBE": Limits(video_types=(MP4, MOV, WEBM), planrrr_fetches_videos=True),
    # Local posts: JPG or PNG, 10 KB to 5 MB.
    "GOOGLE_BUSINESS": Limits(image_types=(JPEG, PNG), image_bytes=5 * MB),
}


@dataclass(frozen=True)
class File:
    """What the checks need to know of a file."""

    kind: str
    content_type: str
    size: int
    duration: float | None = None


def size_words(n: int) -> str:
    """14 MB, 8 MB, 512 KB: sizes as people read them."""
    if n >= MB:
        return f"{n / MB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n / 1024))} KB"


def _types(types: tuple[str, ...]) -> str:
    names = [TYPE_NAMES.get(t, t) for t in types]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def limits_for(platform: str) -> tuple[tuple[str, ...], int | None, int | None, Limits]:
    """(kinds, image byte cap, video byte cap, limits) for a platform, planrrr's caps included."""
    limits = LIMITS.get(platform, Limits())
    kinds = declaration(platform).media
    image_cap = limits.image_bytes
    if limits.planrrr_fetches_images:
        image_cap = min(filter(None, (image_cap, settings.MEDIA_MAX_BYTES)))
    video_cap = limits.video_bytes
    if limits.planrrr_fetches_videos:
        video_cap = min(filter(None, (video_cap, settings.MEDIA_MAX_VIDEO_BYTES)))
    return kinds, image_cap, video_cap, limits


def problem(file: File, platform: str) -> str | None:
    """Why ``platform`` cannot take this file, saying what to change, or None if it can."""
    kinds, image_cap, video_cap, limits = limits_for(platform)
    label = declaration(platform).label
    if file.kind not in kinds:
        takes = "videos only" if kinds == (VIDEO,) else "images only"
        return f"{label} takes {takes}."
    if file.kind == IMAGE:
        if file.content_type not in limits.image_types:
            return f"{label} takes {_types(limits.image_types)} images: convert this {_types((file.content_type,))}."
        if image_cap and file.size > image_cap:
            return _too_big(label, "images", image_cap, file.size)
        return None
    if file.content_type not in limits.video_types:
        return f"{label} takes {_types(limits.video_types)} videos: convert this {_types((file.content_type,))}."
    if video_cap and file.size > video_cap:
        return _too_big(label, "videos", video_cap, file.size)
    if limits.video_seconds and file.duration and file.duration > limits.video_seconds:
        return (
            f"{label} takes videos up to {limits.video_seconds / 60:g} min; this one lasts "
            f"{file.duration / 60:.1f} min: shorten it."
        )
    return None


def _too_big(label: str, what: str, cap: int, size: int) -> str:
    return f"{label} takes {what} up to {size_words(cap)}; this one is {size_words(size)}: make it smaller."


def planrrr_problem(file: File) -> str | None:
    """Why no channel could take this file whatever the team connects: over planrrr's own caps
    where every platform's is lower (a video above MEDIA_MAX_VIDEO_BYTES and every platform's)."""
    largest = max(
        (cap or 0)
        for platform in LIMITS
        for cap in [limits_for(platform)[1 if file.kind == IMAGE else 2]]
        if file.kind in declaration(platform).media
    )
    if largest and file.size > largest:
        what = "image" if file.kind == IMAGE else "video"
        return (
            f"This {what} is {size_words(file.size)}; no network planrrr publishes to takes an {what} over "
            f"{size_words(largest)}: make it smaller."
        )
    return None
