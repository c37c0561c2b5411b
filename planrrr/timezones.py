"""The IANA time zones a team can work in, as the admin's list offers them.

zoneinfo's names (the system's tz database, else the ``tzdata`` package): the canonical
``Region/City`` names grouped by region, ``UTC`` first, then the rest (legacy aliases such as
``US/Pacific``, ``Etc/GMT+5``) under "Other". A value saved before the list existed stays
selectable (``choices(current=...)``) and keeps working: ``Team.zone`` reads any name zoneinfo
knows.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

# The regions of the tz database's canonical names (its zone1970.tab areas).
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
# Names zoneinfo lists that are not a place people work in.
_SKIP = {"Factory", "localtime", "posixrules"}


@cache
def names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - _SKIP)


def choices(*, current: str = "") -> list:
    """Choices for a select: ``[("UTC", "UTC"), ("Africa", [(name, label), ...]), ..., ("Other", [...])]``."""
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in (*REGIONS, "Other")}
    listed = set(names())
    if current and current not in listed:
        listed.add(current)
    for name in sorted(listed - {"UTC"}):
        region, _, place = name.partition("/")
        if region in REGIONS and place:
            groups[region].append((name, place.replace("_", " ")))
        else:
            groups["Other"].append((name, name))
    return [("UTC", "UTC"), *((region, members) for region, members in groups.items() if members)]


def labelled(value, zone=None) -> str:
    """``2026-12-07 08:49 Europe/Paris``: a time in ``zone`` (UTC when None) that says which zone,
    as every page shows times (a bare "7:49 a.m." is read in whatever zone the reader assumes)."""
    if value is None:
        return "-"
    zone = zone or zoneinfo.ZoneInfo("UTC")
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
