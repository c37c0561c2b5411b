"""A connection whose token cannot be decrypted is shown as such, never a crash."""

from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test import TestCase, override_settings

from connections.models import Connection
from planrrr.models import Team


def stored(pk: int) -> str:
    """The token column as stored, past the field's decryption."""
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token FROM connections_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


class UndecryptableConnectionTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")
        self.saved = Connection.objects.create(
            team=self.team, platform="FACEBOOK", account_id="page-1", name="Acme page", access_token="page-token-9876"
        )
        self.admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
        self.client.force_login(self.admin)

    def test_it_masks_a_readable_token(self):
        self.assertEqual(self.saved.masked_token, "••••9876")
        self.assertFalse(self.saved.token_undecryptable)

    def test_it_says_to_reconnect_when_the_token_cannot_be_decrypted(self):
        with override_settings(TOKEN_ENCRYPTION_KEY=["another-key"]):
            loaded = Connection.objects.get(pk=self.saved.pk)
        self.assertTrue(loaded.token_undecryptable)
        self.assertEqual(loaded.masked_token, "cannot be decrypted: reconnect")

    def test_it_lists_and_shows_an_undecryptable_connection_in_the_admin(self):
        with override_settings(TOKEN_ENCRYPTION_KEY=["another-key"]):
            listing = self.client.get("/admin/connections/connection/")
            page = self.client.get(f"/admin/connections/connection/{self.saved.pk}/change/")
        self.assertContains(listing, "cannot be decrypted: reconnect")
        self.assertContains(page, "cannot be decrypted: reconnect")

    def test_it_keeps_an_undecryptable_token_when_the_admin_saves_the_row_without_a_new_one(self):
        before = stored(self.saved.pk)
        with override_settings(TOKEN_ENCRYPTION_KEY=["another-key"]):
            response = self.client.post(
                f"/admin/connections/connection/{self.saved.pk}/change/",
                {
                    "team": self.team.pk,
                    "platform": "FACEBOOK",
                    "account_id": "page-1",
                    "name": "Renamed",
                    "access_token": "",
                    "status": "ACTIVE",
                    "status_detail": "",
                    # The channel's posting slots (an inline the publishing app adds), none.
                    "slots-TOTAL_FORMS": "0",
                    "slots-INITIAL_FORMS": "0",
                },
            )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(stored(self.saved.pk), before)
        self.assertEqual(Connection.objects.get(pk=self.saved.pk).name, "Renamed")
