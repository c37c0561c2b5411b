"""A Bluesky PDS as a publisher uses it (docs/platforms/bluesky.md), under ``bsky/xrpc/``; its
sessions (createSession, refreshSession) in standin_auth.

* ``POST com.atproto.repo.createRecord`` ``{"repo", "collection", "rkey"?, "record"}`` ->
  ``{"uri": "at://<did>/<collection>/<rkey>", "cid", "commit": {"cid", "rev"}, "validationStatus"}``;
  an rkey that exists: **500** ``InternalServerError``; text over 300 graphemes or 3,000 bytes:
  400 ``InvalidRequest``. A reply (``record.reply`` ``{"root": {"uri", "cid"}, "parent": {"uri",
  "cid"}}``) whose root or parent is not a record here, or not at that cid, or whose root is not
  its parent's root: 400 ``InvalidRequest`` (stricter than the lexicon, which checks only the refs'
  form: a wrong ref fails a test instead of leaving a reply that hangs from nothing).
* ``GET com.atproto.repo.getRecord?repo&collection&rkey`` -> ``{"uri", "cid", "value"}`` or 400
  ``RecordNotFound``.
* ``GET app.bsky.feed.getAuthorFeed?actor&limit&cursor&filter`` -> ``{"feed": [{"post": {"uri",
  "cid", "author", "record", "indexedAt", …}, "reply"?: {"root", "parent"}}], "cursor"?}``, newest
  first; ``filter`` ``posts_with_replies`` (the default), ``posts_no_replies``,
  ``posts_with_media`` or ``posts_and_author_threads``. It is an AppView read: a post shows in it
  ``bluesky_appview_lag_seconds`` after the PDS wrote it (0 by default), as the AppView indexes
  the firehose behind the PDS.
* ``POST com.atproto.repo.uploadBlob`` (raw bytes) -> ``{"blob": {"$type": "blob", "ref":
  {"$link": "bafkrei…"}, "mimeType", "size"}}``; over 2,000,000 bytes: 400 ``BlobTooLarge``.
* ``GET com.atproto.identity.resolveHandle?handle`` -> ``{"did"}`` or 400 "Unable to resolve handle".

Access JWTs carry ``exp`` and expire (``bluesky_access_token_seconds``): an expired one is **400**
``ExpiredToken``, not 401, as Bluesky answers. A made-up bearer token (not one issued here) acts
for a DID derived from it, or for the repo it first writes to, so tests and the bench can paste
one. Errors are ``{"error",
"message"}``; every answer carries ``RateLimit-Limit``, ``-Remaining``, ``-Reset`` (Unix seconds)
and ``-Policy``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from typing import Any

import regex
from django.http import HttpResponse, JsonResponse
from django.urls import include, path

from connections.platforms.bluesky import DECLARATION
from mockapis import engagement
from mockapis.gate import API_ERROR_MESSAGE, CREATE, Call, Dialect, endpoint
from mockapis.media import sniff
from mockapis.records import MEDIA, READ, iso
from mockapis.state import store

# The demo account; any other handle logs in too, as a DID derived from it.
PEOPLE: list[dict[str, Any]] = [
    {"id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "name": "Acme Coffee", "username": "acmecoffee.bsky.social"},
]

POST_COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES, MAX_TEXT_BYTES, MAX_BLOB_BYTES = 300, 3_000, 2_000_000
SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
FEED_FILTERS = ("posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads")
TID = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def cid(data: bytes, *, raw: bool = False) -> str:
    """A CIDv1 of ``data`` as atproto writes them: base32 ("b"), codec raw (0x55, blobs:
    "bafkrei…") or dag-cbor (0x71, records: "bafyrei…"), sha2-256."""
    return "b" + b32(bytes([0x01, 0x55 if raw else 0x71, 0x12, 0x20]) + hashlib.sha256(data).digest())


def did_for(name: str) -> str:
    """did:plc: and 24 base32 characters, derived from ``name`` (a handle, a made-up token)."""
    return "did:plc:" + b32(hashlib.sha256(name.encode()).digest())[:24]


class BlueskyDialect(Dialect):
    platform, label = DECLARATION.name, DECLARATION.label
    platform = "BLUESKY"

    def error(self, status: int, name: str, message: str) -> JsonResponse:
        return JsonResponse({"error": name, "message": message}, status=status)

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        if problem == "missing":
            return self.error(401, "AuthMissing", "Authentication Required")
        if problem == "expired":
            return self.error(400, "ExpiredToken", "Token has expired")
        return self.error(400, "InvalidToken", "Token could not be verified")

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return self.error(400, "InvalidRequest", message)

    def api_error(self, call: Call) -> HttpResponse:
        return self.invalid(call, API_ERROR_MESSAGE)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        return self.error(status, "InternalServerError", (call.rule and call.rule.message) or "Internal Server Error")

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        return self.error(429, "RateLimitExceeded", "Rate Limit Exceeded")

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        # Bluesky refuses no duplicate text; what it refuses is an existing record key.
        return self.server_error(call, 500)

    def headers(self, call: Call, response: HttpResponse) -> None:
        window = call.current_window()
        response["RateLimit-Limit"] = str(window.limit)
        if call.throttled_for is not None:
            response["RateLimit-Remaining"] = "0"
            response["RateLimit-Reset"] = str(math.ceil(time.time() + call.throttled_for))
        else:
            response["RateLimit-Remaining"] = str(window.remaining)
            response["RateLimit-Reset"] = str(math.ceil(window.reset_at))
        response["RateLimit-Policy"] = f"{window.limit};w={math.ceil(window.reset_at - time.time()) or 1}"


BLUESKY = BlueskyDialect()


def token_did(call: Call, kwargs: dict | None = None) -> str:
    """The DID a bearer token acts for: the session's, or one derived from a made-up token."""
    if not call.token:
        return ""
    issued = store.issued_token(call.token)
    if issued:
        return issued.account
    bound = store.token_account(call.token)
    return bound["account"] if bound else did_for(call.token)


