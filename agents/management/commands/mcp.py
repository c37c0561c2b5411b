"""``manage.py mcp``: planrrr's MCP server over stdio, for an MCP client that starts it as a
subprocess (Claude Desktop, an IDE). The team API key comes from the environment variable
PLANRRR_API_KEY, never from the command line (where any user of the machine can read it in the
process list); it is checked once at start and never written anywhere. See docs/mcp.md."""

from __future__ import annotations

import os
import sys

import anyio
from django.core.management.base import BaseCommand, CommandError
from mcp.server.stdio import stdio_server

from agents import gateway
from agents.server import CALLER, server

KEY_VARIABLE = "PLANRRR_API_KEY"


def serve(caller: gateway.Caller) -> None:
    """Answer MCP messages on stdin/stdout until stdin closes."""

    async def run() -> None:
        CALLER.set(caller)
        mcp = server()
        async with stdio_server() as (read, write):
            await mcp.run(read, write, mcp.create_initialization_options())

    anyio.run(run)


class Command(BaseCommand):
    help = f"Serve planrrr's MCP tools over stdio, with the team API key in {KEY_VARIABLE} (docs/mcp.md)."
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        key = os.environ.pop(KEY_VARIABLE, "").strip()
        if not key:
            raise CommandError(f"Set {KEY_VARIABLE} to a team API key (manage.py api_key_create); never an argument.")
        caller = gateway.Caller.over_stdio(key)
        me = gateway.request(caller, "GET", "/api/v1/me")
        if me.status == 401:
            raise CommandError(
                f"{KEY_VARIABLE} is not a key of this server, or it was revoked: {me.body.get('detail')}"
            )
        if not me.ok:
            raise CommandError(f"The API refused to say whose key {KEY_VARIABLE} is: {gateway.explain(me)}")
        team, role = me.body["team"], me.body["role"]
        # stdout carries the protocol only: the one line for a person goes to stderr.
        print(f"planrrr MCP server on stdio for team #{team['id']} {team['name']} ({role} key)", file=sys.stderr)
        serve(caller)
