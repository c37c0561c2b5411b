"""Pinterest's API v5 as planrrr meets it (docs/platforms/pinterest.md), under ``pinterest/``:

* ``GET v5/boards`` -> ``{"items": [{"id", "name", "description", "privacy", "owner"}],
  "bookmark": null}``: the logged-in person's boards (less those ``pinterest_deleted_boards``
  names).
* ``POST v5/pins`` (JSON) ``board_id``, ``description`` (800), ``title`` (100), ``link``
  (2048), ``alt_text`` (500), ``media_source``: ``image_url`` (fetched, as Pinterest does),
  ``multiple_image_urls`` (2 to 5), or ``video_id`` (a media that ``succeeded``, with
  ``cover_image_url`` or ``cover_image_key_frame_time``: a video pin without a cover is refused)
  -> 201 with the Pin (request kind CREATE). A board that is not the account's: 404.
* ``GET v5/boards/{board_id}/pins?page_size&bookmark`` -> ``{"items": [Pin], "bookmark"}``,
  newest first; ``GET v5/pins?pin_filter&page_size&bookmark`` the same of every pin the account
  owns (``pin_filter=exclude_repins``: not those saved from another's pin, ``parent_pin_id``;
  ``exclude_native``: only those).
* ``POST v5/media {"media_type": "video"}`` -> 201 ``{"media_id", "media_type", "upload_url",
  "upload_parameters"}`` (kind MEDIA); ``GET v5/media/{media_id}`` -> ``status``:
  ``registered`` until the upload, ``processing`` for ``pinterest_processing_polls`` looks,
  then ``succeeded``, or ``failed`` when the bytes uploaded were not a video.
* ``POST pinterest-upload/`` (Amazon S3's form upload, as ``upload_url`` points): a multipart
  form whose fields S3 reads in order, ignoring what follows the file: a form with the file
  before the parameters is refused as S3 refuses it (400 InvalidArgument "Bucket POST must
  contain a field named 'key'"); 204 otherwise. ``pinterest_cut_uploads``: the next uploads are
  cut half-way (the connection dropped, nothing kept).

Errors are ``{"code", "message"}``; 429 carries ``x-ratelimit-*`` headers and Retry-After. The
consent page, the token endpoint and ``v5/user_account`` are in standin_auth.py.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connections.platforms.pinterest import DECLARATION
from mockapis import engagement
from mockapis.gate import (
    API_ERROR_MESSAGE,
    CREATE,
    Call,
    ConnectionDropped,
    Dialect,
    _log_entry,
    drop_connection,
    endpoint,
)
from mockapis.media import FetchError, fetch_image, sniff_video
from mockapis.oauth import identity
from mockapis.records import MEDIA, READ, iso
from mockapis.state import store

V5 = r"^pinterest/v5/"
LIMITS = {"description": 800, "title": 100, "link": 2048, "alt_text": 500}

# Who logs in (standin_auth.py) and their boards.
PEOPLE: list[dict[str, Any]] = [
    {
        "id": "1130405611271855432",
        "username": "acmecoffee",
        "name": "Acme Coffee",
        "boards": [
            {"id": "1130405542553124017", "name": "Coffee at home", "privacy": "PUBLIC"},
            {"id": "1130405542553124018", "name": "Latte art", "privacy": "PUBLIC"},
        ],
    },
    {
        "id": "1130405611271855999",
        "username": "samsolo",
        "name": "Sam Solo",
        "boards": [{"id": "1130405542553129001", "name": "Ideas", "privacy": "SECRET"}],
    },
]


class PinterestDialect(Dialect):
    def error(self, status: int, code: int, message: str) -> JsonResponse:
        return JsonResponse({"code": code, "message": message}, status=status)

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        words = {"missing": "Authentication failed.", "expired": "Authentication failed: the access token expired."}
        return self.error(401, 2, words.get(problem, f"Authentication failed: the access token is {problem}."))

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return self.error(400, 1, message)

    def api_error(self, call: Call) -> HttpResponse:
        return self.invalid(call, API_ERROR_MESSAGE)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        message = (call.rule and call.rule.message) or "Something went wrong on our end. Sorry about that."
        return self.error(status, 1, message)

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        response = self.error(429, 8, "You have exceeded your rate limit. Try again later.")
        response["Retry-After"] = str(max(1, math.ceil(seconds)))
        return response

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        # Pinterest refuses no pin as a duplicate; a forced one reads as a validation error.
        return self.invalid(call, "Duplicate pin.")

    def headers(self, call: Call, response: HttpResponse) -> None:
        """Usage of the account's window (names as other schedulers report them; not in the spec)."""
        window = call.current_window()
        response["x-ratelimit-limit"] = str(window.limit)
        response["x-ratelimit-remaining"] = str(window.remaining)
        response["x-ratelimit-reset"] = str(max(0, math.ceil(window.seconds_left())))


