"""The pieces of the few statements planrrr writes by hand, kept in step with the models.

A publish attempt is three round trips to PostgreSQL: the claim, the settle, the finalize
check (``publishing.services.attempts``). Each is one statement that the ORM cannot express
(an UPDATE that also returns the joined rows it read; an UPDATE, the metric row it caused and
the webhook event it reports, in one atomic statement). Written with the ORM they were seven
to eleven round trips, and building the querysets cost more CPU than the platform call.

What a hand-written statement must not lose is what the ORM does for a model: the columns
(all of them, in order), the conversion of each value to and from the database (JSON,
encrypted text, UUIDs), and the defaults of the fields a row is inserted without. Those come
from the models' fields here, so a field added to a model is written and read like any other.
Values are always parameters (``%(name)s``), never text in the SQL.

They run on ``cursor()``: a cursor that sends the parameters apart from the statement (the
server binds them), so that PostgreSQL can keep each statement prepared on a connection and
skip parsing and planning it at every attempt (docs/performance.md: the claim and the settle
spent more CPU in PostgreSQL's parser and planner than in their execution), where Django's own
cursor writes every value into the statement's text, which PostgreSQL parses and plans anew.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import DateTimeField, Model
from django.utils import timezone

logger = logging.getLogger("planrrr.db")

__all__ = ["assignments", "columns", "cursor", "execute", "insert_select", "instance_from_row", "update_rows"]


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of ``model`` under ``alias``, in field order (what
    ``instance_from_row`` reads back)."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


# Per (model, database alias): each concrete field's attname and the converters the ORM would
# apply to its value. Built once per process: looking converters up cost more than applying them.
_readers: dict[tuple[type[Model], str], list[tuple[str, list]]] = {}


def _reader(model: type[Model], connection) -> list[tuple[str, list, Any]]:
    key = (model, connection.alias)
    if key not in _readers:
        reader = []
        for field in model._meta.concrete_fields:
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            reader.append((field.attname, converters, column))
        _readers[key] = reader
    return _readers[key]


def instance_from_row(model: type[Model], values, connection) -> tuple[Model, int]:
    """The instance of ``model`` made from the start of ``values`` (its columns as ``columns``
    lists them), converted as the ORM converts them; and how many values it took."""
    reader = _reader(model, connection)
    names, converted = [], []
    for (attname, converters, column), value in zip(reader, values, strict=False):
        if value is not None:
            for converter in converters:
                value = converter(value, column, connection)
        names.append(attname)
        converted.append(value)
    return model.from_db(connection.alias, names, converted), len(reader)


def assignments(model: type[Model], values: Mapping[str, Any], connection, *, prefix: str) -> tuple[str, dict]:
    """``"column" = %(prefix_name)s, ...`` for an UPDATE of ``model`` setting ``values`` (by field
    name), each value prepared for the database as the ORM's update() prepares it."""
    parts, params = [], {}
    for name, value in values.items():
        field = model._meta.get_field(name)
        key = f"{prefix}_{field.attname}"
        parts.append(f'"{field.column}" = %({key})s')
        params[key] = field.get_db_prep_save(value, connection)
    return ", ".join(parts), params


def insert_select(
    model: type[Model],
    values: Mapping[str, Any],
    connection,
    *,
    prefix: str,
    expressions: Mapping[str, str] | None = None,
) -> tuple[str, str, dict]:
    """The pieces of ``INSERT INTO table (<columns>) SELECT <select list> ...`` for one row of
    ``model``: every concrete column but an auto primary key, the value from ``values`` (by
    field name), or an SQL expression from ``expressions`` (a column of another CTE), or else
    the field's default (``default``, ``auto_now_add``), as ``Model.save()`` would insert it.
    A field with only a ``db_default`` is left out, so that the database fills it, as it does
    for ``save()`` (which sends DEFAULT: a keyword an INSERT … SELECT cannot take).
    Returns (columns, select list, params). Which column takes what depends only on the names
    given: worked out once per shape (``_insert_plan``), the values at every call."""
    expressions = expressions or {}
    cols, selects, plan = _insert_plan(model, frozenset(values), tuple(sorted(expressions.items())), prefix)
    params, now = {}, None
    for key, field, given, stamped in plan:
        if given is not None:
            value = values[given]
        elif stamped:
            # What DateField.pre_save sets when a row is added.
            now = now or timezone.now()
            value = now if isinstance(field, DateTimeField) else datetime.date.today()
        else:
            value = field.get_default()
        params[key] = field.get_db_prep_save(value, connection)
    return cols, selects, params


