"""Meta's Graph API as Facebook Pages and Instagram content publishing use it (docs/platforms/).

Facebook Pages:
* ``POST /v{N}/{page-id}/feed`` ``message``[, ``link``][, ``attached_media[i]={"media_fbid": id}``]
  -> ``{"id": "{page_id}_{post_id}"}``; ``GET`` the same edge lists the page's posts, newest
  first, for reconciliation (``fields``, ``since``, ``limit``).
* ``POST /v{N}/{page-id}/photos`` ``url``, ``caption``[, ``published=false``] ->
  ``{"id": photo_id, "post_id": "{page_id}_{post_id}"}`` (no ``post_id`` when unpublished).
  The image is really fetched from ``url``; failing that: code 324.

Instagram:
* ``POST /v{N}/{ig-user-id}/media`` ``image_url``, ``caption`` (or ``is_carousel_item=true``;
  or ``media_type=CAROUSEL`` with ``children=id1,id2``) -> ``{"id": container_id}``; an image
  that cannot be fetched: code 9004, subcode 2207052.
* ``GET /v{N}/{container-id}?fields=status_code`` -> IN_PROGRESS for
  ``container_polls_before_finished`` polls, then FINISHED (or ERROR / EXPIRED when
  ``_control/fail`` says ``container_error`` / ``container_expired``), PUBLISHED once published.
* ``POST /v{N}/{ig-user-id}/media_publish`` ``creation_id`` -> ``{"id": ig_media_id}``; not
  FINISHED: code 9007, subcode 2207027; over ``ig_daily_limit`` posts in 24 h: code 9, subcode 2207042.
* ``GET /v{N}/{ig-user-id}/media`` lists published media; ``.../content_publishing_limit`` the quota.

Comments (a first comment): ``POST /v{N}/{post-id}/comments`` (Facebook) or
``/{ig-media-id}/comments`` (Instagram) ``message`` -> ``{"id"}``; ``GET`` lists them, oldest
first: Facebook ``{"data": [{"id", "message", "created_time"}]}``, Instagram ``{"data": [{"id",
"text", "timestamp"}]}``. A post that does not exist: code 100, subcode 33. Request kind COMMENT.

Errors are ``{"error": {"message", "type": "OAuthException", "code", "error_subcode",
"fbtrace_id"}}`` (docs/platforms/facebook.md), HTTP 400 except code 4 (403, as Graph answers it) and 5xx for
transient ones. Every answer carries ``X-App-Usage``, ``X-Page-Usage`` and
``X-Business-Use-Case-Usage`` as JSON: percent of the rate-limit window used (0 while rate
limiting is off), 100 with ``estimated_time_to_regain_access`` (whole minutes, so 0 for the
stand-in's windows of seconds) when throttled.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, JsonResponse

from .gate import API_ERROR_MESSAGE, CREATE, Call, Dialect, endpoint
from .media import FetchError, Image, fetch_image, sniff
from .state import COMMENT, DAY_SECONDS, MEDIA, READ, store

MAX_MESSAGE = 63_206
MAX_CAPTION, MAX_HASHTAGS = 2_200, 30
# Facebook comments: 8,000 characters (unverified).
MAX_COMMENT = 8_000


class GraphDialect(Dialect):
    def __init__(self, platform: str, rate_limit_code: int, usage_type: str):
        self.platform = platform
        self.rate_limit_code = rate_limit_code
        self.usage_type = usage_type

    def token(self, call: Call) -> str | None:
        # facebook-sdk sends access_token as a query or form field; Graph also takes a header.
        return call.param("access_token") or super().token(call)

    def error(self, code: int, message: str, *, status: int = 400, subcode: int | None = None, **extra) -> JsonResponse:
        error = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error.update(extra)
        error["fbtrace_id"] = store.token(23)
        return JsonResponse({"error": error}, status=status)

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        if problem == "missing":
            return self.error(104, "An access token is required to request this resource.")
        if problem == "expired":
            now = datetime.now(UTC)
            return self.error(
                190,
                f"Error validating access token: Session has expired on {now:%A, %d-%b-%y %H:%M:%S} UTC. "
                f"The current time is {now:%A, %d-%b-%y %H:%M:%S} UTC.",
                subcode=463,
            )
        if problem == "revoked":
            return self.error(
                190,
                "Error validating access token: The session has been invalidated because the user changed their "
                "password or Facebook has changed the session for security reasons.",
                subcode=460,
            )
        return self.error(190, "Invalid OAuth access token - Cannot parse access token")

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return self.error(100, f"(#100) {message}")

    def api_error(self, call: Call) -> HttpResponse:
        return self.error(100, f"(#100) {API_ERROR_MESSAGE}")

    def server_error(self, call: Call, status: int) -> HttpResponse:
        if status == 500:
            message = (call.rule and call.rule.message) or "An unknown error occurred"
            return self.error(1, message, status=500, is_transient=True)
        return self.error(
            2, "An unexpected error has occurred. Please retry your request later.", status=status, is_transient=True
        )

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        if self.rate_limit_code == 4:
            return self.error(4, "(#4) Application request limit reached", status=403, is_transient=True)
        return self.error(32, "(#32) Page request limit reached")

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        return self.error(
            506,
            "(#506) Duplicate status message",
            subcode=1455006,
            is_transient=False,
            error_user_title="Duplicate Status Update",
            error_user_msg="This status update is identical to the last one you posted. Try posting something "
            "different, or delete your previous update.",
        )

    def headers(self, call: Call, response: HttpResponse) -> None:
        if call.throttled_for is not None:
            percent, regain = 100, call.throttled_for
        else:
            window = call.current_window()
            percent = window.percent
            regain = window.seconds_left() if window.exceeded else 0
        usage = {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
        response["X-App-Usage"] = json.dumps(usage)
        response["X-Page-Usage"] = json.dumps(usage)
        # Whole minutes, as Graph gives them: 0 for a window that ends within the minute.
        business = {**usage, "type": self.usage_type, "estimated_time_to_regain_access": int(regain // 60)}
        response["X-Business-Use-Case-Usage"] = json.dumps({call.account or "0": [business]})


FACEBOOK = GraphDialect("FACEBOOK", rate_limit_code=32, usage_type="pages")
INSTAGRAM = GraphDialect("INSTAGRAM", rate_limit_code=4, usage_type="instagram")


def node(call: Call, kwargs: dict) -> str:
    return kwargs["node"]


def graph_time(ts: float) -> str:
    """Graph's timestamps: ``2024-05-01T10:00:00+0000``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def requested_fields(call: Call, default: str) -> list[str]:
    return [f.strip() for f in str(call.param("fields") or default).split(",") if f.strip()]


