"""The installation's key: made once with the database, the same for every process after, and a
new one for a new database."""

from unittest import mock

from django.db import IntegrityError, transaction
from django.test import TestCase, TransactionTestCase

from planrrr import models
from planrrr.models import Installation


class InstallationTests(TransactionTestCase):
    def setUp(self):
        # Each test starts as a new process does: nothing read yet.
        self.enterContext(mock.patch.object(models, "_current_key", None))

    def test_its_key_is_read_once_per_process(self):
        # The migration makes the row; TransactionTestCase empties the tables after each test, so
        # for later tests current_key makes it again.
        key = Installation.current_key()
        self.assertRegex(key, r"^[0-9a-f]{32}$")
        self.assertEqual(Installation.objects.get().key.hex, key)
        with self.assertNumQueries(0):
            self.assertEqual(Installation.current_key(), key)

    def test_a_database_started_again_is_a_new_installation(self):
        first = Installation.current_key()
        Installation.objects.all().delete()  # manage.py flush, or a new database
        models._current_key = None  # its processes started again

        second = Installation.current_key()

        self.assertNotEqual(second, first)
        self.assertEqual(Installation.objects.count(), 1)

    def test_there_is_only_ever_one_row(self):
        Installation.current_key()
        with self.assertRaises(IntegrityError), transaction.atomic():
            Installation.objects.create(id=2)


class InstallationInTransactionTests(TestCase):
    def test_a_key_read_inside_a_transaction_that_may_be_undone_is_not_kept(self):
        with mock.patch.object(models, "_current_key", None):
            Installation.objects.all().delete()
            key = Installation.current_key()
            self.assertIsNone(models._current_key, "the row it made could still be rolled back")
            self.assertEqual(Installation.current_key(), key)