def person(identifier: str) -> dict[str, str]:
    """The demo identity with this handle or DID, or one made up for any other handle."""
    for known in PEOPLE:
        if identifier in (known["id"], known["username"]):
            return {"did": known["id"], "handle": known["username"]}
    if identifier.startswith("did:"):
        return {"did": identifier, "handle": f"{identifier.rsplit(':', 1)[-1][:10]}.bsky.social"}
    return {"did": did_for(identifier), "handle": identifier}


def _made_up(token: str | None) -> bool:
    return bool(token) and store.issued_token(token) is None and store.token_account(token) is None


def _graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


@endpoint(BLUESKY, {"POST": CREATE}, account=token_did)
def create_record(call: Call) -> HttpResponse:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("record"), dict):
        return BLUESKY.invalid(call, 'Input must have the property "record"')
    repo, collection, record = body.get("repo"), body.get("collection"), body["record"]
    if isinstance(repo, str) and repo.startswith("did:") and _made_up(call.token):
        # A pasted token (the bench's) acts for the repo it first writes to, as X's do for the
        # timeline they first read.
        store.bind_token("BLUESKY", call.token, repo)
        call.account = repo
    if repo not in (call.account, person(call.account)["handle"]):
        return BLUESKY.invalid(call, "Invalid repo: does not match the authenticated account")
    if collection != POST_COLLECTION:
        return BLUESKY.invalid(call, f"The stand-in only writes {POST_COLLECTION} records")
    rkey = str(body.get("rkey") or "") or _server_tid()
    if not TID.match(rkey):
        return BLUESKY.invalid(call, "Invalid record key: not a TID")
    text = record.get("text")
    if not isinstance(text, str) or not isinstance(record.get("createdAt"), str):
        return BLUESKY.invalid(
            call, "Invalid app.bsky.feed.post record: Record must have the properties text and createdAt"
        )
    if _graphemes(text) > MAX_GRAPHEMES:
        return BLUESKY.invalid(
            call, f"Invalid app.bsky.feed.post record: Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        )
    if len(text.encode()) > MAX_TEXT_BYTES:
        return BLUESKY.invalid(
            call, f"Invalid app.bsky.feed.post record: Record/text must not be longer than {MAX_TEXT_BYTES} characters"
        )
    if problem := _reply_problem(record):
        return BLUESKY.invalid(call, f"Invalid app.bsky.feed.post record: {problem}")
    images = (record.get("embed") or {}).get("images") or []
    links = [image.get("image", {}).get("ref", {}).get("$link") for image in images if isinstance(image, dict)]
    if any(store.get("bluesky_blobs", str(link)) is None for link in links):
        return BLUESKY.invalid(call, "Invalid app.bsky.feed.post record: Could not find blob")
    uri = f"at://{call.account}/{collection}/{rkey}"
    record_cid = cid(json.dumps(record, sort_keys=True).encode())
    post, existing = store.create_post(
        "BLUESKY",
        call.account,
        text,
        make_id=lambda: uri,
        media_ids=[str(link) for link in links],
        reject_duplicates=False,
        unique_id=True,
        cid=record_cid,
        rkey=rkey,
        record=record,
        token=call.token,
    )
    if post is None:
        # What a PDS answers for a key that exists (docs/platforms/bluesky.md): check with getRecord.
        call.outcome = "rkey_exists"
        return BLUESKY.server_error(call, 500)
    call.outcome = "created"
    rev = _server_tid()
    return JsonResponse(
        {"uri": uri, "cid": record_cid, "commit": {"cid": cid(rev.encode()), "rev": rev}, "validationStatus": "valid"}
    )


@endpoint(BLUESKY, {"GET": READ}, account=token_did)
def get_record(call: Call) -> HttpResponse:
    repo, collection, rkey = (str(call.query.get(name) or "") for name in ("repo", "collection", "rkey"))
    if not repo or not collection or not rkey:
        return BLUESKY.invalid(call, "Params must have the properties repo, collection and rkey")
    did = person(repo)["did"] if not repo.startswith("did:") else repo
    uri = f"at://{did}/{collection}/{rkey}"
    post = store.find_post("BLUESKY", uri)
    if post is None:
        call.outcome = "not_found"
        return BLUESKY.error(400, "RecordNotFound", f"Could not locate record: {uri}")
    call.outcome = "found"
    return JsonResponse({"uri": uri, "cid": post.extra["cid"], "value": post.extra["record"]})


def _reply_problem(record: dict) -> str | None:
    """Why ``record.reply`` cannot be taken, or None (no reply, or one to posts held here)."""
    if "reply" not in record:
        return None
    reply = record["reply"]
    if not isinstance(reply, dict):
        return "Record/reply must be an object"
    found = {}
    for name in ("root", "parent"):
        ref = reply.get(name)
        for key in ("uri", "cid"):
            if not isinstance(ref, dict) or not isinstance(ref.get(key), str) or not ref[key]:
                return f'Record/reply/{name} must have the property "{key}"'
        post = store.find_post("BLUESKY", ref["uri"])
        if post is None:
            return f"Record/reply/{name} refers to a record that does not exist: {ref['uri']}"
        if post.extra.get("cid") != ref["cid"]:
            return f"Record/reply/{name} cid {ref['cid']} does not match the record at {ref['uri']}"
        found[name] = post
    parent_reply = found["parent"].extra.get("record", {}).get("reply")
    root = parent_reply["root"]["uri"] if isinstance(parent_reply, dict) else found["parent"].id
    if reply["root"]["uri"] != root:
        return f"Record/reply/root must be the root of the parent's thread ({root})"
    return None


# The counts of app.bsky.feed.defs#postView.
POST_COUNTS = ("likeCount", "repostCount", "replyCount", "quoteCount")


def _post_view(post) -> dict[str, Any]:
    """app.bsky.feed.defs#postView of a post held here."""
    who = person(post.account)
    replies = sum(
        1
        for p in store.find_posts("BLUESKY")
        if ((p.extra.get("record") or {}).get("reply") or {}).get("parent", {}).get("uri") == post.id
    )
    return {
        "uri": post.id,
        "cid": post.extra["cid"],
        "author": {"did": who["did"], "handle": who["handle"]},
        "record": post.extra["record"],
        "replyCount": replies,
        "repostCount": 0,
        "likeCount": 0,
        "quoteCount": 0,
        "indexedAt": iso(post.created),
        "labels": [],
    }


@endpoint(BLUESKY, {"GET": READ}, account=token_did)
def get_posts(call: Call) -> HttpResponse:
    """``app.bsky.feed.getPosts?uris=…`` (1 to 25): the views of those found, with their counts
    grown by age (mockapis.engagement); a count retired by ``_control/analytics`` is left out."""
    uris = call.request.GET.getlist("uris")
    if not uris:
        return BLUESKY.invalid(call, 'Params must have the property "uris"')
    if len(uris) > 25:
        return BLUESKY.invalid(call, "uris must not have more than 25 elements")
    retired = store.retired_metrics("BLUESKY")
    posts = []
    for uri in uris:
        post = store.find_post("BLUESKY", uri)
        if post is None:
            continue
        view = _post_view(post)
        grown = engagement.counts(post.id, post.created, [n for n in POST_COUNTS if n not in retired])
        view.update({name: max(view.get(name, 0), value) for name, value in grown.items()})
        for name in retired:
            view.pop(name, None)
        posts.append(view)
    return JsonResponse({"posts": posts})


@endpoint(BLUESKY, {"GET": READ}, account=token_did)
def get_profile(call: Call) -> HttpResponse:
    """``app.bsky.actor.getProfile?actor=`` -> profileViewDetailed with its counts."""
    actor = str(call.query.get("actor") or "")
    if not actor:
        return BLUESKY.invalid(call, 'Params must have the property "actor"')
    who = person(actor)
    return JsonResponse(
        {
            "did": who["did"],
            "handle": who["handle"],
            "followersCount": engagement.followers(who["did"]),
            "followsCount": 150,
            "postsCount": len(store.find_posts("BLUESKY", who["did"])),
        }
    )


def _ref_view(uri: str) -> dict[str, Any]:
    post = store.find_post("BLUESKY", uri)
    if post is None:
        return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}
    return {"$type": "app.bsky.feed.defs#postView", **_post_view(post)}


