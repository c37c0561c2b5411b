"""Writes on the core's rows: a team and its members."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from planrrr.models import Membership, Team


def team_create(*, name: str, owner: AbstractBaseUser, timezone: str = "UTC") -> Team:
    """A team with ``owner`` as its OWNER member. Raises ValidationError, by field, for a blank or
    taken name (case aside: two teams of one name cannot be told apart in the admin's lists) or a
    time zone zoneinfo does not know."""
    team = Team(name=name.strip(), timezone=timezone.strip())
    team.full_clean(exclude=["created_at"])
    if Team.objects.filter(name__iexact=team.name).exists():
        raise ValidationError({"name": f"A team named {team.name!r} exists already: choose another name."})
    with transaction.atomic():
        team.save()
        Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    return team
