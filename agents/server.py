"""planrrr's MCP server (the ``mcp`` SDK's low-level Server): the tools of agents.tools, each
answered by its API operation through agents.gateway with the caller's key. The caller is set by
the transport: the /mcp view (the request's ``Authorization``) or ``manage.py mcp``
(PLANRRR_API_KEY). See docs/mcp.md."""

from __future__ import annotations

import contextvars
import functools
import json
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from agents import gateway
from agents.openapi import IDEMPOTENCY_KEY, operations
from agents.tools import BY_NAME, TOOLS

CALLER: contextvars.ContextVar[gateway.Caller] = contextvars.ContextVar("planrrr_mcp_caller")

INSTRUCTIONS = (
    "planrrr publishes a team's posts to its social accounts (channels) at their time. list_channels gives the "
    "channel ids a post's `channels` takes; create_post drafts, schedules or publishes a post, with per-platform "
    "or per-channel `variants`; get_post reads its status and each channel's outcome. A refused call says which "
    "field and what to change. Times are RFC 3339 with an offset."
)
_IDEMPOTENCY_ARGUMENT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[ -~]+$",
    "description": "Any 1-255 printable ASCII characters (a UUID), the same when the call is retried: the retry "
    "gets the first answer and creates nothing. Without it, the same arguments within 24 hours are taken "
    "as a retry; give distinct keys to create the same post twice on purpose.",
}


@functools.cache
def tool_list() -> list[types.Tool]:
    found = []
    for tool in TOOLS:
        operation = operations()[tool.operation]
        schema = json.loads(json.dumps(operation.input_schema))
        if tool.creates:
            schema["properties"][IDEMPOTENCY_KEY] = _IDEMPOTENCY_ARGUMENT
        found.append(
            types.Tool(
                name=tool.name,
                description=f"{tool.description} ({operation.method} {operation.path})",
                input_schema=schema,
                # Hints for a client deciding what to confirm with its user: reads change nothing;
                # a create with the same arguments again changes nothing more (Idempotency-Key).
                annotations=types.ToolAnnotations(
                    read_only_hint=operation.method == "GET",
                    idempotent_hint=operation.method == "GET" or tool.creates,
                ),
            )
        )
    return found


async def list_tools(ctx, params) -> types.ListToolsResult:
    return types.ListToolsResult(tools=tool_list())


async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    tool = BY_NAME.get(params.name)
    if tool is None:
        raise MCPError(INVALID_PARAMS, f"There is no tool {params.name!r}: the tools are {', '.join(BY_NAME)}.")
    caller = CALLER.get(None)
    if caller is None:  # a transport that set no caller: a bug, never a call without a key
        return _error("This server has no API key for its calls.")
    operation = operations()[tool.operation]
    try:
        answer = await sync_to_async(gateway.call, thread_sensitive=True)(
            caller, tool, operation, params.arguments or {}
        )
    except gateway.ArgumentError as err:
        return _error(str(err))
    if not answer.ok:
        problem = answer.body if isinstance(answer.body, dict) else {"status": answer.status, "detail": answer.body}
        return _error(gateway.explain(answer), structured=problem)
    body: Any = answer.body if answer.body not in ("", None) else {"status": answer.status}
    structured = body if isinstance(body, dict) else {"result": body}
    text = json.dumps(body, cls=DjangoJSONEncoder)
    content = [types.TextContent(type="text", text=text)]
    if answer.headers.get("Idempotent-Replayed") == "true":
        content.insert(
            0,
            types.TextContent(
                type="text", text="A retry of an earlier call: this is its answer again; nothing was done twice."
            ),
        )
    return types.CallToolResult(content=content, structured_content=structured)


def _error(text: str, structured: dict | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=True
    )


@functools.cache
def server() -> Server:
    return Server(
        "planrrr",
        version=settings.SPECTACULAR_SETTINGS["VERSION"],
        instructions=INSTRUCTIONS,
        get_tool_input_schema=lambda name: next((t.input_schema for t in tool_list() if t.name == name), None),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
