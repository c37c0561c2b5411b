"""`manage.py bench`: the real pipeline, measured.

It runs what production runs: a ``planrrr_workers`` pool of ``--workers`` workers forked from one
preloaded parent (``--no-pool``: as many separate ``manage.py rqworker --with-scheduler``
processes; the settings' RQ["WORKER_CLASS"], or ``--worker-class``), the PostgreSQL database
and the Redis server of the settings, and the stand-in platform APIs (``run_mock_apis``) on a
real port, answering after ``--latency-ms`` (the median; with ``--latency-p99-ms`` above it, a
lognormal draw with that 99th percentile). The workers run with DEBUG off, as in production,
and with the retry, rate-limit backoff and lease times cut to seconds so that a run ends. Then:

1. RQ's own throughput on no-op jobs, with the same workers (the baseline);
2. the minimal publish job (``minimal_publish``: one SELECT, one POST to the stand-in, one
   UPDATE) on as many rows, with the same workers: what the pipeline is held against;
3. ``--posts`` posts on ``--platforms``, created through ``post_create`` and all scheduled
   for the same instant a little ahead, published end to end; ``--kills`` random workers are
   killed with SIGKILL while it runs (and replaced);
4. a steady schedule (``--steady-seconds``, 0 skips it): posts due one after another at
   ``--rate`` posts a second (by default half the throughput just measured), the load of a
   busy team rather than a burst, whose lag is the scheduler's own;
5. one table, headed by the burst's drain time (scheduled_at to the last published_at):
   publications per second against the minimal job's and the no-op rate, lag from
   ``scheduled_at`` to the stand-in receiving the request (for the burst: the time to drain it;
   for the steady schedule: how late each post goes out), job times, CPU, the fleet's memory
   (PSS of all its processes together, at the burst's peak), success, lost posts and duplicate
   posts the stand-in received.

Limits the stand-in reports as the platforms do: X's per-user cap of 2,400 posts a day
(``x-user-limit-24hour-*``), which the adapter honours by waiting for the reset. A run of
more posts than that on TWITTER, with one account, waits a day: use ``--platforms FACEBOOK``.

Isolation: a running fleet never sees the bench's work, nor the bench the fleet's. The bench
works on a PostgreSQL database of its own (``<database>_bench``, created and migrated: a
worker's dispatch finds due posts in the database, whatever Redis it uses) and a Redis database
of its own (``--redis-db``, which must hold no worker and nothing but an earlier bench's
leftovers; it is flushed before and after): ``devtools.stack.isolated``. Its team (posts,
publications, webhook events) is deleted at the end unless ``--keep`` is given; its job metrics
stay, so the counters of that database never go back.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psutil
import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from django.utils import timezone

from connections.models import Platform
from connections.platforms import get_adapter
from devtools import stack
from devtools.processes import ManagedProcess, WorkerProcess, memory_pss, tree
from planrrr.models import Team
from publishing import services
from publishing.models import JobMetric, Post, Publication

# Redis keys a bench may find in its database from an earlier, interrupted run.
OWN_KEY_PREFIXES = ("rq:", "planrrr:")


def noop() -> None:
    """The job of RQ's baseline: nothing, so what is measured is RQ itself (dequeue, fork,
    bookkeeping) with the workers under test."""


_session: requests.Session | None = None


def minimal_publish(publication_id: int, token: str) -> None:
    """The job of the minimal publish baseline: what any job publishing a row must do at the
    least. One SELECT (the text and the account), one HTTP POST to the same stand-in endpoint
    the pipeline's Facebook adapter calls (with its latency), one UPDATE (published, with the
    platform's id); no claim, no lease, no event, no metric, no next job. What the pipeline
    spends beyond it is the cost of planrrr's guarantees."""
    global _session
    if _session is None:
        _session = requests.Session()
    content, account = (
        Publication.objects.filter(pk=publication_id).values_list("post__content", "connection__account_id").get()
    )
    url = f"{get_adapter('FACEBOOK').base_url}/{account}/feed"
    response = _session.post(url, data={"message": content, "access_token": token}, timeout=30)
    response.raise_for_status()
    Publication.objects.filter(pk=publication_id).update(
        status=Publication.Status.PUBLISHED, external_id=response.json()["id"], published_at=timezone.now()
    )


