"""How a channel looks in the workspace: its platform's colour (white text on it reads at 4.5:1 or
more, WCAG AA) and a short mark, beside the account's name: the calendar's cards, the approvals'
and a post's page. The colours are the networks' own where theirs is dark enough."""

from __future__ import annotations

from connections.models import Platform

LOOKS = {
    "FACEBOOK": ("#0b5cd5", "f"),
    "INSTAGRAM": ("#b3246b", "IG"),
    "TWITTER": ("#14171a", "X"),
    "LINKEDIN": ("#0a66c2", "in"),
    "BLUESKY": ("#0057b8", "bsky"),
    "MASTODON": ("#563acc", "M"),
    "THREADS": ("#000000", "@"),
    "TIKTOK": ("#0f6e6b", "TT"),
    "PINTEREST": ("#bd081c", "P"),
    "YOUTUBE": ("#b3131a", "YT"),
    "GOOGLE_BUSINESS": ("#1565c0", "G"),
}
OTHER = ("#4d5661", "?")


def channel_look(platform: str) -> dict[str, str]:
    colour, mark = LOOKS.get(platform, OTHER)
    try:
        name = Platform(platform).label
    except ValueError:
        name = platform
    return {"colour": colour, "mark": mark, "name": name}
