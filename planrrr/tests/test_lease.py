"""A stage or publish job can't outlive its lease: settings refuse a lease no longer than the job timeout."""

import os
import subprocess
import sys

from django.conf import settings
from django.test import SimpleTestCase


class LeaseSettingsTests(SimpleTestCase):
    def test_it_refuses_a_lease_no_longer_than_the_job_timeout(self):
        result = self.check(PUBLISH_JOB_TIMEOUT="120", PUBLISH_LEASE_SECONDS="120")

        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "PUBLISH_LEASE_SECONDS=120 must be longer than PUBLISH_JOB_TIMEOUT=120: set it to 135 or more",
            result.stderr,
        )

    def check(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=settings.BASE_DIR,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_a_call_deadline_is_shorter_than_the_job_timeout_and_refused_otherwise(self):
        # A shorter job timeout brings the call deadline's default down with it (half of it).
        lowered = self.check(PUBLISH_JOB_TIMEOUT="20", PUBLISH_LEASE_SECONDS="30")
        self.assertEqual(lowered.returncode, 0, lowered.stderr)

        refused = self.check(PUBLISH_JOB_TIMEOUT="20", PUBLISH_LEASE_SECONDS="30", PLATFORM_CALL_DEADLINE_SECONDS="20")

        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(
            "PLATFORM_CALL_DEADLINE_SECONDS=20 must be shorter than PUBLISH_JOB_TIMEOUT=20: set it to 10 or less",
            refused.stderr,
        )

    def test_it_gives_every_publish_job_the_job_timeout(self):
        # The queue's default timeout is what a stage job (enqueued without one) gets.
        self.assertEqual(settings.RQ_QUEUES["default"]["DEFAULT_TIMEOUT"], settings.PUBLISH_JOB_TIMEOUT)
        self.assertGreater(settings.PUBLISH_LEASE_SECONDS, settings.PUBLISH_JOB_TIMEOUT)
        self.assertLess(settings.PLATFORM_CALL_DEADLINE_SECONDS, settings.PUBLISH_JOB_TIMEOUT)
