"""The media library's pages at /app/<team>/media/ (members of the team), and the signed file
URLs the platforms fetch at /app/m/... (no login: the signature is the permission)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST, require_safe

from connections.platforms.base import media_url_problem
from workspace.access import team_view
from workspace.media import services
from workspace.media.limits import TYPE_NAMES, size_words
from workspace.media.models import MediaItem

logger = logging.getLogger("planrrr.workspace.media")
# Files in one upload: a person's batch, not a migration.
MAX_FILES = 20
PAGE = 60


def _post_link(team_id: int, post_id: int) -> str:
    """The post's page in the workspace where one exists, else its composer."""
    for name in ("workspace:post", "workspace:post_edit"):
        try:
            return reverse(name, kwargs={"team_id": team_id, "post_id": post_id})
        except NoReverseMatch:
            continue
    return ""


def describe(item: MediaItem) -> dict:
    """What the library shows of an item, besides the row's own fields."""
    facts = [TYPE_NAMES.get(item.content_type, item.content_type), size_words(item.size)]
    if item.width and item.height:
        facts.append(f"{item.width}×{item.height}")
    if item.duration:
        minutes, seconds = divmod(round(item.duration), 60)
        facts.append(f"{minutes}:{seconds:02d}")
    return {"facts": " · ".join(facts)}


@team_view
def library(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    items = list(MediaItem.objects.filter(team=workspace.team).select_related("uploaded_by")[:PAGE])
    channels = services.channels_of(workspace.team)
    usage = services.usage_by_item(items)
    rows = []
    for item in items:
        used = usage[item.pk]
        rows.append(
            {
                "item": item,
                **describe(item),
                "refused_by": services.item_refusals(item, channels),
                "used": [(post, _post_link(workspace.team.pk, post.pk)) for post in used],
                "deletable": workspace.approves or item.uploaded_by_id == request.user.pk,
            }
        )
    # The URLs the platforms will fetch must pass the same guard planrrr's fetcher applies: say so
    # here rather than when a post fails.
    try:
        reachable = media_url_problem(services.base_url(request) + "/app/m/check.jpg")
    except ValueError as err:
        reachable = str(err)
    return render(
        request,
        "workspace/media/library.html",
        {"rows": rows, "channels": channels, "unreachable": reachable, "max_files": MAX_FILES},
    )


@require_POST
@team_view
def upload(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    files = request.FILES.getlist("files")
    if not files:
        messages.error(request, "Choose one or more images or videos to upload (or drop them on the page).")
    elif len(files) > MAX_FILES:
        messages.error(request, f"Upload at most {MAX_FILES} files at once; you chose {len(files)}.")
    else:
        for upload_ in files:
            try:
                uploaded = services.media_upload(team=workspace.team, upload=upload_, user=request.user)
            except ValidationError as err:
                messages.error(request, " ".join(err.messages))
                continue
            if uploaded.refused_by:
                names = "; ".join(f"{channel}: {why}" for channel, why in uploaded.refused_by.items())
                messages.warning(request, f"Uploaded {uploaded.item.name}, but not for every channel. {names}")
            else:
                messages.success(request, f"Uploaded {uploaded.item.name}.")
    return redirect("workspace:media", team_id=workspace.team.pk)


@require_POST
@team_view
def delete(request: HttpRequest, item_id: int) -> HttpResponse:
    workspace = request.workspace
    item = get_object_or_404(MediaItem, pk=item_id, team=workspace.team)
    try:
        services.media_delete(item=item, role=workspace.role, user=request.user)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    else:
        messages.success(request, f"Deleted {item.name}.")
    return redirect("workspace:media", team_id=workspace.team.pk)


def _stream(field, content_type: str, *, filename: str, max_age: int) -> HttpResponse:
    """The stored file, streamed; 404 when it is gone, 503 when the store does not answer (the
    platforms and planrrr's fetcher try a 5xx again later, where a 404 would fail the post)."""
    try:
        handle = field.storage.open(field.name, "rb")
        handle.file  # noqa: B018 - a bucket's file is fetched on first use: fail here, before the answer starts
    except FileNotFoundError as err:
        raise Http404("The file is gone from the media store.") from err
    except Exception as err:  # noqa: BLE001 - a store's own errors (S3, disk): transient for whoever fetches
        if getattr(err, "code", "") == "NoSuchKey":
            raise Http404("The file is gone from the media store.") from err
        logger.exception("Could not read %s from the media store", field.name)
        response = HttpResponse(
            "The media store did not answer; try again in a minute.", status=503, content_type="text/plain"
        )
        response["Retry-After"] = "60"
        return response
    response = FileResponse(handle, content_type=content_type, filename=filename)
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline", 1)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


@require_safe
@team_view
def thumbnail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(MediaItem, pk=item_id, team=request.workspace.team)
    if not item.thumbnail:
        raise Http404(item.thumbnail_note or "No thumbnail.")
    return _stream(item.thumbnail, "image/jpeg", filename="thumbnail.jpg", max_age=3600)


@require_safe
@team_view
def original(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(MediaItem, pk=item_id, team=request.workspace.team)
    return _stream(item.file, item.content_type, filename=os.path.basename(item.file.name), max_age=3600)


@require_safe
def signed_file(request: HttpRequest, key: str, expires: int, signature: str, name: str) -> HttpResponse:
    """A library file for a platform (or planrrr's fetcher): 403 when the signature does not
    match, 410 once expired (and no post still to be published uses it), 404 when deleted."""
    if not services.signature_valid(key, expires, signature):
        return HttpResponse(
            "This media link is not valid: its signature does not match. Use the link planrrr made.",
            status=403,
            content_type="text/plain",
        )
    item = MediaItem.objects.filter(key=key).first()
    if item is None or os.path.basename(item.file.name) != name:
        return HttpResponse("This file was deleted from the media library.", status=404, content_type="text/plain")
    if services.expired(expires) and not services.still_needed(item):
        when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return HttpResponse(
            f"This media link expired at {when}. Pick the file again in the composer to get a new one.",
            status=410,
            content_type="text/plain",
        )
    remaining = max(0, expires - int(datetime.now(UTC).timestamp()))
    response = _stream(item.file, item.content_type, filename=name, max_age=min(remaining, 3600))
    if isinstance(response, FileResponse):
        response["Content-Length"] = str(item.size)
    return response
