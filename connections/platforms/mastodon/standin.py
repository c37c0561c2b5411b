"""A Mastodon instance as a publisher uses it (docs/platforms/mastodon.md), under ``mastodon/``;
its app registration and OAuth in standin_auth.

* ``GET api/v1/accounts/verify_credentials`` -> the account; ``GET api/v2/instance`` (public) ->
  ``configuration.statuses`` from the config (mastodon_max_characters ...).
* ``POST api/v1/statuses`` (JSON or form) with ``Idempotency-Key``: the same key from the same
  account within an hour (``mastodon_idempotency_seconds``) answers the status it created,
  creating nothing -> 200 Status (``id`` a Snowflake-like 18-digit string, ``url``, ``uri``,
  ``created_at``, ``content`` the HTML Mastodon renders from the text (see ``render``: the text
  itself is not returned), ``in_reply_to_id``, ``media_attachments``). Over the
  character limit, unknown or unprocessed media: 422 "Validation failed: …". A reply
  (``in_reply_to_id``) to a status that is not there: 404 "The post you are trying to reply to does
  not appear to exist." (checked before the Idempotency-Key, as Mastodon's ``set_thread`` is).
* ``GET api/v1/accounts/<id>/statuses?limit&max_id&since_id&exclude_replies&exclude_reblogs`` -> the account's
  statuses, newest first (replies with their ``in_reply_to_id``), at most 40, the next page in a
  ``Link`` header; an unknown account: 404 "Record not found".
* ``POST api/v2/media`` multipart ``file`` -> 202 ``"url": null`` while
  ``mastodon_media_polls_before_ready`` > 0 (else 200); ``GET api/v1/media/<id>`` -> 206 until
  processed, then 200.

Errors are ``{"error": "..."}``; a revoked, expired or invalid token: 401 "The access token is
invalid". Every answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (ISO 8601).
"""

from __future__ import annotations

import html
import threading
import time
from datetime import UTC, datetime
from typing import Any

import regex
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from connections.platforms.mastodon import DECLARATION
from mockapis import engagement
from mockapis.gate import API_ERROR_MESSAGE, CREATE, Call, Dialect, endpoint
from mockapis.media import sniff
from mockapis.records import AUTHORIZE, MEDIA, READ, iso
from mockapis.state import store

URL = regex.compile(r"https?://[^\s<>\"]+", regex.IGNORECASE)
# What Mastodon's TextFormatter links in a status's text: URLs, mentions (of a local or a remote
# account) and hashtags.
ENTITY = regex.compile(
    r"(?P<url>https?://[^\s<>\"]+)"
    r"|(?<![\w@/])@(?P<user>\w+)(?:@(?P<domain>[\w.-]+\w))?"
    r"|(?<![\w#&/])#(?P<tag>\w+)",
    regex.IGNORECASE,
)
# Display of a linked URL: at most this many characters, the rest hidden (TextFormatter#link_to_url).
URL_DISPLAY = 30
# Create-and-remember of one Idempotency-Key happens under this lock (two racing retries: one status).
_idempotency_lock = threading.Lock()
# The instance's accounts (who logs in on its consent page: the first by default).
PEOPLE: list[dict[str, Any]] = [
    {"id": "109302316291234567", "name": "Acme Coffee", "username": "acmecoffee"},
    {"id": "109302316299876543", "name": "Sam Solo", "username": "samsolo"},
]

_id_lock = threading.Lock()
_last_id = 0


