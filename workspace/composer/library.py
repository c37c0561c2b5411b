"""Where the media library (``workspace.media``: its ``MediaItem`` model and ``media_url(item)``,
the signed link a post keeps in its media URLs) plugs into the composer. Until that app is
installed, media are links typed one a line, and these answer nothing: the composer's
``{% block media_picker %}`` lists the library's items when there are any, and the items ticked
(``media``, their ids) become their links in the post's media URLs."""

from __future__ import annotations

from importlib import import_module, util

from django.http import HttpRequest


def _library():
    if util.find_spec("workspace.media") is None:
        return None
    module = import_module("workspace.media")
    return module if hasattr(module, "MediaItem") and hasattr(module, "media_url") else None


def items(team) -> list:
    """The team's library items to pick from, newest first (none without the library)."""
    library = _library()
    if library is None:
        return []
    return list(library.MediaItem.objects.filter(team=team).order_by("-created_at")[:200])


def with_library(request: HttpRequest, media_text: str) -> str:
    """The media box's links, followed by the links of the library items ticked."""
    library = _library()
    ids = [value for value in request.POST.getlist("media") if value.isdigit()]
    if library is None or not ids:
        return media_text
    picked = library.picked(request.workspace.team, ids)
    # The request gives the link its address where MEDIA_BASE_URL is not set (development).
    links = [library.media_url(item, request=request) for item in picked]
    return "\n".join([media_text.rstrip(), *links]).strip()
