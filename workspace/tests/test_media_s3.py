"""The media library on an S3-compatible bucket (workspace.media.storage), over real HTTP: a
small S3 stand-in on loopback plays the five calls the library makes (the bucket's HEAD, an
object's PUT, HEAD, GET and DELETE) and records them, so the test sees what a store would
receive: SigV4-signed requests, the file's bytes, nothing public."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase, override_settings

from planrrr.models import Membership, Team
from workspace.media import MediaItem, media_url
from workspace.media.services import media_delete, media_upload
from workspace.media.storage import S3MediaStorage
from workspace.tests.test_media import image_bytes

BUCKET = "planrrr-media"


class FakeS3(BaseHTTPRequestHandler):
    objects: dict[str, tuple[bytes, str]] = {}
    calls: list[tuple[str, str, str]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _record(self) -> str:
        type(self).calls.append((self.command, self.path, self.headers.get("Authorization", "")))
        return self.path.split("?", 1)[0]

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        path = self._record()
        if path in (f"/{BUCKET}", f"/{BUCKET}/"):
            return self._answer(200)
        if path not in self.objects:
            return self._answer(404)
        data, kind = self.objects[path]
        self.send_response(200)
        for name, value in self._object_headers(kind).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_GET(self) -> None:
        path = self._record()
        if path not in self.objects:
            return self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
        data, kind = self.objects[path]
        return self._answer(200, data, self._object_headers(kind))

    def do_PUT(self) -> None:
        path = self._record()
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).objects[path] = (data, self.headers.get("Content-Type", "application/octet-stream"))
        return self._answer(200, headers={"ETag": '"0123456789abcdef"'})

    def do_DELETE(self) -> None:
        type(self).objects.pop(self._record(), None)
        return self._answer(204)

    @staticmethod
    def _object_headers(kind: str) -> dict:
        return {"Content-Type": kind, "ETag": '"0123456789abcdef"', "Last-Modified": "Sun, 06 Dec 2026 10:00:00 GMT"}


@override_settings(MEDIA_BASE_URL="http://localhost", MEDIA_ALLOW_PRIVATE_URLS=True)
class S3StorageTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeS3)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.server.server_close)
        cls.addClassCleanup(cls.server.shutdown)

    @classmethod
    def setUpTestData(cls):
        cls.team = Team.objects.create(name="Paris bakery")
        cls.owner = get_user_model().objects.create_user("olga", password="owns the place")
        Membership.objects.create(user=cls.owner, team=cls.team, role=Membership.Role.OWNER)

    def setUp(self):
        FakeS3.objects.clear()
        FakeS3.calls.clear()
        media = {
            "BACKEND": "workspace.media.storage.S3MediaStorage",
            "OPTIONS": {
                "bucket": BUCKET,
                "endpoint": f"http://127.0.0.1:{self.server.server_port}",
                "region": "eu-west-3",
                "access_key": "AKIAPLANRRRTEST",
                "secret_key": "not-a-real-secret",
            },
        }
        self.enterContext(override_settings(STORAGES={**settings.STORAGES, "media": media}))

    def test_it_keeps_serves_and_deletes_files_in_the_bucket(self):
        data = image_bytes("JPEG", (800, 600))
        item = media_upload(team=self.team, upload=SimpleUploadedFile("bread.jpg", data), user=self.owner).item

        stored = FakeS3.objects[f"/{BUCKET}/{item.file.name}"]
        self.assertEqual(stored, (data, "image/jpeg"))
        self.assertIn(f"/{BUCKET}/{item.thumbnail.name}", FakeS3.objects)
        puts = [call for call in FakeS3.calls if call[0] == "PUT"]
        self.assertEqual(len(puts), 2)
        for _, _, authorization in puts:
            # Signature V4 with the configured key (the secret itself never travels).
            self.assertTrue(authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIAPLANRRRTEST/"), authorization)
            self.assertIn("/eu-west-3/s3/aws4_request", authorization)
        self.assertFalse(any("not-a-real-secret" in str(call) for call in FakeS3.calls))

        # A platform fetches it through planrrr's signed URL, streamed from the bucket.
        served = self.client.get(media_url(item).removeprefix("http://localhost"))
        self.assertEqual(served.status_code, 200)
        self.assertEqual(b"".join(served.streaming_content), data)

        media_delete(item=item, role=Membership.Role.OWNER, user=self.owner)
        self.assertEqual(FakeS3.objects, {})

    def test_a_store_that_does_not_answer_is_said_in_words_and_served_as_503(self):
        item = media_upload(team=self.team, upload=SimpleUploadedFile("bread.jpg", image_bytes()), user=self.owner).item
        url = media_url(item).removeprefix("http://localhost")
        down = {
            "BACKEND": "workspace.media.storage.S3MediaStorage",
            "OPTIONS": {**settings.STORAGES["media"]["OPTIONS"], "endpoint": "http://127.0.0.1:9"},
        }
        with (
            override_settings(STORAGES={**settings.STORAGES, "media": down}),
            self.assertLogs("planrrr.workspace.media", "ERROR") as logged,
            self.assertLogs("django.request", "ERROR"),
        ):
            with self.assertRaisesMessage(ValidationError, "Could not store cake.jpg: the media store did not take it"):
                media_upload(team=self.team, upload=SimpleUploadedFile("cake.jpg", image_bytes()), user=self.owner)
            served = self.client.get(url)
            self.assertEqual((served.status_code, served["Retry-After"]), (503, "60"))
        self.assertEqual(MediaItem.objects.count(), 1)
        self.assertFalse(any("not-a-real-secret" in line for line in logged.output))

    def test_a_half_configured_store_says_what_to_set(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "Set both MEDIA_S3_ACCESS_KEY_ID and"):
            S3MediaStorage(bucket=BUCKET, endpoint="http://127.0.0.1:9", access_key="AKIA")
        with self.assertRaisesMessage(ImproperlyConfigured, "MEDIA_S3_ENDPOINT_URL='minio:9000' is not a URL"):
            S3MediaStorage(bucket=BUCKET, endpoint="minio:9000")
