"""The media library's writes and its signed URLs (docs/workspace.md, "Media library").

A post carries media as URLs (``media_urls``, a variant's, a thread part's), which the
platforms fetch (Facebook, Instagram, Threads, Pinterest images) or planrrr's fetcher downloads
for them. A library file's URL is a planrrr address, signed and expiring:

    <MEDIA_BASE_URL>/app/m/<item key>/<expires, Unix s>/<signature>/<name>.<ext>

The signature (django.core.signing, salted for this use) covers the key and the expiry, so no
one can make a URL for another file or a later time. ``media_url_expiry`` puts the expiry at the
post's time plus MEDIA_URL_GRACE_HOURS (staging ahead, retries and waits included). Past it the
URL answers 410 Gone, unless a post still to be published uses the item (a post moved to a later
time keeps working without new URLs). The item's key in the path is how a post's URLs say which
items it uses (``media_usage``); the extension is the item's kind as planrrr reads a URL
(connections.platforms.kinds)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.text import slugify

from connections.models import Connection
from planrrr.models import Team
from publishing.models import Post
from workspace.media import limits
from workspace.media.models import MediaItem

logger = logging.getLogger("planrrr.workspace.media")
SALT = "workspace.media.url"
# An item's key in one of its signed URLs (the path's /m/<key>/...).
KEY_IN_URL = re.compile(r"/m/([0-9a-f]{32})/")
# The posts whose media a person can still change or that may still go out: a file they use is
# not deleted under them.
LIVE = (Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.SCHEDULED, Post.Status.PUBLISHING)


class Uploaded:
    """An upload's outcome: the item kept, and the channels that cannot take it (with why)."""

    def __init__(self, item: MediaItem, refused_by: dict[str, str]):
        self.item, self.refused_by = item, refused_by


def channels_of(team: Team) -> list[Connection]:
    """The channels an upload is checked against: the team's connected accounts (an expired one
    too, as it will be reconnected; a revoked one no longer counts)."""
    return list(team.connections.exclude(status=Connection.Status.REVOKED).order_by("platform", "pk"))


def refusals(file: limits.File, channels: list[Connection]) -> dict[str, str]:
    """{channel label: why it cannot take the file} for each channel that cannot."""
    found = {}
    for channel in channels:
        if why := limits.problem(file, channel.platform):
            found[channel_name(channel)] = why
    return found


def channel_name(channel: Connection) -> str:
    """'Instagram (Bakery on Instagram)', or 'Instagram' where the account bears that name."""
    label, name = channel.get_platform_display(), channel.name or channel.account_id
    return label if name.lower() == label.lower() else f"{label} ({name})"


def item_refusals(item: MediaItem, channels: list[Connection]) -> dict[str, str]:
    return refusals(limits.File(item.kind, item.content_type, item.size, item.duration), channels)


def _safe_name(name: str, extension: str) -> str:
    stem = slugify(os.path.splitext(os.path.basename(name))[0])[:80] or "file"
    return stem + extension


