"""A worker forked from the test process (devtools.processes.FORK) is what a new interpreter with
the same environment would be: the settings its environment changes are in force, the periodic
intervals read from them included."""

import json
import tempfile

from django.test import SimpleTestCase

from devtools import processes
from devtools.processes import ManagedProcess


class ForkedSettingsTests(SimpleTestCase):
    def test_a_forked_child_takes_its_environments_settings_and_periodic_intervals(self):
        self.assertTrue(processes.FORK, "the test runner forks the workers")
        child = ManagedProcess("rqworker", env={"SWEEP_INTERVAL_SECONDS": "0.25", "PUBLISH_MAX_ATTEMPTS": "9"})
        self.assertEqual(child._fork_overrides(), {"SWEEP_INTERVAL_SECONDS": "0.25", "PUBLISH_MAX_ATTEMPTS": "9"})
        # The command run is Django's ``shell -c`` in place of the worker, printing what it sees.
        child.command = [
            "shell",
            "-c",
            "import json; from django.conf import settings as s; print(json.dumps([s.SWEEP_INTERVAL_SECONDS,"
            " s.PUBLISH_MAX_ATTEMPTS, s.PLANRRR_PERIODIC['publishing.sweep.sweep'],"
            " s.PLANRRR_PERIODIC['webhooks.services.delivery_sweep']]))",
        ]
        self.assertIsNone(child._fork_overrides(), "only the workers' commands are forked")
        overrides = {"SWEEP_INTERVAL_SECONDS": "0.25", "PUBLISH_MAX_ATTEMPTS": "9"}
        with tempfile.TemporaryFile("w+") as log:
            forked = processes._fork(child.command, child.env, overrides, log)
            self.assertEqual(forked.wait(timeout=30), 0)
            log.seek(0)
            seen = json.loads(log.read().strip().splitlines()[-1])
        self.assertEqual(seen, [0.25, 9, 0.25, 0.25])

    def test_what_is_read_only_at_start_gets_a_new_interpreter(self):
        self.assertIsNone(ManagedProcess("rqworker", env={"REDIS_URL": "redis://127.0.0.1:1/3"})._fork_overrides())
        self.assertIsNone(ManagedProcess("rqworker", env={"SOMETHING_UNKNOWN": "1"})._fork_overrides())
