"""Real HTTP servers on loopback for the tests a mock cannot make: answers that drip or stall, a
proxy, and where a connection really went (which address, which TCP connection)."""

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
    read, so a per-read socket timeout never sees the drip.

    ``host`` and ``port``: where it listens (any loopback address: 127.0.0.2 can stand for a public
    one); ``keep_alive``: answer in HTTP/1.1 and keep the connection for the next request. Each
    request's Host header is kept in ``hosts``, the client's port (one per TCP connection) in
    ``client_ports``."""

    def __init__(
        self,
        *,
        status: int = 200,
        content_type: str = "image/png",
        length: int = 10_000,
        interval=0.2,
        chunked: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_alive: bool = False,
    ):
        self.status, self.content_type, self.length, self.interval = status, content_type, length, interval
        self.chunked = chunked
        self.stopped = threading.Event()
        self.requests: list[str] = []
        self.hosts: list[str] = []
        self.client_ports: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_GET(self):
                owner.answer(self)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.answer(self)

            def log_message(self, *args):
                pass  # the test's output is not the place

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        self.hosts.append(handler.headers.get("Host", ""))
        self.client_ports.append(handler.client_address[1])

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.record(handler)
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

    def __init__(self, body: dict, *, status: int = 200, **kwargs):
        super().__init__(status=status, content_type="application/json", **kwargs)
        self.body = json.dumps(body).encode()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.record(handler)
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)
