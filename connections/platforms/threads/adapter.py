"""Threads through Meta's Threads API (docs/platforms/threads.md).

https://developers.facebook.com/docs/threads/posts: a post is a *container* (``POST
/{threads-user-id}/threads`` with ``media_type`` TEXT, IMAGE (``image_url``) or VIDEO
(``video_url``), or CAROUSEL over child containers, images and videos mixed, made with
``is_carousel_item=true``), then ``POST /{threads-user-id}/threads_publish``
``creation_id`` makes it a post. A reply (a thread's next part, a first comment) is a container
with ``reply_to_id``.

Publishing a container moments after it was made is often answered "media not found" (code 24,
subcode 4279009) although nothing is wrong: Threads has not finished making it. That is a wait
(NotReady), never a failure. As with Instagram, the containers made are kept in ``draft.state``
(``mediaIds``, ``containerId``) so that no attempt makes them twice.

A video container is processed for a while (IN_PROGRESS; "FAILED_DOWNLOADING_VIDEO",
"FAILED_PROCESSING_VIDEO" and the like in ``error_message`` when it fails:
https://developers.facebook.com/docs/threads/troubleshooting), looked at again every
META_VIDEO_POLL_SECONDS (connections/platforms/meta/containers.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import requests
from django.utils import timezone

from connections.platforms.base import (
    Account,
    Draft,
    NotReady,
    PermanentError,
    PlatformError,
    Published,
    RateLimited,
    parse_time,
)
from connections.platforms.config import value_of
from connections.platforms.declaration import VIDEO
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
from connections.platforms.http import HttpAdapter
from connections.platforms.kinds import media_kind
from connections.platforms.meta.containers import ContainerMixin
from connections.platforms.meta.graph import GraphErrorMixin
from connections.platforms.meta.insights import InsightsMixin, insight_values
from connections.platforms.threads import DECLARATION, THREADS_API_VERSION, THREADS_PUBLISH_WAIT_SECONDS

# {"code": 24, "error_subcode": 4279009, "message": "The requested resource does not exist",
# "error_user_title": "Media Not Found", "error_user_msg": "The media with id ... cannot be found."}
MEDIA_NOT_FOUND = (24, 4279009)
# "media not found" answers for one container before it is given up and made anew: a container
# Threads still cannot find after this many waits is not coming (about 3 minutes at 15 s).
MAX_NOT_FOUND_WAITS = 12
# Containers made anew that way before the publication gives up, saying why.
MAX_CONTAINERS = 3


def _counted_length(character: str) -> int:
    """https://developers.facebook.com/docs/threads/posts: "Emojis are counted as the number of
    UTF-8 bytes". Pictographs (U+1F000 and up), the symbol blocks U+2600..U+27BF, the variation
    selector U+FE0F and the zero-width joiner of emoji sequences count their UTF-8 length; every
    other character counts one."""
    point = ord(character)
    if point >= 0x1F000 or 0x2600 <= point <= 0x27BF or point in (0xFE0F, 0x200D, 0x20E3):
        return len(character.encode("utf-8"))
    return 1


def item_fields(url: str) -> dict:
    """A media URL as a container's fields: IMAGE with ``image_url``, or VIDEO with ``video_url``."""
    if media_kind(url) == VIDEO:
        return {"media_type": "VIDEO", "video_url": url}
    return {"media_type": "IMAGE", "image_url": url}


