"""What the pipeline is held against, on the same workers as the run: RQ's throughput on no-op jobs,
and the minimal publish job's (``jobs.minimal_publish``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import django_rq
from django.core.management.base import CommandError
from rq import Queue

from connections.models import Platform
from devtools.bench.fleet import Fleet, cpu_delta
from devtools.bench.jobs import minimal_publish, noop
from planrrr.models import Team
from publishing.models import Post, Publication

# As often as the burst's samples (run.SAMPLE_SECONDS): the baselines and the pipeline pay the
# bench's own sampling alike.
SAMPLE_SECONDS = 1.0
# How often the workers' progress is looked at (at least: see _drain).
POLL_SECONDS = 0.02


def noop_measure(*, total: int, connection, fleet: Fleet, progress, timeout: float) -> dict[str, Any]:
    """RQ's throughput on ``total`` no-op jobs (as many as the run's publications)."""
    jobs = [Queue.prepare_data(noop, result_ttl=3600, job_id=f"bench-noop-{i}") for i in range(total)]
    return _drain(
        "noop", "rq no-op", "no-op jobs", jobs, connection=connection, fleet=fleet, progress=progress, timeout=timeout
    )


def minimal_measure(
    *, team: Team, total: int, token: str, connection, fleet: Fleet, progress, timeout: float, name: str = "minimal"
) -> dict[str, Any]:
    """The minimal publish job on ``total`` publications, with the stand-in's latency: the
    throughput the pipeline is held against, as ``<name>_jobs``, ``_seconds``, ``_per_second``,
    ``_cpu_ms`` and ``_pss_peak``. Its rows are DRAFT posts of the bench's team, on its Facebook
    connection: nothing dispatches or sweeps them, and they are deleted after."""
    facebook = team.connections.get(platform=Platform.FACEBOOK)
    posts = Post.objects.bulk_create(
        Post(team=team, content=f"planrrr bench minimal {uuid.uuid4().hex} {i}", platforms=["FACEBOOK"])
        for i in range(total)
    )
    rows = Publication.objects.bulk_create(
        Publication(post=post, connection=facebook, platform=Platform.FACEBOOK) for post in posts
    )
    fleet.reset_samples()
    jobs = [
        Queue.prepare_data(minimal_publish, args=(row.pk, token), result_ttl=3600, job_id=f"bench-minimal-{row.pk}")
        for row in rows
    ]
    results = _drain(
        name,
        "minimal job",
        "minimal publish jobs",
        jobs,
        connection=connection,
        fleet=fleet,
        progress=progress,
        timeout=timeout,
    )
    results[f"{name}_pss_peak"] = fleet.samples.pss_peak
    Post.objects.filter(pk__in=[p.pk for p in posts]).delete()
    return results


def minimal_combine(r: dict[str, Any]) -> None:
    """The minimal job's figures from its two runs, one before the burst and one after
    (``minimal_before_*``, ``minimal_after_*``): its seconds and CPU the two runs' mean, its
    throughput its jobs over that mean, its memory the higher peak. The machine's speed drifts
    (the same jobs took 1.4 s and 2.6 s within an hour on a shared host), and the workers' with
    what they ran before: a baseline taken on both sides of the burst is what the burst is held
    against (docs/performance.md, "The minimal job on both sides of the burst")."""
    runs = [prefix for prefix in ("minimal_before", "minimal_after") if f"{prefix}_seconds" in r]
    r["minimal_jobs"] = r[f"{runs[0]}_jobs"]
    r["minimal_seconds"] = sum(r[f"{run}_seconds"] for run in runs) / len(runs)
    r["minimal_per_second"] = r["minimal_jobs"] / r["minimal_seconds"]
    r["minimal_cpu_ms"] = sum(r[f"{run}_cpu_ms"] for run in runs) / len(runs)
    r["minimal_pss_peak"] = max(r[f"{run}_pss_peak"] for run in runs)


def _drain(
    name: str, label: str, what: str, jobs: list, *, connection, fleet: Fleet, progress, timeout: float
) -> dict[str, Any]:
    """Enqueue ``jobs`` at once (one round trip), wait until the workers have run them all,
    sampling the fleet; ``<name>_jobs``, ``_seconds``, ``_per_second`` and ``_cpu_ms`` (the
    workers' CPU a job)."""
    queue = django_rq.get_queue("default", commit_mode="auto")
    finished, failed = queue.finished_job_registry.key, queue.failed_job_registry.key
    total = len(jobs)
    # Its own jobs, by id: the registries also take the jobs of whatever else the workers run
    # (the burst's last jobs, the periodic ones), which must not count as done.
    waiting = [job.job_id for job in jobs]
    # Looked up a few hundred times at most, however many jobs: each look is one ZMSCORE over
    # the jobs not yet seen done.
    poll = max(POLL_SECONDS, total / 30_000)
    cpu_before = fleet.cpu_seconds()
    started = time.monotonic()
    with connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    last_sample = 0.0
    while waiting:
        with connection.pipeline(transaction=False) as pipe:
            pipe.zmscore(finished, waiting)
            pipe.zmscore(failed, waiting)
            ok, ko = pipe.execute()
        waiting = [job_id for job_id, a, b in zip(waiting, ok, ko, strict=True) if a is None and b is None]
        done = total - len(waiting)
        if time.monotonic() - last_sample >= SAMPLE_SECONDS:
            fleet.sample()
            last_sample = time.monotonic()
        progress.show(label, done, total, started)
        if time.monotonic() - started > timeout:
            raise CommandError(f"{what} not done after {timeout:.0f}s ({done}/{total})")
        if waiting:
            time.sleep(poll)
    elapsed = time.monotonic() - started
    cpu_ms = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / total
    progress.done()
    ids = [job.job_id for job in jobs]
    if failures := sum(score is not None for score in connection.zmscore(failed, ids)):
        raise CommandError(f"{failures} {what} failed: see the workers' logs")
    connection.zrem(finished, *ids)
    return {
        f"{name}_jobs": total,
        f"{name}_seconds": elapsed,
        f"{name}_per_second": total / elapsed,
        f"{name}_cpu_ms": cpu_ms,
    }
