"""planrrr.db: any offset Python takes is stored; a time past Python's years is read, not fatal;
a pooled connection PostgreSQL ended is not handed out."""

import select
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import psycopg
from django.db import connection
from django.test import SimpleTestCase, TestCase

from devtools.testing import wait_for
from planrrr import db
from planrrr.models import Team
from publishing.models import Post


class TimeAdaptationTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")

    def post_at(self, stored: str) -> Post:
        """A post whose scheduled_at is written by SQL, past the door."""
        post = Post.objects.create(team=self.team, content="Hello", platforms=["FACEBOOK"])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE publishing_post SET scheduled_at = %s::timestamptz WHERE id = %s", [stored, post.pk])
        return post

    def test_it_stores_a_time_whose_offset_postgresql_does_not_take(self):
        for hours in (18, -23):
            with self.subTest(hours=hours):
                when = datetime(2030, 1, 15, 9, 30, tzinfo=timezone(timedelta(hours=hours, minutes=59)))
                post = Post.objects.create(team=self.team, content="x", platforms=["FACEBOOK"], scheduled_at=when)
                self.assertEqual(Post.objects.get(pk=post.pk).scheduled_at, when)
                self.assertTrue(Post.objects.filter(pk=post.pk, scheduled_at__gte=when).exists())

    def test_it_reads_a_time_past_the_year_9999_as_the_last_python_holds(self):
        for stored in ("10000-01-01 00:30:00+00", "294276-12-31 00:00:00+00", "infinity"):
            with self.subTest(stored=stored):
                post = self.post_at(stored)
                self.assertEqual(Post.objects.get(pk=post.pk).scheduled_at, datetime.max.replace(tzinfo=UTC))

    def test_it_reads_a_time_before_the_year_1_as_the_first_python_holds(self):
        for stored in ("0001-01-01 00:00:00+01", "4713-01-01 00:00:00+00 BC", "-infinity"):
            with self.subTest(stored=stored):
                post = self.post_at(stored)
                self.assertEqual(Post.objects.get(pk=post.pk).scheduled_at, datetime.min.replace(tzinfo=UTC))

    def test_a_row_read_so_can_be_saved_again(self):
        post = Post.objects.get(pk=self.post_at("10000-01-01 00:30:00+00").pk)
        post.content = "Changed"
        post.save()
        self.assertEqual(Post.objects.get(pk=post.pk).content, "Changed")


class ConnectionCheckTests(SimpleTestCase):
    """planrrr.db.connection_check: the pool's check of a connection as it hands it out asks
    PostgreSQL only when the connection has something to read (what PostgreSQL sends as it ends
    one), and a connection PostgreSQL ended is refused."""

    def connect(self) -> psycopg.Connection:
        params = connection.get_connection_params()
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        conn = psycopg.connect(**params, autocommit=True)
        self.addCleanup(conn.close)
        return conn

    def test_a_healthy_idle_connection_passes_without_a_round_trip(self):
        conn = self.connect()
        with mock.patch("psycopg_pool.ConnectionPool.check_connection") as asked:
            for _ in range(3):
                db.connection_check(conn)
        asked.assert_not_called()
        self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))

    def test_a_connection_postgresql_ended_is_refused(self):
        conn, other = self.connect(), self.connect()
        pid = conn.info.backend_pid
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        # PostgreSQL's last message reaches the socket a moment after the backend is told to end.
        wait_for(
            lambda: select.select([conn.fileno()], [], [], 0)[0],
            timeout=5,
            message="the terminated connection to have something to read",
        )
        with self.assertRaises(psycopg.OperationalError):
            db.connection_check(conn)

    def test_a_closed_connection_is_refused(self):
        conn = self.connect()
        conn.close()
        with self.assertRaises(psycopg.OperationalError):
            db.connection_check(conn)
