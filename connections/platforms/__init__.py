"""The platform adapters, by platform name: a plain dict, and one instance of each per process.

This is the one place a platform is declared: its adapter class states its name (``platform``),
its ``label`` and its limits, and ``connections.models.Platform`` (the choices stored on rows)
is built from this dict. A new platform is one adapter class added to the tuple below.
"""

from __future__ import annotations

import os

import requests

from planrrr.http import PinnedSession, environment_read

from .base import HttpAdapter
from .bluesky import BlueskyAdapter
from .facebook import FacebookAdapter
from .instagram import InstagramAdapter
from .linkedin import LinkedInAdapter
from .mastodon import MastodonAdapter
from .twitter import TwitterAdapter

# In the order people see them (choices, messages listing the known platforms).
ADAPTERS: dict[str, type[HttpAdapter]] = {
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


_instances: dict[str, HttpAdapter] = {}
_sessions: dict[type, requests.Session] = {}
_owner_pid: int | None = None


def get_adapter(platform: str) -> HttpAdapter:
    """The adapter for ``platform`` ("FACEBOOK", ...), one per process. Adapters of the same
    ``session_class`` share one requests.Session (one connection pool): the platforms with one API
    for everybody one PlatformSession, those of per-connection servers (Bluesky, Mastodon) one
    pinned session, which must never be swapped for the other. A forked process (an RQ
    work-horse) builds its own: pooled sockets must not be shared across processes."""
    global _owner_pid
    if platform not in ADAPTERS:
        raise UnknownPlatform(f"Unknown platform {platform!r}; known platforms: {', '.join(ADAPTERS)}.")
    if _owner_pid != os.getpid():
        _instances.clear()
        _sessions.clear()
        _owner_pid = os.getpid()
    if platform not in _instances:
        adapter_class = ADAPTERS[platform]
        if adapter_class.session_class not in _sessions:
            _sessions[adapter_class.session_class] = adapter_class.session_class()
        _instances[platform] = adapter_class(session=_sessions[adapter_class.session_class])
    return _instances[platform]


def environment_read_ahead() -> None:
    """Read now the proxy and CA bundle variables of the platforms' API hosts (planrrr.http):
    a forking worker's main process does (PLANRRR_WORKER_WARM_UP), so that its work-horses
    inherit them instead of each reading them at its first request."""
    # A pinned session (Bluesky, Mastodon: per-connection servers) reads none of them.
    environment_read(
        adapter().base_url for adapter in ADAPTERS.values() if not issubclass(adapter.session_class, PinnedSession)
    )
