import base64
import socket
from datetime import timedelta
from unittest import mock

from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from webhooks import services
from webhooks.models import Endpoint
from webhooks.tests.base import BaseTestCase


class EndpointCreateTests(BaseTestCase):
    def test_it_creates_a_standard_webhooks_secret_stored_encrypted(self):
        endpoint = services.endpoint_create(team=self.team, url=self.receiver.url, events=["post.published"])

        self.assertTrue(endpoint.secret.startswith("whsec_"))
        self.assertEqual(len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))), 32)
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM webhooks_endpoint WHERE id = %s", [endpoint.id])
            [stored] = cursor.fetchone()
        self.assertTrue(stored.startswith("fernet:"))
        self.assertNotIn(endpoint.secret, stored)
        self.assertEqual(Endpoint.objects.get().secret, endpoint.secret)
        self.assertEqual(endpoint.masked_secret, "••••" + endpoint.secret[-4:])

    def test_it_gives_every_endpoint_its_own_secret(self):
        first = services.endpoint_create(team=self.team, url=self.receiver.url)
        second = services.endpoint_create(team=self.team, url=self.receiver.url)
        self.assertNotEqual(first.secret, second.secret)

    def test_it_refuses_an_unknown_event(self):
        with self.assertRaises(ValidationError) as ctx:
            services.endpoint_create(team=self.team, url=self.receiver.url, events=["post.published", "post.liked"])
        self.assertIn("Unknown event(s): post.liked", ctx.exception.message_dict["events"][0])


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
class EndpointUrlSafetyTests(BaseTestCase):
    def assertRefused(self, url: str, reason: str) -> None:
        with self.assertRaises(ValidationError) as ctx:
            services.endpoint_create(team=self.team, url=url)
        [message] = ctx.exception.message_dict["url"]
        self.assertIn(reason, message)
        self.assertIn("Use a URL whose host is reachable from the public internet", message)
        self.assertFalse(Endpoint.objects.exists())

    def test_it_refuses_loopback(self):
        self.assertRefused("http://127.0.0.1:8000/hooks", "127.0.0.1 is a loopback address")

    def test_it_refuses_a_private_network(self):
        self.assertRefused("https://10.0.0.8/hooks", "10.0.0.8 is a private address")

    def test_it_refuses_the_cloud_metadata_address(self):
        self.assertRefused("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address")

    def test_it_refuses_an_ipv4_mapped_loopback(self):
        self.assertRefused("http://[::ffff:127.0.0.1]:8080/", "carrying the IPv4 address 127.0.0.1, a loopback")

    def test_it_refuses_a_hostname_that_resolves_to_a_private_address(self):
        answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.20", 443))]
        with mock.patch("socket.getaddrinfo", return_value=answer):
            self.assertRefused("https://hooks.acme.example/planrrr", "hooks.acme.example resolves to 192.168.1.20")

    def test_it_refuses_other_schemes(self):
        with self.assertRaises(ValidationError) as ctx:
            services.endpoint_create(team=self.team, url="ftp://hooks.acme.example/")
        self.assertIn("must start with https:// or http://", ctx.exception.message_dict["url"][0])

    def test_it_accepts_a_public_url(self):
        answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
        with mock.patch("socket.getaddrinfo", return_value=answer):
            endpoint = services.endpoint_create(team=self.team, url=" https://hooks.acme.example/planrrr ")
        self.assertEqual(endpoint.url, "https://hooks.acme.example/planrrr")


class EndpointRotateSecretTests(BaseTestCase):
    def test_it_signs_with_both_secrets_during_the_overlap_and_only_the_new_one_after(self):
        endpoint = self.endpoint()
        old = endpoint.secret
        new = services.endpoint_rotate_secret(endpoint=endpoint, overlap=timedelta(hours=2))
        self.receiver.secrets.append(new)
        self.assertNotEqual(new, old)
        endpoint.refresh_from_db()
        self.assertEqual((endpoint.secret, endpoint.previous_secret), (new, old))

        self.attempt(self.record().deliveries.get())
        during = self.receiver.received[-1]
        self.assertEqual(len(during.headers["webhook-signature"].split(" ")), 2)
        self.assertEqual(during.verified_with, [old, new])

        Endpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
        self.attempt(self.record().deliveries.get())
        after = self.receiver.received[-1]
        self.assertEqual(len(after.headers["webhook-signature"].split(" ")), 1)
        self.assertEqual(after.verified_with, [new])

    @override_settings(WEBHOOK_SECRET_ROTATION_OVERLAP=3600)
    def test_it_keeps_the_old_secret_for_the_configured_overlap(self):
        endpoint = self.endpoint()
        services.endpoint_rotate_secret(endpoint=endpoint)
        endpoint.refresh_from_db()
        expected = timezone.now() + timedelta(hours=1)
        self.assertAlmostEqual(endpoint.previous_secret_expires_at.timestamp(), expected.timestamp(), delta=5)


class EndpointEnableTests(BaseTestCase):
    def test_it_clears_the_failure_record_when_enabled_again(self):
        endpoint = self.endpoint()
        Endpoint.objects.update(failing_since=timezone.now())
        services.endpoint_disable(endpoint=endpoint, reason="410 Gone")
        services.endpoint_enable(endpoint=endpoint)
        endpoint.refresh_from_db()
        self.assertEqual((endpoint.active, endpoint.disabled_reason, endpoint.failing_since), (True, "", None))
