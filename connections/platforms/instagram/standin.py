"""Instagram content publishing through the Graph API (docs/platforms/instagram.md), under ``graph/``:

* ``POST /v{N}/{ig-user-id}/media`` ``image_url``, ``caption`` (or ``is_carousel_item=true``;
  or ``media_type=CAROUSEL`` with ``children=id1,id2``) -> ``{"id": container_id}``; an image
  that cannot be fetched: code 9004, subcode 2207052. A Reel: ``media_type=REELS``,
  ``video_url``, ``caption``, ``share_to_feed``; a carousel's video item: ``media_type=VIDEO``,
  ``video_url``, ``is_carousel_item=true`` (VIDEO alone is refused, as Instagram has since
  November 2023). The video is really fetched (mockapis.media.fetch_video); one that cannot be
  makes a container that ends in ERROR ("Media download has failed"), as Instagram fetches a
  video while it processes it.
* ``GET /v{N}/{container-id}?fields=status_code`` (connections/platforms/meta/standin.py) ->
  IN_PROGRESS for ``container_polls_before_finished`` polls (``video_polls_before_ready`` for a
  container with a video), then FINISHED (or ERROR / EXPIRED when ``_control/fail`` says
  ``container_error`` (its ``message`` the reason) / ``container_expired``), PUBLISHED once published.
* ``POST /v{N}/{ig-user-id}/media_publish`` ``creation_id`` -> ``{"id": ig_media_id}``; not
  FINISHED: code 9007, subcode 2207027; over ``ig_daily_limit`` posts in 24 h: code 9, subcode 2207042.
* ``GET /v{N}/{ig-user-id}/media`` lists published media, newest first (``fields``: ``caption``,
  ``timestamp``, ``media_type``, ``media_product_type``, ``permalink``; ``limit``, ``after``), a
  story too when ``_control/posts`` made one (``media_product_type`` STORY), though Instagram leaves
  stories to ``/stories``; ``.../content_publishing_limit`` the quota.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import re_path

from connections.platforms.instagram import DECLARATION
from connections.platforms.meta.standin import (
    GRAPH,
    MAX_CAPTION,
    MAX_HASHTAGS,
    GraphDialect,
    container_status,
    graph_time,
    listing,
    node,
    processing_fate,
    requested_fields,
)
from mockapis.config import DAY_SECONDS
from mockapis.gate import Call, endpoint
from mockapis.media import FetchError, fetch_image, fetch_video
from mockapis.records import CREATE, MEDIA, READ
from mockapis.state import store

INSTAGRAM = GraphDialect(
    DECLARATION.name, DECLARATION.label, rate_limit_code=4, usage_type="instagram", processes=MEDIA
)


@endpoint(INSTAGRAM, {"POST": MEDIA, "GET": READ}, account=node)
def ig_media(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        items = [
            {
                "id": p.id,
                "caption": p.text,
                "timestamp": graph_time(p.created),
                "media_type": p.extra.get("media_type", "IMAGE"),
                "media_product_type": p.extra.get("media_product_type", "FEED"),
                "permalink": f"https://www.instagram.com/p/{p.extra.get('shortcode') or p.id}/",
                "_ts": p.created,
            }
            for p in store.find_posts("INSTAGRAM", node)
        ]
        return listing(call, items, "id")

    media_type = str(call.param("media_type") or "IMAGE").upper()
    caption = str(call.param("caption") or "")
    if len(caption) > MAX_CAPTION or caption.count("#") > MAX_HASHTAGS:
        return INSTAGRAM.invalid(call, f"The caption is over {MAX_CAPTION:,} characters or {MAX_HASHTAGS} hashtags")
    carousel_item = str(call.param("is_carousel_item", "false")).lower() == "true"
    children: list[str] = []
    image_url, video_url = call.param("image_url"), call.param("video_url")
    fate, reason = processing_fate(call)
    video = media_type in ("REELS", "VIDEO")
    share_to_feed = str(call.param("share_to_feed", "true")).lower()
    if media_type == "CAROUSEL":
        children = [c.strip() for c in str(call.param("children") or "").split(",") if c.strip()]
        if not 2 <= len(children) <= 10:
            return INSTAGRAM.invalid(call, f"A carousel takes 2 to 10 children; got {len(children)}")
        for child in children:
            container = store.get("containers", child)
            if container is None or container["owner"] != node or not container["is_carousel_item"]:
                return INSTAGRAM.invalid(call, f"Param children has an id that is not a carousel item here: {child}")
            # A carousel is processed with its items: one with a video takes as long, and fails with it.
            video = video or container.get("video", False)
            if container["fate"] == "ERROR" and fate is None:
                fate, reason = "ERROR", container.get("reason", "")
    elif video:
        if media_type == "VIDEO" and not carousel_item:
            return INSTAGRAM.invalid(
                call, "The VIDEO media type is no longer supported for a post: use REELS (VIDEO is a carousel item's)"
            )
        if media_type == "REELS" and carousel_item:
            return INSTAGRAM.invalid(call, "A Reel cannot be a carousel item: use media_type VIDEO")
        if not video_url:
            return INSTAGRAM.invalid(call, f"The parameter video_url is required for media_type {media_type}.")
        if share_to_feed not in ("true", "false"):
            return INSTAGRAM.invalid(call, "Param share_to_feed must be a boolean")
        try:
            fetch_video(video_url, store.config.fetch_timeout_seconds)
        except FetchError as err:
            # Instagram fetches a video while it processes the container: the container fails.
            call.outcome = "media_fetch_failed"
            fate, reason = (
                "ERROR",
                f"Error: Media download has failed. The media could not be fetched from this URI: {err}",
            )
    elif media_type == "IMAGE":
        if not image_url:
            return INSTAGRAM.invalid(call, "The parameter image_url is required.")
        try:
            fetch_image(image_url, store.config.fetch_timeout_seconds)
        except FetchError as err:
            call.outcome = "media_fetch_failed"
            return INSTAGRAM.error(
                9004,
                "Only photo or video can be accepted as media type.",
                subcode=2207052,
                is_transient=False,
                error_user_title="Media download has failed",
                error_user_msg=f"The media could not be fetched from this URI: {err}.",
            )
    else:
        return INSTAGRAM.invalid(
            call, f"media_type {media_type} is not supported by the stand-in (IMAGE, REELS, VIDEO, CAROUSEL)"
        )

    container_id = store.digits(17, "178")
    store.put(
        "containers",
        container_id,
        {
            "id": container_id,
            "owner": node,
            "caption": caption,
            "image_url": image_url,
            "video_url": video_url,
            "video": video,
            "share_to_feed": share_to_feed == "true",
            "is_carousel_item": carousel_item,
            "media_type": media_type,
            "children": children,
            "in_progress_answers": 0,
            "fate": fate,
            "reason": reason,
            "media_id": None,
            "created": time.time(),
        },
    )
    store.add_media(
        "INSTAGRAM", node, container_id, source=video_url or image_url, media_type=media_type, children=children
    )
    call.outcome = "uploaded"
    return JsonResponse({"id": container_id})


@endpoint(INSTAGRAM, {"POST": CREATE}, account=node)
def ig_publish(call: Call, node: str, **_: Any) -> HttpResponse:
    creation_id = str(call.param("creation_id") or "")
    container = store.get("containers", creation_id)
    if container is None or container["owner"] != node:
        return INSTAGRAM.invalid(call, f"Param creation_id must be a media container of this account: {creation_id!r}")
    if container["is_carousel_item"]:
        return INSTAGRAM.invalid(call, f"Container {creation_id} is a carousel item; publish its carousel instead")
    status = container_status(container, poll=False)
    if status == "IN_PROGRESS":
        call.outcome = "not_ready"
        return INSTAGRAM.error(
            9007,
            "Media ID is not available",
            subcode=2207027,
            is_transient=False,
            error_user_title="Media is not ready to be published",
            error_user_msg="The media is not ready for publishing, please wait for a moment",
        )
    if status != "FINISHED":
        return INSTAGRAM.invalid(call, f"Container {creation_id} is {status} and cannot be published")

    limit = store.config.ig_daily_limit
    post, _ = store.create_post(
        "INSTAGRAM",
        node,
        container["caption"],
        make_id=lambda: store.digits(17, "180"),
        media_ids=container["children"] or [creation_id],
        reject_duplicates=False,
        daily_limit=limit,
        container_id=creation_id,
        # A Reel is listed as media_type VIDEO, media_product_type REELS.
        media_type="VIDEO" if container["media_type"] == "REELS" else container["media_type"],
        media_product_type="REELS" if container["media_type"] == "REELS" else "FEED",
        share_to_feed=container["share_to_feed"] if container["media_type"] == "REELS" else None,
        shortcode=store.token(11),
    )
    if post is None:
        call.outcome = "daily_limit"
        return INSTAGRAM.error(
            9,
            "Application request limit reached",
            subcode=2207042,
            is_transient=False,
            error_user_title="Max posts reached",
            error_user_msg=f"You have reached the maximum of {limit} posts that can be published with the API "
            "in 24 hours.",
        )
    store.update("containers", creation_id, media_id=post.id)
    call.outcome = "created"
    return JsonResponse({"id": post.id})


@endpoint(INSTAGRAM, {"GET": READ}, account=node)
def ig_limit(call: Call, node: str, **_: Any) -> HttpResponse:
    since = time.time() - DAY_SECONDS
    usage = sum(1 for p in store.find_posts("INSTAGRAM", node) if p.created >= since)
    quota = {
        "quota_usage": usage,
        "config": {"quota_total": store.config.ig_daily_limit, "quota_duration": DAY_SECONDS},
    }
    wanted = requested_fields(call, "quota_usage,config")
    return JsonResponse({"data": [{key: value for key, value in quota.items() if key in wanted}]})


urlpatterns = [
    re_path(GRAPH + r"/media/?$", ig_media),
    re_path(GRAPH + r"/media_publish/?$", ig_publish),
    re_path(GRAPH + r"/content_publishing_limit/?$", ig_limit),
]
