"""X (Twitter) API v2.

https://docs.x.com/x-api/posts/create-post: ``POST /2/tweets`` with a user's OAuth 2.0 token
as ``Authorization: Bearer``, JSON ``{"text", "media": {"media_ids": [...]}}`` -> 201
``{"data": {"id", "text"}}``. Images are uploaded first, as bytes, to ``POST /2/media/upload``
(https://docs.x.com/x-api/media/upload-media). Errors are problem+json documents; rate limits
come as 429 with ``x-rate-limit-*`` headers (https://docs.x.com/x-api/fundamentals/rate-limits).
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import Account, Draft, Published, parse_time
from connections.platforms.figures import (
    CLICKS,
    COMMENTS,
    FOLLOWERS,
    LIKES,
    REACH,
    SAVES,
    SHARES,
    VIDEO_VIEWS,
    VIEWS,
    Figures,
    ListedPost,
)
from connections.platforms.http import HttpAdapter, error_body, quoted
from connections.platforms.media import fetch_media
from connections.platforms.x import DECLARATION
from planrrr.text import time_from_epoch

# twitter-text's configuration v3 (https://github.com/twitter/twitter-text/blob/master/config/v3.json):
# maxWeightedTweetLength 280, defaultWeight 200, scale 100, these ranges weigh 100 (one
# character), everything else (CJK, emoji, ...) two; every URL counts transformedURLLength 23
# whatever its length, and with emojiParsingEnabled a whole emoji sequence counts as one emoji.
WEIGHT_ONE_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
URL_WEIGHT = 23
# Two or more characters in a row that weigh one each (see _weigh).
_WEIGHT_ONE_RUN = re.compile(
    "[{}]{{2,}}".format("".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in WEIGHT_ONE_RANGES))
)
# A URL as X links it: with a scheme or starting www., not counting trailing punctuation.
URL = re.compile(r"""(?<![\w@])(?:https?://|www\.)[^\s<>"]*[^\s<>".,:;!?'")\]}]""", re.IGNORECASE)
# What X replaces a URL with in a post's text (https://docs.x.com/resources/fundamentals/counting-characters).
TCO = r"https://t\.co/\w+"

ZWJ = 0x200D
VARIATION_SELECTORS = (0xFE0E, 0xFE0F)
KEYCAP = 0x20E3
SKIN_TONES = range(0x1F3FB, 0x1F400)
TAGS = range(0xE0020, 0xE0080)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)

# public_metrics (https://docs.x.com/x-api/fundamentals/metrics) onto the common names: a repost
# and a quote both share the post further.
TWEET_METRICS = {
    VIEWS: ("impression_count",),
    LIKES: ("like_count",),
    COMMENTS: ("reply_count",),
    SHARES: ("retweet_count", "quote_count"),
    SAVES: ("bookmark_count",),
}
TWEET_RAW = ("impression_count", "like_count", "reply_count", "retweet_count", "quote_count", "bookmark_count")

# Windows whose remaining count, at zero, stops the account until their reset.
RATE_LIMIT_WINDOWS = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")


def weighted_length(text: str) -> int:
    """The length X counts against its 280: twitter-text's weighting (see WEIGHT_ONE_RANGES)."""
    text = unicodedata.normalize("NFC", text)
    total, position = 0, 0
    for match in URL.finditer(text):
        total += _weigh(text[position : match.start()]) + URL_WEIGHT
        position = match.end()
    return total + _weigh(text[position:])


def _weigh(text: str) -> int:
    points = [ord(char) for char in text]
    total, i = 0, 0
    while i < len(points):
        # A run of characters weighing one is counted at once (a char at a time, a 280-character
        # post took ~0.2 ms, twice an attempt): each one but the last is a step of its own, as
        # _emoji_end finds; the last may start a keycap ("1" U+FE0F U+20E3), so it is looked at below.
        if run := _WEIGHT_ONE_RUN.match(text, i):
            total += run.end() - 1 - i
            i = run.end() - 1
        end = _emoji_end(points, i)
        if end > i + 1 or _weight(points[i]) == 2:
            total += 2
            i = max(end, i + 1)
        else:
            total += 1
            i += 1
    return total


