"""A tool call run as the HTTP API request it stands for, in this process, through Django's whole
request handling: the middleware (outages, security), DRF's key authentication, roles and
throttle, the serializers and the rule book, Idempotency-Key. The tool therefore answers what
the API would, with the caller's own key: nothing an agent does is allowed that the API refuses.

Over Streamable HTTP (agents.views) the call runs on the /mcp request's own thread and database
connection; over stdio (``manage.py mcp``) each call is a request of its own, with Django's
per-request connection upkeep around it.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections

from agents.openapi import IDEMPOTENCY_KEY, Operation
from agents.tools import Tool

# What of the /mcp request's environ the API's request keeps: who asked, from where, how.
_ORIGIN_KEYS = ("SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "wsgi.url_scheme")


@dataclass(frozen=True)
class Caller:
    """Who calls the tools: the ``Authorization`` header the API gets (the team API key) and the
    origin its requests claim."""

    authorization: str = field(repr=False)
    origin: Mapping[str, str]
    # stdio: each call is a request of its own (close stale connections before and after).
    own_requests: bool = False

    @classmethod
    def over_http(cls, request) -> Caller:
        origin = {key: request.META[key] for key in _ORIGIN_KEYS if key in request.META}
        if settings.SECURE_PROXY_SSL_HEADER and settings.SECURE_PROXY_SSL_HEADER[0] in request.META:
            header = settings.SECURE_PROXY_SSL_HEADER[0]
            origin[header] = request.META[header]
        return cls(authorization=request.META.get("HTTP_AUTHORIZATION", ""), origin=origin)

    @classmethod
    def over_stdio(cls, key: str) -> Caller:
        """A local process: the first host the server answers to, over HTTPS (which a production
        server's SECURE_SSL_REDIRECT asks for; nothing goes over a network)."""
        host = next((h for h in settings.ALLOWED_HOSTS if h and h[0] not in ".*"), "localhost")
        origin = {"SERVER_NAME": host, "SERVER_PORT": "443", "HTTP_HOST": host, "REMOTE_ADDR": "127.0.0.1"}
        origin["wsgi.url_scheme"] = "https"
        if settings.SECURE_PROXY_SSL_HEADER:
            origin[settings.SECURE_PROXY_SSL_HEADER[0]] = settings.SECURE_PROXY_SSL_HEADER[1]
        return cls(authorization=f"Bearer {key}", origin=origin, own_requests=True)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return self.status < 400


class ArgumentError(ValueError):
    """Arguments the tool cannot even turn into a request (an unknown name, an id that is no number)."""


class _Handler(BaseHandler):
    """Django's request handling with the project's middleware, loaded once per process."""

    def __init__(self):
        super().__init__()
        self.load_middleware()


_handler: _Handler | None = None


def request(caller: Caller, method: str, path: str, *, query: str = "", body: bytes = b"", headers=None) -> Answer:
    """``method path`` answered by the API as if sent over HTTP with the caller's key."""
    global _handler
    if _handler is None:
        _handler = _Handler()
    environ = {
        **caller.origin,
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": caller.authorization,
        "HTTP_ACCEPT": "application/json",
        "HTTP_USER_AGENT": "planrrr-mcp",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"] = "application/json", str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if caller.own_requests:
        close_old_connections()
    try:
        response = _handler.get_response(WSGIRequest(environ))
    finally:
        if caller.own_requests:
            close_old_connections()
    content = response.content
    kind = response.get("Content-Type", "")
    answer = json.loads(content) if content and ("json" in kind) else content.decode(errors="replace")
    return Answer(status=response.status_code, body=answer, headers=dict(response.items()))


def call(caller: Caller, tool: Tool, operation: Operation, arguments: Mapping[str, Any]) -> Answer:
    """The tool's operation with these arguments (see agents.openapi for how they map)."""
    arguments = dict(arguments)
    idempotency_key = arguments.pop(IDEMPOTENCY_KEY, None) if tool.creates else None
    known = set(operation.path_arguments) | set(operation.query) | operation.body
    if unknown := sorted(set(arguments) - known):
        takes = ", ".join(sorted(known | ({IDEMPOTENCY_KEY} if tool.creates else set()))) or "no arguments"
        raise ArgumentError(f"{tool.name} takes no argument {', '.join(unknown)}: it takes {takes}.")
    path = operation.path
    for argument, parameter in operation.path_arguments.items():
        value = arguments.get(argument)
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ArgumentError(f"{argument} is required: the row's id, a whole number.")
        path = path.replace("{" + parameter + "}", str(value))
    query = urlencode(
        [(name, _query_value(arguments[name])) for name in operation.query if arguments.get(name) is not None]
    )
    body = b""
    if operation.body or operation.method in ("POST", "PUT", "PATCH"):
        fields = {name: arguments[name] for name in operation.body if name in arguments}
        if fields or operation.body:
            body = json.dumps(fields, cls=DjangoJSONEncoder).encode()
    headers = {}
    if tool.creates:
        if idempotency_key is None:
            # The same call again (an agent's retry) is the same key: the API replays the first answer.
            digest = hashlib.sha256(json.dumps([tool.name, arguments], sort_keys=True).encode()).hexdigest()
            idempotency_key = f"mcp-{digest}"
        headers["Idempotency-Key"] = str(idempotency_key)
    return request(caller, operation.method, path, query=query, body=body, headers=headers)


def _query_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_query_value(item) for item in value)  # style: form, explode: false
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def explain(answer: Answer) -> str:
    """A refused call in words an agent can act on: the problem's status, title and detail, then
    each field's errors with the rule's message (``variants.TWITTER.content: X allows at most 280
    characters; this post has 301. Shorten it by 21.``); the field names are the tool's arguments."""
    body = answer.body if isinstance(answer.body, dict) else {}
    title = body.get("title") or HTTPStatus(answer.status).phrase
    # Not a problem (a 500's page): the status says all there is to say.
    lines = [f"{answer.status} {title}" + (f": {body['detail']}" if body.get("detail") else ".")]
    for name, messages in (body.get("errors") or {}).items():
        for message in messages:
            lines.append(f"- {name or '(the request)'}: {message}")
    if "Retry-After" in answer.headers:
        lines.append(f"Try again in {answer.headers['Retry-After']} seconds.")
    return "\n".join(lines)
