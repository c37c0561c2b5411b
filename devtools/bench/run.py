"""The bench's run: its options, the isolated database and Redis database it works on, the
stand-in and the workers it starts, the baselines, then the burst of posts and the steady
schedule (the phases that publish through the pipeline)."""

from __future__ import annotations

import json
import math
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

import django_rq
from django.core.management.base import CommandError
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from devtools import stack
from devtools.bench.baselines import minimal_combine, minimal_measure, noop_measure
from devtools.bench.figures import burst_figures, first_requests, minimal_ratios, percentile
from devtools.bench.fleet import Fleet, cpu_delta, process_cpu
from devtools.processes import ManagedProcess
from devtools.receiver import Receiver
from mockapis.client import MockApis
from planrrr.models import Team
from publishing import services
from publishing.models import Post, Publication
from webhooks.services import endpoint_create

# How often the burst's progress is read (two counts in PostgreSQL) and the fleet's memory and
# connections sampled (each process's smaps, pg_stat_activity). The bench runs on the machine it
# measures: polled 5 times a second and sampled 4, it took ~15 % of a core from the burst (its
# own process and PostgreSQL's counts). The drain is timed from the rows' published_at, not by
# the polls.
POLL_SECONDS = 0.5
SAMPLE_SECONDS = 1.0

# Redis keys a bench may find in its database from an earlier, interrupted run.
OWN_KEY_PREFIXES = ("rq:", "planrrr:")


