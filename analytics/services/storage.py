"""The time series' storage: a month's partition of ``analytics_snapshot`` made ahead of its time,
and retention, which drops whole months (docs/analytics.md, "Storage"; the measurements are in
docs/performance.md).

A partition is made as a table of its own, filled with whatever readings of its month the DEFAULT
partition holds (a clock gone wrong, a month nobody made), then attached: attaching a range the
DEFAULT partition has rows of would fail, and a reading is never refused for want of a partition.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection as default_connection
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger("planrrr.analytics")

TABLE = "analytics_snapshot"
PARTITION = re.compile(rf"^{TABLE}_p(\d{{4}})(\d{{2}})$")
# Months made ahead of the current one.
AHEAD = 2


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y%m}"


def partitions(*, connection=None) -> list[str]:
    """The month partitions that exist, oldest first."""
    with (connection or default_connection).cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        return sorted(name for (name,) in cursor.fetchall() if PARTITION.match(name))


def partition_make(month: date, *, connection=None) -> bool:
    """Make the partition of ``month`` unless it exists; True if made."""
    connection = connection or default_connection
    name = partition_name(month)
    if name in partitions(connection=connection):
        return False
    low = datetime(month.year, month.month, 1, tzinfo=UTC)
    high = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # One maker at a time (two workers' maintenance, a migration): the second sees it made.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [TABLE])
        if name in partitions(connection=connection):
            return False
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {TABLE}_default WHERE captured_at >= %s AND captured_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [low, high],
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [low, high])
    return True


def partitions_ensure(*, now: datetime | None = None, connection=None) -> list[str]:
    """The current month's partition and the next AHEAD months'; returns those made."""
    month = month_start(now or timezone.now())
    made = []
    for _ in range(AHEAD + 1):
        if partition_make(month, connection=connection):
            made.append(partition_name(month))
        month = next_month(month)
    return made


def snapshots_prune(*, now: datetime | None = None) -> int:
    """Drop the readings older than ANALYTICS_RETENTION_DAYS: whole months' partitions (no row by
    row delete, no bloat), and the rows of the month the limit falls in; a channel's days too.
    Returns the partitions dropped."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ANALYTICS_RETENTION_DAYS)
    dropped = 0
    with default_connection.cursor() as cursor:
        for name in partitions():
            found = PARTITION.match(name)
            month = date(int(found.group(1)), int(found.group(2)), 1)
            if datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC) <= cutoff:
                cursor.execute(f"DROP TABLE {name}")
                dropped += 1
        cursor.execute(f"DELETE FROM {TABLE} WHERE captured_at < %s", [cutoff])
        cursor.execute("DELETE FROM analytics_channelday WHERE captured_at < %s", [cutoff])
    return dropped


def snapshots_maintain() -> None:
    """The hourly upkeep (PLANRRR_PERIODIC): partitions ahead, retention."""
    made = partitions_ensure()
    dropped = snapshots_prune()
    if made or dropped:
        logger.info("Analytics storage: made %s, dropped %s partitions", ", ".join(made) or "no", dropped)
