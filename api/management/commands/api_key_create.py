"""manage.py api_key_create --team ID --name NAME [--role write]: a key for scripts and the
docs/api.md's examples (the admin does the same). Prints the key once; only its hash is kept."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey
from api.services import api_key_create
from planrrr.models import Team


class Command(BaseCommand):
    help = "Create an API key for a team and print it (once)."

    def add_arguments(self, parser):
        parser.add_argument("--team", type=int, required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", choices=ApiKey.Role.values, default=ApiKey.Role.READ)

    def handle(self, *args, team: int, name: str, role: str, **options):
        found = Team.objects.filter(pk=team).first()
        if found is None:
            raise CommandError(
                f"No team #{team}: create one with `python manage.py team_create NAME --owner USERNAME`"
                " (it prints the team's number), or in the admin (Teams > Add)."
            )
        try:
            _, raw = api_key_create(team=found, name=name, role=role)
        except ValidationError as err:
            raise CommandError(" ".join(err.messages)) from err
        self.stdout.write(raw)