@functools.cache
def _insert_plan(
    model: type[Model], given_names: frozenset[str], expressions: tuple[tuple[str, str], ...], prefix: str
) -> tuple[str, str, tuple[tuple[str, Any, str | None, bool], ...]]:
    """``insert_select``'s columns and select list for these names given and these expressions,
    and for each parameter: (its key, the field, the name its value is given by or None, whether
    it is stamped with the time)."""
    by_name = dict(expressions)
    cols, selects, plan = [], [], []
    for field in model._meta.concrete_fields:
        given = field.attname if field.attname in given_names else field.name if field.name in given_names else None
        expression = by_name.get(field.attname) or by_name.get(field.name)
        if field.primary_key and given is None and not expression:
            continue  # an auto primary key: the database's sequence
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if not (given or expression or stamped or field.has_default()) and field.has_db_default():
            continue  # the column's DEFAULT (a DatabaseDefault is not a value to send)
        cols.append(f'"{field.column}"')
        if expression:
            selects.append(expression)
            continue
        key = f"{prefix}_{field.attname}"
        selects.append(f"%({key})s")
        plan.append((key, field, given, bool(stamped) and given is None))
    return ", ".join(cols), ", ".join(selects), tuple(plan)


def update_rows(model: type[Model], objs: list[Model], fields: list[str]) -> int:
    """Write ``fields`` of each of ``objs`` to its row, by primary key, in one statement
    (``UPDATE ... FROM unnest(...)``: an array per field), and return the rows updated. What
    Django's ``bulk_update`` does, without its ``CASE`` of one branch per row and field, whose
    building cost more CPU than anything else in a burst's dispatch (docs/performance.md). Each
    value is prepared for the database as the ORM prepares it (``get_db_prep_save``); JSON goes
    as text and is cast."""
    if not objs:
        return 0
    connection = connections[model.objects.db]
    pk = model._meta.pk
    targets = [model._meta.get_field(name) for name in fields]
    params: dict[str, Any] = {"pk": [pk.get_db_prep_save(obj.pk, connection) for obj in objs]}
    arrays, sets = [f"%(pk)s::{pk.cast_db_type(connection)}[]"], []
    for index, field in enumerate(targets):
        key = f"v{index}"
        values = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs]
        kind = field.cast_db_type(connection)
        if kind in ("jsonb", "json"):
            # psycopg's Jsonb wrapper (what the ORM prepares) as its text; the array is of text.
            values = [None if value is None else _json_text(value) for value in values]
            arrays.append(f"%({key})s::text[]")
            sets.append(f'"{field.column}" = v.{key}::{kind}')
        else:
            arrays.append(f"%({key})s::{kind}[]")
            sets.append(f'"{field.column}" = v.{key}')
        params[key] = values
    names = ", ".join(["pk", *(f"v{index}" for index in range(len(targets)))])
    statement = (
        f'UPDATE "{model._meta.db_table}" AS t SET {", ".join(sets)} '
        f"FROM unnest({', '.join(arrays)}) AS v({names}) "
        f'WHERE t."{pk.column}" = v.pk'
    )
    with cursor(connection) as server:
        server.execute(statement, params)
        return server.rowcount


def _json_text(value: Any) -> str:
    """A JSON value as the ORM prepares it (psycopg's ``Jsonb``, with the field's encoder) as text."""
    from psycopg.types.json import Jsonb

    if isinstance(value, Jsonb):
        return (value.dumps or json.dumps)(value.obj)
    return value