def _weight(point: int) -> int:
    return 1 if any(low <= point <= high for low, high in WEIGHT_ONE_RANGES) else 2


def _emoji_end(points: list[int], i: int) -> int:
    """Where the emoji sequence starting at ``i`` ends (exclusive), or ``i + 1`` if none does:
    a flag (two regional indicators), a keycap (``1️⃣``), or a wide character followed by
    variation selectors, skin tones, tag characters and zero-width-joined characters (``👩🏽‍💻``)."""
    first = points[i]
    if first in REGIONAL_INDICATORS:
        return i + 2 if i + 1 < len(points) and points[i + 1] in REGIONAL_INDICATORS else i + 1
    if chr(first) in "0123456789#*":
        j = i + 1
        if j < len(points) and points[j] == 0xFE0F:
            j += 1
        return j + 1 if j < len(points) and points[j] == KEYCAP else i + 1
    if _weight(first) == 1:
        return i + 1
    j = i + 1
    while j < len(points):
        point = points[j]
        if point in VARIATION_SELECTORS or point in SKIN_TONES or point in TAGS or point == KEYCAP:
            j += 1
        elif point == ZWJ and j + 1 < len(points):
            j += 2
        else:
            break
    return j


class XAdapter(HttpAdapter):
    declaration = DECLARATION
    max_text_length = 280
    # "You can attach up to 4 photos, 1 animated GIF, or 1 video in a Post."
    max_images = 4
    # A thread part or a first comment is a reply: POST /2/tweets with
    # {"reply": {"in_reply_to_tweet_id": "<previous id>"}} (https://docs.x.com/x-api/posts/create-post).
    supports_threads = True
    max_comment_length = 280
    # GET /2/tweets takes up to 100 ids (https://docs.x.com/x-api/posts/get-posts-by-ids); its limit
    # per user is 15 requests per 15 minutes on the Basic plan (900 on Pro): 12 keeps below both.
    # A thread's replies are posts of their own, each with its counts.
    metrics_parts = True
    metrics_batch = 100
    metrics_budget = (12, 15 * 60)
    metrics_lacks = {
        REACH: "X gives no reach (unique viewers) in public_metrics.",
        CLICKS: "X gives link clicks only in non_public_metrics, for 30 days, with the author's OAuth 1.0a token.",
        VIDEO_VIEWS: "X gives video views per media item (media.fields), not per post.",
    }

    def text_length(self, text: str) -> int:
        return weighted_length(text)

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        payload: dict = {"text": draft.text}
        if draft.media_urls:
            payload["media"] = {"media_ids": self.upload_media(account, draft)}
        if draft.reply_to:
            payload["reply"] = {"in_reply_to_tweet_id": draft.reply_to}
        response = self.request("POST", "/2/tweets", account=account, json=payload)
        # -> 201 {"data": {"id": "1346889436626259968", "text": "..."}}
        data = self.json(response).get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise self.malformed(response, "no data.id")
        return Published(
            external_id=str(data["id"]),
            url=f"https://x.com/i/status/{data['id']}",
            slow_down_until=_exhausted_until(response),
        )

    def stage(self, account: Account, draft: Draft) -> None:
        """Upload the images ahead of the slot (X keeps media ids about 24 hours)."""
        self.refuse_invalid(draft)
        if draft.media_urls:
            self.upload_media(account, draft)

    def upload_media(self, account: Account, draft: Draft) -> list[str]:
        """Fetch and upload each image, keeping its id in state["mediaIds"] one by one, so that a
        retry uploads only what is missing."""
        media_ids = [str(media_id) for media_id in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
        for url in draft.media_urls[len(media_ids) :]:
            media = fetch_media(url)
            response = self.request(
                "POST",
                "/2/media/upload",
                data={"media_category": "tweet_image", "media_type": media.content_type},
                files={"media": (media.filename, media.content, media.content_type)},
                account=account,
            )
            # -> {"data": {"id": "1880028106020515840", "media_key": "3_1880028106020515840", ...}}
            data = self.json(response).get("data")
            if not isinstance(data, dict) or not data.get("id"):
                raise self.malformed(response, f"no media id for {url}")
            media_ids.append(str(data["id"]))
            draft.state["mediaIds"] = list(media_ids)
        return media_ids

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        params = {"max_results": 100, "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        pattern = _text_pattern(draft.text, with_media=bool(draft.media_urls))
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", f"/2/users/{account.account_id}/tweets", account=account, params=params)
            body = self.json(response)
            # No posts in the window: {"meta": {"result_count": 0}} without "data".
            tweets = body.get("data", [])
            if not isinstance(tweets, list):
                raise self.malformed(response, "data is not a list")
            for tweet in tweets:
                if isinstance(tweet, dict) and tweet.get("id") and isinstance(tweet.get("text"), str):
                    if pattern.fullmatch(unicodedata.normalize("NFC", html.unescape(tweet["text"])).strip()):
                        return str(tweet["id"])
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if not meta.get("next_token"):
                return None
            params["pagination_token"] = meta["next_token"]
        return None

    def comment(self, account: Account, draft: Draft) -> str:
        """X has no comments: the first comment is a reply to the post."""
        return self.publish(account, draft).external_id

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        return self.find_published(account, draft, since)

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /2/tweets?ids=…&tweet.fields=public_metrics`` -> ``{"data": [{"id", "text",
        "public_metrics": {"retweet_count", "reply_count", "like_count", "quote_count",
        "bookmark_count", "impression_count"}}], "errors": [{"resource_id", "title": "Not Found
        Error", ...}]}``: a deleted post is an entry of ``errors``, not a failure of the call."""
        params = {"ids": ",".join(external_ids), "tweet.fields": "public_metrics"}
        body = self.json(self.request("GET", "/2/tweets", account=account, params=params))
        found = {}
        for tweet in body.get("data") or []:
            if isinstance(tweet, dict) and tweet.get("id") and isinstance(tweet.get("public_metrics"), dict):
                found[str(tweet["id"])] = Figures.mapped(
                    tweet["public_metrics"], TWEET_METRICS, expected=TWEET_RAW, lacks=self.metrics_lacks, label="X"
                )
        return found

    def account_metrics(self, account: Account) -> Figures:
        """``GET /2/users/{id}?user.fields=public_metrics`` -> ``{"data": {"public_metrics":
        {"followers_count", "following_count", "tweet_count", "listed_count", "like_count"}}}``
        (https://docs.x.com/x-api/users/get-user-by-id)."""
        params = {"user.fields": "public_metrics"}
        response = self.request("GET", f"/2/users/{account.account_id}", account=account, params=params)
        data = self.json(response).get("data")
        metrics = data.get("public_metrics") if isinstance(data, dict) else None
        if not isinstance(metrics, dict):
            raise self.malformed(response, "no data.public_metrics")
        return Figures.mapped(metrics, {FOLLOWERS: ("followers_count",)}, label="X")

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /2/users/{id}/tweets?max_results=100&start_time=…&tweet.fields=created_at``
        (``pagination_token`` for the next page) -> ``{"data": [{"id", "text", "created_at"}],
        "meta": {"next_token"?}}``, newest first; X lists a user's last 3,200 posts at most
        (https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id)."""
        params = {
            "max_results": 100,
            "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tweet.fields": "created_at",
        }
        if cursor:
            params["pagination_token"] = cursor
        response = self.request("GET", f"/2/users/{account.account_id}/tweets", account=account, params=params)
        body = self.json(response)
        tweets = body.get("data", [])
        if not isinstance(tweets, list):
            raise self.malformed(response, "data is not a list")
        listed = [
            ListedPost(
                str(tweet["id"]), created, str(tweet.get("text") or "")[:300], f"https://x.com/i/status/{tweet['id']}"
            )
            for tweet in tweets
            if isinstance(tweet, dict) and tweet.get("id") and (created := parse_time(tweet.get("created_at")))
        ]
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        return listed, (str(meta["next_token"]) if meta.get("next_token") else None)

    def raise_for_response(self, response: requests.Response) -> None:
        if response.ok:
            return
        status = response.status_code
        message = f"X API error ({status}): {_problem_text(response)}"
        # 401 {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}.
        # 403 {"detail": "You are not allowed to create a Tweet with duplicate content.", ...}: X does
        # not say which post it duplicates; the caller reconciles *before* retrying an unknown
        # outcome, so reaching this means the text really was posted before.
        # 400 invalid request, other 403s (not permitted): the same request will never succeed.
        raise self.status_error(response, message, duplicate=status == 403 and "duplicate" in message.lower())

    def retry_at(self, response: requests.Response) -> datetime:
        return _retry_at(response)


def _problem_text(response: requests.Response) -> str:
    """The platform's words from a problem+json body: the specific ``errors[].message`` of a 400
    ({"errors": [{"message": "..."}], "title": "Invalid Request", "detail": "One or more
    parameters to your request was invalid."}), else ``detail``, else ``title``."""
    body = error_body(response)
    errors = body.get("errors")
    messages = [
        str(error.get("message") or error.get("detail"))
        for error in (errors if isinstance(errors, list) else [])
        if isinstance(error, dict) and (error.get("message") or error.get("detail"))
    ]
    if messages:
        return "; ".join(messages)
    for key in ("detail", "title"):
        if body.get(key):
            return str(body[key])
    return quoted(response) if response.text else "no message"


def _reset(response: requests.Response, window: str) -> datetime | None:
    """A window's reset (Unix seconds) as a time no later than MAX_WAIT from now: a header saying
    ``99999999999999`` made ``datetime`` overflow and the attempt's outcome could not be written."""
    value = response.headers.get(f"{window}-reset")
    return None if value is None else time_from_epoch(value, what=f"X {window}-reset")


def _exhausted_until(response: requests.Response) -> datetime | None:
    """The latest reset among the windows with nothing remaining, or None."""
    resets = [
        reset
        for window in RATE_LIMIT_WINDOWS
        if response.headers.get(f"{window}-remaining") == "0" and (reset := _reset(response, window))
    ]
    return max(resets, default=None)


def _retry_at(response: requests.Response) -> datetime:
    """When a 429 ends: the reset of the exhausted window (the 15-minute one, or the user's or
    app's 24-hour one), else x-rate-limit-reset, else RATE_LIMIT_DEFAULT_BACKOFF_SECONDS."""
    now = timezone.now()
    retry_at = _exhausted_until(response) or _reset(response, "x-rate-limit")
    if retry_at is None:
        return now + timedelta(seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS)
    # A reset already past (clock skew) still means "not now": wait at least a second.
    return max(retry_at, now + timedelta(seconds=1))


def _text_pattern(text: str, *, with_media: bool) -> re.Pattern:
    """A post's text as X gives it back: URLs replaced by t.co links (or kept, by a stand-in), and
    a t.co link to the media appended when there are images."""
    text = unicodedata.normalize("NFC", text).strip()
    parts, position = [], 0
    for match in URL.finditer(text):
        parts.append(re.escape(text[position : match.start()]))
        parts.append(f"(?:{TCO}|{re.escape(match.group())})")
        position = match.end()
    parts.append(re.escape(text[position:]))
    media_link = rf"(?:\s*{TCO})?" if with_media else ""
    return re.compile("".join(parts) + media_link)