PINTEREST = PinterestDialect(DECLARATION.name, DECLARATION.label)


def person_of(call: Call) -> dict[str, Any]:
    issued = store.issued_token(call.token)
    return identity(PEOPLE, issued.account if issued else None) or PEOPLE[0]


def account_of(call: Call, kwargs: dict) -> str:
    return person_of(call)["id"]


def boards_of(person: dict[str, Any]) -> list[dict[str, Any]]:
    deleted = {b.strip() for b in store.config.pinterest_deleted_boards.split(",") if b.strip()}
    return [b for b in person["boards"] if b["id"] not in deleted]


def board_item(board: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": board["id"],
        "name": board["name"],
        "description": "",
        "privacy": board["privacy"],
        "owner": {"username": person["username"]},
    }


def page(call: Call, items: list[dict]) -> JsonResponse:
    """``page_size`` (1..250, default 25) items from ``bookmark`` (an offset here, opaque there)."""
    try:
        size = int(call.query.get("page_size", 25))
        start = int(call.query.get("bookmark") or 0)
    except ValueError:
        return PINTEREST.invalid(call, "Invalid page_size or bookmark.")
    if not 1 <= size <= 250:
        return PINTEREST.invalid(call, "page_size must be between 1 and 250.")
    chunk = items[start : start + size]
    more = start + size < len(items)
    return JsonResponse({"items": chunk, "bookmark": str(start + size) if more else None})


@endpoint(PINTEREST, {"GET": READ}, account=account_of)
def boards(call: Call) -> HttpResponse:
    person = person_of(call)
    return page(call, [board_item(b, person) for b in boards_of(person)])


def pin_of(post) -> dict[str, Any]:
    """A pin as Pinterest shows it; one ``_control/posts`` made names what it lacks as a regular pin."""
    extra = post.extra
    return {
        "id": post.id,
        "created_at": iso(post.created).replace("Z", "+00:00"),
        "board_id": extra.get("board_id") or "",
        "description": post.text,
        "title": extra.get("title"),
        "link": extra.get("link"),
        "alt_text": extra.get("alt_text"),
        "creative_type": extra.get("creative_type") or "REGULAR",
        "media": extra.get("media") or {"media_type": "image"},
        "is_owner": True,
        "parent_pin_id": extra.get("parent_pin_id"),
    }


@endpoint(PINTEREST, {"GET": READ}, account=account_of)
def board_pins(call: Call, board_id: str) -> HttpResponse:
    person = person_of(call)
    if board_id not in {b["id"] for b in boards_of(person)}:
        return PINTEREST.error(404, 40, "Board not found.")
    pins = [pin_of(p) for p in store.find_posts("PINTEREST", person["id"]) if p.extra.get("board_id") == board_id]
    return page(call, pins)


VIDEO_METRIC_TYPES = ("VIDEO_MRC_VIEW", "VIDEO_V50_WATCH_TIME", "VIDEO_AVG_WATCH_TIME")
LIFETIME_METRIC_TYPES = ("TOTAL_COMMENTS", "TOTAL_REACTIONS")
PIN_METRIC_TYPES = (
    "IMPRESSION",
    "SAVE",
    "PIN_CLICK",
    "OUTBOUND_CLICK",
    "ENGAGEMENT",
    *LIFETIME_METRIC_TYPES,
    *VIDEO_METRIC_TYPES,
)
# A video pin's average play time, in milliseconds, with a fraction as in the spec's example
# (VIDEO_AVG_WATCH_TIME 2507.75): its total play time is its video views times this.
AVERAGE_PLAY_MS = 2507.75