@dataclass
class Options:
    posts: int = 300
    platforms: list[str] = field(default_factory=lambda: ["FACEBOOK", "TWITTER"])
    workers: int = 4
    latency_ms: int = 0
    # With a p99 above latency_ms, latency_ms is the median of a lognormal latency.
    latency_p99_ms: int = 0
    failure_rate: float = 0.0
    rate_limit: tuple[int, float] | None = None
    kills: int = 0
    timeout: float = 300.0
    # Tests use database 15 and below (one per parallel process), `make run` database 0.
    redis_db: int = 1
    keep: bool = False
    seed: int | None = None
    # None: the RQ["WORKER_CLASS"] of the settings, what `manage.py rqworker` runs.
    worker_class: str | None = None
    # The workers as one planrrr_workers pool (forked from a preloaded parent), as deployed;
    # False: separate rqworker processes.
    pool: bool = True
    # The steady schedule: posts a second (None: half the burst's throughput), and how long.
    rate: float | None = None
    steady_seconds: float = 10.0
    # A webhook endpoint for the team, served by a receiver in this process.
    webhooks: bool = False

    @property
    def publications(self) -> int:
        return self.posts * len(self.platforms)


@dataclass
class Samples:
    """Memory samples of the fleet: its processes' PSS together (every page counted once, shared
    or not), and the RSS of each worker (growth is measured on it), in bytes."""

    pss_peak: int = 0
    processes_at_peak: int = 0
    rss_peak: int = 0
    rss_first: dict[int, int] = field(default_factory=dict)
    rss_last: dict[int, int] = field(default_factory=dict)


