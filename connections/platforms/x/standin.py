"""X API v2 as a publisher uses it (docs/platforms/x.md), under ``x/``; its OAuth in standin_auth.

* ``POST /2/tweets`` JSON ``{"text", "media": {"media_ids": [...]}, "reply":
  {"in_reply_to_tweet_id"}}`` with ``Authorization: Bearer`` -> **201** ``{"data": {"id", "text",
  "edit_history_tweet_ids"}}``, ids 19-digit snowflakes. The same text again from the same user:
  403 duplicate. A reply (a thread part, a first comment) must name a tweet that exists; the
  stand-in records it as the post's ``in_reply_to`` (``_control/posts``).
* ``POST /2/media/upload`` multipart ``media`` (or base64 ``media_data``), ``media_category``
  -> ``{"data": {"id", "media_key", "expires_after_secs", ...}}``.
* ``GET /2/users/me`` -> ``{"data": {"id", "name", "username"}}``.
* ``GET /2/users/{id}/tweets`` (``max_results`` 5..100, ``start_time``, ``tweet.fields``) ->
  ``{"data": [{"id", "text", "edit_history_tweet_ids"}], "meta": {"result_count", ...}}``;
  ``created_at`` only when ``tweet.fields`` asks for it, and no ``data`` at all when empty, as X
  answers.

Tokens are opaque. A token acts for the user whose timeline it first reads
(``GET /2/users/{id}/tweets``) or that ``_control/tokens`` binds it to; until then for a user id
derived from the token, and its tweets move to the real user once known.

Errors are problem+json exactly as docs/platforms/x.md gives them. Every answer carries
``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` (Unix seconds); a 429 and every create
answer also ``x-user-limit-24hour-*``. With rate limiting off the headers count against a
nominal 15-minute window of 10,000 that nobody reaches.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import include, path

from connections.platforms.x import DECLARATION
from mockapis import engagement
from mockapis.config import DAY_SECONDS
from mockapis.gate import API_ERROR_MESSAGE, CREATE, Call, Dialect, endpoint
from mockapis.media import sniff
from mockapis.records import MEDIA, READ
from mockapis.state import store

MAX_WEIGHTED_LENGTH, MAX_MEDIA = 280, 4
# X's historic per-user daily cap, reported in x-user-limit-24hour-* (never enforced here).
DAILY_TWEETS = 2_400
MEDIA_EXPIRES_SECONDS = 86_400
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
URL = re.compile(r"https?://\S+", re.IGNORECASE)
# public_metrics of a post (https://docs.x.com/x-api/fundamentals/metrics).
PUBLIC_METRICS = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count", "impression_count")
STATUS_TITLES = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


def problem(status: int, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, status=status, content_type="application/problem+json")


class XDialect(Dialect):
    platform, label = DECLARATION.name, DECLARATION.label

    def auth_error(self, call: Call, problem_: str) -> HttpResponse:
        return problem(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})

    def invalid(
        self, call: Call, message: str, detail: str = "One or more parameters to your request was invalid."
    ) -> HttpResponse:
        return problem(
            400,
            {"errors": [{"message": message}], "title": "Invalid Request", "detail": detail, "type": INVALID_REQUEST},
        )

    def api_error(self, call: Call) -> HttpResponse:
        return self.invalid(call, API_ERROR_MESSAGE, detail=API_ERROR_MESSAGE)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        title = STATUS_TITLES.get(status, "Internal Server Error")
        detail = (call.rule and call.rule.message) or title
        return problem(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        return problem(
            429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
        )

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        return problem(
            403,
            {
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            },
        )

    def headers(self, call: Call, response: HttpResponse) -> None:
        now = time.time()
        window = call.current_window()
        response["x-rate-limit-limit"] = str(window.limit)
        if call.throttled_for is not None:
            response["x-rate-limit-remaining"] = "0"
            response["x-rate-limit-reset"] = str(math.ceil(now + call.throttled_for))
        else:
            response["x-rate-limit-remaining"] = str(window.remaining)
            response["x-rate-limit-reset"] = str(math.ceil(window.reset_at))
        if call.kind == CREATE or response.status_code == 429:
            recent = [p.created for p in store.find_posts("TWITTER", call.account) if p.created >= now - DAY_SECONDS]
            response["x-user-limit-24hour-limit"] = str(DAILY_TWEETS)
            response["x-user-limit-24hour-remaining"] = str(max(0, DAILY_TWEETS - len(recent)))
            response["x-user-limit-24hour-reset"] = str(math.ceil(min(recent, default=now) + DAY_SECONDS))


X = XDialect()


def token_user(call: Call, kwargs: dict | None = None) -> str:
    """The user a bearer token acts for (see the module docstring)."""
    if not call.token:
        return ""
    bound = store.token_account(call.token)
    if bound:
        return bound["account"]
    return str(10**17 + int(hashlib.sha256(call.token.encode()).hexdigest(), 16) % (9 * 10**17))


def path_user(call: Call, kwargs: dict) -> str:
    return kwargs["user_id"]


def weighted_length(text: str) -> int:
    """twitter-text's count, simplified: a URL is 23, CJK and emoji 2, joiners and selectors 0."""
    text = unicodedata.normalize("NFC", text)
    total = 23 * len(URL.findall(text))
    for char in URL.sub("", text):
        point = ord(char)
        if point == 0x200D or 0xFE00 <= point <= 0xFE0F or 0x1F3FB <= point <= 0x1F3FF:
            continue
        one = point <= 4351 or 8192 <= point <= 8205 or 8208 <= point <= 8223 or 8242 <= point <= 8247
        total += 1 if one else 2
    return total


