"""Where PostgreSQL and Python disagree about time, settled once for every connection.

* **Offsets.** Python takes a UTC offset up to ±23:59, PostgreSQL up to ±15:59
  ("time zone displacement out of range"): an aware time is sent in UTC, the same instant
  whatever offset it came with (RFC 3339 allows any offset below 24 hours).
* **Years.** PostgreSQL stores years up to 294276, Python up to 9999. The door refuses a time
  beyond 9999 in UTC (publishing.rules.scheduled_at_problem), but a row written past it (by SQL,
  or ``infinity``) made every query that loaded it fail: every list of the team's posts, in the
  API and the admin. Such a time is read as the nearest one Python holds (``datetime.max`` or
  ``datetime.min``), so the row can be seen, changed or deleted. psycopg's documentation does
  the same for ``infinity`` ("Example: handling infinity date",
  https://www.psycopg.org/psycopg3/docs/advanced/adapt.html#example-handling-infinity-date).
"""

from __future__ import annotations

import os
import select
from datetime import UTC, datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created
from psycopg import DataError
from psycopg.pq import Format
from psycopg.types.datetime import DatetimeDumper


class UtcDatetimeDumper(DatetimeDumper):
    """An aware time as its UTC value: any offset Python takes, PostgreSQL takes."""

    def dump(self, obj: datetime):
        try:
            obj = obj.astimezone(UTC)
        except OverflowError:
            pass  # beyond year 9999 in UTC: PostgreSQL takes it as it is
        return super().dump(obj)


def _clamping_loader(base):
    class ClampingTimestamptzLoader(base):
        """Django's timestamptz loader, reading a time beyond Python's years as the nearest one it
        holds instead of failing the whole query."""

        def load(self, data):
            try:
                return super().load(data)
            except DataError:
                text = bytes(data)
                nearest = datetime.min if text.startswith(b"-") or text.endswith(b" BC") else datetime.max
                # As Django's own loader: in the connection's zone (UTC), or naive without one.
                return nearest.replace(tzinfo=self.timezone)

    return ClampingTimestamptzLoader


def _adapt(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    adapters = connection.connection.adapters
    # Django registers its own loader (a subclass bound to the connection's zone); this one extends
    # whichever is there, keeping its ``timezone`` (Django compares it when making a cursor).
    current = adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)
    if not current.__name__.startswith("ClampingTimestamptzLoader"):
        adapters.register_loader("timestamptz", _clamping_loader(current))
    adapters.register_dumper(datetime, UtcDatetimeDumper)


def install() -> None:
    """Adapt every new database connection (called once, when the apps are ready)."""
    connection_created.connect(_adapt, dispatch_uid="planrrr.db.adapt")
    # A forked child (a pool's worker, a work-horse, a test's worker) makes its own pool.
    os.register_at_fork(after_in_child=_forget_pools)


# --- a pool of connections for a process of many threads -----------------------------------

# Pools a forked child inherited from its parent: kept referenced, never closed or collected in
# the child (their sockets are the parent's; psycopg leaves another process's connection alone,
# but a pool's finaliser would try to stop its worker threads, which the child does not have).
_inherited_pools: list = []


def pool_enable(*, size: int, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Hold this process's connections to PostgreSQL in a pool (Django's, psycopg_pool) of at
    most ``size``, shared by its threads, instead of one kept connection per thread: a worker
    process of many job threads would otherwise open as many connections as it has calls in
    flight. Each thread takes a connection for a statement and gives it back
    (``connection_release``) before it waits on anything else, such as a platform's answer.

    Called by a worker process before it opens any connection (``planrrr.rq.ThreadedWorker``):
    Django refuses a pool beside persistent connections, so CONN_MAX_AGE becomes 0 in this
    process. A pool is never shared with a forked child (``_forget_pools``)."""
    wrapper = connections[alias]
    if wrapper.vendor != "postgresql" or size <= 0:
        return
    connections.close_all()
    settings_dict = wrapper.settings_dict
    settings_dict["CONN_MAX_AGE"] = 0
    # psycopg_pool's min_size: one connection kept open while the process is idle; a
    # connection idle for max_idle is closed down to it. A statement waits for a connection up
    # to ``timeout``, then fails as PostgreSQL unreachable (planrrr.outages): as long as a new
    # connection's connect_timeout, so that an outage is seen as soon as without a pool.
    timeout = float(settings_dict["OPTIONS"].get("connect_timeout") or 5)
    settings_dict["OPTIONS"]["pool"] = {"min_size": 1, "max_size": size, "timeout": timeout, "max_idle": 60.0}
    # Its connections named in pg_stat_activity: which process holds how many.
    settings_dict["OPTIONS"]["application_name"] = application_name()
    # The pool made now (not opened) to check a connection as it hands it out with
    # connection_check, not with the health check Django gives it (CONN_HEALTH_CHECKS: a round
    # trip to PostgreSQL at every checkout, two a publication). Django passes its own check to the
    # pool's constructor and takes none from OPTIONS: it is set on the pool (psycopg_pool keeps
    # it as ``_check``; where it does not, Django's check stays).
    pool = wrapper.pool
    if pool is not None and hasattr(pool, "_check"):
        pool._check = connection_check


def connection_check(connection) -> None:
    """psycopg_pool's check of a connection it is about to hand out: raises if it is broken, and
    the pool replaces it. Django's (CONN_HEALTH_CHECKS) sends PostgreSQL an empty query at every
    checkout, a round trip before each of a publication's statements. A connection PostgreSQL
    ended (a restart, a terminated backend, the server gone) has something to read on its
    socket, its last message or the end of the stream, where an idle healthy one has nothing: only
    a connection with something to read is asked, with the pool's own check."""
    from psycopg_pool import ConnectionPool

    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        readable = [True]
    if readable:
        ConnectionPool.check_connection(connection)


def application_name() -> str:
    """What a worker process's pooled connections are called in PostgreSQL (pg_stat_activity)."""
    return f"planrrr worker {os.getpid()}"


def pool_size(alias: str = DEFAULT_DB_ALIAS) -> int:
    """The most connections this process's pool may open; 0 without a pool."""
    pool = connections[alias].settings_dict.get("OPTIONS", {}).get("pool")
    return pool["max_size"] if isinstance(pool, dict) else 0


def connection_release(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Give this thread's connection back to the pool, if the process has one and no transaction
    is open: called before a call that waits (a platform's answer, a webhook's receiver), so that
    a thread holds a connection only while its statements run. The next statement takes one
    again (a lock and a check of the connection: well under a millisecond). Without a pool the
    connection is kept, as Django keeps it (CONN_MAX_AGE)."""
    wrapper = connections[alias]
    if wrapper.connection is None or wrapper.in_atomic_block or not pool_size(alias):
        return
    wrapper.close()


def _forget_pools() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper

    if DatabaseWrapper._connection_pools:
        _inherited_pools.append(dict(DatabaseWrapper._connection_pools))
        DatabaseWrapper._connection_pools.clear()
    # The forking thread's connection, if it came from such a pool, is the parent's too.
    for wrapper in connections.all(initialized_only=True):
        if getattr(wrapper.connection, "_pool", None) is not None:
            wrapper.connection = None