class Progress:
    """A one-line progress bar on stderr (a line per tenth when stderr is not a terminal)."""

    WIDTH = 30

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_tenth = -1

    def show(self, label: str, done: int, total: int, started: float, extra: str = "") -> None:
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and tenth == self.last_tenth:
            return
        self.last_tenth = tenth
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"{label:<12} [{bar}] {done}/{total} {time.monotonic() - started:6.1f}s {extra}"
        self.stream.write(("\r" + line.ljust(100)) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.last_tenth = -1


class Fleet:
    """The workers: a pool (``planrrr_workers``: ``size`` workers forked from one preloaded
    parent) or ``size`` separate ``rqworker`` processes; started, sampled, killed at random and
    replaced."""

    def __init__(self, size: int, env: dict[str, Any], worker_class: str | None = None, pool: bool = True):
        self.size = size
        self.env = env
        self.worker_class = worker_class
        self.pool = pool
        self.roots: list[ManagedProcess] = []
        self.killed: list[dict] = []
        self.samples = Samples()
        self.original: set[int] = set()

    def start(self) -> None:
        if self.pool:
            self.roots = [stack.workers_start(self.size, self.env, worker_class=self.worker_class)]
        else:
            self.roots = [self.new_worker() for _ in range(self.size)]

    def new_worker(self) -> WorkerProcess:
        return stack.worker_processes_start(1, self.env, worker_class=self.worker_class)[0]

    def worker_pids(self) -> list[int]:
        """The workers' pids (a pool's children; the separate processes themselves)."""
        if self.pool:
            return [p.pid for p in self.roots[0].workers()] if self.roots[0].alive() else []
        return [w.pid for w in self.roots if w.alive()]

    def wait_registered(self, connection, timeout: float = 60.0) -> None:
        """Until every worker has registered with Redis (its Django and RQ are loaded)."""
        from rq import Worker

        deadline = time.monotonic() + timeout
        while Worker.count(connection=connection) < self.size:
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


def parse_rate_limit(value: str) -> tuple[int, float] | None:
    """``20/1`` -> 20 create requests per account per 1 s window; ``off`` -> None."""
    if value in ("", "off", "none", "0"):
        return None
    limit, _, seconds = value.partition("/")
    try:
        parsed = int(limit), float(seconds or 1)
    except ValueError as err:
        raise CommandError(f"--rate-limit {value!r}: write LIMIT/SECONDS, e.g. 20/1, or off") from err
    if parsed[0] < 1 or parsed[1] <= 0:
        raise CommandError(f"--rate-limit {value!r}: the limit must be at least 1 and the window above 0 s")
    return parsed


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two Fleet.cpu_seconds() snapshots by the workers in both."""
    return sum(after[pid] - before[pid] for pid in before if pid in after)


def process_cpu(process: ManagedProcess) -> float:
    try:
        t = psutil.Process(process.pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


class Bench:
    def __init__(self, options: Options, progress: Progress, log):
        self.o = options
        self.progress = progress
        self.log = log
        self.rng = random.Random(options.seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.results: dict[str, Any] = {}

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        import django_rq

        with stack.isolated("bench", redis_db=self.o.redis_db) as database:
            self.log(f"on the database {database!r} and Redis database {self.o.redis_db}")
            self.connection = connection = django_rq.get_connection("default")
            self.claim_redis(connection)
            mock = worker_fleet = None
            team = None
            try:
                mock, base = self.start_stand_in()
                worker_fleet = Fleet(self.o.workers, self.worker_env(base), self.o.worker_class, self.o.pool)
                worker_fleet.start()
                worker_fleet.wait_registered(connection)
                self.noop_phase(connection, worker_fleet)
                team = self.make_team()
                self.minimal_phase(team, connection, worker_fleet)
                if self.o.webhooks:
                    self.make_endpoint(team)
                self.publish_phase(team, worker_fleet)
                if self.o.webhooks:
                    self.webhooks_measure()
                if self.o.steady_seconds > 0:
                    self.steady_phase(team)
            finally:
                if worker_fleet is not None:
                    worker_fleet.stop()
                if mock is not None:
                    mock.stop()
                if getattr(self, "receiver", None) is not None:
                    self.receiver.close()
                if team is not None and not self.o.keep:
                    self.delete(team)
                connection.flushdb()
        return self.results

    def claim_redis(self, connection) -> None:
        """The bench's Redis database must hold nothing but an earlier bench's leftovers."""
        keys = (key.decode(errors="replace") for key in connection.scan_iter(count=1000))
        foreign = [key for key in keys if not key.startswith(OWN_KEY_PREFIXES)]
        if foreign:
            raise CommandError(
                f"Redis database {self.o.redis_db} holds data that is not the bench's ({foreign[0]!r}, ...): "
                "choose an unused one with --redis-db."
            )
        connection.flushdb()

    def start_stand_in(self) -> tuple[ManagedProcess, str]:
        from mockapis.client import MockApis

        mock = stack.StandInProcess().start()
        self.mock_process = mock
        try:
            mock.wait_ready()
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        base = mock.base_url
        self.mock = MockApis(base)
        self.mock.reset()
        config: dict[str, Any] = {
            "latency_ms": self.o.latency_ms,
            "latency_p99_ms": self.o.latency_p99_ms,
            "random_failures": self.o.failure_rate,
            "rate_limit_enabled": self.o.rate_limit is not None,
            "seed": self.o.seed,
        }
        if self.o.rate_limit:
            config["rate_limit"] = {"limit": self.o.rate_limit[0], "window_seconds": self.o.rate_limit[1]}
        self.mock.configure(**config)
        return mock, base

    def worker_env(self, base: str) -> dict[str, Any]:
        window = self.o.rate_limit[1] if self.o.rate_limit else 1
        return {
            **stack.stand_in_env(base),
            # Seconds, not minutes: the stand-in's windows are short and the run must end.
            "PUBLISH_RETRY_BASE_SECONDS": 1,
            "GRAPH_RATE_LIMIT_BACKOFF_SECONDS": max(1, math.ceil(window)),
            "RATE_LIMIT_DEFAULT_BACKOFF_SECONDS": max(1, math.ceil(window)),
            # A killed attempt is taken over once its lease is past: keep the lease short,
            # and the job timeout (which bounds any attempt) under it.
            "PLATFORM_READ_TIMEOUT": 5,
            "PUBLISH_JOB_TIMEOUT": 10,
            "PUBLISH_LEASE_SECONDS": 12,
            "LOG_LEVEL": "WARNING",
            # Measure what production runs: no per-query debug bookkeeping.
            "DEBUG": "false",
        }

    def noop_phase(self, connection, fleet: Fleet) -> None:
        """RQ's throughput on as many no-op jobs as there are publications, same workers."""
        import django_rq
        from rq import Queue

        queue = django_rq.get_queue("default", commit_mode="auto")
        total = self.o.publications
        registry = queue.finished_job_registry
        cpu_before = fleet.cpu_seconds()
        started = time.monotonic()
        with connection.pipeline() as pipe:
            queue.enqueue_many(
                [Queue.prepare_data(noop, result_ttl=3600, job_id=f"bench-noop-{i}") for i in range(total)],
                pipeline=pipe,
            )
            pipe.execute()
        done = 0
        last_sample = 0.0
        while done < total:
            done = connection.zcard(registry.key)
            if time.monotonic() - last_sample >= 0.25:
                fleet.sample()
                last_sample = time.monotonic()
            self.progress.show("rq no-op", done, total, started)
            if time.monotonic() - started > self.o.timeout:
                raise CommandError(f"no-op jobs not done after {self.o.timeout:.0f}s ({done}/{total})")
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        self.results["noop_cpu_ms"] = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / total
        self.progress.done()
        failed = connection.zcard(queue.failed_job_registry.key)
        if failed:
            raise CommandError(f"{failed} no-op jobs failed: see the workers' logs")
        connection.delete(registry.key)
        self.results["noop_jobs"] = total
        self.results["noop_seconds"] = elapsed
        self.results["noop_per_second"] = total / elapsed

    def minimal_phase(self, team: Team, connection, fleet: Fleet) -> None:
        """The minimal publish job (``minimal_publish``) on as many publications as the burst
        has, same workers, same stand-in latency: the throughput the pipeline is held against.
        Its rows are DRAFT posts of the bench's team, on its Facebook connection (added if the
        run has none): nothing dispatches or sweeps them."""
        import django_rq
        from rq import Queue

        total = self.o.publications
        facebook = team.connections.get(platform=Platform.FACEBOOK)
        posts = Post.objects.bulk_create(
            Post(team=team, content=f"planrrr bench minimal {uuid.uuid4().hex} {i}", platforms=["FACEBOOK"])
            for i in range(total)
        )
        rows = Publication.objects.bulk_create(
            Publication(post=post, connection=facebook, platform=Platform.FACEBOOK) for post in posts
        )
        queue = django_rq.get_queue("default", commit_mode="auto")
        registry = queue.finished_job_registry
        token = f"bench_{self.run_id}_facebook"
        fleet.reset_samples()
        cpu_before = fleet.cpu_seconds()
        started = time.monotonic()
        with connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        minimal_publish, args=(row.pk, token), result_ttl=3600, job_id=f"bench-minimal-{row.pk}"
                    )
                    for row in rows
                ],
                pipeline=pipe,
            )
            pipe.execute()
        done = last_sample = 0
        while done < total:
            done = connection.zcard(registry.key) + connection.zcard(queue.failed_job_registry.key)
            if time.monotonic() - last_sample >= 0.25:
                fleet.sample()
                last_sample = time.monotonic()
            self.progress.show("minimal job", done, total, started)
            if time.monotonic() - started > self.o.timeout:
                raise CommandError(f"minimal jobs not done after {self.o.timeout:.0f}s ({done}/{total})")
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        self.progress.done()
        r = self.results
        r["minimal_cpu_ms"] = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / total
        r["minimal_pss_peak"] = fleet.samples.pss_peak
        failed = connection.zcard(queue.failed_job_registry.key)
        if failed:
            raise CommandError(f"{failed} minimal publish jobs failed: see the workers' logs")
        connection.delete(registry.key)
        r["minimal_jobs"] = total
        r["minimal_seconds"] = elapsed
        r["minimal_per_second"] = total / elapsed
        Post.objects.filter(pk__in=[p.pk for p in posts]).delete()

    def make_team(self) -> Team:
        return stack.team_create(
            name=f"bench {self.run_id} {timezone.now():%Y-%m-%d %H:%M:%S}",
            # Facebook for the minimal publish job as well.
            platforms=sorted({*self.o.platforms, "FACEBOOK"}),
            token=f"bench_{self.run_id}",
            # Bluesky and Mastodon connections name their server: the stand-in's PDS or instance.
            base_urls={"BLUESKY": self.mock.bluesky_url, "MASTODON": self.mock.mastodon_url},
        )

    def make_endpoint(self, team: Team) -> None:
        """A webhook endpoint for the team (every event), answered and verified by a receiver
        on a port of this process, as a team's own system would."""
        from devtools.receiver import Receiver
        from webhooks.services import endpoint_create

        self.receiver = Receiver()
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):
            endpoint = endpoint_create(team=team, url=self.receiver.url, description="bench receiver")
        self.receiver.secrets.append(endpoint.secret)

    def webhooks_measure(self) -> None:
        """Wait for a post.published per publication and a post.completed per post, then count
        what arrived, what verified, and how long after its event each came."""
        r = self.results
        expected = r["publications"] + r["posts"]
        started = time.monotonic()
        deadline = started + self.o.timeout
        while True:
            arrived = len(self.receiver.processed)
            self.progress.show("webhooks", arrived, expected, started)
            if arrived >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.progress.done()
        received = list(self.receiver.received)
        lags = []
        for item in received:
            if 200 <= item.status < 300:
                sent = datetime.fromisoformat(json.loads(item.body)["timestamp"].replace("Z", "+00:00"))
                lags.append(item.received_at - sent.timestamp())
        r["webhooks_expected"] = expected
        r["webhooks_processed"] = len(self.receiver.processed)
        r["webhooks_verified"] = sum(1 for item in received if item.verified_with)
        r["webhooks_requests"] = len(received)
        r["webhook_lag_p50"], r["webhook_lag_p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
        r["webhook_lag_max"] = max(lags, default=0.0)

    def publish_phase(self, team: Team, fleet: Fleet) -> None:
        total = self.o.publications
        # Creating the posts must end before their time, so that lag measures the pipeline,
        # not this loop: allow 10 ms a post (a few ms on this machine) and 2 s.
        lead = 2.0 + self.o.posts * 0.01
        at = timezone.now() + timedelta(seconds=lead)
        self.log(f"creating {self.o.posts} posts x {len(self.o.platforms)} platforms, all due at {at:%H:%M:%S.%f} UTC")
        created = time.monotonic()
        posts = [
            services.post_create(
                team=team,
                content=f"planrrr bench {self.run_id} post {i}: the same text never goes out twice.",
                platforms=self.o.platforms,
                scheduled_at=at,
            )
            for i in range(self.o.posts)
        ]
        self.results["create_seconds"] = time.monotonic() - created
        if timezone.now() >= at:
            self.log(f"warning: creating the posts took {self.results['create_seconds']:.1f}s, past their time")
        post_ids = [p.pk for p in posts]
        # Polled a few times a second: by team (an index), not by a list of a thousand ids.
        publications = Publication.objects.filter(post__team=team)
        open_posts_query = Post.objects.filter(team=team).exclude(status__in=Post.FINAL)
        fleet.reset_samples()
        cpu_before, mock_cpu_before = fleet.cpu_seconds(), process_cpu(self.mock_process)
        started = time.monotonic() + (at - timezone.now()).total_seconds()
        kills_at = sorted(self.rng.uniform(0.1, 0.7) for _ in range(self.o.kills))
        deadline = time.monotonic() + lead + self.o.timeout
        last_sample = 0.0
        while True:
            done = publications.filter(status__in=Publication.FINAL).count()
            open_posts = open_posts_query.count()
            now = time.monotonic()
            if now - last_sample >= 0.25:
                fleet.sample()
                last_sample = now
            while kills_at and done >= kills_at[0] * total:
                kills_at.pop(0)
                record = fleet.kill_one(self.rng, self.connection)
                self.log(f"killed worker {record['pid']} ({'mid-job' if record['mid_job'] else 'idle'})")
            extra = f"kills {len(fleet.killed)}/{self.o.kills}" if self.o.kills else ""
            self.progress.show("publishing", done, total, started, extra)
            if not open_posts:
                break
            if now > deadline:
                self.progress.done()
                self.log(f"timed out after {self.o.timeout:.0f}s with {open_posts} posts not final")
                break
            time.sleep(0.2)
        self.progress.done()
        fleet.sample()
        published = publications.filter(status=Publication.Status.PUBLISHED).count() or 1
        self.results["cpu_ms_per_publication"] = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / published
        self.results["stand_in_cpu_ms_per_publication"] = (
            (process_cpu(self.mock_process) - mock_cpu_before) * 1000 / published
        )
        self.measure(at, post_ids, fleet)

    def steady_phase(self, team: Team) -> None:
        """Posts due one after another at a rate the fleet can keep up with: the lag of each
        is how late the scheduler sends it, not how long it queued behind a burst."""
        r = self.results
        rate = self.o.rate or max(0.5, 0.5 * r["publications_per_second"] / len(self.o.platforms))
        count = max(1, round(rate * self.o.steady_seconds))
        lead = 2.0 + count * 0.01
        first = timezone.now() + timedelta(seconds=lead)
        due = {}
        self.log(f"steady: {count} posts due one every {1000 / rate:.0f} ms from {first:%H:%M:%S.%f} UTC")
        for i in range(count):
            text = f"planrrr bench {self.run_id} steady {i}: one post after another."
            at = first + timedelta(seconds=i / rate)
            due[text] = at.timestamp()
            services.post_create(team=team, content=text, platforms=self.o.platforms, scheduled_at=at)
        if timezone.now() >= first:
            self.log("warning: creating the steady posts took longer than their lead")
        posts = Post.objects.filter(team=team, content__contains=" steady ")
        started = time.monotonic() + lead
        deadline = time.monotonic() + lead + count / rate + self.o.timeout
        total = count * len(self.o.platforms)
        publications = Publication.objects.filter(post__in=posts)
        while True:
            done = publications.filter(status__in=Publication.FINAL).count()
            self.progress.show("steady", done, total, started)
            if done >= total or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.progress.done()
        first_request: dict[tuple, float] = {}
        for entry in self.mock.requests():
            text = _text_of(entry.get("body"))
            if entry.get("kind") == "create" and text in due:
                key = (entry["platform"], text)
                first_request[key] = min(first_request.get(key, math.inf), entry["ts"])
        lags = [ts - due[text] for (_, text), ts in first_request.items()]
        statuses = list(publications.values_list("status", flat=True))
        r["steady_rate"] = rate
        r["steady_posts"] = count
        r["steady_publications"] = len(statuses)
        r["steady_published"] = sum(1 for status in statuses if status == Publication.Status.PUBLISHED)
        r["steady_lag_p50"], r["steady_lag_p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
        r["steady_lag_max"] = max(lags, default=0.0)
        r["steady_lag_samples"] = len(lags)

    # --- figures -----------------------------------------------------------------------------

    def measure(self, at, post_ids: list[int], fleet: Fleet) -> None:
        r = self.results
        publications = list(Publication.objects.filter(post_id__in=post_ids))
        published = [p for p in publications if p.status == Publication.Status.PUBLISHED]
        posts = dict(Post.objects.filter(pk__in=post_ids).values_list("pk", "status"))
        r["posts"] = len(post_ids)
        r["publications"] = len(publications)
        r["published"] = len(published)
        r["success_rate"] = len(published) / len(publications) if publications else 0.0
        r["posts_published"] = sum(1 for s in posts.values() if s == Post.Status.PUBLISHED)
        # Every post should have gone out everywhere: any other end (or none) is a lost post.
        r["lost_posts"] = sum(1 for s in posts.values() if s != Post.Status.PUBLISHED)
        r["posts_not_final"] = sum(1 for s in posts.values() if s not in Post.FINAL)
        last = max((p.published_at for p in published), default=None)
        r["e2e_seconds"] = (last - at).total_seconds() if last else float("nan")
        r["publications_per_second"] = len(published) / r["e2e_seconds"] if last else 0.0
        r["ratio_to_noop"] = r["publications_per_second"] / r["noop_per_second"]
        r["ratio_to_minimal"] = r["publications_per_second"] / r["minimal_per_second"]

        # What the platforms saw: the stand-in's own post list and request log.
        received = self.mock.posts()
        mine = [p for p in received if self.run_id in (p.get("text") or "")]
        copies: dict[tuple, int] = {}
        for post in mine:
            key = (post["platform"], post["account"], post["text"])
            copies[key] = copies.get(key, 0) + 1
        r["platform_posts"] = len(mine)
        r["duplicates"] = sum(n - 1 for n in copies.values() if n > 1)
        first_request: dict[tuple, float] = {}
        for entry in self.mock.requests():
            text = _text_of(entry.get("body"))
            if entry.get("kind") != "create" or self.run_id not in text:
                continue
            key = (entry["platform"], text)
            first_request[key] = min(first_request.get(key, math.inf), entry["ts"])
        lags = [ts - at.timestamp() for ts in first_request.values()]
        r["lag_p50"], r["lag_p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
        r["lag_max"] = max(lags, default=0.0)
        r["lag_min"] = min(lags, default=0.0)
        r["lag_samples"] = len(lags)

        metrics = JobMetric.objects.filter(publication_id__in=[p.pk for p in publications])
        durations = list(metrics.values_list("duration_ms", flat=True))
        r["jobs"] = len(durations)
        r["job_avg_ms"] = statistics.fmean(durations) if durations else 0.0
        r["job_p99_ms"] = percentile(durations, 0.99)
        r["job_ru_maxrss"] = max(metrics.values_list("peak_rss_bytes", flat=True), default=0)
        outcomes: dict[str, int] = {}
        for outcome in metrics.values_list("outcome", flat=True):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        r["outcomes"] = outcomes

        s = fleet.samples
        r["pss_peak"] = s.pss_peak
        r["pss_processes"] = s.processes_at_peak
        r["worker_peak_rss"] = s.rss_peak
        survivors = fleet.original & set(fleet.worker_pids())
        growth = [s.rss_last[pid] - s.rss_first[pid] for pid in survivors]
        r["worker_rss_growth"] = max(growth, default=0)
        r["kills"] = len(fleet.killed)
        r["kills_mid_job"] = sum(1 for k in fleet.killed if k["mid_job"])
        r["workers"] = self.o.workers

    def delete(self, team: Team) -> None:
        """Remove the bench's team (posts, publications, connections, webhook events go with it).
        Its job metrics stay, and its webhook deliveries are counted into rollups as they go
        (webhooks.services.on_endpoint_delete): the counters never go back."""
        team.delete()


def _text_of(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for name in ("message", "text", "caption", "commentary"):
        if isinstance(body.get(name), str):
            return body[name]
    return ""


def table(o: Options, r: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures as (name, value) rows."""
    mb = 1024 * 1024
    faults = []
    if o.failure_rate:
        faults.append(f"{o.failure_rate:.0%} random failures")
    if o.rate_limit:
        faults.append(f"rate limit {o.rate_limit[0]}/{o.rate_limit[1]:g}s per account")
    if o.latency_ms and o.latency_p99_ms > o.latency_ms:
        faults.append(f"latency median {o.latency_ms} ms, p99 {o.latency_p99_ms} ms (lognormal)")
    elif o.latency_ms:
        faults.append(f"{o.latency_ms} ms latency")
    if o.kills:
        faults.append(f"{o.kills} worker kills")
    fleet = "one planrrr_workers pool" if o.pool else "separate rqworker processes"
    run = (
        f"{r['posts']} posts x {len(o.platforms)} platforms ({', '.join(o.platforms)}), "
        f"{r['workers']} workers ({fleet}, {o.worker_class or settings.RQ['WORKER_CLASS']}), "
        f"{', '.join(faults) or 'no faults'}"
    )
    drain = (
        f"{r['e2e_seconds']:.2f}s from scheduled_at to the last published_at, "
        f"{r['published']}/{r['publications']} PUBLISHED, all due at one instant"
    )
    e2e = (
        f"{r['publications_per_second']:.1f} publications/s "
        f"({r['published']} in {r['e2e_seconds']:.2f}s from scheduled_at to the last published_at)"
    )
    noop = f"{r['noop_per_second']:.1f} jobs/s ({r['noop_jobs']} in {r['noop_seconds']:.2f}s)"
    minimal = (
        f"{r['minimal_per_second']:.1f} jobs/s ({r['minimal_jobs']} in {r['minimal_seconds']:.2f}s: "
        "one SELECT, one POST to the stand-in, one UPDATE)"
    )
    ratio = (
        f"{r['ratio_to_minimal']:.2f} x the minimal publish job's throughput, "
        f"{r['ratio_to_noop']:.2f} x RQ's no-op throughput"
    )
    cpu = (
        f"{r['cpu_ms_per_publication']:.1f} ms per publication in the workers (minimal job: "
        f"{r['minimal_cpu_ms']:.1f} ms, no-op job: {r['noop_cpu_ms']:.1f} ms), "
        f"{r['stand_in_cpu_ms_per_publication']:.1f} ms in the stand-in"
    )
    lag = (
        f"min {r['lag_min']:.3f}s  p50 {r['lag_p50']:.3f}s  p99 {r['lag_p99']:.3f}s  max {r['lag_max']:.3f}s "
        f"(all {r['lag_samples']} due at one instant: the time to drain them)"
    )
    steady = None
    if "steady_rate" in r:
        steady = (
            f"p50 {r['steady_lag_p50']:.3f}s  p99 {r['steady_lag_p99']:.3f}s  max {r['steady_lag_max']:.3f}s "
            f"({r['steady_posts']} posts due one after another at {r['steady_rate']:.1f}/s; "
            f"{r['steady_published']}/{r['steady_publications']} PUBLISHED)"
        )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
    job = f"avg {r['job_avg_ms']:.1f} ms  p99 {r['job_p99_ms']:.1f} ms ({r['jobs']} publish jobs: {outcomes})"
    memory = (
        f"{r['pss_peak'] / mb:.0f} MB PSS at the burst's peak, all {r['pss_processes']} processes of the fleet "
        f"({r['pss_peak'] / mb / r['workers']:.1f} MB a worker); largest worker RSS {r['worker_peak_rss'] / mb:.1f} MB"
    )
    growth = f"{r['worker_rss_growth'] / mb:+.1f} MB (worker main process, the largest, over the publishing run)"
    webhooks = None
    if "webhooks_expected" in r:
        webhooks = (
            f"{r['webhooks_processed']}/{r['webhooks_expected']} events received, "
            f"{r['webhooks_verified']}/{r['webhooks_requests']} requests verified; event to receipt "
            f"p50 {r['webhook_lag_p50']:.3f}s  p99 {r['webhook_lag_p99']:.3f}s  max {r['webhook_lag_max']:.3f}s"
        )
    rows = [
        ("run", run),
        ("burst drained in", drain),
        ("end to end", e2e),
        ("minimal publish job", minimal),
        ("RQ no-op jobs", noop),
        ("ratio", ratio),
        ("lag, burst", lag),
        *([("lag, steady", steady)] if steady else []),
        ("job time", job),
        ("CPU", cpu if not o.kills else "n/a (workers were killed)"),
        ("worker memory", memory),
        ("RSS growth", growth),
        ("success rate", f"{r['success_rate']:.2%} ({r['published']}/{r['publications']} publications PUBLISHED)"),
        ("lost posts", f"{r['lost_posts']} of {r['posts']} (not PUBLISHED; {r['posts_not_final']} not final)"),
        ("duplicates", f"{r['duplicates']} (extra copies among the {r['platform_posts']} posts the stand-in received)"),
        *([("webhooks", webhooks)] if webhooks else []),
    ]
    if o.kills:
        rows.append(("kills", f"{r['kills']} workers SIGKILLed ({r['kills_mid_job']} mid-job) and replaced"))
    return rows


class Command(BaseCommand):
    help = (
        "Benchmark the real pipeline (workers, PostgreSQL, Redis, the stand-in APIs on a port) and print one "
        "table: publications/s against RQ's no-op rate, lag, job time, worker memory, success, lost, duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        d = Options()
        parser.add_argument("--posts", type=int, default=d.posts, help=f"Posts to publish (default {d.posts}).")
        parser.add_argument(
            "--platforms", default=",".join(d.platforms), help="Comma-separated platforms (default %(default)s)."
        )
        parser.add_argument("--workers", type=int, default=d.workers, help="Worker processes (default %(default)s).")
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="Stand-in latency per request, the median (default 0)."
        )
        parser.add_argument(
            "--latency-p99-ms",
            type=int,
            default=0,
            help="Stand-in latency's 99th percentile: above --latency-ms, a lognormal tail (default 0: none).",
        )
        parser.add_argument(
            "--failure-rate", type=float, default=None, help="Fraction of create requests answered 500/503 (default 0)."
        )
        parser.add_argument(
            "--rate-limit", default=None, help="Stand-in rate limit per account: LIMIT/SECONDS, e.g. 20/1 (default off)"
        )
        parser.add_argument("--kills", type=int, default=None, help="Workers to SIGKILL during the run (default 0).")
        parser.add_argument(
            "--faults",
            action="store_true",
            help="Fault mode: --failure-rate 0.1 --rate-limit 5/1 --kills 3 unless given otherwise.",
        )
        parser.add_argument("--timeout", type=float, default=d.timeout, help="Give up after this many seconds.")
        parser.add_argument("--redis-db", type=int, default=getattr(settings, "BENCH_REDIS_DB", d.redis_db))
        parser.add_argument("--seed", type=int, default=None, help="Seed for the stand-in's failures and the kills.")
        parser.add_argument("--keep", action="store_true", help="Keep the bench's team, posts and metrics.")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON after the table.")
        parser.add_argument(
            "--rate",
            type=float,
            default=None,
            help="Posts a second of the steady schedule (default: half the burst's measured throughput).",
        )
        parser.add_argument(
            "--webhooks",
            action="store_true",
            help="Give the team a webhook endpoint (a receiver in this process) and measure deliveries.",
        )
        parser.add_argument(
            "--steady-seconds",
            type=float,
            default=d.steady_seconds,
            help="Length of the steady schedule, seconds; 0 skips it (default %(default)s).",
        )
        parser.add_argument(
            "--no-pool",
            dest="pool",
            action="store_false",
            help="Separate rqworker processes instead of one planrrr_workers pool.",
        )
        parser.add_argument(
            "--worker-class", default=None, help="RQ worker class to run (default: RQ['WORKER_CLASS'] of the settings)."
        )

    def handle(self, *args, **opts) -> None:
        platforms = [p.strip().upper() for p in opts["platforms"].split(",") if p.strip()]
        unknown = [p for p in platforms if p not in Platform.values]
        if unknown or not platforms:
            raise CommandError(f"--platforms: choose among {', '.join(Platform.values)} (got {opts['platforms']!r})")
        if opts["posts"] < 1 or opts["workers"] < 1:
            raise CommandError("--posts and --workers must be at least 1")
        # Fault mode's defaults; what is given explicitly wins.
        defaults = {"failure_rate": 0.1, "rate_limit": "5/1", "kills": 3} if opts["faults"] else {}
        for name, off in (("failure_rate", 0.0), ("rate_limit", "off"), ("kills", 0)):
            if opts[name] is None:
                opts[name] = defaults.get(name, off)
        options = Options(
            posts=opts["posts"],
            platforms=platforms,
            workers=opts["workers"],
            latency_ms=opts["latency_ms"],
            latency_p99_ms=opts["latency_p99_ms"],
            pool=opts["pool"],
            failure_rate=opts["failure_rate"],
            rate_limit=parse_rate_limit(opts["rate_limit"]),
            kills=opts["kills"],
            timeout=opts["timeout"],
            redis_db=opts["redis_db"],
            keep=opts["keep"],
            seed=opts["seed"],
            worker_class=opts["worker_class"],
            rate=opts["rate"],
            steady_seconds=opts["steady_seconds"],
            webhooks=opts["webhooks"],
        )
        if options.kills >= options.publications:
            raise CommandError("--kills must be fewer than the publications")
        bench = Bench(options, Progress(), lambda line: self.stderr.write(line))
        results = bench.run()
        rows = table(options, results)
        width = max(len(name) for name, _ in rows)
        self.stdout.write("")
        for name, value in rows:
            self.stdout.write(f"{name:<{width}}  {value}")
        if opts["json"]:
            self.stdout.write(json.dumps(results, indent=2, default=str))
        if options.keep:
            self.stdout.write(f"\nkept: team {bench.run_id!r} with its posts and job metrics")
