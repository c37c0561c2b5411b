"""A TransactionTestCase's flush (devtools.flush) leaves the database as Django's flush does."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test import TransactionTestCase, override_settings

from connections.models import Connection
from devtools import flush
from planrrr import teamadmin
from planrrr.models import Membership, Team
from publishing import services
from publishing.models import Publication
from webhooks import services as webhooks


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class DatabaseFlushTests(TransactionTestCase):
    def state(self) -> dict:
        """Every table's row count, and what post_migrate makes by natural key (content types
        and permissions keep their ids with database_flush; Django's flush renumbers them)."""
        counts = {}
        with connection.cursor() as cursor:
            for table in sorted(connection.introspection.django_table_names(only_existing=True)):
                cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
                counts[table] = cursor.fetchone()[0]
        return {
            "counts": counts,
            "content types": sorted(ContentType.objects.values_list("app_label", "model")),
            "permissions": sorted(Permission.objects.values_list("content_type__app_label", "codename", "name")),
            "groups": sorted(
                (group.name, sorted(group.permissions.values_list("content_type__app_label", "codename")))
                for group in Group.objects.all()
            ),
        }

    def make_rows(self) -> None:
        """Rows in tables that reference each other, and changes to what post_migrate made."""
        team = Team.objects.create(name="Acme")
        user = get_user_model().objects.create_user("ann", password="x")
        Membership.objects.create(user=user, team=team, role=Membership.Role.OWNER)
        Connection.objects.create(team=team, platform="FACEBOOK", account_id="p1", name="Page", access_token="t")
        post = services.post_create(team=team, content="Hello", platforms=["FACEBOOK"])
        self.assertTrue(Publication.objects.filter(post=post).exists())
        webhooks.endpoint_send_test_event(endpoint=webhooks.endpoint_create(team=team, url="http://127.0.0.1:9/h"))
        Group.objects.get(name=teamadmin.TEAM_GROUP).permissions.clear()
        Group.objects.create(name="Extra").permissions.add(Permission.objects.first())
        ContentType.objects.create(app_label="gone", model="gone")

    def test_it_leaves_the_rows_djangos_flush_leaves(self):
        flush.database_flush("default")  # the first: Django's own, whose rows are kept
        after_django = self.state()
        self.assertEqual(after_django["counts"]["planrrr_team"], 0)
        self.assertTrue(after_django["content types"])
        self.assertIn(teamadmin.TEAM_GROUP, [name for name, _ in after_django["groups"]])

        for _ in range(2):
            self.make_rows()
            self.assertNotEqual(self.state(), after_django)

            flush.database_flush("default")

            self.assertEqual(self.state(), after_django)

        # And Django's flush (TRUNCATE, then post_migrate) of the same rows leaves the same.
        self.make_rows()
        call_command("flush", verbosity=0, interactive=False)
        self.assertEqual(self.state(), after_django)

    def test_a_content_type_keeps_its_id(self):
        flush.database_flush("default")
        team_type = ContentType.objects.get_for_model(Team).pk
        self.make_rows()

        flush.database_flush("default")

        self.assertEqual(ContentType.objects.get(app_label="planrrr", model="team").pk, team_type)

    def test_it_is_what_a_transaction_test_case_flushes_with(self):
        # Installed by the test runner unless TEST_FAST_FLUSH=0.
        self.assertIs(TransactionTestCase._fixture_teardown, flush._fixture_teardown)
