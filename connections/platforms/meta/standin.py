"""Meta's Graph API as Facebook Pages and Instagram content publishing share it
(docs/platforms/facebook.md, docs/platforms/instagram.md): its error envelope and usage headers
(:class:`GraphDialect`), its edge pages (``listing``), ``GET /v{N}/{id}`` for any object (an
Instagram container's status and a Facebook video's among them), what Meta processes (a container,
a video: ``processing_fate``, ``polls_needed``) and the comments on a post. Facebook's own endpoints are
in connections/platforms/facebook/standin.py, Instagram's in .../instagram/standin.py; these
shared routes are mounted with Facebook's.

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
from django.urls import re_path

from mockapis import engagement
from mockapis.config import DAY_SECONDS
from mockapis.gate import API_ERROR_MESSAGE, DIALECTS, Call, Dialect, endpoint
from mockapis.records import COMMENT, READ
from mockapis.state import store

# /graph[/v21.0]/<node>: Graph takes an optional version prefix.
VERSION = r"(?:(?P<version>v\d+(?:\.\d+)?)/)?"
GRAPH = r"^graph/" + VERSION + r"(?P<node>[^/]+)"

MAX_CAPTION, MAX_HASHTAGS = 2_200, 30
# Facebook comments: 8,000 characters (unverified).
MAX_COMMENT = 8_000


class GraphDialect(Dialect):
    def __init__(
        self, platform: str, label: str, rate_limit_code: int, usage_type: str, *, processes: str | None = None
    ):
        super().__init__(platform, label)
        self.rate_limit_code = rate_limit_code
        self.usage_type = usage_type
        self.processes = processes

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


# The two platforms on the Graph API; each one's stand-in makes its GraphDialect.
FACEBOOK, INSTAGRAM = "FACEBOOK", "INSTAGRAM"


def node(call: Call, kwargs: dict) -> str:
    return kwargs["node"]


def graph_time(ts: float) -> str:
    """Graph's timestamps: ``2024-05-01T10:00:00+0000``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def requested_fields(call: Call, default: str) -> list[str]:
    """The fields asked for, by name: a field expanded with its own (``attachments{target{id}}``) is
    named once, its braces' commas not taken for the list's."""
    names, depth, current = [], 0, ""
    for character in f"{call.param('fields') or default},":
        if character == "," and depth == 0:
            names.append(current.split("{", 1)[0].strip())
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(character, 0)
        current += character
    return [name for name in names if name]


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


# --- what Meta processes: containers, Facebook videos ---------------------------------------


def processing_fate(call: Call) -> tuple[str | None, str]:
    """What the container (or Facebook video) this request makes ends in, by the _control/fail
    rule that applies to it: ("ERROR", the rule's message as the platform's reason, "" for the
    platform's own default) for container_error, ("EXPIRED", "") for container_expired, else
    (None, "")."""
    mode = call.rule.mode if call.rule else ""
    fate = {"container_error": "ERROR", "container_expired": "EXPIRED"}.get(mode)
    return fate, (call.rule.message if fate == "ERROR" and call.rule else "")


def polls_needed(video: bool, images: int) -> int:
    """Status polls a new container answers still processing: ``images`` (the platform's figure)
    for images, ``video_polls_before_ready`` when it holds a video."""
    return store.config.video_polls_before_ready if video else images


# --- Instagram containers, readable as any node -------------------------------------------

STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is complete.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "ERROR": "Error: Media upload has failed with error code 2207052 (the stand-in was told to fail it)",
    "EXPIRED": "Expired: The container was not published within 24 hours.",
}


def container_status(container: dict, *, poll: bool) -> str:
    """IN_PROGRESS for the first ``container_polls_before_finished`` status polls (a container with
    a video: ``video_polls_before_ready``), then FINISHED (or the fate _control/fail or a video that
    could not be fetched gave it); PUBLISHED once published; EXPIRED after 24 hours."""
    with store.lock:
        if container["media_id"]:
            return "PUBLISHED"
        if time.time() - container["created"] > DAY_SECONDS:
            return "EXPIRED"
        needed = polls_needed(container.get("video", False), store.config.container_polls_before_finished)
        if container["in_progress_answers"] < needed:
            if poll:
                container["in_progress_answers"] += 1
            return "IN_PROGRESS"
        return container["fate"] or "FINISHED"


def container_text(container: dict, status: str) -> str:
    """The container's ``status`` field: Instagram's words for its status_code, its own reason for
    an ERROR when it has one."""
    if status == "ERROR" and container.get("reason"):
        return str(container["reason"])
    return STATUS_TEXT[status]


# --- Facebook videos, readable as any node ----------------------------------------------------

# What the stand-in's Facebook says of a video it could not process, unless told otherwise.
VIDEO_ERROR = (6000, "There was a problem uploading your video file. Please try again with another file.")


