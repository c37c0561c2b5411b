"""Settings that would quietly switch something off are refused at start, saying what to set."""

import os
import subprocess
import sys

from django.conf import settings
from django.test import SimpleTestCase


class SettingsTests(SimpleTestCase):
    def test_a_value_that_switches_reconciliation_off_is_refused(self):
        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=settings.BASE_DIR,
            env={**os.environ, "RECONCILE_MAX_PAGES": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )

        self.assertNotEqual(result.returncode, 0)
        self.assertIn("RECONCILE_MAX_PAGES=0 is too small: set it to 1 or more, or unset it.", result.stderr)


def debug_in(argv: list[str], **env: str) -> str:
    """settings.DEBUG as a process started as ``manage.py <argv>`` reads it: the settings module
    decides it when it is first read (django.setup(), which imports every app after that, would
    cost the interpreter a second of CPU more and change nothing of it)."""
    script = f"import sys; sys.argv = ['manage.py', *{argv!r}]; from django.conf import settings; print(settings.DEBUG)"
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "PRODUCTION")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "planrrr.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class DebugTests(SimpleTestCase):
    """Django's debug pages (settings, SQL, source on every error) only where a developer asks."""

    def test_it_is_off_for_gunicorn_the_workers_and_commands(self):
        self.assertEqual(debug_in([]), "False")  # gunicorn and python -c load the settings without a command
        self.assertEqual(debug_in(["planrrr_workers"]), "False")
        self.assertEqual(debug_in(["demo"]), "False")

    def test_runserver_turns_it_on_for_itself(self):
        self.assertEqual(debug_in(["runserver"]), "True")

    def test_production_keeps_it_off_even_for_runserver(self):
        production = {
            "PRODUCTION": "true",
            "SECRET_KEY": "x" * 60,
            "TOKEN_ENCRYPTION_KEY": "key",
            "ALLOWED_HOSTS": "planrrr.example.com",
        }
        self.assertEqual(debug_in(["runserver"], **production), "False")

    def test_the_developer_may_ask_for_it(self):
        self.assertEqual(debug_in(["planrrr_workers"], DEBUG="true"), "True")
