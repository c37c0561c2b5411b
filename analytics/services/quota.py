"""The analytics' share of a platform app's daily quota (YouTube: planrrr's Google Cloud project,
shared by every channel of every team; docs/analytics.md, "YouTube's quota").

``videos.list`` and ``channels.list`` cost a unit a call from the units every method but the upload
shares, which publishing reads from too (a video's processing, a reconciliation); on a project on
the older model the uploads themselves draw on them. The analytics spend at most what
``publishing.services.caps.analytics_quota_units`` leaves them in the quota's day, counted across
the installation in one row a day (``QuotaUse``), taken by one guarded statement: two workers never
spend past it together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection as db

from connections.platforms import UnknownPlatform
from connections.platforms import declaration as declaration_of
from connections.platforms.base import RateLimited
from publishing.services.caps import analytics_quota_units


class QuotaSpent(RateLimited):
    """The analytics' share of the app's quota for the day is spent: figures wait for the next day."""


@dataclass
class AppQuota:
    platform: str
    label: str
    cost: int
    limit: int
    zone: ZoneInfo
    day: date

    @property
    def renews_at(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time.min, tzinfo=self.zone)

    def take(self) -> None:
        """Spend one call's units, or raise QuotaSpent (nothing spent)."""
        with db.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO analytics_quotause AS q (platform, day, units)
                SELECT %(platform)s, %(day)s, %(cost)s WHERE %(cost)s <= %(limit)s
                ON CONFLICT (platform, day) DO UPDATE SET units = q.units + EXCLUDED.units
                 WHERE q.units + EXCLUDED.units <= %(limit)s
                RETURNING units
                """,
                {"platform": self.platform, "day": self.day, "cost": self.cost, "limit": self.limit},
            )
            if cursor.fetchone() is None:
                raise QuotaSpent(
                    f"planrrr's {self.label} analytics spent their share of the app's daily quota ({self.limit:,} "
                    f"units on {self.day.isoformat()}, {self.zone.key}; the rest is kept for publishing): figures "
                    f"are read again from the next day.",
                    retry_at=self.renews_at,
                )


def quota_room(adapter, platform: str, now: datetime) -> AppQuota | None:
    """The day's analytics share of the platform app's quota, where its calls cost units; else None."""
    if not adapter.metrics_quota_cost:
        return None
    try:
        declared = declaration_of(platform)
    except UnknownPlatform:
        return None
    limit = analytics_quota_units(platform)
    if declared.quota is None or limit is None:
        return None
    zone = ZoneInfo(declared.quota.zone)
    return AppQuota(
        platform=platform,
        label=declared.label,
        cost=adapter.metrics_quota_cost,
        limit=limit,
        zone=zone,
        day=now.astimezone(zone).date(),
    )
