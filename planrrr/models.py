"""The tenant: every row of the other apps belongs to a Team. And the installation itself."""

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction


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


class Installation(models.Model):
    """This planrrr installation: one row (id 1), made by the migration that adds the table, and
    again by ``current_key`` if it is ever missing (a database emptied by ``manage.py flush``).

    ``key`` is made with the row and never changes. It names what planrrr sends to a platform
    that remembers a client's key for a while (Mastodon's Idempotency-Key), so that two
    installations posting for one account (a staging and a production planrrr), or a database
    started again, whose publications have the same numbers, never send one key for two posts
    (the platform would answer the second with the first's status). Nobody has to set it: a new
    database is a new installation. A copy of a database (a restored backup, production copied
    to staging) is the same installation, with the same key."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="installation_one_row")]

    def __str__(self) -> str:
        return f"planrrr installation {self.key}"

    @classmethod
    def current_key(cls) -> str:
        """The installation's key as 32 hex digits. Read once per process (it never changes: one
        statement in the process's life); the row is made if it is missing (two processes at once
        make one: the insert ignores a row already there). Not kept when read inside a
        transaction, which could still undo a row it made."""
        global _current_key
        if _current_key is not None:
            return _current_key
        keys = cls.objects.filter(id=1).values_list("key", flat=True)
        key = keys.first()
        if key is None:
            cls.objects.bulk_create([cls(id=1)], ignore_conflicts=True)
            key = keys.get()
        key = key.hex
        if not transaction.get_connection().in_atomic_block:
            _current_key = key
        return key


_current_key: str | None = None
