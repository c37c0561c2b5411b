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
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.db import connections
from django.db.models import DateTimeField, Model
from django.utils import timezone

__all__ = ["assignments", "columns", "execute", "insert_select", "instance_from_row"]


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
    Returns (columns, select list, params)."""
    expressions = expressions or {}
    cols, selects, params = [], [], {}
    now = None
    for field in model._meta.concrete_fields:
        given = field.attname in values or field.name in values
        expression = expressions.get(field.attname) or expressions.get(field.name)
        if field.primary_key and not given and not expression:
            continue  # an auto primary key: the database's sequence
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if not (given or expression or stamped or field.has_default()) and field.has_db_default():
            continue  # the column's DEFAULT (a DatabaseDefault is not a value to send)
        cols.append(f'"{field.column}"')
        if expression:
            selects.append(expression)
            continue
        if given:
            value = values[field.attname] if field.attname in values else values[field.name]
        elif stamped:
            # What DateField.pre_save sets when a row is added.
            now = now or timezone.now()
            value = now if isinstance(field, DateTimeField) else datetime.date.today()
        else:
            value = field.get_default()
        key = f"{prefix}_{field.attname}"
        selects.append(f"%({key})s")
        params[key] = field.get_db_prep_save(value, connection)
    return ", ".join(cols), ", ".join(selects), params


def execute(model: type[Model], sql: str, params: Mapping[str, Any]) -> list[tuple]:
    """Run one statement on ``model``'s database and return its rows. Outside a
    transaction the statement is its own (no BEGIN, no COMMIT: one round trip); inside one, it
    runs in a savepoint, so that a statement PostgreSQL refuses leaves the caller's
    transaction usable, as ``transaction.atomic()`` would."""
    from django.db import transaction

    alias = model.objects.db
    connection = connections[alias]
    if connection.in_atomic_block:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
