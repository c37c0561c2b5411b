"""Mastodon, on the connection's instance (https://docs.joinmastodon.org/methods/statuses/).

``POST /api/v1/statuses`` ``{"status", "media_ids": [...], "visibility"}`` with the user's token
as ``Authorization: Bearer`` -> 200 Status (``id`` a string, ``url``, ``uri``, ``created_at``,
``content`` HTML, ``in_reply_to_id``).

Did an attempt whose answer was lost make its status? The account's own statuses say
(``find_published``): ``GET /api/v1/accounts/:id/statuses`` lists them newest first, and the
status is the one made since the attempt began, replying to what it replied to, with its text.
Each status is also sent with an ``Idempotency-Key`` (the same at every attempt, unique to the
publication, its part or its comment and to this installation), and the instance answers a
repeat with the status it already made, but only for an hour ("Idempotency keys are stored for
up to 1 hour", https://docs.joinmastodon.org/methods/statuses/#create; ``PostStatusService``:
``redis.setex(idempotency_key, 3_600, @status.id)``, set only once the status is made). planrrr
may wait longer than that before trying again (a rate limit of 300 statuses per 3 hours, a
person retrying a failed publication, a reconnect), so the key is a second guard, never the
look-up.

Images: ``POST /api/v2/media`` (multipart ``file``, ``description``) -> 200 when processed, or 202
with ``"url": null`` while the instance works on it; ``GET /api/v1/media/:id`` answers 206 until
it is done, then 200. A status may only attach finished media: while one is processing the
attempt ends NotReady and looks again shortly.

Threads and first comments are replies: ``in_reply_to_id`` the status replied to, the same
``visibility`` as the post (unset, a status takes the account's default privacy, which may hide a
part from the public the post reached), and an Idempotency-Key of their own (given by the publish
path: a part's names the publication and the part, a first comment's the post's status). A reply
to a status that is not there (deleted) is 404 ``{"error": "The post you are trying to reply to
does not appear to exist."}``: permanent.

Limits are the instance's, from ``GET /api/v2/instance`` ``configuration.statuses`` (characters,
attachments, characters reserved per URL), cached MASTODON_INSTANCE_CACHE_SECONDS per instance;
Mastodon's defaults (500, 4, 23) only when the instance cannot be read. Tokens do not expire but
can be revoked: 401 is TokenExpired (the connection must be reconnected).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import regex
import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from connections.platforms.base import Account, Draft, NotReady, PermanentError, PlatformError, Published, parse_time
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
from connections.platforms.http import error_body, quoted
from connections.platforms.instance import InstanceAdapter, normalized_base_url
from connections.platforms.mastodon import DECLARATION, INSTANCE_CACHE_SECONDS
from connections.platforms.media import fetch_media
from planrrr.text import clamp_wait

logger = logging.getLogger("planrrr.connections.mastodon")

# Processing media is looked at again after this long.
MEDIA_POLL_SECONDS = 2
# A URL as Mastodon's length validator finds it (it counts each as characters_reserved_per_url).
URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
# "@user@example.social" counts as "@user": the domain of a remote mention is not counted.
REMOTE_MENTION = re.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w", re.UNICODE)
# What every status planrrr posts is, replies included.
VISIBILITY = "public"
# GET /api/v1/accounts/:id/statuses: at most 40 statuses a page (20 by default).
STATUSES_PAGE = 40


@dataclass(frozen=True)
class Limits:
    """An instance's ``configuration.statuses`` (and the image size limit)."""

    max_characters: int = 500
    max_media_attachments: int = 4
    characters_reserved_per_url: int = 23
    image_size_limit: int = 16 * 1024 * 1024
    # False when these are Mastodon's defaults because the instance could not be read.
    from_instance: bool = True


DEFAULT_LIMITS = Limits(from_instance=False)


def countable_length(text: str, limits: Limits) -> int:
    """The length Mastodon checks against max_characters: every URL counts as
    characters_reserved_per_url, a remote mention as its local part, and characters are
    grapheme clusters (``each_grapheme_cluster`` in its StatusLengthValidator)."""
    text = URL.sub("x" * limits.characters_reserved_per_url, text)
    text = REMOTE_MENTION.sub(r"@\1", text)
    return len(regex.findall(r"\X", text))


