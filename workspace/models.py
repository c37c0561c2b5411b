from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from planrrr import timezones


def _known_zone(value: str) -> None:
    if value and value not in timezones.names():
        raise ValidationError(f"{value!r} is not a time zone: pick one from the list (e.g. Europe/Paris).")


class Preference(models.Model):
    """What one person chose for their own view of the workspace. The time zone: every time the
    workspace shows is in it and says so; blank follows each team's zone."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspace_preference")
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[_known_zone],
        help_text="Your own time zone for the workspace; blank shows each team's.",
    )

    def __str__(self) -> str:
        return f"{self.user}: {self.timezone or 'team zone'}"

    def zone(self) -> ZoneInfo | None:
        if not self.timezone:
            return None
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return None


# The media library's model lives with the rest of the library (workspace/media/); imported here so
# that Django and the migrations find it.
from workspace.media.models import MediaItem  # noqa: E402, F401