def video_status(video: dict, *, poll: bool) -> dict:
    """A Facebook video's ``status`` (https://developers.facebook.com/docs/graph-api/reference/video-status):
    ``processing`` for its first ``video_polls_before_ready`` polls, then ``ready`` (or ``error``
    / ``expired``, its fate), with the upload, processing and publishing phases. Ready, it becomes
    the page's post, under the video's id."""
    with store.lock:
        needed = store.config.video_polls_before_ready
        if video["polls"] < needed:
            if poll:
                video["polls"] += 1
            state = "processing"
        else:
            state = {"ERROR": "error", "EXPIRED": "expired"}.get(video["fate"] or "", "ready")
        publish = state == "ready" and not video["post_id"]
        if publish:
            video["post_id"] = video["id"]
        polls = video["polls"]
    if publish:
        store.create_post(
            FACEBOOK,
            video["page"],
            video["description"],
            make_id=lambda: video["id"],
            media_ids=[video["id"]],
            reject_duplicates=False,
            media_type="VIDEO",
        )
    processing = {"processing": "in_progress", "error": "error"}.get(state, "complete")
    body: dict[str, Any] = {
        "video_status": state,
        "processing_progress": 100 if state == "ready" else min(99, polls * 100 // (needed + 1)),
        "uploading_phase": {"status": "complete", "bytes_transferred": video["size"]},
        "processing_phase": {"status": processing},
        "publishing_phase": {"status": "complete" if state == "ready" else "not_started"},
    }
    if state == "ready":
        body["publishing_phase"].update(publish_status="published", publish_time=graph_time(video["created"]))
    if state == "error":
        code, message = VIDEO_ERROR
        body["processing_phase"]["errors"] = [{"code": code, "message": video["reason"] or message}]
    return body


# --- any node -------------------------------------------------------------------------------


def _node_platform(kwargs: dict) -> GraphDialect:
    node_id = kwargs["node"]
    instagram = store.get("containers", node_id) or store.find_post(INSTAGRAM, node_id)
    return DIALECTS[INSTAGRAM if instagram else FACEBOOK]


def _node_owner(call: Call, kwargs: dict) -> str:
    node_id = kwargs["node"]
    container = store.get("containers", node_id)
    if container:
        return container["owner"]
    video = store.get("videos", node_id)
    if video:
        return video["page"]
    photo = store.get("photos", node_id)
    if photo:
        return photo["page"]
    post = store.find_post(call.platform, node_id)
    return post.account if post else ""


@endpoint(_node_platform, {"GET": READ}, account=_node_owner)
def node_object(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{id}``: an Instagram container's status, a Facebook video's, or a post, photo or
    Instagram media."""
    wanted = requested_fields(call, "id")
    container = store.get("containers", node)
    if container is not None:
        item = {"id": node}
        if "status_code" in wanted or "status" in wanted:
            status = container_status(container, poll=True)
            item.update(status_code=status, status=container_text(container, status))
        return JsonResponse(pick(item, wanted))
    video = store.get("videos", node)
    if video is not None:
        item = {
            "id": node,
            "description": video["description"],
            "created_time": graph_time(video["created"]),
            "published": video["published"],
        }
        if "status" in wanted:
            item["status"] = video_status(video, poll=True)
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
        if post.extra.get("shortcode"):  # an Instagram media's address
            item["permalink"] = f"https://www.instagram.com/p/{post.extra['shortcode']}/"
        return JsonResponse(pick(item, wanted))
    photo = store.get("photos", node)
    if photo is not None:
        return JsonResponse(pick({"id": node, "published": photo["published"]}, wanted))
    if any(name in ACCOUNT_FIELDS for name in wanted):
        # A page or an Instagram account asked for its counts.
        posts = store.find_posts(call.platform, node)
        counts = {"followers_count": engagement.followers(node), "follows_count": 90, "media_count": len(posts)}
        return JsonResponse(pick({"id": node, **counts, "fan_count": counts["followers_count"]}, wanted))
    return call.dialect.error(
        100,
        f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33,
    )


# --- insights -------------------------------------------------------------------------------

# The metrics each platform's media insights take (v22.0: Instagram has "views", no "impressions"),
# and those answered as a breakdown by type.
INSIGHT_METRICS = {
    FACEBOOK: (
        "post_impressions",
        "post_impressions_unique",
        "post_clicks",
        "post_reactions_by_type_total",
        "post_activity_by_action_type",
        "post_video_views",
    ),
    INSTAGRAM: ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions"),
}
# Metrics given for a video only (a Reel's watch time, in milliseconds); another post refuses them
# with Meta's words.
VIDEO_METRICS = {INSTAGRAM: ("ig_reels_video_view_total_time", "ig_reels_avg_watch_time")}
# A Facebook Page video's own insights edge (video_insights), milliseconds.
FACEBOOK_VIDEO_METRICS = ("total_video_view_total_time", "total_video_avg_time_watched")
BREAKDOWNS = {
    "post_reactions_by_type_total": ("like", "love", "wow"),
    "post_activity_by_action_type": ("like", "comment", "share"),
}
# What an account node tells about itself when asked (a page's, an Instagram account's counts).
ACCOUNT_FIELDS = ("followers_count", "fan_count", "follows_count", "media_count")


def insights_answer(
    call: Call,
    post,
    known: tuple[str, ...],
    retired: set[str],
    video: tuple[str, ...] = (),
    *,
    is_video: bool = False,
    plays: str = "views",
) -> HttpResponse:
    """``GET /{id}/insights?metric=a,b`` (a Facebook video's ``/{id}/video_insights`` alike):
    ``{"data": [{"name", "period": "lifetime", "values": [{"value"}], "title", "description", "id"}]}``.
    An unknown metric, or one retired by ``_control/analytics``, fails the whole request with code
    100, as Graph does; so does a ``video`` metric asked of a post that is not a video. A video
    metric's value is milliseconds: 4.2 s for each of the ``plays``, growing with age as they do."""
    names = [name.strip() for name in str(call.param("metric") or "").split(",") if name.strip()]
    if not names:
        return call.dialect.error(100, "(#100) The parameter metric is required")
    for index, name in enumerate(names):
        if name in retired:
            return call.dialect.error(
                100,
                f"(#100) Starting from version v22.0 and above, the {name} metric is no longer supported for "
                "this media. Please refer to the documentation for a list of supported metrics.",
            )
        if name in video and not is_video:
            return call.dialect.error(
                100, f"(#100) The Media Insights API does not support the {name} metric for this media product type."
            )
        if name not in known and name not in video:
            return call.dialect.error(
                100, f"(#100) metric[{index}] must be one of the following values: {', '.join(known)}"
            )
    data = []
    for name in names:
        if name in BREAKDOWNS:
            value: Any = engagement.counts(post.id, post.created, [f"{name}.{key}" for key in BREAKDOWNS[name]])
            value = {key.rsplit(".", 1)[-1]: number for key, number in value.items()}
        elif name in video:
            played = engagement.count(post.id, post.created, plays)
            value = played * 4_200 if name.endswith("total_time") else (4_200 if played else 0)
        else:
            value = engagement.count(post.id, post.created, name)
        data.append(
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": name.replace("_", " ").capitalize(),
                "description": f"Lifetime: {name}",
                "id": f"{post.id}/insights/{name}/lifetime",
            }
        )
    return JsonResponse({"data": data})


@endpoint(_node_platform, {"GET": READ}, account=_node_owner)
def insights(call: Call, node: str, **_: Any) -> HttpResponse:
    post = store.find_post(call.platform, node)
    if post is None:
        return call.dialect.error(
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
        )
    return insights_answer(
        call,
        post,
        INSIGHT_METRICS[call.platform],
        store.retired_metrics(call.platform),
        VIDEO_METRICS.get(call.platform, ()),
        is_video=post.extra.get("media_product_type") == "REELS",
    )


@endpoint(_node_platform, {"GET": READ}, account=_node_owner)
def video_insights(call: Call, node: str, **_: Any) -> HttpResponse:
    """``GET /{video-id}/video_insights?metric=total_video_view_total_time,total_video_avg_time_watched``
    (milliseconds), of a Page video: the page's post made under the video's id."""
    post = store.find_post(call.platform, node) if call.platform == FACEBOOK else None
    if post is None or not store.get("videos", node):
        return call.dialect.error(
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
        )
    known = FACEBOOK_VIDEO_METRICS
    return insights_answer(
        call, post, (), store.retired_metrics(call.platform), known, is_video=True, plays="post_video_views"
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
        text_key, time_key = ("text", "timestamp") if platform == INSTAGRAM else ("message", "created_time")
        items = [
            {"id": c["id"], text_key: c["text"], time_key: graph_time(c["created"]), "_ts": c["created"]}
            for c in reversed(store.find_comments(platform, node))
        ]
        return listing(call, items, f"id,{text_key},{time_key}")
    message = call.param("message")
    if not isinstance(message, str) or not message.strip():
        return dialect.invalid(call, "The parameter message is required")
    limit = MAX_CAPTION if platform == INSTAGRAM else MAX_COMMENT
    if len(message) > limit:
        return dialect.invalid(call, f"The comment is {len(message):,} characters; the limit is {limit:,}")
    comment_id = f"{node.split('_')[0]}_{store.digits(16)}" if platform == FACEBOOK else store.digits(17, "1")
    store.add_comment(platform, node, call.account, message, comment_id)
    call.outcome = "commented"
    return JsonResponse({"id": comment_id})


urlpatterns = [
    re_path(GRAPH + r"/comments/?$", comments),
    re_path(GRAPH + r"/insights/?$", insights),
    re_path(GRAPH + r"/video_insights/?$", video_insights),
    re_path(GRAPH + r"/?$", node_object),
]
