"""The admin's main flows in a real headless Chromium, against the live server and real workers:
create a post with a variant and watch it publish, retry a failed publication, rotate a webhook
secret. They skip, saying what to install, where Chromium is missing (.ci/run installs it)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from devtools.testing import BrowserMixin, wait_for
from publishing import services
from publishing.models import Post, Publication
from publishing.tests.base import PublishingLiveTestCase
from webhooks.models import Endpoint


class AdminInBrowserTests(BrowserMixin, PublishingLiveTestCase):
    def setUp(self):
        super().setUp()
        get_user_model().objects.create_superuser("olga", "olga@example.org", "on call tonight")
        self.log_in("olga", "on call tonight")

    def open(self, path: str) -> None:
        self.browser.get(f"{self.live_server_url}{path}")

    def click_button(self, text: str) -> None:
        buttons = [b for b in self.browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == text]
        self.assertTrue(buttons, f"no {text!r} button on {self.browser.current_url}")
        buttons[0].click()

    def wait_for_text(self, text: str) -> None:
        wait_for(lambda: text in self.browser.page_source, timeout=15, message=f"{text!r} on the page")

    def test_it_creates_a_post_with_a_variant_and_watches_it_publish(self):
        self.start_worker()
        self.open("/admin/publishing/post/add/")
        Select(self.browser.find_element(By.ID, "id_team")).select_by_visible_text("Acme")
        self.browser.find_element(By.ID, "id_content").send_keys("Our autumn menu is here, with pumpkin spice.")
        # The channel picker: a checkbox per account of the team.
        for account in (self.facebook, self.twitter):
            self.browser.find_element(By.CSS_SELECTOR, f"input[name='channels'][value='{account.pk}']").click()
        variants = self.browser.find_element(By.ID, "id_variants")
        variants.clear()
        variants.send_keys(json.dumps({"TWITTER": {"content": "Autumn menu: pumpkin spice is back."}}))
        self.browser.find_element(By.NAME, "_continue").click()  # no time: a draft, kept open

        self.wait_for_text("Publish now")
        post = Post.objects.get(content__startswith="Our autumn menu")
        self.assertEqual(post.status, Post.Status.DRAFT)
        self.click_button("Publish now")
        self.wait_for_text("publishing now on FACEBOOK, TWITTER")

        wait_for(lambda: Post.objects.get(pk=post.pk).status in Post.FINAL, timeout=20, message="the post to end")
        self.open("/admin/publishing/post/")
        self.wait_for_text("FACEBOOK Facebook PUBLISHED")
        self.assertIn("TWITTER Twitter PUBLISHED", self.browser.page_source)
        self.assertEqual(Post.objects.get(pk=post.pk).status, Post.Status.PUBLISHED)
        texts = {p["platform"]: p["text"] for p in self.mock.posts()}
        self.assertEqual(texts["TWITTER"], "Autumn menu: pumpkin spice is back.")
        self.assertEqual(texts["FACEBOOK"], "Our autumn menu is here, with pumpkin spice.")

    def test_it_retries_a_failed_publication(self):
        self.mock.fail("FACEBOOK", mode="error")
        self.start_worker()
        post = services.post_create(
            team=self.team,
            content="Open late on Fridays.",
            platforms=["FACEBOOK", "TWITTER"],
            scheduled_at=timezone.now(),
        )
        post = self.wait_until_final(post)
        self.assertEqual(post.status, Post.Status.PARTIAL)
        failed = self.publication(post, "FACEBOOK")
        self.assertEqual(failed.status, Publication.Status.FAILED)

        self.mock.clear_failures()
        self.open("/admin/publishing/post/")
        self.wait_for_text("FACEBOOK Facebook FAILED")
        self.open(f"/admin/publishing/publication/{failed.pk}/change/")
        self.assertNotIn('name="_save"', self.browser.page_source)
        self.click_button("Retry")

        self.wait_for_text(f"retrying publication(s) #{failed.pk} (FACEBOOK)")
        post = self.wait_until_final(post)
        self.assertEqual(post.status, Post.Status.PUBLISHED)
        self.assertEqual(len(self.mock.posts(platform="FACEBOOK")), 1)

    def test_it_rotates_a_webhook_secret(self):
        endpoint = Endpoint.objects.create(team=self.team, url="https://hooks.example.com/planrrr")
        old = endpoint.secret

        self.open("/admin/webhooks/endpoint/")
        self.browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{endpoint.pk}']").click()
        Select(self.browser.find_element(By.NAME, "action")).select_by_value("rotate_secret")
        self.browser.find_element(By.CSS_SELECTOR, "button[name='index']").click()

        self.wait_for_text("New signing secret")
        endpoint.refresh_from_db()
        self.assertNotEqual(endpoint.secret, old)
        self.assertEqual(endpoint.previous_secret, old)
        self.assertIn(endpoint.secret, self.browser.page_source)  # shown once, to copy
