"""A real webhook receiver on a real port, in a thread, verifying what it gets like a team would.

Used by the tests and by `manage.py demo`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    verified_with: list[str] = field(default_factory=list)  # which of the receiver's secrets verified it
    received_at: float = field(default_factory=time.time)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: threading.Event | None = None  # wait for this before answering


class Receiver:
    """Answers each POST with the next scripted ``Answer`` (200 once the script is used up).

    ``secrets`` are tried on every request with ``standardwebhooks.Webhook(secret).verify``.
    ``processed`` counts distinct webhook-ids answered with a 2xx: what a receiver that
    deduplicates would have acted on.
    """

    def __init__(self, secrets: list[str] | None = None, *, host: str = "127.0.0.1", url_host: str | None = None):
        """Listens on ``host`` (a free port); ``url_host``: the name senders reach it by, when they
        run elsewhere (another container: ``host="0.0.0.0"``, ``url_host`` the container's name)."""
        self.secrets = list(secrets or [])
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://{url_host or host}:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.script.extend(answers)

    def verify(self, received: Received) -> list[str]:
        good = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(received.body, received.headers)
            except WebhookVerificationError:
                continue
            good.append(secret)
        return good

    @property
    def processed(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.received:
            if 200 <= r.status < 300:
                counts[r.webhook_id] = counts.get(r.webhook_id, 0) + 1
        return counts

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"receiver got {len(self.received)} requests, expected {count} within {timeout}s")
            return list(self.received)

    def close(self) -> None:
        with self.lock:
            for answer in self.script:
                if answer.hold is not None:
                    answer.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    answer = receiver.script.pop(0) if receiver.script else Answer()
                if answer.hold is not None:
                    answer.hold.wait(timeout=30)
                received = Received({k.lower(): v for k, v in self.headers.items()}, body, answer.status)
                received.verified_with = receiver.verify(received)
                with receiver.arrived:
                    receiver.received.append(received)
                    receiver.arrived.notify_all()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender gave up (timeout) or died

            def log_message(self, *args):
                pass

        return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