class ThreadsAdapter(InsightsMixin, ContainerMixin, GraphErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # A container's status: GET /{threads-container-id}?fields=status,error_message; ERROR comes
    # with error_message (FAILED_DOWNLOADING_VIDEO, ..., UNKNOWN)
    # (https://developers.facebook.com/docs/threads/troubleshooting).
    status_field, reason_field = "status", "error_message"
    container_holds, published_where = "the post", "among the account's recent posts"
    # "Text posts are limited to 500 characters" (https://developers.facebook.com/docs/threads/posts).
    max_text_length = 500
    # Carousels: 2 to 20 items, images, videos or both
    # (https://developers.facebook.com/docs/threads/posts#carousel-posts).
    max_images = max_videos = max_carousel_items = 20
    mixes_media = True
    # A reply is a container with reply_to_id: a thread's parts reply each to the one before.
    supports_threads = True
    # A first comment is a reply of the account to its own post, 500 characters like any post.
    max_comment_length = 500
    # An image container is usually FINISHED within seconds; the troubleshooting page suggests a
    # status query a minute for videos (META_VIDEO_POLL_SECONDS: containers.ContainerMixin).
    container_poll_interval = timedelta(seconds=2)
    # The 24-hour publishing limit rolls: an hour frees the oldest slots at the earliest sensible
    # retry (threads_publishing_limit has no reset time).
    daily_limit_backoff = timedelta(hours=1)
    # A post's insights (https://developers.facebook.com/docs/threads/insights): GET
    # /{threads-media-id}/insights?metric=views,likes,replies,reposts,quotes,shares, one post a call.
    # A thread's replies are posts of their own, each with its counts.
    metrics_parts = True
    metrics_batch = 1
    metrics_budget = (100, 3600)
    insights_metrics = ("views", "likes", "replies", "reposts", "quotes", "shares")
    insights_mapping = {
        VIEWS: ("views",),
        LIKES: ("likes",),
        COMMENTS: ("replies",),
        SHARES: ("reposts", "quotes", "shares"),
    }
    metrics_lacks = {
        REACH: "Threads gives no reach for a post.",
        SAVES: "Threads gives no saves count.",
        CLICKS: "Threads gives link clicks for the account only (clicks in threads_insights), not per post.",
        VIDEO_VIEWS: "Threads counts a video's plays in views: no separate video views.",
    }

    @property
    def base_url(self) -> str:
        # The Threads API's own host and version (https://graph.threads.net/v1.0), not Graph's.
        return f"{HttpAdapter.base_url.fget(self)}/{value_of(THREADS_API_VERSION)}"

    def text_length(self, text: str) -> int:
        return sum(_counted_length(character) for character in text)

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        container_id = draft.state.get("containerId") or self.create_container(account, draft)

        published = self.container_ready(account, draft, container_id)
        if published is not None:
            return published

        try:
            response = self.request(
                "POST", f"/{account.account_id}/threads_publish", account=account, data={"creation_id": container_id}
            )
        except NotReady:
            self.count_not_found(draft, container_id)
            raise
        media_id = self.json(response).get("id")
        if not media_id:
            raise self.malformed(response, "no media id")
        draft.state.pop("notFound", None)
        slow_down_until, usage = self.slow_down(response)
        return Published(
            external_id=str(media_id),
            metadata={"usage": usage} if usage else {},
            slow_down_until=slow_down_until,
        )

    def count_not_found(self, draft: Draft, container_id: str) -> None:
        """Bound the "media not found" waits of one container: after MAX_NOT_FOUND_WAITS it is
        made anew (nothing was published with it: Threads cannot find it), and after
        MAX_CONTAINERS containers the publication gives up, saying so."""
        waits = int(draft.state.get("notFound", 0)) + 1
        draft.state["notFound"] = waits
        if waits < MAX_NOT_FOUND_WAITS:
            return
        made = int(draft.state.get("containersMade", 1))
        self.forget_containers(draft)
        draft.state.pop("notFound", None)
        if made >= MAX_CONTAINERS:
            raise PermanentError(
                f"Threads API error: Threads could not find container {container_id} to publish after "
                f"{MAX_NOT_FOUND_WAITS} waits, for the {made}th container in a row (code 24, subcode 4279009): "
                "check that the connected account is the one posting, then retry."
            )
        draft.state["containersMade"] = made + 1

    def comment(self, account: Account, draft: Draft) -> str:
        """A first comment is the account's reply to its own post (``reply_to_id``)."""
        return self.publish(account, draft).external_id

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        return self.find_published(account, draft, since)

    def publishing_limit(self, account: Account) -> int | None:
        """GET /{threads-user-id}/threads_publishing_limit?fields=quota_usage,config ->
        {"data": [{"quota_usage": 4, "config": {"quota_total": 250, "quota_duration": 86400}}]}:
        how many posts the account may publish through the API in a rolling 24 hours.
        https://developers.facebook.com/docs/threads/overview#posts
        """
        response = self.request(
            "GET",
            f"/{account.account_id}/threads_publishing_limit",
            account=account,
            params={"fields": "quota_usage,config"},
        )
        data = self.json(response).get("data")
        config = data[0].get("config") if isinstance(data, list) and data and isinstance(data[0], dict) else None
        total = config.get("quota_total") if isinstance(config, dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise self.malformed(response, "no quota_total in threads_publishing_limit")
        return total

    def stage(self, account: Account, draft: Draft) -> None:
        """Make the container(s) ahead of the slot (they live 24 hours): Threads has long finished
        them (a video too, usually) when ``publish`` calls threads_publish, so no wait then."""
        self.refuse_invalid(draft)
        if not draft.state.get("containerId"):
            self.create_container(account, draft)

    def create_container(self, account: Account, draft: Draft) -> str:
        """Make the container to publish and record it; child containers are recorded one by one
        so that a retry after a failure half-way makes none of them twice."""
        reply = {"reply_to_id": draft.reply_to} if draft.reply_to else {}
        if not draft.media_urls:
            container_id = self.create_media(account, {"media_type": "TEXT", "text": draft.text, **reply})
            draft.state["mediaIds"] = []
        elif len(draft.media_urls) == 1:
            url = draft.media_urls[0]
            container_id = self.create_media(account, {**item_fields(url), "text": draft.text, **reply}, url=url)
            draft.state["mediaIds"] = [container_id]
        else:
            children = [str(child) for child in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
            for url in draft.media_urls[len(children) :]:
                children.append(self.create_media(account, {**item_fields(url), "is_carousel_item": "true"}, url=url))
                draft.state["mediaIds"] = list(children)
            container_id = self.create_media(
                account, {"media_type": "CAROUSEL", "children": ",".join(children), "text": draft.text, **reply}
            )
        draft.state["containerId"] = container_id
        return container_id

    def create_media(self, account: Account, fields: dict, *, url: str = "") -> str:
        """POST /{threads-user-id}/threads -> {"id": "<container id>"}."""
        response = self.request("POST", f"/{account.account_id}/threads", account=account, data=fields)
        container_id = self.json(response).get("id")
        if not container_id:
            raise self.malformed(response, "no container id")
        return str(container_id)

    def graph_error(self, response: requests.Response, error: dict) -> PlatformError:
        code, subcode = error.get("code"), error.get("error_subcode")
        status = response.status_code
        if (code, subcode) == MEDIA_NOT_FOUND:
            return NotReady(
                self.graph_message(error),
                retry_at=timezone.now() + timedelta(seconds=value_of(THREADS_PUBLISH_WAIT_SECONDS)),
                status_code=status,
            )
        # The 250 posts (or 1,000 replies) of the rolling 24 hours are used up: the same envelope
        # as Instagram's {"code": 9, "error_subcode": 2207042, "error_user_title": "Max posts reached"}
        # (not confirmed for Threads: docs/platforms/threads.md).
        if code == 9:
            retry_at = max(self.graph_retry_at(response), timezone.now() + self.daily_limit_backoff)
            return RateLimited(self.graph_message(error), retry_at=retry_at, status_code=status)
        return super().graph_error(response, error)

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The account's post (or, for a reply, its reply) with this text made since ``since``:
        GET /{threads-user-id}/threads (or /replies) ?fields=id,text,timestamp&since=<unix> ->
        {"data": [{"id", "text", "timestamp": "2024-07-01T10:00:00+0000"}], "paging": {...}},
        newest first (https://developers.facebook.com/docs/threads/threads-media)."""
        edge = "replies" if draft.reply_to else "threads"
        params = {"fields": "id,text,timestamp", "since": int(since.timestamp()), "limit": 100}
        for posts in self.graph_pages(account, f"/{account.account_id}/{edge}", params):
            for item in posts:
                if not isinstance(item, dict) or item.get("text") != draft.text or not item.get("id"):
                    continue
                # ``since`` filters on the platform's side already; a stated time is checked again.
                published_at = parse_time(item.get("timestamp"))
                if published_at is None or published_at >= since:
                    return str(item["id"])
        return None

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /{threads-user-id}/threads?fields=id,timestamp,permalink,text,media_type,is_quote_post,is_reply
        &since=<unix>&limit=100`` -> ``{"data": [{"id", "timestamp": "2024-07-01T10:00:00+0000", "permalink",
        "text"?, "media_type", "is_quote_post", "is_reply"}], "paging": {"cursors": {"after"}, "next"?}}``,
        newest first: the threads the account made (https://developers.facebook.com/docs/threads/threads-media).

        Only the account's own posts: a repost (``media_type`` REPOST_FACADE) shows another account's post,
        and a reply (``is_reply``: the edge of replies is ``/replies``, and a thread's later parts are
        replies) is no post of its own; both are left out. A quote post (``is_quote_post``) is the
        account's own words: kept."""
        params = {
            "fields": "id,timestamp,permalink,text,media_type,is_quote_post,is_reply",
            "since": int(since.timestamp()),
            "limit": 100,
        }
        return self.graph_listed_posts(
            account,
            f"/{account.account_id}/threads",
            params,
            cursor,
            since=since,
            fields=("timestamp", "text", "permalink"),
            skip=lambda item: item.get("is_reply") is True or item.get("media_type") == "REPOST_FACADE",
        )

    def account_metrics(self, account: Account) -> Figures:
        """``GET /{threads-user-id}/threads_insights?metric=followers_count`` -> ``{"data": [{"name":
        "followers_count", "period": "day", "total_value": {"value": N}}]}``."""
        response = self.request(
            "GET", f"/{account.account_id}/threads_insights", account=account, params={"metric": "followers_count"}
        )
        raw = insight_values(self.json(response).get("data"))
        return Figures.mapped(raw, {FOLLOWERS: ("followers_count",)}, label=self.label)
