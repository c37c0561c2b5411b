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


def noop_measure(*, total: int, connection, fleet: Fleet, progress, timeout: float) -> dict[str, Any]:
    """RQ's throughput on ``total`` no-op jobs (as many as the run's publications)."""
    jobs = [Queue.prepare_data(noop, result_ttl=3600, job_id=f"bench-noop-{i}") for i in range(total)]
    return _drain(
        "noop", "rq no-op", "no-op jobs", jobs, connection=connection, fleet=fleet, progress=progress, timeout=timeout
    )


def minimal_measure(
    *, team: Team, total: int, token: str, connection, fleet: Fleet, progress, timeout: float
) -> dict[str, Any]:
    """The minimal publish job on ``total`` publications, with the stand-in's latency: the
    throughput the pipeline is held against. Its rows are DRAFT posts of the bench's team, on its
    Facebook connection: nothing dispatches or sweeps them, and they are deleted after."""
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
        "minimal",
        "minimal job",
        "minimal publish jobs",
        jobs,
        connection=connection,
        fleet=fleet,
        progress=progress,
        timeout=timeout,
    )
    results["minimal_pss_peak"] = fleet.samples.pss_peak
    Post.objects.filter(pk__in=[p.pk for p in posts]).delete()
    return results


def _drain(
    name: str, label: str, what: str, jobs: list, *, connection, fleet: Fleet, progress, timeout: float
) -> dict[str, Any]:
    """Enqueue ``jobs`` at once (one round trip), wait until the workers have run them all,
    sampling the fleet; ``<name>_jobs``, ``_seconds``, ``_per_second`` and ``_cpu_ms`` (the
    workers' CPU a job)."""
    queue = django_rq.get_queue("default", commit_mode="auto")
    finished, failed = queue.finished_job_registry.key, queue.failed_job_registry.key
    total = len(jobs)
    cpu_before = fleet.cpu_seconds()
    started = time.monotonic()
    with connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    done = 0
    last_sample = 0.0
    while done < total:
        done = connection.zcard(finished) + connection.zcard(failed)
        if time.monotonic() - last_sample >= SAMPLE_SECONDS:
            fleet.sample()
            last_sample = time.monotonic()
        progress.show(label, done, total, started)
        if time.monotonic() - started > timeout:
            raise CommandError(f"{what} not done after {timeout:.0f}s ({done}/{total})")
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    cpu_ms = cpu_delta(cpu_before, fleet.cpu_seconds()) * 1000 / total
    progress.done()
    if failures := connection.zcard(failed):
        raise CommandError(f"{failures} {what} failed: see the workers' logs")
    connection.delete(finished)
    return {
        f"{name}_jobs": total,
        f"{name}_seconds": elapsed,
        f"{name}_per_second": total / elapsed,
        f"{name}_cpu_ms": cpu_ms,
    }