def pick(item: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """The fields asked for that the object has; Graph always includes ``id`` and leaves out empty ones."""
    return {key: item[key] for key in ["id", *wanted] if item.get(key) not in (None, "")}


def listing(call: Call, items: list[dict], default_fields: str) -> JsonResponse:
    """A Graph edge page: ``since`` / ``until`` (Unix seconds), ``limit`` (default 25, at most 100)."""
    since, until = _unix(call.param("since")), _unix(call.param("until"))
    try:
        limit = min(100, max(1, int(call.param("limit") or 25)))
    except ValueError:
        return call.dialect.invalid(call, "Param limit must be an integer")
    items = [i for i in items if (since is None or i["_ts"] >= since) and (until is None or i["_ts"] <= until)]
    after = call.param("after")
    if after:
        ids = [str(i["id"]) for i in items]
        after_id = _uncursor(str(after))
        items = items[ids.index(after_id) + 1 :] if after_id in ids else []
    wanted = requested_fields(call, default_fields)
    data = [pick(item, wanted) for item in items[:limit]]
    paging = {}
    if data:
        paging["cursors"] = {"before": _cursor(data[0]["id"]), "after": _cursor(data[-1]["id"])}
        if len(items) > limit:
            # Graph gives the whole URL of the next page; clients may follow it or pass ``after``.
            query = call.request.GET.copy()
            query["after"] = paging["cursors"]["after"]
            paging["next"] = call.request.build_absolute_uri(f"{call.request.path}?{query.urlencode()}")
    return JsonResponse({"data": data, "paging": paging} if paging else {"data": data})


def _cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        return ""


def _unix(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None


# --- Facebook Pages -------------------------------------------------------------------------


@endpoint(FACEBOOK, {"POST": CREATE, "GET": READ}, account=node)
def feed(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        posts = [
            {"id": p.id, "message": p.text, "created_time": graph_time(p.created), "_ts": p.created}
            for p in store.find_posts("FACEBOOK", node)
        ]
        return listing(call, posts, "id,message,created_time")

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


def _uploaded(source) -> Image:
    head = source.read(64 * 1024)
    image = sniff(head, source.size)
    if image is None:
        raise FetchError("the uploaded source is not an image")
    return image


# --- Instagram ------------------------------------------------------------------------------


@endpoint(INSTAGRAM, {"POST": MEDIA, "GET": READ}, account=node)
def ig_media(call: Call, node: str, **_: Any) -> HttpResponse:
    if call.request.method == "GET":
        items = [
            {
                "id": p.id,
                "caption": p.text,
                "timestamp": graph_time(p.created),
                "media_type": p.extra.get("media_type", "IMAGE"),
                "permalink": f"https://www.instagram.com/p/{p.extra.get('shortcode', '')}/",
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
    image_url = call.param("image_url")
    if media_type == "CAROUSEL":
        children = [c.strip() for c in str(call.param("children") or "").split(",") if c.strip()]
        if not 2 <= len(children) <= 10:
            return INSTAGRAM.invalid(call, f"A carousel takes 2 to 10 children; got {len(children)}")
        for child in children:
            container = store.get("containers", child)
            if container is None or container["owner"] != node or not container["is_carousel_item"]:
                return INSTAGRAM.invalid(call, f"Param children has an id that is not a carousel item here: {child}")
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
        return INSTAGRAM.invalid(call, f"media_type {media_type} is not supported by the stand-in (IMAGE, CAROUSEL)")

    fate = {"container_error": "ERROR", "container_expired": "EXPIRED"}.get(call.rule.mode) if call.rule else None
    container_id = store.digits(17, "178")
    store.put(
        "containers",
        container_id,
        {
            "id": container_id,
            "owner": node,
            "caption": caption,
            "image_url": image_url,
            "is_carousel_item": carousel_item,
            "media_type": media_type,
            "children": children,
            "in_progress_answers": 0,
            "fate": fate,
            "media_id": None,
            "created": time.time(),
        },
    )
    store.add_media("INSTAGRAM", node, container_id, source=image_url, media_type=media_type, children=children)
    call.outcome = "uploaded"
    return JsonResponse({"id": container_id})


STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is complete.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "ERROR": "Error: Media upload has failed with error code 2207052 (the stand-in was told to fail it)",
    "EXPIRED": "Expired: The container was not published within 24 hours.",
}


def container_status(container: dict, *, poll: bool) -> str:
    """IN_PROGRESS for the first ``container_polls_before_finished`` status polls, then FINISHED
    (or the fate _control/fail gave it); PUBLISHED once published; EXPIRED after 24 hours."""
    with store.lock:
        if container["media_id"]:
            return "PUBLISHED"
        if time.time() - container["created"] > DAY_SECONDS:
            return "EXPIRED"
        if container["in_progress_answers"] < store.config.container_polls_before_finished:
            if not poll:
                return "IN_PROGRESS"
            container["in_progress_answers"] += 1
            return "IN_PROGRESS"
        return container["fate"] or "FINISHED"


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
        media_type=container["media_type"],
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


# --- any node -------------------------------------------------------------------------------


def _node_platform(kwargs: dict) -> GraphDialect:
    node_id = kwargs["node"]
    if store.get("containers", node_id) or store.find_post("INSTAGRAM", node_id):
        return INSTAGRAM
    return FACEBOOK


def _node_owner(call: Call, kwargs: dict) -> str:
    node_id = kwargs["node"]
    container = store.get("containers", node_id)
    if container:
        return container["owner"]
    photo = store.get("photos", node_id)
    if photo:
        return photo["page"]
    post = store.find_post(call.platform, node_id)
    return post.account if post else ""


@endpoint(_node_platform, {"GET": READ}, account=_node_owner)
def node_object(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{id}``: an Instagram container's status, or a post, photo or Instagram media."""
    wanted = requested_fields(call, "id")
    container = store.get("containers", node)
    if container is not None:
        item = {"id": node}
        if "status_code" in wanted or "status" in wanted:
            status = container_status(container, poll=True)
            item.update(status_code=status, status=STATUS_TEXT[status])
        return JsonResponse(pick(item, wanted))
    post = store.find_post(call.platform, node)
    if post is not None:
        item = {
            "id": post.id,
            "message": post.text,
            "caption": post.text,
            "created_time": graph_time(post.created),
            "timestamp": graph_time(post.created),
        }
        return JsonResponse(pick(item, wanted))
    photo = store.get("photos", node)
    if photo is not None:
        return JsonResponse(pick({"id": node, "published": photo["published"]}, wanted))
    return call.dialect.error(
        100,
        f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33,
    )


# --- comments -------------------------------------------------------------------------------


def _commented_post(call: Call, kwargs: dict) -> str:
    post = store.find_post(call.platform, kwargs["node"])
    return post.account if post else ""


@endpoint(_node_platform, {"POST": COMMENT, "GET": READ}, account=_commented_post)
def comments(call: Call, node: str, **_: Any) -> HttpResponse:
    dialect, platform = call.dialect, call.platform
    if store.find_post(platform, node) is None:
        return dialect.error(
            100,
            f"Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
        )
    if call.request.method == "GET":
        text_key, time_key = ("text", "timestamp") if platform == "INSTAGRAM" else ("message", "created_time")
        items = [
            {"id": c["id"], text_key: c["text"], time_key: graph_time(c["created"]), "_ts": c["created"]}
            for c in reversed(store.find_comments(platform, node))
        ]
        return listing(call, items, f"id,{text_key},{time_key}")
    message = call.param("message")
    if not isinstance(message, str) or not message.strip():
        return dialect.invalid(call, "The parameter message is required")
    limit = MAX_CAPTION if platform == "INSTAGRAM" else MAX_COMMENT
    if len(message) > limit:
        return dialect.invalid(call, f"The comment is {len(message):,} characters; the limit is {limit:,}")
    comment_id = f"{node.split('_')[0]}_{store.digits(16)}" if platform == "FACEBOOK" else store.digits(17, "1")
    store.add_comment(platform, node, call.account, message, comment_id)
    call.outcome = "commented"
    return JsonResponse({"id": comment_id})
