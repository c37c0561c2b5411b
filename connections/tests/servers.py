"""Real HTTP servers on 127.0.0.1 for the tests a mock cannot make: answers that drip or stall,
and a proxy."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlowServer:
    """Answers every request with ``status``, ``content_type`` and a Content-Length of ``length``,
    then sends the body one byte every ``interval`` seconds (``interval=None``: never sends it),
    until the client goes away or the server is stopped. Use as a context manager.

    ``chunked=True``: no Content-Length but ``Transfer-Encoding: chunked``, and what drips is the
    first chunk's size line ("000…", never ended): http.client reads that line whole inside one
    read, so a per-read socket timeout never sees the drip."""

    def __init__(
        self,
        *,
        status: int = 200,
        content_type: str = "image/png",
        length: int = 10_000,
        interval=0.2,
        chunked: bool = False,
    ):
        self.status, self.content_type, self.length, self.interval = status, content_type, length, interval
        self.chunked = chunked
        self.stopped = threading.Event()
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.answer(self)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.answer(self)

            def log_message(self, *args):
                pass  # the test's output is not the place

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(self.length))
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(self.length):
            # Paced by the stop event, so that stopping the server ends the drip at once.
            if self.stopped.wait(self.interval if self.interval is not None else 3600):
                return
            try:
                handler.wfile.write(b"0" if self.chunked else b"x")
                handler.wfile.flush()
            except OSError:
                return  # the client gave up: what the test wants

    def __enter__(self) -> SlowServer:
        # Polled often, so that stopping it takes a tick, not half a second.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


class JsonServer(SlowServer):
    """Answers every request at once with ``status`` and ``body`` as JSON, and keeps each request's
    target in ``requests``. Named as a proxy (HTTP_PROXY), it is sent the absolute URL
    (``http://api.x.invalid/2/tweets``) and answers it itself: a proxy that never forwards."""

    def __init__(self, body: dict, *, status: int = 200):
        super().__init__(status=status, content_type="application/json")
        self.body = json.dumps(body).encode()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)