def execute(model: type[Model], sql: str, params: Mapping[str, Any], *, by_key: bool = True) -> list[tuple]:
    """Run one statement on ``model``'s database (``cursor()``: prepared once it has run a few
    times, on a plan for any values) and return its rows. ``by_key=False``: a statement whose
    best plan depends on its values (a range of times over a table of any size) runs on Django's
    own cursor instead, its values in its text, planned for them each time. Outside a
    transaction the statement is its own (no BEGIN, no COMMIT: one round trip); inside one, it
    runs in a savepoint, so that a statement PostgreSQL refuses leaves the caller's transaction
    usable, as ``transaction.atomic()`` would.

    A prepared statement the server does not have (a pooler in transaction mode that cannot keep
    them, such as PgBouncer before 1.21, gave this connection another server connection) is
    refused before anything runs: this process then stops preparing statements, says so once,
    and the statement runs again, unprepared."""
    alias = model.objects.db
    connection = connections[alias]
    try:
        return _run(connection, sql, params, by_key)
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) not in _PREPARED_STATEMENT_LOST:
            raise
        _preparing_stop(error)
        return _run(connection, sql, params, by_key)


def _run(connection, sql: str, params: Mapping[str, Any], by_key: bool = True) -> list[tuple]:
    from django.db import transaction

    opened = cursor(connection) if by_key else connection.cursor()
    if connection.in_atomic_block:
        with transaction.atomic(using=connection.alias), opened as server:
            server.execute(sql, params)
            return server.fetchall()
    with opened as server:
        server.execute(sql, params)
        return server.fetchall()


# invalid_sql_statement_name ("prepared statement … does not exist") and
# duplicate_prepared_statement: what a server connection that is not the one a statement was
# prepared on answers.
_PREPARED_STATEMENT_LOST = frozenset({"26000", "42P05"})
# Whether this process still prepares statements (False once a pooler lost one).
_preparing = True
# Set on a psycopg connection once its prepared statements use the plan for any values (cursor()).
_ANY_VALUES = "planrrr_plan_for_any_values"


def _preparing_stop(error: DatabaseError) -> None:
    global _preparing
    if _preparing:
        logger.warning(
            "PostgreSQL's server connection does not hold this connection's prepared statements (%s): a pooler "
            "in transaction mode (PgBouncer before 1.21) is between this process and PostgreSQL. This process "
            "no longer prepares statements; set DB_PREPARE_THRESHOLD=0 so that none does.",
            str(error).strip().splitlines()[0][:200],
        )
    _preparing = False


@contextmanager
def cursor(connection) -> Iterator:
    """A cursor of ``connection`` (Django's, wrapped as ``connection.cursor()`` wraps its own:
    the same errors, query log and execute wrappers) whose parameters the server binds. psycopg
    prepares a statement on its connection once the connection has run it
    ``DB_PREPARE_THRESHOLD`` times (0: never, for a pooler that cannot keep prepared statements,
    such as PgBouncer before 1.21 in transaction mode), and runs it prepared from then on.

    A statement run here must give PostgreSQL each parameter's type or a context it can infer it
    from (a column it is compared with or assigned to, a cast): with the values bound apart, a
    bare ``%(x)s IS NULL`` is refused ("could not determine data type of parameter").

    While statements are prepared, the connection's prepared statements use the plan for any
    values from their first run (``plan_cache_mode``, set once a connection): those run here look
    rows up by key (a publication, a post), whose plan does not depend on the values, and
    PostgreSQL would otherwise plan each of them for its values five times on every connection
    before settling on that plan, a burst's new connections' most of its CPU for them
    (docs/performance.md, "A plan for any values"). Not in a transaction: a rollback would undo it
    (then the next statement outside one sets it)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as plain:
            yield plain
        return
    from django.db.backends.postgresql.base import ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        driver = connection.connection
        threshold = (settings.DB_PREPARE_THRESHOLD or None) if _preparing else None
        if driver.prepare_threshold != threshold:
            driver.prepare_threshold = threshold
        if threshold is not None and not getattr(driver, _ANY_VALUES, False) and not connection.in_atomic_block:
            driver.execute("SET plan_cache_mode = force_generic_plan")
            setattr(driver, _ANY_VALUES, True)
        raw = ServerBindingCursor(driver)
        # As Django's create_cursor: the cursor's time zone, where the connection's differs.
        loader = driver.adapters.get_loader(driver.adapters.types["timestamptz"].oid, Format.TEXT)
        if connection.timezone != loader.timezone:
            register_tzloader(connection.timezone, raw)
    with connection._prepare_cursor(raw) as wrapped:
        yield wrapped
