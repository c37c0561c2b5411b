"""What a consent grants: the tokens (:class:`Grant`) and the accounts they may connect
(:class:`AccountChoice`), as every client (connections.oauth, each platform's ``client.py``)
hands them to ``connections.services.connection_connect``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# A lifetime beyond this is not believed (a garbled expires_in must not overflow a datetime).
MAX_LIFETIME = timedelta(days=3650)


@dataclass
class Grant:
    """What a token endpoint granted, with lifetimes turned into times."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: str = ""
    # The account's own server (Mastodon instance, Bluesky PDS); "" for the others.
    base_url: str = ""
    # Bluesky: the app password the session was created with (see Connection.app_password).
    app_password: str = field(default="", repr=False)
    # What the platform says of the account now (TikTok's creator_info, read again at a renewal):
    # merged into Connection.details; {} to leave them as they are.
    details: dict = field(default_factory=dict)


@dataclass
class AccountChoice:
    """An account the person may connect with this grant: the X user, a Facebook page, the
    Instagram account linked to a page, the LinkedIn member or an organization they administer."""

    platform: str
    account_id: str
    name: str
    grant: Grant = field(repr=False)
    note: str = ""
    # The account's picture, where the platform gives one (avatar_of): what pickers show.
    avatar_url: str = ""
    # What tells apart several choices of one account (the Pinterest board its pins go to by
    # default); part of the key, so the picker offers each. One of them is connected.
    pick: str = ""
    # What the platform told about the account, kept as its connection's details (Connection.details).
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account_id}" + (f":{self.pick}" if self.pick else "")


# The longest picture URL kept (Connection.avatar_url's column).
MAX_AVATAR_URL_LENGTH = 1000


def avatar_of(value: Any) -> str:
    """A platform's picture URL as kept: an http(s) URL that fits the column, else "" (a picture
    is a nicety: an odd answer never stops a connect)."""
    if not isinstance(value, str) or len(value) > MAX_AVATAR_URL_LENGTH:
        return ""
    return value if re.match(r"^https?://[^\s]+$", value) else ""


def lifetime_end(value: Any, *, now: datetime) -> datetime | None:
    """``now`` plus a lifetime in seconds from a token answer; None if absent or not usable
    (0 means "no expiry" in some Graph answers)."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return now + min(timedelta(seconds=seconds), MAX_LIFETIME)


def normalize_scopes(value: Any) -> str:
    """Scopes as granted, space-separated (LinkedIn answers them comma-separated)."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return " ".join(part for part in re.split(r"[\s,]+", str(value or "")) if part)
