"""planrrr.sql: hand-written statements read and write rows as the ORM does."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.db import DataError, connection, connections, models, transaction
from django.test import TestCase
from django.utils import timezone

from connections.models import Connection
from planrrr import sql
from planrrr.models import Team
from publishing.models import JobMetric, Post, Publication


@contextmanager
def db_default_field(model: type[models.Model], name: str = "added", db_default: int = 7) -> Iterator[None]:
    """``model`` with one more field whose only default is the database's (``db_default``), its
    column added for the duration (a test's transaction: PostgreSQL's DDL is transactional)."""
    field = models.IntegerField(db_default=db_default)
    field.contribute_to_class(model, name)
    try:
        with connection.schema_editor() as editor:
            editor.add_field(model, field)
        sql._readers.clear()
        yield
    finally:
        model._meta.local_fields.remove(field)
        model._meta._expire_cache()
        delattr(model, name)
        sql._readers.clear()


class SqlTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")
        self.connection = Connection.objects.create(
            team=self.team, platform="FACEBOOK", account_id="1", name="Page", access_token="secret-token"
        )
        self.post = Post.objects.create(team=self.team, content="Hello", platforms=["FACEBOOK"])
        self.publication = Publication.objects.create(
            post=self.post, platform="FACEBOOK", connection=self.connection, metadata={"parts": ["1", "2"]}
        )

    def test_a_row_read_by_hand_is_the_instance_the_orm_reads(self):
        rows = sql.execute(
            Publication,
            f"SELECT {sql.columns(Publication, 'p')}, {sql.columns(Connection, 'c')} "
            f"FROM {Publication._meta.db_table} p JOIN {Connection._meta.db_table} c ON c.id = p.connection_id "
            "WHERE p.id = %(pk)s",
            {"pk": self.publication.pk},
        )
        publication, width = sql.instance_from_row(Publication, rows[0], connection)
        account, _ = sql.instance_from_row(Connection, rows[0][width:], connection)
        expected = Publication.objects.get(pk=self.publication.pk)
        for field in Publication._meta.concrete_fields:
            self.assertEqual(getattr(publication, field.attname), getattr(expected, field.attname), field.name)
        self.assertEqual(publication.metadata, {"parts": ["1", "2"]})
        self.assertEqual(account.access_token, "secret-token")  # decrypted, as the ORM reads it
        self.assertFalse(publication._state.adding)

    def test_an_update_by_hand_prepares_values_as_the_orm_does(self):
        token = uuid.uuid4()
        assigned, params = sql.assignments(
            Publication, {"metadata": {"url": "https://x"}, "lease_token": token}, connection, prefix="p"
        )
        sql.execute(
            Publication,
            f"UPDATE {Publication._meta.db_table} SET {assigned} WHERE id = %(pk)s RETURNING id",
            {**params, "pk": self.publication.pk},
        )
        self.publication.refresh_from_db()
        self.assertEqual((self.publication.metadata, self.publication.lease_token), ({"url": "https://x"}, token))

    def test_rows_updated_together_hold_what_bulk_update_would_write(self):
        other = Publication.objects.create(
            post=Post.objects.create(team=self.team, content="Bye", platforms=["FACEBOOK"]),
            connection=self.connection,
            platform="FACEBOOK",
        )
        rows = [self.publication, other]
        when = timezone.now()
        self.publication.job_id, self.publication.next_attempt_at = "job-1", when
        self.publication.metadata = {"parts": ["a"], "said": '\u00e9t\u00e9 "quoted"'}
        other.job_id, other.next_attempt_at, other.metadata = "", None, {}
        with self.assertNumQueries(1):
            updated = sql.update_rows(Publication, rows, ["job_id", "next_attempt_at", "metadata"])
        self.assertEqual(updated, 2)
        expected = {
            self.publication.pk: ("job-1", when, {"parts": ["a"], "said": '\u00e9t\u00e9 "quoted"'}),
            other.pk: ("", None, {}),
        }
        for row in Publication.objects.filter(pk__in=expected):
            self.assertEqual((row.job_id, row.next_attempt_at, row.metadata), expected[row.pk])
        self.assertEqual(sql.update_rows(Publication, [], ["job_id"]), 0)

    def test_an_insert_by_hand_fills_the_defaults_save_would(self):
        columns, values, params = sql.insert_select(
            JobMetric, {"outcome": "PUBLISHED", "duration_ms": 1.5}, connection, prefix="m"
        )
        sql.execute(
            JobMetric,
            f"INSERT INTO {JobMetric._meta.db_table} ({columns}) SELECT {values} RETURNING id",
            params,
        )
        row = JobMetric.objects.get()
        saved = JobMetric(outcome="PUBLISHED", duration_ms=1.5)
        saved.save()
        for name in ("kind", "platform", "attempt", "lag_ms", "peak_rss_bytes"):
            self.assertEqual(getattr(row, name), getattr(saved, name), name)
        self.assertIsNotNone(row.created_at)  # auto_now_add

    def test_a_statement_refused_inside_a_transaction_leaves_it_usable(self):
        with transaction.atomic():
            with self.assertRaises(DataError):
                sql.execute(Post, "SELECT 1 / 0", {})
            self.assertEqual(Post.objects.count(), 1)

    def test_an_insert_by_hand_leaves_a_column_with_only_a_database_default_to_the_database(self):
        # What save() does (DEFAULT): a DatabaseDefault sent as a parameter failed every such insert.
        with db_default_field(JobMetric):
            columns, values, params = sql.insert_select(JobMetric, {"duration_ms": 1.0}, connection, prefix="m")
            self.assertNotIn('"added"', columns)
            sql.execute(
                JobMetric, f"INSERT INTO {JobMetric._meta.db_table} ({columns}) SELECT {values} RETURNING id", params
            )
            self.assertEqual(JobMetric.objects.values_list("added", flat=True).get(), 7)
            # A value given is written.
            columns, values, params = sql.insert_select(
                JobMetric, {"duration_ms": 1.0, "added": 3}, connection, prefix="m"
            )
            sql.execute(
                JobMetric, f"INSERT INTO {JobMetric._meta.db_table} ({columns}) SELECT {values} RETURNING id", params
            )
            self.assertEqual(sorted(JobMetric.objects.values_list("added", flat=True)), [3, 7])


class PreparedStatementTests(TestCase):
    """The statements of planrrr.sql bind their values on the server and are prepared on a
    connection once they have run DB_PREPARE_THRESHOLD times; one the server lost (a pooler in
    transaction mode) runs again unprepared."""

    STATEMENT = f"SELECT id, content FROM {Post._meta.db_table} WHERE id = %(pk)s AND status = %(status)s"

    def setUp(self):
        self.team = Team.objects.create(name="Acme")
        self.post = Post.objects.create(team=self.team, content="Hello 'quoted' %s", platforms=["FACEBOOK"])
        self.addCleanup(setattr, sql, "_preparing", True)

    def run_statement(self) -> list[tuple]:
        return sql.execute(Post, self.STATEMENT, {"pk": self.post.pk, "status": self.post.status})

    def prepared(self) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%content%"])
            return [row[0] for row in cursor.fetchall()]

    def test_a_statement_run_often_is_prepared_and_answers_as_before(self):
        with self.settings(DB_PREPARE_THRESHOLD=2):
            answers = [self.run_statement() for _ in range(4)]
        self.assertEqual(answers, [[(self.post.pk, "Hello 'quoted' %s")]] * 4)
        (statement,) = self.prepared()
        self.assertIn("WHERE id = $1 AND status = $2", statement)  # the values bound apart

    def plan_cache_mode(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            return cursor.fetchone()[0]

    def test_prepared_statements_use_the_plan_for_any_values_from_their_first_run(self):
        # PostgreSQL plans a prepared statement for its values five times on every connection
        # before it settles on the plan for any values: most of its CPU for a burst's new
        # connections. Set once a connection, outside a transaction (a rollback would undo it).
        self.assertEqual(self.plan_cache_mode(), "auto")
        self.run_statement()
        self.assertEqual(self.plan_cache_mode(), "auto", "not inside the test's transaction")
        driver = connection.connection
        self.addCleanup(driver.__dict__.pop, sql._ANY_VALUES, None)
        # As outside the test's transaction (which undoes the setting at its end).
        with mock.patch.object(connections["default"], "in_atomic_block", False):
            with self.settings(DB_PREPARE_THRESHOLD=1):
                answers = [self.run_statement() for _ in range(3)]
        self.assertEqual(answers, [[(self.post.pk, "Hello 'quoted' %s")]] * 3)
        self.assertEqual(self.plan_cache_mode(), "force_generic_plan")
        self.assertTrue(getattr(driver, sql._ANY_VALUES))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
                ["%content%"],
            )
            ((generic, custom),) = cursor.fetchall()
        self.assertEqual((generic > 0, custom), (True, 0), "prepared at its second run, on the plan for any values")

    def test_a_statement_by_values_is_neither_prepared_nor_bound_apart(self):
        with self.settings(DB_PREPARE_THRESHOLD=1):
            answers = [
                sql.execute(Post, self.STATEMENT, {"pk": self.post.pk, "status": self.post.status}, by_key=False)
                for _ in range(4)
            ]
        self.assertEqual(answers[-1], [(self.post.pk, "Hello 'quoted' %s")])
        self.assertEqual(self.prepared(), [])

    def test_no_statement_is_prepared_with_a_threshold_of_zero(self):
        with self.settings(DB_PREPARE_THRESHOLD=0):
            answers = [self.run_statement() for _ in range(6)]
        self.assertEqual(answers[-1], [(self.post.pk, "Hello 'quoted' %s")])
        self.assertEqual(self.prepared(), [])

    def test_a_prepared_statement_the_server_lost_runs_again_unprepared_and_preparing_stops(self):
        with self.settings(DB_PREPARE_THRESHOLD=2):
            for _ in range(3):
                self.run_statement()
            self.assertEqual(len(self.prepared()), 1)
            # What a pooler in transaction mode does: the next server connection has none of this
            # connection's prepared statements (dropped behind psycopg's back, which still counts it
            # prepared).
            connection.connection.pgconn.exec_(b"DEALLOCATE ALL")
            with self.assertLogs("planrrr.db", "WARNING") as logs:
                self.assertEqual(self.run_statement(), [(self.post.pk, "Hello 'quoted' %s")])
            self.assertIn("set DB_PREPARE_THRESHOLD=0", logs.output[0])
            # The transaction is usable (the refused statement ran in a savepoint), nothing is
            # prepared again.
            for _ in range(4):
                self.assertEqual(self.run_statement(), [(self.post.pk, "Hello 'quoted' %s")])
            self.assertEqual(self.prepared(), [])