def media_upload(*, team: Team, upload, user=None) -> Uploaded:
    """Keep an uploaded file (a Django UploadedFile) in the team's library. Refused
    (ValidationError) when it is no image or video a network takes, or when none of the team's
    channels can take it; kept when some can, with the others named (``Uploaded.refused_by``)."""
    # Pillow is imported by the first upload, not with the URLconf every process loads.
    from workspace.media.processing import NotMedia, inspect

    name = os.path.basename(upload.name or "file")
    with tempfile.NamedTemporaryFile(prefix="planrrr-upload-") as copy:
        if hasattr(upload, "temporary_file_path"):
            path = upload.temporary_file_path()
        else:
            for chunk in upload.chunks():
                copy.write(chunk)
            copy.flush()
            path = copy.name
        size = os.path.getsize(path)
        if not size:
            raise ValidationError(f"{name} is empty: upload the file again.")
        try:
            found = inspect(path, name)
        except NotMedia as err:
            raise ValidationError(str(err)) from err
        file = limits.File(found.kind, found.content_type, size, found.duration)
        if problem := limits.planrrr_problem(file):
            raise ValidationError(f"{name}: {problem}")
        channels = channels_of(team)
        refused_by = refusals(file, channels)
        # Counted per channel: two accounts of one name are one line of the warning, two channels here.
        if channels and all(limits.problem(file, channel.platform) for channel in channels):
            reasons = " ".join(f"{channel}: {why}" for channel, why in refused_by.items())
            raise ValidationError(f"None of this team's channels can take {name}. {reasons}")
        item = MediaItem(
            team=team,
            name=name[:255],
            kind=found.kind,
            content_type=found.content_type,
            size=size,
            width=found.width,
            height=found.height,
            duration=found.duration,
            thumbnail_note=found.thumbnail_note,
            uploaded_by=user if getattr(user, "is_authenticated", False) else None,
        )
        try:
            with open(path, "rb") as handle:
                item.file.save(_safe_name(name, found.extension), handle, save=False)
            if found.thumbnail:
                item.thumbnail.save("thumbnail.jpg", ContentFile(found.thumbnail), save=False)
        except Exception as err:  # noqa: BLE001 - any store's failure (disk, S3): said in words, never a 500
            logger.exception("Could not store %s in team %s's media library", name, team.pk)
            _remove_files(item)
            raise ValidationError(
                f"Could not store {name}: the media store did not take it ({err.__class__.__name__}). Try again; "
                "if it keeps failing, tell whoever runs planrrr."
            ) from err
        try:
            item.save()
        except Exception:
            _remove_files(item)
            raise
    return Uploaded(item, refused_by)


def media_usage(*, item: MediaItem) -> QuerySet[Post]:
    """The team's posts whose media (main, a variant's, a thread part's) include the item."""
    key = item.key.hex
    return (
        Post.objects.filter(team_id=item.team_id)
        .annotate(
            _media=Cast("media_urls", TextField()),
            _variants=Cast("variants", TextField()),
            _thread=Cast("thread", TextField()),
        )
        .filter(Q(_media__contains=key) | Q(_variants__contains=key) | Q(_thread__contains=key))
        .order_by("-pk")
    )


def usage_by_item(items: list[MediaItem], *, per_item: int = 10) -> dict[int, list[Post]]:
    """{item id: the newest posts using it} for a page of items, in one query: the team's posts
    whose media name any library file (``/m/`` in a URL), matched by key here."""
    if not items:
        return {}
    found: dict[int, list[Post]] = {item.pk: [] for item in items}
    keys = {item.key.hex: item.pk for item in items}
    posts = (
        Post.objects.filter(team_id=items[0].team_id)
        .annotate(
            _media=Cast("media_urls", TextField()),
            _variants=Cast("variants", TextField()),
            _thread=Cast("thread", TextField()),
        )
        .filter(Q(_media__contains="/m/") | Q(_variants__contains="/m/") | Q(_thread__contains="/m/"))
        .only("pk", "status", "team_id")
        .order_by("-pk")
    )
    for post in posts.iterator(chunk_size=500):
        text = post._media + post._variants + post._thread
        for key in KEY_IN_URL.findall(text):
            used = found.get(keys.get(key, -1))
            if used is not None and len(used) < per_item and post not in used:
                used.append(post)
    return found


def media_delete(*, item: MediaItem, role: str, user) -> None:
    """Delete an item and its files. Refused (ValidationError, naming the posts) while a post
    still to be published, or still a draft, uses it; a MEMBER deletes only their own uploads."""
    from publishing.services.checks import is_approver

    if not is_approver(role) and item.uploaded_by_id != getattr(user, "pk", None):
        raise ValidationError("Only the person who uploaded this file, or an admin, can delete it.")
    with transaction.atomic():
        locked = MediaItem.objects.select_for_update().filter(pk=item.pk).first()
        if locked is None:
            return
        using = list(media_usage(item=locked).filter(status__in=LIVE)[:6])
        if using:
            names = ", ".join(f"#{post.pk} ({post.get_status_display().lower()})" for post in using[:5])
            more = " and more" if len(using) > 5 else ""
            raise ValidationError(
                f"{locked.name} is used by post {names}{more}: remove it from those posts (or cancel them) first."
            )
        locked.delete()
    _remove_files(item)


