"""The tenant: every row of the other apps belongs to a Team."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(name: str) -> None:
    """An IANA time zone name zoneinfo knows ("Europe/Paris", "UTC")."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as err:
        raise ValidationError(
            f"Unknown time zone {name!r}: give an IANA name such as Europe/Paris, America/New_York or UTC."
        ) from err


class Team(models.Model):
    name = models.CharField(max_length=200)
    # Times people read and type (the admin, CSV imports without an offset) are in this zone;
    # the database and the API speak absolute times.
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        db_default="UTC",
        validators=[validate_timezone],
        help_text="IANA time zone name, e.g. Europe/Paris: the admin shows and takes this team's times in it.",
    )
    # Posts written by a MEMBER wait for an ADMIN or OWNER (Post.Status.IN_REVIEW) before they
    # are scheduled; editing an approved post sends it back to review.
    requires_approval = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Posts by members must be approved by an admin or owner before they are published.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        """The team's zone; UTC for a name written past validation that zoneinfo does not know."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return ZoneInfo("UTC")


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "OWNER"
        ADMIN = "ADMIN"
        MEMBER = "MEMBER"

    # MEMBER writes drafts and submits them; these approve or reject them.
    APPROVERS = (Role.OWNER, Role.ADMIN)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"
