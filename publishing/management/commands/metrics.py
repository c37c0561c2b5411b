import json

from django.core.management.base import BaseCommand

from publishing.selectors import metrics_summary

COLUMNS = ["postsPublished", "postsFailed", "rateLimitHits", "retries", "reconciled", "avgJobProcessingTime",
           "peakMemoryUsage"]


class Command(BaseCommand):
    help = "Print the captured publishing metrics (the seed plan's names), as a table or --json."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options):
        summary = metrics_summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, default=str))
            return
        rows = [("all", summary)] + list(summary["platforms"].items())
        header = ["platform", *COLUMNS]
        table = [header] + [[name, *(_fmt(c, data[c]) for c in COLUMNS)] for name, data in rows]
        widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
        for row in table:
            self.stdout.write("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))
        statuses = ", ".join(f"{k} {v}" for k, v in summary["publicationsByStatus"].items()) or "none"
        self.stdout.write(f"\npublications by status: {statuses}")


def _fmt(column: str, value) -> str:
    if column == "avgJobProcessingTime":
        return f"{value:.1f} ms"
    if column == "peakMemoryUsage":
        return f"{value / 1024 / 1024:.1f} MB"
    return str(value)