@dataclass
class Options:
    posts: int = 300
    platforms: list[str] = field(default_factory=lambda: ["FACEBOOK", "TWITTER"])
    workers: int = 4
    # Job threads a worker process runs (ThreadedWorker; None: RQ_WORKER_THREADS of the settings).
    threads: int | None = None
    # Pools started as separate process groups, as separate machines would run them, each of
    # ``workers`` processes, sharing the one PostgreSQL and Redis.
    pools: int = 1
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
    # How long the fleet's CPU is measured while it waits for work, before the first job.
    idle_seconds: float = 5.0
    # A webhook endpoint for the team, served by a receiver in this process.
    webhooks: bool = False
    # The analytics run (devtools.bench.analytics): readings made with generate_series for the
    # storage's figures, and published posts tracked and read over the stand-in.
    analytics: bool = False
    storage_rows: int = 3_000_000
    tracked: int = 10_000

    @property
    def publications(self) -> int:
        return self.posts * len(self.platforms)


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
        # The bench sends its bursts to one account per platform, past the caps a real account
        # has (X takes 200 posts per 15 min, Instagram 25 a day: publishing.services.caps), which
        # the door would refuse: it measures the pipeline, so its door weighs no cap. Only the
        # door and the queue weigh caps, never the workers.
        with (
            patch("publishing.services.caps.windows_of", return_value=[]),
            stack.isolated("bench", redis_db=self.o.redis_db) as database,
        ):
            self.log(f"on the database {database!r} and Redis database {self.o.redis_db}")
            self.connection = connection = django_rq.get_connection("default")
            self.claim_redis(connection)
            mock = worker_fleet = None
            team = None
            try:
                mock, base = self.start_stand_in()
                worker_fleet = Fleet(
                    self.o.workers, self.worker_env(base), self.o.worker_class, self.o.pool, pools=self.o.pools
                )
                worker_fleet.start()
                worker_fleet.wait_registered(connection)
                self.idle_measure(worker_fleet)
                measure = {"connection": connection, "fleet": worker_fleet, "progress": self.progress}
                total, timeout = self.o.publications, self.o.timeout
                self.results.update(noop_measure(total=total, timeout=timeout, **measure))
                team = self.make_team()
                token = f"bench_{self.run_id}_facebook"
                minimal = {"team": team, "total": total, "token": token, "timeout": timeout, **measure}
                self.results.update(minimal_measure(name="minimal_before", **minimal))
                if self.o.webhooks:
                    self.make_endpoint(team)
                self.faults_configure()
                self.publish_phase(team, worker_fleet)
                if self.o.webhooks:
                    self.webhooks_measure()
                # The minimal job again, on the same workers once the burst's work is done
                # (without the faults, as before it): the burst is held against both runs.
                self.faults_configure(on=False)
                self.results.update(minimal_measure(name="minimal_after", **minimal))
                self.faults_configure()
                minimal_combine(self.results)
                minimal_ratios(self.results)
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

    def idle_measure(self, fleet: Fleet) -> None:
        """The fleet's CPU while it waits for work (its periodic work, its threads waiting on
        Redis, the scheduler): what an idle deployment costs, whatever it publishes."""
        if self.o.idle_seconds <= 0:
            return
        before, started = fleet.cpu_seconds(), time.monotonic()
        time.sleep(self.o.idle_seconds)
        spent = cpu_delta(before, fleet.cpu_seconds())
        self.results["idle_cpu_share"] = spent / (time.monotonic() - started)

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
        mock = stack.StandInProcess().start()
        self.mock_process = mock
        try:
            mock.wait_ready()
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        base = mock.base_url
        self.mock = MockApis(base)
        self.mock.reset()
        # The baselines run without the faults (a minimal job has no retry: a 429 or a 500 would
        # fail it); the faults are turned on for the pipeline's phases (faults_configure).
        self.mock.configure(latency_ms=self.o.latency_ms, latency_p99_ms=self.o.latency_p99_ms, seed=self.o.seed)
        return mock, base

    def faults_configure(self, *, on: bool = True) -> None:
        """The stand-in's faults (``--faults``, ``--failure-rate``, ``--rate-limit``) for the
        pipeline's phases; ``on=False``: none, for the baselines."""
        config: dict[str, Any] = {
            "random_failures": self.o.failure_rate if on else 0.0,
            "rate_limit_enabled": on and self.o.rate_limit is not None,
        }
        if on and self.o.rate_limit:
            config["rate_limit"] = {"limit": self.o.rate_limit[0], "window_seconds": self.o.rate_limit[1]}
        self.mock.configure(**config)

    def worker_env(self, base: str) -> dict[str, Any]:
        window = self.o.rate_limit[1] if self.o.rate_limit else 1
        return {
            **stack.stand_in_env(base),
            # Seconds, not minutes: the stand-in's windows are short and the run must end.
            "PUBLISH_RETRY_BASE_SECONDS": 1,
            "GRAPH_RATE_LIMIT_BACKOFF_SECONDS": max(1, math.ceil(window)),
            "RATE_LIMIT_DEFAULT_BACKOFF_SECONDS": max(1, math.ceil(window)),
            # A killed attempt is taken over once its lease is past: keep the lease short, and
            # the job timeout (which bounds any attempt) under it. Long enough for an attempt
            # whose predecessor's outcome is unknown to read the account's posts first (up to
            # RECONCILE_MAX_PAGES pages at the stand-in's latency, its 429s included): at 10 s
            # such attempts ended on the timeout again and again and gave up (20 of 3,000 with
            # --faults at 300 ms). The read timeout is production's 30 s cut to 10 s, under the
            # call's deadline (half the job timeout): at 5 s the stand-in's latency tail (median
            # 300 ms, p99 2 s: about one call in 3,500 is past 5 s) made a timed-out call, a retry
            # and a look for the post in about every other 1,000 x 3 burst, and decided its drain.
            "PLATFORM_READ_TIMEOUT": 10,
            "PUBLISH_JOB_TIMEOUT": 30,
            "PUBLISH_LEASE_SECONDS": 35,
            "LOG_LEVEL": "WARNING",
            # Measure what production runs: no per-query debug bookkeeping.
            "DEBUG": "false",
            **({"RQ_WORKER_THREADS": self.o.threads} if self.o.threads else {}),
        }

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
        # The posts are made through the door a day ahead, then all moved to one instant 2 s away
        # in one UPDATE (as an edit of their time would): however long making them takes (a
        # loaded machine: minutes for 10,000), the burst is due at once and the lag measures
        # the pipeline, not this loop.
        lead = 2.0
        self.log(f"creating {self.o.posts} posts x {len(self.o.platforms)} platforms")
        created = time.monotonic()
        posts = [
            services.post_create(
                team=team,
                content=f"planrrr bench {self.run_id} post {i}: the same text never goes out twice.",
                platforms=self.o.platforms,
                scheduled_at=timezone.now() + timedelta(days=1),
            )
            for i in range(self.o.posts)
        ]
        self.results["create_seconds"] = time.monotonic() - created
        post_ids = [p.pk for p in posts]
        at = timezone.now() + timedelta(seconds=lead)
        Post.objects.filter(pk__in=post_ids).update(scheduled_at=at)
        self.log(f"created in {self.results['create_seconds']:.1f}s, all due at {at:%H:%M:%S.%f} UTC")
        # Polled a few times a second: by team (an index), not by a list of a thousand ids.
        publications = Publication.objects.filter(post__team=team)
        open_posts_query = Post.objects.filter(team=team).exclude(status__in=Post.FINAL)
        fleet.reset_samples()
        jobs_before = fleet.jobs_by_pool(self.connection)
        cpu_before, mock_cpu_before = fleet.cpu_seconds(), process_cpu(self.mock_process)
        started = time.monotonic() + (at - timezone.now()).total_seconds()
        kills_at = sorted(self.rng.uniform(0.1, 0.7) for _ in range(self.o.kills))
        deadline = time.monotonic() + lead + self.o.timeout
        last_sample = 0.0
        while True:
            done = publications.filter(status__in=Publication.FINAL).count()
            open_posts = open_posts_query.count()
            now = time.monotonic()
            if now - last_sample >= SAMPLE_SECONDS:
                fleet.sample()
                fleet.sample_connections()
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
            time.sleep(POLL_SECONDS)
        self.progress.done()
        fleet.sample()
        published = publications.filter(status=Publication.Status.PUBLISHED).count() or 1
        self.results["cpu_ms_per_publication"] = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / published
        jobs_after = fleet.jobs_by_pool(self.connection)
        self.results["jobs_by_pool"] = [after - jobs_before.get(pool, 0) for pool, after in sorted(jobs_after.items())]
        self.results["stand_in_cpu_ms_per_publication"] = (
            (process_cpu(self.mock_process) - mock_cpu_before) * 1000 / published
        )
        burst_figures(
            self.results,
            at=at,
            post_ids=post_ids,
            fleet=fleet,
            mock=self.mock,
            run_id=self.run_id,
            workers=self.o.workers,
        )

    def steady_phase(self, team: Team) -> None:
        """Posts due one after another at a rate the fleet can keep up with: the lag of each
        is how late the scheduler sends it, not how long it queued behind a burst."""
        r = self.results
        rate = self.o.rate or max(0.5, 0.5 * r["publications_per_second"] / len(self.o.platforms))
        count = max(1, round(rate * self.o.steady_seconds))
        lead = 2.0
        # Made a day ahead, then moved together (as the burst's posts).
        ahead = timezone.now() + timedelta(days=1)
        offsets = {}
        for i in range(count):
            text = f"planrrr bench {self.run_id} steady {i}: one post after another."
            offsets[text] = i / rate
            services.post_create(
                team=team, content=text, platforms=self.o.platforms, scheduled_at=ahead + timedelta(seconds=i / rate)
            )
        posts = Post.objects.filter(team=team, content__contains=" steady ")
        first = timezone.now() + timedelta(seconds=lead)
        posts.update(scheduled_at=F("scheduled_at") - (ahead - first))
        due = {text: first.timestamp() + offset for text, offset in offsets.items()}
        self.log(f"steady: {count} posts due one every {1000 / rate:.0f} ms from {first:%H:%M:%S.%f} UTC")
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
        lags = [ts - due[text] for (_, text), ts in first_requests(self.mock, lambda text: text in due).items()]
        statuses = list(publications.values_list("status", flat=True))
        r["steady_rate"] = rate
        r["steady_posts"] = count
        r["steady_publications"] = len(statuses)
        r["steady_published"] = sum(1 for status in statuses if status == Publication.Status.PUBLISHED)
        r["steady_lag_p50"], r["steady_lag_p99"] = percentile(lags, 0.5), percentile(lags, 0.99)
        r["steady_lag_max"] = max(lags, default=0.0)
        r["steady_lag_samples"] = len(lags)

    def delete(self, team: Team) -> None:
        """Remove the bench's team (posts, publications, connections, webhook events go with it).
        Its job metrics stay, and its webhook deliveries are counted into rollups as they go
        (webhooks.services.on_endpoint_delete): the counters never go back."""
        team.delete()
