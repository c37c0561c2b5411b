"""Bluesky, through the account's PDS (AT Protocol XRPC; https://docs.bsky.app).

A post is an ``app.bsky.feed.post`` record written with ``POST /xrpc/com.atproto.repo.createRecord``
``{"repo": <did>, "collection": "app.bsky.feed.post", "rkey": <tid>, "record": {...}}`` ->
``{"uri": "at://did:plc:…/app.bsky.feed.post/<rkey>", "cid": "bafyrei…", "commit": {...}}``.

The record key is chosen here, before the first attempt, and kept in the publication's state
(``state["rkey"]``): "did it go out?" is then one ``com.atproto.repo.getRecord`` of that key,
never a search of recent posts. Writing a key that already exists answers 500
``InternalServerError``, so a 500 from createRecord is settled with getRecord at once.

Sessions: the access JWT (``accessJwt``, about 2 hours) is the connection's access token and the
refresh JWT its refresh token, renewed by ``BlueskyClient`` (client.py). An expired access
token is HTTP **400** ``{"error": "ExpiredToken"}``, not 401: it is a TokenExpired, which the
publish path answers by renewing the session once and trying again.

Threads and first comments are replies: ``record["reply"] = {"root": {"uri", "cid"}, "parent":
{"uri", "cid"}}``, strong refs (``app.bsky.feed.post#replyRef``, ``com.atproto.repo.strongRef``):
the parent is the post replied to, the root the first post of the thread (a first comment: the
post itself, both). A part over 300 graphemes is refused like a post. Each part and each first
comment has its own record key, chosen and kept like a post's, so each is found with one
getRecord; ``app.bsky.feed.getAuthorFeed`` is read only for a step begun without one, and it
lags: it is served by the AppView, which indexes the PDS's records after they are written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import regex
import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import (
    Account,
    Draft,
    PermanentError,
    Published,
    TokenExpired,
    TransientError,
    parse_time,
)
from connections.platforms.bluesky import DECLARATION
from connections.platforms.bluesky.richtext import detect_facets, grapheme_count, new_tid
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
from connections.platforms.instance import InstanceAdapter
from connections.platforms.media import fetch_media
from planrrr.text import time_from_epoch, wait_from_seconds

POST_COLLECTION = "app.bsky.feed.post"
# at://<did>/<collection>/<rkey>, the external id of a post (https://atproto.com/specs/at-uri-scheme).
AT_URI = regex.compile(r"^at://(?P<repo>[^/]+)/(?P<collection>[^/]+)/(?P<rkey>[^/]+)$")
# The lexicon's limits for app.bsky.feed.post#text: maxGraphemes 300, maxLength 3000 (bytes).
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3_000
# app.bsky.embed.images: at most 4 images, each blob at most 2,000,000 bytes (since April 2026).
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000

# app.bsky.feed.defs#postView's counts onto the common names: a repost and a quote both share it.
POST_METRICS = {LIKES: ("likeCount",), COMMENTS: ("replyCount",), SHARES: ("repostCount", "quoteCount")}
POST_RAW = ("likeCount", "replyCount", "repostCount", "quoteCount")

# Errors that mean the access token cannot be used: 400 ExpiredToken ("Token has expired"),
# 400 InvalidToken ("Token could not be verified"), 401 AuthMissing / AuthenticationRequired.
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing", "AuthenticationRequired"})


class BlueskyAdapter(InstanceAdapter):
    declaration = DECLARATION
    max_text_length = MAX_GRAPHEMES
    max_images = MAX_IMAGES
    # A thread part and a first comment are posts replying to another (see reply_refs): a first
    # comment has a post's limit, 300 graphemes.
    supports_threads = True
    max_comment_length = MAX_GRAPHEMES
    # app.bsky.feed.getPosts takes up to 25 uris; reads through the PDS count against the per-IP
    # 3,000 requests per 5 minutes (https://docs.bsky.app/docs/advanced-guides/rate-limits).
    # A thread's replies are posts of their own, each with its counts.
    metrics_parts = True
    metrics_batch = 25
    metrics_budget = (150, 5 * 60)
    metrics_lacks = {
        VIEWS: "Bluesky counts no views.",
        REACH: "Bluesky counts no reach.",
        SAVES: "Bluesky does not publish how often a post is saved (bookmarks are private).",
        CLICKS: "Bluesky counts no link clicks.",
        VIDEO_VIEWS: "Bluesky counts no video views.",
    }

    def text_length(self, text: str) -> int:
        return grapheme_count(text)

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        problems = super().validate(text=text, media_urls=media_urls, base_url=base_url)
        size = len(text.encode())
        if size > MAX_TEXT_BYTES:
            problems.append(
                f"Bluesky allows at most {MAX_TEXT_BYTES:,} bytes of text; this post has {size:,} "
                "(long accents and symbols take several bytes each). Shorten it."
            )
        return problems

    # --- publishing ----------------------------------------------------------------------

    def publish(self, account: Account, draft: Draft) -> Published:
        self.refuse_invalid(draft)
        rkey = self.record_key(draft)
        record = self.post_record(account, draft)
        try:
            response = self.request(
                "POST",
                self.url(account, "/xrpc/com.atproto.repo.createRecord"),
                account=account,
                json={"repo": account.account_id, "collection": POST_COLLECTION, "rkey": rkey, "record": record},
            )
        except TransientError as err:
            # 500 {"error": "InternalServerError", "message": "Internal Server Error"} is also what
            # writing an rkey that already exists answers: if the record is there, it is ours.
            if err.status_code == 500 and (found := self.get_record(account, rkey)) is not None:
                return self._published(account, rkey, found)
            raise
        # -> {"uri": "at://did:plc:…/app.bsky.feed.post/3l…", "cid": "bafyrei…", "commit": {"cid", "rev"}}
        body = self.json(response)
        if not isinstance(body.get("uri"), str) or not body.get("cid"):
            raise self.malformed(response, "no uri and cid")
        return self._published(account, rkey, body)

    def _published(self, account: Account, rkey: str, body: dict) -> Published:
        uri = str(body["uri"])
        return Published(
            external_id=uri,
            url=f"https://bsky.app/profile/{account.account_id}/post/{rkey}",
            # A reply names its root and parent by uri and cid.
            metadata={"cid": str(body.get("cid") or "")},
        )

    def prepare(self, draft: Draft) -> bool:
        """The record key, chosen before the first request and written on the row before it
        goes out (see Adapter.prepare): a worker killed while the PDS writes the record leaves
        the key, and the next attempt finds the record at it."""
        if draft.state.get("rkey"):
            return False
        self.record_key(draft)
        return True

    def record_key(self, draft: Draft) -> str:
        """This publication's (or thread part's) rkey, chosen on its first attempt and kept in
        its state (``prepare``: saved before the request that writes it), with the record's
        createdAt beside it."""
        if not draft.state.get("rkey"):
            draft.state["rkey"] = new_tid()
            draft.state["createdAt"] = timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(draft.state["rkey"])

    def post_record(self, account: Account, draft: Draft) -> dict[str, Any]:
        """The app.bsky.feed.post record: text, createdAt, ``reply`` for a reply, facets, images."""
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": draft.text,
            "createdAt": draft.state.get("createdAt") or timezone.now().isoformat().replace("+00:00", "Z"),
        }
        if draft.reply_to:
            record["reply"] = self.reply_refs(account, draft)
        facets = self.facets(account, draft)
        if facets:
            record["facets"] = facets
        blobs = self.upload_images(account, draft)
        if blobs:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                # alt is required by the lexicon; planrrr has no alt text to give yet.
                "images": [{"alt": "", "image": blob} for blob in blobs],
            }
        return record

    def reply_refs(self, account: Account, draft: Draft) -> dict[str, dict[str, str]]:
        """``{"root": {"uri", "cid"}, "parent": {"uri", "cid"}}`` for a reply to ``draft.reply_to``
        in the thread started by ``draft.reply_root`` (the parent itself when not given).

        The publish path hands a step only the URIs of the steps before it (their external ids);
        a strong ref also needs the record's cid, which it does not keep. So the cids are read
        with ``com.atproto.repo.getRecord`` (one read when root and parent are one post: a
        thread's second part, a first comment) and kept in the step's own state
        (``state["reply"]``), so that a retry of the step sends the same record without asking
        again. Keeping every step's cid in the publish core instead would give its platform-blind
        ``parts`` a Bluesky-only shape; a getRecord is one cheap read from the PDS that holds the
        records, and it also says a parent was deleted before a reply is sent to it."""
        root_uri = draft.reply_root or draft.reply_to
        kept = draft.state.get("reply")
        if (
            isinstance(kept, dict)
            and isinstance(kept.get("parent"), dict)
            and isinstance(kept.get("root"), dict)
            and kept["parent"].get("uri") == draft.reply_to
            and kept["root"].get("uri") == root_uri
            and kept["parent"].get("cid")
            and kept["root"].get("cid")
        ):
            return kept
        parent = self.strong_ref(account, draft.reply_to)
        root = parent if root_uri == draft.reply_to else self.strong_ref(account, root_uri)
        draft.state["reply"] = {"root": root, "parent": parent}
        return draft.state["reply"]

    def strong_ref(self, account: Account, uri: str) -> dict[str, str]:
        """``{"uri", "cid"}`` of the post at ``uri``, read with getRecord. PermanentError when it is
        not there (deleted): a reply to it would hang from nothing."""
        match = AT_URI.match(uri)
        if match is None:
            raise PermanentError(f"{uri!r} is not the at:// URI of a Bluesky post: there is nothing to reply to.")
        found = self.get_record(account, match["rkey"], repo=match["repo"], collection=match["collection"])
        if found is None or not found.get("cid"):
            raise PermanentError(f"Bluesky has no post {uri} to reply to (was it deleted?).")
        return {"uri": uri, "cid": str(found["cid"])}

    def facets(self, account: Account, draft: Draft) -> list[dict[str, Any]]:
        """Facets with each mention's handle resolved to its DID (kept in state["mentions"], so a
        retry asks once); a handle that does not resolve stays plain text."""
        resolved: dict[str, str | None] = dict(draft.state.get("mentions") or {})
        facets = []
        for facet in detect_facets(draft.text):
            handle = facet.pop("handle", None)
            if handle is None:
                facets.append(facet)
                continue
            if handle.lower() not in resolved:
                resolved[handle.lower()] = self.resolve_handle(account, handle)
                draft.state["mentions"] = dict(resolved)
            did = resolved[handle.lower()]
            if did:
                facets.append({**facet, "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]})
        return facets

    def resolve_handle(self, account: Account, handle: str) -> str | None:
        """``GET /xrpc/com.atproto.identity.resolveHandle?handle=`` -> {"did"}; None when the
        handle does not resolve (400 InvalidRequest "Unable to resolve handle")."""
        try:
            response = self.request(
                "GET",
                self.url(account, "/xrpc/com.atproto.identity.resolveHandle"),
                account=account,
                params={"handle": handle},
            )
        except PermanentError:
            return None
        did = self.json(response).get("did")
        return did if isinstance(did, str) and did.startswith("did:") else None

    def upload_images(self, account: Account, draft: Draft) -> list[dict]:
        """``POST /xrpc/com.atproto.repo.uploadBlob`` with each image's bytes; each blob is kept in
        state["blobs"] (its CID in state["mediaIds"]) once uploaded, so a retry uploads the rest."""
        blobs = [blob for blob in draft.state.get("blobs", []) if isinstance(blob, dict)][: len(draft.media_urls)]
        for url in draft.media_urls[len(blobs) :]:
            media = fetch_media(url)
            if len(media.content) > MAX_IMAGE_BYTES:
                raise PermanentError(
                    f"Bluesky takes images of at most {MAX_IMAGE_BYTES:,} bytes; {url} has {len(media.content):,}: "
                    "use a smaller image."
                )
            response = self.request(
                "POST",
                self.url(account, "/xrpc/com.atproto.repo.uploadBlob"),
                account=account,
                data=media.content,
                headers={"Content-Type": media.content_type},
            )
            # -> {"blob": {"$type": "blob", "ref": {"$link": "bafkrei…"}, "mimeType": "image/png", "size": 1234}}
            blob = self.json(response).get("blob")
            if not isinstance(blob, dict) or not isinstance(blob.get("ref"), dict) or not blob["ref"].get("$link"):
                raise self.malformed(response, f"no blob ref for {url}")
            blobs.append(blob)
            draft.state["blobs"] = list(blobs)
            draft.state["mediaIds"] = [b["ref"]["$link"] for b in blobs]
        return blobs

    # --- reconciliation ------------------------------------------------------------------

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """The record at this step's rkey, if an earlier attempt wrote it: one getRecord.

        The rkey is written on the row before the request that uses it goes out (``prepare``),
        so even a worker killed mid-request leaves it. A part without one (a row from before
        that, or a lost write) is searched for among the account's recent posts, by its text
        and the post it replies to, which makes the match exact. A post of its own without one
        is not searched for: text alone could match an older post of the same words."""
        rkey = draft.state.get("rkey")
        if not rkey:
            if draft.reply_to:
                return self.find_in_feed(account, draft.text, reply_to=draft.reply_to, since=since)
            return None
        found = self.get_record(account, str(rkey))
        return str(found["uri"]) if found else None

    backfill_absent = ""

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """``GET /xrpc/app.bsky.feed.getAuthorFeed?actor&filter=posts_with_replies&limit=100``
        (``cursor``) -> ``{"feed": [{"post": {"uri", "record": {"text", "createdAt"}}, "reason"?}],
        "cursor"?}``, newest first: the account's own posts (a repost shows another's: left out)."""
        params: dict[str, Any] = {"actor": account.account_id, "filter": "posts_with_replies", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = self.request(
            "GET", self.url(account, "/xrpc/app.bsky.feed.getAuthorFeed"), account=account, params=params
        )
        body = self.json(response)
        feed = body.get("feed")
        if not isinstance(feed, list):
            raise self.malformed(response, "feed is not a list")
        own, listed, past = f"at://{account.account_id}/", [], False
        for item in feed:
            post = item.get("post") if isinstance(item, dict) else None
            record = post.get("record") if isinstance(post, dict) else None
            uri = post.get("uri") if isinstance(post, dict) else None
            if (
                not isinstance(record, dict)
                or not isinstance(uri, str)
                or not uri.startswith(own)
                or item.get("reason")
            ):
                continue
            created = parse_time(record.get("createdAt"))
            if created is None:
                continue
            if created < since:
                past = True
                continue
            listed.append(ListedPost(uri, created, str(record.get("text") or "")[:300]))
        return listed, (str(body["cursor"]) if body.get("cursor") and not past else None)

    def find_in_feed(self, account: Account, text: str, *, reply_to: str, since: datetime) -> str | None:
        """The URI of the account's own post with exactly ``text``, replying to ``reply_to`` (or to
        nothing when it is ""), created since ``since``; None if there is none.

        ``GET /xrpc/app.bsky.feed.getAuthorFeed?actor&filter&limit&cursor`` -> {"feed": [{"post":
        {"uri", "cid", "author": {"did"}, "record": {"text", "createdAt", "reply"?}}, "reply"?,
        "reason"?}], "cursor"?}, newest first. The filter is named though ``posts_with_replies``
        is the default: thread parts and comments are replies, which ``posts_no_replies`` leaves
        out and ``posts_and_author_threads`` keeps only within the author's own threads."""
        params: dict[str, Any] = {"actor": account.account_id, "filter": "posts_with_replies", "limit": 100}
        own = f"at://{account.account_id}/"
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request(
                "GET", self.url(account, "/xrpc/app.bsky.feed.getAuthorFeed"), account=account, params=params
            )
            body = self.json(response)
            feed = body.get("feed")
            if not isinstance(feed, list):
                raise self.malformed(response, "feed is not a list")
            past = False
            for item in feed:
                post = item.get("post") if isinstance(item, dict) else None
                record = post.get("record") if isinstance(post, dict) else None
                uri = post.get("uri") if isinstance(post, dict) else None
                # A repost (item["reason"]) shows another account's post: not ours.
                if not isinstance(record, dict) or not isinstance(uri, str) or not uri.startswith(own):
                    continue
                created = parse_time(record.get("createdAt"))
                if created is not None and created < since:
                    # Older than the window: the rest of the feed is older still (a pinned post,
                    # with a reason, may come first out of order).
                    past = past or not item.get("reason")
                    continue
                reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
                parent = reply.get("parent") if isinstance(reply.get("parent"), dict) else {}
                if record.get("text") == text and (parent.get("uri") or "") == reply_to:
                    return uri
            if past or not body.get("cursor"):
                return None
            params["cursor"] = body["cursor"]
        return None

    def comment(self, account: Account, draft: Draft) -> str:
        """Bluesky has no comments: the first comment is a reply to the post (its root and parent),
        written at the record key ``prepare`` chose and the caller kept before sending it."""
        return self.publish(account, draft).external_id

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """One getRecord of the comment's record key, as for a post: never a search of
        getAuthorFeed, an AppView read that lags behind the PDS (a reply written seconds ago may
        not be in it yet). A comment without a key (begun before keys were kept) is searched
        for there, by its text and the post it replies to."""
        return self.find_published(account, draft, since)

    def get_record(
        self, account: Account, rkey: str, *, repo: str = "", collection: str = POST_COLLECTION
    ) -> dict | None:
        """``GET /xrpc/com.atproto.repo.getRecord?repo&collection&rkey`` -> {"uri", "cid", "value"},
        or None on 400 ``RecordNotFound``. ``repo``: the account's own by default."""
        try:
            response = self.request(
                "GET",
                self.url(account, "/xrpc/com.atproto.repo.getRecord"),
                account=account,
                params={"repo": repo or account.account_id, "collection": collection, "rkey": rkey},
            )
        except PermanentError as err:
            if "RecordNotFound" in err.message:
                return None
            raise
        body = self.json(response)
        if not isinstance(body.get("uri"), str):
            raise self.malformed(response, "getRecord answered no uri")
        return body

    # --- engagement figures --------------------------------------------------------------

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """``GET /xrpc/app.bsky.feed.getPosts?uris=…&uris=…`` (at most 25) -> ``{"posts": [{"uri",
        "cid", "likeCount", "repostCount", "replyCount", "quoteCount", ...}]}``
        (https://docs.bsky.app/docs/api/app-bsky-feed-get-posts); a deleted post is left out of
        ``posts``. Served by the AppView through the PDS, like getAuthorFeed."""
        response = self.request(
            "GET", self.url(account, "/xrpc/app.bsky.feed.getPosts"), account=account, params={"uris": external_ids}
        )
        posts = self.json(response).get("posts")
        if not isinstance(posts, list):
            raise self.malformed(response, "posts is not a list")
        return {
            str(post["uri"]): Figures.mapped(
                post, POST_METRICS, expected=POST_RAW, lacks=self.metrics_lacks, label="Bluesky"
            )
            for post in posts
            if isinstance(post, dict) and isinstance(post.get("uri"), str)
        }

    def account_metrics(self, account: Account) -> Figures:
        """``GET /xrpc/app.bsky.actor.getProfile?actor=<did>`` -> ``{"did", "handle",
        "followersCount", "followsCount", "postsCount", ...}``."""
        response = self.request(
            "GET",
            self.url(account, "/xrpc/app.bsky.actor.getProfile"),
            account=account,
            params={"actor": account.account_id},
        )
        profile = self.json(response)
        raw = {name: profile[name] for name in ("followersCount", "followsCount", "postsCount") if name in profile}
        return Figures.mapped(raw, {FOLLOWERS: ("followersCount",)}, label="Bluesky")

    # --- errors --------------------------------------------------------------------------

    def raise_for_response(self, response: requests.Response) -> None:
        if response.ok:
            return
        status = response.status_code
        body = error_body(response)
        name = str(body.get("error") or "")
        words = str(body.get("message") or "")
        text = f"{name}: {words}" if name and words else (name or words or (quoted(response) if response.text else ""))
        message = f"Bluesky API error ({status}): {text or 'no message'}"
        if name in TOKEN_ERRORS or status == 401:
            # 400 {"error": "ExpiredToken", "message": "Token has expired"}: the access JWT ended
            # (not a 401, unlike most APIs); the session is renewed and the call made again.
            raise TokenExpired(message, status_code=status)
        # 429 {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"} with RateLimit-Reset;
        # 5xx (500 InternalServerError, also an rkey that exists: see publish) may have acted;
        # 400 InvalidRequest ("Invalid app.bsky.feed.post record: Record/text must not be longer
        # than 300 graphemes"), RecordNotFound, BlobTooLarge: the same request will never succeed.
        raise self.status_error(response, message)

    def retry_at(self, response: requests.Response) -> datetime:
        # RateLimit-Reset: Unix seconds (with RateLimit-Limit, -Remaining, -Policy: 5000;w=3600). The
        # IETF draft these headers come from says delta-seconds instead: a value too small to be a
        # Unix time is read that way.
        value = response.headers.get("RateLimit-Reset")
        try:
            delta = float(value) < 1_000_000_000
        except (TypeError, ValueError):
            delta = False
        what = "Bluesky RateLimit-Reset"
        reset = wait_from_seconds(value, what=what) if delta else time_from_epoch(value, what=what)
        now = timezone.now()
        if reset is None:
            return now + timedelta(seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS)
        return max(reset, now + timedelta(seconds=1))
