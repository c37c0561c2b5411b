"""LinkedIn's versioned REST Posts and Images APIs (docs/platforms/linkedin.md).

* ``POST /rest/posts`` (``LinkedIn-Version: YYYYMM``, ``X-Restli-Protocol-Version: 2.0.0``) with
  the body docs/platforms/linkedin.md describes, optionally ``content.media.id`` (one image) or
  ``content.multiImage.images`` (2..20) -> **201**, empty body, ``x-restli-id: urn:li:share:<19
  digits>``. Commentary over 3,000 characters is cut silently, as LinkedIn does. The same
  commentary again from the same author: 422 ``DUPLICATE_POST`` naming the earlier share.
* ``GET /rest/posts?q=author&author=<urn>&count=N&start=M[&sortBy=LAST_MODIFIED|CREATED]`` ->
  ``{"elements": [{"id", "author", "commentary", "lifecycleState", "createdAt", "publishedAt", ...}],
  "paging": {"start", "count", "links", "total"}}``, newest first (count at most 100); a draft too
  when ``_control/posts`` made one (``extra.lifecycle_state``).
* ``GET /rest/posts/{url-encoded post urn}`` -> the one post, in the same shape as the listing's
  elements; 404 for a post the stand-in does not hold.
* ``POST /rest/socialActions/{url-encoded post urn}/comments`` ``{"actor", "object", "message":
  {"text"}}`` -> **201** with the Comment (``id``, ``actor``, ``object``, ``message``,
  ``created``) and ``x-restli-id``; ``GET`` the same path -> ``{"elements": [Comment], "paging"}``.
  Request kind COMMENT. (The Comment's fields are unverified: docs/platforms/linkedin.md.)
* ``POST /rest/images?action=initializeUpload`` ``{"initializeUploadRequest": {"owner": urn}}``
  -> ``{"value": {"uploadUrlExpiresAt", "uploadUrl", "image": "urn:li:image:..."}}``; the upload
  URL is absolute, on this server (``/linkedin/upload/<token>``); ``PUT`` the bytes there (201).
  ``GET /rest/images/<urn>`` says WAITING_UPLOAD or AVAILABLE.

A missing ``LinkedIn-Version`` is refused (400 VERSION_MISSING). Errors: 401 serviceErrorCode
65600 (invalid; also used for expired, unverified) and 65601 REVOKED_ACCESS_TOKEN, 422 with
``errorDetails.inputErrors``, 429 serviceErrorCode 101 with ``Retry-After`` (seconds).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import include, path, reverse

from connections.platforms.linkedin import DECLARATION
from mockapis import engagement
from mockapis.gate import API_ERROR_MESSAGE, CREATE, Call, Dialect, endpoint
from mockapis.media import sniff
from mockapis.records import COMMENT, MEDIA, READ
from mockapis.state import store

MAX_COMMENTARY = 3_000
AUTHOR = re.compile(r"^urn:li:(person|organization|organizationBrand):[A-Za-z0-9_-]+$")
REQUIRED_FIELDS = ("author", "visibility", "distribution", "lifecycleState")
UPLOAD_EXPIRES_MS = 24 * 3600 * 1000


class LinkedInDialect(Dialect):
    platform, label = DECLARATION.name, DECLARATION.label

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        if problem == "missing":
            body = {"status": 401, "serviceErrorCode": 401, "message": "Empty oauth2_access_token"}
        elif problem == "revoked":
            body = {
                "status": 401,
                "serviceErrorCode": 65601,
                "code": "REVOKED_ACCESS_TOKEN",
                "message": "The token used in the request has been revoked by the user",
            }
        elif problem == "expired":
            body = {
                "status": 401,
                "serviceErrorCode": 65600,
                "code": "EXPIRED_ACCESS_TOKEN",
                "message": "Invalid access token: the token used in the request has expired",
            }
        else:
            body = {
                "status": 401,
                "serviceErrorCode": 65600,
                "code": "INVALID_ACCESS_TOKEN",
                "message": "Invalid access token",
            }
        return JsonResponse(body, status=401)

    def invalid(self, call: Call, message: str) -> HttpResponse:
        return JsonResponse(
            {"errorDetailType": "com.linkedin.common.error.BadRequest", "message": message, "status": 400}, status=400
        )

    def unprocessable(self, path: str, message: str) -> HttpResponse:
        """Rest.li's validation answer: ``ERROR :: /field :: what is wrong``."""
        return JsonResponse({"message": f"ERROR :: {path} :: {message}", "status": 422}, status=422)

    def api_error(self, call: Call) -> HttpResponse:
        return self.invalid(call, API_ERROR_MESSAGE)

    def server_error(self, call: Call, status: int) -> HttpResponse:
        words = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
        message = (call.rule and call.rule.message) or words.get(status, "Internal Server Error")
        return JsonResponse({"message": message, "status": status}, status=status)

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        response = JsonResponse(
            {
                "serviceErrorCode": 101,
                "message": "Resource level throttle limit for calls to this resource is reached.",
                "status": 429,
            },
            status=429,
        )
        response["Retry-After"] = str(max(1, math.ceil(seconds)))
        return response

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        earlier_id = earlier_id or _share_urn()
        return JsonResponse(
            {
                "errorDetailType": "com.linkedin.common.error.BadRequest",
                "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
                f"Content is a duplicate of {earlier_id}",
                "errorDetails": {
                    "inputErrors": [
                        {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
                    ]
                },
                "status": 422,
            },
            status=422,
        )

    def headers(self, call: Call, response: HttpResponse) -> None:
        response["X-RestLi-Protocol-Version"] = "2.0.0"


LINKEDIN = LinkedInDialect()


def _share_urn() -> str:
    return f"urn:li:share:{store.digits(19, '7')}"


def body_author(call: Call, kwargs: dict) -> str:
    if call.request.method == "GET":
        return str(call.query.get("author", ""))
    return str(call.body.get("author", "")) if isinstance(call.body, dict) else ""


def upload_owner(call: Call, kwargs: dict) -> str:
    body = call.body if isinstance(call.body, dict) else {}
    request = body.get("initializeUploadRequest")
    return str(request.get("owner", "")) if isinstance(request, dict) else ""


def image_owner(call: Call, kwargs: dict) -> str:
    urn = kwargs.get("urn")
    if urn is None:
        pending = store.get("uploads", kwargs.get("token", ""))
        urn = pending["image"] if pending else ""
    image = store.get("images", urn)
    return image["owner"] if image else ""


def version_missing(call: Call) -> HttpResponse | None:
    if call.request.headers.get("LinkedIn-Version"):
        return None
    return JsonResponse(
        {
            "status": 400,
            "code": "VERSION_MISSING",
            "message": "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        },
        status=400,
    )


@endpoint(LINKEDIN, {"POST": CREATE, "GET": READ}, account=body_author)
def posts(call: Call) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    if call.request.method == "GET":
        return list_posts(call)
    body = call.body
    if not isinstance(body, dict):
        return LINKEDIN.invalid(call, "The request body must be a JSON object")
    for name in REQUIRED_FIELDS:
        if name not in body:
            return LINKEDIN.unprocessable(f"/{name}", "field is required but not found and has no default value")
    if not AUTHOR.match(str(body["author"])):
        return LINKEDIN.unprocessable("/author", f"{body['author']!r} is not a person or organization URN")
    commentary = body.get("commentary", "")
    if not isinstance(commentary, str):
        return LINKEDIN.unprocessable("/commentary", "must be a string")
    try:
        images = content_images(body.get("content"))
    except ValueError as err:
        path, _, message = str(err).partition(" :: ")
        return LINKEDIN.unprocessable(path, message)
    # LinkedIn cuts longer commentary silently (docs/platforms/linkedin.md): so does the stand-in.
    commentary = commentary[:MAX_COMMENTARY]
    post, earlier = store.create_post(
        "LINKEDIN",
        call.account,
        commentary,
        make_id=_share_urn,
        media_ids=images,
        visibility=body["visibility"],
        lifecycle_state=body["lifecycleState"],
    )
    if post is None:
        call.outcome = "duplicate"
        return LINKEDIN.duplicate(call, earlier.id if earlier else None)
    call.outcome = "created"
    response = HttpResponse(status=201)
    del response["Content-Type"]  # 201 with an empty body and no type, as LinkedIn answers
    response["x-restli-id"] = post.id
    return response


def content_images(content: Any) -> list[str]:
    """The image URNs of ``content.media.id`` or ``content.multiImage.images[].id``; each must have
    been uploaded. Raises ValueError("<path> :: <problem>")."""
    if content in (None, {}):
        return []
    if not isinstance(content, dict):
        raise ValueError("/content :: must be an object")
    if "media" in content:
        media = content["media"]
        urns = [media.get("id")] if isinstance(media, dict) else [None]
        paths = ["/content/media/id"]
    elif "multiImage" in content:
        images = (content["multiImage"] or {}).get("images") if isinstance(content["multiImage"], dict) else None
        if not isinstance(images, list) or not 2 <= len(images) <= 20:
            raise ValueError("/content/multiImage/images :: takes 2 to 20 images")
        urns = [image.get("id") if isinstance(image, dict) else None for image in images]
        paths = [f"/content/multiImage/images/{i}/id" for i in range(len(images))]
    else:
        raise ValueError(f"/content :: the stand-in takes media or multiImage, not {', '.join(content)}")
    for urn, field_path in zip(urns, paths, strict=True):
        image = store.get("images", urn) if isinstance(urn, str) else None
        if image is None:
            raise ValueError(f"{field_path} :: {urn!r} is not an image URN from initializeUpload")
        if image["status"] != "AVAILABLE":
            raise ValueError(f"{field_path} :: image {urn} is {image['status']}: PUT its bytes to the uploadUrl first")
    return urns


def list_posts(call: Call) -> HttpResponse:
    if call.query.get("q") != "author":
        return LINKEDIN.invalid(call, "This finder needs q=author (and author=<urn>)")
    author = call.account
    if not author:
        return LINKEDIN.invalid(call, "Missing required parameter author")
    try:
        count = min(100, max(1, int(call.query.get("count", 10))))
        start = max(0, int(call.query.get("start", 0)))
    except ValueError:
        return LINKEDIN.invalid(call, "count and start must be integers")
    if call.query.get("sortBy", "LAST_MODIFIED") not in ("LAST_MODIFIED", "CREATED"):
        return LINKEDIN.invalid(call, f"Invalid sortBy {call.query.get('sortBy')!r}: LAST_MODIFIED or CREATED")
    found = store.find_posts("LINKEDIN", author)
    elements = [_post(post) for post in found[start : start + count]]
    return JsonResponse(
        {"elements": elements, "paging": {"start": start, "count": count, "links": [], "total": len(found)}}
    )


def _post(post) -> dict:
    """A post as the Posts API returns it (the author finder's elements, Get Posts by URN)."""
    millis = int(post.created * 1000)
    element = {
        "id": post.id,
        "author": post.account,
        "commentary": post.text,
        "visibility": post.extra.get("visibility", "PUBLIC"),
        "lifecycleState": post.extra.get("lifecycle_state", "PUBLISHED"),
        "createdAt": millis,
        "publishedAt": millis,
        "lastModifiedAt": millis,
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "isReshareDisabledByAuthor": False,
    }
    if len(post.media_ids) == 1:
        element["content"] = {"media": {"id": post.media_ids[0]}}
    elif post.media_ids:
        element["content"] = {"multiImage": {"images": [{"id": urn} for urn in post.media_ids]}}
    return element


def post_author(call: Call, kwargs: dict) -> str:
    post = store.find_post("LINKEDIN", kwargs["urn"])
    return post.account if post else ""


@endpoint(LINKEDIN, {"GET": READ}, account=post_author)
def post_by_urn(call: Call, urn: str) -> HttpResponse:
    """Get Posts by URN: the path's URN arrives encoded (``urn%3Ali%3Ashare%3A…``) and is read decoded."""
    if refusal := version_missing(call):
        return refusal
    found = store.find_post("LINKEDIN", urn)
    if found is None:
        body = {"status": 404, "serviceErrorCode": 100, "message": f"Not enough permissions or {urn} does not exist"}
        return JsonResponse(body, status=404)
    return JsonResponse(_post(found))


@endpoint(LINKEDIN, {"POST": MEDIA}, account=upload_owner)
def images(call: Call) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    if call.query.get("action") != "initializeUpload":
        return LINKEDIN.invalid(call, "Unsupported action; use ?action=initializeUpload")
    owner = call.account
    if not owner:
        return LINKEDIN.unprocessable(
            "/initializeUploadRequest/owner", "field is required but not found and has no default value"
        )
    urn = f"urn:li:image:D4{store.token(2).upper()}10AQ{store.token(13)}"
    token = store.token(32)
    store.put("images", urn, {"id": urn, "owner": owner, "status": "WAITING_UPLOAD", "size": 0})
    store.put("uploads", token, {"image": urn})
    call.outcome = "initialized"
    return JsonResponse(
        {
            "value": {
                "uploadUrlExpiresAt": int(time.time() * 1000) + UPLOAD_EXPIRES_MS,
                "uploadUrl": call.request.build_absolute_uri(reverse("mockapis-linkedin-upload", args=[token])),
                "image": urn,
            }
        }
    )


@endpoint(LINKEDIN, {"GET": READ}, account=image_owner)
def image(call: Call, urn: str) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    found = store.get("images", urn)
    if found is None:
        return JsonResponse({"status": 404, "message": f"Image {urn} does not exist"}, status=404)
    return JsonResponse({"id": urn, "owner": found["owner"], "status": found["status"]})


@endpoint(LINKEDIN, {"PUT": MEDIA, "POST": MEDIA}, account=image_owner, raw_body=True)
def upload(call: Call, token: str) -> HttpResponse:
    """The bytes of an image, PUT to the uploadUrl initializeUpload gave (read, sized, not kept)."""
    pending = store.get("uploads", token)
    if pending is None:
        return JsonResponse({"status": 404, "message": "Unknown or expired upload URL"}, status=404)
    head, size = b"", 0
    while chunk := call.request.read(64 * 1024):
        head = head or chunk
        size += len(chunk)
    image_ = sniff(head, size) if size else None
    if image_ is None:
        return LINKEDIN.invalid(call, "The uploaded bytes are not an image (PNG, JPEG or GIF)")
    store.update("images", pending["image"], status="AVAILABLE", size=size)
    store.add_media("LINKEDIN", call.account, pending["image"], size=size, content_type=image_.content_type)
    call.outcome = "uploaded"
    response = HttpResponse(status=201)
    del response["Content-Type"]
    return response


def comment_actor(call: Call, kwargs: dict) -> str:
    post = store.find_post("LINKEDIN", kwargs["urn"])
    return post.account if post else ""


@endpoint(LINKEDIN, {"POST": COMMENT, "GET": READ}, account=comment_actor)
def comments(call: Call, urn: str) -> HttpResponse:
    if refusal := version_missing(call):
        return refusal
    if store.find_post("LINKEDIN", urn) is None:
        body = {"status": 404, "serviceErrorCode": 100, "message": f"Not enough permissions or {urn} does not exist"}
        return JsonResponse(body, status=404)
    if call.request.method == "GET":
        elements = [_comment(c) for c in reversed(store.find_comments("LINKEDIN", urn))]
        return JsonResponse({"elements": elements, "paging": {"start": 0, "count": len(elements), "links": []}})
    body = call.body if isinstance(call.body, dict) else {}
    message = body.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(text, str) or not text.strip():
        return LINKEDIN.unprocessable("/message/text", "field is required but not found and has no default value")
    if not AUTHOR.match(str(body.get("actor", ""))):
        return LINKEDIN.unprocessable("/actor", f"{body.get('actor')!r} is not a person or organization URN")
    if body.get("object") not in (None, urn):
        return LINKEDIN.unprocessable("/object", "must be the post the comment is on")
    comment_id = store.digits(19, "7")
    entry = store.add_comment("LINKEDIN", urn, str(body["actor"]), text, comment_id)
    call.outcome = "commented"
    response = JsonResponse(_comment(entry), status=201)
    response["x-restli-id"] = comment_id
    return response


def _comment(entry: dict) -> dict:
    millis = int(entry["created"] * 1000)
    return {
        "id": entry["id"],
        "actor": entry["account"],
        "object": entry["post_id"],
        "message": {"text": entry["text"]},
        "created": {"actor": entry["account"], "time": millis},
        "lastModified": {"actor": entry["account"], "time": millis},
    }


# totalShareStatistics' counts (https://learn.microsoft.com/linkedin/marketing/community-management/
# organizations/share-statistics).
SHARE_COUNTS = ("impressionCount", "uniqueImpressionsCount", "clickCount", "likeCount", "commentCount", "shareCount")
URN_LIST = re.compile(r"^List\((?P<urns>[^()]*)\)$")


def _organization(call: Call, kwargs: dict) -> str:
    return str(kwargs.get("urn") or call.query.get("organizationalEntity") or "")


@endpoint(LINKEDIN, {"GET": READ}, account=_organization)
def share_statistics(call: Call) -> HttpResponse:
    """``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=<org>
    &shares=List(<encoded urns>)&ugcPosts=List(...)``: lifetime statistics of each post found. URNs
    inside ``List()`` must be encoded (Rest.li 2.0): unencoded ones are refused, as LinkedIn does."""
    if call.query.get("q") != "organizationalEntity" or not call.account.startswith("urn:li:organization:"):
        return LINKEDIN.invalid(call, "q=organizationalEntity and an organization's organizationalEntity are required")
    raw = call.request.META.get("QUERY_STRING", "")
    if "List(urn:" in raw:
        return LINKEDIN.invalid(call, "Invalid query parameter: URNs in List() must be URL-encoded (Rest.li 2.0)")
    retired = store.retired_metrics("LINKEDIN")
    elements = []
    for name, key in (("shares", "share"), ("ugcPosts", "ugcPost")):
        value = call.query.get(name)
        if value is None:
            continue
        found = URN_LIST.match(str(value))
        if not found:
            return LINKEDIN.invalid(call, f"{name} must be List(<urn>,...)")
        for urn in filter(None, found.group("urns").split(",")):
            post = store.find_post("LINKEDIN", urn)
            if post is None or post.account != call.account:
                continue
            counts = engagement.counts(post.id, post.created, [n for n in SHARE_COUNTS if n not in retired])
            elements.append({key: urn, "organizationalEntity": call.account, "totalShareStatistics": counts})
    return JsonResponse({"paging": {"count": 10, "start": 0, "links": []}, "elements": elements})


@endpoint(LINKEDIN, {"GET": READ}, account=_organization)
def network_size(call: Call, urn: str) -> HttpResponse:
    """``GET /rest/networkSizes/<org urn>?edgeType=COMPANY_FOLLOWED_BY_MEMBER`` -> ``{"firstDegreeSize"}``."""
    if call.query.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER" or not urn.startswith("urn:li:organization:"):
        return LINKEDIN.invalid(call, "edgeType=COMPANY_FOLLOWED_BY_MEMBER and an organization URN are required")
    return JsonResponse({"firstDegreeSize": engagement.followers(urn)})


urlpatterns = [
    path("linkedin/rest/posts", posts),
    path("linkedin/rest/posts/<str:urn>", post_by_urn),
    path("linkedin/rest/organizationalEntityShareStatistics", share_statistics),
    path("linkedin/rest/networkSizes/<str:urn>", network_size),
    path("linkedin/rest/socialActions/<str:urn>/comments", comments),
    path("linkedin/rest/images", images),
    path("linkedin/rest/images/<str:urn>", image),
    path("linkedin/upload/<str:token>", upload, name="mockapis-linkedin-upload"),
    path("", include("connections.platforms.linkedin.standin_auth")),
]
