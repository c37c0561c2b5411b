"""Django's test runner, with one Redis database per parallel test process.

Tests flush their Redis database between tests, so processes running in parallel
(``manage.py test --parallel N``) must not share one: process N uses database
``TEST_REDIS_DB - N``, as each already uses its own PostgreSQL clone.
"""

from django.conf import settings
from django.test import runner

from planrrr.embedded import with_redis_db


def _init_worker(counter, *args, **kwargs):
    runner._init_worker(counter, *args, **kwargs)
    url = with_redis_db(settings.REDIS_URL, settings.TEST_REDIS_DB - runner._worker_id)
    settings.REDIS_URL = url
    for queue in settings.RQ_QUEUES.values():
        queue["URL"] = url


class ParallelTestSuite(runner.ParallelTestSuite):
    init_worker = _init_worker


class DiscoverRunner(runner.DiscoverRunner):
    parallel_test_suite = ParallelTestSuite