# A Status's counts onto the common names: a boost shares it; quotes_count is Mastodon 4.5's and
# joins them where the instance gives it (its absence on older instances is no retired metric).
STATUS_METRICS = {LIKES: ("favourites_count",), COMMENTS: ("replies_count",), SHARES: ("reblogs_count", "quotes_count")}
STATUS_RAW = ("favourites_count", "replies_count", "reblogs_count")


# How long an instance whose limits could not be read is not asked again (its posts are checked
# against Mastodon's defaults meanwhile), and the (connect, read) timeouts of that read: it runs
# while a person or a program waits on a post's validation.
LIMITS_RETRY_SECONDS = 300
LIMITS_TIMEOUT = (3.0, 5.0)


class MastodonAdapter(InstanceAdapter):
    declaration = DECLARATION
    # Mastodon's defaults, the class's declared limits; each instance's own are read from it.
    max_text_length = DEFAULT_LIMITS.max_characters
    max_images = DEFAULT_LIMITS.max_media_attachments
    # A thread part and a first comment are statuses replying to another (in_reply_to_id): a
    # first comment has a status's limit (Mastodon's default 500 at the door; an instance's own
    # when it is sent).
    supports_threads = True
    max_comment_length = DEFAULT_LIMITS.max_characters
    takes_idempotency_key = True
    # One status a call (GET /api/v1/statuses/:id; the batch GET /api/v1/statuses?id[]= exists only
    # from Mastodon 4.3), a fifth of the 300 requests per 5 minutes an account may make
    # (https://docs.joinmastodon.org/api/rate-limits/), which publishing shares.
    # A thread's replies are posts of their own, each with its counts.
    metrics_parts = True
    metrics_batch = 1
    metrics_budget = (60, 5 * 60)
    metrics_lacks = {
        VIEWS: "Mastodon counts no views.",
        REACH: "Mastodon counts no reach.",
        SAVES: "Mastodon keeps bookmarks private: no count.",
        CLICKS: "Mastodon counts no link clicks.",
        VIDEO_VIEWS: "Mastodon counts no video views.",
    }

    # --- limits --------------------------------------------------------------------------

    def limits(self, base_url: str) -> Limits:
        """The instance's limits, cached; DEFAULT_LIMITS when there is no instance or it cannot
        be read now (validation must not fail because an instance is slow or down). An instance
        that could not be read is not asked again for LIMITS_RETRY_SECONDS: a bulk of 500 posts
        for its accounts, or a day of them through the API, waited on it once each before."""
        base = normalized_base_url(base_url)
        if not base:
            return DEFAULT_LIMITS
        key = f"planrrr:mastodon-instance:{base}"
        cached = cache.get(key)
        if isinstance(cached, dict):
            return DEFAULT_LIMITS if cached.get("unreadable") else Limits(**cached)
        try:
            limits = self.read_limits(Account(account_id="", access_token="", base_url=base), timeout=LIMITS_TIMEOUT)
        except PlatformError as err:
            logger.warning(
                "Could not read the limits of %s (Mastodon's defaults apply; asked again in %d s): %s",
                base,
                LIMITS_RETRY_SECONDS,
                err.message,
            )
            cache.set(key, {"unreadable": True}, LIMITS_RETRY_SECONDS)
            return DEFAULT_LIMITS
        cache.set(key, asdict(limits), value_of(INSTANCE_CACHE_SECONDS))
        return limits

    def read_limits(self, account: Account, *, timeout: tuple[float, float] | None = None) -> Limits:
        # GET /api/v2/instance (public) -> {"configuration": {"statuses": {"max_characters": 500,
        # "max_media_attachments": 4, "characters_reserved_per_url": 23}, "media_attachments":
        # {"image_size_limit": 16777216, ...}}, ...}
        options = {"timeout": timeout} if timeout is not None else {}
        response = self.send("GET", self.url(account, "/api/v2/instance"), **options)
        self.raise_for_response(response)
        configuration = self.json(response).get("configuration")
        if not isinstance(configuration, dict):
            raise self.malformed(response, "no configuration")
        statuses = configuration.get("statuses") if isinstance(configuration.get("statuses"), dict) else {}
        media = configuration.get("media_attachments")
        media = media if isinstance(media, dict) else {}

        def number(source: dict, name: str) -> int:
            value = source.get(name)
            default = getattr(DEFAULT_LIMITS, name)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

        return Limits(
            max_characters=number(statuses, "max_characters"),
            max_media_attachments=number(statuses, "max_media_attachments"),
            characters_reserved_per_url=number(statuses, "characters_reserved_per_url"),
            image_size_limit=number(media, "image_size_limit"),
        )

    def text_length(self, text: str) -> int:
        """As Mastodon counts with its default limits (a URL as 23): what the door measures a
        first comment with."""
        return countable_length(text, DEFAULT_LIMITS)

    def text_count(self, text: str, *, base_url: str = "") -> tuple[int, int]:
        """As the account's instance counts, against its own limit."""
        limits = self.limits(base_url)
        return countable_length(text, limits), limits.max_characters

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        limits = self.limits(base_url)
        where = "This Mastodon instance" if limits.from_instance else "Mastodon"
        problems = []
        length = countable_length(text, limits)
        if length > limits.max_characters:
            problems.append(
                f"Mastodon allows at most {limits.max_characters:,} characters; this post has {length:,}. "
                f"Shorten it by {length - limits.max_characters:,}."
            )
        if len(media_urls) > limits.max_media_attachments:
            problems.append(
                f"{where} takes at most {limits.max_media_attachments} images; this post has {len(media_urls)}."
            )
        return problems

    # --- publishing ----------------------------------------------------------------------

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft, base_url=account.base_url)
        payload: dict[str, Any] = {"status": draft.text, "visibility": VISIBILITY}
        if draft.media_urls:
            payload["media_ids"] = self.upload_media(account, draft)
        if draft.reply_to:
            payload["in_reply_to_id"] = draft.reply_to
        headers = {"Idempotency-Key": draft.idempotency_key} if draft.idempotency_key else {}
        response = self.request(
            "POST", self.url(account, "/api/v1/statuses"), account=account, json=payload, headers=headers
        )
        # -> 200 {"id": "103270115826048975", "uri": "...", "url": "https://mastodon.social/@x/1032...", ...}
        status = self.json(response)
        if not status.get("id") or not isinstance(status["id"], str | int):
            raise self.malformed(response, "no status id")
        return Published(
            external_id=str(status["id"]),
            url=str(status.get("url") or status.get("uri") or ""),
            slow_down_until=self.exhausted_until(response),
        )

    def stage(self, account: Account, draft: Draft) -> None:
        """Upload the images ahead of the slot (their processing then is over by the time)."""
        self.refuse_invalid(draft, base_url=account.base_url)
        if draft.media_urls:
            try:
                self.upload_media(account, draft)
            except NotReady:
                pass  # still processing: publish looks again

    def upload_media(self, account: Account, draft: Draft) -> list[str]:
        """Upload each image not uploaded yet (ids kept in state["mediaIds"] one by one), then make
        sure every one is processed (state["mediaReady"]); NotReady while one is not."""
        media_ids = [str(media_id) for media_id in draft.state.get("mediaIds", [])][: len(draft.media_urls)]
        ready = {str(media_id) for media_id in draft.state.get("mediaReady", [])}
        limit = self.limits(account.base_url).image_size_limit
        for url in draft.media_urls[len(media_ids) :]:
            media = fetch_media(url)
            if len(media.content) > limit:
                raise PermanentError(
                    f"This Mastodon instance takes images of at most {limit:,} bytes; {url} has "
                    f"{len(media.content):,}: use a smaller image."
                )
            response = self.request(
                "POST",
                self.url(account, "/api/v2/media"),
                account=account,
                files={"file": (media.filename, media.content, media.content_type)},
            )
            # -> 200 {"id": "22348641", "type": "image", "url": "https://…"} when processed, or
            # 202 with "url": null while the instance still works on it.
            body = self.json(response)
            if not body.get("id"):
                raise self.malformed(response, f"no media id for {url}")
            media_ids.append(str(body["id"]))
            if response.status_code == 200 and body.get("url"):
                ready.add(str(body["id"]))
            draft.state["mediaIds"] = list(media_ids)
            draft.state["mediaReady"] = sorted(ready)
        for media_id in media_ids:
            if media_id in ready:
                continue
            # GET /api/v1/media/:id -> 206 Partial Content while processing, 200 once done.
            response = self.request("GET", self.url(account, f"/api/v1/media/{media_id}"), account=account)
            if response.status_code == 206:
                raise NotReady(
                    f"Mastodon is still processing image {media_id}: looking again in {MEDIA_POLL_SECONDS} s.",
                    retry_at=timezone.now() + timedelta(seconds=MEDIA_POLL_SECONDS),
                )
            ready.add(media_id)
            draft.state["mediaReady"] = sorted(ready)
        return media_ids

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /api/v1/accounts/:id/statuses?limit=40&exclude_reblogs=true`` (``max_id``: the
        cursor) -> [Status], newest first; the listing ends at the first status before ``since``."""
        account_id = account.account_id.split("@", 1)[0]
        params: dict[str, Any] = {"limit": STATUSES_PAGE, "exclude_reblogs": "true"}
        if cursor:
            params["max_id"] = cursor
        response = self.request(
            "GET", self.url(account, f"/api/v1/accounts/{account_id}/statuses"), account=account, params=params
        )
        try:
            statuses = response.json()
        except ValueError:
            raise self.malformed(response, "not JSON") from None
        if not isinstance(statuses, list):
            raise self.malformed(response, "expected a list of statuses")
        listed, past = [], False
        for status in statuses:
            created = parse_time(status.get("created_at")) if isinstance(status, dict) else None
            if created is None or not status.get("id") or status.get("reblog"):
                continue
            if created < since:
                past = True
                break
            text = text_of(status.get("content"))[:300]
            listed.append(ListedPost(str(status["id"]), created, text, str(status.get("url") or "")[:500]))
        last = statuses[-1].get("id") if statuses and isinstance(statuses[-1], dict) else None
        more = not past and len(statuses) >= STATUSES_PAGE and last
        return listed, (str(last) if more else None)

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The status this draft is, if an attempt since ``since`` made it: among the account's
        own statuses, newest first, the one created since then that replies to ``draft.reply_to``
        (to nothing for a post), with as many media and the same text. None if there is none
        within RECONCILE_MAX_PAGES pages.

        ``GET /api/v1/accounts/:id/statuses?limit=40&exclude_reblogs=true`` (max_id for the
        next page; https://docs.joinmastodon.org/methods/accounts/#statuses) -> [Status], newest
        first. A Status has no text, only ``content``: the HTML Mastodon renders from it
        (https://docs.joinmastodon.org/entities/Status/#content; ``text`` only comes back
        when a status is deleted), so both are compared as ``comparable`` text. ``:id`` is the
        account's id on its instance, the part of the connection's ``<id>@<host>`` before the @.
        Mastodon's statuses are read from its database, so a status made is listed at once."""
        account_id = account.account_id.split("@", 1)[0]
        wanted = comparable(draft.text)
        params: dict[str, Any] = {"limit": STATUSES_PAGE, "exclude_reblogs": "true"}
        url = self.url(account, f"/api/v1/accounts/{account_id}/statuses")
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", url, account=account, params=params)
            try:
                statuses = response.json()
            except ValueError:
                raise self.malformed(response, "not JSON") from None
            if not isinstance(statuses, list):
                raise self.malformed(response, "expected a list of statuses")
            if not all(isinstance(status, dict) for status in statuses):
                raise self.malformed(response, "a status is not an object")
            past = False
            for status in statuses:
                if not status.get("id") or status.get("reblog"):
                    continue
                created = parse_time(status.get("created_at"))
                if created is not None and created < since:
                    past = True  # newest first: the rest of the page, and the pages after, are older
                    break
                if (
                    str(status.get("in_reply_to_id") or "") == draft.reply_to
                    and len(status.get("media_attachments") or []) == len(draft.media_urls)
                    and comparable(text_of(status.get("content"))) == wanted
                ):
                    return str(status["id"])
            last = statuses[-1].get("id") if statuses else None
            if past or len(statuses) < STATUSES_PAGE or not last:
                return None
            params["max_id"] = str(last)
        return None

    def comment(self, account: Account, draft: Draft) -> str:
        """Mastodon has no comments: the first comment is a reply to the post (``draft.reply_to``),
        with the key the caller gives it."""
        return self.publish(account, draft).external_id

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """Among the account's statuses, as a thread part: the reply to the post with this text."""
        return self.find_published(account, draft, since)

    # --- engagement figures --------------------------------------------------------------

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /api/v1/statuses/:id`` -> Status with ``favourites_count``, ``reblogs_count``,
        ``replies_count`` (and ``quotes_count`` from 4.5) (https://docs.joinmastodon.org/entities/Status/);
        a deleted status is 404 ``{"error": "Record not found"}``: left out."""
        found = {}
        for status_id in external_ids:
            try:
                response = self.request("GET", self.url(account, f"/api/v1/statuses/{status_id}"), account=account)
            except PermanentError as err:
                if err.status_code == 404:
                    continue
                raise
            status = self.json(response)
            found[status_id] = Figures.mapped(
                status, STATUS_METRICS, expected=STATUS_RAW, lacks=self.metrics_lacks, label="Mastodon"
            )
        return found

    def account_metrics(self, account: Account) -> Figures:
        """``GET /api/v1/accounts/verify_credentials`` -> Account with ``followers_count``,
        ``following_count``, ``statuses_count``."""
        response = self.request("GET", self.url(account, "/api/v1/accounts/verify_credentials"), account=account)
        body = self.json(response)
        raw = {name: body[name] for name in ("followers_count", "following_count", "statuses_count") if name in body}
        return Figures.mapped(raw, {FOLLOWERS: ("followers_count",)}, label="Mastodon")

    # --- errors and rate limits ----------------------------------------------------------

    def raise_for_response(self, response: requests.Response) -> None:
        if response.ok:
            return
        body = error_body(response)
        words = body.get("error") or (quoted(response) if response.text else "no message")
        if body.get("error_description"):
            words = f"{words}: {body['error_description']}"
        message = f"Mastodon API error ({response.status_code}): {words}"
        # 401 {"error": "The access token is invalid"} (revoked; tokens do not expire): reconnect.
        # 429 {"error": "Too many requests"} with X-RateLimit-Reset (ISO 8601).
        # 422 {"error": "Validation failed: Text character limit of 500 exceeded"}, 403, and 404
        # (a reply: {"error": "The post you are trying to reply to does not appear to exist."}):
        # the same request will never succeed. 5xx: the instance may have acted.
        raise self.status_error(response, message)

    def retry_at(self, response: requests.Response) -> datetime:
        return self.reset_at(response) or timezone.now() + timedelta(
            seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS
        )

    def reset_at(self, response: requests.Response) -> datetime | None:
        """X-RateLimit-Reset (ISO 8601, "2026-11-30T07:10:00.123456Z") at most MAX_WAIT ahead and
        at least a second."""
        reset = parse_time(response.headers.get("X-RateLimit-Reset"))
        if reset is None:
            return None
        now = timezone.now()
        return max(clamp_wait(reset, what="Mastodon X-RateLimit-Reset", now=now), now + timedelta(seconds=1))

    def exhausted_until(self, response: requests.Response) -> datetime | None:
        """After a success that used the last request of the window: wait for its reset."""
        if response.headers.get("X-RateLimit-Remaining") == "0":
            return self.reset_at(response)
        return None


class _Text(HTMLParser):
    """The text of a status's ``content``: what its text nodes say (an ``invisible`` span holds
    the hidden part of a link, so a link reads as the whole URL), a line break for ``<br>``, a
    blank line between paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(content: Any) -> str:
    """The text Mastodon rendered as ``content`` (HTML), as far as it can be read back."""
    if not isinstance(content, str):
        return ""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts)


def comparable(text: str) -> str:
    """A status's text as it can be compared with what Mastodon renders of it: a mention of a
    remote account shows only its local name (``@dana@example.social`` reads ``@dana``), and
    line breaks, paragraphs and runs of spaces are not told apart."""
    text = REMOTE_MENTION.sub(r"@\1", unicodedata.normalize("NFC", text))
    return " ".join(text.split())
