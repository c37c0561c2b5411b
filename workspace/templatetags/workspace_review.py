"""The approvals' badge in the menu: how many posts wait for this approver (for a member, how
many of their posts were sent back)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def approvals_badge(context) -> str:
    from workspace.approvals import waiting_count

    workspace = getattr(context.get("request"), "workspace", None)
    if workspace is None:
        return ""
    count = waiting_count(workspace)
    if not count:
        return ""
    words = "waiting for review" if workspace.approves else "sent back to you"
    return format_html(
        ' <span class="badge" title="{} {}">{}<span class="visually-hidden"> {}</span></span>',
        count,
        words,
        count,
        words,
    )