@endpoint(BLUESKY, {"GET": READ}, account=token_did)
def get_author_feed(call: Call) -> HttpResponse:
    actor = str(call.query.get("actor") or "")
    if not actor:
        return BLUESKY.invalid(call, 'Params must have the property "actor"')
    try:
        limit = int(call.query.get("limit", 50))
    except ValueError:
        return BLUESKY.invalid(call, "limit must be an integer")
    if not 1 <= limit <= 100:
        return BLUESKY.invalid(call, "limit must be between 1 and 100")
    kind = str(call.query.get("filter") or "posts_with_replies")
    if kind not in FEED_FILTERS:
        return BLUESKY.invalid(call, f"filter must be one of {', '.join(FEED_FILTERS)}")
    did = person(actor)["did"]
    # The AppView serves this feed from what it has indexed off the firehose: a post the PDS wrote
    # less than bluesky_appview_lag_seconds ago is not in it yet (getRecord, on the PDS, has it).
    indexed_by = time.time() - store.config.bluesky_appview_lag_seconds
    posts = []
    for post in store.find_posts("BLUESKY", did):
        if post.created > indexed_by:
            continue
        record = post.extra.get("record") or {}
        reply = record.get("reply")
        if kind == "posts_no_replies" and reply:
            continue
        if kind == "posts_with_media" and not record.get("embed"):
            continue
        if kind == "posts_and_author_threads" and reply and not reply["root"]["uri"].startswith(f"at://{did}/"):
            continue
        posts.append(post)
    cursor = str(call.query.get("cursor") or "")
    if cursor:
        uris = [p.id for p in posts]
        posts = posts[uris.index(cursor) + 1 :] if cursor in uris else []
    page = posts[:limit]
    feed = []
    for post in page:
        item: dict[str, Any] = {"post": _post_view(post)}
        reply = (post.extra.get("record") or {}).get("reply")
        if reply:
            item["reply"] = {"root": _ref_view(reply["root"]["uri"]), "parent": _ref_view(reply["parent"]["uri"])}
        feed.append(item)
    call.outcome = "listed"
    answer: dict[str, Any] = {"feed": feed}
    if len(posts) > limit:
        answer["cursor"] = page[-1].id
    return JsonResponse(answer)


