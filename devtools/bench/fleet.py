"""The bench's workers: a ``planrrr_workers`` pool or separate ``rqworker`` processes, started,
sampled (memory, CPU), killed at random and replaced."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from django.core.management.base import CommandError

from devtools import stack
from devtools.processes import ManagedProcess, WorkerProcess, memory_pss, tree


@dataclass
class Samples:
    """Memory samples of the fleet: its processes' PSS together (every page counted once, shared
    or not), and the RSS of each worker (growth is measured on it), in bytes."""

    pss_peak: int = 0
    processes_at_peak: int = 0
    rss_peak: int = 0
    rss_first: dict[int, int] = field(default_factory=dict)
    rss_last: dict[int, int] = field(default_factory=dict)
    # PostgreSQL connections of the fleet (every backend on the bench's database but this
    # process's own), at their most.
    connections_peak: int = 0


class Fleet:
    """The workers: a pool (``planrrr_workers``: ``size`` workers forked from one preloaded
    parent) or ``size`` separate ``rqworker`` processes; started, sampled, killed at random and
    replaced."""

    def __init__(
        self, size: int, env: dict[str, Any], worker_class: str | None = None, pool: bool = True, *, pools: int = 1
    ):
        self.size = size
        self.pools = pools if pool else 1
        self.env = env
        self.worker_class = worker_class
        self.pool = pool
        self.roots: list[ManagedProcess] = []
        self.killed: list[dict] = []
        self.samples = Samples()
        self.original: set[int] = set()

    def start(self) -> None:
        if self.pool:
            # Each pool a process group of its own (devtools.processes: its own session), as a
            # machine of its own would run it.
            self.roots = [
                stack.workers_start(self.size, self.env, worker_class=self.worker_class) for _ in range(self.pools)
            ]
        else:
            self.roots = [self.new_worker() for _ in range(self.size)]

    def new_worker(self) -> WorkerProcess:
        return stack.worker_processes_start(1, self.env, worker_class=self.worker_class)[0]

    def worker_pids(self) -> list[int]:
        """The workers' pids (a pool's children; the separate processes themselves)."""
        if self.pool:
            return [p.pid for root in self.roots if root.alive() for p in root.workers()]
        return [w.pid for w in self.roots if w.alive()]

    def wait_registered(self, connection, timeout: float = 60.0) -> None:
        """Until every worker has registered with Redis (its Django and RQ are loaded)."""
        from rq import Worker

        deadline = time.monotonic() + timeout
        while len({w.pid for w in Worker.all(connection=connection)}) < self.size * self.pools:
            dead = [w for w in self.roots if not w.alive()]
            if dead:
                raise CommandError(f"a worker exited while starting:\n{dead[0].output()[-3000:]}")
            if time.monotonic() > deadline:
                log = self.roots[0].output()[-3000:]
                raise CommandError(f"workers did not register within {timeout:.0f}s:\n{log}")
            time.sleep(0.1)

    def kill_one(self, rng: random.Random, connection) -> dict:
        """SIGKILL a random worker (preferring one in the middle of a job, as RQ's registry says)
        and its children; a separate process is replaced here, a pool's worker by the pool."""
        from rq import Worker

        alive = self.worker_pids()
        busy_pids = {w.pid for w in Worker.all(connection=connection) if w.get_state() == "busy"}
        busy = [pid for pid in alive if pid in busy_pids]
        victim = rng.choice(busy or alive)
        for proc in tree([victim]):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        if not self.pool:
            root = next(w for w in self.roots if w.pid == victim)
            root.kill()
            self.roots.remove(root)
            self.roots.append(self.new_worker())
        record = {"pid": victim, "mid_job": victim in busy, "at": time.monotonic()}
        self.killed.append(record)
        return record

    def sample(self) -> None:
        s = self.samples
        processes = tree([root.pid for root in self.roots if root.alive()])
        pss = memory_pss(processes)
        if pss > s.pss_peak:
            s.pss_peak, s.processes_at_peak = pss, len(processes)
        for pid in self.worker_pids():
            try:
                rss = psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                continue
            s.rss_first.setdefault(pid, rss)
            s.rss_last[pid] = rss
            s.rss_peak = max(s.rss_peak, rss)

    def sample_connections(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (count,) = cursor.fetchone()
        self.samples.connections_peak = max(self.samples.connections_peak, count)

    def jobs_by_pool(self, connection) -> dict[int, int]:
        """Jobs RQ counts as done by each pool's workers (by the pool's pid; its job threads
        included), as their registrations in Redis say now."""
        from rq import Worker

        pool_of = {p.pid: root.pid for root in self.roots if root.alive() for p in [root, *root.descendants()]}
        done: dict[int, int] = {root.pid: 0 for root in self.roots}
        for worker in Worker.all(connection=connection):
            if worker.pid in pool_of:
                done[pool_of[worker.pid]] += worker.successful_job_count + worker.failed_job_count
        return done

    def reset_samples(self) -> None:
        """Start sampling afresh; RSS growth is measured on the workers alive now."""
        self.samples = Samples()
        self.sample()
        self.original = set(self.worker_pids())

    def cpu_seconds(self) -> dict[int, float]:
        """CPU time (user + system) of each root process and its descendants, live or reaped,
        by root pid."""
        seconds = {}
        for root in self.roots:
            if not root.alive():
                continue
            total = 0.0
            for proc in tree([root.pid]):
                try:
                    t = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                # A process's children_* counts the children it has reaped, no longer in the tree.
                total += t.user + t.system + t.children_user + t.children_system
            seconds[root.pid] = total
        return seconds

    def stop(self) -> None:
        for root in self.roots:
            root.stop(timeout=10)


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two Fleet.cpu_seconds() snapshots by the workers in both."""
    return sum(after[pid] - before[pid] for pid in before if pid in after)


def process_cpu(process: ManagedProcess) -> float:
    try:
        t = psutil.Process(process.pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system
