"""What a worker's main process loads once, before it forks (a pool's workers, a forking worker's
work-horses) or starts working, so that the children share it instead of each loading its own:
the jobs' modules, the models' relation trees, the first query's compiled patterns, then frozen
out of the garbage collector's reach (``preload``). ``planrrr.pool`` calls it before the workers
are forked; ``planrrr.rq``'s workers, before their first job."""

from __future__ import annotations

import gc
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string

# Modules the jobs import, directly or lazily inside functions, that Django's start-up does
# not load: without this, every work-horse would import them again (PLANRRR_WORKER_PRELOAD
# replaces the list).
PRELOAD = (
    "publishing.jobs",
    "webhooks.jobs",
    "connections.platforms",
    "webhooks.services",
    "planrrr.urlsafety",
    # requests imports these on every request that has no explicit auth (get_netrc_auth).
    "netrc",
    "shlex",
)


def preload() -> None:
    """Load and build, in the worker's main process, what the work-horses would otherwise each
    load and build again, then freeze it.

    A forked work-horse shares its parent's memory until it writes to it. A module imported in
    the horse costs its import every job; a full garbage collection in the horse (which an
    import's allocations readily trigger) writes to the header of every object the parent
    holds, copying every page: ~70 ms of page faults per job here. ``gc.freeze()`` moves the
    parent's objects out of the collector's sight (CPython's advice for fork without exec).
    """
    for path in getattr(settings, "PLANRRR_WORKER_PRELOAD", PRELOAD):
        import_module(path)
    # Django builds each model's relation tree on first use, in whichever process uses it.
    for model in apps.get_models():
        model._meta.get_fields()
    # The cipher of the access tokens: OpenSSL's objects are set up on first use.
    from planrrr.crypto import decrypt, encrypt

    decrypt(encrypt("warm-up"))
    # What the apps ask to have done once here (PLANRRR_WORKER_WARM_UP: the core names no app),
    # such as reading the proxy variables of the platforms' APIs.
    for path in getattr(settings, "PLANRRR_WORKER_WARM_UP", ()):
        import_string(path)()
    warm_up()
    freeze()


def warm_up() -> None:
    """Do once here what the first query, the first list parameter and the first Redis
    connection of every work-horse would otherwise do again: Django compiles its ORDER BY
    and alias patterns on first use, psycopg its array-quoting pattern, and redis-py reads its
    own version from the installed package metadata (a walk of sys.path, in every new
    connection: ~3 ms a job)."""
    import functools

    import psycopg.sql
    import redis.utils

    # Any model with relations compiles the same patterns; the core names no app's model.
    for model in apps.get_models():
        relations = [f.name for f in model._meta.concrete_fields if f.many_to_one]
        if relations:
            str(model._base_manager.select_related(*relations).filter(pk=0).order_by("pk").query)
            break
    psycopg.sql.Literal(["warm", "up"]).as_string()
    if not hasattr(redis.utils.get_lib_version, "cache_info"):
        # It cannot change while the process runs.
        redis.utils.get_lib_version = functools.cache(redis.utils.get_lib_version)
    redis.utils.get_lib_version()


def freeze() -> None:
    """Collect the garbage there is, then move every object left to the permanent generation."""
    gc.collect()
    gc.freeze()
