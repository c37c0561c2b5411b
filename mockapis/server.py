"""Serving the stand-in on its own port: its URLs (MOCK_APIS_URLCONF) at the root, nothing else.

Used by ``manage.py run_mock_apis`` and usable in-process (a thread) by tools and tests:
``server = make_server("127.0.0.1", 0); threading.Thread(target=server.serve_forever).start()``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler


class MockApisHandler(WSGIHandler):
    """A WSGI handler answering only the stand-in's URLs (MOCK_APIS_URLCONF): no admin, no project URLs, and none of
    the project's middleware (sessions, CSRF, auth have no business on a platform's API)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)

    def get_response(self, request):
        # BaseHandler.resolve_request honours request.urlconf (and sets it for reverse()).
        request.urlconf = settings.MOCK_APIS_URLCONF
        return super().get_response(request)


class RequestHandler(WSGIRequestHandler):
    # wsgiref sends the headers and the body in two writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the headers (~40 ms on Linux) on every keep-alive
    # request. TCP_NODELAY sends both at once (measured here with 10 keep-alive clients: 218 ->
    # 880 requests a second).
    disable_nagle_algorithm = True


class QuietRequestHandler(RequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


class Server(ThreadedWSGIServer):
    # Django's WSGIServer listens with a backlog of 10. A burst opens a connection per worker
    # thread at once (96 in `manage.py bench`), while the accepting thread waits for the
    # interpreter beside a hundred handler threads: the queue overflowed, and a connection the
    # client counted open was reset under its first request ("Connection reset by peer": 8 and
    # 20 of 3,000 minimal publish jobs in two bench runs). A platform's API does not refuse
    # connections so; the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024


def make_server(host: str = "127.0.0.1", port: int = 8080, *, quiet: bool = True) -> ThreadedWSGIServer:
    """A threaded WSGI server bound to (host, port) (port 0: any free port; see server_port)."""
    handler = QuietRequestHandler if quiet else RequestHandler
    server = Server((host, port), handler, allow_reuse_address=True)
    server.set_app(MockApisHandler())
    return server