class MastodonDialect(Dialect):
    platform, label = DECLARATION.name, DECLARATION.label
    platform = "MASTODON"

    def error(self, status: int, message: str) -> JsonResponse:
        return JsonResponse({"error": message}, status=status)

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        if problem == "missing":
            return self.error(401, "This method requires an authenticated user")
        return self.error(401, "The access token is invalid")

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return self.error(422, f"Validation failed: {message}")

    def api_error(self, call: Call) -> HttpResponse:
        return self.invalid(call, API_ERROR_MESSAGE)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        return self.error(status, (call.rule and call.rule.message) or "We're sorry, but something went wrong")

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        return self.error(429, "Too many requests")

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        # Mastodon refuses no duplicate text.
        return self.invalid(call, "duplicate")

    def headers(self, call: Call, response: HttpResponse) -> None:
        window = call.current_window()
        reset = time.time() + call.throttled_for if call.throttled_for is not None else window.reset_at
        response["X-RateLimit-Limit"] = str(window.limit)
        response["X-RateLimit-Remaining"] = "0" if call.throttled_for is not None else str(window.remaining)
        response["X-RateLimit-Reset"] = (
            datetime.fromtimestamp(reset, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        )


MASTODON = MastodonDialect()


# A Status's counts (https://docs.joinmastodon.org/entities/Status/).
STATUS_COUNTS = ("favourites_count", "reblogs_count", "replies_count")


def status_id() -> str:
    """An id shaped like Mastodon's: milliseconds since the Unix epoch shifted 16 bits, plus a
    sequence (18 digits), increasing."""
    global _last_id
    with _id_lock:
        _last_id = max(int(time.time() * 1000) << 16, _last_id + 1)
        return str(_last_id)


def token_account(call: Call, kwargs: dict | None = None) -> str:
    """The account a token acts for: the one it was issued to; a made-up token, the first one."""
    if not call.token:
        return ""
    issued = store.issued_token(call.token)
    return issued.account if issued else PEOPLE[0]["id"]


def base_of(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")[:-1] + request.path.split("/mastodon/", 1)[0] + "/mastodon"


def account_json(request: HttpRequest, account_id: str) -> dict[str, Any]:
    who = next((p for p in PEOPLE if p["id"] == account_id), PEOPLE[0])
    return {
        "id": who["id"],
        "username": who["username"],
        "acct": who["username"],
        "display_name": who["name"],
        "url": f"{base_of(request)}/@{who['username']}",
        "created_at": "2022-11-08T00:00:00.000Z",
    }


@endpoint(MASTODON, {"GET": READ}, account=token_account)
def verify_credentials(call: Call) -> HttpResponse:
    counts = {
        "followers_count": engagement.followers(call.account),
        "following_count": 80,
        "statuses_count": len(store.find_posts("MASTODON", call.account)),
    }
    return JsonResponse({**account_json(call.request, call.account), **counts})


@endpoint(MASTODON, {"GET": READ}, account=token_account)
def status(call: Call, status_id: str) -> HttpResponse:
    """``GET /api/v1/statuses/:id``: the Status with its counts grown by age (mockapis.engagement);
    a count retired by ``_control/analytics`` is left out."""
    post = store.find_post("MASTODON", status_id)
    if post is None:
        return MASTODON.error(404, "Record not found")
    retired = store.retired_metrics("MASTODON")
    counts = engagement.counts(post.id, post.created, [name for name in STATUS_COUNTS if name not in retired])
    return JsonResponse({**status_json(call.request, post), **counts})


@endpoint(MASTODON, {"GET": AUTHORIZE})
def instance(call: Call) -> HttpResponse:
    cfg = store.config
    return JsonResponse(
        {
            "domain": call.request.get_host(),
            "title": "Stand-in Mastodon",
            "version": "4.3.0",
            "configuration": {
                "urls": {"streaming": "wss://localhost"},
                "accounts": {"max_featured_tags": 10},
                "statuses": {
                    "max_characters": cfg.mastodon_max_characters,
                    "max_media_attachments": cfg.mastodon_max_media_attachments,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
                    "image_size_limit": 16777216,
                    "image_matrix_limit": 33177600,
                },
            },
        }
    )


def _length(text: str) -> int:
    return len(regex.findall(r"\X", URL.sub("x" * 23, text)))


@endpoint(MASTODON, {"POST": CREATE}, account=token_account)
def statuses(call: Call) -> HttpResponse:
    body = call.body if isinstance(call.body, dict) else {}
    text = body.get("status")
    media_ids = body.get("media_ids") or body.get("media_ids[]") or []
    media_ids = [media_ids] if isinstance(media_ids, str) else list(media_ids)
    if not isinstance(text, str):
        text = ""
    in_reply_to = body.get("in_reply_to_id")
    parent = None
    if in_reply_to not in (None, ""):
        parent = store.find_post("MASTODON", str(in_reply_to))
        if parent is None:
            # StatusesController#set_thread: statuses.errors.in_reply_not_found.
            call.outcome = "reply_not_found"
            return MASTODON.error(404, "The post you are trying to reply to does not appear to exist.")
    if not text.strip() and not media_ids:
        return MASTODON.invalid(call, "Text can't be blank")
    limit = store.config.mastodon_max_characters
    if _length(text) > limit:
        return MASTODON.invalid(call, f"Text character limit of {limit} exceeded")
    if len(media_ids) > store.config.mastodon_max_media_attachments:
        return MASTODON.invalid(call, "Media attachments limit exceeded")
    for media_id in media_ids:
        media = store.get("mastodon_media", str(media_id))
        if media is None or media["account"] != call.account:
            return MASTODON.invalid(call, "Media attachment not found")
        if media["polls_left"] > 0:
            return MASTODON.invalid(
                call, "Cannot attach files that have not finished processing. Try again in a moment!"
            )
    key = call.request.headers.get("Idempotency-Key", "")
    with _idempotency_lock:
        remembered = store.get("mastodon_idempotency", f"{call.account}:{key}") if key else None
        window = store.config.mastodon_idempotency_seconds
        if remembered is not None and remembered["at"] > time.time() - window:
            post = store.find_post("MASTODON", remembered["id"])
            call.outcome = "idempotent_replay"
            return JsonResponse(status_json(call.request, post))
        post, _ = store.create_post(
            "MASTODON",
            call.account,
            text,
            make_id=status_id,
            media_ids=[str(m) for m in media_ids],
            reject_duplicates=False,
            visibility=str(body.get("visibility") or "public"),
            idempotency_key=key,
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account if parent else None,
        )
        if key:
            store.put("mastodon_idempotency", f"{call.account}:{key}", {"id": post.id, "at": time.time()})
    call.outcome = "created"
    return JsonResponse(status_json(call.request, post))


def render(request: HttpRequest, text: str) -> str:
    """A status's ``content`` as Mastodon's TextFormatter makes it from the text: escaped, each URL a
    link whose scheme (and what passes 30 characters) is hidden in ``invisible`` spans, each
    mention an h-card showing the account's local name only (``@user@example.social`` shows
    ``@user``), each hashtag a link, paragraphs (blank lines) in ``<p>``, line breaks ``<br />``.
    The text itself is not in the Status (only ``content``): a client that looks for a status it
    sent compares with this."""

    def entity(match) -> str:
        if match["url"]:
            url = match["url"]
            scheme, _, rest = url.partition("://")
            prefix = f"{scheme}://"
            if rest.startswith("www."):
                prefix, rest = prefix + "www.", rest[4:]
            shown, hidden = html.escape(rest[:URL_DISPLAY]), html.escape(rest[URL_DISPLAY:])
            display = f'<span class="ellipsis">{shown}</span>' if hidden else f'<span class="">{shown}</span>'
            return (
                f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
                f'<span class="invisible">{html.escape(prefix)}</span>{display}'
                f'<span class="invisible">{hidden}</span></a>'
            )
        if match["user"]:
            host = html.escape(match["domain"] or request.get_host())
            return (
                f'<span class="h-card" translate="no"><a href="https://{host}/@{match["user"]}" '
                f'class="u-url mention">@<span>{match["user"]}</span></a></span>'
            )
        tag = match["tag"]
        return (
            f'<a href="{base_of(request)}/tags/{tag.lower()}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>'
        )

    def linked(line: str) -> str:
        out, last = [], 0
        for match in ENTITY.finditer(line):
            out.append(html.escape(line[last : match.start()]))
            out.append(entity(match))
            last = match.end()
        out.append(html.escape(line[last:]))
        return "".join(out)

    paragraphs = regex.split(r"\n\s*\n+", text.strip())
    return "".join(
        "<p>" + "<br />".join(linked(line) for line in part.split("\n")) + "</p>" for part in paragraphs if part
    )


def status_json(request: HttpRequest, post) -> dict[str, Any]:
    account = account_json(request, post.account)
    return {
        "id": post.id,
        "created_at": iso(post.created),
        "visibility": post.extra.get("visibility", "public"),
        "in_reply_to_id": post.extra.get("in_reply_to_id"),
        "in_reply_to_account_id": post.extra.get("in_reply_to_account_id"),
        "uri": f"{base_of(request)}/users/{account['username']}/statuses/{post.id}",
        "url": f"{account['url']}/{post.id}",
        "content": render(request, post.text),
        "account": account,
        "media_attachments": [media_json(request, store.get("mastodon_media", m)) for m in post.media_ids],
        "mentions": [],
        "tags": [],
    }


@endpoint(MASTODON, {"GET": READ}, account=token_account)
def account_statuses(call: Call, account_id: str) -> HttpResponse:
    if not any(p["id"] == account_id for p in PEOPLE) and not store.find_posts("MASTODON", account_id):
        return MASTODON.error(404, "Record not found")
    try:
        limit = min(max(int(call.query.get("limit", 20)), 1), 40)
    except ValueError:
        limit = 20
    max_id, since_id = call.query.get("max_id"), call.query.get("since_id")
    exclude_replies = str(call.query.get("exclude_replies", "")).lower() in ("true", "1")
    # exclude_reblogs is taken: the stand-in holds no boosts, so it changes nothing.
    found = [
        post
        for post in store.find_posts("MASTODON", account_id)
        if (not max_id or int(post.id) < int(max_id))
        and (not since_id or int(post.id) > int(since_id))
        and not (exclude_replies and post.extra.get("in_reply_to_id"))
    ]
    page = found[:limit]
    response = JsonResponse([status_json(call.request, post) for post in page], safe=False)
    if len(found) > limit:
        url = f"{base_of(call.request)}/api/v1/accounts/{account_id}/statuses?limit={limit}&max_id={page[-1].id}"
        response["Link"] = f'<{url}>; rel="next"'
    call.outcome = "listed"
    return response


def media_json(request: HttpRequest, media: dict) -> dict[str, Any]:
    ready = media["polls_left"] <= 0
    return {
        "id": media["id"],
        "type": "image",
        "url": f"{base_of(request)}/system/media/{media['id']}.png" if ready else None,
        "preview_url": f"{base_of(request)}/system/media/{media['id']}-small.png",
        "description": media.get("description"),
    }


@endpoint(MASTODON, {"POST": MEDIA}, account=token_account)
def media_upload(call: Call) -> HttpResponse:
    upload = call.files.get("file")
    if upload is None:
        return MASTODON.invalid(call, "File can't be blank")
    image = sniff(upload.read(64 * 1024), upload.size)
    if image is None:
        return MASTODON.invalid(call, "File content type is invalid")
    media_id = store.digits(18)
    polls = store.config.mastodon_media_polls_before_ready
    media = {"id": media_id, "account": call.account, "polls_left": polls, "description": call.param("description")}
    store.put("mastodon_media", media_id, media)
    store.add_media("MASTODON", call.account, media_id, size=image.size, content_type=image.content_type)
    call.outcome = "uploaded"
    return JsonResponse(media_json(call.request, media), status=202 if polls > 0 else 200)


@endpoint(MASTODON, {"GET": READ}, account=token_account)
def media_item(call: Call, media_id: str) -> HttpResponse:
    media = store.get("mastodon_media", media_id)
    if media is None or media["account"] != call.account:
        return MASTODON.error(404, "Record not found")
    if media["polls_left"] > 0:
        store.update("mastodon_media", media_id, polls_left=media["polls_left"] - 1)
        call.outcome = "processing"
        return JsonResponse(media_json(call.request, media), status=206)
    return JsonResponse(media_json(call.request, media))


urlpatterns = [
    path("mastodon/api/v1/accounts/verify_credentials", verify_credentials),
    path("mastodon/api/v2/instance", instance),
    path("mastodon/api/v1/statuses", statuses),
    path("mastodon/api/v1/statuses/<str:status_id>", status),
    path("mastodon/api/v1/accounts/<str:account_id>/statuses", account_statuses),
    path("mastodon/api/v2/media", media_upload),
    path("mastodon/api/v1/media/<str:media_id>", media_item),
    path("", include("connections.platforms.mastodon.standin_auth")),
]
