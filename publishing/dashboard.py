"""The admin's publishing dashboard: publications per hour by outcome and platform (a chart
drawn server-side as inline SVG: no script, nothing fetched), the slowest connections and
the failing ones, and the live queue figures.

Mounted by PostAdmin.get_urls at ``admin/publishing/post/dashboard/``. An operator (superuser)
sees the installation; anybody else their teams' figures only, over the job rows kept
(METRICS_RAW_RETENTION_HOURS: rollups carry no team), without the workers and queues.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from planrrr.models import Team
from planrrr.teamadmin import team_ids
from publishing import selectors
from publishing.models import JobMetric

Outcome = JobMetric.Outcome

# Stacking order (bottom up) and colours of the outcomes.
OUTCOME_COLOURS = {
    Outcome.PUBLISHED: "#2e7d32",
    Outcome.RECONCILED: "#00897b",
    Outcome.RETRY: "#f9a825",
    Outcome.RATE_LIMITED: "#ef6c00",
    Outcome.FAILED: "#c62828",
    Outcome.SKIPPED: "#9e9e9e",
}

CHART_WIDTH = 720
CHART_HEIGHT = 140
AXIS_WIDTH = 40
LABEL_HEIGHT = 18


def dashboard(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    hours = _int(request.GET.get("hours"), default=24, low=1, high=24 * 14)
    now = timezone.now()
    operator = request.user.is_superuser
    # The teams whose posts the user sees (PostAdmin's roles); None: the whole installation.
    teams = None if operator else team_ids(request, model_admin.view_roles)
    queues, queue_error = None, ""
    if operator:
        try:
            queues = selectors.rq_state()
        except redis.RedisError as err:
            queue_error = f"Redis unreachable: {err}"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Publishing dashboard",
        "opts": model_admin.model._meta,
        "hours": hours,
        "hour_choices": [6, 24, 72, 168],
        "operator": operator,
        "team_names": [] if operator else sorted(Team.objects.filter(pk__in=teams).values_list("name", flat=True)),
        "kept_hours": settings.METRICS_RAW_RETENTION_HOURS,
        "charts": hourly_charts(
            selectors.publications_per_hour(hours=hours, now=now, teams=teams), hours=hours, now=now
        ),
        "legend": [{"outcome": Outcome(o).label, "colour": c} for o, c in OUTCOME_COLOURS.items()],
        "summary": selectors.metrics_summary(teams=teams),
        "slowest": selectors.slowest_connections(hours=hours, teams=teams),
        "failing": selectors.failing_connections(hours=hours, teams=teams),
        "queues": queues,
        "queue_error": queue_error,
        "chart_width": CHART_WIDTH + AXIS_WIDTH,
        "axis": {"x": AXIS_WIDTH, "tick_x": AXIS_WIDTH - 4, "bottom": CHART_HEIGHT, "label_y": CHART_HEIGHT + 14},
        "chart_height": CHART_HEIGHT + LABEL_HEIGHT,
    }
    return TemplateResponse(request, "admin/publishing/dashboard.html", context)


def hourly_charts(rows: list[dict], *, hours: int, now: datetime) -> list[dict]:
    """One stacked bar chart per platform, all on the same scale so that platforms compare:
    a bar per hour, a segment per outcome, geometry in SVG user units."""
    first = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    slots = [first + timedelta(hours=i) for i in range(hours)]
    index = {slot: i for i, slot in enumerate(slots)}
    counts: dict[str, list[dict[str, int]]] = {}
    for row in rows:
        hour = row["hour"].astimezone(first.tzinfo)
        if hour not in index:
            continue
        per_hour = counts.setdefault(row["platform"] or "?", [{} for _ in slots])
        per_hour[index[hour]][row["outcome"]] = per_hour[index[hour]].get(row["outcome"], 0) + row["n"]
    peak = max((sum(hour.values()) for per_hour in counts.values() for hour in per_hour), default=0)
    scale = CHART_HEIGHT / peak if peak else 0
    step = CHART_WIDTH / hours
    label_every = max(1, hours // 12)
    charts = []
    for platform, per_hour in sorted(counts.items()):
        bars = []
        for i, (slot, outcomes) in enumerate(zip(slots, per_hour, strict=True)):
            x = AXIS_WIDTH + i * step
            y = CHART_HEIGHT
            segments = []
            for outcome, colour in OUTCOME_COLOURS.items():
                n = outcomes.get(outcome, 0)
                if not n:
                    continue
                height = n * scale
                y -= height
                segments.append(
                    {"y": round(y, 2), "height": round(height, 2), "colour": colour, "outcome": outcome, "n": n}
                )
            bars.append(
                {
                    "x": round(x + step * 0.1, 2),
                    "width": round(step * 0.8, 2),
                    "centre": round(x + step / 2, 2),
                    "hour": slot,
                    "label": f"{slot:%H}h" if i % label_every == 0 else "",
                    "total": sum(outcomes.values()),
                    "segments": segments,
                }
            )
        totals = {outcome: sum(hour.get(outcome, 0) for hour in per_hour) for outcome in OUTCOME_COLOURS}
        charts.append(
            {
                "platform": platform,
                "bars": bars,
                "totals": [{"outcome": o, "n": n, "colour": OUTCOME_COLOURS[o]} for o, n in totals.items() if n],
                "peak": peak,
                "half": peak / 2,
                "half_y": CHART_HEIGHT / 2,
            }
        )
    return charts


def _int(value: str | None, *, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value), low), high) if value is not None else default
    except ValueError:
        return default
