"""The registry of platforms: one declaration each (its package's ``__init__.py``), in the order
people see them (choices, messages listing the known platforms), and the lookups everything
else goes through. A new platform is its package plus one line in DECLARATIONS
(docs/adding-a-platform.md).

Only the declarations are imported here: an adapter, a client or a stand-in is imported by its
dotted path on first use (as RQ imports a job), so that reading a platform's name or label never
loads every platform's code. ``connections.models.Platform`` (the choices stored on rows) is
built from DECLARATIONS, so a name or a label cannot disagree between the database, the admin
and the adapters' messages.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import requests
from django.utils.module_loading import import_string

from planrrr.http import PinnedSession, environment_read

from .bluesky import DECLARATION as BLUESKY
from .config import value_of
from .declaration import Declaration, Setting
from .facebook import DECLARATION as FACEBOOK
from .google_business import DECLARATION as GOOGLE_BUSINESS
from .instagram import DECLARATION as INSTAGRAM
from .linkedin import DECLARATION as LINKEDIN
from .mastodon import DECLARATION as MASTODON
from .pinterest import DECLARATION as PINTEREST
from .threads import DECLARATION as THREADS
from .tiktok import DECLARATION as TIKTOK
from .x import DECLARATION as X
from .youtube import DECLARATION as YOUTUBE

if TYPE_CHECKING:
    from connections.oauth import OAuthClient
    from connections.platforms.http import HttpAdapter

DECLARATIONS: tuple[Declaration, ...] = (
    FACEBOOK,
    INSTAGRAM,
    X,
    LINKEDIN,
    BLUESKY,
    MASTODON,
    THREADS,
    TIKTOK,
    PINTEREST,
    YOUTUBE,
    GOOGLE_BUSINESS,
)

_BY_NAME = {declaration.name: declaration for declaration in DECLARATIONS}
_SETTINGS = {setting.name: setting for declaration in DECLARATIONS for setting in declaration.all_settings}


class UnknownPlatform(ValueError):
    """No platform of this name is declared."""


def declaration(name: str) -> Declaration:
    """The declaration of platform ``name`` ("FACEBOOK", ...); UnknownPlatform if none."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UnknownPlatform(f"Unknown platform {name!r}; known platforms: {', '.join(_BY_NAME)}.") from None


def choices() -> list[tuple[str, str]]:
    """(name, label) of every platform: the choices of the fields that store a platform's name.
    A callable, so that the migrations name it rather than copy the list, and a new platform
    needs no migration."""
    return [(declared.name, declared.label) for declared in DECLARATIONS]


def setting_value(setting: Setting | str) -> str | int | float | bool:
    """The value of a platform's variable (a declared Setting, or its name)."""
    if isinstance(setting, str):
        if setting not in _SETTINGS:
            raise LookupError(f"No platform declares the variable {setting!r}.")
        setting = _SETTINGS[setting]
    return value_of(setting)


def adapter_class(name: str) -> type[HttpAdapter]:
    return import_string(declaration(name).adapter)


def adapter_classes() -> list[type[HttpAdapter]]:
    """Every platform's adapter class, in DECLARATIONS' order."""
    return [adapter_class(declared.name) for declared in DECLARATIONS]


def client_class(name: str) -> type[OAuthClient]:
    """The class that connects and renews accounts of platform ``name`` (Instagram: Facebook's)."""
    return import_string(declaration(name).client)


def get_client(name: str) -> OAuthClient:
    return client_class(name)()


def connectable() -> list[Declaration]:
    """The platforms with a connect button of their own: one per client, in DECLARATIONS' order
    (Instagram's accounts come with Facebook's)."""
    return [declared for declared in DECLARATIONS if client_class(declared.name).platform == declared.name]


def connected_with(name: str) -> list[Declaration]:
    """The platforms whose accounts the client of platform ``name`` connects (Facebook: Facebook
    and Instagram)."""
    return [declared for declared in DECLARATIONS if declared.client == declaration(name).client]


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
    if _owner_pid != os.getpid():
        _instances.clear()
        _sessions.clear()
        _owner_pid = os.getpid()
    if platform not in _instances:
        cls = adapter_class(platform)
        if cls.session_class not in _sessions:
            _sessions[cls.session_class] = cls.session_class()
        _instances[platform] = cls(session=_sessions[cls.session_class])
    return _instances[platform]


def import_all() -> None:
    """Import every platform's adapter and client now: a forking worker's main process does
    (PLANRRR_WORKER_WARM_UP), so that its work-horses share them instead of each importing them
    at its first job."""
    for declared in DECLARATIONS:
        adapter_class(declared.name)
        client_class(declared.name)


def environment_read_ahead() -> None:
    """Read now the proxy and CA bundle variables of the platforms' API hosts (planrrr.http):
    a forking worker's main process does (PLANRRR_WORKER_WARM_UP), so that its work-horses
    inherit them instead of each reading them at its first request."""
    # A pinned session (Bluesky, Mastodon: per-connection servers) reads none of them.
    environment_read(cls().base_url for cls in adapter_classes() if not issubclass(cls.session_class, PinnedSession))