@endpoint(PINTEREST, {"GET": READ}, account=account_of)
def pin_analytics(call: Call, pin_id: str) -> HttpResponse:
    """``GET v5/pins/{pin_id}/analytics?start_date&end_date&metric_types`` -> ``{"all":
    {"lifetime_metrics", "daily_metrics", "summary_metrics"}}``: the pin's counts grown by age
    (mockapis.engagement); a start over 90 days back is 400, another account's or unknown pin
    404, a metric retired by ``_control/analytics`` left out. TOTAL_COMMENTS and TOTAL_REACTIONS
    come in ``lifetime_metrics`` (integers), the others in ``summary_metrics`` and the day's
    ``metrics``; the video metrics for a video pin only: VIDEO_MRC_VIEW, VIDEO_V50_WATCH_TIME (its
    views times AVERAGE_PLAY_MS, milliseconds) and VIDEO_AVG_WATCH_TIME (AVERAGE_PLAY_MS)."""
    post = store.find_post("PINTEREST", pin_id)
    if post is None or post.account != person_of(call)["id"]:
        return PINTEREST.error(404, 50, "Pin not found.")
    try:
        start = datetime.date.fromisoformat(str(call.query.get("start_date") or ""))
        end = datetime.date.fromisoformat(str(call.query.get("end_date") or ""))
    except ValueError:
        return PINTEREST.invalid(call, "start_date and end_date are required, as YYYY-MM-DD.")
    today = datetime.datetime.now(datetime.UTC).date()
    if (today - start).days > 90 or end < start:
        return PINTEREST.invalid(call, "start_date cannot be more than 90 days back from today, nor after end_date.")
    wanted = [t for t in str(call.query.get("metric_types") or "").split(",") if t in PIN_METRIC_TYPES]
    if not wanted:
        return PINTEREST.invalid(call, f"metric_types must name some of {', '.join(PIN_METRIC_TYPES)}.")
    retired = store.retired_metrics("PINTEREST")
    video = post.extra.get("creative_type") == "VIDEO"
    names = [t for t in wanted if t not in retired and (video or t not in VIDEO_METRIC_TYPES)]
    counted = [t for t in names if t not in ("VIDEO_V50_WATCH_TIME", "VIDEO_AVG_WATCH_TIME")]
    now = time.time()
    counts: dict[str, float] = {name: engagement.count(post.id, post.created, name, now=now) for name in counted}
    if video and ("VIDEO_V50_WATCH_TIME" in names or "VIDEO_AVG_WATCH_TIME" in names):
        views = engagement.count(post.id, post.created, "VIDEO_MRC_VIEW", now=now)
        if "VIDEO_V50_WATCH_TIME" in names:
            counts["VIDEO_V50_WATCH_TIME"] = int(views * AVERAGE_PLAY_MS)
        if "VIDEO_AVG_WATCH_TIME" in names:
            counts["VIDEO_AVG_WATCH_TIME"] = AVERAGE_PLAY_MS if views else 0
    lifetime = {name: counts.pop(name) for name in LIFETIME_METRIC_TYPES if name in counts}
    day = {"date": today.isoformat(), "data_status": "READY", "metrics": counts}
    return JsonResponse({"all": {"lifetime_metrics": lifetime, "daily_metrics": [day], "summary_metrics": counts}})


def source_problem(call: Call, source: Any, account: str) -> tuple[str | None, dict[str, Any]]:
    """What is wrong with a media_source (None if nothing), and the pin's media as Pinterest shows it."""
    if not isinstance(source, dict):
        return "media_source is required.", {}
    kind = source.get("source_type")
    if kind == "image_url":
        urls = [source.get("url")]
    elif kind == "multiple_image_urls":
        items = source.get("items")
        if not isinstance(items, list) or not 2 <= len(items) <= 5:
            return "media_source.items must have 2 to 5 images.", {}
        urls = [item.get("url") if isinstance(item, dict) else None for item in items]
    elif kind == "video_id":
        media = store.get("pinterest_media", str(source.get("media_id") or ""))
        if media is None or media["owner"] != account:
            return f"Media {source.get('media_id')} not found.", {}
        if media["status"] != "succeeded":
            return f"Media {media['id']} is {media['status']}: a video pin needs a media that succeeded.", {}
        if not (
            source.get("cover_image_url") or source.get("cover_image_data") or "cover_image_key_frame_time" in source
        ):
            return "A video pin needs a cover: cover_image_url, cover_image_data or cover_image_key_frame_time.", {}
        if source.get("cover_image_url"):
            try:
                fetch_image(source["cover_image_url"], store.config.fetch_timeout_seconds)
            except FetchError as err:
                return f"Sorry, we could not fetch the cover image. ({err})", {}
        return None, {"media_type": "video", "cover_image_url": source.get("cover_image_url")}
    else:
        return f"media_source.source_type {kind!r} is not played by the stand-in.", {}
    for url in urls:
        try:
            fetch_image(url, store.config.fetch_timeout_seconds)
        except FetchError as err:
            call.outcome = "media_fetch_failed"
            return f"Sorry, we could not fetch the image. ({err})", {}
    return None, {"media_type": "image" if kind == "image_url" else "multiple_images", "images": urls}


