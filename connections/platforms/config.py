"""The platforms' variables, read where they are used rather than listed in planrrr/settings.py
(the bottom floor, which imports no platform): each is declared once, by its platform
(``Declaration.all_settings``), with its name and default."""

from __future__ import annotations

import os

import environ
from django.conf import settings

from connections.platforms.declaration import Setting

_MISSING = object()
_env = environ.Env()


def value_of(setting: Setting) -> str | int | float | bool:
    """The Django setting of that name if there is one (``override_settings`` in tests), else the
    environment variable (planrrr/settings.py has read ``.env`` into the environment), else the
    declared default; of the default's type, as django-environ reads it."""
    found = getattr(settings, setting.name, _MISSING)
    if found is not _MISSING:
        return environ.Env.parse_value(found, type(setting.default)) if isinstance(found, str) else found
    if setting.name in os.environ:
        return _env.get_value(setting.name, cast=type(setting.default))
    return setting.default
