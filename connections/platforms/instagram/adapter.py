"""Instagram professional accounts through the Graph API's content publishing.

https://developers.facebook.com/docs/instagram-platform/content-publishing: a post is a
*container* made from media URLs (Instagram fetches them), which Instagram processes
(``status_code`` IN_PROGRESS, then FINISHED) before ``media_publish`` can turn it into a post.
One image is one container; one video is a Reel (``media_type=REELS``, ``video_url``: "Beginning
November 9, 2023, the VIDEO value for media_type will no longer be supported. Use the REELS media
type", https://developers.facebook.com/docs/graph-api/changelog/out-of-cycle-changes/june-28-2022);
2..10 items, images and videos mixed, are child containers (``is_carousel_item=true``; a video
child ``media_type=VIDEO``) gathered in a CAROUSEL container.

Publishing is spread over attempts rather than waiting here: containers made are kept in
``draft.state`` (``mediaIds``: the single or child containers, ``containerId``: the one to
publish) and, while Instagram is still processing, ``NotReady`` asks to be called again.
"""

from __future__ import annotations

import re
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
from connections.platforms.instagram import DECLARATION
from connections.platforms.kinds import media_kind
from connections.platforms.meta.containers import ContainerMixin
from connections.platforms.meta.graph import GraphErrorMixin
from connections.platforms.meta.insights import InsightsMixin

# "#tag" as Instagram links it: not inside a word, at least one word character after the sign.
HASHTAG = re.compile(r"(?<!\w)#\w+")


class MediaFetchFailed(PermanentError):
    """Instagram could not download an image URL (code 9004, subcode 2207052); the caller knows
    which URL it was and says so."""


