"""Agents and automation against a live server, real workers and the stand-in platforms (one live
class, for the suite's time): the MCP server driven by the SDK's own client over Streamable HTTP
(/mcp) and stdio (a ``manage.py mcp`` subprocess), and the n8n workflow of docs/automation.md run
with the very bodies and verification code the page shows."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import httpx2
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from api import services as api_services
from api.models import ApiKey
from devtools.processes import worker_env
from devtools.receiver import Receiver
from publishing.models import Post
from publishing.tests.base import PublishingLiveTestCase

TIMEOUT = 30


class AgentsAndAutomationTests(PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        _, self.key = api_services.api_key_create(team=self.team, name="Agent", role="write")

    # --- the clients -----------------------------------------------------------------------

    def stdio_env(self, **env) -> dict[str, str]:
        return worker_env(**self.platform_env(), **env)

    def session(
        self, transport: str, key: str, *calls: tuple[str, dict], until_published: bool = False, mode: str = "auto"
    ) -> list:
        """The tool listing, then ``calls`` in order, in one session of the SDK's client over
        ``transport`` ("http": /mcp of the live server; "stdio": a ``manage.py mcp`` subprocess).
        ``until_published``: then get_post on the last answer's post, as an agent polls, until it
        is final (or the deadline passes). ``mode``: the client's protocol era ("auto": the newest
        the server speaks; "legacy": the initialize handshake of the clients before 2026-07-28)."""

        async def run():
            async with contextlib.AsyncExitStack() as stack:
                # The configurations of docs/mcp.md, pointed at this server, its files and the key.
                config = client_configuration(transport, key)
                if transport == "http":
                    url = config["url"].replace("https://planrrr.example.com", self.live_server_url)
                    http = httpx2.AsyncClient(headers=config["headers"], timeout=TIMEOUT)
                    # Closed at the end: a kept-alive connection would keep its server thread.
                    await stack.enter_async_context(http)
                    client = Client(streamable_http_client(url, http_client=http), mode=mode)
                else:
                    self.assertEqual(config["command"], "/srv/planrrr/.venv/bin/python")
                    command = StdioServerParameters(
                        command=sys.executable,
                        args=[arg.replace("/srv/planrrr", str(settings.BASE_DIR)) for arg in config["args"]],
                        env={**self.stdio_env(), **config["env"]},
                    )
                    # Its log (a line at start, the API's warnings) kept apart from the test's output.
                    errors = stack.enter_context(tempfile.TemporaryFile("w+"))
                    client = Client(stdio_client(command, errlog=errors), read_timeout_seconds=TIMEOUT, mode=mode)
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
        tools, channels, refused, created, status = self.session(
            transport,
            self.key,
            ("list_channels", {}),
            ("create_post", {"content": content, "channels": [self.facebook.pk, 999999]}),
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
        self.assertTrue(refused.is_error)
        self.assertEqual(list(refused.structured_content["errors"]), ["channels"], refused.content)
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

        # A read key reads, and is refused a write with the API's words (here from a client of the
        # handshake era).
        _, channels, forbidden = self.session(
            "http",
            read_key,
            ("list_channels", {}),
            ("create_post", {"content": "Hi", "platforms": ["FACEBOOK"]}),
            mode="legacy",
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
        self.assertEqual(httpx2.get(f"{self.live_server_url}/mcp").status_code, 401)
        # A page of another site cannot use the server through a browser that has a key (DNS rebinding).
        foreign = httpx2.post(
            f"{self.live_server_url}/mcp",
            headers={"Authorization": f"Bearer {self.key}", "Origin": "https://evil.example"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        self.assertEqual(foreign.status_code, 403)
        # A stateless server offers no stream to GET (Streamable HTTP: 405).
        stream = httpx2.get(f"{self.live_server_url}/mcp", headers={"Authorization": f"Bearer {self.key}"})
        self.assertEqual(stream.status_code, 405)
        with self.assertRaises(ExceptionGroup) as failed:  # the SDK's client cannot connect: the 401 above
            self.session("http", wrong)
        self.assertIsNotNone(failed.exception.subgroup(lambda error: isinstance(error, MCPError)))

        revoked, key = api_services.api_key_create(team=self.team, name="Gone", role="write")
        ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
        with mock.patch.dict(os.environ, {"PLANRRR_API_KEY": key}), self.assertRaises(CommandError) as failed:
            call_command("mcp")
        self.assertEqual(
            str(failed.exception),
            "PLANRRR_API_KEY is not a key of this server, or it was revoked: Unknown or revoked API key.",
        )
        with mock.patch.dict(os.environ, {"PLANRRR_API_KEY": ""}), self.assertRaisesRegex(CommandError, "Set PLANRRR"):
            call_command("mcp")

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

    # --- docs/automation.md, end to end ----------------------------------------------------------

    def test_the_documented_workflow_schedules_and_verifies_what_happened(self):
        blocks = automation_blocks()
        receiver = Receiver()
        self.addCleanup(receiver.close)
        self.mock.fail("TWITTER", mode="error")
        self.start_worker()
        api = f"{self.live_server_url}/api/v1"
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.key}"
        self.addCleanup(http.close)

        # 1. The endpoint, at the Webhook node's URL (here the receiver's).
        endpoint = {**json.loads(blocks["endpoint"]), "url": receiver.url}
        created = http.post(f"{api}/webhook-endpoints", json=endpoint, timeout=TIMEOUT)
        self.assertEqual(created.status_code, 201, created.text)
        secret = created.json()["secret"]

        # 2. The HTTP Request node, with an item whose text needs escaping; n8n's Retry On Fail sends it again.
        item = {"id": 42, "text": 'Our "new" roast is out,\nwith its story.', "shortText": "New roast is out."}
        item["publishAt"] = (timezone.now() + timedelta(seconds=1)).isoformat()
        request = {
            "data": render(blocks["schedule"], item).encode(),
            "headers": {"Idempotency-Key": render(blocks["idempotency-key"], item), "Content-Type": "application/json"},
            "timeout": TIMEOUT,
        }
        first, retried = http.post(f"{api}/posts", **request), http.post(f"{api}/posts", **request)
        self.assertEqual(first.status_code, 201, first.text)
        self.assertEqual(first.json()["status"], "SCHEDULED")
        self.assertEqual(retried.json()["id"], first.json()["id"])
        self.assertEqual(retried.headers["Idempotent-Replayed"], "true")
        post = self.wait_until_final(Post.objects.get())
        self.assertEqual(post.status, Post.Status.PARTIAL)
        self.assertEqual(post.content, item["text"])

        # 3. The Webhook node's deliveries, verified by the page's code; a forgery is refused.
        namespace: dict = {}
        exec(blocks["verify"], namespace)  # the page's code, as pasted into the Code node
        verify = namespace["verify"]
        events = {}
        for delivery in receiver.wait_for(2, timeout=TIMEOUT):
            event = verify(secret, delivery.headers, delivery.body)
            events[event["event"]] = event["data"]
        self.assertEqual(events["post.published"]["platform"], "FACEBOOK")
        self.assertEqual(events["post.published"]["postId"], post.pk)
        self.assertEqual(events["post.failed"]["platform"], "TWITTER")
        self.assertIn("API error", events["post.failed"]["error"])
        delivery = receiver.received[0]
        with self.assertRaisesRegex(ValueError, "No signature matches"):
            verify(
                secret,
                delivery.headers,
                delivery.body.replace(b"FACEBOOK", b"FACEB00K").replace(b"TWITTER", b"TW1TTER"),
            )
        with self.assertRaisesRegex(ValueError, "No signature matches"):
            verify("whsec_" + base64.b64encode(b"not the secret").decode(), delivery.headers, delivery.body)

        # The post.failed branch, once the cause is fixed: retry; X's publication goes out.
        self.mock.clear_failures("TWITTER")
        method, url = render(blocks["retry"], {"data": events["post.failed"]}).split()
        retry = http.request(method, url.replace("https://planrrr.example.com/api/v1", api), timeout=TIMEOUT)
        self.assertEqual(retry.status_code, 200, retry.text)
        [*_, last] = receiver.wait_for(3, timeout=TIMEOUT)
        self.assertEqual(verify(secret, last.headers, last.body)["data"]["platform"], "TWITTER")
        self.assertEqual(self.wait_until_final(post).status, Post.Status.PUBLISHED)


def client_configuration(transport: str, key: str) -> dict:
    """docs/mcp.md's configuration for ``transport`` ("http", "stdio"), with ``key``."""
    page = (Path(settings.BASE_DIR) / "docs" / "mcp.md").read_text()
    block = re.search(rf"<!-- mcp:{transport} -->\n```json\n(.*?)\n```", page, flags=re.DOTALL).group(1)
    return json.loads(block.replace("planrrr_YOUR_KEY", key))["mcpServers"]["planrrr"]


def automation_blocks() -> dict[str, str]:
    """The blocks of docs/automation.md marked ``<!-- automation:NAME -->``, by name."""
    page = (Path(settings.BASE_DIR) / "docs" / "automation.md").read_text()
    return dict(re.findall(r"<!-- automation:([a-z-]+) -->\n```[a-z]*\n(.*?)\n```", page, flags=re.DOTALL))


def render(template: str, item: dict) -> str:
    """An n8n expression's ``{{ }}`` as n8n fills them from the item: ``$json.a.b`` its text,
    ``JSON.stringify(...)`` as a JSON value."""

    def value(path: str):
        found = item
        for part in path.removeprefix("$json.").split("."):
            found = found[part]
        return found

    def fill(match: re.Match) -> str:
        expression = match.group(1).strip()
        if stringified := re.fullmatch(r"JSON\.stringify\((.+)\)", expression):
            return json.dumps(value(stringified.group(1)))
        return str(value(expression))

    return re.sub(r"\{\{(.+?)\}\}", fill, template)
