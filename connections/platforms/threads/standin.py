"""The Threads API as planrrr meets it (docs/platforms/threads.md), under ``threads/``:

* ``POST /v1.0/{threads-user-id}/threads`` ``media_type`` TEXT | IMAGE | VIDEO | CAROUSEL, ``text``,
  ``image_url``, ``video_url``, ``is_carousel_item``, ``children``, ``reply_to_id`` -> ``{"id":
  container_id}`` (request kind MEDIA: nothing is public yet); ``GET`` lists the account's posts,
  newest first (``since``, ``until``, ``limit``, ``after``), ``.../replies`` its replies. A video is
  really fetched (mockapis.media.fetch_video); one that cannot be makes a container that ends in
  ERROR with ``FAILED_DOWNLOADING_VIDEO``, as Threads fetches a video while it processes it.
* ``GET /v1.0/{container-id}?fields=status,error_message`` -> IN_PROGRESS for
  ``threads_polls_before_finished`` polls (``video_polls_before_ready`` for a container with a
  video), then FINISHED (or ERROR / EXPIRED when ``_control/fail`` says ``container_error`` (its
  ``message`` the error_message) / ``container_expired`` on ``media``), PUBLISHED once published.
* ``POST /v1.0/{threads-user-id}/threads_publish`` ``creation_id`` -> ``{"id": media_id}`` (kind
  CREATE); a container younger than ``threads_publish_lag_seconds``, IN_PROGRESS or unknown:
  code 24, subcode 4279009 "Media Not Found", as Threads answers a publish that comes too early;
  over ``threads_daily_limit`` posts (``threads_reply_daily_limit`` replies) in 24 h: code 9,
  subcode 2207042 (Instagram's envelope; not confirmed for Threads).
* ``GET /v1.0/{threads-user-id}/threads_publishing_limit`` -> ``quota_usage``, ``config``,
  ``reply_quota_usage``, ``reply_config``.

Rate limits answer code 4 with HTTP 429, server errors code 1 / 2 with 500 / 503, in Graph's
envelope. The consent page, the token endpoints and ``/me`` are in standin_auth.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path

from connections.platforms.meta.standin import (
    VERSION,
    GraphDialect,
    graph_time,
    insights_answer,
    listing,
    pick,
    polls_needed,
    processing_fate,
    requested_fields,
)
from connections.platforms.threads import DECLARATION
from connections.platforms.threads.adapter import _counted_length
from mockapis import engagement
from mockapis.config import DAY_SECONDS
from mockapis.gate import Call, endpoint
from mockapis.media import FetchError, fetch_image, fetch_video
from mockapis.records import CREATE, MEDIA, READ
from mockapis.state import store

NODE = r"^threads/" + VERSION + r"(?P<node>[^/]+)"
MAX_TEXT = 500
MAX_CAROUSEL = 20
# Checks of the daily limits and the post they let through, made as one (the store's lock is not
# reentrant).
_publishing = threading.Lock()


class ThreadsDialect(GraphDialect):
    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        return self.error(4, "(#4) Application request limit reached", status=429, is_transient=True)

    def headers(self, call: Call, response: HttpResponse) -> None:
        """Threads documents no usage headers (its limits are per app and user, in impressions)."""


THREADS = ThreadsDialect(DECLARATION.name, DECLARATION.label, rate_limit_code=4, usage_type="threads", processes=MEDIA)


def node(call: Call, kwargs: dict) -> str:
    return kwargs["node"]


def not_found(container_id: str) -> JsonResponse:
    return THREADS.error(
        24,
        "The requested resource does not exist",
        subcode=4279009,
        is_transient=False,
        error_user_title="Media Not Found",
        error_user_msg=f"The media with id {container_id} cannot be found.",
    )


def text_length(text: str) -> int:
    return sum(_counted_length(character) for character in text)


def item_of(post) -> dict[str, Any]:
    return {
        "id": post.id,
        "text": post.text,
        "timestamp": graph_time(post.created),
        "media_type": post.extra.get("media_type", "TEXT_POST"),
        "media_product_type": "THREADS",
        "permalink": f"https://www.threads.net/@acmecoffee/post/{post.extra.get('shortcode', '')}",
        "shortcode": post.extra.get("shortcode", ""),
        "is_quote_post": bool(post.extra.get("quoted_post")),
        "is_reply": bool(post.extra.get("reply_to")),
        "replied_to": {"id": post.extra["reply_to"]} if post.extra.get("reply_to") else None,
        "_ts": post.created,
    }


def posts_of(account: str, *, replies: bool) -> list:
    return [p for p in store.find_posts("THREADS", account) if bool(p.extra.get("reply_to")) == replies]


@endpoint(THREADS, {"POST": MEDIA, "GET": READ}, account=node)
def threads_edge(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        return listing(call, [item_of(p) for p in posts_of(node, replies=False)], "id")

    media_type = str(call.param("media_type") or "").upper()
    text = str(call.param("text") or "")
    if text_length(text) > MAX_TEXT:
        return THREADS.invalid(call, f"Param text must be at most {MAX_TEXT} characters long.")
    carousel_item = str(call.param("is_carousel_item", "false")).lower() == "true"
    reply_to = str(call.param("reply_to_id") or "")
    if reply_to and store.find_post("THREADS", reply_to) is None:
        return THREADS.invalid(call, f"Param reply_to_id is not a Threads post: {reply_to}")
    image_url, video_url = call.param("image_url"), call.param("video_url")
    children: list[str] = []
    fate, reason = processing_fate(call)
    video = media_type == "VIDEO"
    if media_type == "TEXT":
        if not text:
            return THREADS.invalid(call, "Param text is required for media_type TEXT.")
    elif media_type == "IMAGE":
        if not image_url:
            return THREADS.invalid(call, "Param image_url is required for media_type IMAGE.")
        try:
            fetch_image(image_url, store.config.fetch_timeout_seconds)
        except FetchError as err:
            call.outcome = "media_fetch_failed"
            return THREADS.invalid(call, f"The media could not be fetched from this URI: {err}.")
    elif media_type == "VIDEO":
        if not video_url:
            return THREADS.invalid(call, "Param video_url is required for media_type VIDEO.")
        try:
            fetch_video(video_url, store.config.fetch_timeout_seconds)
        except FetchError:
            # Threads fetches a video while it processes the container: the container fails.
            call.outcome = "media_fetch_failed"
            fate, reason = "ERROR", "FAILED_DOWNLOADING_VIDEO"
    elif media_type == "CAROUSEL":
        children = [c.strip() for c in str(call.param("children") or "").split(",") if c.strip()]
        if not 2 <= len(children) <= MAX_CAROUSEL:
            return THREADS.invalid(call, f"A carousel takes 2 to {MAX_CAROUSEL} children; got {len(children)}")
        for child in children:
            container = store.get("threads_containers", child)
            if container is None or container["owner"] != node or not container["is_carousel_item"]:
                return THREADS.invalid(call, f"Param children has an id that is not a carousel item here: {child}")
            # A carousel is processed with its items: one with a video takes as long, and fails with it.
            video = video or container.get("video", False)
            if container["fate"] == "ERROR" and fate is None:
                fate, reason = "ERROR", container.get("reason", "")
    else:
        return THREADS.invalid(
            call,
            f"media_type {media_type or '(none)'} is not supported by the stand-in (TEXT, IMAGE, VIDEO, CAROUSEL)",
        )

    if fate == "ERROR" and not reason:
        reason = "FAILED_PROCESSING_VIDEO" if video else "UNKNOWN"
    container_id = store.digits(17, "178")
    store.put(
        "threads_containers",
        container_id,
        {
            "id": container_id,
            "owner": node,
            "text": text,
            "media_type": media_type,
            "image_url": image_url,
            "video_url": video_url,
            "video": video,
            "is_carousel_item": carousel_item,
            "children": children,
            "reply_to": reply_to,
            "in_progress_answers": 0,
            "fate": fate,
            "reason": reason,
            "media_id": None,
            "created": time.time(),
        },
    )
    store.add_media(
        "THREADS", node, container_id, source=video_url or image_url, media_type=media_type, children=children
    )
    call.outcome = "uploaded"
    return JsonResponse({"id": container_id})


def container_status(container: dict, *, poll: bool) -> str:
    with store.lock:
        if container["media_id"]:
            return "PUBLISHED"
        if time.time() - container["created"] > DAY_SECONDS:
            return "EXPIRED"
        needed = polls_needed(container.get("video", False), store.config.threads_polls_before_finished)
        if container["in_progress_answers"] < needed:
            if poll:
                container["in_progress_answers"] += 1
            return "IN_PROGRESS"
        return container["fate"] or "FINISHED"


@endpoint(THREADS, {"POST": CREATE}, account=node)
def threads_publish(call: Call, node: str, **_: Any) -> HttpResponse:
    creation_id = str(call.param("creation_id") or "")
    container = store.get("threads_containers", creation_id)
    if container is None or container["owner"] != node:
        call.outcome = "not_found"
        return not_found(creation_id)
    if container["is_carousel_item"]:
        return THREADS.invalid(call, f"Container {creation_id} is a carousel item; publish its carousel instead")
    status = container_status(container, poll=False)
    if status == "IN_PROGRESS" or time.time() - container["created"] < store.config.threads_publish_lag_seconds:
        # What Threads answers a publish that comes before it has made the container.
        call.outcome = "not_found_yet"
        return not_found(creation_id)
    if status != "FINISHED":
        return THREADS.invalid(call, f"Container {creation_id} is {status} and cannot be published")

    reply_to = container["reply_to"]
    limit = store.config.threads_reply_daily_limit if reply_to else store.config.threads_daily_limit
    media_type = {"TEXT": "TEXT_POST", "CAROUSEL": "CAROUSEL_ALBUM", "VIDEO": "VIDEO"}.get(
        container["media_type"], "IMAGE"
    )
    with _publishing:
        if usage(node, replies=bool(reply_to)) >= limit:
            post = None
        else:
            post, _ = store.create_post(
                "THREADS",
                node,
                container["text"],
                make_id=lambda: store.digits(17, "180"),
                media_ids=container["children"] or [creation_id],
                reject_duplicates=False,
                container_id=creation_id,
                media_type=media_type,
                reply_to=reply_to or None,
                shortcode=store.token(11),
            )
    if post is None:
        call.outcome = "daily_limit"
        what = "replies" if reply_to else "posts"
        return THREADS.error(
            9,
            "Application request limit reached",
            subcode=2207042,
            is_transient=False,
            error_user_title=f"Max {what} reached",
            error_user_msg=f"You have reached the maximum of {limit} {what} that can be published with the API "
            "in 24 hours.",
        )
    store.update("threads_containers", creation_id, media_id=post.id)
    call.outcome = "created"
    return JsonResponse({"id": post.id})


def usage(account: str, *, replies: bool) -> int:
    since = time.time() - DAY_SECONDS
    return sum(1 for p in posts_of(account, replies=replies) if p.created >= since)


@endpoint(THREADS, {"GET": READ}, account=node)
def threads_replies(call: Call, node: str, **_: Any) -> HttpResponse:
    return listing(call, [item_of(p) for p in posts_of(node, replies=True)], "id")


@endpoint(THREADS, {"GET": READ}, account=node)
def threads_limit(call: Call, node: str, **_: Any) -> HttpResponse:
    quota = {
        "quota_usage": usage(node, replies=False),
        "config": {"quota_total": store.config.threads_daily_limit, "quota_duration": DAY_SECONDS},
        "reply_quota_usage": usage(node, replies=True),
        "reply_config": {"quota_total": store.config.threads_reply_daily_limit, "quota_duration": DAY_SECONDS},
    }
    wanted = requested_fields(call, "quota_usage,config")
    return JsonResponse({"data": [{key: value for key, value in quota.items() if key in wanted}]})


def _owner(call: Call, kwargs: dict) -> str:
    container = store.get("threads_containers", kwargs["node"])
    if container:
        return container["owner"]
    post = store.find_post("THREADS", kwargs["node"])
    return post.account if post else ""


@endpoint(THREADS, {"GET": READ}, account=_owner)
def threads_node(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{id}``: a container's status, or a post."""
    wanted = requested_fields(call, "id")
    container = store.get("threads_containers", node)
    if container is not None:
        item: dict[str, Any] = {"id": node}
        if "status" in wanted or "error_message" in wanted:
            status = container_status(container, poll=True)
            item.update(status=status, error_message=container["reason"] if status == "ERROR" else "")
        return JsonResponse(pick(item, wanted))
    post = store.find_post("THREADS", node)
    if post is not None:
        return JsonResponse(pick(item_of(post), wanted))
    return THREADS.error(
        100,
        f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        subcode=33,
    )


