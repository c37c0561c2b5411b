"""The bench's baselines: their jobs counted by id (whatever else the workers finish meanwhile),
and the minimal job's two runs, before and after the burst, combined."""

from __future__ import annotations

import threading
import time

import django_rq
from django.test import SimpleTestCase
from rq import Queue, SimpleWorker

from devtools.bench import baselines
from devtools.bench.figures import minimal_ratios
from devtools.bench.jobs import noop
from devtools.testing import flush_redis


class _Fleet:
    """No processes: the CPU never moves, sampling does nothing."""

    def cpu_seconds(self) -> dict[int, float]:
        return {1: 0.0}

    def sample(self) -> None:
        pass


class _Progress:
    def __init__(self):
        self.shown: list[int] = []

    def show(self, label, done, total, started, extra="") -> None:
        self.shown.append(done)

    def done(self) -> None:
        pass


class DrainTests(SimpleTestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.queue = django_rq.get_queue("default", commit_mode="auto")
        self.connection = self.queue.connection

    def test_only_its_own_jobs_count_as_done(self):
        # The registry already holds more finished jobs than the run has: the burst's last jobs,
        # the periodic ones. Counting them, the run ended at its first look.
        finished = self.queue.finished_job_registry.key
        self.connection.zadd(finished, {f"other-{i}": time.time() + 3600 for i in range(10)})
        jobs = [Queue.prepare_data(noop, result_ttl=3600, job_id=f"bench-noop-{i}") for i in range(5)]
        progress, results = _Progress(), {}

        def drain():
            results.update(
                baselines._drain(
                    "noop",
                    "rq no-op",
                    "no-op jobs",
                    jobs,
                    connection=self.connection,
                    fleet=_Fleet(),
                    progress=progress,
                    timeout=30,
                )
            )

        thread = threading.Thread(target=drain)
        thread.start()
        deadline = time.monotonic() + 10
        while len(progress.shown) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertGreaterEqual(len(progress.shown), 3, "the drain never looked at the registries")
        self.assertTrue(thread.is_alive(), "the drain ended before a worker ran its jobs")
        self.assertEqual(set(progress.shown), {0})

        SimpleWorker([self.queue], connection=self.connection).work(burst=True)
        thread.join(timeout=10)

        self.assertFalse(thread.is_alive())
        self.assertEqual(results["noop_jobs"], 5)
        self.assertEqual(progress.shown[-1], 5)
        # Its own jobs are taken out of the registry, the others' left.
        self.assertEqual(
            sorted(member.decode() for member in self.connection.zrange(finished, 0, -1)),
            sorted(f"other-{i}" for i in range(10)),
        )


def _minimal_run(name: str, *, seconds: float, cpu_ms: float, pss: int, jobs: int = 600) -> dict:
    """What minimal_measure(name=...) returns of one run."""
    return {
        f"{name}_jobs": jobs,
        f"{name}_seconds": seconds,
        f"{name}_per_second": jobs / seconds,
        f"{name}_cpu_ms": cpu_ms,
        f"{name}_pss_peak": pss,
    }


class MinimalCombineTests(SimpleTestCase):
    def test_the_two_runs_make_one_baseline(self):
        r = {
            **_minimal_run("minimal_before", seconds=1.5, cpu_ms=3.0, pss=200),
            **_minimal_run("minimal_after", seconds=1.0, cpu_ms=2.0, pss=250),
            "publications_per_second": 480.0,
        }

        baselines.minimal_combine(r)
        minimal_ratios(r)

        self.assertEqual(r["minimal_jobs"], 600)
        self.assertAlmostEqual(r["minimal_seconds"], 1.25)
        self.assertAlmostEqual(r["minimal_per_second"], 480.0)
        self.assertAlmostEqual(r["minimal_cpu_ms"], 2.5)
        self.assertEqual(r["minimal_pss_peak"], 250)
        self.assertAlmostEqual(r["ratio_to_minimal"], 1.0)
        self.assertAlmostEqual(r["ratio_to_minimal_before"], 1.2)
        self.assertAlmostEqual(r["ratio_to_minimal_after"], 0.8)

    def test_one_run_is_the_baseline_alone(self):
        # Either run alone is a baseline (minimal_combine takes whichever it finds).
        r = {**_minimal_run("minimal_before", seconds=2.0, cpu_ms=3.0, pss=200), "publications_per_second": 150.0}

        baselines.minimal_combine(r)
        minimal_ratios(r)

        self.assertAlmostEqual(r["minimal_per_second"], 300.0)
        self.assertAlmostEqual(r["ratio_to_minimal"], 0.5)
        self.assertNotIn("ratio_to_minimal_after", r)
