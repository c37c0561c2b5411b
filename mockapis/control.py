"""The control interface: how tests, the demo and the benchmark drive the stand-in (JSON).

* ``POST _control/reset``: forget everything (posts, media, log, failures); config back to settings.
* ``GET|POST _control/config``: ``{"rate_limit_enabled", "rate_limit": {"limit", "window_seconds"},
  "random_failures", "latency_ms", "latency_p99_ms", "seed", "container_polls_before_finished", "ig_daily_limit",
  "duplicate_window_seconds", "media_slow_seconds", "fetch_timeout_seconds",
  "mastodon_idempotency_seconds" (how long an Idempotency-Key is kept), "bluesky_appview_lag_seconds"
  (how far getAuthorFeed lags behind the PDS), ...}`` (partial updates; mockapis.config.Config lists all).
* ``GET|POST|DELETE _control/fail``: ``{"platform" (one the loaded stand-ins play), "mode",
  "times": N or null (until reset), "seconds", "on": "create"|"media"|"read"|"comment"|"token"|"any",
  "message", "contains"}``; ``mode``
  one of records.MODES, or ``"none"`` to clear the platform's rules. Rules apply in the order given;
  one with ``contains`` only to requests whose body contains that text (one part of a thread).
  ``container_error`` / ``container_expired``: what the platform makes while the rule applies (an
  Instagram or Threads container, a Facebook video) ends in ERROR (with ``message`` as the
  platform's reason, if given) / EXPIRED; for the platforms whose Dialect ``processes``.
* ``GET _control/comments?platform=``: comments made (Facebook, Instagram, LinkedIn), oldest first.
* ``GET|POST _control/media``: media uploaded (Facebook photos, Instagram containers, X media,
  LinkedIn images); POST ``{"platform", "on_upload": <mode>, "times"}`` fails the next uploads.
* ``GET _control/requests?platform=&method=&path=&outcome=``: the request log.
* ``GET _control/posts?platform=``: posts created, with ``duplicates`` (extra copies of one
  (platform, account, text)) and ``duplicate_rejections``. ``POST {"platform", "account", "posts":
  [{"id", "text", "age_seconds", "extra"}]}`` adds posts as if made that long ago (the bench's
  tracked posts: thousands at once, without their requests).
* ``GET|POST _control/tokens``: bind a bearer token to an account (X), ``{"platform", "token",
  "account_id", "name", "username"}``.
* ``GET _control/settings`` (served with the platforms' stand-ins, connections.platforms.standins):
  ``{"settings": {"TWITTER_API_URL": "x", ...}}``, the variables that point a process at the
  stand-in and the path under its base where each is played.
* ``GET|POST _control/analytics``: ``{"platform", "retire": [metric names]}``: the platform's
  stand-in no longer gives those metrics (Graph refuses them with code 100, the others leave them
  out of their answers), as when a platform retires one; ``"retire": []`` gives them back.
* ``GET _control/oauth?platform=``: what the OAuth endpoints issued (mockapis.oauth):
  ``{"tokens": [{"token", "kind", "platform", "account", "client_id", "scopes", "grant",
  "issued_at", "expires_at", "status", "uses", "replaced_by", ...}], "codes": [...],
  "refresh_uses": {refresh_token: times presented}}``. ``POST {"revoke": token}`` revokes an
  issued token (a refresh token: its grant); ``POST {"expire": token}`` makes it expire now.
  Token lifetimes are config keys (``x_access_token_seconds`` ...: see mockapis.config.Config).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .gate import DIALECTS
from .records import CONTAINER_MODES, DEFAULT_SECONDS, KINDS, MEDIA, MODES, Rule
from .state import store


class BadRequest(ValueError):
    pass


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as err:
        raise BadRequest(f"the body must be JSON: {err}") from err
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _refuse(err: Exception) -> JsonResponse:
    response = JsonResponse({"error": str(err)}, status=400)
    response._has_been_logged = True  # the caller gets the reason; no need for a server warning
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "platforms": list(DIALECTS),
            "modes": list(MODES),
            "config": store.config.as_dict(),
            "endpoints": [
                "reset",
                "config",
                "fail",
                "media",
                "requests",
                "posts",
                "comments",
                "tokens",
                "oauth",
                "analytics",
                "settings",
            ],
        }
    )


@csrf_exempt
@require_POST
def reset(request: HttpRequest) -> JsonResponse:
    store.reset()
    return JsonResponse({"ok": True, "config": store.config.as_dict()})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def config(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            return JsonResponse(store.configure(_body(request)))
        except ValueError as err:
            return _refuse(err)
    return JsonResponse(store.config.as_dict())


def _platform(value: Any) -> str:
    platform = str(value or "").upper()
    if platform not in DIALECTS:
        raise BadRequest(f"platform must be one of {', '.join(DIALECTS)}; got {value!r}")
    return platform


def rule_from(body: dict[str, Any], *, on: str | None = None) -> Rule | None:
    """A Rule from a _control/fail body, or None for mode "none". Raises BadRequest."""
    platform = _platform(body.get("platform"))
    mode = body.get("mode", "error")
    if mode in (None, "none"):
        return None
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)} or none; got {mode!r}")
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise BadRequest("times must be a positive integer, or null for until reset")
    seconds = body.get("seconds", DEFAULT_SECONDS.get(mode, 0.0))
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise BadRequest("seconds must be a number of seconds, 0 or more")
    processes = DIALECTS[platform].processes
    if mode in CONTAINER_MODES and processes is None:
        playing = ", ".join(name for name, dialect in DIALECTS.items() if dialect.processes)
        raise BadRequest(f"{mode} is for what a platform processes (Meta's containers and videos): {playing}")
    on = on or body.get("on") or (processes if mode in CONTAINER_MODES else "create")
    if on not in (*KINDS, "any"):
        raise BadRequest(f"on must be one of {', '.join(KINDS)} or any; got {on!r}")
    message = body.get("message", "")
    if not isinstance(message, str):
        raise BadRequest("message must be text")
    contains = body.get("contains", "")
    if not isinstance(contains, str):
        raise BadRequest("contains must be text")
    return Rule(
        platform=platform, mode=mode, times=times, seconds=float(seconds), on=on, message=message, contains=contains
    )


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def fail(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        with store.lock:
            return JsonResponse({"rules": [asdict(rule) for rule in store.rules]})
    if request.method == "DELETE":
        platform = request.GET.get("platform")
        try:
            return JsonResponse({"rules": store.clear_rules(_platform(platform) if platform else None)})
        except BadRequest as err:
            return _refuse(err)
    try:
        body = _body(request)
        rule = rule_from(body)
    except BadRequest as err:
        return _refuse(err)
    if rule is None:
        return JsonResponse({"rules": store.clear_rules(_platform(body.get("platform")))})
    return JsonResponse({"rules": store.add_rule(rule)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def media(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            body = _body(request)
            rule = rule_from({**body, "mode": body.get("on_upload")}, on=MEDIA)
        except BadRequest as err:
            return _refuse(err)
        rules = store.add_rule(rule) if rule else store.clear_rules(rule_platform(body))
        return JsonResponse({"rules": rules})
    items = store.snapshot_media(_optional_platform(request))
    return JsonResponse({"media": items, "count": len(items)})


def rule_platform(body: dict[str, Any]) -> str:
    return _platform(body.get("platform"))


def _optional_platform(request: HttpRequest) -> str | None:
    value = request.GET.get("platform")
    return value.upper() if value else None


@require_GET
def requests_log(request: HttpRequest) -> JsonResponse:
    entries = store.snapshot_requests(_optional_platform(request))
    method, path, outcome = request.GET.get("method"), request.GET.get("path"), request.GET.get("outcome")
    entries = [
        e
        for e in entries
        if (not method or e["method"] == method.upper())
        and (not path or path in e["path"])
        and (not outcome or e["outcome"] == outcome)
    ]
    return JsonResponse({"requests": entries, "count": len(entries)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def posts(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            body = _body(request)
            platform = _platform(body.get("platform"))
            items = body.get("posts")
            if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("id") for i in items):
                raise BadRequest("posts must be a list of {id, text, age_seconds, extra}")
        except BadRequest as err:
            return _refuse(err)
        made = store.seed_posts(platform, str(body.get("account") or ""), items)
        return JsonResponse({"made": made})
    return JsonResponse(store.snapshot_posts(_optional_platform(request)))


@require_GET
def comments(request: HttpRequest) -> JsonResponse:
    platform = _optional_platform(request)
    items = [c for p in ([platform] if platform else DIALECTS) for c in store.find_comments(p)]
    return JsonResponse({"comments": items, "count": len(items)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            body = _body(request)
            platform = _platform(body.get("platform", "TWITTER"))
            if not body.get("token") or not body.get("account_id"):
                raise BadRequest("token and account_id are required")
        except BadRequest as err:
            return _refuse(err)
        details = {key: str(body[key]) for key in ("name", "username") if body.get(key)}
        store.bind_token(platform, str(body["token"]), str(body["account_id"]), **details)
    with store.lock:
        return JsonResponse({"tokens": {token: dict(binding) for token, binding in store.tokens.items()}})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def oauth(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            body = _body(request)
            actions = [key for key in ("revoke", "expire") if body.get(key)]
            if len(actions) != 1:
                raise BadRequest('say one of {"revoke": token} or {"expire": token}')
            how = "revoked" if actions[0] == "revoke" else "expired"
            if store.end_token(str(body[actions[0]]), how) is None:
                raise BadRequest("the stand-in never issued that token")
        except BadRequest as err:
            return _refuse(err)
    return JsonResponse(store.snapshot_oauth(_optional_platform(request)))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def analytics(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            body = _body(request)
            platform = _platform(body.get("platform"))
            names = body.get("retire")
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise BadRequest("retire must be a list of metric names")
        except BadRequest as err:
            return _refuse(err)
        store.retire_metrics(platform, names)
    with store.lock:
        return JsonResponse({"retired": {p: sorted(names) for p, names in store.retired.items()}})