# A post's insights (https://developers.facebook.com/docs/threads/insights).
INSIGHT_METRICS = ("views", "likes", "replies", "reposts", "quotes", "shares")


@endpoint(THREADS, {"GET": READ}, account=_owner)
def threads_insights_of_post(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{threads-media-id}/insights?metric=views,likes,...``, in Graph's insights shape."""
    post = store.find_post("THREADS", node)
    if post is None:
        return THREADS.error(
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
        )
    return insights_answer(call, post, INSIGHT_METRICS, store.retired_metrics("THREADS"))


@endpoint(THREADS, {"GET": READ}, account=node)
def threads_user_insights(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{threads-user-id}/threads_insights?metric=followers_count`` -> ``{"data": [{"name":
    "followers_count", "period": "day", "total_value": {"value": N}, "title", "description", "id"}]}``."""
    names = [name.strip() for name in str(call.param("metric") or "").split(",") if name.strip()]
    if names != ["followers_count"]:
        return THREADS.error(100, "(#100) The stand-in plays metric=followers_count only")
    return JsonResponse(
        {
            "data": [
                {
                    "name": "followers_count",
                    "period": "day",
                    "title": "followers_count",
                    "description": "Your followers on Threads.",
                    "total_value": {"value": engagement.followers(node)},
                    "id": f"{node}/insights/followers_count/day",
                }
            ]
        }
    )


urlpatterns = [
    # The consent page, the token endpoints and /me first: the node routes would take "me".
    path("", include("connections.platforms.threads.standin_auth")),
    re_path(NODE + r"/threads/?$", threads_edge),
    re_path(NODE + r"/threads_publish/?$", threads_publish),
    re_path(NODE + r"/replies/?$", threads_replies),
    re_path(NODE + r"/threads_publishing_limit/?$", threads_limit),
    re_path(NODE + r"/insights/?$", threads_insights_of_post),
    re_path(NODE + r"/threads_insights/?$", threads_user_insights),
    re_path(NODE + r"/?$", threads_node),
]
