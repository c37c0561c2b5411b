"""Facebook Pages through the Graph API.

https://developers.facebook.com/docs/pages-api/posts and .../photos. The page access token
goes in the ``access_token`` form or query field, as facebook-sdk sends it. Facebook fetches
image and video URLs itself, so we send URLs, not bytes (after checking them: see
base.media_url_problem).

A video (docs/platforms/facebook.md, "Video"): ``POST /{page-id}/videos`` with ``file_url`` and
``description`` (https://developers.facebook.com/docs/graph-api/reference/page/videos: "file_url:
Accessible URL of a video file. Cannot be used with upload_phase") answers ``{"id": <video id>}``
at once; Facebook then fetches and processes the file, and the video is public once
``GET /{video-id}?fields=status`` says ``video_status: ready``
(https://developers.facebook.com/docs/graph-api/reference/video-status). Until then the
publication waits (NotReady) with the video id in ``draft.state["videoId"]``, so that no attempt
uploads it twice; ``error`` (with the processing phase's errors) fails it with Facebook's words.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import requests
from django.utils import timezone

from connections.platforms.base import Account, Draft, NotReady, PermanentError, Published, parse_time
from connections.platforms.config import value_of
from connections.platforms.facebook import DECLARATION
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
from connections.platforms.http import HttpAdapter
from connections.platforms.kinds import split_media
from connections.platforms.meta import META_VIDEO_POLL_SECONDS
from connections.platforms.meta.graph import GraphErrorMixin
from connections.platforms.meta.insights import InsightsMixin

# GET /{video-id}?fields=status -> {"status": {"video_status": "processing" | "ready" | "error" |
# "expired", "processing_progress": 0..100, "uploading_phase": {"status", "errors"},
# "processing_phase": {"status", "errors": [{"code", "message"}]}, "publishing_phase": {...}}}.
VIDEO_READY = "ready"
VIDEO_FAILED = frozenset({"error", "expired"})
VIDEO_PHASES = ("uploading_phase", "processing_phase", "publishing_phase")


class FacebookAdapter(InsightsMixin, GraphErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # https://developers.facebook.com/docs/graph-api/reference/page/feed: message length.
    max_text_length = 63_206
    # Facebook documents no maximum for attached_media; ten is our own cap, Instagram's too.
    max_images = 10
    # One video a post, alone: a Page video is a post of its own (attached_media takes photos).
    max_videos = 1
    mixes_media = False
    # Facebook comments: 8,000 characters (unverified).
    max_comment_length = 8_000
    # A post's insights (https://developers.facebook.com/docs/graph-api/reference/insights#page-posts),
    # one post a call; pages_read_engagement. The page's calls count against its Business Use Case
    # limit, which publishing shares: 100 an hour keeps far below it.
    metrics_batch = 1
    metrics_budget = (100, 3600)
    insights_metrics = (
        "post_impressions",
        "post_impressions_unique",
        "post_clicks",
        "post_reactions_by_type_total",
        "post_activity_by_action_type",
        "post_video_views",
    )
    insights_mapping = {
        VIEWS: ("post_impressions",),
        REACH: ("post_impressions_unique",),
        CLICKS: ("post_clicks",),
        LIKES: ("post_reactions_by_type_total",),
        COMMENTS: ("post_activity_by_action_type.comment",),
        SHARES: ("post_activity_by_action_type.share",),
        VIDEO_VIEWS: ("post_video_views",),
    }
    metrics_lacks = {SAVES: "Facebook gives no saves count for a page's post."}
    # A Page video's watch time, from the video's own edge (https://developers.facebook.com/docs/graph-api/
    # reference/video/video_insights): total_video_view_total_time and total_video_avg_time_watched,
    # milliseconds, lifetime. planrrr holds a video it published under the video's id (a number), a
    # feed post under "<page-id>_<post-id>": only the former is asked, so a post costs no extra call.
    video_insights_metrics = ("total_video_view_total_time", "total_video_avg_time_watched")
    watch_time_metric = "total_video_view_total_time"
    metrics_watch_time = True

    def insights(self, account: Account, object_id: str) -> Figures:
        figures = super().insights(account, object_id)
        if "_" in object_id:
            figures.unavailable[WATCH_SECONDS] = (
                "Not a video: Facebook gives watch time for a Page video, read by the video's id; this post is "
                "held under a feed post's id."
            )
            return figures
        try:
            raw, gone, _ = self.edge_values(account, f"/{object_id}/video_insights", self.video_insights_metrics)
        except PermanentError as err:
            # Refused outright (a permission, a video Facebook no longer gives insights for): the
            # post's other figures stand, its watch time says Facebook's words.
            figures.unavailable[WATCH_SECONDS] = f"Facebook gave no watch time for this video: {err.message}"
            return figures
        figures.raw.update(raw)
        for name, words in gone.items():
            figures.unavailable[name] = words
        self.watch_seconds(figures, gone, None)
        return figures

    def publish(self, account: Account, draft: Draft) -> Published:
        """Text: one feed post. One image: one published photo with the text as caption. Several:
        each uploaded unpublished, then one feed post attaching them all. A video: uploaded from
        its URL, published once Facebook has processed it."""
        self.refuse_invalid(draft)
        if split_media(draft.media_urls)[1]:
            return self.publish_video(account, draft)
        if not draft.media_urls:
            response = self.post(account, "feed", {"message": draft.text})
            return self.published(response, self.json(response).get("id"))
        if len(draft.media_urls) == 1 and not draft.state.get("mediaIds"):
            response = self.post(account, "photos", {"url": draft.media_urls[0], "caption": draft.text})
            # -> {"id": "<photo_id>", "post_id": "<page_id>_<post_id>"}: the post is what people see.
            body = self.json(response)
            if body.get("id"):
                draft.state["mediaIds"] = [str(body["id"])]
            return self.published(response, body.get("post_id") or body.get("id"))

        media_ids = self.upload_unpublished_photos(account, draft)
        # attached_media[i] is a JSON object per item, form-encoded, as in Facebook's own example:
        # curl -F 'attached_media[0]={"media_fbid":"1002088839996"}'
        fields = {"message": draft.text}
        fields.update(
            {f"attached_media[{i}]": json.dumps({"media_fbid": media_id}) for i, media_id in enumerate(media_ids)}
        )
        response = self.post(account, "feed", fields)
        return self.published(response, self.json(response).get("id"))

    def stage(self, account: Account, draft: Draft) -> None:
        """Upload the photos unpublished; ``publish`` then attaches them to one feed post. A video
        is not staged: its upload publishes it (a post cancelled before its time must never reach
        the page), and Facebook processes it within the wait that follows."""
        self.refuse_invalid(draft)
        if draft.media_urls and not split_media(draft.media_urls)[1]:
            self.upload_unpublished_photos(account, draft)

    def upload_unpublished_photos(self, account: Account, draft: Draft) -> list[str]:
        """Upload each image with ``published=false`` and keep its id in state["mediaIds"], one by
        one, so that a retry after a failure half-way re-uploads none of those already there."""
        media_ids = [str(media_id) for media_id in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
        for url in draft.media_urls[len(media_ids) :]:
            response = self.post(account, "photos", {"url": url, "published": "false"})
            media_id = self.json(response).get("id")
            if not media_id:
                raise self.malformed(response, f"no photo id for {url}")
            media_ids.append(str(media_id))
            draft.state["mediaIds"] = list(media_ids)
        return media_ids

    def publish_video(self, account: Account, draft: Draft) -> Published:
        """The video the draft's earlier attempt uploaded (``state["videoId"]``), or a new upload;
        then its processing status."""
        video_id = draft.state.get("videoId")
        if not video_id:
            # file_url, not graph-video.facebook.com's upload of bytes: Facebook's own PHP SDK sends a
            # request without a file to graph.facebook.com (it switches host only to upload one).
            fields = {"file_url": split_media(draft.media_urls)[1][0], "description": draft.text}
            response = self.post(account, "videos", fields)
            video_id = self.json(response).get("id")
            if not video_id:
                raise self.malformed(response, "no video id")
            self.keep_video(draft, str(video_id))
        return self.video_ready(account, draft, str(video_id))

    def keep_video(self, draft: Draft, video_id: str) -> None:
        draft.state["videoId"] = video_id
        draft.state["mediaIds"] = [video_id]

    def video_ready(self, account: Account, draft: Draft, video_id: str) -> Published:
        """The video as a post once Facebook says it is ``ready``; raises NotReady while it is
        processing, PermanentError if processing failed (with Facebook's reasons), after which
        the next attempt (a person's retry) uploads it anew."""
        response = self.request("GET", f"/{video_id}", account=account, params={"fields": "status"})
        status = self.json(response).get("status")
        state = status.get("video_status") if isinstance(status, dict) else None
        if not isinstance(state, str) or not state:
            raise self.malformed(response, "no video_status")
        if state == VIDEO_READY:
            slow_down_until, usage = self.slow_down(response)
            return Published(
                external_id=video_id,
                url=f"https://www.facebook.com/{account.account_id}/videos/{video_id}",
                metadata={"usage": usage} if usage else {},
                slow_down_until=slow_down_until,
            )
        if state in VIDEO_FAILED:
            draft.state.pop("videoId", None)
            draft.state.pop("mediaIds", None)
            draft.state["failedVideos"] = [*draft.state.get("failedVideos", []), video_id]
            raise PermanentError(
                f"Facebook API error: could not process the video (video {video_id} is {state}): "
                f"{video_reasons(status) or 'no reason given'}"
            )
        progress = status.get("processing_progress")
        done = f", {progress} % done" if isinstance(progress, int) and not isinstance(progress, bool) else ""
        raise NotReady(
            f"Facebook is still processing the video (video {video_id} is {state}{done}).",
            retry_at=timezone.now() + timedelta(seconds=value_of(META_VIDEO_POLL_SECONDS)),
        )

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        if split_media(draft.media_urls)[1]:
            return self.find_video(account, draft, since)
        params = {
            "fields": "id,message,created_time",
            "since": int(since.timestamp()),
            "limit": 100,
        }
        for posts in self.graph_pages(account, f"/{account.account_id}/feed", params):
            for post in posts:
                if not isinstance(post, dict) or post.get("message") != draft.text or not post.get("id"):
                    continue
                # ``since`` filters on the platform's side already; a stated time is checked again.
                created = parse_time(post.get("created_time"))
                if created is None or created >= since:
                    return str(post["id"])
        return None

    def find_video(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The video an attempt since ``since`` uploaded, among the page's videos, by the
        description planrrr sent (GET /{page-id}/videos?type=uploaded -> {"data": [{"id",
        "description", "created_time"}]}, newest first); None if there is none. A video found is
        kept in ``draft.state`` and counts only once processed: NotReady while Facebook
        processes it, PermanentError if it failed, so the post is PUBLISHED only once public.
        A video whose processing failed before is never taken again."""
        video_id = draft.state.get("videoId")
        if not video_id:
            video_id = self.find_uploaded_video(account, draft, since)
            if video_id is None:
                return None
            self.keep_video(draft, video_id)
        return self.video_ready(account, draft, str(video_id)).external_id

    def find_uploaded_video(self, account: Account, draft: Draft, since: datetime) -> str | None:
        failed = {str(video) for video in draft.state.get("failedVideos", [])}
        params = {
            "fields": "id,description,created_time",
            "type": "uploaded",
            "since": int(since.timestamp()),
            "limit": 100,
        }
        for videos in self.graph_pages(account, f"/{account.account_id}/videos", params):
            recent = False
            for video in videos:
                if not isinstance(video, dict) or not video.get("id"):
                    continue
                created = parse_time(video.get("created_time"))
                if created is not None and created < since:
                    continue
                recent = True
                # Graph leaves an empty description out.
                if (video.get("description") or "") == draft.text and str(video["id"]) not in failed:
                    return str(video["id"])
            if not recent:
                return None  # ``since`` may not filter this edge: a page older than the attempt is the last
        return None

    def post(self, account: Account, edge: str, fields: dict) -> requests.Response:
        return self.request("POST", f"/{account.account_id}/{edge}", account=account, data=fields)

    def published(self, response: requests.Response, external_id: object) -> Published:
        if not external_id:
            raise self.malformed(response, "no post id")
        slow_down_until, usage = self.slow_down(response)
        return Published(
            external_id=str(external_id),
            url=f"https://www.facebook.com/{external_id}",
            metadata={"usage": usage} if usage else {},
            slow_down_until=slow_down_until,
        )

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /{page-id}/published_posts?fields=id,created_time,permalink_url,message,attachments{target{id}}
        &since=<unix>&limit=100`` -> ``{"data": [{"id": "<page>_<post>", "created_time", "permalink_url",
        "message"?, "attachments"?: {"data": [{"target": {"id"}}]}}], "paging": {"cursors": {"after"},
        "next"?}}``, newest first: the posts the page itself published, not what visitors posted on it
        (https://developers.facebook.com/docs/graph-api/reference/page/published_posts; Facebook returns
        about 600 ranked posts a year). A video planrrr published is known by its video id: the post
        lists it as its attachment's target, so that it is not taken for a post made outside planrrr."""
        params = {
            "fields": "id,created_time,permalink_url,message,attachments{target{id}}",
            "since": int(since.timestamp()),
            "limit": 100,
        }
        # ``since`` filters on Facebook's side already: a post older still ends the listing.
        return self.graph_listed_posts(
            account,
            f"/{account.account_id}/published_posts",
            params,
            cursor,
            since=since,
            fields=("created_time", "message", "permalink_url"),
            aliases=attachment_targets,
        )

    def account_metrics(self, account: Account) -> Figures:
        """``GET /{page-id}?fields=followers_count,fan_count`` -> ``{"followers_count", "fan_count", "id"}``
        (https://developers.facebook.com/docs/graph-api/reference/page)."""
        return self.fields_figures(
            account, account.account_id, ("followers_count", "fan_count"), {FOLLOWERS: ("followers_count",)}
        )


def attachment_targets(post: dict) -> tuple[str, ...]:
    """The ids of what a listed post attaches (its video, its photo): ``attachments.data[].target.id``."""
    attachments = post.get("attachments") if isinstance(post.get("attachments"), dict) else {}
    items = attachments.get("data") if isinstance(attachments.get("data"), list) else []
    targets = [item.get("target") for item in items if isinstance(item, dict)]
    return tuple(str(target["id"]) for target in targets if isinstance(target, dict) and target.get("id"))


def video_reasons(status: dict) -> str:
    """Facebook's words for a failed video: each phase's errors (``{"code", "message"}``), in
    order, as "message (code N)"."""
    reasons = []
    for phase in VIDEO_PHASES:
        errors = status.get(phase, {}).get("errors") if isinstance(status.get(phase), dict) else None
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict) and error.get("message"):
                code = f" (code {error['code']})" if error.get("code") is not None else ""
                reasons.append(f"{error['message']}{code}")
    return "; ".join(reasons)
