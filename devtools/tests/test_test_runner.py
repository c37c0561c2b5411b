"""``manage.py test --slowest N``: the slowest test modules and classes, by wall time."""

import io

from django.test import SimpleTestCase

from devtools.test_runner import TimedTextTestResult
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
        result.addClassTime(timed_cases.Slow("test_one"), 12.5)
        result.startTest(timed_cases.Quick("test_one"))
        result.stopTest(timed_cases.Quick("test_one"))
        result.addClassTime(timed_cases.Quick("test_one"), 2.0)

        lines = result.slowest(1)

        module = "devtools.tests.timed_cases"
        self.assertEqual(
            lines,
            [
                "The 1 slowest test modules (their classes' wall time, set-up included):",
                f"   14.5 s  {module} (2 classes, 3 tests)",
                "The 1 slowest test classes:",
                f"   12.5 s  {module}.Slow (2 tests)",
            ],
        )

    def test_a_serial_run_counts_the_time_between_the_ends_of_two_tests(self):
        result = self.result()
        test = timed_cases.Quick("test_one")
        result._last_stop -= 3.0  # the class's set-up and the test took 3 s

        result.startTest(test)
        result.stopTest(test)

        self.assertGreaterEqual(result.class_times["devtools.tests.timed_cases.Quick"], 3.0)