@endpoint(BLUESKY, {"POST": MEDIA}, account=token_did, raw_body=True)
def upload_blob(call: Call) -> HttpResponse:
    data = call.request.body
    if len(data) > MAX_BLOB_BYTES:
        return BLUESKY.error(
            400,
            "BlobTooLarge",
            f"This file is too large. It is {len(data)} bytes but the maximum size is {MAX_BLOB_BYTES} bytes.",
        )
    image = sniff(data[: 64 * 1024], len(data))
    content_type = call.request.content_type or "application/octet-stream"
    if image is None:
        return BLUESKY.invalid(call, "Unsupported blob: not an image")
    link = cid(data, raw=True)
    store.put("bluesky_blobs", link, {"did": call.account, "mimeType": content_type, "size": len(data)})
    store.add_media("BLUESKY", call.account, link, size=len(data), content_type=content_type)
    call.outcome = "uploaded"
    return JsonResponse(
        {"blob": {"$type": "blob", "ref": {"$link": link}, "mimeType": content_type, "size": len(data)}}
    )


@endpoint(BLUESKY, {"GET": READ}, account=token_did)
def resolve_handle(call: Call) -> HttpResponse:
    handle = str(call.query.get("handle") or "").lower()
    known = next((p for p in PEOPLE if p["username"] == handle), None)
    if known is None and not handle.endswith(".bsky.social"):
        return BLUESKY.invalid(call, "Unable to resolve handle")
    return JsonResponse({"did": known["id"] if known else did_for(handle)})


def _server_tid() -> str:
    """A TID as a PDS makes one (microseconds, a 10-bit clock id), base32-sortable."""
    value = (time.time_ns() // 1000) << 10 | int(store.digits(4)) % 1024
    return "".join(SORTABLE[(value >> shift) & 31] for shift in range(60, -1, -5))


urlpatterns = [
    path("bsky/xrpc/com.atproto.repo.createRecord", create_record),
    path("bsky/xrpc/com.atproto.repo.getRecord", get_record),
    path("bsky/xrpc/com.atproto.repo.uploadBlob", upload_blob),
    path("bsky/xrpc/app.bsky.feed.getAuthorFeed", get_author_feed),
    path("bsky/xrpc/com.atproto.identity.resolveHandle", resolve_handle),
    path("bsky/xrpc/app.bsky.feed.getPosts", get_posts),
    path("bsky/xrpc/app.bsky.actor.getProfile", get_profile),
    path("", include("connections.platforms.bluesky.standin_auth")),
]
