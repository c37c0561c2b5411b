"""A command ended by SIGTERM releases the embedded PostgreSQL and Redis: the last user stops them.

Runs ``manage.py shell`` on embedded servers of its own (``EMBEDDED_DIR``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

from devtools.embedded import RedisServer
from devtools.testing import wait_for


class EmbeddedReleaseTests(SimpleTestCase):
    """The embedded PostgreSQL and Redis stop when their last user ends by SIGTERM."""

    def test_it_stops_the_embedded_servers_when_their_last_user_is_terminated(self):
        root = Path(tempfile.mkdtemp(prefix="planrrr-embedded-"))
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        # pgserver run as root runs PostgreSQL as a user of its own, which must reach the data.
        root.chmod(0o755)
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("DATABASE_URL", "REDIS_URL", "DATABASE_NAME_OVERRIDE")
        }
        env["EMBEDDED_DIR"] = str(root)
        output = root / "output"
        waits = "import time; print('ready', flush=True); time.sleep(600)"
        with open(output, "w") as handle:
            command = subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-c", waits],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.addCleanup(self.stop_servers, root)
        self.addCleanup(command.kill)
        wait_for(lambda: "ready" in output.read_text() or command.poll() is not None, timeout=120)
        self.assertIsNone(command.poll(), output.read_text())
        redis_server = RedisServer(root / "redis")
        self.assertTrue(redis_server.ping())
        self.assertTrue((root / "pg" / "postmaster.pid").exists())

        command.send_signal(signal.SIGTERM)
        command.wait(timeout=60)

        self.assertEqual(command.returncode, -signal.SIGTERM, output.read_text())
        self.assertFalse(redis_server.ping(), "the embedded Redis is still running")
        self.assertEqual(list((root / "redis" / "users").iterdir()), [])
        self.assertEqual(json.loads((root / "pg" / ".handle_pids.json").read_text()), [])
        self.assertFalse((root / "pg" / "postmaster.pid").exists(), "the embedded PostgreSQL is still running")

    def stop_servers(self, root: Path) -> None:
        """If the test failed, leave nothing running."""
        RedisServer(root / "redis").stop()
        if (root / "pg" / "postmaster.pid").exists():
            from pgserver._commands import pg_ctl

            pg_ctl(["-w", "stop"], pgdata=root / "pg", user="pgserver" if os.geteuid() == 0 else None)
