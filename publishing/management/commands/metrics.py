"""`manage.py metrics`: the stored metrics under the seed plan's names, as a table or JSON."""

import json
from dataclasses import asdict

import redis
from django.core.management.base import BaseCommand

from publishing.selectors import metrics_summary, rq_state

COLUMNS = [
    "postsPublished",
    "postsFailed",
    "rateLimitHits",
    "retries",
    "reconciled",
    "jobs",
    "avgJobProcessingTime",
    "p99JobProcessingTime",
    "avgLag",
    "maxLag",
    "peakMemoryUsage",
]
WEBHOOKS = ["webhookDeliveries", "webhookFailures", "webhookPending", "webhookAttempts", "webhookAttemptFailures"]


class Command(BaseCommand):
    help = (
        "Print the captured metrics: the seed plan's postsPublished, rateLimitHits, avgJobProcessingTime "
        "(ms) and peakMemoryUsage (bytes), the other counters per platform, webhook deliveries and the "
        "RQ queues, as a table or --json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options):
        summary = metrics_summary()
        try:
            summary["queues"] = asdict(rq_state())
        except redis.RedisError as err:
            summary["queues"] = {"error": f"Redis unreachable: {err}"}
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, default=str))
            return
        rows = [("all", summary)] + list(summary["platforms"].items())
        self.table(["platform", *COLUMNS], [[name, *(_fmt(c, data[c]) for c in COLUMNS)] for name, data in rows])
        statuses = ", ".join(f"{k} {v}" for k, v in summary["publicationsByStatus"].items()) or "none"
        self.stdout.write(f"\npublications by status: {statuses}")
        self.stdout.write("webhooks: " + ", ".join(f"{name} {summary[name]}" for name in WEBHOOKS))
        queues = summary["queues"]
        if "error" in queues:
            self.stdout.write(f"queues: {queues['error']}")
            return
        self.stdout.write(f"workers: {queues['workers']} ({queues['busy_workers']} busy)")
        columns = ["name", "queued", "started", "scheduled", "scheduled_lag_seconds", "failed"]
        rows = [[str(round(q[c], 1) if isinstance(q[c], float) else q[c]) for c in columns] for q in queues["queues"]]
        self.table(["queue", *columns[1:]], rows)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        table = [header, *rows]
        widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
        for row in table:
            self.stdout.write("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(column: str, value) -> str:
    if column in ("avgJobProcessingTime", "p99JobProcessingTime", "avgLag", "maxLag"):
        return f"{value:.1f} ms"
    if column == "peakMemoryUsage":
        return f"{value / 1024 / 1024:.1f} MB"
    return str(value)
