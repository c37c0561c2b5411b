"""Small filters of the calendar's, approvals' and post page's templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ links|get_item:name }}``: a dict's value (None when absent or not a dict)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def split(value: str) -> list[str]:
    return value.split()


@register.filter
def free_count(marks) -> int:
    """How many of a cell's posting slots are free."""
    return sum(1 for mark in marks if mark.free)


@register.filter
def move_with(card, errors):
    """``{% include "…/_move_form.html" with move=card|move_with:errors %}``: a card's Move form."""
    return card.move_form(errors)


@register.filter
def web_url(value) -> str:
    """``value`` when it is an http(s) address, else "": a media URL in a row written past the door
    (javascript:…, a bare word) is shown as text, never as a link."""
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


@register.filter
def person(user, empty: str = "—") -> str:
    """A person's name as the pages show it: their full name, else their user name; ``empty`` for
    none (a post made with an API key has no author; a reviewer's account may have been deleted)."""
    if user is None:
        return empty
    return user.get_full_name() or user.get_username()
