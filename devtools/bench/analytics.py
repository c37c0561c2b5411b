"""`manage.py bench --analytics`: the engagement figures' costs (docs/performance.md, "Analytics").

1. Storage: the time series at a few million readings made with ``generate_series`` (a post's 81
   readings at the schedule's ages, over a year of monthly partitions): how fast readings go in
   (one statement, and the sync's batches of 100), how fast a post's series, a team's summary and
   the sweep's claim read, what a row weighs, and retention (a month dropped vs deleted).
2. Reading: ``--tracked`` published posts across the eleven networks, on the stand-in and tracked,
   all due at once (one round of the schedule): the calls made, the workers' CPU per figure read,
   and the requests an hour the decaying schedule makes of such a population in its steady state.
3. Beside publishing: the steady schedule of posts (bench's steady phase) alone, then again while
   that round of figures is read: publishing's p99 lag must not change.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

import django_rq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from analytics.models import COLUMNS, ChannelSync, Snapshot, Tracking
from analytics.selectors import post_analytics, summary
from analytics.services import storage, sweep
from analytics.services.schedule import readings_in_a_life
from connections.platforms import adapter_class
from devtools import stack
from devtools.bench.fleet import Fleet
from devtools.bench.run import Bench
from planrrr.models import Team
from publishing.models import Post, Publication

# The eleven networks; Google Business Profile's posts are tracked and stopped at once (Google gives
# no figures per post), its location's daily figures read.
NETWORKS = (
    "FACEBOOK",
    "TWITTER",
    "INSTAGRAM",
    "LINKEDIN",
    "BLUESKY",
    "MASTODON",
    "THREADS",
    "TIKTOK",
    "YOUTUBE",
    "PINTEREST",
    "GOOGLE_BUSINESS",
)


def schedule_offsets_hours() -> list[float]:
    """The ages (hours) of a post's readings on the decaying schedule."""
    hours, offsets = 0.0, [0.0]
    for until, every in settings.ANALYTICS_SCHEDULE:
        while hours < until:
            hours = min(hours + every, until)
            offsets.append(float(hours))
    return offsets


def readings_per_hour(tracked: int) -> float:
    """Readings an hour of ``tracked`` posts whose ages are spread evenly over the schedule's life
    (a steady state: as many published a day as leave the schedule)."""
    life = settings.ANALYTICS_SCHEDULE[-1][0]
    total, start = 0.0, 0
    for until, every in settings.ANALYTICS_SCHEDULE:
        total += tracked * (until - start) / life / every
        start = until
    return total