def _remove_files(item: MediaItem) -> None:
    for field in (item.file, item.thumbnail):
        if field:
            try:
                field.storage.delete(field.name)
            except Exception:  # noqa: BLE001 - the row is gone (or never was): a leftover file is logged
                logger.exception("Could not delete %s from the media store", field.name)


# --- Signed URLs ---------------------------------------------------------------------------


def media_url_expiry(scheduled_at: datetime | None = None) -> datetime:
    """When a URL made for a post at ``scheduled_at`` (None: now) may stop working."""
    start = max(scheduled_at or timezone.now(), timezone.now())
    return start + timedelta(hours=settings.MEDIA_URL_GRACE_HOURS)


def base_url(request=None) -> str:
    """The address the platforms reach planrrr at: MEDIA_BASE_URL, OAUTH_REDIRECT_BASE_URL, or
    the request's own."""
    configured = settings.MEDIA_BASE_URL or settings.OAUTH_REDIRECT_BASE_URL
    if configured:
        return configured.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    raise ValueError("Set MEDIA_BASE_URL to the public address of planrrr (https://planrrr.example.com).")


def _signature(key: str, expires: int) -> str:
    return signing.Signer(salt=SALT).signature(f"{key}:{expires}")


def media_url(item: MediaItem, *, expires: datetime | None = None, request=None) -> str:
    """The item's signed URL for a post's ``media_urls``, working until ``expires`` (default:
    ``media_url_expiry()``) and longer while a post to be published uses it."""
    expires_at = int((expires or media_url_expiry()).timestamp())
    key = item.key.hex
    path = reverse(
        "workspace:media_file",
        kwargs={
            "key": key,
            "expires": expires_at,
            "signature": _signature(key, expires_at),
            "name": os.path.basename(item.file.name),
        },
    )
    return base_url(request) + path


def signature_valid(key: str, expires: int, signature: str) -> bool:
    return constant_time_compare(signature, _signature(key, expires))


def still_needed(item: MediaItem) -> bool:
    """Whether a post still to be published uses the item: one publishing now (its attempts and
    retries, however late), or one waiting for its time (or within the grace after it): a URL
    past its own expiry keeps working for it."""
    grace = timedelta(hours=settings.MEDIA_URL_GRACE_HOURS)
    waiting = Q(status__in=LIVE) & (Q(scheduled_at__isnull=True) | Q(scheduled_at__gt=timezone.now() - grace))
    return media_usage(item=item).filter(waiting | Q(status=Post.Status.PUBLISHING)).exists()


def expired(expires: int) -> bool:
    return expires < time.time()


def items_in(urls: list[str], team: Team) -> list[MediaItem]:
    """The team's library items a list of media URLs names, in order (the composer's picker shows
    them checked)."""
    keys = [match.group(1) for url in urls if (match := KEY_IN_URL.search(url or ""))]
    found = {item.key.hex: item for item in MediaItem.objects.filter(team=team, key__in=keys)}
    return [found[key] for key in keys if key in found]


def picker_items(team: Team, *, limit: int = 60) -> list[MediaItem]:
    """The newest items of the team's library, for the composer's picker."""
    return list(MediaItem.objects.filter(team=team)[:limit])


def picked(team: Team, ids: list) -> list[MediaItem]:
    """The team's items for the ids a picker submitted (``media``), in the order given; an id of
    another team's item, or of no item, is left out."""
    wanted = [int(value) for value in ids if str(value).isdigit()]
    found = MediaItem.objects.filter(team=team, pk__in=wanted).in_bulk()
    return [found[pk] for pk in dict.fromkeys(wanted) if pk in found]
