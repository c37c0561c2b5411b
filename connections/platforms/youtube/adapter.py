"""YouTube through the YouTube Data API v3 (docs/platforms/youtube.md).

A post is one video, uploaded with ``videos.insert``'s resumable protocol
(https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol):

1. ``POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`` with the video's
   metadata (``X-Upload-Content-Length``, ``X-Upload-Content-Type``) -> 200, the upload session's
   URI in ``Location``;
2. ``PUT <session>`` one chunk at a time (``Content-Range: bytes a-b/size``, each a multiple of
   256 KiB but the last) -> ``308 Resume Incomplete`` with ``Range: bytes=0-<last byte stored>``,
   and after the last chunk 200/201 with the video resource;
3. after a cut, ``PUT <session>`` with ``Content-Range: bytes */size`` and no body asks how much
   arrived (308 with ``Range``, or 200/201 if it all did; 404 once the session expired), and the
   upload resumes from the byte after what the server reports, never from what was sent.

The session URI and the offset are kept in ``draft.state`` (``uploadSession``) and written to the
publication's row after the session is made and after every chunk (``Draft.checkpoint``), so a
worker killed mid-upload leaves the next attempt to resume where YouTube stands.

A video is PUBLISHED once YouTube has processed it (``status.uploadStatus`` "processed"): until
then the publication waits (NotReady, the video's id in ``draft.state``), reading
``videos.list?part=status,processingDetails``; "failed" or "rejected" ends it FAILED with
YouTube's reason in words. A lost answer is found before anything is uploaded again: the upload
session's own status, else the channel's uploads playlist, by the title and description planrrr
chose, since the attempt.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

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
    count,
)
from connections.platforms.google.errors import GoogleErrorMixin
from connections.platforms.http import HttpAdapter
from connections.platforms.media import Video, fetch_video
from connections.platforms.youtube import (
    ANALYTICS_SCOPE,
    DECLARATION,
    YOUTUBE_ANALYTICS_URL,
    YOUTUBE_PROCESSING_POLL_SECONDS,
    YOUTUBE_UPLOAD_CHUNK_BYTES,
)
from planrrr.crypto import decrypt, encrypt
from planrrr.text import safe_text

PACIFIC = ZoneInfo("America/Los_Angeles")
# videos#statistics (https://developers.google.com/youtube/v3/docs/videos#statistics), counts as
# strings; dislikeCount is private since December 2021 and favoriteCount is always 0 (deprecated):
# neither is read. Every post is a video: its views are its video views.
VIDEO_METRICS = {VIEWS: ("viewCount",), VIDEO_VIEWS: ("viewCount",), LIKES: ("likeCount",), COMMENTS: ("commentCount",)}
VIDEO_RAW = ("viewCount", "likeCount", "commentCount")
# The YouTube Analytics API's report per video (https://developers.google.com/youtube/analytics/
# reference/reports/query, metrics: https://developers.google.com/youtube/analytics/metrics):
# estimatedMinutesWatched (minutes, the watch time), averageViewDuration (seconds), views and shares.
# Its views lag as the report does: the common views stay the Data API's viewCount, fresher; these
# views are kept raw. None of them counts unique viewers: reach stays unavailable.
REPORT_METRICS = ("estimatedMinutesWatched", "averageViewDuration", "views", "shares")
# The report's period: the lifetime of every video planrrr reads (its schedule ends at day 90, the
# backfill lists 90 days back), with room; a day before the upload simply counts nothing.
REPORT_DAYS = 365
# Why a video in no row has no watch time (the report leaves out a video with no data yet).
NOT_YET = (
    "YouTube Analytics has no figures for this video yet: its reports run a day or more behind (the views, "
    "likes and comments are the Data API's, up to date)."
)
# 403 reasons for a token without yt-analytics.readonly ("Request had insufficient authentication
# scopes."), and for a Cloud project where the YouTube Analytics API is not enabled.
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
# channels#statistics: subscriberCount is rounded to three significant figures, and absent when
# hiddenSubscriberCount is true.
CHANNEL_COUNTS = ("subscriberCount", "viewCount", "videoCount")
# Keys of draft.state.
SESSION, VIDEO_ID, MISSING = "uploadSession", "videoId", "videoMissing"
# "upload ... in chunks whose size is a multiple of 256 KB" (the resumable protocol's step 3).
CHUNK_UNIT = 256 * 1024
# Cuts resumed within one attempt (ask the offset, go on) before the attempt gives the upload to
# the next one: a link that keeps breaking is the queue's to back off from.
MAX_RESUMES = 3
# Reads of a video the upload answered for that list no such video, before it counts as gone.
MAX_MISSING = 3
TITLE_MAX, DESCRIPTION_MAX_BYTES, TAGS_MAX = 100, 5000, 500
PRIVACY = ("public", "unlisted", "private")
# https://developers.google.com/youtube/v3/docs/videos#status.failureReason and .rejectionReason
FAILURES = {
    "codec": "its codec is not supported",
    "conversion": "YouTube could not convert it",
    "emptyFile": "the file is empty",
    "invalidFile": "the file is not a video YouTube can read",
    "tooSmall": "the file is too small",
    "uploadAborted": "the upload was aborted",
}
REJECTIONS = {
    "claim": "a copyright claim",
    "copyright": "copyright infringement",
    "duplicate": "it duplicates a video already on the channel",
    "inappropriate": "inappropriate content",
    "legal": "legal reasons",
    "length": "it is too long",
    "termsOfUse": "a violation of YouTube's Terms of Service",
    "trademark": "trademark infringement",
    "uploaderAccountClosed": "the channel's account is closed",
    "uploaderAccountSuspended": "the channel's account is suspended",
}


def next_pacific_midnight(now: datetime | None = None) -> datetime:
    """When the project's daily quota is given back: "Daily quotas reset at midnight Pacific Time"
    (https://developers.google.com/youtube/v3/determine_quota_cost)."""
    local = (now or timezone.now()).astimezone(PACIFIC)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=PACIFIC)
    return tomorrow.astimezone(UTC)


