"""Bluesky, through the account's PDS (AT Protocol XRPC; https://docs.bsky.app).

A post is an ``app.bsky.feed.post`` record written with ``POST /xrpc/com.atproto.repo.createRecord``
``{"repo": <did>, "collection": "app.bsky.feed.post", "rkey": <tid>, "record": {...}}`` ->
``{"uri": "at://did:plc:…/app.bsky.feed.post/<rkey>", "cid": "bafyrei…", "commit": {...}}``.

The record key is chosen here, before the first attempt, and kept in the publication's state
(``state["rkey"]``): "did it go out?" is then one ``com.atproto.repo.getRecord`` of that key,
never a search of recent posts. Writing a key that already exists answers 500
``InternalServerError``, so a 500 from createRecord is settled with getRecord at once.

Sessions: the access JWT (``accessJwt``, about 2 hours) is the connection's access token and the
refresh JWT its refresh token, renewed by ``connections.oauth.BlueskyClient``. An expired access
token is HTTP **400** ``{"error": "ExpiredToken"}``, not 401: it is a TokenExpired, which the
publish path answers by renewing the session once and trying again.

Threads: ``record["reply"] = {"root": {"uri", "cid"}, "parent": {"uri", "cid"}}``; every post
published keeps its ``cid`` in ``Published.metadata`` for that (see ``post_record``).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import regex
import requests
from django.conf import settings
from django.utils import timezone

from planrrr.text import time_from_epoch, wait_from_seconds

from .base import (
    Account,
    Draft,
    PermanentError,
    Published,
    TokenExpired,
    TransientError,
    error_body,
    quoted,
)
from .instance import InstanceAdapter
from .media import fetch_media

POST_COLLECTION = "app.bsky.feed.post"
# The lexicon's limits for app.bsky.feed.post#text: maxGraphemes 300, maxLength 3000 (bytes).
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3_000
# app.bsky.embed.images: at most 4 images, each blob at most 2,000,000 bytes (since April 2026).
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000

# Errors that mean the access token cannot be used: 400 ExpiredToken ("Token has expired"),
# 400 InvalidToken ("Token could not be verified"), 401 AuthMissing / AuthenticationRequired.
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing", "AuthenticationRequired"})

# Rich text as the Bluesky app detects it (docs.bsky.app, "Links, mentions, and rich text"):
# a mention is @ and a handle (a domain name) after the start, a space or "("; a link is an
# http(s) URL without the punctuation closing the sentence; a tag is # and at least one
# character that is not a digit or punctuation, up to the next space.
MENTION = regex.compile(
    r"(?:^|\s|\()(@(([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))"
)
LINK = regex.compile(r"(?:^|\s|\()(https?://[^\s<>\"]*[^\s<>\".,:;!?'\")\]}])", regex.IGNORECASE)
TAG = regex.compile(
    r"(?:^|\s)([#＃]((?!\ufe0f)[^\s\u00ad\u2060\u200a-\u200d\u20e2]*[^\d\s\p{P}\u00ad\u2060\u200a-\u200d\u20e2]+[^\s\u00ad\u2060\u200a-\u200d\u20e2]*))"
)
TAG_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
MAX_TAG_GRAPHEMES = 64

# TIDs (https://atproto.com/specs/tid): 64 bits, top bit 0, 53 bits of microseconds since the
# Unix epoch and a 10-bit clock id, written in base32-sortable, 13 characters.
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_tid_lock = threading.Lock()
_tid_last = 0
_clock_id = random.SystemRandom().randrange(1024)


def grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, Unicode UAX #29), as the lexicon's
    maxGraphemes counts them: "👍🏽" is one, though two code points."""
    return len(regex.findall(r"\X", text))


def new_tid() -> str:
    """A fresh TID from this process's clock, never the same twice here (monotonic)."""
    global _tid_last
    with _tid_lock:
        micros = max(time.time_ns() // 1000, _tid_last + 1)
        _tid_last = micros
    value = (micros << 10) | _clock_id
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    """A facet's index: UTF-8 byte offsets, end exclusive (app.bsky.richtext.facet#byteSlice)."""
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


def detect_facets(text: str) -> list[dict[str, Any]]:
    """Links, mentions and tags of ``text`` as facets; mentions carry the handle in ``handle``
    for the caller to resolve to a DID (and drop if it does not resolve)."""
    facets = []
    for match in MENTION.finditer(text):
        start, end = match.span(1)
        facets.append({"index": _byte_span(text, start, end), "handle": match.group(2)})
    for match in LINK.finditer(text):
        start, end = match.span(1)
        facets.append(
            {
                "index": _byte_span(text, start, end),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group(1)}],
            }
        )
    for match in TAG.finditer(text):
        tag = TAG_TRAILING_PUNCTUATION.sub("", match.group(2))
        if not tag or grapheme_count(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(1)
        facets.append(
            {
                "index": _byte_span(text, start, start + 1 + len(tag)),
                # The tag without its "#".
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    return sorted(facets, key=lambda facet: facet["index"]["byteStart"])


class BlueskyAdapter(InstanceAdapter):
    platform = "BLUESKY"
    label = "Bluesky"
    max_text_length = MAX_GRAPHEMES
    max_images = MAX_IMAGES

    @property
    def base_url(self) -> str:
        return settings.BLUESKY_PDS_URL.rstrip("/")

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

    def record_key(self, draft: Draft) -> str:
        """This publication's rkey, chosen on its first attempt and kept in its state (saved
        before any later attempt reads it), with the record's createdAt beside it."""
        if not draft.state.get("rkey"):
            draft.state["rkey"] = new_tid()
            draft.state["createdAt"] = timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(draft.state["rkey"])

    def post_record(self, account: Account, draft: Draft) -> dict[str, Any]:
        """The app.bsky.feed.post record: text, createdAt, facets, images (a reply would add
        ``reply``: {"root": {"uri", "cid"}, "parent": {"uri", "cid"}})."""
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": draft.text,
            "createdAt": draft.state.get("createdAt") or timezone.now().isoformat().replace("+00:00", "Z"),
        }
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
        """The record at this publication's rkey, if an earlier attempt wrote it: one getRecord,
        no search. No rkey in the state means no attempt ever sent one."""
        rkey = draft.state.get("rkey")
        if not rkey:
            return None
        found = self.get_record(account, str(rkey))
        return str(found["uri"]) if found else None

    def get_record(self, account: Account, rkey: str) -> dict | None:
        """``GET /xrpc/com.atproto.repo.getRecord?repo&collection&rkey`` -> {"uri", "cid", "value"},
        or None on 400 ``RecordNotFound``."""
        try:
            response = self.request(
                "GET",
                self.url(account, "/xrpc/com.atproto.repo.getRecord"),
                account=account,
                params={"repo": account.account_id, "collection": POST_COLLECTION, "rkey": rkey},
            )
        except PermanentError as err:
            if "RecordNotFound" in err.message:
                return None
            raise
        body = self.json(response)
        if not isinstance(body.get("uri"), str):
            raise self.malformed(response, "getRecord answered no uri")
        return body

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