@endpoint(PINTEREST, {"POST": CREATE, "GET": READ}, account=account_of)
def pins(call: Call) -> HttpResponse:
    person = person_of(call)
    if call.request.method == "GET":
        return account_pins(call, person)
    body = call.body if isinstance(call.body, dict) else {}
    board_id = str(body.get("board_id") or "")
    if not re.fullmatch(r"\d+", board_id):
        return PINTEREST.invalid(call, "board_id is required and must be a board's id.")
    if board_id not in {b["id"] for b in boards_of(person)}:
        call.outcome = "board_not_found"
        return PINTEREST.error(404, 40, "Board not found.")
    for name, limit in LIMITS.items():
        value = body.get(name)
        if value is not None and len(str(value)) > limit:
            return PINTEREST.invalid(call, f"Invalid parameters: {name} must be at most {limit} characters.")
    problem, media = source_problem(call, body.get("media_source"), person["id"])
    if problem:
        return PINTEREST.invalid(call, problem)
    source = body["media_source"]
    post, _ = store.create_post(
        "PINTEREST",
        person["id"],
        str(body.get("description") or ""),
        make_id=lambda: store.digits(18, "11"),
        media_ids=[str(source["media_id"])] if source["source_type"] == "video_id" else [],
        reject_duplicates=False,
        board_id=board_id,
        title=body.get("title"),
        link=body.get("link"),
        alt_text=body.get("alt_text"),
        creative_type="VIDEO" if source["source_type"] == "video_id" else "REGULAR",
        media=media,
    )
    call.outcome = "created"
    return JsonResponse(pin_of(post), status=201)


PIN_FILTERS = ("exclude_native", "exclude_repins", "has_been_promoted")


def account_pins(call: Call, person: dict[str, Any]) -> HttpResponse:
    """``GET v5/pins``: the account's pins, newest first, filtered as ``pin_filter`` says."""
    wanted = call.query.get("pin_filter")
    if wanted is not None and wanted not in PIN_FILTERS:
        return PINTEREST.invalid(call, f"pin_filter must be one of {', '.join(PIN_FILTERS)}.")
    found = store.find_posts("PINTEREST", person["id"])
    if wanted == "exclude_repins":
        found = [p for p in found if not p.extra.get("parent_pin_id")]
    elif wanted == "exclude_native":
        found = [p for p in found if p.extra.get("parent_pin_id")]
    elif wanted == "has_been_promoted":
        found = []
    return page(call, [pin_of(p) for p in found])


@endpoint(PINTEREST, {"POST": MEDIA}, account=account_of)
def media_register(call: Call) -> HttpResponse:
    body = call.body if isinstance(call.body, dict) else {}
    if body.get("media_type") != "video":
        return PINTEREST.invalid(call, "media_type must be video.")
    media_id = store.digits(19, "5")
    key = f"uploads/17/4d/be/2:video:{person_of(call)['id']}:{media_id}"
    store.put(
        "pinterest_media",
        media_id,
        {"id": media_id, "owner": call.account, "status": "registered", "key": key, "polls": 0, "size": 0},
    )
    store.put("pinterest_uploads", key, {"media_id": media_id})
    parameters = {
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "x-amz-signature": store.token(64).lower(),
        "x-amz-security-token": store.token(40),
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "key": key,
        "policy": store.token(60),
        "x-amz-credential": f"ASIA{store.token(16).upper()}/20260101/us-east-1/s3/aws4_request",
        "Content-Type": "multipart/form-data",
    }
    call.outcome = "registered"
    return JsonResponse(
        {
            "media_id": media_id,
            "media_type": "video",
            "upload_url": call.request.build_absolute_uri(reverse("mockapis-pinterest-upload")),
            "upload_parameters": parameters,
        },
        status=201,
    )


