"""The demo's and the bench's isolation from a running fleet (devtools.stack.isolated)."""

from __future__ import annotations

import django_rq
import rq
from django.core.management.base import CommandError
from django.db import connection
from django.test import TestCase

from devtools import stack
from devtools.testing import flush_redis


class IsolatedTests(TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)

    def test_it_refuses_a_redis_database_with_workers_naming_them(self):
        redis = django_rq.get_connection("default")
        db = redis.connection_pool.connection_kwargs["db"]
        worker = rq.Worker(["default"], connection=redis, name="live-fleet-1")
        worker.register_birth()
        name = connection.settings_dict["NAME"]

        with self.assertRaises(CommandError) as refused, stack.isolated("bench", redis_db=db):
            self.fail("the block ran beside a worker")

        self.assertIn(f"Redis database {db} has workers of its own: live-fleet-1 (pid", str(refused.exception))
        self.assertIn("--redis-db", str(refused.exception))
        self.assertEqual(connection.settings_dict["NAME"], name)
