"""The token lifecycle: refresh, rotation, failure classification, signals, the periodic tasks,
and two refreshers racing for the same connection."""

import threading
from datetime import timedelta
from unittest import mock

import responses
from django.db import connection as db
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from connections.models import Connection
from connections.oauth import OAuthFailure
from connections.services import (
    connection_connect,
    connection_refresh,
    expiring_connections_warn,
    refresh_lead,
    tokens_refresh_due,
)
from connections.signals import connection_connected, connection_expired, connection_expiring
from connections.tests.oauth_apps import LI_TOKEN, OAUTH, X_TOKEN
from devtools.testing import flush_redis, wait_for
from planrrr.models import Team


def lock_waiters() -> int:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


class Received:
    """Collects what a signal sent during a test."""

    def __init__(self, test, signal):
        self.calls = []
        signal.connect(self.receive, dispatch_uid=id(self))
        test.addCleanup(signal.disconnect, dispatch_uid=id(self))

    def receive(self, sender, **kwargs):
        self.calls.append(kwargs)


def x_connection(team, **fields) -> Connection:
    values = {
        "platform": "TWITTER",
        "account_id": "42",
        "access_token": "acc-1",
        "refresh_token": "ref-1",
        "expires_at": timezone.now() + timedelta(minutes=5),
        "next_refresh_at": timezone.now() - timedelta(seconds=1),
        **fields,
    }
    return Connection.objects.create(team=team, **values)


@override_settings(**OAUTH)
class RefreshTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")
        self.connection = x_connection(self.team)
        self.expired = Received(self, connection_expired)

    def reload(self) -> Connection:
        return Connection.objects.get(pk=self.connection.pk)

    @responses.activate
    def test_it_stores_the_rotated_tokens_and_schedules_the_next_refresh(self):
        responses.post(X_TOKEN, json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 7200})
        connection_refresh(connection_id=self.connection.pk)
        saved = self.reload()
        self.assertEqual((saved.access_token, saved.refresh_token), ("acc-2", "ref-2"))
        self.assertGreater(saved.expires_at, timezone.now() + timedelta(hours=1))
        self.assertAlmostEqual(
            (saved.expires_at - saved.next_refresh_at).total_seconds(),
            refresh_lead(timedelta(hours=2)).total_seconds(),
            delta=2,
        )
        self.assertIsNotNone(saved.refreshed_at)

    @responses.activate
    def test_it_never_overwrites_a_good_refresh_token_with_an_empty_one(self):
        self.connection.platform = "LINKEDIN"
        self.connection.save()
        responses.post(LI_TOKEN, json={"access_token": "acc-2", "refresh_token": "", "expires_in": 5184000})
        connection_refresh(connection_id=self.connection.pk)
        self.assertEqual(self.reload().refresh_token, "ref-1")
        self.assertEqual(self.reload().access_token, "acc-2")

    @responses.activate
    def test_it_keeps_the_refresh_token_when_the_answer_has_none(self):
        self.connection.platform = "LINKEDIN"
        self.connection.save()
        responses.post(LI_TOKEN, json={"access_token": "acc-2", "expires_in": 5184000})
        connection_refresh(connection_id=self.connection.pk)
        self.assertEqual(self.reload().refresh_token, "ref-1")

    @responses.activate
    def test_it_keeps_the_connection_active_after_a_transient_failure_and_backs_off(self):
        responses.post(X_TOKEN, status=503, body="down")
        with self.assertRaises(OAuthFailure) as caught:
            connection_refresh(connection_id=self.connection.pk)
        self.assertFalse(caught.exception.grant_dead)
        saved = self.reload()
        self.assertEqual(saved.status, "ACTIVE")
        self.assertEqual(saved.refresh_failures, 1)
        self.assertGreater(saved.next_refresh_at, timezone.now())
        self.assertIn("HTTP 503", saved.refresh_error)
        self.assertEqual((saved.access_token, saved.refresh_token), ("acc-1", "ref-1"))
        self.assertEqual(self.expired.calls, [])

    @responses.activate
    def test_it_waits_until_the_backoff_before_trying_again(self):
        responses.post(X_TOKEN, status=503, body="down")
        with self.assertRaises(OAuthFailure):
            connection_refresh(connection_id=self.connection.pk)
        connection_refresh(connection_id=self.connection.pk)
        self.assertEqual(len(responses.calls), 1)

    @responses.activate
    def test_it_expires_the_connection_on_a_spent_refresh_token_and_signals_once(self):
        responses.post(
            X_TOKEN,
            status=400,
            json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
        )
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(OAuthFailure) as caught:
                connection_refresh(connection_id=self.connection.pk)
        self.assertTrue(caught.exception.grant_dead)
        saved = self.reload()
        self.assertEqual(saved.status, "EXPIRED")
        self.assertIn("Value passed for the token was invalid.", saved.status_detail)
        self.assertNotIn("ref-1", saved.status_detail)
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(OAuthFailure):
                connection_refresh(connection_id=self.connection.pk)
        self.assertEqual(len(responses.calls), 1)
        self.assertEqual(len(self.expired.calls), 1)
        self.assertEqual(self.expired.calls[0]["connection"].pk, self.connection.pk)
        self.assertIn("invalid", self.expired.calls[0]["reason"])

    @responses.activate
    def test_it_expires_on_invalid_grant(self):
        self.connection.platform = "LINKEDIN"
        self.connection.save()
        responses.post(
            LI_TOKEN, status=400, json={"error": "invalid_grant", "error_description": "Token has been revoked."}
        )
        with self.captureOnCommitCallbacks(execute=True), self.assertRaises(OAuthFailure):
            connection_refresh(connection_id=self.connection.pk)
        self.assertEqual(self.reload().status, "EXPIRED")
        self.assertEqual(len(self.expired.calls), 1)

    @responses.activate
    def test_it_does_not_refresh_again_when_the_rejected_token_was_already_replaced(self):
        connection_refresh(connection_id=self.connection.pk, rejected_token="an-older-token")
        self.assertEqual(len(responses.calls), 0)

    @responses.activate
    def test_it_refreshes_a_rejected_token_even_before_it_is_due(self):
        Connection.objects.filter(pk=self.connection.pk).update(
            expires_at=timezone.now() + timedelta(hours=2), next_refresh_at=timezone.now() + timedelta(hours=1)
        )
        responses.post(X_TOKEN, json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 7200})
        refreshed = connection_refresh(connection_id=self.connection.pk, rejected_token="acc-1")
        self.assertEqual(refreshed.access_token, "acc-2")

    @responses.activate
    def test_it_refreshes_just_in_time_only_when_the_token_expires_within_the_margin(self):
        Connection.objects.filter(pk=self.connection.pk).update(next_refresh_at=timezone.now() + timedelta(hours=1))
        connection_refresh(connection_id=self.connection.pk, valid_for=timedelta(minutes=1))
        self.assertEqual(len(responses.calls), 0)
        responses.post(X_TOKEN, json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 7200})
        self.assertEqual(
            connection_refresh(connection_id=self.connection.pk, valid_for=timedelta(minutes=10)).access_token, "acc-2"
        )

    @responses.activate
    def test_its_job_records_a_failure_without_raising_for_rq_to_retry(self):
        from connections.jobs import connection_refresh as job

        responses.post(X_TOKEN, status=502, body="bad gateway")
        job(self.connection.pk)
        self.assertEqual(self.reload().refresh_failures, 1)

    @responses.activate
    def test_it_leaves_a_connection_without_refresh_token_as_it_is(self):
        Connection.objects.filter(pk=self.connection.pk).update(refresh_token="")
        connection = connection_refresh(connection_id=self.connection.pk, rejected_token="acc-1")
        self.assertEqual(connection.access_token, "acc-1")
        self.assertEqual(len(responses.calls), 0)


