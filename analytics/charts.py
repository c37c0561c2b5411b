"""The admin's charts, drawn server-side as inline SVG (no script, nothing fetched), as the
publishing dashboard's: a post's curve, a channel's followers, the week's top posts. Every data
point is a mark of its own (a ``circle`` or a ``rect`` of class ``point``) with its value in a
``title``, so that a person hovering reads it and a test counts them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 28
# The colours of the series, by common name (the bars take the first).
COLOURS = {"views": "#1565c0", "likes": "#c62828", "comments": "#2e7d32", "shares": "#ef6c00", "followers": "#6a1b9a"}
OTHER = "#546e7a"


def _empty(message: str) -> SafeString:
    text = f'<text x="8" y="24">{escape(message)}</text>'
    return mark_safe(f'<svg class="analytics-chart" width="{WIDTH}" height="40" role="img">{text}</svg>')


def line_chart(
    series: dict[str, Sequence[tuple[datetime, int | None]]], *, title: str, empty: str = "No readings yet."
) -> SafeString:
    """Lines over time, one per series (a None value is a gap: not given, never a zero), each
    reading a circle."""
    points = [(when, value) for values in series.values() for when, value in values if value is not None]
    if not points:
        return _empty(empty)
    start = min(when for when, _ in points)
    end = max(when for when, _ in points)
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(value for _, value in points), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(when: datetime) -> float:
        return LEFT + (when - start).total_seconds() / span * plot_w

    def y(value: int) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg class="analytics-chart" width="{WIDTH}" height="{HEIGHT + 18 * len(series)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 18 * len(series)}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#999"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{top:,}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{start:%Y-%m-%d %H:%M}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{end:%Y-%m-%d %H:%M} UTC</text>',
    ]
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS.get(name, OTHER)
        run: list[str] = []
        for when, value in [*values, (None, None)]:
            if value is None:
                if len(run) > 1:
                    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
                run = []
                continue
            run.append(f"{x(when):.1f},{y(value):.1f}")
        for when, value in values:
            if value is not None:
                parts.append(
                    f'<circle class="point" data-series="{escape(name)}" cx="{x(when):.1f}" cy="{y(value):.1f}" r="4" '
                    f'fill="{colour}"><title>{escape(name)} {value:,} at {when:%Y-%m-%d %H:%M} UTC</title></circle>'
                )
        legend_y = HEIGHT + 14 + 18 * index
        parts.append(f'<rect x="{LEFT}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{LEFT + 16}" y="{legend_y}">{escape(name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(bars: Sequence[tuple[str, int]], *, title: str, empty: str = "No post read this week.") -> SafeString:
    """Horizontal bars, largest first as given: a label and its value."""
    if not bars:
        return _empty(empty)
    row, label_w = 26, 300
    height = TOP + row * len(bars) + 8
    most = max(max(value for _, value in bars), 1)
    colour = COLOURS["likes"]
    parts = [
        f'<svg class="analytics-chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for index, (label, value) in enumerate(bars):
        top = TOP + index * row
        width = max(2.0, value / most * (WIDTH - label_w - 80))
        short = label if len(label) <= 42 else label[:41] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{top + 15}" text-anchor="end">{escape(short)}</text>')
        parts.append(
            f'<rect class="point" x="{label_w}" y="{top + 3}" width="{width:.1f}" height="18" fill="{colour}">'
            f"<title>{escape(label)}: {value:,}</title></rect>"
        )
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{top + 15}">{value:,}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
