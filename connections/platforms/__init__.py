"""The platform adapters, by platform name: a plain dict, and one instance of each per process.

This is the one place a platform is declared: its adapter class states its name (``platform``),
its ``label`` and its limits, and ``connections.models.Platform`` (the choices stored on rows)
is built from this dict. A new platform is one adapter class added to the tuple below.
"""

from __future__ import annotations

import os

from planrrr.http import PlatformSession, environment_read

from .base import Adapter
from .bluesky import BlueskyAdapter
from .facebook import FacebookAdapter
from .instagram import InstagramAdapter
from .linkedin import LinkedInAdapter
from .mastodon import MastodonAdapter
from .twitter import TwitterAdapter

# In the order people see them (choices, messages listing the known platforms).
ADAPTERS: dict[str, type[Adapter]] = {
    adapter.platform: adapter
    for adapter in (
        FacebookAdapter,
        InstagramAdapter,
        TwitterAdapter,
        LinkedInAdapter,
        BlueskyAdapter,
        MastodonAdapter,
    )
}


class UnknownPlatform(ValueError):
    """No adapter for this platform name."""


_instances: dict[str, Adapter] = {}
_owner_pid: int | None = None


def get_adapter(platform: str) -> Adapter:
    """The adapter for ``platform`` ("FACEBOOK", ...), one per process, all sharing one
    requests.Session (one connection pool). A forked process (an RQ work-horse) builds its own:
    pooled sockets must not be shared across processes."""
    global _owner_pid
    if platform not in ADAPTERS:
        raise UnknownPlatform(f"Unknown platform {platform!r}; known platforms: {', '.join(ADAPTERS)}.")
    if _owner_pid != os.getpid():
        _instances.clear()
        _owner_pid = os.getpid()
    if platform not in _instances:
        session = next((adapter.session for adapter in _instances.values()), None) or PlatformSession()
        _instances[platform] = ADAPTERS[platform](session=session)
    return _instances[platform]


def environment_read_ahead() -> None:
    """Read now the proxy and CA bundle variables of every platform's API host (planrrr.http):
    a forking worker's main process does (PLANRRR_WORKER_WARM_UP), so that its work-horses
    inherit them instead of each reading them at its first request."""
    environment_read(adapter().base_url for adapter in ADAPTERS.values())