@override_settings(**OAUTH)
class ConnectTests(TestCase):
    def setUp(self):
        self.team = Team.objects.create(name="Acme")
        self.connected = Received(self, connection_connected)

    def choice(self, access="acc-new", refresh="ref-new"):
        from connections.grants import AccountChoice, Grant

        grant = Grant(access_token=access, refresh_token=refresh, expires_at=timezone.now() + timedelta(hours=2))
        return AccountChoice("TWITTER", "42", "@acme", grant)

    def test_it_creates_an_active_connection_and_signals_it(self):
        with self.captureOnCommitCallbacks(execute=True):
            connection, created = connection_connect(team=self.team, choice=self.choice())
        self.assertTrue(created)
        self.assertEqual(
            (connection.status, connection.access_token, connection.refresh_token), ("ACTIVE", "acc-new", "ref-new")
        )
        self.assertEqual(
            self.connected.calls, [{"signal": connection_connected, "connection": connection, "created": True}]
        )

    def test_it_updates_a_reconnected_account_in_place(self):
        old = x_connection(self.team, status="EXPIRED", status_detail="X refused the grant", refresh_failures=3)
        with self.captureOnCommitCallbacks(execute=True):
            connection, created = connection_connect(team=self.team, choice=self.choice())
        self.assertFalse(created)
        self.assertEqual(connection.pk, old.pk)
        saved = Connection.objects.get(pk=old.pk)
        self.assertEqual((saved.status, saved.status_detail, saved.refresh_failures), ("ACTIVE", "", 0))
        self.assertEqual((saved.access_token, saved.refresh_token), ("acc-new", "ref-new"))
        self.assertFalse(self.connected.calls[0]["created"])

    def test_two_consents_for_a_new_account_at_once_make_one_connection(self):
        # The other consent inserted its row after this one looked and found none.
        first = x_connection(self.team, access_token="acc-other")
        real = Connection.objects.select_for_update
        looks = []

        def racing():
            looks.append(1)
            return real().none() if len(looks) == 1 else real()

        with (
            mock.patch.object(Connection.objects, "select_for_update", racing),
            self.captureOnCommitCallbacks(execute=True),
        ):
            connection, created = connection_connect(team=self.team, choice=self.choice())
        self.assertEqual(len(looks), 2)
        self.assertEqual((connection.pk, created), (first.pk, False))
        self.assertEqual(Connection.objects.filter(team=self.team).count(), 1)
        self.assertEqual(Connection.objects.get(pk=first.pk).access_token, "acc-new")
        self.assertEqual(len(self.connected.calls), 1)


