"""Facebook Pages through the Graph API (docs/platforms/facebook.md), under ``graph/``:

* ``POST /v{N}/{page-id}/feed`` ``message``[, ``link``][, ``attached_media[i]={"media_fbid": id}``]
  -> ``{"id": "{page_id}_{post_id}"}``; ``GET`` the same edge (or ``posts``, ``published_posts``)
  lists the page's posts, newest first, for reconciliation and the backfill (``fields``: ``id``,
  ``message``, ``created_time``, ``permalink_url``, ``attachments`` (a video's ``target.id``);
  ``since``, ``until``, ``limit``, ``after``; ``paging.cursors`` and ``paging.next``).
* ``POST /v{N}/{page-id}/photos`` ``url``, ``caption``[, ``published=false``] ->
  ``{"id": photo_id, "post_id": "{page_id}_{post_id}"}`` (no ``post_id`` when unpublished).
  The image is really fetched from ``url``; failing that: code 324.
* ``POST /v{N}/{page-id}/videos`` ``file_url``, ``description``[, ``title``] -> ``{"id": video_id}``
  (request kind CREATE). The video is really fetched from ``file_url`` (mockapis.media.fetch_video);
  failing that: code 389 "Unable to fetch video file from URL". Facebook then processes it:
  ``GET /v{N}/{video-id}?fields=status`` (connections/platforms/meta/standin.py) answers
  ``video_status`` ``processing`` for ``video_polls_before_ready`` polls, then ``ready`` (the page's
  post is made then, under the video's id), or ``error`` with the processing phase's errors when
  ``_control/fail`` said ``container_error`` (its ``message`` the reason) on the upload.
  ``GET`` the edge lists the page's videos, newest first (``fields``, ``since``, ``limit``).

What Facebook and Instagram share (the error envelope, usage headers, any node, comments) is
connections/platforms/meta/standin.py; Facebook Login is standin_auth.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path

from connections.platforms.facebook import DECLARATION
from connections.platforms.meta import standin as graph
from connections.platforms.meta.standin import GRAPH, GraphDialect, graph_time, listing, node, processing_fate
from mockapis.gate import Call, endpoint
from mockapis.media import FetchError, Image, fetch_image, fetch_video, sniff
from mockapis.records import CREATE, MEDIA, READ
from mockapis.state import store

MAX_MESSAGE = 63_206

# A video's upload is what Facebook then processes (and publishes): _control/fail's container modes
# apply to the create requests.
FACEBOOK = GraphDialect(DECLARATION.name, DECLARATION.label, rate_limit_code=32, usage_type="pages", processes=CREATE)


@endpoint(FACEBOOK, {"POST": CREATE, "GET": READ}, account=node)
def feed(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        return listing(call, [post_item(p) for p in store.find_posts("FACEBOOK", node)], "id,message,created_time")

    message, link = str(call.param("message") or ""), str(call.param("link") or "")
    try:
        media_ids = attached_media(call)
    except ValueError as err:
        return FACEBOOK.invalid(call, str(err))
    if not (message or link or media_ids):
        return FACEBOOK.invalid(call, "Requires one of the params: message, link, attached_media")
    if len(message) > MAX_MESSAGE:
        return FACEBOOK.invalid(call, f"The message is {len(message):,} characters; the limit is {MAX_MESSAGE:,}")
    for i, media_id in enumerate(media_ids):
        photo = store.get("photos", media_id)
        if photo is None or photo["page"] != node:
            return FACEBOOK.invalid(call, f"attached_media[{i}] has an invalid media_fbid: {media_id}")
    post, earlier = store.create_post(
        "FACEBOOK", node, message, make_id=lambda: f"{node}_{store.digits(16)}", media_ids=media_ids, link=link
    )
    if post is None:
        call.outcome = "duplicate"
        return FACEBOOK.duplicate(call, earlier.id if earlier else None)
    call.outcome = "created"
    return JsonResponse({"id": post.id})


def post_item(post) -> dict[str, Any]:
    """A page's post as its edges list it; a video's post names the video as its attachment's target."""
    item = {
        "id": post.id,
        "message": post.text,
        "created_time": graph_time(post.created),
        "permalink_url": f"https://www.facebook.com/{post.id}",
        "_ts": post.created,
    }
    if post.extra.get("media_type") == "VIDEO":
        target = post.media_ids[0] if post.media_ids else post.id
        item["attachments"] = {"data": [{"media_type": "video", "target": {"id": target}}]}
    return item


