"""Redeliver every failed webhook delivery since a time: ``manage.py webhooks_redeliver --since 2026-11-24T10:30``."""

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from planrrr.models import Team
from webhooks.models import Endpoint
from webhooks.services import delivery_redeliver_failed


class Command(BaseCommand):
    help = "Send again every FAILED webhook delivery created since a time (once: redelivered ones are skipped)."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="ISO 8601 time, UTC unless it carries an offset.")
        parser.add_argument("--endpoint", type=int, help="Only this endpoint (id).")
        parser.add_argument("--team", type=int, help="Only this team's endpoints (id).")

    def handle(self, *args, since: str, endpoint: int | None, team: int | None, **options) -> None:
        when = parse_datetime(since)
        if when is None:
            raise CommandError(f"--since {since!r} is not a time; write it like 2026-11-24T10:30 or 2026-11-24 10:30Z.")
        if timezone.is_naive(when):
            when = when.replace(tzinfo=UTC)
        try:
            endpoint_obj = Endpoint.objects.get(id=endpoint) if endpoint else None
            team_obj = Team.objects.get(id=team) if team else None
        except (Endpoint.DoesNotExist, Team.DoesNotExist) as err:
            raise CommandError(f"{err} Check the id given to --endpoint / --team.") from err
        again = delivery_redeliver_failed(since=when, endpoint=endpoint_obj, team=team_obj)
        self.stdout.write(f"Redelivered {len(again)} failed delivery(ies) created since {when:%Y-%m-%d %H:%M} UTC.")