@override_settings(**OAUTH, CONNECTION_EXPIRY_WARNING_DAYS=7)
class PeriodicTests(TestCase):
    def setUp(self):
        flush_redis()
        self.addCleanup(flush_redis)
        self.team = Team.objects.create(name="Acme")
        self.expiring = Received(self, connection_expiring)

    def test_it_enqueues_each_due_refresh_once(self):
        due = x_connection(self.team)
        x_connection(self.team, account_id="43", next_refresh_at=timezone.now() + timedelta(hours=1))
        x_connection(self.team, account_id="44", refresh_token="")
        x_connection(self.team, account_id="45", status="EXPIRED")
        self.assertEqual(tokens_refresh_due(), [due.pk])
        self.assertEqual(tokens_refresh_due(), [])

    def test_it_finds_rows_written_without_next_refresh_at_by_their_expiry(self):
        due = x_connection(self.team, next_refresh_at=None, expires_at=timezone.now() + timedelta(minutes=1))
        self.assertEqual(tokens_refresh_due(), [due.pk])

    def test_it_warns_once_about_tokens_that_cannot_be_renewed(self):
        soon = timezone.now() + timedelta(days=3)
        unrenewable = x_connection(self.team, platform="LINKEDIN", refresh_token="", expires_at=soon)
        at_fixed_end = x_connection(self.team, platform="LINKEDIN", account_id="43", refresh_expires_at=soon)
        x_connection(self.team, account_id="44", refresh_token="", expires_at=timezone.now() + timedelta(days=30))
        x_connection(self.team, account_id="45", platform="FACEBOOK", refresh_token="", expires_at=None)
        x_connection(self.team, account_id="46")  # renewable: refreshed, not announced
        self.assertEqual(sorted(expiring_connections_warn()), sorted([unrenewable.pk, at_fixed_end.pk]))
        self.assertEqual(expiring_connections_warn(), [])
        self.assertEqual(len(self.expiring.calls), 2)
        self.assertEqual({c["expires_at"] for c in self.expiring.calls}, {soon})

    def test_it_shows_the_expiry_in_the_admin(self):
        from django.contrib.auth import get_user_model

        x_connection(self.team, platform="LINKEDIN", refresh_token="", expires_at=timezone.now() + timedelta(days=3))
        self.client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
        page = self.client.get("/admin/connections/connection/")
        self.assertContains(page, "reconnect before then")
        self.assertContains(page, "cannot be renewed automatically")
        self.assertContains(page, "Connect an account")


@override_settings(**OAUTH)
class RefreshRaceTests(TransactionTestCase):
    """Two refreshers (periodic and just-in-time, two workers) at the same moment: one refresh
    call, and the chain of single-use X refresh tokens unbroken."""

    def test_it_refreshes_once_when_two_threads_race(self):
        team = Team.objects.create(name="Acme")
        connection = x_connection(team)
        inside = threading.Event()
        release = threading.Event()

        def slow_token_endpoint(request):
            inside.set()
            # The first refresher holds the row lock while the platform answers.
            release.wait(timeout=10)
            return 200, {}, '{"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 7200}'

        results, errors = [], []

        def refresher():
            try:
                results.append(
                    connection_refresh(connection_id=connection.pk, valid_for=timedelta(minutes=10)).access_token
                )
            except Exception as err:  # noqa: BLE001 - reported by the assertion below
                errors.append(err)
            finally:
                db.close()  # this thread's own connection, or the test database cannot be dropped

        with responses.RequestsMock() as mock:
            mock.add_callback(responses.POST, X_TOKEN, callback=slow_token_endpoint)
            first = threading.Thread(target=refresher)
            first.start()
            self.assertTrue(inside.wait(timeout=10), "the first refresher never reached the platform")
            second = threading.Thread(target=refresher)
            second.start()
            # The second is waiting on the row lock while the first holds it mid-refresh.
            wait_for(lock_waiters, timeout=10, message="the second refresher to wait on the row lock")
            release.set()
            first.join(timeout=15)
            second.join(timeout=15)
            self.assertEqual(len(mock.calls), 1)
        self.assertEqual(errors, [])
        self.assertEqual(results, ["acc-2", "acc-2"])
        saved = Connection.objects.get(pk=connection.pk)
        self.assertEqual((saved.access_token, saved.refresh_token), ("acc-2", "ref-2"))
