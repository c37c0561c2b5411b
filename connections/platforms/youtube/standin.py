"""The YouTube Data API v3 as planrrr meets it (docs/platforms/youtube.md), under ``youtube/``:

* ``POST upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`` with the video
  resource -> 200 and ``Location: <base>/youtube/upload/youtube/v3/videos?uploadType=resumable
  &upload_id=...`` (kind MEDIA; the project's videos.insert calls a Pacific day are counted: past
  ``youtube_daily_uploads`` it is 403 ``quotaExceeded``); title over 100 characters, description
  over 5,000 bytes, ``<`` or ``>``: 400 ``invalidTitle`` / ``invalidDescription``.
* ``PUT <session>`` with ``Content-Range: bytes a-b/size`` -> 308 with ``Range: bytes=0-<last>``
  (kind MEDIA), the chunk that completes the file 200 with the video resource (kind CREATE: the
  video is made, uploadStatus "uploaded"); ``bytes */size`` asks where the upload stands (kind
  READ); an unknown session is 404. With ``youtube_cut_at_bytes`` the chunk crossing that offset
  is stored up to it and the connection cut (once); with ``youtube_stall_at_bytes`` the chunk
  crossing that offset is stored and its answer held back ``youtube_stall_seconds``. Every byte
  received is counted per session (``sessions()``, and ``_control/posts``: ``bytes_received``
  beside ``size``), so a test sees a byte sent twice.
* ``GET youtube/v3/videos?part=status,processingDetails&id=`` -> the videos' status: "uploaded"
  for ``youtube_polls_before_processed`` reads (0: decided when the upload is answered), then
  "processed" (or ``youtube_fate``'s).
* ``GET youtube/v3/videos?part=statistics&id=a,b`` (at most 50): each video's counts (strings),
  growing with its age (mockapis.engagement); a count retired by ``_control/analytics`` is left out.
* ``GET youtube/v3/channels?part=snippet,contentDetails,statistics&mine=true|id=`` and
  ``GET youtube/v3/playlistItems?part=snippet&playlistId=UU...`` (newest first, ``maxResults``,
  ``pageToken``).

* ``GET youtube-analytics/v2/reports?ids=channel==MINE&metrics=…&dimensions=video&filters=video==a,b
  &startDate&endDate`` (the YouTube Analytics API): a result table, ``columnHeaders`` (the video,
  then the metrics in the order asked) and ``rows`` (left out when none), a row per video of the
  channel with figures: estimatedMinutesWatched and the others growing with the video's age, none
  for a video under a day old (the reports run behind); a token issued without yt-analytics.readonly
  is 403 ``insufficientPermissions``; a metric retired by ``_control/analytics`` (or unknown) is 400
  naming it, as YouTube answers an identifier it does not know; ``youtube_reports_rate_limited``
  answers the next queries 429.

Errors in Google's envelope (connections/platforms/google/standin.py). Google's consent and
token endpoints are connections/platforms/google/standin_auth.py, included here.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from connections.platforms.google.standin import GoogleDialect, google_error
from connections.platforms.google.standin_auth import PEOPLE, person_of
from connections.platforms.youtube import DECLARATION
from mockapis import engagement
from mockapis.gate import Call, drop_connection, endpoint
from mockapis.media import sniff_video
from mockapis.records import CREATE, MEDIA, READ, iso
from mockapis.state import store

YOUTUBE = GoogleDialect(DECLARATION.name, DECLARATION.label)
PACIFIC = ZoneInfo("America/Los_Angeles")
# One channel per Google account: a token acts for the channel chosen on Google's consent screen.
CHANNELS = {
    PEOPLE[0]["id"]: {"id": "UCAcmeCoffeeRoasters0001", "title": "Acme Coffee", "customUrl": "@acmecoffee"},
    PEOPLE[1]["id"]: {"id": "UCSamSoloMakesVideos0002", "title": "Sam Solo", "customUrl": "@samsolo"},
}
RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+)")


def channel_of(call: Call, kwargs: dict | None = None) -> str:
    return CHANNELS[person_of(call.token)["id"]]["id"]


def uploads_playlist(channel_id: str) -> str:
    return "UU" + channel_id[2:]


def _session(call: Call) -> dict | None:
    return store.get("youtube_sessions", str(call.query.get("upload_id") or ""))


def _chunk_kind(call: Call) -> str:
    found = RANGE.fullmatch(call.request.headers.get("Content-Range", ""))
    if not found or found.group(1) is None:
        return READ
    return CREATE if int(found.group(2)) + 1 >= int(found.group(3)) else MEDIA


def _session_owner(call: Call, kwargs: dict) -> str:
    session = _session(call)
    return session["channel"] if session else ""


def pacific_day(at: float) -> str:
    return datetime.fromtimestamp(at, PACIFIC).date().isoformat()


@endpoint(YOUTUBE, {"POST": MEDIA}, account=channel_of)
def videos_insert(call: Call, **_: Any) -> HttpResponse:
    if call.query.get("uploadType") != "resumable":
        return YOUTUBE.invalid(call, "The stand-in plays resumable uploads only (uploadType=resumable).")
    body = call.body if isinstance(call.body, dict) else {}
    snippet = body.get("snippet") or {}
    status = body.get("status") or {}
    title, description = str(snippet.get("title") or ""), str(snippet.get("description") or "")
    if not title or len(title) > 100 or re.search(r"[<>]", title):
        return google_error(
            400, "The request metadata specifies an invalid video title.", "invalidTitle", domain="youtube.video"
        )
    if len(description.encode()) > 5000 or re.search(r"[<>]", description):
        return google_error(
            400,
            "The request metadata specifies an invalid video description.",
            "invalidDescription",
            domain="youtube.video",
        )
    if status.get("privacyStatus", "public") not in ("public", "unlisted", "private"):
        return google_error(
            400,
            "The request metadata specifies an invalid privacy status.",
            "invalidVideoMetadata",
            domain="youtube.video",
        )
    size = call.request.headers.get("X-Upload-Content-Length", "")
    if not size.isdigit() or int(size) <= 0:
        return YOUTUBE.invalid(call, "X-Upload-Content-Length is required for a resumable upload.")
    today = pacific_day(time.time())
    with store.lock:
        counts = store.objects["youtube_quota"].setdefault(today, {"inserts": 0})
        if counts["inserts"] >= store.config.youtube_daily_uploads:
            over = True
        else:
            over = False
            counts["inserts"] += 1
    if over:
        call.outcome = "quota_exceeded"
        return google_error(
            403,
            "The request cannot be completed because you have exceeded your "
            '<a href="/youtube/v3/getting-started#quota">quota</a>.',
            "quotaExceeded",
            domain="youtube.quota",
        )
    upload_id = "ADPycd" + store.token(40)
    store.put(
        "youtube_sessions",
        upload_id,
        {
            "id": upload_id,
            "channel": call.account,
            "size": int(size),
            "content_type": call.request.headers.get("X-Upload-Content-Type", ""),
            "data": bytearray(),
            "bytes_received": 0,
            "title": title,
            "description": description,
            "tags": list(snippet.get("tags") or []),
            "privacyStatus": status.get("privacyStatus", "public"),
            "madeForKids": bool(status.get("selfDeclaredMadeForKids", False)),
            "video_id": None,
            "created": time.time(),
        },
    )
    call.outcome = "session"
    response = JsonResponse({})
    base = call.request.build_absolute_uri(call.request.path)
    response["Location"] = f"{base}?uploadType=resumable&upload_id={upload_id}"
    return response


@endpoint(YOUTUBE, {"PUT": _chunk_kind}, account=_session_owner, raw_body=True)
def upload_session(call: Call, **_: Any) -> HttpResponse:
    session = _session(call)
    if session is None:
        call.outcome = "no_session"
        return google_error(404, "The upload session does not exist or has expired.", "notFound")
    found = RANGE.fullmatch(call.request.headers.get("Content-Range", ""))
    if not found or int(found.group(3)) != session["size"]:
        return YOUTUBE.invalid(call, f"Content-Range must be bytes a-b/{session['size']} or bytes */{session['size']}.")
    if found.group(1) is None:
        call.outcome = "status"
        return _where(session)
    start, end = int(found.group(1)), int(found.group(2))
    cut = store.config.youtube_cut_at_bytes
    if cut and start < cut <= end:
        # Store what "arrived" before the cut, then cut the connection: the client gets no answer.
        piece = call.request.read(cut - start)
        _store(session, start, piece)
        store.configure({"youtube_cut_at_bytes": 0})
        call.outcome = "cut"
        drop_connection(call.request)
        return HttpResponse(status=308)
    piece = call.request.body
    if len(piece) != end - start + 1:
        return YOUTUBE.invalid(call, f"The chunk has {len(piece)} bytes; Content-Range says {end - start + 1}.")
    with store.lock:
        stored = len(session["data"])
    if start > stored:
        # A gap: nothing stored, the client is told where the upload stands.
        call.outcome = "gap"
        return _where(session)
    _store(session, start, piece)
    stall = store.config.youtube_stall_at_bytes
    if stall and start < stall <= end:
        store.configure({"youtube_stall_at_bytes": 0})
        call.outcome = "stalled"
        store.sleep(store.config.youtube_stall_seconds)
    if len(session["data"]) < session["size"]:
        call.outcome = call.outcome or "chunk"
        return _where(session)
    return _complete(call, session)


def _store(session: dict, start: int, piece: bytes) -> None:
    with store.lock:
        session["data"][start : start + len(piece)] = piece
        session["bytes_received"] += len(piece)


def _where(session: dict) -> HttpResponse:
    if session["video_id"]:
        video = store.get("youtube_videos", session["video_id"])
        if video is None:  # forgotten by a reset while the upload went on
            return google_error(404, "The upload session does not exist or has expired.", "notFound")
        return JsonResponse(_resource(video, {"snippet", "status"}), status=200)
    response = HttpResponse(status=308)
    stored = len(session["data"])
    if stored:
        response["Range"] = f"bytes=0-{stored - 1}"
    return response


def _complete(call: Call, session: dict) -> HttpResponse:
    with store.lock:
        done = session["video_id"]
    if done:
        return _where(session)
    data = bytes(session["data"])
    fate = store.config.youtube_fate
    if sniff_video(data) is None:
        fate = "failed:invalidFile"
    video_id = store.token(11)
    post, _ = store.create_post(
        "YOUTUBE",
        session["channel"],
        session["description"],
        make_id=lambda: video_id,
        media_ids=[session["id"]],
        reject_duplicates=False,
        title=session["title"],
        size=session["size"],
        bytes_received=session["bytes_received"],
        privacyStatus=session["privacyStatus"],
    )
    store.put(
        "youtube_videos",
        video_id,
        {
            "id": video_id,
            "channel": session["channel"],
            "title": session["title"],
            "description": session["description"],
            "tags": session["tags"],
            "privacyStatus": session["privacyStatus"],
            "madeForKids": session["madeForKids"],
            "uploadStatus": "uploaded",
            "fate": fate,
            "reads": 0,
            "session": session["id"],
            "created": time.time(),
        },
    )
    if not store.config.youtube_polls_before_processed:
        # Processed by the time the upload is answered when no read is to find it uploaded.
        video = store.get("youtube_videos", video_id)
        with store.lock:
            _decide(video)
    with store.lock:
        session["video_id"] = video_id
    call.outcome = "created"
    return JsonResponse(_resource(store.get("youtube_videos", video_id), {"snippet", "status"}))


def _status(video: dict, *, read: bool) -> str:
    with store.lock:
        if video["uploadStatus"] == "uploaded" and read:
            video["reads"] += 1
            if video["reads"] > store.config.youtube_polls_before_processed:
                _decide(video)
        return video["uploadStatus"]


def _decide(video: dict) -> None:
    """The end of processing: "processed", or the fate given (``failed:codec``, ``rejected``)."""
    fate = video["fate"] or "processed"
    status, _, reason = fate.partition(":")
    video["uploadStatus"] = status
    video["reason"] = reason or {"failed": "codec", "rejected": "duplicate"}.get(status, "")


def _resource(video: dict, parts: set[str]) -> dict:
    item: dict[str, Any] = {"kind": "youtube#video", "etag": store.token(27), "id": video["id"]}
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": iso(video["created"]),
            "channelId": video["channel"],
            "title": video["title"],
            "description": video["description"],
            "tags": video["tags"],
            "categoryId": "22",
        }
    if "status" in parts:
        status = {
            "uploadStatus": video["uploadStatus"],
            "privacyStatus": video["privacyStatus"],
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
            "madeForKids": video["madeForKids"],
            "selfDeclaredMadeForKids": video["madeForKids"],
        }
        if video["uploadStatus"] == "failed":
            status["failureReason"] = video.get("reason", "")
        if video["uploadStatus"] == "rejected":
            status["rejectionReason"] = video.get("reason", "")
        item["status"] = status
    if "processingDetails" in parts:
        processing = {"uploaded": "processing", "processed": "succeeded"}.get(video["uploadStatus"], "failed")
        item["processingDetails"] = {"processingStatus": processing}
    return item


def _parts(call: Call) -> set[str]:
    return {part.strip() for part in str(call.query.get("part") or "").split(",") if part.strip()}


def _video_owner(call: Call, kwargs: dict) -> str:
    return channel_of(call)


@endpoint(YOUTUBE, {"GET": READ}, account=_video_owner)
def videos_list(call: Call, **_: Any) -> HttpResponse:
    ids = [i for i in str(call.query.get("id") or "").split(",") if i]
    if len(ids) > 50:
        return google_error(400, "The request specifies more than 50 video ids.", "badRequest")
    parts = _parts(call)
    items = []
    for video_id in ids:
        video = store.get("youtube_videos", video_id)
        post = store.find_post("YOUTUBE", video_id)
        if video is None and post is not None and post.account == call.account and parts <= {"statistics", "id"}:
            # A video made before (``_control/posts``): its statistics only.
            items.append({"kind": "youtube#video", "etag": store.token(27), "id": video_id, **_statistics(post)})
            continue
        if video is None or video["channel"] != call.account:
            continue
        if parts - {"statistics"}:
            _status(video, read=True)
        item = _resource(video, parts)
        if "statistics" in parts and post is not None:
            item.update(_statistics(post))
        items.append(item)
    return JsonResponse({"kind": "youtube#videoListResponse", "items": items, "pageInfo": {"totalResults": len(items)}})


def _statistics(post) -> dict:
    """videos#statistics, counts as strings as YouTube sends them, growing with the video's age;
    a count retired by ``_control/analytics`` is left out."""
    retired = store.retired_metrics("YOUTUBE")
    names = [n for n in ("viewCount", "likeCount", "commentCount") if n not in retired]
    counts = {name: str(value) for name, value in engagement.counts(post.id, post.created, names).items()}
    if "favoriteCount" not in retired:
        counts["favoriteCount"] = "0"
    return {"statistics": counts}


@endpoint(YOUTUBE, {"GET": READ}, account=_video_owner)
def channels_list(call: Call, **_: Any) -> HttpResponse:
    mine = str(call.query.get("mine") or "").lower() == "true"
    wanted = set(str(call.query.get("id") or "").split(","))
    parts = _parts(call)
    items = []
    for channel in CHANNELS.values():
        if (mine and channel["id"] != call.account) or (not mine and channel["id"] not in wanted):
            continue
        item: dict[str, Any] = {"kind": "youtube#channel", "id": channel["id"]}
        if "snippet" in parts:
            item["snippet"] = {
                "title": channel["title"],
                "customUrl": channel["customUrl"],
                "thumbnails": {"default": {"url": f"https://yt3.ggpht.com/standin/{channel['id']}=s88"}},
            }
        if "contentDetails" in parts:
            item["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": uploads_playlist(channel["id"])}}
        if "statistics" in parts:
            item["statistics"] = {
                "viewCount": str(
                    sum(
                        engagement.count(p.id, p.created, "viewCount")
                        for p in store.find_posts("YOUTUBE", channel["id"])
                    )
                ),
                "subscriberCount": str(engagement.followers(channel["id"])),
                "hiddenSubscriberCount": False,
                "videoCount": str(len(store.find_posts("YOUTUBE", channel["id"]))),
            }
        items.append(item)
    return JsonResponse({"kind": "youtube#channelListResponse", "items": items})


@endpoint(YOUTUBE, {"GET": READ}, account=_video_owner)
def playlist_items(call: Call, **_: Any) -> HttpResponse:
    playlist = str(call.query.get("playlistId") or "")
    channel = next((c["id"] for c in CHANNELS.values() if uploads_playlist(c["id"]) == playlist), None)
    if channel is None:
        return google_error(
            404,
            "The playlist identified with the request's playlistId parameter cannot be found.",
            "playlistNotFound",
            domain="youtube.playlistItem",
        )
    uploaded = [v for v in store.objects["youtube_videos"].values() if v["channel"] == channel]
    known = {v["id"] for v in uploaded}
    # Videos made before (``_control/posts``), uploaded outside planrrr.
    made = [
        {"id": p.id, "created": p.created, "title": p.extra.get("title") or p.text[:100], "description": p.text}
        for p in store.find_posts("YOUTUBE", channel)
        if p.id not in known
    ]
    videos = sorted([*uploaded, *made], key=lambda v: v["created"], reverse=True)
    size = min(50, int(call.query.get("maxResults") or 5))
    start = int(call.query.get("pageToken") or 0)
    page = videos[start : start + size]
    items = [
        {
            "kind": "youtube#playlistItem",
            "id": store.token(24),
            "snippet": {
                "publishedAt": iso(v["created"]),
                "channelId": channel,
                "title": v["title"],
                "description": v["description"],
                "playlistId": playlist,
                "resourceId": {"kind": "youtube#video", "videoId": v["id"]},
            },
        }
        for v in page
    ]
    body: dict[str, Any] = {
        "kind": "youtube#playlistItemListResponse",
        "items": items,
        "pageInfo": {"totalResults": len(videos), "resultsPerPage": size},
    }
    if start + size < len(videos):
        body["nextPageToken"] = str(start + size)
    return JsonResponse(body)


# What the YouTube Analytics API's reports give per video (https://developers.google.com/youtube/
# analytics/metrics), and the figure each grows from: watch time runs ahead of views (minutes), the
# average duration is about a minute and a half whatever the age.
REPORT_METRICS = {"views", "estimatedMinutesWatched", "averageViewDuration", "shares", "likes", "comments"}
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/yt-analytics.readonly"
# YouTube's reports run behind: a video under a day old has no row yet.
REPORT_LAG_SECONDS = 86400


def _report_figure(post, name: str) -> int:
    if name == "averageViewDuration":
        return 60 + int(engagement.count(post.id, post.created - 86400 * 30, name)) % 60
    if name == "estimatedMinutesWatched":
        return engagement.count(post.id, post.created, "viewCount") * 3 // 2
    return engagement.count(post.id, post.created, name)


@endpoint(YOUTUBE, {"GET": READ}, account=_video_owner)
def reports_query(call: Call, **_: Any) -> HttpResponse:
    issued = store.issued_token(call.token)
    # A made-up token (a test's connection) is taken as granting every scope.
    if issued is not None and ANALYTICS_SCOPE not in issued.scopes:
        return google_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
    with store.lock:
        limited = store.config.youtube_reports_rate_limited > 0
        if limited:
            store.config.youtube_reports_rate_limited -= 1
    if limited:
        return YOUTUBE.rate_limited(call, 1)
    query = call.query
    if query.get("ids") not in ("channel==MINE", f"channel=={call.account}"):
        return google_error(403, "Forbidden", "forbidden")
    if not query.get("startDate") or not query.get("endDate") or not query.get("metrics"):
        return google_error(400, "Required parameters: ids, startDate, endDate, metrics.", "required")
    metrics = [m for m in str(query["metrics"]).split(",") if m]
    known = REPORT_METRICS - store.retired_metrics("YOUTUBE")
    for metric in metrics:
        if metric not in known:
            return google_error(400, f"Unknown identifier ({metric}) given in field parameters.metrics.", "badRequest")
    if query.get("dimensions") != "video":
        return YOUTUBE.invalid(call, "The stand-in plays dimensions=video only.")
    wanted = str(query.get("filters") or "").removeprefix("video==").split(",")
    if len(wanted) > 500:
        return google_error(400, "The query filters more than 500 videos.", "badRequest")
    now = time.time()
    rows = []
    for video_id in wanted:
        post = store.find_post("YOUTUBE", video_id)
        if post is None or post.account != call.account or now - post.created < REPORT_LAG_SECONDS:
            continue
        rows.append([video_id, *(_report_figure(post, metric) for metric in metrics)])
    headers = [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"}]
    headers += [{"name": m, "columnType": "METRIC", "dataType": "INTEGER"} for m in metrics]
    body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
    if rows:
        body["rows"] = rows[: int(query.get("maxResults") or len(rows))]
    return JsonResponse(body)


@csrf_exempt
def uploads(request: HttpRequest) -> HttpResponse:
    """One URL for the session's creation (POST) and its chunks (PUT with upload_id), as YouTube's."""
    return upload_session(request) if request.method == "PUT" else videos_insert(request)


def sessions() -> list[dict]:
    """The upload sessions, for tests: bytes received against the file's size."""
    with store.lock:
        return [
            {k: v for k, v in s.items() if k != "data"} | {"stored": len(s["data"])}
            for s in store.objects["youtube_sessions"].values()
        ]


urlpatterns = [
    path("", include("connections.platforms.google.standin_auth")),
    re_path(r"^youtube/upload/youtube/v3/videos/?$", uploads),
    re_path(r"^youtube/youtube/v3/videos/?$", videos_list),
    re_path(r"^youtube/youtube/v3/channels/?$", channels_list),
    re_path(r"^youtube/youtube/v3/playlistItems/?$", playlist_items),
    re_path(r"^youtube-analytics/v2/reports/?$", reports_query),
]
