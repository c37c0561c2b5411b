"""``manage.py run_mock_apis [--host 127.0.0.1] [--port 8080] [--seed N]``: the stand-in platform
APIs on their own port (the seed's ``mock-apis`` service), their URLs (MOCK_APIS_URLCONF) at the root.

Behaviour starts from the settings RATE_LIMIT_ENABLED, RANDOM_FAILURES and LATENCY_MS (read
from the environment by planrrr/settings.py) and changes at run time through ``/_control/``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from mockapis.server import make_server
from mockapis.state import store


def serve(host: str, port: int, *, seed: int | None = None, quiet: bool = True, stdout=None) -> None:
    server = make_server(host, port, quiet=quiet)
    if seed is not None:
        store.configure({"seed": seed})
    base = f"http://{host}:{server.server_port}"
    if stdout is not None:
        stdout.write(
            f"Stand-in platform APIs on {base} (where each platform is: {base}/_control/settings; "
            f"media/<name>, _control/); "
            f"config {store.config.as_dict()}"
        )
        stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class Command(BaseCommand):
    help = "Serve the stand-in platform APIs (every platform's, media files, /_control/) on a port."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed).")
        parser.add_argument("--seed", type=int, default=None, help="Seed for RANDOM_FAILURES (reproducible runs).")

    def handle(self, *args, **options):
        serve(
            options["host"],
            options["port"],
            seed=options["seed"],
            quiet=options["verbosity"] < 2,
            stdout=self.stdout,
        )
