"""The path every stand-in API request takes, whatever the platform.

``@endpoint(dialect, kinds)`` wraps a platform view: it adds the configured latency, parses the
body, refuses missing, expired and revoked tokens, applies an injected failure
(``_control/fail``), counts create requests against the rate-limit window and draws the random
failures, then calls the view, adds the platform's headers to whatever is answered and writes
the request log. The platform's *words* for each of these come from its :class:`Dialect`.

Tokens are opaque; one containing ``expired``, ``revoked`` or ``invalid`` is refused as such
(Graph code 190, X 401, LinkedIn 65600/65601), so tests can exercise token expiry. A token the
stand-in issued itself (mockapis.oauth) is refused the same way once it has expired or was
revoked, and a refresh token is no bearer token. Requests of kind TOKEN (the token endpoints)
and AUTHORIZE (consent pages) skip the bearer check; injected failures still apply to them.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .records import AFTER_CREATE_MODES, ANSWER_MODES, AUTHORIZE, CREATE, STALL_MODES, TOKEN, Rule, Window, iso
from .state import store

LOGGED_HEADERS = (
    "Authorization",
    "Content-Type",
    "LinkedIn-Version",
    "X-Restli-Protocol-Version",
    "X-RestLi-Method",
    "Idempotency-Key",
    "Content-Range",
    "User-Agent",
)


class ConnectionDropped(Exception):
    """accept_then_drop outside a real server (Django's test client has no socket to cut)."""


@dataclass
class Call:
    """One request as the stand-in sees it."""

    request: HttpRequest
    dialect: Dialect
    kind: str = ""
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    account: str = ""
    rule: Rule | None = None
    window: Window | None = None
    # Set when the answer is a rate-limit refusal: seconds until the account may call again.
    throttled_for: float | None = None
    outcome: str = ""
    started: float = field(default_factory=time.time)
    view_name: str = ""
    # The request's log entry, written when it arrives and completed when it is answered.
    entry: dict[str, Any] | None = None

    @property
    def platform(self) -> str:
        return self.dialect.platform

    def param(self, name: str, default: Any = None) -> Any:
        """A field from the body (form or JSON object), else from the query string."""
        if isinstance(self.body, dict) and name in self.body:
            return self.body[name]
        return self.query.get(name, default)

    def current_window(self) -> Window:
        return self.window or store.window(self.platform, self.account)


# Every platform the loaded stand-ins play, by name, in the order they were loaded: what
# _control accepts as a platform. A platform's stand-in makes its Dialect once, when imported (the
# stand-in's urlconf imports every one).
DIALECTS: dict[str, Dialect] = {}


class Dialect:
    """How a platform says things. Each platform's stand-in subclasses it with its own shapes,
    and names it with its declaration's name and label."""

    platform: str = ""
    label: str = ""
    # The kind of request that makes something the platform then processes (an Instagram or
    # Threads container: MEDIA; a Facebook video: CREATE), to which _control/fail's container
    # modes apply; None where the stand-in processes nothing.
    processes: str | None = None

    def __init__(self, platform: str = "", label: str = "") -> None:
        self.platform = platform or self.platform
        self.label = label or self.label
        DIALECTS[self.platform] = self

    def token(self, call: Call) -> str | None:
        """The bearer token (``Authorization: Bearer ...``)."""
        header = call.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() in ("bearer", "oauth") else None

    def auth_error(self, call: Call, problem: str) -> HttpResponse:
        raise NotImplementedError

    def invalid(self, call: Call, message: str) -> HttpResponse:
        raise NotImplementedError

    def api_error(self, call: Call) -> HttpResponse:
        raise NotImplementedError

    def server_error(self, call: Call, status: int) -> HttpResponse:
        raise NotImplementedError

    def rate_limited(self, call: Call, seconds: float) -> HttpResponse:
        raise NotImplementedError

    def duplicate(self, call: Call, earlier_id: str | None) -> HttpResponse:
        raise NotImplementedError

    def headers(self, call: Call, response: HttpResponse) -> None:
        """Add the headers this platform sends on every answer."""


# The message every forced "error" carries, so a test can find it in the publication's error.
API_ERROR_MESSAGE = "API error: the stand-in was told to fail"


def token_problem(token: str | None) -> str | None:
    if not token:
        return "missing"
    lowered = token.lower()
    for problem in ("expired", "revoked", "invalid"):
        if problem in lowered:
            return problem
    return None


def endpoint(
    dialect: Dialect | Callable[[dict], Dialect],
    kinds: dict[str, str | Callable[[Call], str]],
    *,
    account: Callable[[Call, dict], str] | None = None,
    raw_body: bool = False,
):
    """Wrap a view ``view(call, **url_kwargs) -> HttpResponse`` in the common pipeline.

    ``kinds`` maps each allowed method to CREATE, MEDIA, READ or TOKEN (or a function of the call);
    ``account`` says whose request it is (page id, user id, author URN); ``raw_body`` leaves the
    body unread for the view (uploads of bytes).
    """

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in kinds:
                return HttpResponseNotAllowed(list(kinds))
            speaker = dialect if isinstance(dialect, Dialect) else dialect(kwargs)
            call = Call(
                request=request, dialect=speaker, view_name=f"{view.__module__.rsplit('.', 1)[-1]}.{view.__name__}"
            )
            response = _handle(call, view, kinds[request.method], account, raw_body, kwargs)
            speaker.headers(call, response)
            # The platform's 4xx/5xx answers are the point of a stand-in, not failures of it:
            # keep them out of django.request's warning log.
            response._has_been_logged = True
            if not response.streaming and not response.has_header("Content-Length"):
                # Lets HTTP/1.1 clients keep the connection (without it Django's server closes it).
                response["Content-Length"] = str(len(response.content))
            store.finish_log(
                call.entry or store.log(_log_entry(call)),
                status=response.status_code,
                outcome=call.outcome or ("ok" if response.status_code < 400 else "error"),
                duration_ms=round((time.time() - call.started) * 1000, 1),
            )
            if call.rule and call.rule.mode == "accept_then_drop" and response.status_code < 300:
                drop_connection(request)
            return response

        return wrapper

    return decorate


def _handle(call: Call, view, kind, account, raw_body: bool, kwargs: dict) -> HttpResponse:
    request, speaker = call.request, call.dialect
    store.latency()
    call.query = _flatten(request.GET)
    if not raw_body:
        try:
            call.body, call.files = parse_body(request)
        except ValueError as err:
            call.outcome = "rejected"
            return speaker.invalid(call, str(err))
    call.kind = kind(call) if callable(kind) else kind
    bearer = call.kind not in (TOKEN, AUTHORIZE)
    call.token = speaker.token(call) if bearer else None
    problem = token_problem(call.token) or store.bearer_problem(call.token) if bearer else None
    call.account = account(call, kwargs) if account else ""
    # Logged on arrival: a test can see a request the stand-in is still stalling.
    call.entry = store.log(_log_entry(call))
    if problem:
        call.outcome = f"token_{problem}"
        return speaker.auth_error(call, problem)

    call.rule = rule = store.take_rule(call.platform, call.kind, _body_text(request, raw_body))
    if rule and rule.mode in ANSWER_MODES:
        call.outcome = f"failed:{rule.mode}"
        return answer_rule(call, rule)
    if rule and rule.mode in STALL_MODES:
        # The request goes on as it would have, only late: what it creates appears after the wait.
        store.sleep(rule.seconds)
    if call.kind == CREATE:
        call.window = store.count_request(call.platform, call.account)
        if call.window.exceeded:
            call.outcome = "rate_limited"
            call.throttled_for = call.window.seconds_left()
            return speaker.rate_limited(call, call.throttled_for)
        status = store.random_failure()
        if status:
            call.outcome = "random_failure"
            return speaker.server_error(call, status)

    response = view(call, **kwargs)
    if rule and rule.mode in AFTER_CREATE_MODES and response.status_code < 300:
        call.outcome = f"{call.outcome or 'ok'}:{rule.mode}"
        if rule.mode == "accept_then_stall":
            store.sleep(rule.seconds)
    return response


def _body_text(request: HttpRequest, raw_body: bool) -> str:
    """The request body as text, for rules that match on it (``contains``); "" for uploads."""
    if raw_body or request.method not in ("POST", "PUT", "PATCH"):
        return ""
    try:
        return request.body[:100_000].decode("utf-8", "replace")
    except Exception:  # a body already read as a stream (multipart): no text to match
        return ""


def answer_rule(call: Call, rule: Rule) -> HttpResponse:
    speaker = call.dialect
    if rule.mode == "error":
        return speaker.api_error(call)
    if rule.mode == "server_error":
        return speaker.server_error(call, 500)
    if rule.mode == "timeout":
        # Long enough for the client's read timeout to fire first; nothing is created.
        store.sleep(rule.seconds)
        return speaker.server_error(call, 504)
    if rule.mode == "rate_limit":
        call.throttled_for = rule.seconds
        return speaker.rate_limited(call, rule.seconds)
    if rule.mode in ("token_expired", "token_revoked"):
        return speaker.auth_error(call, rule.mode.removeprefix("token_"))
    if rule.mode == "duplicate":
        return speaker.duplicate(call, None)
    raise AssertionError(f"unhandled mode {rule.mode}")


def parse_body(request: HttpRequest) -> tuple[Any, dict]:
    """(fields, files): a JSON body, or the form/multipart fields with the uploaded files."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}, {}
    if request.content_type == "application/json":
        try:
            return (json.loads(request.body) if request.body else {}), {}
        except ValueError as err:
            raise ValueError(f"Request body is not valid JSON: {err}") from err
    if request.method == "POST" and request.content_type in (
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ):
        return _flatten(request.POST), dict(request.FILES.items())
    return {}, {}


def _flatten(querydict) -> dict[str, Any]:
    return {key: values[0] if len(values) == 1 else values for key, values in querydict.lists()}


def _log_entry(call: Call) -> dict[str, Any]:
    """The log entry of a request as it arrives; status, outcome and duration stay None until answered."""
    request = call.request
    files = {
        name: {"filename": f.name, "size": f.size, "content_type": f.content_type} for name, f in call.files.items()
    }
    body = call.body if not files else {**call.body, **files}
    return {
        "time": iso(call.started),
        "ts": call.started,
        "method": request.method,
        "path": request.path,
        "endpoint": call.view_name,
        "platform": call.platform,
        "kind": call.kind,
        "account": call.account,
        "query": call.query,
        "body": body,
        "headers": {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers},
        "status": None,
        "outcome": "pending",
        "duration_ms": None,
    }


def drop_connection(request: HttpRequest) -> None:
    """Cut the client's TCP connection now, so that it gets no answer at all.

    Django's dev and live servers hand the view ``wsgi.input``, a LimitedStream whose ``_read``
    is bound to the handler's ``rfile`` (django/core/servers/basehttp.py ServerHandler), a
    BufferedReader over a SocketIO whose ``_sock`` is the connection. After the shutdown the
    server's write of the response fails with EPIPE, which wsgiref's BaseHandler.run swallows
    ("We expect the client to close the connection abruptly"), so nothing is ever sent.
    """
    sock = find_socket(request.META.get("wsgi.input"))
    if sock is None:
        raise ConnectionDropped("accept_then_drop: the stand-in dropped the connection without answering")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def find_socket(stream: Any, depth: int = 0) -> socket.socket | None:
    if isinstance(stream, socket.socket):
        return stream
    if stream is None or depth > 6:
        return None
    for attr in ("_sock", "raw", "stream", "_stream", "rfile"):
        found = find_socket(getattr(stream, attr, None), depth + 1)
        if found is not None:
            return found
    owner = getattr(getattr(stream, "_read", None), "__self__", None)
    return find_socket(owner, depth + 1) if owner is not None and owner is not stream else None