@endpoint(PINTEREST, {"GET": READ}, account=account_of)
def media_status(call: Call, media_id: str) -> HttpResponse:
    media = store.get("pinterest_media", media_id)
    if media is None or media["owner"] != call.account:
        return PINTEREST.error(404, 4, "Media upload not found.")
    with store.lock:
        if media["status"] == "processing":
            media["polls"] += 1
            if media["polls"] > store.config.pinterest_processing_polls:
                media["status"] = "succeeded"
        status = media["status"]
    return JsonResponse({"media_id": media_id, "media_type": "video", "status": status})


def s3_error(status: int, code: str, message: str) -> HttpResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{store.token(16)}</RequestId></Error>"
    )
    return HttpResponse(body, status=status, content_type="application/xml")


def form_parts(request) -> list[tuple[str, bytes]]:
    """A multipart body's parts in order, (field name, content): S3 reads them in order."""
    if request.content_type != "multipart/form-data" or not request.content_params.get("boundary"):
        return []
    boundary = b"--" + request.content_params["boundary"].encode()
    parts = []
    for chunk in request.body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        parts.append((name.group(1).decode() if name else "", content.removesuffix(b"\r\n")))
    return parts


@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """Amazon S3's POST object: the form's fields in order, the file last. Not Pinterest's API (no
    bearer token: the policy and signature are the authorization), so not through the gate; logged
    as PINTEREST requests of kind MEDIA all the same."""
    call = Call(request=request, dialect=PINTEREST, kind=MEDIA, view_name="standin.upload")
    call.entry = store.log(_log_entry(call))
    response = _upload(call)
    response._has_been_logged = True
    store.finish_log(call.entry, status=response.status_code, outcome=call.outcome or "error", duration_ms=None)
    return response


def _upload(call: Call) -> HttpResponse:
    request = call.request
    with store.lock:
        cut = store.config.pinterest_cut_uploads > 0
        if cut:
            store.config.pinterest_cut_uploads -= 1
    if cut:
        # Read half the body, then cut the connection: the client never finishes sending.
        request.read(max(1, int(request.META.get("CONTENT_LENGTH") or 2) // 2))
        call.outcome = "cut"
        try:
            drop_connection(request)
        except ConnectionDropped:
            pass
        return s3_error(
            400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length."
        )
    parts = form_parts(request)
    names = [name for name, _ in parts]
    if "file" not in names:
        return s3_error(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    # S3 ignores every field after the file.
    read = dict(parts[: names.index("file") + 1])
    for required in ("key", "policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date"):
        if required not in read:
            call.outcome = "field_order"
            return s3_error(
                400,
                "InvalidArgument",
                f"Bucket POST must contain a field named '{required}'.  If it is specified, please check the order "
                "of the fields.",
            )
    pending = store.get("pinterest_uploads", read["key"].decode())
    if pending is None:
        return s3_error(403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: key.")
    data = read["file"]
    video = sniff_video(data[:64], len(data))
    with store.lock:
        media = store.objects["pinterest_media"][pending["media_id"]]
        call.account = media["owner"]
        call.entry["account"] = media["owner"]
        if media["status"] != "registered":
            call.outcome = "again"
        # Bytes that are not a video (a cover image uploaded as the video) fail processing.
        media.update(status="processing" if video else "failed", size=len(data), polls=0)
    store.add_media("PINTEREST", media["owner"], media["id"], size=len(data), media_type="video" if video else "?")
    call.outcome = call.outcome or "uploaded"
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


urlpatterns = [
    path("", include("connections.platforms.pinterest.standin_auth")),
    re_path(V5 + r"boards/?$", boards),
    re_path(V5 + r"boards/(?P<board_id>[^/]+)/pins/?$", board_pins),
    re_path(V5 + r"pins/?$", pins),
    re_path(V5 + r"pins/(?P<pin_id>[^/]+)/analytics/?$", pin_analytics),
    re_path(V5 + r"media/?$", media_register),
    re_path(V5 + r"media/(?P<media_id>[^/]+)/?$", media_status),
    path("pinterest-upload/", upload, name="mockapis-pinterest-upload"),
]
