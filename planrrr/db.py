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

from datetime import UTC, datetime

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