def title_of(text: str, options: dict) -> str:
    """The video's title: the variant's ``options.title``, else the text's first line that is not
    blank, cut to 100 characters (docs/platforms/youtube.md)."""
    title = options.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:TITLE_MAX].rstrip()


def tags_length(tags: list[str]) -> int:
    """Tags as YouTube counts them: "the property value has a maximum length of 500 characters",
    commas between tags count, and a tag with a space counts its quotation marks
    (https://developers.google.com/youtube/v3/docs/videos#snippet.tags)."""
    return sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(0, len(tags) - 1)


class YouTubeAdapter(GoogleErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # The text is the description: "a maximum length of 5000 bytes" (UTF-8), not characters
    # (https://developers.google.com/youtube/v3/docs/videos#snippet.description).
    max_text_length = DESCRIPTION_MAX_BYTES
    max_images = 0
    requires_media = True
    # What a variant's ``options`` may say (name -> what it does; docs/platforms/youtube.md).
    options: ClassVar[dict[str, str]] = {
        "title": "the video's title, at most 100 characters without < or > (default: the text's first line)",
        "privacyStatus": "public, unlisted or private (default: public)",
        "madeForKids": "true if the video is made for kids (status.selfDeclaredMadeForKids; default: false)",
        "tags": "a list of tags, 500 characters at most in all",
    }

    option_kinds: ClassVar[dict[str, str]] = {"privacyStatus": "choice", "madeForKids": "bool", "tags": "list"}

    def option_choices(self, name: str, *, details: dict) -> list[tuple[str, str]]:
        return [(level, level.capitalize()) for level in PRIVACY] if name == "privacyStatus" else []

    # videos.list takes up to 50 ids (``maxResults`` "Acceptable values are 0 to 50", and an id
    # list that long); each call costs 1 unit of the project's daily quota, which every channel of
    # the installation shares: the analytics spend only what publishing leaves them of it
    # (analytics.services.quota), beside this per-channel budget.
    # A read is two calls: videos.list, then the YouTube Analytics API's report for the same videos
    # (watch time, shares), which takes more ids a call but not fewer: one report per 50 videos.
    # The report spends none of the Data API's units (the Analytics API's quota is its own, which
    # publishing never uses): metrics_quota_cost counts videos.list's unit only.
    metrics_batch = 50
    metrics_budget = (60, 3600)
    metrics_quota_cost = 1
    metrics_watch_time = True
    metrics_lacks = {
        REACH: "YouTube gives planrrr no reach: unique viewers per video are neither in the Data API's statistics "
        "nor in the YouTube Analytics report it reads.",
        SAVES: "YouTube gives no saves (favoriteCount is deprecated and always 0).",
        CLICKS: "YouTube gives no clicks per video.",
    }

    def text_length(self, text: str) -> int:
        return len(text.encode("utf-8"))

    # --- engagement figures (docs/analytics.md) ----------------------------------------------------

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /youtube/v3/videos?part=statistics&id=a,b,…`` (at most 50) -> ``{"items": [{"id",
        "statistics": {"viewCount": "…", "likeCount", "favoriteCount", "commentCount"}}]}``; a
        deleted video is left out of ``items``. Then the watch time and shares of the videos it
        listed, from the YouTube Analytics API (``watch_time``): what that API does not give (the
        permission not granted, a retired metric, no data yet) is unavailable, saying why, and
        the Data API's figures are kept."""
        response = self.request(
            "GET", "/youtube/v3/videos", account=account, params={"part": "statistics", "id": ",".join(external_ids)}
        )
        items = self.json(response).get("items")
        if not isinstance(items, list):
            raise self.malformed(response, "no items in videos.list")
        found = {}
        for item in items:
            if isinstance(item, dict) and item.get("id") in external_ids and isinstance(item.get("statistics"), dict):
                found[str(item["id"])] = Figures.mapped(
                    item["statistics"], VIDEO_METRICS, expected=VIDEO_RAW, lacks=self.metrics_lacks, label="YouTube"
                )
        if not found:
            return found
        reports, why, retired = self.watch_time(account, list(found))
        for video_id, figures in found.items():
            row = reports.get(video_id)
            if why or row is None:
                for name in (WATCH_SECONDS, SHARES):
                    figures.unavailable[name] = why or NOT_YET
                continue
            figures.raw.update(row)
            for name, reason in retired.items():
                figures.unavailable[name] = reason
            if "estimatedMinutesWatched" in row:
                figures.values[WATCH_SECONDS] = row["estimatedMinutesWatched"] * 60
                figures.unavailable.pop(WATCH_SECONDS, None)
            else:
                figures.unavailable[WATCH_SECONDS] = retired.get(
                    "estimatedMinutesWatched", "YouTube Analytics did not return 'estimatedMinutesWatched'."
                )
            if "shares" in row:
                figures.values[SHARES] = row["shares"]
                figures.unavailable.pop(SHARES, None)
            else:
                figures.unavailable[SHARES] = retired.get("shares", "YouTube Analytics did not return 'shares'.")
        return found

    def watch_time(self, account: Account, video_ids: list[str]) -> tuple[dict[str, dict[str, int]], str, dict]:
        """The YouTube Analytics API's report for ``video_ids`` (docs/platforms/youtube.md)::

            GET https://youtubeanalytics.googleapis.com/v2/reports?ids=channel==MINE
                &metrics=estimatedMinutesWatched,averageViewDuration,views,shares&dimensions=video
                &filters=video==a,b,c&startDate=…&endDate=…&sort=-estimatedMinutesWatched&maxResults=…
            -> {"kind": "youtubeAnalytics#resultTable",
                "columnHeaders": [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"},
                                  {"name": "estimatedMinutesWatched", "columnType": "METRIC", …}, …],
                "rows": [["a", 1240, 95, 780, 3], …]}

        ``rows`` is left out when there is no data; a video with none yet has no row. Returns
        ({video id: {metric: value}}, why the report gives nothing for this account or "", {metric
        retired: YouTube's words}). A metric YouTube no longer knows fails the report with a 400
        naming it: it is left out and the report asked again (at most once per metric); a report
        refused for good otherwise leaves the watch time unavailable with YouTube's words. A 429 is
        the analytics' wait (RateLimited), a 5xx the reading's retry; a refused token, as for every
        call."""
        if account.scopes and ANALYTICS_SCOPE not in account.scopes.split():
            return {}, self.reconnect_for_watch_time(), {}
        metrics, retired = list(REPORT_METRICS), {}
        today = timezone.now().astimezone(PACIFIC).date()
        while True:
            params = {
                "ids": "channel==MINE",
                "metrics": ",".join(metrics),
                "dimensions": "video",
                "filters": "video==" + ",".join(video_ids),
                "startDate": (today - timedelta(days=REPORT_DAYS)).isoformat(),
                "endDate": today.isoformat(),
                "sort": f"-{metrics[0]}",
                "maxResults": len(video_ids),
            }
            try:
                response = self.request("GET", f"{self.analytics_url}/v2/reports", account=account, params=params)
            except ReportRefused as refused:
                return {}, safe_text(refused.why, secrets=(account.access_token,)), {}
            except PermanentError as err:
                named = [m for m in metrics if err.status_code == 400 and re.search(rf"\b{m}\b", err.message)]
                if not named or len(named) == len(metrics):
                    # Refused for good (a query YouTube no longer supports): the report's figures
                    # are unavailable with its words, the Data API's still read.
                    return {}, f"YouTube Analytics refused the report: {err.message}", retired
                for name in named:
                    metrics.remove(name)
                    retired[name] = f"YouTube Analytics no longer gives {name!r} ({err.message})."
                continue
            return self.report_rows(response, video_ids, metrics), "", retired

    def report_rows(self, response: requests.Response, video_ids: list[str], metrics: list[str]) -> dict:
        """{video id: {metric: value}} from a result table, by its columnHeaders (never by the order
        asked): a value that is not a count is left out (unavailable), a row of the wrong width or a
        table without its video column is malformed."""
        body = self.json(response)
        headers = body.get("columnHeaders")
        names = [h.get("name") if isinstance(h, dict) else None for h in headers] if isinstance(headers, list) else []
        if "video" not in names:
            raise self.malformed(response, "no video column in the YouTube Analytics report's columnHeaders")
        rows = body.get("rows") or []
        if not isinstance(rows, list):
            raise self.malformed(response, "rows of the YouTube Analytics report is not a list")
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            if not isinstance(row, list) or len(row) != len(names):
                raise self.malformed(
                    response,
                    f"a YouTube Analytics report row of {len(row) if isinstance(row, list) else 0} values "
                    f"for {len(names)} columns",
                )
            cells = dict(zip(names, row, strict=True))
            video_id = cells.get("video")
            if video_id not in video_ids:
                continue
            found[str(video_id)] = {
                name: number for name in metrics if name in cells and (number := count(cells[name])) is not None
            }
        return found

    @property
    def analytics_url(self) -> str:
        return str(value_of(YOUTUBE_ANALYTICS_URL)).rstrip("/")

    def reconnect_for_watch_time(self) -> str:
        return (
            "YouTube gives watch time and shares only with the permission yt-analytics.readonly (YouTube Analytics), "
            "which this channel did not grant (connected before planrrr asked for it, or unticked on Google's "
            "consent screen): reconnect the channel to allow it."
        )

    def account_metrics(self, account: Account) -> Figures:
        """``GET /youtube/v3/channels?part=statistics&id=<channel>`` -> ``{"items": [{"statistics":
        {"viewCount", "subscriberCount", "hiddenSubscriberCount", "videoCount"}}]}``."""
        response = self.request(
            "GET", "/youtube/v3/channels", account=account, params={"part": "statistics", "id": account.account_id}
        )
        items = self.json(response).get("items")
        channel = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
        if channel is None or not isinstance(channel.get("statistics"), dict):
            raise self.malformed(response, "no channel statistics in channels.list")
        statistics = channel["statistics"]
        raw = {name: statistics[name] for name in CHANNEL_COUNTS if name in statistics}
        figures = Figures.mapped(raw, {FOLLOWERS: ("subscriberCount",)}, label="YouTube")
        if statistics.get("hiddenSubscriberCount") is True:
            figures.unavailable[FOLLOWERS] = "The channel hides its subscriber count on YouTube."
        return figures

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        problems = []
        size = self.text_length(text)
        if size > self.max_text_length:
            problems.append(
                f"YouTube allows at most {self.max_text_length:,} bytes (UTF-8) in a video's description, which is "
                f"the post's text; this one has {size:,}. Shorten it by {size - self.max_text_length:,} bytes."
            )
        if re.search(r"[<>]", text):
            problems.append("YouTube takes no < or > in a video's title or description: remove them from the text.")
        problems.extend(self.media_problems(media_urls))
        return problems

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        """What is wrong with a variant's ``options`` for YouTube, each saying what to change."""
        problems = super().options_problems(options, details=details)
        title = options.get("title")
        if title is not None:
            if not isinstance(title, str) or not title.strip():
                problems.append("YouTube's options.title must be text: give the video a title or leave it out.")
            elif len(title.strip()) > TITLE_MAX:
                problems.append(
                    f"YouTube allows at most {TITLE_MAX} characters in a title; options.title has "
                    f"{len(title.strip())}. Shorten it by {len(title.strip()) - TITLE_MAX}."
                )
            elif re.search(r"[<>]", title):
                problems.append("YouTube takes no < or > in a title: remove them from options.title.")
        privacy = options.get("privacyStatus")
        if privacy is not None and privacy not in PRIVACY:
            problems.append(f"YouTube's options.privacyStatus is one of {', '.join(PRIVACY)}; got {privacy!r}.")
        kids = options.get("madeForKids")
        if kids is not None and not isinstance(kids, bool):
            problems.append("YouTube's options.madeForKids is true or false.")
        tags = options.get("tags")
        if tags is not None:
            if not isinstance(tags, list) or not all(isinstance(tag, str) and tag.strip() for tag in tags):
                problems.append('YouTube\'s options.tags is a list of words: ["coffee", "latte art"].')
            elif re.search(r"[<>]", "".join(tags)):
                problems.append("YouTube takes no < or > in tags: remove them from options.tags.")
            elif tags_length(tags) > TAGS_MAX:
                problems.append(
                    f"YouTube allows at most {TAGS_MAX} characters of tags (commas and the quotes of tags with "
                    f"spaces count); options.tags has {tags_length(tags)}."
                )
        return problems

    def refuse_invalid(self, draft: Draft, *, base_url: str = "") -> None:
        super().refuse_invalid(draft, base_url=base_url)
        problems = self.options_problems(draft.options, details={})
        if not title_of(draft.text, draft.options):
            problems.append("YouTube needs a title: write a text (its first line is the title) or set options.title.")
        if problems:
            raise PermanentError(" ".join(problems))

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        # A token that cannot be used is said before the video is downloaded for nothing.
        self.authorize(account, "POST", {})
        if draft.state.get(VIDEO_ID):
            return self.processing(account, draft, str(draft.state[VIDEO_ID]))
        with fetch_video(draft.media_urls[0]) as video:
            resource = self.upload(account, draft, video)
        return self.uploaded(account, draft, resource)

    def metadata(self, draft: Draft) -> dict:
        """The video resource's snippet and status, as planrrr chooses them (and looks them up)."""
        options = draft.options
        snippet = {"title": title_of(draft.text, options), "description": draft.text, "categoryId": "22"}
        if options.get("tags"):
            snippet["tags"] = list(options["tags"])
        status = {
            "privacyStatus": options.get("privacyStatus") or "public",
            "selfDeclaredMadeForKids": bool(options.get("madeForKids", False)),
        }
        return {"snippet": snippet, "status": status}

    def upload(self, account: Account, draft: Draft, video: Video) -> dict:
        """Upload the video, resuming the session in ``draft.state`` if there is one; the video
        resource YouTube answers when every byte arrived."""
        state = draft.state
        session = state.get(SESSION)
        # A session is resumed only for the file it was made for (an edit empties the state; a
        # file changed at its URL is uploaded anew).
        uri = session_uri(session)
        if uri and session.get("size") == video.size:
            resource, offset = self.upload_status(account, uri, video.size)
            if resource is not None:
                return resource
            if offset is not None:
                return self.send_chunks(account, draft, video, offset)
            # The session expired (404): the bytes sent with it are gone; start again.
        # The session URI is kept encrypted, as a token is: the publication's metadata is shown to
        # the team, and Google does not say whether the URI alone lets one upload to it.
        state[SESSION] = {"uri": encrypt(self.start_session(account, draft, video)), "size": video.size, "offset": 0}
        self.checkpoint(draft)
        return self.send_chunks(account, draft, video, 0)

    def start_session(self, account: Account, draft: Draft, video: Video) -> str:
        """videos.insert's resumable session: its URI, from ``Location``."""
        response = self.request(
            "POST",
            "/upload/youtube/v3/videos",
            account=account,
            params={"uploadType": "resumable", "part": "snippet,status"},
            json=self.metadata(draft),
            headers={"X-Upload-Content-Length": str(video.size), "X-Upload-Content-Type": video.content_type},
        )
        uri = response.headers.get("Location", "")
        # Only ever a URI on the API's own host: the token goes with every chunk.
        if not uri.startswith(f"{self.base_url}/"):
            raise self.malformed(response, "no upload session on the API's host in Location")
        return uri

    def send_chunks(self, account: Account, draft: Draft, video: Video, offset: int) -> dict:
        uri, size = session_uri(draft.state[SESSION]), video.size
        chunk = max(CHUNK_UNIT, int(value_of(YOUTUBE_UPLOAD_CHUNK_BYTES)) // CHUNK_UNIT * CHUNK_UNIT)
        resumes = 0
        while True:
            piece = video.read(offset, chunk)
            headers = {"Content-Range": f"bytes {offset}-{offset + len(piece) - 1}/{size}"}
            try:
                response = self.request(
                    "PUT", uri, account=account, data=piece, headers={**headers, "Content-Type": video.content_type}
                )
            except TransientError as cut:
                # A broken connection or a timeout: ask YouTube how much arrived and go on from
                # there (the protocol's step 4). A 5xx answer is the queue's to back off from.
                if cut.status_code is not None or resumes >= MAX_RESUMES:
                    raise
                resumes += 1
                resource, reported = self.upload_status(account, uri, size)
                if resource is not None:
                    return resource
                if reported is None:
                    draft.state.pop(SESSION, None)
                    self.checkpoint(draft)
                    raise TransientError(
                        f"YouTube API error: the upload session expired after a cut ({cut.message}); the next "
                        "attempt uploads the video again."
                    ) from None
                offset = reported
                self.record_offset(draft, offset)
                continue
            if response.status_code in (200, 201):
                return self.json(response)
            if response.status_code != 308:
                raise self.malformed(response, f"HTTP {response.status_code} to an upload chunk")
            offset = stored_through(response)
            self.record_offset(draft, offset)
            if offset >= size:
                raise self.malformed(response, "every byte stored but no video resource")

    def upload_status(self, account: Account, uri: str, size: int) -> tuple[dict | None, int | None]:
        """Where the session stands: (the video resource, size) if every byte arrived, (None, the
        next offset) while not, (None, None) once the session expired."""
        try:
            response = self.request("PUT", uri, account=account, data=b"", headers={"Content-Range": f"bytes */{size}"})
        except PermanentError as gone:
            if gone.status_code in (404, 410):
                return None, None
            raise
        if response.status_code in (200, 201):
            return self.json(response), size
        if response.status_code == 308:
            return None, stored_through(response)
        raise self.malformed(response, f"HTTP {response.status_code} to an upload status query")

    def record_offset(self, draft: Draft, offset: int) -> None:
        draft.state[SESSION] = {**draft.state[SESSION], "offset": offset}
        self.checkpoint(draft)

    def checkpoint(self, draft: Draft) -> None:
        """Write ``draft.state`` on the publication's row now (a worker killed later leaves it to
        the next attempt); an attempt that lost its claim stops here."""
        if not draft.checkpoint():
            raise TransientError("Another attempt took over this YouTube upload.")

    def uploaded(self, account: Account, draft: Draft, resource: dict) -> Published:
        video_id = resource.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise TransientError("YouTube API error: malformed answer, no video id after the upload", maybe_sent=True)
        draft.state[VIDEO_ID] = video_id
        draft.state.pop(SESSION, None)
        self.checkpoint(draft)
        return self.verdict(draft, video_id, resource)

    def processing(self, account: Account, draft: Draft, video_id: str) -> Published:
        """Read the uploaded video's status: PUBLISHED once processed, a wait until then."""
        response = self.request(
            "GET",
            "/youtube/v3/videos",
            account=account,
            params={"part": "status,processingDetails", "id": video_id},
        )
        items = self.json(response).get("items")
        if not isinstance(items, list):
            raise self.malformed(response, "no items in videos.list")
        resource = next((item for item in items if isinstance(item, dict) and item.get("id") == video_id), None)
        if resource is None:
            missing = int(draft.state.get(MISSING, 0)) + 1
            draft.state[MISSING] = missing
            if missing >= MAX_MISSING:
                raise PermanentError(
                    f"YouTube no longer lists video {video_id} (read {missing} times): it was deleted on YouTube "
                    "before it was processed."
                )
            raise NotReady(f"YouTube does not list video {video_id} yet.", retry_at=self.poll_at())
        draft.state.pop(MISSING, None)
        return self.verdict(draft, video_id, resource)

    def verdict(self, draft: Draft, video_id: str, resource: dict) -> Published:
        """https://developers.google.com/youtube/v3/docs/videos#status.uploadStatus: deleted,
        failed, processed, rejected, uploaded."""
        status = resource.get("status") if isinstance(resource.get("status"), dict) else {}
        upload = status.get("uploadStatus")
        if upload == "processed":
            return Published(
                external_id=video_id,
                url=f"https://www.youtube.com/watch?v={video_id}",
                metadata={"privacyStatus": status.get("privacyStatus", "")},
            )
        if upload == "failed":
            reason = str(status.get("failureReason") or "")
            words = FAILURES.get(reason, "it could not be processed")
            raise PermanentError(f"YouTube could not process the video {video_id}: {words} (failureReason {reason}).")
        if upload == "rejected":
            reason = str(status.get("rejectionReason") or "")
            words = REJECTIONS.get(reason, "no reason given")
            raise PermanentError(f"YouTube rejected the video {video_id}: {words} (rejectionReason {reason}).")
        if upload == "deleted":
            raise PermanentError(f"The video {video_id} was deleted on YouTube before it was processed.")
        raise NotReady(
            f"YouTube is processing video {video_id} (uploadStatus {upload or 'unknown'}).", retry_at=self.poll_at()
        )

    def poll_at(self) -> datetime:
        return timezone.now() + timedelta(seconds=value_of(YOUTUBE_PROCESSING_POLL_SECONDS))

    # --- errors ----------------------------------------------------------------------------------

    def google_error(self, response: requests.Response, reason: str, message: str) -> PlatformError:
        status = response.status_code
        if (response.url or "").startswith(f"{self.analytics_url}/") and status == 403:
            refused = self.report_refused(reason, message)
            if refused is not None:
                return refused
        # 403 quotaExceeded: "The request cannot be completed because you have exceeded your quota."
        # The project's daily quota: nothing goes through until it is given back at midnight
        # Pacific time (https://developers.google.com/youtube/v3/docs/errors#general). A wait,
        # never a failure.
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            return RateLimited(
                f"{message} — planrrr's Google project used its YouTube quota for today; waiting until midnight "
                "Pacific time.",
                retry_at=next_pacific_midnight(),
                status_code=status,
            )
        # 400 uploadLimitExceeded: "The user has exceeded the number of videos they may upload."
        # The channel's own limit, which YouTube does not publish; taken as daily (unverified).
        if reason == "uploadLimitExceeded":
            return RateLimited(
                f"{message} — the channel reached YouTube's upload limit; waiting until midnight Pacific time.",
                retry_at=next_pacific_midnight(),
                status_code=status,
            )
        return super().google_error(response, reason, message)

    def report_refused(self, reason: str, message: str) -> ReportRefused | None:
        """A 403 of the YouTube Analytics API that is no dead token and no wait for the account's
        other figures: watch time is unavailable, saying what to do."""
        lowered = message.lower()
        if reason in SCOPE_REASONS or "insufficient authentication scopes" in lowered:
            return ReportRefused(message, why=self.reconnect_for_watch_time())
        if reason in DISABLED_REASONS or "has not been used in project" in lowered:
            return ReportRefused(
                message,
                why=f"The YouTube Analytics API is not enabled on planrrr's Google Cloud project: an administrator "
                f"enables it there (APIs & Services), and watch time is read from then ({message}).",
            )
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            # The YouTube Analytics API's own quota, not the Data API's units: publishing is not
            # concerned, and the other figures are still read.
            return ReportRefused(
                message,
                why=f"planrrr's Google project used its YouTube Analytics API quota for today: watch time is read "
                f"again after midnight Pacific time ({message}).",
            )
        return None

    # --- reconciliation --------------------------------------------------------------------------

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The video an earlier attempt uploaded, if YouTube has processed it; a video found but
        still processing is kept in ``draft.state`` (None: ``publish`` then waits for it), one
        found failed or rejected ends the publication (PermanentError). Looked for in the upload
        session's own status first, then among the channel's uploads since ``since``."""
        state = draft.state
        if state.get(VIDEO_ID):
            return None
        session = state.get(SESSION)
        uri = session_uri(session)
        if uri and session.get("size"):
            resource, offset = self.upload_status(account, uri, int(session["size"]))
            if resource is not None and resource.get("id"):
                state[VIDEO_ID] = str(resource["id"])
                state.pop(SESSION, None)
                return self.processed_id(draft, str(resource["id"]), resource)
            if offset is not None:
                return None  # the upload is not complete: ``publish`` resumes it
            state.pop(SESSION, None)
        video_id = self.find_upload(account, draft, since)
        if video_id is None:
            return None
        state[VIDEO_ID] = video_id
        try:
            published = self.processing(account, draft, video_id)
        except NotReady:
            return None
        return published.external_id

    def processed_id(self, draft: Draft, video_id: str, resource: dict) -> str | None:
        try:
            return self.verdict(draft, video_id, resource).external_id
        except NotReady:
            return None

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /youtube/v3/playlistItems?part=snippet&playlistId=UU…&maxResults=50`` (``pageToken``)
        -> ``{"items": [{"snippet": {"publishedAt", "title", "resourceId": {"videoId"}}}],
        "nextPageToken"?}``, newest first: the channel's uploads playlist, whose id is the channel's
        with "UU" for "UC" (what channels.list's relatedPlaylists.uploads answers; one unit a page)."""
        params = {"part": "snippet", "playlistId": "UU" + account.account_id[2:], "maxResults": 50}
        if cursor:
            params["pageToken"] = cursor
        response = self.request("GET", "/youtube/v3/playlistItems", account=account, params=params)
        body = self.json(response)
        page = body.get("items")
        if not isinstance(page, list):
            raise self.malformed(response, "no items in playlistItems.list")
        listed, past = [], False
        for item in page:
            snippet = item.get("snippet") if isinstance(item, dict) else None
            video_id = (snippet.get("resourceId") or {}).get("videoId") if isinstance(snippet, dict) else None
            added = parse_time(snippet.get("publishedAt")) if isinstance(snippet, dict) else None
            if not video_id or added is None:
                continue
            if added < since:
                past = True
                continue
            url = f"https://www.youtube.com/watch?v={video_id}"
            listed.append(ListedPost(str(video_id), added, str(snippet.get("title") or "")[:300], url))
        return listed, (str(body["nextPageToken"]) if body.get("nextPageToken") and not past else None)

    def find_upload(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The channel's upload with the title and description planrrr chose, added since
        ``since``: channels.list (contentDetails.relatedPlaylists.uploads), then playlistItems.list
        of that playlist, newest first, at most RECONCILE_MAX_PAGES pages."""
        response = self.request(
            "GET", "/youtube/v3/channels", account=account, params={"part": "contentDetails", "id": account.account_id}
        )
        items = self.json(response).get("items")
        try:
            playlist = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        except (TypeError, KeyError, IndexError):
            raise self.malformed(response, "no uploads playlist for the channel") from None
        wanted = self.metadata(draft)["snippet"]
        params = {"part": "snippet", "playlistId": playlist, "maxResults": 50}
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", "/youtube/v3/playlistItems", account=account, params=params)
            body = self.json(response)
            page = body.get("items")
            if not isinstance(page, list):
                raise self.malformed(response, "no items in playlistItems.list")
            older = 0
            for item in page:
                snippet = item.get("snippet") if isinstance(item, dict) else None
                if not isinstance(snippet, dict):
                    continue
                added = parse_time(snippet.get("publishedAt"))
                if added is not None and added < since:
                    older += 1
                    continue
                video_id = (snippet.get("resourceId") or {}).get("videoId")
                if (snippet.get("title"), snippet.get("description")) == (wanted["title"], wanted["description"]):
                    if video_id:
                        return str(video_id)
            if not body.get("nextPageToken") or (page and older == len(page)):
                return None
            params["pageToken"] = body["nextPageToken"]
        return None


class ReportRefused(PermanentError):
    """The YouTube Analytics API gives this account no report, for a reason the team can act on or
    wait out (``why``): its watch time and shares are unavailable, and its other figures read."""

    def __init__(self, message: str, *, why: str):
        super().__init__(message, status_code=403)
        self.why = why


def stored_through(response: requests.Response) -> int:
    """The next offset from a 308's ``Range: bytes=0-524287`` (no Range: nothing stored yet,
    https://github.com/googleapis/google-api-python-client/pull/312)."""
    found = re.fullmatch(r"\s*bytes=0-(\d+)\s*", response.headers.get("Range", ""))
    return int(found.group(1)) + 1 if found else 0


def session_uri(session: object) -> str | None:
    """The upload session's URI kept in the state (encrypted), or None if there is none or it
    cannot be read (the key changed): the upload then starts a new session."""
    if not isinstance(session, dict) or not isinstance(session.get("uri"), str):
        return None
    try:
        return decrypt(session["uri"])
    except ValueError:
        return None
