"""manage.py import_posts FILE.csv --team ID: create a team's posts from a CSV, one transaction
per row, through the same door (publishing.services.post_create) as the admin and the API.

Columns (a header row; ``content``, and ``channels`` or ``platforms``, are required):

    content          the main text
    channels         channel ids (the team's accounts, GET /api/v1/channels) separated by spaces,
                     commas or semicolons: "3 7 12"
    platforms        platform names, the same way: "FACEBOOK TWITTER" (each with exactly one
                     active account in the team; with channels, their platforms)
    media_urls       image URLs separated by spaces
    scheduled_at     RFC 3339 ("2030-01-15T09:30:00+01:00"); a time without an offset
                     ("2030-01-15 09:30") is read in the team's time zone; empty: a draft
    PLATFORM.content, PLATFORM.media_urls, ID.content, ID.media_urls
                     a variant, e.g. "TWITTER.content" or "7.content" (optional, any platform
                     or channel of the row; a channel's overrides its platform's)

Prints a progress line per row and a report: created post ids, refused rows with their errors.
Exits 1 when any row was refused.
"""

from __future__ import annotations

import csv
import re
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from planrrr.models import Team
from publishing import services

_SPLIT = re.compile(r"[\s,;]+")


def row_fields(row: dict[str, str], team: Team) -> dict:
    """A CSV row as post_create's arguments (types only: the rules are the door's)."""
    fields: dict = {
        "content": row.get("content") or "",
        "media_urls": [u for u in (row.get("media_urls") or "").split() if u],
    }
    if (row.get("platforms") or "").strip() or not (row.get("channels") or "").strip():
        fields["platforms"] = [p.upper() for p in _SPLIT.split(row.get("platforms") or "") if p]
    if (row.get("channels") or "").strip():
        ids = [c for c in _SPLIT.split(row["channels"]) if c]
        wrong = [c for c in ids if not (c.isascii() and c.isdigit() and len(c) <= 18)]
        if wrong:
            message = f'{wrong[0]!r} is not a channel id: write the ids of the team\'s channels, e.g. "3 7".'
            raise ValidationError({"channels": [message]})
        fields["channels"] = [int(c) for c in ids]
    when = (row.get("scheduled_at") or "").strip()
    if when:
        parsed = parse_datetime(when)
        if parsed is None:
            message = f"{when!r} is not a date and time: write 2030-01-15T09:30:00+01:00."
            raise ValidationError({"scheduled_at": [message]})
        fields["scheduled_at"] = timezone.make_aware(parsed, team.zone) if timezone.is_naive(parsed) else parsed
    variants: dict = {}
    for column, value in row.items():
        if column and "." in column and value not in (None, ""):
            platform, key = column.split(".", 1)
            name = platform if platform.isdigit() else platform.upper()
            variants.setdefault(name, {})[key] = value.split() if key == "media_urls" else value
    if variants:
        fields["variants"] = variants
    return fields


def posts_import(*, team: Team, rows: list[dict[str, str]], progress=None) -> list[tuple[int, object]]:
    """Create a post per row; returns (row number, Post or {field: [messages]}) per row."""
    report = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            report.append((number, services.post_create(team=team, **row_fields(row, team))))
        except ValidationError as err:
            report.append((number, err.message_dict if hasattr(err, "error_dict") else {"": err.messages}))
        if progress:
            progress(len(report), len(rows))
    return report


class Command(BaseCommand):
    help = "Create a team's posts from a CSV file (columns: see the module's docstring or docs/posts.md)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row; - reads standard input")
        parser.add_argument("--team", type=int, required=True, help="The team's id")

    def handle(self, *args, file: str, team: int, **options):
        found = Team.objects.filter(pk=team).first()
        if found is None:
            raise CommandError(f"No team #{team}.")
        try:
            handle = sys.stdin if file == "-" else open(file, newline="", encoding="utf-8-sig")  # noqa: SIM115
        except OSError as err:
            raise CommandError(f"Cannot read {file}: {err}") from err
        with handle:
            rows = list(csv.DictReader(handle))
        if rows and not ("content" in rows[0] and {"channels", "platforms"} & set(rows[0])):
            raise CommandError(
                "The CSV needs a header row with at least the columns content, and channels or platforms."
            )

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // total
            self.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
            if done == total:
                self.stderr.write("")

        report = posts_import(team=found, rows=rows, progress=progress if rows else None)
        refused = 0
        for number, outcome in report:
            if isinstance(outcome, dict):
                refused += 1
                problems = "; ".join(f"{f + ': ' if f else ''}{' '.join(msgs)}" for f, msgs in outcome.items())
                self.stdout.write(f"row {number}: refused: {problems}")
            else:
                when = ""
                if outcome.scheduled_at:
                    when = f" for {outcome.scheduled_at.astimezone(found.zone):%Y-%m-%d %H:%M} {found.timezone}"
                self.stdout.write(f"row {number}: post #{outcome.pk} {outcome.status}{when}")
        self.stdout.write(f"{len(report) - refused} created, {refused} refused, of {len(report)} rows.")
        if refused:
            sys.exit(1)
