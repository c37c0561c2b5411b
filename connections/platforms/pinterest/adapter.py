"""Pins through Pinterest's API v5 (docs/platforms/pinterest.md).

A pin goes to a board: the account's default board, chosen when it was connected
(``Connection.details["defaultBoardId"]``), or the one a post's variant names
(``options.boardId``). https://developers.pinterest.com/docs/api/v5/pins-create: ``POST
/v5/pins`` ``{"board_id", "description", "title", "link", "alt_text", "media_source"}`` ->
the Pin (``id``). The media source is the image's URL (``image_url``, Pinterest fetches it),
2 to 5 images (``multiple_image_urls``, a carousel), or an uploaded video (``video_id``).

A video is uploaded first (https://developers.pinterest.com/docs/content/update/, "Creating
video Pins"), a state machine kept in ``draft.state["video"]``:

============================ ======================================================= =====================
state                        what the next attempt does                              how it ends
============================ ======================================================= =====================
(none)                       ``POST /v5/media {"media_type": "video"}``: a media id, registered, then uploaded
                             an ``upload_url`` (Amazon S3) and ``upload_parameters``
``mediaId``, not uploaded    fetches the video (planrrr.media.fetch_video) and POSTs uploaded; a cut upload
                             a multipart form to ``upload_url``: every parameter      forgets the registration
                             first, the file last (S3 reads the fields in order and   (S3 form posts do not
                             ignores whatever follows the file)                       resume): a fresh one next
``mediaId``, uploaded        ``GET /v5/media/{media_id}``: ``registered`` or          NotReady (no attempt
                             ``processing`` is a wait, ``failed`` gives up,           spent), PermanentError,
                             ``succeeded`` makes the pin with ``source_type:          or the pin
                             video_id``
============================ ======================================================= =====================

Which file is the video is decided by its kind, never by its place among the post's media: a
scheduler that uploaded "the first attachment" sent the cover image as the video whenever it
came first, and 80-90 % of its video pins failed (docs/platforms/pinterest.md). An image beside
the video is the video's cover (``cover_image_url``); without one the frame at
COVER_KEY_FRAME_SECONDS is.

A lost answer to ``POST /v5/pins`` is settled by reading the board's pins (``GET
/v5/boards/{board_id}/pins``) for one with this description (and title and link, where set)
made since the attempt, before anything is sent again.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import (
    Account,
    Draft,
    NotReady,
    PermanentError,
    PlatformError,
    Published,
    RateLimited,
    TokenExpired,
    TransientError,
    parse_time,
)
from connections.platforms.config import value_of
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
    WATCH_SECONDS,
    Figures,
    ListedPost,
)
from connections.platforms.http import HttpAdapter, error_body, quoted
from connections.platforms.kinds import split_media
from connections.platforms.pinterest import DECLARATION, PINTEREST_MEDIA_POLL_SECONDS
from planrrr.crypto import decrypt, encrypt
from planrrr.text import safe_text, time_from_retry_after, wait_from_seconds

# PinCreate's limits (https://github.com/pinterest/api-description, v5/openapi.yaml: title
# maxLength 100, description 800, alt_text 500, link 2048); multiple_image_urls takes 2 to 5 items.
MAX_TITLE = 100
MAX_ALT_TEXT = 500
MAX_LINK = 2048
MAX_CAROUSEL = 5
# The frame a video pin shows before it plays when the post gives no cover image
# (``cover_image_key_frame_time``: "If entered time exceeds video duration, the last frame is used").
COVER_KEY_FRAME_SECONDS = 1
# Registrations made for one publication's video (each cut upload makes one anew) before it gives up.
MAX_REGISTRATIONS = 3
# Pins read per page when settling a lost answer (page_size: at most 250).
PAGE_SIZE = 100


# Pin analytics' metric types (https://developers.pinterest.com/docs/api/v5/pins-analytics; the spec's
# query_pin_analytics_metric_types and PinAnalyticsMetricsResponse, docs/platforms/pinterest.md): in
# ``summary_metrics``, the sums over the dates asked: the pin's impressions, saves, closeups (PIN_CLICK,
# kept raw), clicks to its link (OUTBOUND_CLICK) and, for video pins only, video views (VIDEO_MRC_VIEW:
# 2 s at 50 % in view), "Total play time" (VIDEO_V50_WATCH_TIME) and the average play time
# (VIDEO_AVG_WATCH_TIME, kept raw), both in milliseconds (the spec's example: 10031 and 2507.75); in
# ``lifetime_metrics``, integers over the pin's whole life: its comments and reactions.
PIN_METRICS = {
    VIEWS: ("IMPRESSION",),
    SAVES: ("SAVE",),
    CLICKS: ("OUTBOUND_CLICK",),
    VIDEO_VIEWS: ("VIDEO_MRC_VIEW",),
    LIKES: ("TOTAL_REACTIONS",),
    COMMENTS: ("TOTAL_COMMENTS",),
}
WATCH_TIME = "VIDEO_V50_WATCH_TIME"
AVERAGE_WATCH_TIME = "VIDEO_AVG_WATCH_TIME"
LIFETIME_METRICS = ("TOTAL_REACTIONS", "TOTAL_COMMENTS")
PIN_METRIC_TYPES = (
    "IMPRESSION",
    "SAVE",
    "PIN_CLICK",
    "OUTBOUND_CLICK",
    *LIFETIME_METRICS,
    "VIDEO_MRC_VIEW",
    WATCH_TIME,
    AVERAGE_WATCH_TIME,
)
# What every pin's answer gives (the video metrics are a video pin's only): one left out is
# recorded unavailable as not given (retired, or an older pin's).
PIN_RAW = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK", *LIFETIME_METRICS)
# Milliseconds: a fraction of one is dropped (the spec's VIDEO_AVG_WATCH_TIME is 2507.75), as the
# platform's own values are kept as whole numbers.
MILLISECONDS = (WATCH_TIME, AVERAGE_WATCH_TIME)
# "start_date ... Metric report start date (UTC). Format: YYYY-MM-DD. Cannot be more than 90 days
# back from today."
ANALYTICS_DAYS = 90
ACCOUNT_COUNTS = ("follower_count", "following_count", "pin_count", "monthly_views")


class PinterestAdapter(HttpAdapter):
    declaration = DECLARATION
    # One pin a call: the multi-pin endpoint (GET /v5/pins/analytics) "is currently in beta and not
    # available to all apps".
    metrics_batch = 1
    metrics_budget = (100, 3600)
    metrics_lacks = {
        REACH: "Pinterest gives no reach per pin (its audience figures are the account's).",
        SHARES: "Pinterest's pin analytics give no shares.",
    }
    # A video pin's VIDEO_V50_WATCH_TIME (milliseconds), read with the other figures.
    metrics_watch_time = True
    # The text is the pin's description (PinCreate.description maxLength 800).
    max_text_length = 800
    max_images = MAX_CAROUSEL
    # A pin is an image, a carousel or a video: there is no pin without one.
    requires_media = True
    options = {
        "boardId": "the board to pin to instead of the account's default: one of its boards (their ids are in the "
        "channel's details)",
        "title": f"the pin's title, at most {MAX_TITLE} characters",
        "link": f"the page the pin leads to: an http(s) URL of at most {MAX_LINK:,} characters",
        "altText": f"the image's text for people who cannot see it, at most {MAX_ALT_TEXT} characters",
    }

    option_kinds = {"boardId": "choice"}

    def option_choices(self, name: str, *, details: dict) -> list[tuple[str, str]]:
        """The account's boards as read at connect."""
        return list(known_boards(details).items()) if name == "boardId" else []

    # --- the door ----------------------------------------------------------------------------

    def media_problems(self, media_urls: list[str]) -> list[str]:
        """An image, 2 to 5 images, or one video with at most one image beside it: its cover, in
        whatever order they come."""
        images, videos = split_media(media_urls)
        if not (images and videos):
            return super().media_problems(media_urls)
        problems = super().media_problems(videos)
        if len(images) > 1:
            problems.append(
                f"Pinterest takes a video with at most one image beside it, its cover; this post has {len(images)} "
                "images: keep one (or none) for Pinterest."
            )
        return problems

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        problems = super().options_problems(options, details=details)
        board = options.get("boardId")
        if board is not None:
            boards = known_boards(details)
            if not isinstance(board, str) or not board.isdigit():
                problems.append(f"Pinterest's boardId is a board's id (digits); got {board!r}.")
            elif boards and board not in boards:
                listed = ", ".join(f"{board_id} ({name})" for board_id, name in boards.items())
                problems.append(
                    f"Pinterest board {board} is not one of this account's boards as known ({listed}): pick one of "
                    "them, or reconnect Pinterest if the board is new."
                )
        for name, limit in (("title", MAX_TITLE), ("altText", MAX_ALT_TEXT)):
            value = options.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                problems.append(f"Pinterest's {name} is text; got {value!r}.")
            elif len(value) > limit:
                problems.append(
                    f"Pinterest's {name} takes at most {limit} characters; this one has {len(value)}. "
                    f"Shorten it by {len(value) - limit}."
                )
        link = options.get("link")
        if link is not None:
            parts = urlsplit(link) if isinstance(link, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"Pinterest's link is the http(s) URL the pin leads to; got {link!r}.")
            elif len(link) > MAX_LINK:
                problems.append(f"Pinterest's link takes at most {MAX_LINK:,} characters; this one has {len(link):,}.")
        return problems

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        problems = self.options_problems(draft.options, details=account.details)
        if problems:
            raise PermanentError(" ".join(problems))
        board = self.board_of(account, draft)
        draft.state["boardId"] = board
        images, videos = split_media(draft.media_urls)
        if videos:
            source = self.video_source(account, draft, videos[0], cover=images[0] if images else "")
        elif len(images) == 1:
            source = {"source_type": "image_url", "url": images[0]}
        else:
            source = {"source_type": "multiple_image_urls", "items": [{"url": url} for url in images]}
        body = {"board_id": board, "description": draft.text, "media_source": source, **pin_fields(draft.options)}
        try:
            response = self.request("POST", "/v5/pins", account=account, json=body)
        except PermanentError as err:
            if err.status_code == 404:
                # The pin's board is gone (deleted, or the account lost it): nothing else on
                # POST /v5/pins can be missing.
                raise PermanentError(
                    f"Pinterest board {board} no longer exists, or this account can no longer pin to it "
                    f"({err.message}): choose another board in the post's options.boardId, or reconnect Pinterest "
                    "to choose a new default board.",
                    status_code=404,
                ) from None
            raise
        pin_id = self.json(response).get("id")
        if not pin_id:
            raise self.malformed(response, "no pin id")
        return Published(external_id=str(pin_id), url=f"https://www.pinterest.com/pin/{pin_id}/")

    def board_of(self, account: Account, draft: Draft) -> str:
        board = draft.options.get("boardId") or account.details.get("defaultBoardId")
        if not board:
            raise PermanentError(
                "Pinterest needs a board to pin to, and this account has no default board: reconnect Pinterest and "
                "choose one, or name one in the post's options.boardId."
            )
        return str(board)

    # --- video -----------------------------------------------------------------------------------

    def stage(self, account: Account, draft: Draft) -> None:
        """Register and upload a post's video ahead of its slot (MEDIA_STAGING_LEAD_SECONDS):
        Pinterest has usually processed it by then, so the pin at the slot is one look at the
        media and one request. Image pins have nothing to stage (Pinterest fetches the image)."""
        self.refuse_invalid(draft)
        videos = split_media(draft.media_urls)[1]
        if not videos:
            return
        video = draft.state.setdefault("video", {})
        if not video.get("mediaId"):
            self.register(account, draft, video)
        if not video.get("uploaded"):
            self.upload(draft, video, videos[0])

    def video_source(self, account: Account, draft: Draft, url: str, *, cover: str) -> dict[str, Any]:
        """The ``video_id`` media source of an uploaded, processed video; registers and uploads
        it first where it is not yet (the table in the module's docstring)."""
        video = draft.state.setdefault("video", {})
        if not video.get("mediaId"):
            self.register(account, draft, video)
        if not video.get("uploaded"):
            self.upload(draft, video, url)
        media_id = str(video["mediaId"])
        status = self.media_status(account, media_id)
        if status in ("registered", "processing"):
            seconds = value_of(PINTEREST_MEDIA_POLL_SECONDS)
            raise NotReady(
                f"Pinterest is processing the video (media {media_id}: {status}); looking again in {seconds} s.",
                retry_at=timezone.now() + timedelta(seconds=seconds),
            )
        if status == "failed":
            raise PermanentError(
                f"Pinterest could not process the video {url} (media {media_id}: failed): check that it is an MP4, "
                "M4V or MOV video Pinterest takes (https://help.pinterest.com/article/video-pin-specs), then retry."
            )
        if status != "succeeded":
            raise TransientError(f"Pinterest API error: media {media_id} has an unknown status {status!r}")
        source: dict[str, Any] = {"source_type": "video_id", "media_id": media_id}
        if cover:
            source["cover_image_url"] = cover
        else:
            source["cover_image_key_frame_time"] = COVER_KEY_FRAME_SECONDS
        return source

    def register(self, account: Account, draft: Draft, video: dict) -> None:
        """POST /v5/media {"media_type": "video"} -> {"media_id", "media_type", "upload_url",
        "upload_parameters": {"x-amz-date", ..., "key", "policy", "Content-Type"}}."""
        made = int(video.get("registrations", 0))
        if made >= MAX_REGISTRATIONS:
            raise PermanentError(
                f"Pinterest API error: the video's upload was cut {made} times in a row, each to a fresh "
                "registration; check the connection to Pinterest's upload server, then retry."
            )
        response = self.request("POST", "/v5/media", account=account, json={"media_type": "video"})
        body = self.json(response)
        media_id, upload_url, parameters = body.get("media_id"), body.get("upload_url"), body.get("upload_parameters")
        if not media_id or not isinstance(upload_url, str) or not isinstance(parameters, dict):
            raise self.malformed(response, "no media_id, upload_url or upload_parameters")
        video.clear()
        video.update(
            mediaId=str(media_id),
            uploadUrl=upload_url,
            # The form's policy and signature authorize an upload: kept encrypted, as tokens are
            # (the publication's metadata is shown to the team), and dropped once used.
            parameters=encrypt(json.dumps({str(k): str(v) for k, v in parameters.items()})),
            uploaded=False,
            registrations=made + 1,
        )
        draft.state.setdefault("mediaIds", [])
        draft.state["mediaIds"] = [*draft.state["mediaIds"], str(media_id)]

    def upload(self, draft: Draft, video: dict, url: str) -> None:
        """POST the video to the registration's upload URL as a multipart form: the parameters
        first, the file last (requests writes ``data`` before ``files``; S3: "The file or text
        content must be the last field in the form"). No bearer token goes there: the policy
        and signature in the parameters are the authorization."""
        from connections.platforms.media import fetch_video  # a worker fetches videos only for platforms taking them

        try:
            parameters = json.loads(decrypt(video["parameters"]))
        except (KeyError, TypeError, ValueError):
            # Unreadable (the key changed, a row written by hand): a fresh registration next time.
            video["mediaId"] = ""
            raise TransientError(
                "Pinterest's upload registration could not be read; the video is registered again."
            ) from None
        with fetch_video(url) as downloaded, open(downloaded.path, "rb") as handle:
            try:
                response = self.send(
                    "POST",
                    video["uploadUrl"],
                    data=parameters,
                    files={"file": (downloaded.filename, handle, downloaded.content_type)},
                    timeout=settings.PLATFORM_TIMEOUT,
                )
            except TransientError as err:
                # S3 form posts do not resume: the whole file goes again, to a fresh registration
                # (this one's policy may expire, and whether S3 kept anything is unknown). No pin
                # can come of an upload, so nothing is reconciled.
                video["mediaId"] = ""
                raise TransientError(
                    f"Pinterest's upload of the video was cut ({err.message}); it is uploaded again, whole, to a "
                    "fresh registration.",
                    status_code=err.status_code,
                ) from None
        if response.status_code in (200, 201, 204):
            video["uploaded"] = True
            video.pop("parameters", None)
            return
        code, message = s3_error(response)
        words = f"Pinterest's upload server answered HTTP {response.status_code} ({code}: {message})"
        if response.status_code >= 500 or code in ("RequestTimeout", "SlowDown", "ExpiredToken", "AccessDenied"):
            # A passing failure, or the registration's policy expired: a fresh registration next time.
            video["mediaId"] = ""
            raise TransientError(
                f"{words}; the video goes again to a fresh registration.", status_code=response.status_code
            )
        raise PermanentError(f"{words}.", status_code=response.status_code)

    def media_status(self, account: Account, media_id: str) -> str:
        """GET /v5/media/{media_id} -> {"media_id", "media_type": "video", "status": "registered" |
        "processing" | "succeeded" | "failed"}."""
        response = self.request("GET", f"/v5/media/{media_id}", account=account)
        status = self.json(response).get("status")
        if not isinstance(status, str):
            raise self.malformed(response, "no status")
        return status

    # --- a lost answer -----------------------------------------------------------------------

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The board's pin with this description (title and link, where set) made since ``since``:
        GET /v5/boards/{board_id}/pins?page_size&bookmark -> {"items": [{"id", "created_at",
        "description", "title", "link", ...}], "bookmark": "..." | null}."""
        board = str(draft.state.get("boardId") or self.board_of(account, draft))
        wanted = {"description": draft.text, **pin_fields(draft.options)}
        wanted.pop("alt_text", None)
        params: dict[str, Any] = {"page_size": PAGE_SIZE}
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", f"/v5/boards/{board}/pins", account=account, params=params)
            body = self.json(response)
            items = body.get("items")
            if not isinstance(items, list):
                raise self.malformed(response, "no items")
            for item in items:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                if any((item.get(name) or "") != value for name, value in wanted.items()):
                    continue
                created = parse_time(item.get("created_at"))
                if created is None or created >= since:
                    return str(item["id"])
            bookmark = body.get("bookmark")
            if not bookmark:
                return None
            params = {"page_size": PAGE_SIZE, "bookmark": bookmark}
        return None

    # --- engagement figures (docs/analytics.md) -------------------------------------------------

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /v5/pins/{pin_id}/analytics?start_date&end_date&metric_types=IMPRESSION,…&app_types=ALL``
        -> ``{"all": {"summary_metrics": {"IMPRESSION": n, …}, "daily_metrics": […],
        "lifetime_metrics": {"TOTAL_COMMENTS": n, "TOTAL_REACTIONS": n}}}``: the sums over the last 90
        days (as far back as Pinterest allows, and the whole of a tracked pin's life) and the lifetime
        counts. A deleted pin (404) is left out; any other refusal (a metric type Pinterest will not
        give) is the reading's error, with Pinterest's words."""
        (pin_id,) = external_ids
        today = timezone.now().date()
        params = {
            "start_date": (today - timedelta(days=ANALYTICS_DAYS - 1)).isoformat(),
            "end_date": today.isoformat(),
            "metric_types": ",".join(PIN_METRIC_TYPES),
            "app_types": "ALL",
        }
        try:
            response = self.request("GET", f"/v5/pins/{pin_id}/analytics", account=account, params=params)
        except PermanentError as err:
            if err.status_code == 404:
                return {}
            raise
        every = self.json(response).get("all")
        summary = every.get("summary_metrics") if isinstance(every, dict) else None
        if not isinstance(summary, dict):
            raise self.malformed(response, "no all.summary_metrics")
        # An answer without lifetime counts (an older pin's) leaves likes and comments unavailable.
        lifetime = every.get("lifetime_metrics")
        if lifetime is not None and not isinstance(lifetime, dict):
            raise self.malformed(response, "all.lifetime_metrics is not an object")
        return {pin_id: pin_figures(summary, lifetime or {}, lacks=self.metrics_lacks)}

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /v5/pins?pin_filter=exclude_repins&page_size=100`` (``bookmark``) -> ``{"items": [{"id",
        "created_at", "title", "description", "is_owner", "parent_pin_id"?}], "bookmark": "…" | null}``:
        "the Pins owned by the operation user_account", whatever board they are on (the spec's pins/list).
        Only the account's own pins: a pin saved from another's (a repin, ``parent_pin_id``) is filtered
        out by Pinterest and skipped here too, as is one whose ``is_owner`` is false. The list takes no
        ``since``: newest first (not stated by the spec: docs/platforms/pinterest.md), the first pin
        older than it ends the listing; pin analytics go 90 days back, the lookback's length."""
        params: dict[str, Any] = {"pin_filter": "exclude_repins", "page_size": PAGE_SIZE}
        if cursor:
            params["bookmark"] = cursor
        response = self.request("GET", "/v5/pins", account=account, params=params)
        body = self.json(response)
        items = body.get("items")
        if not isinstance(items, list):
            raise self.malformed(response, "no items")
        listed, past = [], False
        for pin in items:
            created = parse_time(pin.get("created_at")) if isinstance(pin, dict) else None
            if created is None or not pin.get("id") or pin.get("is_owner") is False or pin.get("parent_pin_id"):
                continue
            if created < since:
                past = True
                continue
            text = str(pin.get("description") or pin.get("title") or "")[:300]
            listed.append(ListedPost(str(pin["id"]), created, text, f"https://www.pinterest.com/pin/{pin['id']}/"))
        bookmark = body.get("bookmark")
        return listed, (str(bookmark) if bookmark and not past else None)

    def account_metrics(self, account: Account) -> Figures:
        """``GET /v5/user_account`` -> ``{"username", "follower_count", "following_count",
        "pin_count", "monthly_views", …}``."""
        response = self.request("GET", "/v5/user_account", account=account)
        body = self.json(response)
        raw = {name: body[name] for name in ACCOUNT_COUNTS if name in body}
        return Figures.mapped(raw, {FOLLOWERS: ("follower_count",)}, label="Pinterest")

    # --- errors ------------------------------------------------------------------------------

    def raise_for_response(self, response: requests.Response) -> None:
        """Pinterest's errors are ``{"code": <int>, "message": "..."}`` (the spec's Error and
        Pinterest.Lib.Error) with the HTTP status saying the kind: 401 the token (expired,
        revoked), 429 too many requests, 5xx Pinterest's own failure; 400, 403 and 404 are the
        request's (a 403 often names a missing scope)."""
        if response.ok:
            return
        raise self.error_of(response)

    def error_of(self, response: requests.Response) -> PlatformError:
        status = response.status_code
        body = error_body(response)
        code, message = body.get("code"), body.get("message")
        words = safe_text(str(message), limit=300) if isinstance(message, str) and message else quoted(response)
        where = f"{status}, code {code}" if isinstance(code, int) and not isinstance(code, bool) else str(status)
        text = f"Pinterest API error ({where}): {words}"
        if status == 401:
            return TokenExpired(f"{text}: reconnect the account.", status_code=status)
        if status == 429:
            return RateLimited(text, retry_at=self.retry_at(response), status_code=status)
        if status >= 500:
            return TransientError(text, status_code=status, maybe_sent=True)
        return PermanentError(text, status_code=status)

    def retry_at(self, response: requests.Response) -> datetime:
        """Retry-After where sent, else ``x-ratelimit-reset`` (seconds; not confirmed by the
        documentation: docs/platforms/pinterest.md), else RATE_LIMIT_DEFAULT_BACKOFF_SECONDS."""
        retry_at = time_from_retry_after(response.headers.get("Retry-After"), what="Pinterest Retry-After")
        if retry_at is None and response.headers.get("x-ratelimit-reset"):
            retry_at = wait_from_seconds(response.headers["x-ratelimit-reset"], what="Pinterest x-ratelimit-reset")
        return retry_at or timezone.now() + timedelta(seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS)


def pin_figures(summary: dict, lifetime: dict, *, lacks: dict[str, str]) -> Figures:
    """A pin's figures from its answer's ``summary_metrics`` and ``lifetime_metrics`` (the comments
    and reactions from the latter alone). A metric left out is unavailable, not zero; one given as
    something other than a count is unavailable saying what Pinterest sent; watchSeconds is
    VIDEO_V50_WATCH_TIME in whole seconds."""
    given = {name: value for name, value in summary.items() if name not in LIFETIME_METRICS}
    given.update({name: lifetime[name] for name in LIFETIME_METRICS if name in lifetime})
    for name in MILLISECONDS:
        value = given.get(name)
        if isinstance(value, float) and math.isfinite(value) and value >= 0:
            given[name] = math.floor(value)
    figures = Figures.mapped(given, PIN_METRICS, expected=PIN_RAW, lacks=lacks, label="Pinterest")
    for name in PIN_METRIC_TYPES:
        if name in given and name not in figures.raw:
            words = f"Pinterest gave {name} as {safe_text(json.dumps(given[name]), limit=60)}, not a count."
            figures.unavailable[name] = words
            for common, names in PIN_METRICS.items():
                if name in names and common not in lacks:
                    figures.unavailable[common] = words
    figures.unavailable.pop(WATCH_SECONDS, None)
    if WATCH_TIME in figures.raw:
        figures.values[WATCH_SECONDS] = figures.raw[WATCH_TIME] // 1000
    else:
        figures.unavailable[WATCH_SECONDS] = figures.unavailable.get(WATCH_TIME) or (
            f"Pinterest did not return {WATCH_TIME!r} (a video pin's only)."
        )
    return figures


def known_boards(details: dict) -> dict[str, str]:
    """The account's boards as known (id -> name), from its connection's details."""
    boards = details.get("boards") if isinstance(details, dict) else None
    if not isinstance(boards, list):
        return {}
    return {str(b["id"]): str(b.get("name") or "") for b in boards if isinstance(b, dict) and b.get("id")}


def pin_fields(options: dict) -> dict[str, str]:
    """The pin's own fields from a variant's options (planrrr's names to Pinterest's)."""
    names = {"title": "title", "link": "link", "altText": "alt_text"}
    return {field: str(options[name]) for name, field in names.items() if options.get(name)}


def s3_error(response: requests.Response) -> tuple[str, str]:
    """Amazon S3's error document, <Error><Code>...</Code><Message>...</Message></Error>, read
    with a pattern rather than an XML parser (an answer is never trusted to be well-formed)."""
    text = response.text or ""
    code, message = (re.search(rf"<{tag}>([^<]*)</{tag}>", text) for tag in ("Code", "Message"))
    return (
        safe_text(code.group(1) if code else "", limit=60),
        safe_text(message.group(1) if message else text, limit=200),
    )
