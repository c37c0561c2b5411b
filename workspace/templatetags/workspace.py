"""Times as the workspace shows them: always in the person's zone, always saying which, with
the exact instant in a <time> element for machines (and for the tests)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html

register = template.Library()


def local(value: datetime, zone) -> datetime:
    return value.astimezone(zone)


def label(value: datetime, zone, *, date: bool = True) -> str:
    """'Mon 7 Dec 2026, 09:00 Europe/Paris' (or '09:00 Europe/Paris' without the date)."""
    moment = local(value, zone)
    clock = moment.strftime("%H:%M")
    if not date:
        return f"{clock} {zone.key}"
    return f"{moment.strftime('%a')} {moment.day} {moment.strftime('%b %Y')}, {clock} {zone.key}"


@register.simple_tag(takes_context=True)
def when(context, value: datetime | None, date: bool = True, empty: str = "—"):
    """``{% when post.scheduled_at %}``: the time in the viewer's zone, labelled with it."""
    if value is None:
        return empty
    zone = context["request"].workspace.zone
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
        label(value, zone, date=date),
    )