@endpoint(X, {"POST": CREATE, "GET": READ}, account=token_user)
def tweets(call: Call) -> HttpResponse:
    if call.request.method == "GET":
        return tweets_lookup(call)
    body = call.body
    if not isinstance(body, dict):
        return X.invalid(call, "The request body must be a JSON object")
    text = body.get("text")
    media = body.get("media") or {}
    media_ids = media.get("media_ids") if isinstance(media, dict) else None
    if media_ids is not None and (not isinstance(media_ids, list) or not all(isinstance(m, str) for m in media_ids)):
        return X.invalid(call, "media.media_ids must be a list of strings")
    media_ids = media_ids or []
    if text is not None and not isinstance(text, str):
        return X.invalid(call, "text must be a string")
    if not text and not media_ids:
        return X.invalid(call, "Post text or media is required")
    text = text or ""
    if weighted_length(text) > MAX_WEIGHTED_LENGTH:
        return X.invalid(call, f"text is {weighted_length(text)} weighted characters; at most {MAX_WEIGHTED_LENGTH}")
    if len(media_ids) > MAX_MEDIA:
        return X.invalid(call, f"media.media_ids: size must be between 1 and {MAX_MEDIA}")
    if any(store.get("x_media", media_id) is None for media_id in media_ids):
        return X.invalid(call, "Your media IDs are invalid.")
    reply = body.get("reply")
    in_reply_to = None
    if reply is not None:
        in_reply_to = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(in_reply_to, str) or not in_reply_to:
            return X.invalid(call, "reply.in_reply_to_tweet_id must be a Post id (a string)")
        if store.find_post("TWITTER", in_reply_to) is None:
            return X.invalid(call, "You attempted to reply to a Tweet that is deleted or not visible to you.")
    post, earlier = store.create_post(
        "TWITTER",
        call.account,
        text,
        make_id=store.snowflake,
        media_ids=list(media_ids),
        token=call.token,
        in_reply_to=in_reply_to,
    )
    if post is None:
        call.outcome = "duplicate"
        return X.duplicate(call, earlier.id if earlier else None)
    call.outcome = "created"
    return JsonResponse({"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}}, status=201)


def tweets_lookup(call: Call) -> HttpResponse:
    """``GET /2/tweets?ids=1,2&tweet.fields=public_metrics``: up to 100 ids; one not found is an
    entry of ``errors`` beside ``data`` (no ``data`` when none is found), as X answers."""
    ids = [i for i in str(call.query.get("ids") or "").split(",") if i]
    if not ids:
        return X.invalid(call, "The `ids` query parameter can not be empty")
    if len(ids) > 100:
        return X.invalid(
            call, f"The number of values in the `ids` query parameter list [{len(ids)}] is not between 1 and 100"
        )
    if not all(i.isdigit() and len(i) <= 19 for i in ids):
        return X.invalid(call, "The `ids` query parameter value is not valid: each id must be a number")
    wanted = {f.strip() for f in str(call.query.get("tweet.fields", "")).split(",")}
    retired = store.retired_metrics("TWITTER")
    data, errors = [], []
    for tweet_id in ids:
        post = store.find_post("TWITTER", tweet_id)
        if post is None:
            errors.append(
                {
                    "value": tweet_id,
                    "detail": f"Could not find tweet with ids: [{tweet_id}].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": "ids",
                    "resource_id": tweet_id,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            )
            continue
        item: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        if "public_metrics" in wanted:
            names = [name for name in PUBLIC_METRICS if name not in retired]
            item["public_metrics"] = engagement.counts(post.id, post.created, names)
        data.append(item)
    body: dict[str, Any] = {"data": data} if data else {}
    if errors:
        body["errors"] = errors
    return JsonResponse(body)


@endpoint(X, {"POST": MEDIA}, account=token_user)
def media_upload(call: Call) -> HttpResponse:
    upload = call.files.get("media")
    if upload is not None:
        image = sniff(upload.read(64 * 1024), upload.size)
    elif isinstance(call.body, dict) and (call.body.get("media_data") or call.body.get("media")):
        try:
            data = base64.b64decode(call.body.get("media_data") or call.body.get("media"), validate=True)
        except (ValueError, TypeError):
            return X.invalid(call, "media_data is not valid base64")
        image = sniff(data)
    else:
        return X.invalid(call, "The media field is required (multipart file `media` or base64 `media_data`)")
    if image is None:
        return X.invalid(call, "media type unrecognized: the upload is not an image")
    media_id = store.snowflake()
    category = call.param("media_category") or "tweet_image"
    store.put("x_media", media_id, {"id": media_id, "user": call.account, "category": category})
    store.add_media("TWITTER", call.account, media_id, size=image.size, content_type=image.content_type)
    call.outcome = "uploaded"
    return JsonResponse(
        {
            "data": {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": image.size,
                "expires_after_secs": MEDIA_EXPIRES_SECONDS,
                "image": {"image_type": image.content_type, "w": image.width, "h": image.height},
            }
        }
    )


@endpoint(X, {"GET": READ}, account=token_user)
def users_me(call: Call) -> HttpResponse:
    bound = store.token_account(call.token) or {}
    user_id = call.account
    return JsonResponse(
        {
            "data": {
                "id": user_id,
                "name": bound.get("name") or "Stand-in user",
                "username": bound.get("username") or f"standin_{user_id[-6:]}",
            }
        }
    )


@endpoint(X, {"GET": READ}, account=path_user)
def user_lookup(call: Call, user_id: str) -> HttpResponse:
    """``GET /2/users/{id}?user.fields=public_metrics`` -> ``{"data": {"id", "name", "username",
    "public_metrics": {"followers_count", "following_count", "tweet_count", "listed_count", "like_count"}}}``."""
    bound = store.token_account(call.token) or {}
    data: dict[str, Any] = {
        "id": user_id,
        "name": bound.get("name") or "Stand-in user",
        "username": bound.get("username") or f"standin_{user_id[-6:]}",
    }
    if "public_metrics" in str(call.query.get("user.fields", "")):
        data["public_metrics"] = {
            "followers_count": engagement.followers(user_id),
            "following_count": 120,
            "tweet_count": len(store.find_posts("TWITTER", user_id)),
            "listed_count": 3,
            "like_count": 40,
        }
    return JsonResponse({"data": data})


@endpoint(X, {"GET": READ}, account=path_user)
def user_tweets(call: Call, user_id: str) -> HttpResponse:
    if not store.token_account(call.token):
        store.bind_token("TWITTER", call.token, user_id)
    try:
        max_results = int(call.query.get("max_results", 10))
    except ValueError:
        return X.invalid(call, "The `max_results` query parameter value is not a number")
    if not 5 <= max_results <= 100:
        return X.invalid(call, f"The `max_results` query parameter value [{max_results}] is not between 5 and 100")
    try:
        start, end = _rfc3339(call.query.get("start_time")), _rfc3339(call.query.get("end_time"))
    except ValueError as err:
        return X.invalid(call, str(err))
    since_id = call.query.get("since_id")
    found = [
        p
        for p in store.find_posts("TWITTER", user_id)
        if (start is None or p.created >= start)
        and (end is None or p.created <= end)
        and (not since_id or int(p.id) > int(since_id))
    ]
    token = call.query.get("pagination_token")
    if token:
        try:
            after_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except ValueError:
            return X.invalid(call, f"The `pagination_token` query parameter value [{token}] is not valid")
        ids = [p.id for p in found]
        found = found[ids.index(after_id) + 1 :] if after_id in ids else []
    page = found[:max_results]
    if not page:
        return JsonResponse({"meta": {"result_count": 0}})
    wanted = {f.strip() for f in str(call.query.get("tweet.fields", "")).split(",")}
    data = []
    for p in page:
        item = {"id": p.id, "text": p.text, "edit_history_tweet_ids": [p.id]}
        if "created_at" in wanted:
            item["created_at"] = datetime.fromtimestamp(p.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if "author_id" in wanted:
            item["author_id"] = user_id
        if "referenced_tweets" in wanted and p.extra.get("in_reply_to"):
            item["referenced_tweets"] = [{"type": "replied_to", "id": p.extra["in_reply_to"]}]
        if "attachments" in wanted and p.media_ids:
            item["attachments"] = {"media_keys": [f"3_{m}" for m in p.media_ids]}
        data.append(item)
    meta = {"result_count": len(data), "newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}
    if len(found) > max_results:
        meta["next_token"] = base64.urlsafe_b64encode(data[-1]["id"].encode()).decode().rstrip("=")
    return JsonResponse({"data": data, "meta": meta})


def _rfc3339(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as err:
        raise ValueError(f"Invalid date/time: [{value}] is not an RFC 3339 date-time (YYYY-MM-DDTHH:mm:ssZ)") from err


urlpatterns = [
    path("x/2/tweets", tweets),
    path("x/2/media/upload", media_upload),
    path("x/2/users/me", users_me),
    path("x/2/users/<str:user_id>/tweets", user_tweets),
    path("x/2/users/<str:user_id>", user_lookup),
    path("", include("connections.platforms.x.standin_auth")),
]
