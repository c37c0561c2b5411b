"""The queue's arithmetic, pure (no database): the instants of a channel's weekly posting slots in
the team's zone, and the publishing caps counted over rolling windows (docs/posts.md, "Queues
and caps"). publishing.services.queue and the door (publishing.services.caps) feed it rows.

Wall-clock times: a slot is a weekday and a local time in the team's zone, so 09:00 stays 09:00
local across a DST change (the UTC instant moves by an hour). A local time that does not exist
that day (a spring-forward gap: 02:30 on the last Sunday of March in Europe/Paris) is moved to
the first instant after the gap (03:00 local); a local time that occurs twice (fall-back) is
its first occurrence (``fold=0``, the earlier instant).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# How far ahead the queue looks for a free slot before saying there is none (a channel whose
# every slot is taken or capped for a year has a problem a person must see).
HORIZON_DAYS = 366


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC instant of the wall-clock time ``at`` on ``day`` in ``zone``: the first of two
    when the time occurs twice, the end of the gap when it does not occur at all."""
    wall = datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # In a gap: zoneinfo reads the wall time with the offset before the change for fold=0 and the
    # one after for fold=1, so the change itself lies between those two instants; the first
    # instant after the gap is the change (found to the second).
    low = wall.replace(fold=1).astimezone(UTC)  # before the change
    high = instant  # after it
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def slot_instants(slots: Iterable[tuple[int, time]], *, after: datetime, zone: tzinfo) -> Iterator[datetime]:
    """The instants (UTC, ascending) of the weekly ``slots`` ((weekday 0 = Monday, local time))
    strictly after ``after``, for HORIZON_DAYS days; none when there are no slots."""
    by_day: dict[int, list[time]] = {}
    for weekday, at in slots:
        by_day.setdefault(weekday, []).append(at)
    if not by_day:
        return
    for times in by_day.values():
        times.sort()
    first = after.astimezone(zone).date()
    for offset in range(HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        seen = set()
        for at in by_day.get(day.weekday(), ()):
            instant = local_instant(day, at, zone)
            # Two slots in one gap (02:15 and 02:45) land on the same instant: one slot.
            if instant > after and instant not in seen:
                seen.add(instant)
                yield instant


@dataclass(frozen=True)
class Window:
    """A cap as the queue and the door count it: at most ``count`` targets of one account in any
    rolling ``seconds``."""

    count: int
    seconds: int

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def describe(self) -> str:
        return f"{self.count} posts per {_duration(self.seconds)}"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def fits(taken: Sequence[datetime], at: datetime, window: Window) -> bool:
    """Whether one more target at ``at`` keeps every rolling ``window`` containing ``at`` within
    its count, ``taken`` (sorted) being the account's other targets. Targets a window's length
    apart or more never share a window."""
    if window.count <= 0:
        return False
    span = window.span
    low = bisect.bisect_right(taken, at - span)  # first target within a span before ``at``
    high = bisect.bisect_left(taken, at + span)  # first target a span or more after it
    around = list(taken[low:high])
    position = bisect.bisect_left(around, at)
    points = around[:position] + [at] + around[position:]
    # Every run of count + 1 consecutive points that includes ``at``: if it lies within less than
    # a window's length, some window holds count + 1.
    need = window.count + 1
    for start in range(max(0, position - window.count), position + 1):
        end = start + need - 1
        if end >= len(points):
            break
        if points[end] - points[start] < span:
            return False
    return True


def next_room(taken: Sequence[datetime], at: datetime, windows: Sequence[Window]) -> datetime | None:
    """The earliest instant from ``at`` on at which one more target fits every window; None if
    none within HORIZON_DAYS. What fits only changes where a target leaves a window (its time
    plus the window's length), so those are the instants tried."""
    if all(fits(taken, at, window) for window in windows):
        return at
    horizon = at + timedelta(days=HORIZON_DAYS)
    candidates = sorted({t + window.span for t in taken for window in windows if t + window.span > at})
    for candidate in candidates:
        if candidate > horizon:
            break
        if all(fits(taken, candidate, window) for window in windows):
            return candidate
    return None


def free_instants(
    slots: Iterable[tuple[int, time]],
    *,
    after: datetime,
    zone: tzinfo,
    taken: Iterable[datetime],
    windows: Sequence[Window] = (),
    count: int,
    room=None,
) -> list[datetime]:
    """The first ``count`` free instants of the weekly ``slots`` after ``after``: not ``taken``
    (to the minute) by another target of the channel, and not in a window a cap has filled,
    each instant given counting the ones before it. Fewer when the horizon ends first. ``room``:
    a daily quota across the installation (publishing.services.caps.QuotaRoom: ``fits``, ``add``),
    whose full days are skipped too."""
    booked = sorted(taken)
    minutes = {_minute(t) for t in booked}
    chosen: list[datetime] = []
    if count <= 0:
        return chosen
    for instant in slot_instants(slots, after=after, zone=zone):
        if _minute(instant) in minutes:
            continue
        if not all(fits(booked, instant, window) for window in windows):
            continue
        if room is not None and not room.fits(instant):
            continue
        if room is not None:
            room.add(instant)
        chosen.append(instant)
        bisect.insort(booked, instant)
        minutes.add(_minute(instant))
        if len(chosen) == count:
            break
    return chosen


def _minute(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(second=0, microsecond=0)
