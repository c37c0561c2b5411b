"""The team's media library (docs/workspace.md, "Media library"): what the composer uses.

    from workspace.media import MediaItem, media_url, media_url_expiry, items_in

* ``MediaItem``: a team's uploaded image or video (team, file, kind, size, width, height,
  duration, thumbnail, uploaded_by, created_at).
* ``media_url(item, *, expires=None, request=None)``: its signed, expiring URL, for a post's
  ``media_urls``; ``media_url_expiry(scheduled_at)``: the expiry to give a post at that time.
* ``items_in(urls, team)``: the items a post's media URLs name (to show them picked).
* the template ``workspace/media/_picker.html``: checkboxes named ``media`` (the items' ids),
  with thumbnails; ``picked(team, ids)`` turns the submitted ids back into the team's items.

Imported lazily: this package's models load with the app, its services after.
"""

_API = {
    "MediaItem": "workspace.media.models",
    "media_url": "workspace.media.services",
    "media_url_expiry": "workspace.media.services",
    "items_in": "workspace.media.services",
    "picked": "workspace.media.services",
    "picker_items": "workspace.media.services",
}


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module

        return getattr(import_module(_API[name]), name)
    raise AttributeError(name)
