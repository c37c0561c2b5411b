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
