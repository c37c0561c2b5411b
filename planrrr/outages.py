"""PostgreSQL or Redis unreachable: what a process says, and what it does meanwhile.

Each process keeps one ``planrrr.logs.Outage`` per server (``redis()``, ``database()``), shared
by everything in it (a worker's loop, its jobs, a web process's requests): an outage is one
line when it starts and one when it ends, with how long it lasted and how many tries failed,
whatever number of calls failed in between. The first failure of a call reports it
(``failed``), the next success ends it (``ok``). A forked child starts with none.

What fails meanwhile is not lost: Redis holds only work PostgreSQL can rebuild (the sweep
enqueues a job that could not be), and a worker waits for PostgreSQL with backoff
(``database_retry``) instead of failing the attempt in hand. What each process does, and the
drill that measures it: docs/operations.md, "Outages".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis as redis_py
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction

from planrrr.logs import Outage

logger = logging.getLogger("planrrr.outage")

T = TypeVar("T")

REDIS_ERRORS = (redis_py.exceptions.ConnectionError, redis_py.exceptions.TimeoutError)
DATABASE_ERRORS = (OperationalError, InterfaceError)

# SQLSTATEs of a server that cannot be used now: class 08 (connection exception), and of class
# 57 the shutdowns (an administrator's, a crash's) and "the database system is starting up".
# Other OperationalErrors (a deadlock, a statement timeout: 57014) come from a server that answers.
# https://www.postgresql.org/docs/current/errcodes-appendix.html
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")

# Longest pause between two tries while a server cannot be reached.
MAX_WAIT = 5.0

_outages: dict[str, Outage] = {}
_lock = threading.Lock()


def _outage(what: str) -> Outage:
    with _lock:
        if what not in _outages:
            _outages[what] = Outage(what, logger)
        return _outages[what]


def redis() -> Outage:
    """This process's Redis outage."""
    return _outage("Redis")


def database() -> Outage:
    """This process's PostgreSQL outage."""
    return _outage("PostgreSQL")


def _forget() -> None:
    # A forked child has its own connections and its own outages; the lock may have been held
    # by another thread of the parent at the fork.
    global _lock
    _lock = threading.Lock()
    _outages.clear()


os.register_at_fork(after_in_child=_forget)


def redis_unreachable(error: BaseException) -> bool:
    return isinstance(error, REDIS_ERRORS)


def database_unreachable(error: BaseException) -> bool:
    """PostgreSQL down, restarting or refusing connections, or the connection to it broken; not
    a query it refused."""
    if isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    # Django wraps psycopg's error: a connection failure has no SQLSTATE (it never reached the
    # server, or the server's answer was cut).
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_UNREACHABLE_SQLSTATES)


def unreachable(error: BaseException) -> Outage | None:
    """The outage ``error`` is part of, if it says a server cannot be reached."""
    if redis_unreachable(error):
        return redis()
    if database_unreachable(error):
        return database()
    return None


def backoff(wait: float) -> float:
    """The pause after ``wait`` (0 at the first failure): 0.25 s, doubled up to MAX_WAIT."""
    return min(max(wait * 2, 0.25), MAX_WAIT)


def redis_call(func: Callable[[], T], *, default: Any = None) -> T | Any:
    """``func()``, which talks to Redis; if Redis cannot be reached, the outage is noted (logged
    once) and ``default`` returned. The next call that succeeds ends it."""
    began = time.monotonic()
    try:
        result = func()
    except REDIS_ERRORS as error:
        redis().failed(error, began=began)
        return default
    redis().ok(began)
    return result


def after_commit(func: Callable[[], Any], *, using: str | None = None) -> None:
    """Run ``func`` (which enqueues jobs on Redis) once the transaction commits, never undoing the
    commit. Redis (or PostgreSQL) unreachable is that server's outage, noted once: the sweep
    enqueues from PostgreSQL what could not be. Any other error is logged with its traceback, as
    Django's ``robust`` on_commit does."""

    def run() -> None:
        began = time.monotonic()
        try:
            func()
        except Exception as error:
            outage = unreachable(error)
            if outage is None:
                logger.exception("could not run %s after commit", getattr(func, "__qualname__", func))
            else:
                outage.failed(error, began=began)
            return
        redis().ok(began)

    transaction.on_commit(run, using=using)


def database_retry(call: Callable[[], T], *, deadline: float, using: str = DEFAULT_DB_ALIAS) -> T:
    """``call()``; while PostgreSQL cannot be reached, wait with backoff and call again, until the
    monotonic ``deadline``, then raise the last error. The outage is logged once, and its end.

    Only for a call that is whole on its own (its own statement or transaction): inside an
    atomic block the error is raised at once, the block having to be rolled back first."""
    wait = 0.0
    while True:
        began = time.monotonic()
        try:
            result = call()
        except DATABASE_ERRORS as error:
            connection = connections[using]
            if not database_unreachable(error) or connection.in_atomic_block:
                raise
            database().failed(error, began=began)
            wait = backoff(wait)
            if time.monotonic() + wait > deadline:
                raise
            # The broken connection is dropped; the next call opens another.
            connection.close()
            time.sleep(wait)
            continue
        database().ok(began)
        return result
