"""The decaying schedule of a post's readings (docs/analytics.md, "Schedule"): figures move most in
a post's first hours, so it is read hourly in its first day, every 6 hours to day 7, daily to day
30, weekly to day 90, then no more (ANALYTICS_SCHEDULE). About 80 readings in a post's life: 3,000
posts a day cost about 240,000 readings a day, fewer calls where the platform batches them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings


def next_sync_at(*, published_at: datetime, after: datetime) -> datetime | None:
    """When to read a post published at ``published_at`` next, after a reading (or a try) at
    ``after``; None once it is past the schedule's last age."""
    age = after - published_at
    for until_hours, every_hours in settings.ANALYTICS_SCHEDULE:
        until = timedelta(hours=until_hours)
        if age < until:
            return min(after + timedelta(hours=every_hours), published_at + until)
    return None


def readings_in_a_life() -> int:
    """How many readings the schedule makes of one post (the first included): the bench's and the
    docs' figure."""
    hours, readings = 0, 1
    for until_hours, every_hours in settings.ANALYTICS_SCHEDULE:
        while hours < until_hours:
            hours = min(hours + every_hours, until_hours)
            readings += 1
    return readings
