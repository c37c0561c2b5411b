"""Secrets never leave: no webhook secret in a stored error, a log line, an admin page or an
exception text, and no token in an event's payload."""

import json
import logging
from unittest import mock

from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test import override_settings
from django.urls import reverse

from devtools.receiver import Answer
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event
from webhooks.tests.base import BaseTestCase
from webhooks.tests.test_isolation import UNDECRYPTABLE

TOKEN = "EAABsecrettoken0123456789"


@override_settings(WEBHOOK_RETRY_SCHEDULE=[1])
class SecretTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        self.endpoint_row = self.endpoint()
        # A rotation: deliveries are signed with both, so both are in play.
        self.old_secret = self.endpoint_row.secret
        self.new_secret = services.endpoint_rotate_secret(endpoint=self.endpoint_row)
        self.receiver.secrets.append(self.new_secret)
        self.secrets = [self.old_secret, self.new_secret]
        self.admin = get_user_model().objects.create_superuser("ann", "ann@example.com", None)
        self.client.force_login(self.admin)

    def stored_texts(self) -> str:
        rows = [
            *Delivery.objects.values_list("last_error", "job_id"),
            *DeliveryAttempt.objects.values_list("error", "response_excerpt"),
            *Endpoint.objects.values_list("disabled_reason", "url", "description"),
        ]
        payloads = [bytes(p).decode("utf-8", "replace") for p in Event.objects.values_list("payload", flat=True)]
        return "\n".join([*(str(value) for row in rows for value in row), *payloads])

    def admin_pages(self) -> str:
        urls = [
            reverse("admin:webhooks_endpoint_changelist"),
            reverse("admin:webhooks_endpoint_change", args=[self.endpoint_row.id]),
            reverse("admin:webhooks_delivery_changelist"),
            reverse("admin:webhooks_event_changelist"),
            *(
                reverse("admin:webhooks_delivery_change", args=[pk])
                for pk in Delivery.objects.values_list("pk", flat=True)
            ),
            *(
                reverse("admin:webhooks_event_change", args=[quote(pk)])
                for pk in Event.objects.values_list("pk", flat=True)
            ),
        ]
        pages = []
        for url in urls:
            response = self.client.get(url)
            self.assertEqual(response.status_code, 200, url)
            pages.append(response.content.decode())
        return "\n".join(pages)

    def assertNoSecret(self, text: str, where: str) -> None:
        for secret in [*self.secrets, TOKEN]:
            self.assertNotIn(secret, text, f"a secret in {where}")
        self.assertNotIn("whsec_", text, f"a webhook secret in {where}")

    def test_it_keeps_the_secrets_out_of_stored_errors_logs_and_admin_pages_after_failures(self):
        data = {"postId": 41, "error": f"GET https://graph.facebook.com/v21.0/me?access_token={TOKEN} failed"}
        # A receiver that quotes its configuration back; a worker whose HTTP stack quotes the
        # secret in an exception; an error before sending that quotes it too.
        self.receiver.answer(Answer(500, body=f"bad signature; expected one from {self.new_secret}".encode()))
        with self.assertLogs(level=logging.DEBUG) as logs:
            echoed = self.attempt(self.record(event="post.failed", data=data).deliveries.get())
            boom = RuntimeError(f"boom {self.old_secret}")
            with mock.patch("webhooks.services.delivery.public_session", side_effect=boom):
                raised = self.attempt(self.record(event="post.failed", data=data).deliveries.get())
            with mock.patch("webhooks.services.delivery._attempt", side_effect=ValueError(f"bad {self.new_secret}")):
                before = self.attempt(self.record(event="post.failed", data=data).deliveries.get())
            # Retried until they give up, the same way.
            self.receiver.answer(Answer(500, body=self.old_secret.encode()))
            self.make_due(echoed)
            self.attempt(echoed)
            logging.getLogger("planrrr.webhooks").info("the test's own line, so that something is captured")

        self.assertEqual(raised.attempts.get().error, "Internal error while sending: RuntimeError('boom [redacted]')")
        self.assertEqual(before.attempts.get().error, "Internal error before sending: ValueError.")
        self.assertEqual(echoed.attempts.first().response_excerpt, "bad signature; expected one from [redacted]")
        self.assertEqual(Delivery.objects.get(id=echoed.id).status, Delivery.Status.FAILED)
        self.assertTrue(any("Traceback" in line for line in logs.output), logs.output)
        self.assertNoSecret(self.stored_texts(), "the stored rows")
        self.assertNoSecret("\n".join(logs.output), "the logs")
        self.assertNoSecret(self.admin_pages(), "the admin pages")
        # The receiver was sent the error, without the token.
        self.assertIn("access_token=[redacted]", self.receiver.received[0].json["data"]["error"])

    def test_it_scrubs_tokens_from_the_event_payload(self):
        data = {
            "postId": 41,
            "error": f"https://graph.facebook.com/me?fields=id&access_token={TOKEN}",
            "nested": [{"auth": f"Authorization: Bearer {TOKEN}"}, {"secret": self.new_secret}],
        }
        event = self.record(event="post.failed", data=data)

        body = json.loads(event.body)
        self.assertEqual(body["data"]["error"], "https://graph.facebook.com/me?fields=id&access_token=[redacted]")
        nested = [{"auth": "Authorization: Bearer [redacted]"}, {"secret": "[redacted]"}]
        self.assertEqual(body["data"]["nested"], nested)
        self.assertNoSecret(event.body.decode(), "the payload")

    def test_it_shows_pages_of_an_endpoint_whose_secret_cannot_be_decrypted(self):
        delivery = self.record().deliveries.get()
        with db.cursor() as cursor:  # past planrrr.crypto, which would encrypt it
            cursor.execute(
                "UPDATE webhooks_endpoint SET secret = %s WHERE id = %s", [UNDECRYPTABLE, self.endpoint_row.id]
            )

        pages = self.admin_pages()

        self.assertIn("(cannot be read: rotate the secret)", pages)
        self.assertNoSecret(pages, "the admin pages")
        self.attempt(delivery)
        self.assertEqual(self.receiver.received, [])
