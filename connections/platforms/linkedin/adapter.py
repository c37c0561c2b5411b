"""LinkedIn through the versioned REST Posts API.

https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api: every
call carries ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM`` and
``X-Restli-Protocol-Version: 2.0.0``. ``POST /rest/posts`` answers 201 with an empty body and
the new post's URN in the ``x-restli-id`` header. Images are uploaded as bytes first
(https://learn.microsoft.com/linkedin/marketing/community-management/shares/images-api):
``initializeUpload`` gives an upload URL and an image URN, the bytes are PUT there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import Account, Draft, Duplicate, PermanentError, Published
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
    Figures,
    ListedPost,
)
from connections.platforms.http import HttpAdapter, error_body, quoted
from connections.platforms.linkedin import API_VERSION, DECLARATION
from connections.platforms.media import fetch_media
from planrrr.text import time_from_retry_after

# "commentary" is in LinkedIn's "little" text format
# (https://learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format):
# | { } @ [ ] ( ) < > # * _ ~ and \ are markup, and an unescaped one makes LinkedIn cut the post
# short there while answering 201. We escape them, except "#" opening a hashtag (it stays a
# link) and inside URLs (so they still link).
RESERVED = re.compile(r"[|{}@\[\]()<>*_~\\]|#(?!\w)")
ESCAPED = re.compile(r"\\([|{}@\[\]()<>#*_~\\])")
# A URL, without the punctuation that usually closes the sentence around it: "(see https://x.y/z)".
URL = re.compile(r"""https?://[^\s<>]*[^\s<>.,:;!?'")\]}]""", re.IGNORECASE)
# A post's URN, as the Posts API names posts: a share or a ugcPost.
POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def little_text(text: str) -> str:
    """Plain text as LinkedIn's little format, shown exactly as written."""
    parts, position = [], 0
    for match in URL.finditer(text):
        parts.append(RESERVED.sub(lambda m: "\\" + m.group(), text[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(RESERVED.sub(lambda m: "\\" + m.group(), text[position:]))
    return "".join(parts)


# totalShareStatistics onto the common names; "engagement" is a rate, not a count: kept out.
SHARE_METRICS = {
    VIEWS: ("impressionCount",),
    REACH: ("uniqueImpressionsCount",),
    LIKES: ("likeCount",),
    COMMENTS: ("commentCount",),
    SHARES: ("shareCount",),
    CLICKS: ("clickCount",),
}
SHARE_RAW = ("impressionCount", "uniqueImpressionsCount", "likeCount", "commentCount", "shareCount", "clickCount")
# Posts a page of the author finder (``count``: LinkedIn takes at most 100).
POSTS_PAGE = 100
# https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api (Permissions):
# "r_member_social (Restricted) Retrieve posts, comments, and likes on behalf of an authenticated
# member. This is a private permission."
MEMBER_POSTS = (
    "LinkedIn lists a member's posts only to apps granted its private r_member_social permission, which "
    "planrrr does not have (it posts with w_member_social): planrrr lists the posts of organization pages only."
)


class LinkedInAdapter(HttpAdapter):
    declaration = DECLARATION
    # Longer commentary is cut silently, not refused: we refuse it instead.
    max_text_length = 3_000
    # content.multiImage takes 2 to 20 images.
    max_images = 20
    # Comments: 1,250 characters (unverified).
    max_comment_length = 1_250
    # organizationalEntityShareStatistics takes a list of shares and ugcPosts per call; LinkedIn
    # publishes its limits per app in the developer portal only: 100 calls an hour per account
    # keeps far below the daily figures other schedulers report.
    metrics_batch = 20
    metrics_budget = (100, 3600)
    metrics_lacks = {
        SAVES: "LinkedIn gives no saves count for a post.",
        VIDEO_VIEWS: "LinkedIn gives video views only through its video analytics, which planrrr does not read.",
    }

    def text_length(self, text: str) -> int:
        """The commentary as sent, escapes included: whether LinkedIn counts them against its
        3,000 is not documented, and refusing a little early beats a post cut short."""
        return len(little_text(text))

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        payload: dict = {
            "author": account.account_id,
            "commentary": little_text(draft.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        images = self.upload_images(account, draft)
        if len(images) == 1:
            payload["content"] = {"media": {"id": images[0]}}
        elif images:
            payload["content"] = {"multiImage": {"images": [{"id": image} for image in images]}}
        response = self.request("POST", "/rest/posts", account=account, json=payload)
        # -> 201, empty body, "x-restli-id: urn:li:share:7012345678901234567".
        post_id = response.headers.get("x-restli-id")
        if not post_id:
            raise self.malformed(response, "no x-restli-id header")
        return Published(external_id=post_id, url=f"https://www.linkedin.com/feed/update/{post_id}/")

    def stage(self, account: Account, draft: Draft) -> None:
        """Register and upload the images ahead of the slot."""
        self.refuse_invalid(draft)
        if draft.media_urls:
            self.upload_images(account, draft)

    def upload_images(self, account: Account, draft: Draft) -> list[str]:
        """initializeUpload, then PUT the bytes, for each image not uploaded yet; an image's URN is
        kept in state["mediaIds"] once its bytes are there, so a retry redoes none of those."""
        images = [str(image) for image in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
        for url in draft.media_urls[len(images) :]:
            media = fetch_media(url)
            response = self.request(
                "POST",
                "/rest/images",
                params={"action": "initializeUpload"},
                json={"initializeUploadRequest": {"owner": account.account_id}},
                account=account,
            )
            # -> {"value": {"uploadUrlExpiresAt": 1650567510704, "uploadUrl": "https://www.linkedin.com/dms-uploads/...",
            #    "image": "urn:li:image:C4E10AQFoyyAjHPMQuQ"}}
            value = self.json(response).get("value")
            if not isinstance(value, dict) or not value.get("uploadUrl") or not value.get("image"):
                raise self.malformed(response, "no value.uploadUrl and value.image")
            self.request(
                "PUT",
                value["uploadUrl"],
                data=media.content,
                account=account,
                headers={"Content-Type": media.content_type},
            )
            images.append(str(value["image"]))
            draft.state["mediaIds"] = list(images)
        return images

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        # GET /rest/posts?q=author&author={encoded urn}&count=100&start=N ->
        # {"elements": [{"id": "urn:li:share:...", "commentary": "...", "createdAt": 1700000000000, ...}]},
        # newest first.
        since_ms = since.timestamp() * 1000
        count = 100
        for page in range(settings.RECONCILE_MAX_PAGES):
            response = self.request(
                "GET",
                "/rest/posts",
                params={"q": "author", "author": account.account_id, "count": count, "start": page * count},
                account=account,
            )
            elements = self.json(response).get("elements")
            if not isinstance(elements, list):
                raise self.malformed(response, "no elements list")
            recent = False
            for post in elements:
                if not isinstance(post, dict) or not post.get("id") or not isinstance(post.get("commentary"), str):
                    continue
                created = post.get("createdAt")
                if isinstance(created, int | float) and created < since_ms:
                    continue
                recent = True
                if ESCAPED.sub(r"\1", post["commentary"]) == draft.text:
                    return str(post["id"])
            # A short page is the last; a page with nothing as recent as the attempt, too.
            if len(elements) < count or not recent:
                return None
        return None

    def post_made_since(self, account: Account, external_id: str, since: datetime) -> bool:
        """``GET /rest/posts/{url-encoded post URN}`` -> the Post: ``{"id", "author", "commentary",
        "lifecycleState", "createdAt" (ms), "publishedAt", ...}``
        (https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api, "Get
        Posts by URN"), 404 for a post that is not there. The post a DUPLICATE_POST names is adopted
        only if the account wrote it, it is published, and it was created since ``since`` (the first
        attempt, less a minute for LinkedIn's clock): anything older the team posted before."""
        if not POST_URN.fullmatch(external_id):
            return False
        response = self.request("GET", f"/rest/posts/{quote(external_id, safe='')}", account=account)
        post = self.json(response)
        created = post.get("createdAt")
        if isinstance(created, bool) or not isinstance(created, int | float):
            return False
        return (
            post.get("id", external_id) == external_id
            and post.get("author") == account.account_id
            and post.get("lifecycleState") == "PUBLISHED"
            and created >= since.timestamp() * 1000
        )

    backfill_absent = ""

    def backfill_refused(self, account: Account) -> str | None:
        return MEMBER_POSTS if account.account_id.startswith("urn:li:person:") else super().backfill_refused(account)

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /rest/posts?q=author&author=<org urn>&sortBy=CREATED&count=100&start=N`` -> ``{"elements":
        [{"id": "urn:li:share:…" | "urn:li:ugcPost:…", "author", "commentary", "lifecycleState",
        "createdAt", "publishedAt" (ms)}], "paging": {"start", "count", "links"}}``, newest created first
        (https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api, "Find Posts
        by Authors"; r_organization_social). The cursor is the next ``start``. Only the organization's
        published posts: a draft or a post another author made is left out. A member's posts need a
        permission planrrr does not have (MEMBER_POSTS): never asked for."""
        refused = self.backfill_refused(account)
        if refused:
            raise PermanentError(refused)
        start = int(cursor) if cursor and cursor.isdigit() else 0
        params = {"q": "author", "author": account.account_id, "sortBy": "CREATED", "count": POSTS_PAGE, "start": start}
        response = self.request("GET", "/rest/posts", params=params, account=account)
        elements = self.json(response).get("elements")
        if not isinstance(elements, list):
            raise self.malformed(response, "no elements list")
        listed, past = [], False
        for post in elements:
            if not isinstance(post, dict) or not isinstance(post.get("id"), str) or not post["id"]:
                continue
            created = post.get("publishedAt") or post.get("createdAt")
            if isinstance(created, bool) or not isinstance(created, int | float) or not 0 < created < 2**53:
                continue
            if post.get("author", account.account_id) != account.account_id or post.get("lifecycleState") not in (
                None,
                "PUBLISHED",
            ):
                continue
            at = datetime.fromtimestamp(created / 1000, tz=UTC)
            if at < since:
                past = True
                continue
            text = ESCAPED.sub(r"\1", str(post.get("commentary") or ""))[:300]
            listed.append(ListedPost(post["id"], at, text, f"https://www.linkedin.com/feed/update/{post['id']}/"))
        more = not past and len(elements) >= POSTS_PAGE
        return listed, (str(start + len(elements)) if more else None)

    def comment(self, account: Account, draft: Draft) -> str:
        """``POST /rest/socialActions/{url-encoded post URN}/comments`` ``{"actor", "object",
        "message": {"text"}}`` -> 201 with the Comment (its ``id``; also ``x-restli-id``)
        (https://learn.microsoft.com/linkedin/marketing/community-management/shares/comments-api)."""
        payload = {"actor": account.account_id, "object": draft.reply_to, "message": {"text": little_text(draft.text)}}
        response = self.request("POST", self.comments_path(draft.reply_to), account=account, json=payload)
        comment_id = response.headers.get("x-restli-id")
        if not comment_id and response.content:
            comment_id = self.json(response).get("id")
        if not comment_id:
            raise self.malformed(response, "no comment id")
        return str(comment_id)

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        response = self.request("GET", self.comments_path(draft.reply_to), account=account, params={"count": 100})
        elements = self.json(response).get("elements")
        if not isinstance(elements, list):
            raise self.malformed(response, "no elements list")
        for item in elements:
            message = item.get("message") if isinstance(item, dict) else None
            if (
                isinstance(message, dict)
                and ESCAPED.sub(r"\1", str(message.get("text"))) == draft.text
                and item.get("id")
            ):
                return str(item["id"])
        return None

    # --- engagement figures ----------------------------------------------------------------

    def metrics_refused(self, account: Account) -> str | None:
        if account.account_id.startswith("urn:li:person:"):
            return (
                "LinkedIn gives the figures of a member's posts only to apps approved for its Community "
                "Management API (memberCreatorPostAnalytics): planrrr reads the figures of organization "
                "pages only."
            )
        return super().metrics_refused(account)

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=
        <org>&shares=List(<share urns>)&ugcPosts=List(<ugcPost urns>)`` -> ``{"elements":
        [{"share" | "ugcPost", "organizationalEntity", "totalShareStatistics": {"impressionCount",
        "uniqueImpressionsCount", "clickCount", "likeCount", "commentCount", "shareCount",
        "engagement"}}]}`` (https://learn.microsoft.com/linkedin/marketing/community-management/
        organizations/share-statistics). Rest.li 2.0 wants each URN encoded inside an unencoded
        ``List(...)``: the query is built here, not by requests."""
        refused = self.metrics_refused(account)
        if refused:
            raise PermanentError(refused)
        query = [("q", "organizationalEntity"), ("organizationalEntity", quote(account.account_id, safe=""))]
        for name, prefix in (("shares", "urn:li:share:"), ("ugcPosts", "urn:li:ugcPost:")):
            urns = [quote(urn, safe="") for urn in external_ids if urn.startswith(prefix)]
            if urns:
                query.append((name, f"List({','.join(urns)})"))
        if len(query) == 2:
            return {}
        path = "/rest/organizationalEntityShareStatistics?" + "&".join(f"{k}={v}" for k, v in query)
        response = self.request("GET", path, account=account)
        elements = self.json(response).get("elements")
        if not isinstance(elements, list):
            raise self.malformed(response, "elements is not a list")
        found = {}
        for element in elements:
            if not isinstance(element, dict) or not isinstance(element.get("totalShareStatistics"), dict):
                continue
            urn = element.get("share") or element.get("ugcPost")
            if isinstance(urn, str):
                found[urn] = Figures.mapped(
                    element["totalShareStatistics"],
                    SHARE_METRICS,
                    expected=SHARE_RAW,
                    lacks=self.metrics_lacks,
                    label="LinkedIn",
                )
        return found

    def account_metrics(self, account: Account) -> Figures:
        """``GET /rest/networkSizes/<org urn>?edgeType=COMPANY_FOLLOWED_BY_MEMBER`` -> ``{"firstDegreeSize":
        N}``, the organization's followers
        (https://learn.microsoft.com/linkedin/marketing/community-management/organizations/organization-lookup-api)."""
        refused = self.metrics_refused(account)
        if refused:
            raise PermanentError(refused)
        path = f"/rest/networkSizes/{quote(account.account_id, safe='')}?edgeType=COMPANY_FOLLOWED_BY_MEMBER"
        body = self.json(self.request("GET", path, account=account))
        return Figures.mapped(body, {FOLLOWERS: ("firstDegreeSize",)}, label="LinkedIn")

    def comments_path(self, urn: str) -> str:
        return f"/rest/socialActions/{quote(urn, safe='')}/comments"

    def authorize(self, account: Account, method: str, kwargs: dict) -> None:
        """``Authorization: Bearer`` plus the versioning headers every call of the REST API carries."""
        super().authorize(account, method, kwargs)
        kwargs["headers"] = {
            "LinkedIn-Version": value_of(API_VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
            **kwargs["headers"],
        }

    def raise_for_response(self, response: requests.Response) -> None:
        if response.ok:
            return
        message = f"LinkedIn API error ({response.status_code}): {_error_text(response)}"
        # 401 {"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401};
        # 65601 "The token used in the request has been revoked by the user".
        # 429 {"serviceErrorCode": 101, "message": "Resource level throttle limit for calls to this
        # resource is reached.", "status": 429}.
        # 422 {"errorDetails": {"inputErrors": [{"code": "DUPLICATE_POST", "description": ...}]},
        # "message": "Content is a duplicate of urn:li:share:...", "status": 422}; 400 invalid
        # body; 403 ACCESS_DENIED: the same request will never succeed.
        error = self.status_error(response, message, duplicate="DUPLICATE_POST" in message)
        if isinstance(error, Duplicate):
            error.existing_id = _duplicated_urn(response)
        raise error

    def retry_at(self, response: requests.Response) -> datetime:
        # No reset header is documented; Retry-After is honoured when a proxy sends one.
        return _retry_at(response)


def _error_text(response: requests.Response) -> str:
    """The platform's ``message`` plus the codes of ``errorDetails.inputErrors`` (e.g. DUPLICATE_POST)."""
    body = error_body(response)
    text = str(body.get("message") or (quoted(response) if response.text else "no message"))
    details = body.get("errorDetails")
    input_errors = details.get("inputErrors") if isinstance(details, dict) else None
    codes = [
        str(error["code"])
        for error in (input_errors if isinstance(input_errors, list) else [])
        if isinstance(error, dict) and error.get("code")
    ]
    return f"{text} [{', '.join(codes)}]" if codes else text


def _duplicated_urn(response: requests.Response) -> str | None:
    """The post a DUPLICATE_POST answer names ("Content is a duplicate of urn:li:share:7893…"), in
    its ``message`` or in an inputError's ``description``; None if it names none."""
    body = error_body(response)
    details = body.get("errorDetails")
    input_errors = details.get("inputErrors") if isinstance(details, dict) else None
    texts = [body.get("message")]
    texts += [
        error.get("description")
        for error in (input_errors if isinstance(input_errors, list) else [])
        if isinstance(error, dict)
    ]
    for text in texts:
        found = POST_URN.search(text) if isinstance(text, str) else None
        if found:
            return found.group()
    return None


def _retry_at(response: requests.Response) -> datetime:
    """Retry-After in seconds or as an HTTP date, at most MAX_WAIT ahead (``Retry-After:
    999999999999`` overflowed ``datetime``), else RATE_LIMIT_DEFAULT_BACKOFF_SECONDS."""
    retry_at = time_from_retry_after(response.headers.get("Retry-After"), what="LinkedIn Retry-After")
    return retry_at or timezone.now() + timedelta(seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS)
