"""``manage.py planrrr_workers [--num-workers N] [queue ...]``: N RQ workers forked from one
preloaded parent (``planrrr.pool.WorkerPool``), the way planrrr runs its workers.

django-rq's ``rqworker-pool`` builds RQ's own WorkerPool, whose parent loads nothing before it
forks; this command is the same pool with planrrr's parent. Sizing: a worker process keeps
RQ_WORKER_THREADS platform calls in flight (planrrr.threaded), and does about one core's worth
of publishing; a machine runs about two processes a core (docs/operations.md, "The workers").
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django_rq.queues import get_queues
from django_rq.workers import get_worker_class

from planrrr.pool import WorkerPool

# Worker processes, each of RQ_WORKER_THREADS job threads: 4 x 24 calls in flight.
DEFAULT_WORKERS = 4


class Command(BaseCommand):
    help = "Run N RQ workers forked from one preloaded parent (planrrr.pool.WorkerPool), each with RQ's scheduler lock."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--num-workers",
            type=int,
            default=int(os.environ.get("RQ_WORKERS", DEFAULT_WORKERS)),
            help=f"Worker processes to fork, each of RQ_WORKER_THREADS job threads (default: RQ_WORKERS, else "
            f"{DEFAULT_WORKERS}).",
        )
        parser.add_argument(
            "--worker-class", default=None, help="RQ worker class (default: RQ['WORKER_CLASS'] of the settings)."
        )
        parser.add_argument("--burst", action="store_true", help="Stop once the queues are empty.")
        parser.add_argument(
            "queues",
            nargs="*",
            default=["default", "webhooks", "analytics"],
            help="Queues, in the order they are taken (default: all).",
        )

    def handle(self, *args, **options) -> None:
        queues = get_queues(*options["queues"])
        pool = WorkerPool(
            queues=queues,
            connection=queues[0].connection,
            num_workers=max(1, options["num_workers"]),
            worker_class=get_worker_class(options["worker_class"]),
        )
        pool.start(burst=options["burst"], logging_level=settings.RQ_LOG_LEVEL)