def attached_media(call: Call) -> list[str]:
    """``attached_media[0]={"media_fbid": "..."}`` form fields in index order (Facebook's own
    example), or ``attached_media`` as a JSON list (of objects or of JSON strings)."""
    items: list[tuple[int, Any]] = []
    body = call.body if isinstance(call.body, dict) else {}
    for key, value in body.items():
        if key.startswith("attached_media[") and key.endswith("]"):
            try:
                items.append((int(key[len("attached_media[") : -1]), value))
            except ValueError as err:
                raise ValueError(f"{key} is not an indexed attached_media parameter") from err
    whole = body.get("attached_media")
    if isinstance(whole, str):
        try:
            whole = json.loads(whole)
        except ValueError as err:
            raise ValueError("attached_media must be a JSON array") from err
    if isinstance(whole, list):
        items.extend(enumerate(whole))
    ids = []
    for index, value in sorted(items, key=lambda item: item[0]):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as err:
                raise ValueError(f'attached_media[{index}] must be JSON like {{"media_fbid": "..."}}') from err
        if not isinstance(value, dict) or not value.get("media_fbid"):
            raise ValueError(f'attached_media[{index}] must be JSON like {{"media_fbid": "..."}}')
        ids.append(str(value["media_fbid"]))
    return ids


def photo_kind(call: Call) -> str:
    return CREATE if published(call) else MEDIA


def published(call: Call) -> bool:
    return str(call.param("published", "true")).lower() not in ("false", "0")


@endpoint(FACEBOOK, {"POST": photo_kind}, account=node)
def photos(call: Call, node: str, **_: Any) -> HttpResponse:
    url = call.param("url")
    source = call.files.get("source")
    if not url and source is None:
        return FACEBOOK.error(324, "(#324) Requires upload file")
    try:
        image = fetch_image(url, store.config.fetch_timeout_seconds) if url else _uploaded(source)
    except FetchError as err:
        call.outcome = "media_fetch_failed"
        return FACEBOOK.error(324, f"(#324) Missing or invalid image file: {err}")
    photo_id = store.digits(16)
    store.put("photos", photo_id, {"id": photo_id, "page": node, "url": url, "published": published(call)})
    store.add_media(
        "FACEBOOK",
        node,
        photo_id,
        source=url,
        size=image.size,
        content_type=image.content_type,
        published=published(call),
    )
    if not published(call):
        call.outcome = "uploaded"
        return JsonResponse({"id": photo_id})
    caption = str(call.param("caption") or call.param("message") or "")
    post, _ = store.create_post(
        "FACEBOOK",
        node,
        caption,
        make_id=lambda: f"{node}_{store.digits(16)}",
        media_ids=[photo_id],
        reject_duplicates=False,
    )
    call.outcome = "created"
    return JsonResponse({"id": photo_id, "post_id": post.id})


@endpoint(FACEBOOK, {"POST": CREATE, "GET": READ}, account=node)
def videos(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        with store.lock:
            page = [dict(v) for v in store.objects["videos"].values() if v["page"] == node]
        items = [
            {
                "id": v["id"],
                "description": v["description"],
                "title": v["title"],
                "created_time": graph_time(v["created"]),
                "updated_time": graph_time(v["created"]),
                "_ts": v["created"],
            }
            for v in reversed(page)
        ]
        return listing(call, items, "id,description,updated_time")

    if call.param("upload_phase") or call.files:
        return FACEBOOK.invalid(call, "The stand-in takes a video by file_url only (no upload_phase, no source)")
    file_url, description = call.param("file_url"), str(call.param("description") or "")
    if not file_url:
        return FACEBOOK.invalid(call, "Requires one of the params: source, file_url, fbuploader_video_file_chunk")
    if len(description) > MAX_MESSAGE:
        return FACEBOOK.invalid(
            call, f"The description is {len(description):,} characters; the limit is {MAX_MESSAGE:,}"
        )
    try:
        video = fetch_video(file_url, store.config.fetch_timeout_seconds)
    except FetchError as err:
        call.outcome = "media_fetch_failed"
        return FACEBOOK.error(389, f"(#389) Unable to fetch video file from URL: {err}")
    fate, reason = processing_fate(call)
    video_id = store.digits(16)
    store.put(
        "videos",
        video_id,
        {
            "id": video_id,
            "page": node,
            "file_url": file_url,
            "description": description,
            "title": str(call.param("title") or ""),
            "published": published(call),
            "size": video.size,
            "polls": 0,
            "fate": fate,
            "reason": reason,
            "post_id": None,
            "created": time.time(),
        },
    )
    store.add_media("FACEBOOK", node, video_id, source=file_url, size=video.size, content_type=video.content_type)
    call.outcome = "uploaded"
    return JsonResponse({"id": video_id})


def _uploaded(source) -> Image:
    head = source.read(64 * 1024)
    image = sniff(head, source.size)
    if image is None:
        raise FetchError("the uploaded source is not an image")
    return image


urlpatterns = [
    path("", include("connections.platforms.facebook.standin_auth")),
    re_path(GRAPH + r"/(?:feed|posts|published_posts)/?$", feed),
    re_path(GRAPH + r"/photos/?$", photos),
    re_path(GRAPH + r"/videos/?$", videos),
    # Graph's routes for any node (an object, its comments), after every more specific one.
    *graph.urlpatterns,
]
