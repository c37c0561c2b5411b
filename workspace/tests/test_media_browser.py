"""The media library in a real headless Chromium, then over the wire: a person uploads with the
file input (the keyboard's way) and by dropping a file on the page, sees the thumbnails, the
warning naming the channel that cannot take a file, and the page at a phone's width; a post
using the uploaded image is published by a real worker to Instagram's stand-in, which fetches
the image from its signed URL. Screenshots under .local/screenshots/workspace/MediaBrowserTests/."""

from __future__ import annotations

import base64
import os
import tempfile

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test import override_settings
from django.utils import timezone
from selenium.webdriver.common.by import By

from devtools.processes import WorkerProcess
from devtools.testing import wait_for
from planrrr.models import Membership
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import INSTAGRAM_USER, PublishingLiveTestCase
from workspace.media import MediaItem, media_url, media_url_expiry
from workspace.tests.browser import WorkspaceBrowserMixin
from workspace.tests.test_media import MediaStorageMixin, image_bytes

# Dropping a file: Chromium's WebDriver cannot drag from the desktop, so the page gets the drop
# events a person's drag makes, carrying a real File, and the page's own script handles them.
DROP = """
const [name, type, b64] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type}));
for (const kind of ["dragenter", "dragover", "drop"]) {
  const event = new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: transfer});
  document.querySelector("main").dispatchEvent(event);
}
"""


class MediaBrowserTests(MediaStorageMixin, WorkspaceBrowserMixin, PublishingLiveTestCase):
    # The workspace's CSS and JavaScript from the apps' static folders, as runserver serves them
    # (LiveServerTestCase serves STATIC_ROOT only, which the tests never collect).
    static_handler = StaticFilesHandler

    def setUp(self):
        super().setUp()
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.mia = get_user_model().objects.create_user("mia", password="writes every day")
        Membership.objects.create(user=self.mia, team=self.team, role=Membership.Role.MEMBER)
        self.enterContext(override_settings(MEDIA_BASE_URL=self.live_server_url))

    def cards(self) -> list[str]:
        return [card.text for card in self.browser.find_elements(By.CSS_SELECTOR, ".media-card")]

    def test_a_person_uploads_and_a_worker_publishes_the_image_from_its_signed_url(self):
        # The worker starts while the browser works; it is waited for before the post is made.
        worker = WorkerProcess(env=self.platform_env()).start()
        self.workers.append(worker)
        self.log_in_workspace("mia", "writes every day")
        self.open(f"/app/{self.team.pk}/media/")
        self.wait_for_text("Drop images or videos here")
        self.shot("empty library")

        # The keyboard's way: the labelled file input, then Upload.
        folder = tempfile.mkdtemp()
        photo = os.path.join(folder, "croissant.jpg")
        with open(photo, "wb") as handle:
            handle.write(image_bytes("JPEG", (1080, 1350)))
        self.browser.find_element(By.CSS_SELECTOR, "label[for=media-files]")
        self.browser.find_element(By.ID, "media-files").send_keys(photo)
        self.browser.find_element(By.CSS_SELECTOR, ".media-upload button[type=submit]").click()
        self.wait_for_text("Uploaded croissant.jpg.")
        wait_for(
            lambda: self.browser.execute_script(
                "const i = document.querySelector('.media-card img'); return i && i.complete && i.naturalWidth > 0;"
            ),
            message="the thumbnail to load",
        )
        self.assertIn("JPEG", self.cards()[0])
        self.assertIn("1080×1350", self.cards()[0])
        self.assertIn("Europe" if self.team.timezone != "UTC" else "UTC", self.cards()[0])
        self.shot("uploaded with the file input")

        # Dropped on the page: a PNG, which this team's Instagram cannot take.
        png = base64.b64encode(image_bytes("PNG", (600, 600))).decode()
        self.browser.execute_script(DROP, "logo.png", "image/png", png)
        self.wait_for_text("Uploaded logo.png, but not for every channel.")
        self.assertIn("Instagram takes JPEG images: convert this PNG.", self.cards()[0])
        self.assertEqual(len(self.cards()), 2)
        self.shot("dropped a png with a warning")

        # A phone: one column, nothing wider than the screen.
        self.browser.set_window_size(390, 844)
        wait_for(
            lambda: self.browser.execute_script("return document.documentElement.clientWidth") <= 390,
            message="the phone's width",
        )
        self.assertLessEqual(
            self.browser.execute_script("return document.documentElement.scrollWidth"),
            self.browser.execute_script("return document.documentElement.clientWidth"),
        )
        lefts = {card.location["x"] for card in self.browser.find_elements(By.CSS_SELECTOR, ".media-card")}
        self.assertEqual(len(lefts), 1, lefts)
        self.shot("at a phone's width")

        # The uploaded image in a post: a real worker publishes it to Instagram's stand-in, which
        # fetches it from the signed URL (no session, as Instagram has none).
        item = MediaItem.objects.get(name="croissant.jpg")
        at = timezone.now()
        url = media_url(item, expires=media_url_expiry(at))
        worker.wait_ready()
        post = services.post_create(
            team=self.team, content="Fresh croissants", channels=[self.instagram.pk], media_urls=[url], scheduled_at=at
        )
        self.wait_until_final(post, timeout=30)
        self.assertEqual(post.status, Post.Status.PUBLISHED, list(post.publications.values("error")))
        publication = self.publication(post, "INSTAGRAM")
        self.assertEqual(publication.status, Publication.Status.PUBLISHED)
        (container,) = [
            call for call in self.mock.requests(platform="INSTAGRAM", method="POST") if call["path"].endswith("/media")
        ]
        self.assertEqual(container["body"].get("image_url"), url)
        # The stand-in fetched the image as Instagram does (a failed fetch is "media_fetch_failed").
        self.assertEqual((container["status"], container["outcome"]), (200, "uploaded"), container)

        # The library says where the image is used.
        self.browser.set_window_size(*self.window)
        self.open(f"/app/{self.team.pk}/media/")
        self.wait_for_text(f"#{post.pk}")
        self.assertIn("(published)", next(text for text in self.cards() if "croissant.jpg" in text))
        self.shot("used in a published post")
