"""The bench's figures: what is computed from the rows, the job metrics, the stand-in's log and
the fleet's samples once a phase has ended, and the table the command prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from devtools.bench.fleet import Fleet
from publishing.models import JobMetric, Post, Publication

if TYPE_CHECKING:
    from devtools.bench.run import Options


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def first_requests(mock, keep: Callable[[str], bool]) -> dict[tuple[str, str], float]:
    """When the stand-in first received each create request whose text ``keep`` accepts, by
    (platform, text): a retried request counts from its first try."""
    first: dict[tuple[str, str], float] = {}
    for entry in mock.requests():
        text = _text_of(entry.get("body"))
        if entry.get("kind") == "create" and keep(text):
            key = (entry["platform"], text)
            first[key] = min(first.get(key, math.inf), entry["ts"])
    return first


def minimal_ratios(r: dict[str, Any]) -> None:
    """The burst's throughput against the minimal job's (both its runs, ``minimal_combine``), and
    against each run alone, so that the machine's drift between them shows."""
    r["ratio_to_minimal"] = r["publications_per_second"] / r["minimal_per_second"]
    for run in ("before", "after"):
        if f"minimal_{run}_per_second" in r:
            r[f"ratio_to_minimal_{run}"] = r["publications_per_second"] / r[f"minimal_{run}_per_second"]


def burst_figures(r: dict[str, Any], *, at, post_ids: list[int], fleet: Fleet, mock, run_id: str, workers: int) -> None:
    """Add to ``r`` the burst's figures: its posts and publications as the database has them, the
    platforms' copies and the lag as the stand-in saw them, the job metrics, the fleet's memory."""
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

    # What the platforms saw: the stand-in's own post list and request log.
    received = mock.posts()
    mine = [p for p in received if run_id in (p.get("text") or "")]
    copies: dict[tuple, int] = {}
    for post in mine:
        key = (post["platform"], post["account"], post["text"])
        copies[key] = copies.get(key, 0) + 1
    r["platform_posts"] = len(mine)
    r["duplicates"] = sum(n - 1 for n in copies.values() if n > 1)
    lags = [ts - at.timestamp() for ts in first_requests(mock, lambda text: run_id in text).values()]
    r["in_flight_peak"] = in_flight_peak(mock.requests(), since=at.timestamp())
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
    r["connections_peak"] = s.connections_peak
    r["kills"] = len(fleet.killed)
    r["kills_mid_job"] = sum(1 for k in fleet.killed if k["mid_job"])
    r["workers"] = workers


def in_flight_peak(entries: list[dict], *, since: float) -> int:
    """The most requests the stand-in was answering at once from ``since`` on (its log: each
    request's arrival and how long its answer took): the fleet's calls in flight at their peak."""
    edges = []
    for entry in entries:
        if entry.get("ts", 0) >= since and entry.get("duration_ms") is not None:
            edges.append((entry["ts"], 1))
            edges.append((entry["ts"] + entry["duration_ms"] / 1000, -1))
    # An answer that ends as another arrives is not counted with it.
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def _text_of(body: Any) -> str:
    """The text of a create request's body, whichever platform's field holds it."""
    if not isinstance(body, dict):
        return ""
    for name in ("message", "text", "caption", "commentary", "status"):
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
    if not o.pool:
        fleet = "separate rqworker processes"
    elif o.pools > 1:
        fleet = f"in each of {o.pools} planrrr_workers pools, separate process groups"
    else:
        fleet = "one planrrr_workers pool"
    worker_class = o.worker_class or settings.RQ["WORKER_CLASS"]
    threads = o.threads or settings.RQ_WORKER_THREADS
    if worker_class.endswith("ThreadedWorker"):
        worker_class = f"{worker_class}, {threads} job threads each"
    run = (
        f"{r['posts']} posts x {len(o.platforms)} platforms ({', '.join(o.platforms)}), "
        f"{r['workers']} workers ({fleet}, {worker_class}), "
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
    runs = " and ".join(
        f"{r[f'minimal_{run}_seconds']:.2f}s {run}" for run in ("before", "after") if f"minimal_{run}_seconds" in r
    )
    minimal = (
        f"{r['minimal_per_second']:.1f} jobs/s ({r['minimal_jobs']} in {r['minimal_seconds']:.2f}s, the mean of its "
        f"runs before and after the burst: {runs}; one SELECT, one POST to the stand-in, one UPDATE)"
    )
    apart = ", ".join(
        f"{r[f'ratio_to_minimal_{run}']:.2f} {run}" for run in ("before", "after") if f"ratio_to_minimal_{run}" in r
    )
    ratio = (
        f"{r['ratio_to_minimal']:.2f} x the minimal publish job's throughput ({apart}), "
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
        f"({r['pss_peak'] / mb / (r['workers'] * o.pools):.1f} MB a worker); "
        f"largest worker RSS {r['worker_peak_rss'] / mb:.1f} MB"
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
        *(
            [("idle", f"{r['idle_cpu_share']:.1%} of a core for the whole fleet while it waits for work")]
            if "idle_cpu_share" in r
            else []
        ),
        ("in flight", f"{r['in_flight_peak']} platform calls at once at the peak (the stand-in's log)"),
        ("PostgreSQL", f"{r['connections_peak']} connections of the fleet at the peak (pg_stat_activity)"),
        ("worker memory", memory),
        ("RSS growth", growth),
        ("success rate", f"{r['success_rate']:.2%} ({r['published']}/{r['publications']} publications PUBLISHED)"),
        ("lost posts", f"{r['lost_posts']} of {r['posts']} (not PUBLISHED; {r['posts_not_final']} not final)"),
        ("duplicates", f"{r['duplicates']} (extra copies among the {r['platform_posts']} posts the stand-in received)"),
        *([("webhooks", webhooks)] if webhooks else []),
    ]
    if len(r.get("jobs_by_pool", [])) > 1:
        shares = ", ".join(f"{jobs}" for jobs in r["jobs_by_pool"])
        rows.append(("pools", f"jobs done by each pool during the burst: {shares} (RQ's counts)"))
    if o.kills:
        rows.append(("kills", f"{r['kills']} workers SIGKILLed ({r['kills_mid_job']} mid-job) and replaced"))
    return rows
