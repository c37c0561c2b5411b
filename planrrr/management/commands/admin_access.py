"""Give a user the admin for their teams, or take it back: staff status and the team group
(planrrr.teamadmin.TEAM_GROUP). What they see and do there is their memberships' roles."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from planrrr.models import Membership
from planrrr.teamadmin import TEAM_GROUP, team_group_sync


def admin_access_grant(*, username: str, revoke: bool = False) -> str:
    """Grant (or revoke) ``username`` the admin for their teams; returns what now holds."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r}: create it first (manage.py createsuperuser is for operators).")
    group = Group.objects.filter(name=TEAM_GROUP).first()
    if group is None:
        team_group_sync()  # a database migrated before the group existed
        group = Group.objects.get(name=TEAM_GROUP)
    if revoke:
        user.groups.remove(group)
        if not user.is_superuser:
            user.is_staff = False
            user.save(update_fields=["is_staff"])
        return f"{username} no longer signs in to the admin for their teams."
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(group)
    roles = Membership.objects.filter(user=user).select_related("team").order_by("team__name")
    if not roles:
        return f"{username} may sign in to the admin, but belongs to no team yet: add a membership (Teams › a team)."
    teams = ", ".join(f"{m.team} ({m.role})" for m in roles)
    return f"{username} may sign in to the admin and sees only these teams: {teams}."


class Command(BaseCommand):
    help = (
        f"Let a user sign in to the admin for the teams they belong to (staff status and the group "
        f"{TEAM_GROUP!r}); their Membership role in each team decides what they may do there."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="Take the admin away again.")

    def handle(self, *args, username: str, revoke: bool, **options):
        self.stdout.write(admin_access_grant(username=username, revoke=revoke))
