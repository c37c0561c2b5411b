"""An outage drill: a burst of posts on a pool of workers, Redis or PostgreSQL stopped for a while
in the middle of it, and what every process logs meanwhile.

    .venv/bin/python -m devtools.outage_drill --stop redis --seconds 20 --log-format json

It runs on servers of its own, started here under a temporary directory and removed at the
end (a redis-server and a PostgreSQL, devtools.embedded), so nothing else on the machine is
touched: the stand-in platform APIs (``run_mock_apis``) answering after ``--latency-ms``, a
``planrrr_workers`` pool of ``--workers`` workers, and a web process (gunicorn) whose
``/healthz`` and ``GET /api/v1/posts`` are called every half second. ``--posts`` posts on
``--platforms`` are all due at once; when a fifth of their publications are done, the server
named by ``--stop`` is stopped for ``--seconds``, then started again. Redis keeps its data
across the restart (``SHUTDOWN SAVE``, as a server with persistence does) unless
``--redis-loses-data``; PostgreSQL is stopped with ``pg_ctl stop -m fast``.

It prints, for each process's output, the lines written during the outage and during the
whole run: how many, how many are JSON objects, how many hold a traceback (a line
"Traceback (most recent call last):", in plain text or inside a JSON string), how many say a
worker crashed ("unhandled exception"); then what ``/healthz`` and the API answered while the
server was down, how many workers RQ's registry holds against the pool's live ones, whether
every post was published once, and how long the last publication caught in the outage took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop", choices=["redis", "postgres"], default="redis")
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the server stays down.")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--workers", type=int, default=28)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--platforms", default="FACEBOOK,TWITTER")
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--redis-loses-data", action="store_true", help="Restart Redis empty.")
    parser.add_argument("--logs", type=Path, default=None, help="Keep each process's log in this directory.")
    parser.add_argument("--trace", action="store_true", help="Print the burst's progress after the restart.")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="planrrr-drill-"))
    # The embedded PostgreSQL runs as a user of its own when this runs as root.
    os.chmod(work, 0o755)
    sys.path.insert(0, str(BASE_DIR))
    # The drill's own servers, never the ones DATABASE_URL, REDIS_URL or .local/ name.
    os.environ["EMBEDDED_DIR"] = str(work)
    os.environ["LOG_FORMAT"] = options.log_format
    os.environ.setdefault("XDG_RUNTIME_DIR", str(work))
    os.environ["DJANGO_SETTINGS_MODULE"] = "planrrr.settings"
    from devtools.embedded import PostgresServer, RedisServer

    redis_server, postgres = RedisServer(work / "redis"), PostgresServer(work / "pg")
    try:
        redis_server.start()
        postgres.start()
        os.environ["REDIS_URL"] = redis_server.url
        os.environ["DATABASE_URL"] = postgres.url("planrrr")
        return Drill(options, redis_server, postgres).run()
    finally:
        redis_server.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


class Drill:
    def __init__(self, options, redis_server, postgres):
        self.o = options
        self.redis_server = redis_server
        self.postgres = postgres

    def run(self) -> int:
        import django

        django.setup()
        from django.core.management import call_command

        from devtools import stack
        from mockapis.client import MockApis

        call_command("migrate", verbosity=0, interactive=False)
        stand_in = stack.StandInProcess().start().wait_ready()
        MockApis(stand_in.base_url).configure(latency_ms=self.o.latency_ms)
        env = {**stack.stand_in_env(stand_in.base_url), "LOG_FORMAT": self.o.log_format, "DEBUG": "false"}
        pool = stack.workers_start(self.o.workers, env)
        web = Web(env).start()
        processes = {"pool": pool, "web": web, "stand-in": stand_in}
        try:
            return self.drill(processes, MockApis(stand_in.base_url))
        finally:
            pool.stop(timeout=30)
            web.stop()
            stand_in.stop()
            if self.o.logs:
                self.o.logs.mkdir(parents=True, exist_ok=True)
                for name, process in processes.items():
                    (self.o.logs / f"{name}.log").write_text(process.output())
            web.log_path.unlink(missing_ok=True)

    def drill(self, processes, mock) -> int:
        from datetime import timedelta

        import django_rq
        import rq
        from django.db import connection
        from django.db.models import Count
        from django.utils import timezone

        from devtools import stack
        from publishing import services
        from publishing.models import Post, Publication

        pool, web = processes["pool"], processes["web"]
        redis = django_rq.get_connection("default")
        wait(lambda: rq.Worker.count(connection=redis) >= self.o.workers, 120, "the workers to register", pool)
        wait(web.answers, 60, "gunicorn to answer", web)
        probes = Probes(web.base_url, api_key())
        platforms = self.o.platforms.split(",")
        team = stack.team_create(name="drill", platforms=platforms)
        at = timezone.now() + timedelta(seconds=2 + self.o.posts * 0.01)
        for i in range(self.o.posts):
            services.post_create(team=team, content=f"drill post {i}", platforms=platforms, scheduled_at=at)
        total = self.o.posts * len(platforms)
        publications = Publication.objects.filter(post__team=team)
        wait(lambda: publications.filter(status__in=Publication.FINAL).count() >= total // 5, 120, "a fifth", pool)
        done = publications.filter(status__in=Publication.FINAL).count()
        marks = {name: len(lines_of(process)) for name, process in processes.items()}
        connection.close()
        print(f"{done}/{total} publications done; stopping {self.o.stop} for {self.o.seconds:.0f} s", flush=True)
        down = time.monotonic()
        if self.o.stop == "redis":
            self.redis_server.stop(save=not self.o.redis_loses_data)
        else:
            self.postgres.stop()
        while time.monotonic() - down < self.o.seconds:
            probes.once(outage=True)
            time.sleep(0.5)
        (self.redis_server if self.o.stop == "redis" else self.postgres).start()
        up = time.monotonic()
        during = {name: lines_of(process)[marks[name] :] for name, process in processes.items()}
        print(f"{self.o.stop} back after {up - down:.1f} s", flush=True)
        deadline = up + 300
        while publications.filter(status__in=Publication.FINAL).count() < total and time.monotonic() < deadline:
            probes.once(outage=False)
            if self.o.trace:
                q = django_rq.get_queue("default")
                print(
                    f"{time.monotonic() - up:5.1f}s final={publications.filter(status__in=Publication.FINAL).count()}"
                    f" pending={publications.filter(status=Publication.Status.PENDING).count()}"
                    f" publishing={publications.filter(status=Publication.Status.PUBLISHING).count()}"
                    f" scheduled_posts={Post.objects.filter(team=team, status=Post.Status.SCHEDULED).count()}"
                    f" queued={q.count} started={q.started_job_registry.count}",
                    flush=True,
                )
            time.sleep(0.5)
        drained = time.monotonic() - up
        # The registry as /metrics counts it a few seconds later.
        time.sleep(5)
        registered = rq.Worker.all(connection=redis)
        alive = {p.pid for p in pool.workers()}

        print(f"\n{self.o.stop} down {self.o.seconds:.0f} s mid-burst, LOG_FORMAT={self.o.log_format}, ", end="")
        print(f"{self.o.workers} workers, {self.o.posts} posts x {len(platforms)} platforms")
        print(f"{'process':<9} {'outage: lines':>14} {'json':>6} {'tracebacks':>11} {'crashes':>8}   ", end="")
        print(f"{'run: lines':>11} {'json':>6} {'tracebacks':>11}")
        for name, process in processes.items():
            run, out = lines_of(process), during[name]
            print(
                f"{name:<9} {len(out):>14} {json_lines(out):>6} {tracebacks(out):>11} {crashes(out):>8}   "
                f"{len(run):>11} {json_lines(run):>6} {tracebacks(run):>11}"
            )
        print(f"/healthz while down: {dict(probes.healthz)}; API while down: {dict(probes.api)}")
        ghosts = [w for w in registered if w.pid not in alive]
        print(f"RQ's registry: {len(registered)} workers ({len(ghosts)} not alive); the pool: {len(alive)} alive")
        statuses = dict(Post.objects.filter(team=team).values_list("status").annotate(n=Count("pk")))
        stuck = publications.filter(status=Publication.Status.PUBLISHING).count()
        print(
            f"posts: {statuses}; still PUBLISHING: {stuck}; duplicates: {mock.duplicates()}; "
            f"every publication final {drained:.1f} s after the server was back"
        )
        return 0


class Web:
    """``gunicorn planrrr.wsgi`` with the repository's gunicorn.conf.py, its output (access log
    included) kept like the other processes'."""

    def __init__(self, env: dict):
        from devtools.processes import free_port, worker_env

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = worker_env(**env)
        self.log_path = Path(tempfile.mkstemp(prefix="planrrr-drill-web-", suffix=".log")[1])

    def start(self) -> Web:
        # From the repository, gunicorn reads its gunicorn.conf.py (its lines in planrrr's format),
        # as the image does; a planrrr from before it: gunicorn's own format.
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "planrrr.wsgi", "--bind", f"127.0.0.1:{self.port}"]
                + ["--workers", "2", "--access-logfile", "-"],
                env=self.env,
                cwd=BASE_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.process.poll() is None

    def answers(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.base_url}/healthz", timeout=2) is not None
        except requests.RequestException:
            return False

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Probes:
    """``/healthz`` and an API read every half second, as an orchestrator and a client call them;
    the answers while the server is down, by status (0: no answer within 5 s)."""

    def __init__(self, base_url: str, key: str):
        import requests

        self.base_url, self.key = base_url, key
        self.http = requests.Session()
        self.healthz: Counter = Counter()
        self.api: Counter = Counter()

    def once(self, *, outage: bool) -> None:
        import requests

        for path, counts, headers in (
            ("/healthz", self.healthz, {}),
            ("/api/v1/posts", self.api, {"Authorization": f"Bearer {self.key}"}),
        ):
            try:
                status = self.http.get(f"{self.base_url}{path}", headers=headers, timeout=5).status_code
            except requests.RequestException:
                status = 0
            if outage:
                counts[status] += 1


def api_key() -> str:
    from api.models import ApiKey
    from api.services import api_key_create
    from planrrr.models import Team

    return api_key_create(team=Team.objects.create(name="drill api"), name="drill", role=ApiKey.Role.WRITE)[1]


def wait(predicate, timeout: float, what: str, process) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or not process.alive():
            raise SystemExit(f"gave up waiting for {what}:\n{process.output()[-3000:]}")
        time.sleep(0.2)


def lines_of(process) -> list[str]:
    return process.output().splitlines()


def json_lines(lines: list[str]) -> int:
    count = 0
    for line in lines:
        try:
            count += isinstance(json.loads(line), dict)
        except ValueError:
            pass
    return count


def tracebacks(lines: list[str]) -> int:
    return sum(line.count("Traceback (most recent call last)") for line in lines)


def crashes(lines: list[str]) -> int:
    return sum(1 for line in lines if "unhandled exception" in line)


if __name__ == "__main__":
    sys.exit(main())