def _timed(function, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def storage_measure(*, rows: int, run_id: str, log) -> dict[str, Any]:
    """The time series' figures at ``rows`` readings (see the module docstring), on a team of its
    own, removed after (the readings truncated: a cascade of millions of deletes is not measured)."""
    team = stack.team_create(name=f"bench storage {run_id}", platforms=["TWITTER"], token=f"storage_{run_id}")
    try:
        return _storage_measure(team, rows=rows, log=log)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE analytics_snapshot")
        Tracking.objects.filter(team=team).delete()
        Publication.objects.filter(post__team=team).delete()
        team.delete()


def _storage_measure(team: Team, *, rows: int, log) -> dict[str, Any]:
    offsets = schedule_offsets_hours()
    posts = max(1, rows // len(offsets))
    now = timezone.now()
    # Every month the readings fall in has its partition (production makes them as time passes).
    month = storage.month_start(now - timedelta(days=460))
    while month <= storage.month_start(now):
        storage.partition_make(month)
        month = storage.next_month(month)
    channel = team.connections.get(platform="TWITTER")
    r: dict[str, Any] = {"storage_posts": posts}
    log(f"storage: {posts} published posts, {posts * len(offsets)} readings")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO publishing_post (team_id, content, platforms, media_urls, status, created_at, updated_at, "
            "published_at, channels) SELECT %s, 'storage ' || g, '{TWITTER}', '{}', 'PUBLISHED', now(), now(), now(), "
            "ARRAY[%s]::bigint[] FROM generate_series(1, %s) g",
            [team.pk, channel.pk, posts],
        )
        # Published over the last year, so that the readings fill a year of partitions.
        cursor.execute(
            "INSERT INTO publishing_publication (post_id, connection_id, platform, status, external_id, error, "
            "attempt_count, metadata, outcome_unknown, job_id, created_at, updated_at, published_at) "
            "SELECT p.id, %s, 'TWITTER', 'PUBLISHED', p.id::text, '', 1, '{}', false, '', now(), now(), "
            "now() - interval '455 days' + random() * interval '365 days' FROM publishing_post p "
            "WHERE p.team_id = %s AND p.content LIKE 'storage %%'",
            [channel.pk, team.pk],
        )
        _, seconds = _timed(
            cursor.execute,
            "INSERT INTO analytics_snapshot (publication_id, captured_at, team_id, views, reach, likes, comments, "
            "shares, raw, unavailable) SELECT pub.id, pub.published_at + make_interval(secs => o * 3600), %s, "
            "(sqrt(o + 1) * 400)::bigint, NULL, (sqrt(o + 1) * 20)::bigint, (sqrt(o + 1) * 2)::bigint, "
            "(sqrt(o + 1))::bigint, jsonb_build_object('impression_count', (sqrt(o + 1) * 400)::bigint, "
            "'like_count', (sqrt(o + 1) * 20)::bigint), '[\"reach\"]'::jsonb "
            "FROM publishing_publication pub CROSS JOIN unnest(%s::float8[]) AS o "
            "WHERE pub.connection_id = %s AND pub.external_id <> '' AND pub.post_id IN "
            "(SELECT id FROM publishing_post WHERE team_id = %s AND content LIKE 'storage %%')",
            [team.pk, offsets, channel.pk, team.pk],
        )
        r["storage_rows"] = cursor.rowcount
        r["storage_insert_rows_per_second"] = cursor.rowcount / seconds
        cursor.execute("ANALYZE analytics_snapshot")
        cursor.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'analytics_snapshot'"
        )
        r["storage_bytes_per_row"] = cursor.fetchone()[0] / max(1, r["storage_rows"])
        r["storage_partitions"] = len(storage.partitions())
    sweep.trackings_start()  # the summary reads trackings: one per publication
    Tracking.objects.filter(team=team).update(views=100, likes=10, captured_at=now, next_sync_at=now)
    publications = list(Publication.objects.filter(post__team=team).values_list("id", flat=True)[:200])

    # The sync's own writes: batches of 100 readings into the big table.
    batches = []
    for index in range(50):
        rows_ = [
            Snapshot(publication_id=pid, captured_at=now + timedelta(microseconds=index), team_id=team.pk, views=1)
            for pid in publications[:100]
        ]
        with transaction.atomic():
            _, seconds = _timed(Snapshot.objects.bulk_create, rows_)
        batches.append(seconds)
    r["storage_batch_ms"] = sorted(batches)[len(batches) // 2] * 1000
    series = []
    for pid in publications[:100]:
        post = Post.objects.get(publications__id=pid)
        _, seconds = _timed(post_analytics, post=post)
        series.append(seconds)
    r["storage_series_ms_p50"] = sorted(series)[len(series) // 2] * 1000
    r["storage_series_ms_p99"] = sorted(series)[int(len(series) * 0.99) - 1] * 1000
    _, seconds = _timed(summary, team_id=team.pk, start=now - timedelta(days=7), end=now)
    r["storage_summary_week_ms"] = seconds * 1000
    _, seconds = _timed(summary, team_id=team.pk, start=now - timedelta(days=366), end=now)
    r["storage_summary_year_ms"] = seconds * 1000
    with transaction.atomic():
        claimed, seconds = _timed(sweep.channels_claim)
        transaction.set_rollback(True)
    r["storage_claim_ms"] = seconds * 1000
    oldest = storage.partitions()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {oldest}")
        r["storage_month_rows"] = cursor.fetchone()[0]
        cursor.execute(f"SELECT max(captured_at) FROM {oldest}")
        last = cursor.fetchone()[0]
        _, seconds = _timed(cursor.execute, "DELETE FROM analytics_snapshot WHERE captured_at <= %s", [last])
        r["storage_month_delete_ms"] = seconds * 1000
        transaction.set_rollback(True)
    with transaction.atomic(), connection.cursor() as cursor:
        _, seconds = _timed(cursor.execute, f"DROP TABLE {oldest}")
        r["storage_month_drop_ms"] = seconds * 1000
        transaction.set_rollback(True)
    return r


class AnalyticsBench(Bench):
    """The bench's analytics run (``manage.py bench --analytics``)."""

    def worker_env(self, base: str) -> dict[str, Any]:
        return {
            **super().worker_env(base),
            "ANALYTICS_SWEEP_INTERVAL_SECONDS": 0.5,
            # The round reads every post at once: the per-account budgets (docs/analytics.md) would
            # spread it over hours, as they should in production; here the cost of a reading counts.
            "ANALYTICS_BUDGET_SHARE": 1000,
        }

    def run(self) -> dict[str, Any]:
        with (
            patch("publishing.services.caps.windows_of", return_value=[]),
            stack.isolated("bench_analytics", redis_db=self.o.redis_db) as database,
        ):
            self.log(f"on the database {database!r} and Redis database {self.o.redis_db}")
            self.connection = redis_connection = django_rq.get_connection("default")
            self.claim_redis(redis_connection)
            mock = fleet = team = None
            try:
                self.results.update(storage_measure(rows=self.o.storage_rows, run_id=self.run_id, log=self.log))
                mock, base = self.start_stand_in()
                team = self.make_team()
                fleet = Fleet(self.o.workers, self.worker_env(base), self.o.worker_class, self.o.pool)
                fleet.start()
                fleet.wait_registered(redis_connection)
                self.results["workers"] = self.o.workers
                cpu = fleet.cpu_seconds()
                self.steady_phase(team)
                baseline_cpu = sum(fleet.cpu_seconds().values()) - sum(cpu.values())
                baseline = {k: v for k, v in self.results.items() if k.startswith("steady_")}
                self.results.update({f"baseline_{k}": v for k, v in baseline.items()})
                # The second steady phase's posts must differ from the first's (the platforms refuse
                # duplicates) and be the only ones it waits for.
                Post.objects.filter(team=team, content__contains=" steady ").delete()
                self.run_id = uuid.uuid4().hex[:8]
                self.track(team)
                cpu = fleet.cpu_seconds()
                started = time.monotonic()
                self.steady_phase(team)
                self.wait_read(team, started)
                used = sum(fleet.cpu_seconds().values()) - sum(cpu.values()) - baseline_cpu
                self.reading_figures(team, used)
            finally:
                if fleet is not None:
                    fleet.stop()
                if mock is not None:
                    mock.stop()
                if team is not None and not self.o.keep:
                    self.delete(team)
                redis_connection.flushdb()
        return self.results

    def make_team(self) -> Team:
        """A team with an account on each of the eleven networks (Bluesky's and Mastodon's on the
        stand-in's servers)."""
        team = stack.team_create(
            name=f"bench analytics {self.run_id}",
            platforms=list(NETWORKS),
            token=f"bench_{self.run_id}",
            base_urls={"BLUESKY": self.mock.bluesky_url, "MASTODON": self.mock.mastodon_url},
        )
        # The run measures the schedule's readings: the channels' backfill (their posts made outside
        # planrrr, here none) is taken as done before any worker's sweep sees them.
        now = timezone.now()
        ChannelSync.objects.bulk_create(
            ChannelSync(connection=channel, next_account_sync_at=now, backfill_done_at=now, backfill_detail="bench")
            for channel in team.connections.all()
        )
        return team

    def track(self, team: Team) -> None:
        """``--tracked`` published posts spread over the eleven networks and the schedule's life, on
        the stand-in (made that long ago) and tracked here, all due now."""
        tracked, now = self.o.tracked, timezone.now()
        life = settings.ANALYTICS_SCHEDULE[-1][0] * 3600
        self.log(f"tracking {tracked} published posts over {len(NETWORKS)} networks")
        # One transaction: the workers' sweeps see the posts and their trackings only once all are
        # due now (a worker reading some while this made them due deadlocked on their rows).
        with transaction.atomic():
            self.make_tracked(team, tracked, now, life)
        ChannelSync.objects.filter(connection__team=team).update(calls=0)

    def make_tracked(self, team: Team, tracked: int, now: datetime, life: float) -> None:
        for index, platform in enumerate(NETWORKS):
            channel = team.connections.get(platform=platform)
            count = tracked // len(NETWORKS) + (1 if index < tracked % len(NETWORKS) else 0)
            ages = [self.rng.uniform(0, life) for _ in range(count)]
            ids = [external_id(platform, channel.account_id, i, self.run_id) for i in range(count)]
            extra = {"cid": "bafyreibench", "record": {"text": "bench", "createdAt": now.isoformat()}}
            for start in range(0, count, 2000):
                self.mock.seed_posts(
                    platform,
                    channel.account_id,
                    [
                        {"id": i, "text": "bench", "age_seconds": age, "extra": extra if platform == "BLUESKY" else {}}
                        for i, age in zip(ids[start : start + 2000], ages[start : start + 2000], strict=True)
                    ],
                )
            posts = Post.objects.bulk_create(
                Post(team=team, content=f"tracked {i}", platforms=[platform], status=Post.Status.PUBLISHED) for i in ids
            )
            Publication.objects.bulk_create(
                Publication(
                    post=post,
                    connection=channel,
                    platform=platform,
                    status=Publication.Status.PUBLISHED,
                    external_id=i,
                    attempt_count=1,
                    published_at=now - timedelta(seconds=age),
                )
                for post, i, age in zip(posts, ids, ages, strict=True)
            )
        while sweep.trackings_start(since=now - timedelta(days=91)):
            pass
        Tracking.objects.filter(team=team).update(next_sync_at=now)

    def wait_read(self, team: Team, started: float) -> None:
        rows = Tracking.objects.filter(team=team, publication__post__content__startswith="tracked ")
        total = rows.count()
        deadline = time.monotonic() + self.o.timeout
        while True:
            # Read, or stopped saying why (a Business Profile post: Google gives no figures per post).
            done = rows.filter(Q(captured_at__isnull=False) | Q(next_sync_at__isnull=True)).count()
            self.progress.show("figures", done, total, started)
            if done >= total or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.progress.done()
        self.results["read_seconds"] = time.monotonic() - started

    def reading_figures(self, team: Team, cpu_seconds: float) -> None:
        r = self.results
        rows = Tracking.objects.filter(team=team, publication__post__content__startswith="tracked ")
        r["tracked"] = rows.count()
        r["tracked_read"] = rows.filter(captured_at__isnull=False).count()
        r["tracked_errors"] = rows.exclude(error="").filter(next_sync_at__isnull=False).count()
        r["tracked_not_offered"] = rows.filter(captured_at__isnull=True, next_sync_at__isnull=True).count()
        figures = 0
        for values in rows.filter(captured_at__isnull=False).values_list(*COLUMNS.values()):
            figures += sum(1 for value in values if value is not None)
        r["figures_read"] = figures
        r["calls"] = sum(ChannelSync.objects.filter(connection__team=team).values_list("calls", flat=True))
        r["cpu_ms_per_figure"] = cpu_seconds * 1000 / max(1, figures)
        r["cpu_ms_per_reading"] = cpu_seconds * 1000 / max(1, r["tracked_read"])
        per_hour = readings_per_hour(self.o.tracked)
        share = per_hour / len(NETWORKS)
        r["readings_per_hour"] = per_hour
        batches = {p: adapter_class(p).metrics_batch for p in NETWORKS}
        r["requests_per_hour"] = sum(share / batch for batch in batches.values() if batch)
        r["requests_per_hour_by_network"] = {p: share / batch for p, batch in batches.items() if batch}
        # YouTube's reads spend the project's daily units, shared by every channel of the installation.
        r["youtube_units_per_day"] = 24 * share / batches["YOUTUBE"]
        r["readings_in_a_life"] = readings_in_a_life()


def external_id(platform: str, account: str, index: int, run: str) -> str:
    """An id in the platform's shape, unique to the run."""
    number = 10**17 + int(run, 16) % 10**9 * 10**6 + index
    if platform == "FACEBOOK":
        return f"{account}_{number}"
    if platform == "LINKEDIN":
        return f"urn:li:share:{number}"
    if platform == "BLUESKY":
        return f"at://{account}/app.bsky.feed.post/b{number}"
    if platform == "YOUTUBE":
        return f"yt{number:x}"[:11]
    if platform == "GOOGLE_BUSINESS":
        return f"{account}/localPosts/{number}"
    return str(number)


def table(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The analytics run's figures as (name, value) rows."""
    posts = f"{r['storage_posts']:,} posts"
    storage_row = (
        f"{r['storage_rows']:,} readings of {posts} in {r['storage_partitions']} monthly partitions, "
        f"{r['storage_bytes_per_row']:.0f} bytes a reading with its indexes"
    )
    insert = (
        f"{r['storage_insert_rows_per_second']:,.0f} readings/s in one statement; "
        f"a sync's batch of 100: {r['storage_batch_ms']:.1f} ms"
    )
    series = f"p50 {r['storage_series_ms_p50']:.1f} ms  p99 {r['storage_series_ms_p99']:.1f} ms (the API's answer)"
    summary_ = f"{r['storage_summary_week_ms']:.1f} ms a week, {r['storage_summary_year_ms']:.1f} ms a year of {posts}"
    retention = (
        f"a month ({r['storage_month_rows']:,} readings): DROP {r['storage_month_drop_ms']:.1f} ms, "
        f"DELETE {r['storage_month_delete_ms']:.0f} ms"
    )
    reading = (
        f"{r['tracked_read']:,}/{r['tracked']:,} tracked posts read in {r['read_seconds']:.1f}s: "
        f"{r['calls']:,} calls, {r['figures_read']:,} figures, {r['tracked_errors']} errors, "
        f"{r['tracked_not_offered']} given no figures by their network ({r['workers']} workers)"
    )
    cpu = f"{r['cpu_ms_per_figure']:.2f} ms per figure, {r['cpu_ms_per_reading']:.2f} ms per post read (workers)"
    steady = (
        f"{r['readings_per_hour']:,.0f} readings/h, {r['requests_per_hour']:,.0f} requests/h for {r['tracked']:,} "
        f"posts spread over 90 days ({r['readings_in_a_life']} readings in a post's life); YouTube "
        f"{r['youtube_units_per_day']:,.0f} units a day of the project's quota"
    )
    by_network = ", ".join(f"{p.lower()} {n:,.1f}" for p, n in sorted(r["requests_per_hour_by_network"].items()))
    lag = (
        f"p99 {r['baseline_steady_lag_p99']:.3f}s alone, {r['steady_lag_p99']:.3f}s beside the analytics "
        f"(p50 {r['baseline_steady_lag_p50']:.3f}s / {r['steady_lag_p50']:.3f}s; "
        f"{r['steady_posts']} posts at {r['steady_rate']:.1f}/s)"
    )
    return [
        ("storage", storage_row),
        ("insert", insert),
        ("post's series", series),
        ("summary", summary_),
        ("sweep's claim", f"{r['storage_claim_ms']:.1f} ms with {posts} due"),
        ("retention", retention),
        ("reading", reading),
        ("CPU", cpu),
        ("steady schedule", steady),
        ("requests/h by network", by_network),
        ("publishing lag", lag),
    ]
