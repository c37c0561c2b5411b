"""The MCP server driven by the SDK's own client, over Streamable HTTP (/mcp on the live server) and
over stdio (a ``manage.py mcp`` subprocess), against real workers publishing to the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from datetime import timedelta

import httpx2
from django.conf import settings
from django.utils import timezone
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from api import services as api_services
from api.models import ApiKey
from devtools.processes import worker_env
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase

TIMEOUT = 30


class McpTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        _, self.key = api_services.api_key_create(team=self.team, name="Agent", role="write")

    # --- the clients -----------------------------------------------------------------------

    def stdio_env(self, **env) -> dict[str, str]:
        return worker_env(**self.platform_env(), **env)

    def session(self, transport: str, key: str, *calls: tuple[str, dict], until_published: bool = False) -> list:
        """The tool listing, then ``calls`` in order, in one session of the SDK's client over
        ``transport`` ("http": /mcp of the live server; "stdio": a ``manage.py mcp`` subprocess).
        ``until_published``: then get_post on the last answer's post, as an agent polls, until it
        is final (or the deadline passes)."""

        async def run():
            async with contextlib.AsyncExitStack() as stack:
                if transport == "http":
                    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)
                    # Closed at the end: a kept-alive connection would keep its server thread.
                    await stack.enter_async_context(http)
                    client = Client(streamable_http_client(f"{self.live_server_url}/mcp", http_client=http))
                else:
                    command = StdioServerParameters(
                        command=sys.executable, args=["manage.py", "mcp"], cwd=str(settings.BASE_DIR),
                        env=self.stdio_env(PLANRRR_API_KEY=key),
                    )  # fmt: skip
                    client = Client(command, read_timeout_seconds=TIMEOUT)
                await stack.enter_async_context(client)
                answers = [await client.list_tools()]
                for name, arguments in calls:
                    answers.append(await client.call_tool(name, arguments))
                if until_published:
                    answers.append(await self.poll(client, answers[-1].structured_content["id"]))
                return answers

        return asyncio.run(run())

    async def poll(self, client: Client, post_id: int):
        deadline = time.monotonic() + TIMEOUT
        while True:
            status = await client.call_tool("get_post", {"postId": post_id})
            if status.structured_content["status"] in Post.FINAL or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.2)

    # --- scheduling and publishing -----------------------------------------------------------

    def schedule_to_two_channels(self, transport: str, content: str) -> None:
        tools, channels, created, status = self.session(
            transport,
            self.key,
            ("list_channels", {}),
            (
                "create_post",
                {
                    "content": content,
                    "channels": [self.facebook.pk, self.twitter.pk],
                    "scheduledAt": (timezone.now() + timedelta(seconds=1)).isoformat(),
                    "variants": {"TWITTER": {"content": f"{content} (short)"}},
                },
            ),
            until_published=True,
        )
        names = {tool.name for tool in tools.tools}
        self.assertLessEqual({"list_channels", "create_post", "get_post", "retry_post", "cancel_post"}, names)
        listed = {row["id"]: row["platform"] for row in channels.structured_content["results"]}
        self.assertEqual(listed, {self.facebook.pk: "FACEBOOK", self.twitter.pk: "TWITTER"})
        self.assertFalse(created.is_error, created.content)
        self.assertEqual(created.structured_content["status"], "SCHEDULED")
        self.assertEqual(status.structured_content["status"], "PUBLISHED", f"{status.content} {self.worker_logs()}")
        publications = status.structured_content["publications"]
        self.assertEqual({p["channelId"] for p in publications}, {self.facebook.pk, self.twitter.pk})
        self.assertTrue(all(p["externalId"] for p in publications))
        received = {p["platform"]: p["text"] for p in self.mock.posts()}
        self.assertEqual(received, {"FACEBOOK": content, "TWITTER": f"{content} (short)"})

    def test_an_agent_schedules_over_streamable_http_and_reads_it_published(self):
        self.start_worker()
        self.schedule_to_two_channels("http", "Roast day, over HTTP.")

    def test_an_agent_schedules_over_stdio_and_reads_it_published(self):
        self.start_worker()
        self.schedule_to_two_channels("stdio", "Roast day, over stdio.")

    # --- what the API refuses, the tools refuse, saying what to change ------------------------------

    def test_what_the_api_refuses_is_refused_saying_what_to_change(self):
        _, read_key = api_services.api_key_create(team=self.team, name="Reader", role="read")
        _, refused, unknown = self.session(
            "http",
            self.key,
            (
                "create_post",
                {
                    "content": "Fine for Facebook.",
                    "channels": [self.facebook.pk, self.twitter.pk],
                    "variants": {"TWITTER": {"content": "x" * 301}},
                },
            ),
            ("get_post", {"postId": 1, "id": 1}),
        )
        self.assertTrue(refused.is_error)
        text = refused.content[0].text
        self.assertIn("400 Bad Request", text)
        self.assertIn(
            "- variants.TWITTER.content: X allows at most 280 characters; this post has 301. Shorten it by 21.", text
        )
        self.assertEqual(
            refused.structured_content["errors"]["variants.TWITTER.content"][0][:22], "X allows at most 280 c"
        )
        self.assertTrue(unknown.is_error)
        self.assertEqual(unknown.content[0].text, "get_post takes no argument id: it takes postId.")

        # A read key reads, and is refused a write with the API's words.
        _, channels, forbidden = self.session(
            "http", read_key, ("list_channels", {}), ("create_post", {"content": "Hi", "platforms": ["FACEBOOK"]})
        )
        self.assertFalse(channels.is_error)
        self.assertTrue(forbidden.is_error)
        self.assertIn(
            "403 Forbidden: This API key is read-only: use a key with the write role.", forbidden.content[0].text
        )
        self.assertFalse(Post.objects.exists())

    def test_a_wrong_key_is_refused(self):
        wrong = "planrrr_" + "x" * 40
        refused = httpx2.post(
            f"{self.live_server_url}/mcp",
            headers={"Authorization": f"Bearer {wrong}", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        self.assertEqual(refused.status_code, 401)
        self.assertEqual(refused.headers["WWW-Authenticate"], 'Bearer realm="planrrr"')
        self.assertEqual(refused.json()["detail"], "Unknown or revoked API key.")
        with self.assertRaises(ExceptionGroup) as failed:  # the SDK's client cannot connect: the 401 above
            self.session("http", wrong)
        self.assertIsNotNone(failed.exception.subgroup(lambda error: isinstance(error, MCPError)))

        revoked, key = api_services.api_key_create(team=self.team, name="Gone", role="write")
        ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
        ran = subprocess.run(
            [sys.executable, "manage.py", "mcp"], env=self.stdio_env(PLANRRR_API_KEY=key), cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.assertEqual(ran.returncode, 1)
        self.assertIn("PLANRRR_API_KEY is not a key of this server, or it was revoked", ran.stderr)
        self.assertNotIn(key, ran.stderr)
        self.assertEqual(ran.stdout, "")

    def test_a_retried_create_makes_one_post(self):
        call = ("create_post", {"content": "Once only.", "platforms": ["FACEBOOK"]})
        keyed = ("create_post", {"content": "Keyed.", "platforms": ["FACEBOOK"], "idempotencyKey": "agent-1"})
        other = ("create_post", {"content": "Another body.", "platforms": ["FACEBOOK"], "idempotencyKey": "agent-1"})
        _, first, again, keyed_first, keyed_again, reused = self.session(
            "http", self.key, call, call, keyed, keyed, other
        )
        self.assertFalse(first.is_error, first.content)
        self.assertEqual(again.structured_content, first.structured_content)
        self.assertIn("nothing was done twice", again.content[0].text)
        self.assertEqual(keyed_again.structured_content["id"], keyed_first.structured_content["id"])
        self.assertTrue(reused.is_error)
        self.assertIn("422", reused.content[0].text)
        self.assertEqual(sorted(Post.objects.values_list("content", flat=True)), ["Keyed.", "Once only."])
        # A retry after the first session ended (a new connection) is still the same call.
        _, later = self.session("http", self.key, call)
        self.assertEqual(later.structured_content["id"], first.structured_content["id"])
        self.assertEqual(Post.objects.count(), 2)
