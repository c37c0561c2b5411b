"""`manage.py bench` (`make bench`): the real pipeline, measured (devtools.bench says how;
docs/performance.md has the figures)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import Platform
from devtools.bench.figures import table
from devtools.bench.run import Bench, Options, Progress


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
            "--threads",
            type=int,
            default=None,
            help="Job threads per worker process (ThreadedWorker; default: RQ_WORKER_THREADS, "
            f"{settings.RQ_WORKER_THREADS}).",
        )
        parser.add_argument(
            "--pools",
            type=int,
            default=1,
            help="planrrr_workers pools, each of --workers processes, as separate process groups (as separate "
            "machines) on the one PostgreSQL and Redis (default 1).",
        )
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
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=d.idle_seconds,
            help="How long the fleet's CPU is measured while it waits for work, before the first job "
            "(default %(default)s; 0: not measured).",
        )
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
            "--analytics",
            action="store_true",
            help="The analytics run: the time series' storage at --storage-rows readings, then --tracked published "
            "posts read over the stand-in beside the steady schedule (docs/performance.md).",
        )
        parser.add_argument("--storage-rows", type=int, default=d.storage_rows, help="Readings (default %(default)s).")
        parser.add_argument("--tracked", type=int, default=d.tracked, help="Tracked posts (default %(default)s).")
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
            threads=opts["threads"],
            pools=max(1, opts["pools"]),
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
            idle_seconds=opts["idle_seconds"],
            webhooks=opts["webhooks"],
            analytics=opts["analytics"],
            storage_rows=opts["storage_rows"],
            tracked=opts["tracked"],
        )
        if options.analytics:
            return self.analytics(options, opts)
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

    def analytics(self, options: Options, opts: dict) -> None:
        """The analytics run (devtools.bench.analytics) and its table."""
        from devtools.bench import analytics

        if options.tracked < len(analytics.NETWORKS) or options.storage_rows < 1000:
            raise CommandError(f"--tracked must be at least {len(analytics.NETWORKS)} and --storage-rows at least 1000")
        # The steady schedule's rate: the burst that would measure one is not run here.
        options.rate = options.rate or 2.0
        bench = analytics.AnalyticsBench(options, Progress(), lambda line: self.stderr.write(line))
        results = bench.run()
        rows = analytics.table(results)
        width = max(len(name) for name, _ in rows)
        self.stdout.write("")
        for name, value in rows:
            self.stdout.write(f"{name:<{width}}  {value}")
        if opts["json"]:
            self.stdout.write(json.dumps(results, indent=2, default=str))


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
