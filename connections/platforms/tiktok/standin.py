"""TikTok as planrrr meets it (docs/platforms/tiktok.md): Login Kit v2 under ``tiktok-www/`` and
``tiktok/v2/oauth/token/``, the Content Posting API under ``tiktok/v2/``, uploads under
``tiktok-upload/``.

* ``GET|POST tiktok-www/v2/auth/authorize/?client_key&scope&response_type=code&redirect_uri&state``:
  the consent page (scopes comma-separated).
* ``POST tiktok/v2/oauth/token/`` form ``client_key, client_secret`` and ``grant_type=
  authorization_code, code, redirect_uri`` or ``grant_type=refresh_token, refresh_token`` ->
  ``{"open_id", "scope", "access_token", "expires_in", "refresh_token", "refresh_expires_in",
  "token_type": "Bearer"}``. A refresh answers a new refresh token and spends the one sent (the
  strictest reading: docs/platforms/tiktok.md), its lifetime counted from the first one's issue.
  A bad code or refresh token: 400 ``{"error": "invalid_grant", "error_description", "log_id"}``.
* ``GET tiktok/v2/user/info/?fields=...`` -> ``{"data": {"user": {...}}, "error": {"code": "ok"}}``.
* ``POST tiktok/v2/post/publish/creator_info/query/``: each account's settings; Sam Solo's are
  those of an account an unaudited app posts for: SELF_ONLY only.
* ``POST tiktok/v2/post/publish/video/init/`` (kind CREATE: rate limits, dropped answers) ->
  ``publish_id`` and, for FILE_UPLOAD, an ``upload_url``; the chunk rules are checked with
  ``tiktok_min_chunk_bytes`` as the smallest chunk; a level the account is not offered:
  ``privacy_level_option_mismatch``, or for the unaudited account
  ``unaudited_client_can_only_post_to_private_accounts``.
* ``PUT tiktok-upload/video/?upload_id&upload_token`` (kind MEDIA: ``_control/fail`` with
  ``on: media`` cuts an upload) with ``Content-Range``: chunks in order, 206 each, 201 for the
  last; the post exists from then (with ``tiktok_fail_reason`` set, it never will: FAILED).
* ``POST tiktok/v2/post/publish/status/fetch/`` ``{"publish_id"}``: PROCESSING_UPLOAD with the
  bytes received until the video is whole, then PROCESSING_UPLOAD (PROCESSING_DOWNLOAD for a
  PULL_FROM_URL) for ``tiktok_polls_before_complete`` polls, then PUBLISH_COMPLETE (the post's id
  in ``publicaly_available_post_id`` unless it is private) or FAILED with its ``fail_reason``.
* ``POST tiktok/v2/video/list/`` the account's public videos, newest first, ``cursor``/``has_more``.
* ``POST tiktok/v2/video/query/?fields=`` ``{"filters": {"video_ids"}}`` (1 to 20): the account's
  videos among them with their counts, growing with age; ``GET tiktok/v2/user/info/`` gives the
  follower counts to a token granted ``user.info.stats`` only (else ``scope_not_authorized``).

Errors are TikTok's v2 envelope ``{"data": {}, "error": {"code", "message", "log_id"}}``:
``access_token_invalid`` 401, ``rate_limit_exceeded`` 429, ``internal_error`` 500,
``invalid_params`` 400.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import re_path

from connections.platforms.tiktok import DECLARATION
from mockapis import engagement
from mockapis.gate import API_ERROR_MESSAGE, Call, Dialect, endpoint
from mockapis.media import FetchError, fetch_video, sniff_video
from mockapis.oauth import consent, identity, oauth_error
from mockapis.records import AUTHORIZE, CREATE, MEDIA, READ, TOKEN, OAuthRefused
from mockapis.state import store

PUBLIC = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
PEOPLE: list[dict[str, Any]] = [
    {"id": "-000acmecoffeeOpenId", "name": "Acme Coffee", "username": "acmecoffee", "privacy": PUBLIC},
    # An account as an app TikTok has not audited sees it: private posts only.
    {"id": "-000samsoloOpenId", "name": "Sam Solo", "username": "samsolo", "privacy": ["SELF_ONLY"]},
]
MAX_TITLE = 2200
MAX_CHUNK, MAX_LAST_CHUNK, MAX_CHUNKS = 64_000_000, 128_000_000, 1000
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
# The Display API's counts (video/query) and the user's (user/info, scope user.info.stats).
VIDEO_COUNTS = ("view_count", "like_count", "comment_count", "share_count")
USER_COUNTS = ("follower_count", "following_count", "likes_count", "video_count")


def envelope(code: str = "ok", message: str = "", *, data: dict | None = None, status: int = 200) -> JsonResponse:
    log_id = time.strftime("%Y%m%d%H%M%S") + store.token(18).upper()
    return JsonResponse(
        {"data": data if data is not None else {}, "error": {"code": code, "message": message, "log_id": log_id}},
        status=status,
    )


class TikTokDialect(Dialect):
    def token(self, call: Call) -> str | None:
        # An upload URL carries its own credential; TikTok's PUTs send no Authorization header.
        if call.request.path.rstrip("/").endswith("tiktok-upload/video"):
            return str(call.query.get("upload_token") or "") or None
        return super().token(call)

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        return envelope("access_token_invalid", "The access token is invalid or not found in the request.", status=401)

    def invalid(self, call: Call, message: str) -> HttpResponse:
        call.outcome = call.outcome or "rejected"
        return envelope("invalid_params", message, status=400)

    def api_error(self, call: Call) -> HttpResponse:
        return envelope("invalid_params", API_ERROR_MESSAGE, status=400)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        message = (call.rule and call.rule.message) or "Something went wrong. Please try again later."
        return envelope("internal_error", message, status=status)

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        return envelope("rate_limit_exceeded", "The API rate limit was exceeded. Please try again later.", status=429)

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        return envelope("spam_risk_too_many_posts", "The user has posted too much today.", status=403)


TIKTOK = TikTokDialect(DECLARATION.name, DECLARATION.label)


def person_of(call: Call) -> dict[str, Any]:
    """The account a bearer token acts for (a made-up token: the first demo identity)."""
    issued = store.issued_token(call.token)
    return identity(PEOPLE, issued.account if issued else None) or PEOPLE[0]


def open_id(call: Call, kwargs: dict) -> str:
    return person_of(call)["id"] if call.token else ""


# --- Login Kit ---------------------------------------------------------------------------------


@endpoint(TIKTOK, {"GET": AUTHORIZE, "POST": AUTHORIZE}, account=lambda call, kwargs: str(call.query.get("client_key")))
def tiktok_authorize(call: Call, **_: Any) -> HttpResponse:
    # TikTok names the app's id client_key; the shared consent page reads client_id.
    call.query["client_id"] = call.query.get("client_key", "")
    return consent(
        call,
        people=PEOPLE,
        scope_separator=",",
        code_seconds=store.config.tiktok_code_seconds,
        denied={"error": "access_denied", "error_description": "The user denied the request."},
    )


def tokens(*, person: str, client_key: str, scopes: list[str], grant: str, refresh_lifetime: float) -> tuple:
    cfg = store.config
    access = store.issue_token(
        "TIKTOK", "access", account=person, client_id=client_key, scopes=scopes, grant=grant,
        lifetime=cfg.tiktok_access_token_seconds, prefix="act.", length=60,
    )  # fmt: skip
    refresh = store.issue_token(
        "TIKTOK", "refresh", account=person, client_id=client_key, scopes=scopes, grant=grant,
        lifetime=refresh_lifetime, prefix="rft.", length=60,
    )  # fmt: skip
    body = {
        "open_id": person,
        "scope": ",".join(scopes),
        "access_token": access.token,
        "expires_in": access.expires_in(),
        "refresh_token": refresh.token,
        "refresh_expires_in": refresh.expires_in(),
        "token_type": "Bearer",
    }
    return JsonResponse(body), refresh


@endpoint(TIKTOK, {"POST": TOKEN}, account=lambda call, kwargs: str(call.param("client_key") or ""))
def tiktok_token(call: Call, **_: Any) -> HttpResponse:
    client_key = str(call.param("client_key") or "")
    if not client_key or not call.param("client_secret"):
        call.outcome = "invalid_client"
        return oauth_error(401, "invalid_client", "Client key or secret is missing.")
    grant_type = call.param("grant_type")
    try:
        if grant_type == "authorization_code":
            code = store.redeem_code(
                "TIKTOK",
                str(call.param("code") or ""),
                client_id=client_key,
                redirect_uri=str(call.param("redirect_uri") or ""),
                verifier=None,
            )
            response, _ = tokens(
                person=code.account,
                client_key=client_key,
                scopes=code.scopes,
                grant=code.code,
                refresh_lifetime=store.config.tiktok_refresh_token_seconds,
            )
        elif grant_type == "refresh_token":
            sent = str(call.param("refresh_token") or "")
            spent = store.spend_refresh("TIKTOK", sent, client_id=client_key, rotate=True)
            # "valid for 365 days after the initial issuance": a refresh does not extend it.
            response, successor = tokens(
                person=spent.account,
                client_key=client_key,
                scopes=spent.scopes,
                grant=spent.grant,
                refresh_lifetime=max(spent.expires_at - time.time(), 1.0),
            )
            store.link_refresh(spent, successor)
        else:
            return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type {grant_type}.")
    except OAuthRefused as refused:
        call.outcome = f"refused:{refused.reason}"
        return oauth_error(400, "invalid_grant", "Authorization code or refresh token is expired or invalid.")
    call.outcome = "issued"
    return response


@endpoint(TIKTOK, {"GET": READ}, account=open_id)
def tiktok_user_info(call: Call, **_: Any) -> HttpResponse:
    person = person_of(call)
    user = {
        "open_id": person["id"],
        "union_id": f"union{person['id']}",
        "avatar_url": f"https://p16-sign.tiktokcdn-us.com/standin/{person['username']}.jpeg",
        "display_name": person["name"],
        "username": person["username"],
    }
    wanted = [f for f in str(call.query.get("fields") or "open_id").split(",") if f]
    if any(name in wanted for name in USER_COUNTS):
        # The counts need user.info.stats (a made-up token is taken as granting every scope).
        issued = store.issued_token(call.token)
        if issued is not None and "user.info.stats" not in issued.scopes:
            return envelope(
                "scope_not_authorized",
                "The user did not authorize the scope required for completing this request.",
                status=401,
            )
        retired = store.retired_metrics("TIKTOK")
        user["follower_count"] = engagement.followers(person["id"])
        user.update(
            {"following_count": 42, "likes_count": 1200, "video_count": len(store.find_posts("TIKTOK", person["id"]))}
        )
        for name in retired:
            user.pop(name, None)
    return envelope(data={"user": {key: value for key, value in user.items() if key in wanted}})


# --- Content Posting API -----------------------------------------------------------------------


@endpoint(TIKTOK, {"POST": READ}, account=open_id)
def tiktok_creator_info(call: Call, **_: Any) -> HttpResponse:
    person = person_of(call)
    return envelope(
        data={
            "creator_avatar_url": f"https://p16-sign.tiktokcdn-us.com/standin/{person['username']}.jpeg",
            "creator_username": person["username"],
            "creator_nickname": person["name"],
            "privacy_level_options": list(person["privacy"]),
            "comment_disabled": False,
            "duet_disabled": False,
            "stitch_disabled": False,
            "max_video_post_duration_sec": 600,
        }
    )


def chunk_problem(size: Any, chunk: Any, count: Any) -> str | None:
    """The Media Transfer Guide's rules, with ``tiktok_min_chunk_bytes`` as the smallest chunk."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (size, chunk, count)):
        return "video_size, chunk_size and total_chunk_count must be positive integers."
    smallest = store.config.tiktok_min_chunk_bytes
    if size < smallest and (chunk != size or count != 1):
        return f"A video under {smallest} bytes must be uploaded whole (chunk_size = video_size, 1 chunk)."
    if size >= smallest and not smallest <= chunk <= MAX_CHUNK and count > 1:
        return f"chunk_size must be between {smallest} and {MAX_CHUNK} bytes."
    if count != max(size // chunk, 1) or not 1 <= count <= MAX_CHUNKS:
        return "total_chunk_count must be video_size divided by chunk_size, rounded down (1 to 1000)."
    if size - chunk * (count - 1) > MAX_LAST_CHUNK:
        return f"The last chunk may be at most {MAX_LAST_CHUNK} bytes."
    return None


@endpoint(TIKTOK, {"POST": CREATE}, account=open_id)
def tiktok_video_init(call: Call, **_: Any) -> HttpResponse:
    person = person_of(call)
    post_info = call.param("post_info") or {}
    source_info = call.param("source_info") or {}
    if not isinstance(post_info, dict) or not isinstance(source_info, dict):
        return TIKTOK.invalid(call, "post_info and source_info must be objects.")
    title, level = str(post_info.get("title") or ""), post_info.get("privacy_level")
    if len(title.encode("utf-16-le")) // 2 > MAX_TITLE:
        return TIKTOK.invalid(call, f"title must be at most {MAX_TITLE} UTF-16 runes.")
    if person["privacy"] == ["SELF_ONLY"] and level != "SELF_ONLY":
        call.outcome = "unaudited"
        return envelope(
            "unaudited_client_can_only_post_to_private_accounts",
            "Please review our integration guidelines: unaudited clients can only post to a private account.",
            status=403,
        )
    if level not in person["privacy"]:
        call.outcome = "privacy_mismatch"
        return envelope(
            "privacy_level_option_mismatch",
            "privacy_level is not one of the creator's privacy_level_options.",
            status=400,
        )
    source = source_info.get("source")
    publish_id = f"v_pub_file~v2-1.{store.digits(19, '7')}"
    record: dict[str, Any] = {
        "id": publish_id, "owner": person["id"], "title": title, "privacy": level, "source": source,
        "fate": store.config.tiktok_fail_reason, "polls": 0, "post_id": None, "complete": False,
        "created": time.time(), "received": 0, "sent": 0, "head": b"",
    }  # fmt: skip
    data = {"publish_id": publish_id}
    if source == "FILE_UPLOAD":
        size, chunk, count = (source_info.get(k) for k in ("video_size", "chunk_size", "total_chunk_count"))
        problem = chunk_problem(size, chunk, count)
        if problem:
            return TIKTOK.invalid(call, problem)
        token = store.token(32)
        record.update(size=size, chunk=chunk, count=count, upload_token=token)
        base = call.request.build_absolute_uri(call.request.path.split("tiktok/v2/")[0])
        data["upload_url"] = f"{base}tiktok-upload/video/?upload_id={publish_id}&upload_token={token}"
    elif source == "PULL_FROM_URL":
        try:
            fetch_video(str(source_info.get("video_url") or ""), store.config.fetch_timeout_seconds)
        except FetchError:
            record["fate"] = "video_pull_failed"
        record.update(complete=True)
        if not record["fate"]:
            record["post_id"] = make_post(record)
    else:
        return TIKTOK.invalid(call, "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    store.put("tiktok_publishes", publish_id, record)
    store.add_media("TIKTOK", person["id"], publish_id, source=source, size=record.get("size"))
    call.outcome = "initialized"
    return envelope(data=data)


def make_post(record: dict) -> str:
    post, _ = store.create_post(
        "TIKTOK",
        record["owner"],
        record["title"],
        make_id=lambda: store.digits(19, "7"),
        media_ids=[record["id"]],
        reject_duplicates=False,
        publish_id=record["id"],
        privacy_level=record["privacy"],
    )
    return post.id


def upload_owner(call: Call, kwargs: dict) -> str:
    record = store.get("tiktok_publishes", str(call.query.get("upload_id") or ""))
    return record["owner"] if record else ""


@endpoint(TIKTOK, {"PUT": MEDIA}, account=upload_owner, raw_body=True)
def tiktok_upload(call: Call, **_: Any) -> HttpResponse:
    record = store.get("tiktok_publishes", str(call.query.get("upload_id") or ""))
    if record is None or record.get("upload_token") != call.query.get("upload_token"):
        call.outcome = "unknown_upload"
        return envelope("invalid_params", "The upload_id or upload_token is not valid.", status=404)
    match = RANGE.match(call.request.headers.get("Content-Range", ""))
    body = call.request.body
    if not match or int(match[3]) != record["size"] or int(match[2]) - int(match[1]) + 1 != len(body):
        return TIKTOK.invalid(call, "Content-Range must be bytes FIRST-LAST/TOTAL matching the chunk and video_size.")
    first, last = int(match[1]), int(match[2])
    with store.lock:
        record["sent"] += len(body)
        index = first // record["chunk"]
        last_index = record["count"] - 1
        expected_end = record["size"] if index == last_index else first + record["chunk"]
        if first != record["received"] or first % record["chunk"] or last + 1 != expected_end:
            call.outcome = "out_of_order"
            return TIKTOK.invalid(call, f"Chunks must be uploaded in order: expected bytes {record['received']}-.")
        if not first:
            record["head"] = body[:16]
        record["received"] = last + 1
        whole = record["received"] == record["size"]
    if not whole:
        call.outcome = "chunk"
        return HttpResponse(status=206)
    if sniff_video(record["head"], record["size"]) is None:
        record["fate"] = "file_format_check_failed"
    record["complete"] = True
    if not record["fate"]:
        record["post_id"] = make_post(record)
    call.outcome = "uploaded"
    return HttpResponse(status=201)


@endpoint(TIKTOK, {"POST": READ}, account=open_id)
def tiktok_status(call: Call, **_: Any) -> HttpResponse:
    record = store.get("tiktok_publishes", str(call.param("publish_id") or ""))
    if record is None or record["owner"] != person_of(call)["id"]:
        return TIKTOK.invalid(call, "publish_id is not valid.")
    data: dict[str, Any] = {"publicaly_available_post_id": [], "uploaded_bytes": record.get("received", 0)}
    with store.lock:
        if not record["complete"]:
            status = "PROCESSING_UPLOAD"
        elif record["polls"] < store.config.tiktok_polls_before_complete:
            record["polls"] += 1
            status = "PROCESSING_DOWNLOAD" if record["source"] == "PULL_FROM_URL" else "PROCESSING_UPLOAD"
        elif record["fate"]:
            status = "FAILED"
            data["fail_reason"] = record["fate"]
        else:
            status = "PUBLISH_COMPLETE"
            if record["privacy"] != "SELF_ONLY":
                data["publicaly_available_post_id"] = [int(record["post_id"])]
    call.outcome = status.lower()
    return envelope(data={"status": status, **data})


@endpoint(TIKTOK, {"POST": READ}, account=open_id)
def tiktok_video_list(call: Call, **_: Any) -> HttpResponse:
    mine = store.find_posts("TIKTOK", person_of(call)["id"])
    posts = [p for p in mine if p.extra.get("privacy_level") != "SELF_ONLY"]
    cursor = call.param("cursor") or 0
    size = min(int(call.param("max_count") or 10), 20)
    page = posts[int(cursor) : int(cursor) + size]
    videos = [{"id": p.id, "title": p.text, "create_time": int(p.created)} for p in page]
    more = int(cursor) + size < len(posts)
    return envelope(data={"videos": videos, "cursor": int(cursor) + len(page), "has_more": more})


@endpoint(TIKTOK, {"POST": READ}, account=open_id)
def tiktok_video_query(call: Call, **_: Any) -> HttpResponse:
    """``POST /v2/video/query/?fields=...`` ``{"filters": {"video_ids": [...]}}`` (1 to 20): the
    account's videos among them, with the fields asked, counts grown by age (mockapis.engagement);
    another account's or an unknown id is left out, and a count retired by ``_control/analytics``."""
    filters = call.param("filters")
    ids = filters.get("video_ids") if isinstance(filters, dict) else None
    if not isinstance(ids, list) or not ids:
        return TIKTOK.invalid(call, "filters.video_ids is required.")
    if len(ids) > 20:
        return TIKTOK.invalid(call, "The number of video ids should not be larger than 20.")
    wanted = [f for f in str(call.query.get("fields") or "id").split(",") if f]
    retired = store.retired_metrics("TIKTOK")
    owner = person_of(call)["id"]
    videos = []
    for video_id in ids:
        post = store.find_post("TIKTOK", str(video_id))
        if post is None or post.account != owner:
            continue
        names = [n for n in VIDEO_COUNTS if n in wanted and n not in retired]
        item = {"id": post.id, "title": post.text, "create_time": int(post.created)}
        item.update(engagement.counts(post.id, post.created, names))
        videos.append({key: value for key, value in item.items() if key in wanted or key in names})
    return envelope(data={"videos": videos, "cursor": 0, "has_more": False})


urlpatterns = [
    re_path(r"^tiktok-www/v2/auth/authorize/?$", tiktok_authorize),
    re_path(r"^tiktok/v2/oauth/token/?$", tiktok_token),
    re_path(r"^tiktok/v2/user/info/?$", tiktok_user_info),
    re_path(r"^tiktok/v2/post/publish/creator_info/query/?$", tiktok_creator_info),
    re_path(r"^tiktok/v2/post/publish/video/init/?$", tiktok_video_init),
    re_path(r"^tiktok/v2/post/publish/status/fetch/?$", tiktok_status),
    re_path(r"^tiktok/v2/video/list/?$", tiktok_video_list),
    re_path(r"^tiktok/v2/video/query/?$", tiktok_video_query),
    re_path(r"^tiktok-upload/video/?$", tiktok_upload),
]
