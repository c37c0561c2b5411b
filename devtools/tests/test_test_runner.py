"""``manage.py test --slowest N`` and ``--class-times FILE``: the slowest test modules and classes, by wall
time, with their CPU."""

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from django.test import SimpleTestCase

from devtools.test_runner import TimedTextTestResult, cpu_seconds
from devtools.tests import timed_cases


class TimedTextTestResultTests(SimpleTestCase):
    def result(self) -> TimedTextTestResult:
        return TimedTextTestResult(io.StringIO(), descriptions=False, verbosity=0)

    def test_it_sums_the_classes_a_parallel_run_timed_by_module_slowest_first(self):
        result = self.result()
        # As Django's parallel runner replays a process's events: the tests, then the class's time.
        for test in (timed_cases.Slow("test_one"), timed_cases.Slow("test_two")):
            result.startTest(test)
            result.stopTest(test)
        result.addClassTime(timed_cases.Slow("test_one"), 12.5, 3.3)
        result.startTest(timed_cases.Quick("test_one"))
        result.stopTest(timed_cases.Quick("test_one"))
        result.addClassTime(timed_cases.Quick("test_one"), 2.0, 1.5)

        lines = result.slowest(1)

        module = "devtools.tests.timed_cases"
        self.assertEqual(
            lines,
            [
                "The 1 slowest test modules (their classes' wall time, set-up included; CPU seconds):",
                f"   14.5 s     4.8 cpu  {module} (2 classes, 3 tests)",
                "The 1 slowest test classes:",
                f"   12.5 s     3.3 cpu  {module}.Slow (2 tests)",
            ],
        )

    def test_a_serial_run_counts_the_time_between_the_ends_of_two_tests(self):
        result = self.result()
        test = timed_cases.Quick("test_one")
        result._last_stop -= 3.0  # the class's set-up and the test took 3 s

        result.startTest(test)
        result.stopTest(test)

        self.assertGreaterEqual(result.class_times["devtools.tests.timed_cases.Quick"], 3.0)

    def test_a_serial_run_counts_the_cpu_between_the_ends_of_two_tests(self):
        result = self.result()
        test = timed_cases.Quick("test_one")
        result._last_cpu -= 2.0  # the class's set-up and the test spent 2 s of CPU

        result.startTest(test)
        result.stopTest(test)

        self.assertGreaterEqual(result.class_cpu["devtools.tests.timed_cases.Quick"], 2.0)

    def test_it_writes_every_class_most_cpu_first(self):
        result = self.result()
        for case, wall, cpu in ((timed_cases.Quick, 2.0, 1.5), (timed_cases.Slow, 12.5, 3.3)):
            result.startTest(case("test_one"))
            result.stopTest(case("test_one"))
            result.addClassTime(case("test_one"), wall, cpu)

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "classes.tsv"
            result.write_timing(path)
            rows = path.read_text().splitlines()

        module = "devtools.tests.timed_cases"
        self.assertEqual(
            rows,
            ["class\ttests\twall_s\tcpu_s", f"{module}.Slow\t1\t12.50\t3.30", f"{module}.Quick\t1\t2.00\t1.50"],
        )


class CpuSecondsTests(SimpleTestCase):
    def test_it_counts_a_child_that_has_ended_and_been_waited_for(self):
        # What a test's worker, stand-in or browser spends: a child process burning CPU.
        before = cpu_seconds()
        burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
        child = subprocess.run([sys.executable, "-c", burn], check=True)
        self.assertEqual(child.returncode, 0)

        self.assertGreaterEqual(cpu_seconds() - before, 0.5)
