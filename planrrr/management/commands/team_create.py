"""``manage.py team_create NAME --owner USERNAME [--timezone Europe/Paris]``: a team and its owner,
the first thing a new installation needs (every post, account and key belongs to a team); then
prints what to do next."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from planrrr.services import team_create


class Command(BaseCommand):
    help = "Create a team with its owner (an existing user) and time zone, and print the next steps."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The team\'s name, e.g. "Acme Coffee".')
        parser.add_argument("--owner", required=True, help="Username (or email) of the user who owns the team.")
        parser.add_argument(
            "--timezone", default="UTC", help="IANA time zone the team works in, e.g. Europe/Paris (default UTC)."
        )

    def handle(self, *args, name: str, owner: str, timezone: str, **options):
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: owner}).first()
        if user is None and "@" in owner:
            matches = list(users.objects.filter(email__iexact=owner)[:2])
            user = matches[0] if len(matches) == 1 else None
        if user is None:
            raise CommandError(
                f"No user {owner!r}: create it first with `python manage.py createsuperuser` "
                "(or in the admin, Users > Add), then run this again."
            )
        try:
            team = team_create(name=name, owner=user, timezone=timezone)
        except ValidationError as err:
            problems = [f"{field}: {' '.join(messages)}" for field, messages in err.message_dict.items()]
            raise CommandError("The team was not created. " + " ".join(problems)) from err
        base = settings.OAUTH_REDIRECT_BASE_URL.rstrip("/")
        connect = f"{base}{reverse('connections:connect', args=[team.pk])}"
        self.stdout.write(
            f"Team #{team.pk} {team.name!r} created ({team.timezone}), owned by {user.get_username()}.\n"
            "Next:\n"
            f"  1. Connect its accounts: log in to the admin as {user.get_username()} and open {connect}\n"
            "     (Connections > Connect an account).\n"
            "  2. Create an API key:"
            f' python manage.py api_key_create --team {team.pk} --name "my script" --role write\n'
            "     and schedule a post with it (docs/api.md), or write one in the admin (Posts > Add)."
        )