class InstagramAdapter(InsightsMixin, ContainerMixin, GraphErrorMixin, HttpAdapter):
    declaration = DECLARATION
    # A container's status: GET /{container-id}?fields=status_code,status -> {"status_code":
    # "FINISHED", "id": ...}; "status" carries Instagram's words when it is ERROR.
    status_field, reason_field = "status_code", "status"
    container_holds, published_where = "the media", "in the account's recent media"
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media:
    # "caption: maximum 2200 characters, 30 hashtags, and 20 @ tags"; carousels take up to 10 items.
    max_text_length = 2_200
    max_hashtags = 30
    # "Carousels are limited to 10 images, videos, or a mix of the two" (content publishing guide).
    max_images = max_videos = max_carousel_items = 10
    mixes_media = True
    requires_media = True
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media:
    # share_to_feed (Reels only). planrrr sends true unless a variant says otherwise: a scheduled Reel
    # is meant to be seen on the profile, as a post would be.
    options = {
        "shareToFeed": "A Reel only: true (the default) shows it in the profile's feed as well as the Reels "
        "tab, false in the Reels tab only."
    }
    option_kinds = {"shareToFeed": "bool"}
    # A comment's text is "text" in the comments edge; 2,200 characters like a caption (unverified).
    comment_text_field = "text"
    max_comment_length = 2_200
    # An image container is usually FINISHED within seconds: look again soon, without holding a worker.
    container_poll_interval = timedelta(seconds=2)
    # The 24-hour publishing limit (50 posts) rolls: an hour frees the oldest slots at the earliest
    # sensible retry; the limit itself says no more (content_publishing_limit has no reset time).
    daily_limit_backoff = timedelta(hours=1)
    # A media's insights (https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights),
    # one media a call; 200 calls per account an hour is Instagram's limit, publishing shares it.
    # Since v22.0 there is no "impressions" ("views" replaces it): a metric can disappear.
    metrics_batch = 1
    metrics_budget = (100, 3600)
    insights_metrics = ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions")
    insights_mapping = {
        VIEWS: ("views",),
        REACH: ("reach",),
        LIKES: ("likes",),
        COMMENTS: ("comments",),
        SHARES: ("shares",),
        SAVES: ("saved",),
    }
    # A Reel's watch time, in milliseconds, asked in the same call (Reels only: a feed post, carousel
    # or story refuses them, and is then "not a video"; meta/insights.py). The average is kept raw.
    video_metrics = ("ig_reels_video_view_total_time", "ig_reels_avg_watch_time")
    watch_time_metric = "ig_reels_video_view_total_time"
    metrics_watch_time = True
    metrics_lacks = {
        CLICKS: "Instagram gives no link clicks for a post (captions hold no links).",
        VIDEO_VIEWS: "Instagram counts a video's plays in views since v22.0: no separate video views.",
    }

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        problems = super().validate(text=text, media_urls=media_urls)
        hashtags = len(HASHTAG.findall(text))
        if hashtags > self.max_hashtags:
            problems.append(
                f"Instagram allows at most {self.max_hashtags} hashtags; this post has {hashtags}. "
                f"Remove {hashtags - self.max_hashtags}."
            )
        return problems

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        problems = super().options_problems(options, details=details)
        if "shareToFeed" in options and not isinstance(options["shareToFeed"], bool):
            problems.append(
                f"Instagram's shareToFeed is true or false; it is {options['shareToFeed']!r}: "
                "write true or false without quotes."
            )
        return problems

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        container_id = draft.state.get("containerId") or self.create_container(account, draft)

        published = self.container_ready(account, draft, container_id)
        if published is not None:
            return published

        response = self.request(
            "POST", f"/{account.account_id}/media_publish", account=account, data={"creation_id": container_id}
        )
        media_id = self.json(response).get("id")
        if not media_id:
            raise self.malformed(response, "no media id")
        slow_down_until, usage = self.slow_down(response)
        return Published(
            external_id=str(media_id),
            url=self.permalink(account, str(media_id)),
            metadata={"usage": usage} if usage else {},
            slow_down_until=slow_down_until,
        )

    def permalink(self, account: Account, media_id: str) -> str:
        """The post's address, for the people who look at it: ``GET /{ig-media-id}?fields=permalink``
        (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media).
        media_publish answers with the id only. The post is published whatever this answers: a
        failure here leaves it without a link, never retried."""
        try:
            response = self.request("GET", f"/{media_id}", account=account, params={"fields": "permalink"})
            link = self.json(response).get("permalink")
        except (PlatformError, ValueError, AttributeError):
            return ""
        return link if isinstance(link, str) and link.startswith("https://") else ""

    def publishing_limit(self, account: Account) -> int | None:
        """GET /{ig-user-id}/content_publishing_limit?fields=config ->
        {"data": [{"config": {"quota_total": 50, "quota_duration": 86400}}]}: how many posts the
        account may publish through the API in a rolling 24 hours, which Meta has changed over
        the years (25, 50, 100) and may set per account.
        https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
        """
        response = self.request(
            "GET", f"/{account.account_id}/content_publishing_limit", account=account, params={"fields": "config"}
        )
        data = self.json(response).get("data")
        config = data[0].get("config") if isinstance(data, list) and data and isinstance(data[0], dict) else None
        total = config.get("quota_total") if isinstance(config, dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise self.malformed(response, "no quota_total in content_publishing_limit")
        return total

    def stage(self, account: Account, draft: Draft) -> None:
        """Create the container(s) ahead of the slot (they live 24 hours); Instagram processes
        them meanwhile (a video for a minute or more), so ``publish`` finds them FINISHED and only
        calls media_publish."""
        self.refuse_invalid(draft)
        if not draft.state.get("containerId"):
            self.create_container(account, draft)

    def create_container(self, account: Account, draft: Draft) -> str:
        """Make the container to publish and record it; child containers are recorded one by one
        so that a retry after a failure half-way makes none of them twice."""
        if len(draft.media_urls) == 1:
            url = draft.media_urls[0]
            if media_kind(url) == VIDEO:
                share = draft.options.get("shareToFeed", True) is not False
                fields = {"media_type": "REELS", "video_url": url, "share_to_feed": str(share).lower()}
            else:
                fields = {"image_url": url}
            container_id = self.create_media(account, {**fields, "caption": draft.text}, url=url)
            draft.state["mediaIds"] = [container_id]
        else:
            children = [str(child) for child in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
            for url in draft.media_urls[len(children) :]:
                # A carousel's video item is media_type=VIDEO (REELS is for a video alone).
                item = {"media_type": "VIDEO", "video_url": url} if media_kind(url) == VIDEO else {"image_url": url}
                children.append(self.create_media(account, {**item, "is_carousel_item": "true"}, url=url))
                draft.state["mediaIds"] = list(children)
            container_id = self.create_media(
                account, {"media_type": "CAROUSEL", "children": ",".join(children), "caption": draft.text}
            )
        draft.state["containerId"] = container_id
        return container_id

    def create_media(self, account: Account, fields: dict, *, url: str = "") -> str:
        """POST /{ig-user-id}/media -> {"id": "<container_id>"}."""
        try:
            response = self.request("POST", f"/{account.account_id}/media", account=account, data=fields)
        except MediaFetchFailed as err:
            raise PermanentError(
                f"Instagram could not download the media {url}: {err.message}", status_code=err.status_code
            ) from err
        container_id = self.json(response).get("id")
        if not container_id:
            raise self.malformed(response, "no container id")
        return str(container_id)

    def graph_error(self, response: requests.Response, error: dict) -> PlatformError:
        code, subcode = error.get("code"), error.get("error_subcode")
        status = response.status_code
        # {"code": 9, "error_subcode": 2207042, "error_user_title": "Max posts reached", ...}:
        # the account's 50 posts per rolling 24 hours are used up.
        if (code, subcode) == (9, 2207042):
            retry_at = max(self.graph_retry_at(response), timezone.now() + self.daily_limit_backoff)
            return RateLimited(self.graph_message(error), retry_at=retry_at, status_code=status)
        # {"code": 9007, "error_subcode": 2207027, "message": "Media ID is not available",
        # "error_user_msg": "The media is not ready for publishing, please wait for a moment"}.
        if (code, subcode) == (9007, 2207027):
            return NotReady(
                self.graph_message(error),
                retry_at=timezone.now() + self.container_poll_interval,
                status_code=status,
            )
        # {"code": 9004, "error_subcode": 2207052, "error_user_title": "Media download has failed",
        # "error_user_msg": "The media could not be fetched from this URI: ..."}.
        if (code, subcode) == (9004, 2207052):
            return MediaFetchFailed(self.graph_message(error), status_code=status)
        return super().graph_error(response, error)

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        # GET /{ig-user-id}/media?fields=id,caption,timestamp ->
        # {"data": [{"id": "...", "caption": "...", "timestamp": "2024-05-01T10:00:00+0000"}]}, newest first.
        params = {"fields": "id,caption,timestamp", "limit": 100}
        for media in self.graph_pages(account, f"/{account.account_id}/media", params):
            recent = False
            for item in media:
                if not isinstance(item, dict):
                    continue
                # Instagram takes duplicate captions: only a post made since the attempt is ours.
                published_at = parse_time(item.get("timestamp"))
                if published_at is None or published_at < since:
                    continue
                recent = True
                if item.get("caption") == draft.text and item.get("id"):
                    return str(item["id"])
            if not recent:
                return None  # the edge has no ``since``: a page older than the attempt is the last we need
        return None

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /{ig-user-id}/media?fields=id,timestamp,permalink,caption,media_type,media_product_type&limit=100``
        -> ``{"data": [{"id", "timestamp": "2024-05-01T10:00:00+0000", "permalink", "caption"?, "media_type",
        "media_product_type": "FEED" | "REELS" | "STORY" | "AD"}], "paging": {"cursors": {"after"},
        "next"?}}``, newest first (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/
        reference/ig-user/media; at most the 10,000 latest). The edge takes no ``since`` (as
        ``find_published`` reads it): the first media older than it ends the listing.

        Stories are not listed: the edge leaves them out (they are ``/{ig-user-id}/stories``), and one
        that slipped in (``media_product_type`` STORY) is skipped too. A story lives 24 hours and Meta
        keeps its insights no longer, so a story made outside planrrr could never be read on the decaying
        schedule; a post that is gone is not tracked."""
        params = {"fields": "id,timestamp,permalink,caption,media_type,media_product_type", "limit": 100}
        return self.graph_listed_posts(
            account,
            f"/{account.account_id}/media",
            params,
            cursor,
            since=since,
            fields=("timestamp", "caption", "permalink"),
            skip=lambda item: item.get("media_product_type") == "STORY",
        )

    def account_metrics(self, account: Account) -> Figures:
        """``GET /{ig-user-id}?fields=followers_count,follows_count,media_count``
        (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user)."""
        fields = ("followers_count", "follows_count", "media_count")
        return self.fields_figures(account, account.account_id, fields, {FOLLOWERS: ("followers_count",)})
