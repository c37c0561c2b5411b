"""The SDK's Streamable HTTP transport (stateless, JSON answers) run in process for one Django
request (agents.views): the request as an ASGI scope, the answer collected whole."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from agents import gateway
from agents.server import CALLER, server


def answer(request, body: bytes, caller: gateway.Caller, *, max_body_bytes: int) -> tuple[int, list, bytes]:
    """(status, headers, body) of the transport's answer to ``request`` with ``body``. The tools'
    API calls run back on this thread (asgiref's thread-sensitive ``sync_to_async``)."""
    return async_to_sync(_serve)(_scope(request), body, caller, max_body_bytes)


def _scope(request) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "server": (request.META.get("SERVER_NAME", ""), int(request.META.get("SERVER_PORT") or 0)),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
    }


async def _serve(scope: dict, body: bytes, caller: gateway.Caller, max_body_bytes: int) -> tuple[int, list, bytes]:
    CALLER.set(caller)
    reply: dict = {"status": 500, "headers": [], "body": []}
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            reply["status"], reply["headers"] = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            reply["body"].append(message.get("body", b""))

    manager = StreamableHTTPSessionManager(
        app=server(),
        json_response=True,
        stateless=True,
        # Django has checked the Host (ALLOWED_HOSTS) and the view the Origin.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=max_body_bytes,
    )
    async with manager.run():
        await manager.handle_request(scope, receive, send)
    return reply["status"], reply["headers"], b"".join(reply["body"])
