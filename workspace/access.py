"""Who is working, in which team, with which role: every workspace view but the login goes
through ``team_view``, which answers 404 to anyone not in the team (a superuser is an OWNER
everywhere, as in the admin) and puts a ``Workspace`` on the request.

The role is the one the services take (``Membership.Role``): a MEMBER writes and submits, an
ADMIN or OWNER also approves; the services decide the rest (publishing.services.checks), so the
workspace lets a person do exactly what the API lets a key of the same role do."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest

from planrrr.models import Membership, Team
from planrrr.teamadmin import team_role, teams_for
from publishing.services.checks import is_approver


@dataclass(frozen=True)
class Workspace:
    team: Team
    role: str
    user: object
    # The zone every time is shown in: the person's own, else the team's.
    zone: ZoneInfo

    @property
    def approves(self) -> bool:
        return is_approver(self.role)

    @property
    def zone_name(self) -> str:
        return self.zone.key


def person_zone(user, team: Team) -> ZoneInfo:
    preference = getattr(user, "workspace_preference", None) if user.is_authenticated else None
    try:
        chosen = preference.zone() if preference else None
    except Exception:  # noqa: BLE001 - a missing row is no preference
        chosen = None
    return chosen or team.zone


def team_view(view):
    """A view of one team's workspace, its id in the URL (``team_id``): logged in, a member."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, team_id: int, *args, **kwargs):
        team = Team.objects.filter(pk=team_id).first()
        role = team_role(request, team_id) if team else None
        if team is None or role is None:
            raise Http404("No such team, or you are not one of its members.")
        request.workspace = Workspace(team=team, role=role, user=request.user, zone=person_zone(request.user, team))
        return view(request, *args, **kwargs)

    return wrapper


def my_teams(user):
    return teams_for(user).order_by("name", "pk")


__all__ = ["Membership", "Workspace", "my_teams", "person_zone", "team_view"]
