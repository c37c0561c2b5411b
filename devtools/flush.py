"""A TransactionTestCase's flush on PostgreSQL, in a few milliseconds instead of hundreds.

After each test of a ``TransactionTestCase`` (every live-server test), Django empties the database
with ``manage.py flush``: one ``TRUNCATE`` of every table, then the ``post_migrate`` signal, which
makes the content types, the permissions and the team group (planrrr.teamadmin) again. On this
project's 30 tables that cost about 70 ms of the test process's CPU and 100-200 ms of
PostgreSQL's per test (a ``TRUNCATE`` gives every table and index a new file), 200 times a suite.

``database_flush`` leaves the database exactly as Django's flush does: the first flush of a
process's database is Django's own, and the rows it leaves (what ``post_migrate`` made) are kept
with ``COPY``; every later flush ``DELETE``s every table's rows (a few rows each: cheap, where a
``TRUNCATE`` is not) and copies those rows back, in one transaction. The sequences are left alone,
as Django's flush leaves them; the content types keep their ids, which Django's would renumber.
A test that narrows the apps (``available_apps``) or restores serialized data flushes as Django
does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from django.core.management import call_command
from django.db import connections, transaction
from django.test import TransactionTestCase


@dataclass
class _Flushed:
    """What Django's flush left in a database: each non-empty table's rows, in COPY's format."""

    tables: tuple[str, ...]
    # Referencing tables before the tables they reference (the order of the DELETEs).
    order: list[str]
    rows: dict[str, bytes] = field(default_factory=dict)


# Per process (a forked test process has a database of its own), alias and database.
_flushed: dict[tuple[int, str, str], _Flushed] = {}


def database_flush(alias: str) -> None:
    """Empty database ``alias`` as ``manage.py flush`` followed by ``post_migrate`` does."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        _django_flush(alias)
        return
    tables = tuple(sorted(connection.introspection.django_table_names(only_existing=True, include_views=False)))
    key = (os.getpid(), alias, connection.settings_dict["NAME"])
    known = _flushed.get(key)
    if known is None or known.tables != tables:
        order = _delete_order(connection, tables)
        _django_flush(alias)
        if order is not None:
            _flushed[key] = _Flushed(tables, order, _copy_out(connection, tables))
        return
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for table in known.order:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
        # Referenced tables first: a foreign key that is not deferred is checked at each row.
        for table in reversed(known.order):
            if table in known.rows:
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} FROM STDIN") as copy:
                    copy.write(known.rows[table])


def _django_flush(alias: str) -> None:
    call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=False, allow_cascade=False)


def _copy_out(connection, tables: tuple[str, ...]) -> dict[str, bytes]:
    rows = {}
    with connection.cursor() as cursor:
        for table in tables:
            with cursor.cursor.copy(f"COPY (SELECT * FROM {connection.ops.quote_name(table)}) TO STDOUT") as copy:
                data = b"".join(bytes(block) for block in copy)
            if data:
                rows[table] = data
    return rows


def _delete_order(connection, tables: tuple[str, ...]) -> list[str] | None:
    """The tables, each before the tables its foreign keys reference; None if they reference each
    other in a cycle (then Django's flush is used every time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid <> confrelid"
        )
        references = cursor.fetchall()
    names = set(tables)
    # A referenced table comes after the tables referencing it.
    graph: dict[str, set[str]] = {table: set() for table in tables}
    for referencing, referenced in references:
        referencing, referenced = referencing.strip('"'), referenced.strip('"')
        if referencing in names and referenced in names:
            graph[referenced].add(referencing)
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError:
        return None


def _fixture_teardown(self: TransactionTestCase) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        _django_fixture_teardown(self)
        return
    for alias in self._databases_names(include_mirrors=False):
        database_flush(alias)


_django_fixture_teardown = TransactionTestCase._fixture_teardown


def install() -> None:
    """Flush with ``database_flush`` after each test of a TransactionTestCase (TestCase rolls
    back its transaction instead, and is untouched)."""
    TransactionTestCase._fixture_teardown = _fixture_teardown
