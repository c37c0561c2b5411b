"""The local stack `manage.py demo`, `manage.py bench` and the live tests run on, built one way.

* ``ACCOUNTS``: the stand-in's demo identities (each platform's stand-in), the accounts every one of them
  connects;
* the stand-in platform APIs in a process of their own (``devtools.processes.StandInProcess``)
  and the environment that points a worker at them (``stand_in_env``);
* the workers (``workers_start``: a ``planrrr_workers`` pool); the webhook receiver is ``devtools.receiver.Receiver``;
* a team with a connection per platform (``team_create``);
* ``isolated()``: a PostgreSQL database and a Redis database of their own, so that the demo and
  the benchmark never share work with a fleet already running. Both are needed: a worker finds
  due posts in PostgreSQL (its dispatch reads the database, whichever Redis it uses) and takes
  jobs from the queues of its Redis.

The live tests (devtools.testing.LiveWorkerTestCase) serve the stand-in from their live server
rather than a process, with the same ``stand_in_env``, and connect the same ``ACCOUNTS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import rq
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.test.utils import override_settings

from connections.models import Connection
from devtools.embedded import with_redis_db
from devtools.processes import StandInProcess, WorkerPoolProcess, WorkerProcess, stand_in_env
from planrrr.models import Team

__all__ = [
    "ACCOUNTS",
    "OAUTH_APP",
    "StandInProcess",
    "isolated",
    "stand_in_env",
    "team_create",
    "worker_processes_start",
    "workers_start",
]

# The stand-in's demo identities, one account per platform (each platform's stand-in).
ACCOUNTS = {
    "FACEBOOK": "104857600123456",
    "TWITTER": "2244994945",
    "INSTAGRAM": "17841400008460056",
    "LINKEDIN": "urn:li:organization:5515715",
    "BLUESKY": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
    "MASTODON": "109302316291234567",
    "THREADS": "7362450123456789",
    "PINTEREST": "1130405611271855432",
    "TIKTOK": "-000acmecoffeeOpenId",
    "YOUTUBE": "UCAcmeCoffeeRoasters0001",
    "GOOGLE_BUSINESS": "accounts/106432298714625830841/locations/3418226097813749921",
}
# What a connection of these accounts knows from its connect (Connection.details): where a pin goes.
DETAILS = {
    "PINTEREST": {
        "defaultBoardId": "1130405542553124017",
        "defaultBoardName": "Coffee at home",
        "boards": [
            {"id": "1130405542553124017", "name": "Coffee at home", "privacy": "PUBLIC"},
            {"id": "1130405542553124018", "name": "Latte art", "privacy": "PUBLIC"},
        ],
    },
}
# An OAuth app on each platform (the stand-in takes any client id and secret).
OAUTH_APP = {
    "X_CLIENT_ID": "planrrr-demo",
    "X_CLIENT_SECRET": "demo-x-secret",
    "FACEBOOK_APP_ID": "planrrr-demo",
    "FACEBOOK_APP_SECRET": "demo-facebook-secret",
    "LINKEDIN_CLIENT_ID": "planrrr-demo",
    "LINKEDIN_CLIENT_SECRET": "demo-linkedin-secret",
    "THREADS_APP_ID": "planrrr-demo",
    "THREADS_APP_SECRET": "demo-threads-secret",
    "PINTEREST_APP_ID": "planrrr-demo",
    "PINTEREST_APP_SECRET": "demo-pinterest-secret",
    "TIKTOK_CLIENT_KEY": "planrrr-demo",
    "TIKTOK_CLIENT_SECRET": "demo-tiktok-secret",
    "GOOGLE_CLIENT_ID": "planrrr-demo.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "demo-google-secret",
}
QUEUES = ("default", "webhooks", "analytics")


def workers_start(
    count: int, env: dict[str, Any], *, queues: tuple[str, ...] = QUEUES, worker_class: str | None = None
) -> WorkerPoolProcess:
    """``count`` workers as planrrr runs them in production: one ``planrrr_workers`` pool, its
    workers forked from a preloaded parent, on this process's database and Redis (with ``env``
    on top); not waited for."""
    return WorkerPoolProcess(*queues, workers=count, env=env, worker_class=worker_class).start()


def worker_processes_start(
    count: int, env: dict[str, Any], *, queues: tuple[str, ...] = QUEUES, worker_class: str | None = None
) -> list[WorkerProcess]:
    """``count`` separate ``rqworker --with-scheduler`` processes, each loading Django on its own
    (what ``manage.py bench --no-pool`` compares the pool with); not waited for."""
    workers = []
    for _ in range(count):
        worker = WorkerProcess(*queues, env=env)
        if worker_class:
            worker.command[1:1] = ["--worker-class", worker_class]
        workers.append(worker.start())
    return workers


def team_create(
    *, name: str, platforms: list[str], token: str = "stack", base_urls: dict[str, str] | None = None
) -> Team:
    """A team with a connection per platform on the stand-in's accounts (tokens it accepts);
    ``base_urls``: the server of the platforms that have one per connection (Bluesky, Mastodon)."""
    team = Team.objects.create(name=name)
    for platform in platforms:
        Connection.objects.create(
            team=team,
            platform=platform,
            account_id=ACCOUNTS[platform],
            name=f"{name} {platform.lower()}",
            access_token=f"{token}_{platform.lower()}",
            base_url=(base_urls or {}).get(platform, ""),
            details=DETAILS.get(platform, {}),
        )
    return team


@contextmanager
def isolated(name: str, *, redis_db: int) -> Iterator[str]:
    """Run the block on the PostgreSQL database ``<database>_<name>`` (created and migrated if
    need be) and the Redis database ``redis_db`` of the same servers; yields the database's name.

    Refuses (CommandError) when workers are registered on that Redis database, naming them:
    they would take the block's jobs. Processes started inside (``worker_env``) inherit both."""
    redis_url = with_redis_db(settings.REDIS_URL, redis_db)
    client = redis.Redis.from_url(redis_url)
    others = rq.Worker.all(connection=client)
    if others:
        named = ", ".join(sorted(f"{w.name} (pid {w.pid} on {w.hostname})" for w in others))
        raise CommandError(
            f"Redis database {redis_db} has workers of its own: {named}. They would take this run's jobs: "
            "stop them, or choose another database with --redis-db."
        )
    main = connection.settings_dict["NAME"]
    database = f"{main}_{name}"
    _database_ensure(database)
    connection.close()
    connection.settings_dict["NAME"] = database
    queues = {queue: {**config, "URL": redis_url} for queue, config in settings.RQ_QUEUES.items()}
    try:
        with override_settings(REDIS_URL=redis_url, RQ_QUEUES=queues):
            call_command("migrate", verbosity=0, interactive=False)
            yield database
    finally:
        connection.close()
        connection.settings_dict["NAME"] = main


def _database_ensure(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone():
            return
        try:
            cursor.execute(f'CREATE DATABASE "{name}"')
        except DatabaseError as error:
            raise CommandError(
                f"could not create the database {name!r} ({error}): create it, or grant CREATEDB to "
                f"{connection.settings_dict['USER'] or 'this user'}."
            ) from error
