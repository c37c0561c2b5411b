"""/api/v1/docs (Swagger UI) and /api/v1/redoc (ReDoc) work without internet access: every file
they load comes from this server (drf-spectacular-sidecar), none from a CDN."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import SimpleTestCase
from django.urls import reverse


class ReferencePagesTests(SimpleTestCase):
    def assets(self, url: str) -> list[str]:
        page = self.client.get(url)
        self.assertEqual(page.status_code, 200)
        return re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())

    def test_they_load_nothing_from_another_host(self):
        for name in ("api:docs", "api:redoc"):
            with self.subTest(name):
                assets = self.assets(reverse(name))

                self.assertTrue(assets)
                self.assertEqual([a for a in assets if not a.startswith("/static/")], [])

    def test_every_file_they_load_is_a_static_file_here(self):
        for name in ("api:docs", "api:redoc"):
            for asset in self.assets(reverse(name)):
                with self.subTest(asset):
                    self.assertIsNotNone(finders.find(asset.removeprefix("/static/")), asset)
