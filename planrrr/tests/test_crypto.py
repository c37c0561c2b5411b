"""Secrets at rest: always encrypted when written, and a row that cannot be decrypted read without raising."""

from django.db import connection as db
from django.test import SimpleTestCase, TestCase, override_settings

from connections.models import Connection
from planrrr import crypto
from planrrr.models import Team


def stored_token(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token FROM connections_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


class UndecryptableTests(SimpleTestCase):
    def test_it_is_empty_text_keeping_the_stored_value(self):
        value = crypto.Undecryptable("fernet:gAAAA-corrupt")
        self.assertEqual(value, "")
        self.assertFalse(value)
        self.assertEqual(value.stored, "fernet:gAAAA-corrupt")
        self.assertTrue(crypto.is_undecryptable(value))
        self.assertFalse(crypto.is_undecryptable(""))
        self.assertFalse(crypto.is_undecryptable("fernet:gAAAA-corrupt"))

    def test_it_shows_nothing_of_the_stored_value(self):
        value = crypto.Undecryptable("fernet:gAAAA-corrupt")
        self.assertNotIn("gAAAA", repr(value))
        self.assertNotIn("gAAAA", str(value))

    def test_it_is_masked_as_cannot_be_decrypted(self):
        self.assertEqual(crypto.mask(crypto.Undecryptable("fernet:x")), "cannot be decrypted: reconnect")


class EncryptedTextFieldTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")

    def connection(self, token: str) -> Connection:
        return Connection.objects.create(team=self.team, platform="FACEBOOK", account_id="page-1", access_token=token)

    def test_it_stores_a_token_encrypted_and_reads_it_clear(self):
        saved = self.connection("page-token-123456")
        self.assertTrue(stored_token(saved.pk).startswith(crypto.PREFIX))
        self.assertNotIn("page-token-123456", stored_token(saved.pk))
        self.assertEqual(Connection.objects.get(pk=saved.pk).access_token, "page-token-123456")

    def test_it_encrypts_a_token_that_looks_like_ciphertext(self):
        saved = self.connection("fernet:looks-like-ours")
        self.assertNotEqual(stored_token(saved.pk), "fernet:looks-like-ours")
        self.assertEqual(Connection.objects.get(pk=saved.pk).access_token, "fernet:looks-like-ours")

    def test_it_does_not_encrypt_twice_when_a_row_is_saved_again(self):
        saved = self.connection("page-token-123456")
        loaded = Connection.objects.get(pk=saved.pk)
        loaded.save()
        self.assertEqual(crypto.decrypt(stored_token(saved.pk)), "page-token-123456")
        self.assertEqual(Connection.objects.get(pk=saved.pk).access_token, "page-token-123456")

    def test_it_reads_a_token_it_cannot_decrypt_without_raising(self):
        saved = self.connection("page-token-123456")
        with override_settings(TOKEN_ENCRYPTION_KEY=["another-key"]):
            loaded = Connection.objects.get(pk=saved.pk)
            self.assertEqual(list(Connection.objects.filter(team=self.team)), [loaded])
        self.assertTrue(crypto.is_undecryptable(loaded.access_token))
        self.assertEqual(loaded.access_token, "")

    def test_it_reads_a_corrupt_row_without_raising(self):
        saved = self.connection("page-token-123456")
        Connection.objects.filter(pk=saved.pk).update(access_token=crypto.Undecryptable("fernet:not-fernet"))
        self.assertEqual(stored_token(saved.pk), "fernet:not-fernet")
        self.assertTrue(crypto.is_undecryptable(Connection.objects.get(pk=saved.pk).access_token))

    def test_it_writes_an_undecryptable_token_back_unchanged(self):
        saved = self.connection("page-token-123456")
        ciphertext = stored_token(saved.pk)
        with override_settings(TOKEN_ENCRYPTION_KEY=["another-key"]):
            loaded = Connection.objects.get(pk=saved.pk)
            loaded.name = "Renamed"
            loaded.save()
        self.assertEqual(stored_token(saved.pk), ciphertext)
        # With the right key back, the token opens again.
        self.assertEqual(Connection.objects.get(pk=saved.pk).access_token, "page-token-123456")

    def test_it_reads_a_clear_value_written_by_a_script_and_encrypts_it_on_save(self):
        saved = self.connection("page-token-123456")
        with db.cursor() as cursor:
            cursor.execute("UPDATE connections_connection SET access_token = 'clear-token' WHERE id = %s", [saved.pk])
        loaded = Connection.objects.get(pk=saved.pk)
        self.assertEqual(loaded.access_token, "clear-token")
        loaded.save()
        self.assertEqual(crypto.decrypt(stored_token(saved.pk)), "clear-token")
