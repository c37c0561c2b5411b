"""TikTok through the Content Posting API's Direct Post (docs/platforms/tiktok.md).

https://developers.tiktok.com/doc/content-posting-api-reference-direct-post: ask the creator's
settings (``POST /v2/post/publish/creator_info/query/``: the privacy levels offered, whether
comments, duets and stitches are off), then ``POST /v2/post/publish/video/init/`` with
``post_info`` (title, privacy_level, disable_*) and ``source_info``: FILE_UPLOAD (sizes; the
answer names an ``upload_url`` the video is PUT to in chunks) or PULL_FROM_URL (TikTok fetches
``video_url``, whose domain must be verified in the app). The answer is a ``publish_id``; what came
of it is read later with ``POST /v2/post/publish/status/fetch/`` (PROCESSING_UPLOAD,
PROCESSING_DOWNLOAD, SEND_TO_USER_INBOX, PUBLISH_COMPLETE, FAILED with a ``fail_reason``).

One publication is several attempts, each doing one step, every step's result in ``draft.state``
(saved after every attempt, whatever its outcome):

=========  ========================================  ===================================  ===========
step       what it sends                             what it keeps                        then
=========  ========================================  ===================================  ===========
init       creator_info, video/init                  publishId, uploadUrl (encrypted),    NotReady
                                                     videoSize, chunkSize, chunks         (at once)
upload     status/fetch (bytes TikTok has), then     uploaded                             outcome
           the missing chunks, in order
outcome    status/fetch                              —                                    PUBLISHED,
                                                                                          FAILED or
                                                                                          NotReady
=========  ========================================  ===================================  ===========

Exactly once, without an idempotency key (TikTok has none): the init's own attempt ends as soon
as the publish_id is known, so the publish_id is on the publication's row before a single byte of
the video goes to TikTok. A FILE_UPLOAD init whose answer was lost can never become a post: its
publish_id was never seen, so no byte was ever sent to it, and TikTok publishes nothing it has not
received (its upload URL lapses after an hour); it is made again. An upload cut anywhere (a lost
answer to the last chunk included) resumes under the same publish_id: one publish_id is at most
one post, and TikTok's ``uploaded_bytes`` says where to go on, so no byte is sent twice. A
PULL_FROM_URL init whose answer was lost is looked for among the account's videos
(``find_published``) before another is made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

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
)
from connections.platforms.config import value_of
from connections.platforms.figures import (
    CLICKS,
    COMMENTS,
    FOLLOWERS,
    LIKES,
    POST_NAMES,
    REACH,
    SAVES,
    SHARES,
    VIDEO_VIEWS,
    VIEWS,
    Figures,
    ListedPost,
)
from connections.platforms.http import HttpAdapter, error_body
from connections.platforms.media import Video, fetch_video
from connections.platforms.tiktok import (
    DECLARATION,
    TIKTOK_MEDIA_DOMAIN_VERIFIED,
    TIKTOK_RATE_LIMIT_BACKOFF_SECONDS,
    TIKTOK_STATUS_POLL_SECONDS,
    TIKTOK_UPLOAD_CHUNK_BYTES,
)
from planrrr.crypto import decrypt, encrypt
from planrrr.text import time_from_retry_after, wait_from_seconds

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
STATUS = "/v2/post/publish/status/fetch/"
VIDEO_LIST = "/v2/video/list/"
VIDEO_QUERY = "/v2/video/query/"
USER_INFO = "/v2/user/info/"

# The Display API's video object (https://developers.tiktok.com/doc/tiktok-api-v2-video-object):
# every post is a video, so its views are its video views.
VIDEO_METRICS = {
    VIEWS: ("view_count",),
    VIDEO_VIEWS: ("view_count",),
    LIKES: ("like_count",),
    COMMENTS: ("comment_count",),
    SHARES: ("share_count",),
}
VIDEO_RAW = ("view_count", "like_count", "comment_count", "share_count")
# The user object's counts (https://developers.tiktok.com/doc/tiktok-api-v2-get-user-info), scope
# user.info.stats.
USER_COUNTS = ("follower_count", "following_count", "likes_count", "video_count")
STATS_SCOPE = "user.info.stats"

FILE_UPLOAD, PULL_FROM_URL = "FILE_UPLOAD", "PULL_FROM_URL"
SELF_ONLY = "SELF_ONLY"
# https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info: a public
# account is offered PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY; a private one
# FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY.
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", SELF_ONLY)

# draft.state's keys (the publication's metadata).
PUBLISH_ID, UPLOAD_URL, SOURCE = "publishId", "uploadUrl", "source"
VIDEO_SIZE, CHUNK_SIZE, CHUNKS, UPLOADED = "videoSize", "chunkSize", "chunks", "uploaded"
PRIVACY = "privacyLevel"
STEPS = (PUBLISH_ID, UPLOAD_URL, SOURCE, VIDEO_SIZE, CHUNK_SIZE, CHUNKS, UPLOADED, PRIVACY)

# What the connection's details hold of creator_info (connections.platforms.tiktok.client).
DETAILS_PRIVACY, DETAILS_USERNAME = "privacyLevelOptions", "username"

# https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide: "Each chunk must be
# at least 5 MB but no greater than 64 MB, except for the final chunk, which can be greater than
# chunk_size (up to 128 MB)"; "a minimum of 1 chunk and a maximum of 1000 chunks".
MAX_CHUNKS = 1000

# The fail_reason values of status/fetch, in words (the Get Post Status reference's table).
FAIL_REASONS = {
    "file_format_check_failed": "the file is not a video format TikTok takes (MP4, WebM or MOV)",
    "duration_check_failed": "the video is longer than the creator may post",
    "frame_rate_check_failed": "the video's frame rate is outside 23 to 60 FPS",
    "picture_size_check_failed": "the video's picture size is outside 360 to 4096 pixels",
    "internal": "TikTok failed inside (try again later)",
    "video_pull_failed": "TikTok could not download the video from its URL",
    "publish_cancelled": "the publication was cancelled on TikTok",
    "auth_removed": "the creator removed planrrr's access to the account",
    "spam_risk_too_many_posts": "the account has posted as much as TikTok allows today",
    "spam_risk_user_banned_from_posting": "TikTok has banned the account from posting",
    "spam_risk_text": "TikTok took the caption for spam",
    "spam_risk": "TikTok took the post for spam",
}

# TikTok's error codes (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling and the
# Direct Post reference's table), by what they mean here.
TOKEN_DEAD = frozenset({"access_token_invalid", "scope_not_authorized", "scope_permission_missed"})
# The account's (or the app's) posting allowance for the day is used up: a wait, not a failure.
DAILY_LIMITS = frozenset({"spam_risk_too_many_posts", "spam_risk_too_many_pending_share", "reached_active_user_cap"})


def utf16_length(text: str) -> int:
    """The Direct Post reference: title "Maximum length: 2200 in UTF-16 runes"."""
    return len(text.encode("utf-16-le")) // 2


def chunk_plan(size: int, wanted: int) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) for a video of ``size`` bytes: "total_chunk_count should
    be equal to video_size divided by chunk_size, rounded down", the trailing bytes going with
    the last chunk; a video smaller than one chunk goes whole."""
    count = size // wanted if wanted > 0 else 0
    if count <= 1:
        return size, 1
    if count > MAX_CHUNKS:
        wanted = -(-size // MAX_CHUNKS)
        count = size // wanted
    return wanted, count


class TikTokAdapter(HttpAdapter):
    declaration = DECLARATION
    # video/query: "Number of video ids should not be larger than 20"; the Display API allows 600
    # requests a minute per endpoint: planrrr takes a small part of it per account.
    metrics_batch = 20
    metrics_budget = (120, 3600)
    metrics_lacks = {
        REACH: "TikTok's Display API gives no reach (unique viewers).",
        SAVES: "TikTok's Display API gives no saves (favourites).",
        CLICKS: "TikTok's Display API gives no link clicks.",
    }
    max_text_length = 2200
    max_images = 0
    requires_media = True
    # What a post's TikTok variant may carry (``variants = {"TIKTOK": {"options": {...}}}``).
    options: ClassVar[dict[str, str]] = {
        "privacyLevel": "who may watch: one of the levels TikTok offers the account (PUBLIC_TO_EVERYONE, "
        "FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY); the most open one offered by default",
        "disableComment": "true to turn comments off on the video",
        "disableDuet": "true to turn duets off",
        "disableStitch": "true to turn stitches off",
    }

    option_kinds: ClassVar[dict[str, str]] = {
        "privacyLevel": "choice",
        "disableComment": "bool",
        "disableDuet": "bool",
        "disableStitch": "bool",
    }

    def option_choices(self, name: str, *, details: dict) -> list[tuple[str, str]]:
        """The privacy levels TikTok offers the account (its creator_info), else all of them."""
        if name != "privacyLevel":
            return []
        return [(level, level.replace("_", " ").capitalize()) for level in allowed_levels(details) or PRIVACY_LEVELS]

    def text_length(self, text: str) -> int:
        return utf16_length(text)

    # --- the door ----------------------------------------------------------------------------

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        """What is wrong with a post's TikTok options for an account whose creator_info is
        ``details``, each saying what to change."""
        problems = super().options_problems(options, details=details)
        level = options.get("privacyLevel")
        offered = allowed_levels(details)
        if level is not None:
            if level not in PRIVACY_LEVELS:
                problems.append(f"TikTok privacyLevel must be one of {', '.join(PRIVACY_LEVELS)}; got {level!r}.")
            elif offered and level not in offered:
                who = f"@{details[DETAILS_USERNAME]}" if details.get(DETAILS_USERNAME) else "this account"
                problems.append(
                    f"TikTok offers {who} the privacy levels {', '.join(offered)}, not {level}: "
                    f"set privacyLevel to one of them."
                )
        for name in ("disableComment", "disableDuet", "disableStitch"):
            if name in options and not isinstance(options[name], bool):
                problems.append(f"TikTok {name} must be true or false; got {options[name]!r}.")
        return problems

    def options_notices(self, options: dict, *, details: dict) -> list[str]:
        """What the person scheduling should know although nothing is refused: an app TikTok has
        not audited posts privately only (the Direct Post reference: "All content posted by
        unaudited clients will be restricted to private viewing mode")."""
        if allowed_levels(details) == [SELF_ONLY]:
            return [
                "TikTok will publish this video as private (SELF_ONLY): it will be visible only to the account "
                "owner until planrrr's TikTok app passes TikTok's audit."
            ]
        return []

    # --- publishing ---------------------------------------------------------------------------

    def prepare(self, draft: Draft) -> bool:
        """Before an init: write how it sends the video, so that if its answer is lost the next
        attempt knows whether anything can have been published (a FILE_UPLOAD: nothing)."""
        if draft.state.get(PUBLISH_ID) or draft.state.get(SOURCE) == self.source():
            return False
        draft.state[SOURCE] = self.source()
        return True

    def source(self) -> str:
        return PULL_FROM_URL if value_of(TIKTOK_MEDIA_DOMAIN_VERIFIED) else FILE_UPLOAD

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        # No token, no call: not even the video's download.
        self.authorize(account, "POST", {})
        if not draft.state.get(PUBLISH_ID):
            self.init(account, draft)
        if draft.state.get(SOURCE) == FILE_UPLOAD and not draft.state.get(UPLOADED):
            self.upload(account, draft)
        return self.outcome(account, draft)

    def init(self, account: Account, draft: Draft) -> None:
        """creator_info (what the creator allows now), then video/init; records the publish_id
        and ends the attempt (NotReady at once), so that it is stored before any byte is sent."""
        options, details = draft.options, account.details
        creator = self.creator_info(account)
        level = self.privacy_level(options, creator, details)
        source = self.source()
        post_info = {
            "title": draft.text,
            "privacy_level": level,
            # The creator's own "No one" setting wins over the post's wish.
            "disable_comment": bool(options.get("disableComment") or creator.get("comment_disabled")),
            "disable_duet": bool(options.get("disableDuet") or creator.get("duet_disabled")),
            "disable_stitch": bool(options.get("disableStitch") or creator.get("stitch_disabled")),
        }
        url = draft.media_urls[0]
        if source == PULL_FROM_URL:
            source_info: dict[str, Any] = {"source": PULL_FROM_URL, "video_url": url}
            plan: dict[str, Any] = {}
        else:
            with self.video(url) as video:
                size = video.size
            chunk_size, chunks = chunk_plan(size, int(value_of(TIKTOK_UPLOAD_CHUNK_BYTES)))
            source_info = {"source": FILE_UPLOAD, "video_size": size, "chunk_size": chunk_size}
            source_info["total_chunk_count"] = chunks
            plan = {VIDEO_SIZE: size, CHUNK_SIZE: chunk_size, CHUNKS: chunks}
        response = self.request(
            "POST", VIDEO_INIT, account=account, json={"post_info": post_info, "source_info": source_info}
        )
        data = self.data(response)
        publish_id, upload_url = data.get("publish_id"), data.get("upload_url")
        if not publish_id or (source == FILE_UPLOAD and not upload_url):
            raise self.malformed(response, "no publish_id" if not publish_id else "no upload_url")
        draft.state.update(plan, **{PUBLISH_ID: str(publish_id), SOURCE: source, PRIVACY: level})
        if upload_url:
            # Whoever holds it may upload to this post for an hour: kept like a token.
            draft.state[UPLOAD_URL] = encrypt(str(upload_url))
        what = "uploading it next" if source == FILE_UPLOAD else "TikTok is fetching it"
        raise NotReady(f"TikTok accepted the video (publish_id {publish_id}); {what}.", retry_at=timezone.now())

    def creator_info(self, account: Account) -> dict:
        """POST /v2/post/publish/creator_info/query/ -> {"data": {"creator_username",
        "creator_nickname", "creator_avatar_url", "privacy_level_options": [...],
        "comment_disabled", "duet_disabled", "stitch_disabled", "max_video_post_duration_sec"}}."""
        response = self.request("POST", CREATOR_INFO, account=account, json={})
        data = self.data(response)
        if not isinstance(data.get("privacy_level_options"), list):
            raise self.malformed(response, "no privacy_level_options in creator_info")
        return data

    def privacy_level(self, options: dict, creator: dict, details: dict) -> str:
        """The post's privacyLevel, or the most open level offered; refused (saying which are
        offered) if TikTok no longer offers it to this creator."""
        offered = [str(level) for level in creator.get("privacy_level_options", [])]
        wanted = options.get("privacyLevel")
        if wanted is None:
            chosen = next((level for level in PRIVACY_LEVELS if level in offered), None)
            if chosen is None:
                raise PermanentError(f"TikTok offers this account no privacy level planrrr knows ({offered}).")
            return chosen
        if wanted not in offered:
            who = creator.get("creator_username") or details.get(DETAILS_USERNAME) or "this account"
            raise PermanentError(
                f"TikTok no longer offers @{who} the privacy level {wanted}; it offers {', '.join(offered)}: "
                "change the post's privacyLevel for TikTok, then retry."
            )
        return str(wanted)

    def upload(self, account: Account, draft: Draft) -> None:
        """PUT the chunks TikTok does not have yet to the upload URL, in order (Content-Range
        ``bytes first-last/total``): 206 for a chunk, 201 once the whole video arrived. Where to
        start is TikTok's ``uploaded_bytes`` (status/fetch), not what this process remembers: a
        worker killed mid-upload recorded nothing."""
        state = draft.state
        size, chunk_size, chunks = int(state[VIDEO_SIZE]), int(state[CHUNK_SIZE]), int(state[CHUNKS])
        status = self.status(account, draft)
        if status.get("status") == "FAILED":
            # An upload TikTok gave up (its URL lapses after an hour): nothing was published.
            reason = status.get("fail_reason") or "no reason given"
            forget(state)
            raise TransientError(f"TikTok dropped the unfinished upload ({reason}); it will be made again.")
        received = int(status.get("uploaded_bytes") or 0)
        if status.get("status") != "PROCESSING_UPLOAD" or received >= size:
            # The whole video arrived (the answer to its last chunk may have been lost).
            state[UPLOADED] = True
            return
        upload_url = decrypt(state[UPLOAD_URL])
        secrets = (upload_url, account.access_token)
        first = min(received // chunk_size, chunks - 1)
        with self.video(draft.media_urls[0]) as video:
            if video.size != size:
                forget(state)
                raise TransientError(
                    f"The video at {video.url} changed size since TikTok was told ({size:,} bytes, now "
                    f"{video.size:,}); the upload will be made again."
                )
            for index in range(first, chunks):
                start = index * chunk_size
                end = size if index == chunks - 1 else start + chunk_size
                self.put_chunk(upload_url, video, start, end, size, secrets=secrets)
        # The video is whole: what TikTok makes of it is read at once (``outcome``).
        state[UPLOADED] = True

    def put_chunk(self, upload_url: str, video: Video, start: int, end: int, size: int, *, secrets: tuple) -> None:
        headers = {
            "Content-Type": video.content_type or "video/mp4",
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
        }
        try:
            response = self.send("PUT", upload_url, data=video.read(start, end - start), headers=headers)
            # 206 Partial Content: this chunk arrived; 201 Created: the whole video did.
            if response.status_code not in (200, 201, 206):
                self.raise_for_response(response)
                raise TransientError(f"TikTok API error: the upload answered HTTP {response.status_code}")
        except PlatformError as err:
            err.redact(secrets)
            raise

    def outcome(self, account: Account, draft: Draft) -> Published:
        """What status/fetch says of the publish_id: PUBLISH_COMPLETE is the post; FAILED fails
        with TikTok's reason (and forgets the publish_id: a retry makes a new one); anything else
        is a wait."""
        status = self.status(account, draft)
        state, publish_id = draft.state, draft.state[PUBLISH_ID]
        word = status.get("status")
        if word == "PUBLISH_COMPLETE":
            # "publicaly_available_post_id" (sic): the post's id(s) once moderated, none for a
            # private (SELF_ONLY) post, which is then known by its publish_id.
            ids = [str(i) for i in status.get("publicaly_available_post_id") or [] if str(i)]
            username = account.details.get(DETAILS_USERNAME)
            url = f"https://www.tiktok.com/@{username}/video/{ids[0]}" if ids and username else ""
            metadata = {"publishId": publish_id, "postIds": ids, PRIVACY: state.get(PRIVACY, "")}
            # Its hour is over and nothing is uploaded to it again.
            state.pop(UPLOAD_URL, None)
            return Published(external_id=ids[0] if ids else publish_id, url=url, metadata=metadata)
        if word == "FAILED":
            reason = str(status.get("fail_reason") or "")
            forget(state)
            words = FAIL_REASONS.get(reason, "no reason in words")
            raise PermanentError(f"TikTok could not publish the video: {words} (fail_reason {reason or 'none'}).")
        if word == "SEND_TO_USER_INBOX":
            what = "waiting in the creator's TikTok inbox to be posted"
        else:
            what = f"being processed by TikTok ({word or 'no status yet'})"
        raise NotReady(f"The video (publish_id {publish_id}) is {what}.", retry_at=self.poll_at())

    def status(self, account: Account, draft: Draft) -> dict:
        """POST /v2/post/publish/status/fetch/ {"publish_id"} -> {"data": {"status",
        "fail_reason", "publicaly_available_post_id": [...], "uploaded_bytes"}}."""
        response = self.request("POST", STATUS, account=account, json={"publish_id": draft.state[PUBLISH_ID]})
        data = self.data(response)
        if not isinstance(data.get("status"), str):
            raise self.malformed(response, "no status")
        return data

    def poll_at(self) -> datetime:
        return timezone.now() + timedelta(seconds=float(value_of(TIKTOK_STATUS_POLL_SECONDS)))

    def video(self, url: str) -> Video:
        return fetch_video(url)

    # --- reconciliation -----------------------------------------------------------------------

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """An earlier attempt's answer was lost. With a publish_id kept, status/fetch is the
        truth (its post, once complete; else None, and ``publish`` goes on polling). Without one,
        a FILE_UPLOAD init cannot have become a post (no byte was sent to it): None, no call. A
        PULL_FROM_URL init may have: its video is looked for among the account's."""
        if draft.state.get(PUBLISH_ID):
            status = self.status(account, draft)
            if status.get("status") != "PUBLISH_COMPLETE":
                return None
            ids = [str(i) for i in status.get("publicaly_available_post_id") or [] if str(i)]
            return ids[0] if ids else str(draft.state[PUBLISH_ID])
        if draft.state.get(SOURCE) != PULL_FROM_URL:
            return None
        return self.find_among_videos(account, draft, since)

    def find_among_videos(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """POST /v2/video/list/?fields=id,title,create_time {"max_count": 20, "cursor"} ->
        {"data": {"videos": [{"id", "title", "create_time"}], "cursor", "has_more"}}, newest
        first (https://developers.tiktok.com/doc/tiktok-api-v2-video-list)."""
        cursor = None
        for _ in range(settings.RECONCILE_MAX_PAGES):
            body: dict[str, Any] = {"max_count": 20}
            if cursor is not None:
                body["cursor"] = cursor
            response = self.request(
                "POST", VIDEO_LIST, account=account, params={"fields": "id,title,create_time"}, json=body
            )
            data = self.data(response)
            videos = data.get("videos") if isinstance(data.get("videos"), list) else []
            for video in videos:
                if not isinstance(video, dict) or video.get("title") != draft.text or not video.get("id"):
                    continue
                created = video.get("create_time")
                if not isinstance(created, int) or created >= int(since.timestamp()):
                    return str(video["id"])
            cursor = data.get("cursor")
            if not data.get("has_more") or cursor is None:
                return None
        return None

    # --- engagement figures (docs/analytics.md) -------------------------------------------------

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``POST /v2/video/query/?fields=id,view_count,like_count,comment_count,share_count``
        ``{"filters": {"video_ids": [...]}}`` (at most 20, scope video.list) -> ``{"data": {"videos":
        [{"id", "view_count", ...}]}}`` (https://developers.tiktok.com/doc/tiktok-api-v2-video-query):
        a video that is not the account's, or no longer exists, is left out. A private (SELF_ONLY)
        post has no video id, only its publish_id: TikTok gives nothing for it, said as such."""
        private = [i for i in external_ids if not i.isdigit()]
        found = {i: private_figures() for i in private}
        videos = [i for i in external_ids if i.isdigit()]
        if not videos:
            return found
        fields = ",".join(("id", *VIDEO_RAW))
        response = self.request(
            "POST", VIDEO_QUERY, account=account, params={"fields": fields}, json={"filters": {"video_ids": videos}}
        )
        listed = self.data(response).get("videos")
        if not isinstance(listed, list):
            raise self.malformed(response, "no data.videos")
        for video in listed:
            if isinstance(video, dict) and str(video.get("id") or "") in videos:
                found[str(video["id"])] = Figures.mapped(
                    video, VIDEO_METRICS, expected=VIDEO_RAW, lacks=self.metrics_lacks, label="TikTok"
                )
        return found

    def account_metrics(self, account: Account) -> Figures:
        """``GET /v2/user/info/?fields=open_id,follower_count,following_count,likes_count,video_count``
        -> ``{"data": {"user": {...}}}``. The counts need the scope user.info.stats, which accounts
        connected before planrrr asked for it lack: TikTok answers ``scope_not_authorized``, which
        here is no dead token (publishing goes on) but figures not given until reconnected."""
        kwargs: dict[str, Any] = {"params": {"fields": ",".join(("open_id", *USER_COUNTS))}}
        try:
            self.authorize(account, "GET", kwargs)
            response = self.send("GET", USER_INFO, **kwargs)
            error = error_body(response).get("error")
            if isinstance(error, dict) and error.get("code") in ("scope_not_authorized", "scope_permission_missed"):
                why = (
                    f"TikTok gives the account's followers only with the permission {STATS_SCOPE}, which this "
                    "account did not grant: reconnect it to allow it."
                )
                return Figures(unavailable={FOLLOWERS: why})
            self.raise_for_response(response)
        except PlatformError as err:
            err.redact((account.access_token,))
            raise
        user = self.data(response).get("user")
        if not isinstance(user, dict):
            raise self.malformed(response, "no data.user")
        raw = {name: user[name] for name in USER_COUNTS if name in user}
        return Figures.mapped(raw, {FOLLOWERS: ("follower_count",)}, label="TikTok")

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``POST /v2/video/list/?fields=id,title,create_time,share_url`` ``{"max_count": 20,
        "cursor"}`` -> ``{"data": {"videos": [...], "cursor", "has_more"}}``, newest first (the
        account's public videos)."""
        body: dict[str, Any] = {"max_count": 20}
        if cursor:
            # TikTok's cursor is an int64 (a time in ms), sent back as it came.
            body["cursor"] = int(cursor) if cursor.isdigit() else cursor
        response = self.request(
            "POST", VIDEO_LIST, account=account, params={"fields": "id,title,create_time,share_url"}, json=body
        )
        data = self.data(response)
        videos = data.get("videos") if isinstance(data.get("videos"), list) else []
        listed, past = [], False
        for video in videos:
            created = video.get("create_time") if isinstance(video, dict) else None
            if not isinstance(created, int) or isinstance(created, bool) or not video.get("id"):
                continue
            at = datetime.fromtimestamp(created, tz=UTC)
            if at < since:
                past = True
                break
            url = str(video.get("share_url") or "")[:500]
            listed.append(ListedPost(str(video["id"]), at, str(video.get("title") or "")[:300], url))
        more = data.get("has_more") and data.get("cursor") is not None and not past
        return listed, (str(data["cursor"]) if more else None)

    # --- TikTok's answers ---------------------------------------------------------------------

    def data(self, response: requests.Response) -> dict:
        body = self.json(response)
        data = body.get("data")
        if not isinstance(data, dict):
            raise self.malformed(response, "no data")
        return data

    def raise_for_response(self, response: requests.Response) -> None:
        """TikTok's v2 envelope: {"data": {...}, "error": {"code": "ok", "message": "", "log_id"}};
        any code but "ok" is an error, whatever the HTTP status."""
        body = error_body(response)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code") or "")
        status = response.status_code
        if status < 400 and code in ("", "ok"):
            return
        message = str(error.get("message") or "") or (response.text[:200] if not body else "")
        words = f"TikTok API error ({code or f'HTTP {status}'}): {message or 'no message'}"
        raise self.error_for(response, code, words)

    def error_for(self, response: requests.Response, code: str, words: str) -> PlatformError:
        status = response.status_code
        if code in TOKEN_DEAD or (status == 401 and not code):
            if code.startswith("scope"):
                words += " — reconnect the account and allow every permission planrrr asks for."
            return TokenExpired(words, status_code=status)
        if code == "rate_limit_exceeded" or status == 429:
            return RateLimited(words, retry_at=self.retry_at(response), status_code=status)
        if code in DAILY_LIMITS:
            # No reset time is given: an hour frees what a rolling day allows at the earliest.
            return RateLimited(words, retry_at=timezone.now() + timedelta(hours=1), status_code=status)
        if code == "internal_error" or status >= 500:
            return TransientError(words, status_code=status, maybe_sent=True)
        if code == "unaudited_client_can_only_post_to_private_accounts":
            words += " — planrrr's TikTok app is not audited yet: post with privacyLevel SELF_ONLY."
        elif code == "privacy_level_option_mismatch":
            words += " — the account's privacy levels changed: choose one TikTok offers it now."
        elif code == "url_ownership_unverified":
            words += (
                " — verify the media domain in planrrr's TikTok app, or unset TIKTOK_MEDIA_DOMAIN_VERIFIED "
                "to upload the video instead."
            )
        return PermanentError(words, status_code=status)

    def retry_at(self, response: requests.Response) -> datetime:
        """TikTok documents no reset header for its per-minute limits: Retry-After if sent, else
        TIKTOK_RATE_LIMIT_BACKOFF_SECONDS."""
        return time_from_retry_after(response.headers.get("Retry-After"), what="TikTok") or wait_from_seconds(
            value_of(TIKTOK_RATE_LIMIT_BACKOFF_SECONDS), what="TikTok"
        )


def private_figures() -> Figures:
    why = "TikTok gives no figures for a private (SELF_ONLY) video: it has no public video id."
    return Figures(unavailable=dict.fromkeys(POST_NAMES, why))


def forget(state: dict) -> None:
    """Forget a publish_id that can never become a post (FAILED): the next attempt starts anew."""
    for key in STEPS:
        state.pop(key, None)


def allowed_levels(details: dict) -> list[str]:
    levels = details.get(DETAILS_PRIVACY) if isinstance(details, dict) else None
    return [str(level) for level in levels] if isinstance(levels, list) else []
