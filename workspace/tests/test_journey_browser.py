"""One post's whole way through the workspace in a real headless Chromium, as the people of a
team that requires approval work: a member uploads a picture to the library, composes a post for
three channels with it (live counters and previews), and submits it; the owner approves it in the
inbox, drags its card to another hour in the calendar, edits its text, publishes it now, and
watches a real worker publish it, with a link to each live post on its page. Each step checks the
page and saves a screenshot (.local/screenshots/workspace/JourneyInBrowserTests/)."""

from __future__ import annotations

import os
import tempfile
from datetime import time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test import override_settings
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from devtools.testing import wait_for
from planrrr.models import Membership
from publishing.models import Post
from publishing.slots import local_instant
from publishing.tests.base import INSTAGRAM_USER, PublishingLiveTestCase
from workspace.tests.browser import WorkspaceBrowserMixin
from workspace.tests.test_media import MediaStorageMixin, image_bytes


class JourneyInBrowserTests(MediaStorageMixin, WorkspaceBrowserMixin, PublishingLiveTestCase):
    static_handler = StaticFilesHandler
    window = (1280, 1000)

    def setUp(self) -> None:
        super().setUp()
        self.team.timezone, self.team.requires_approval = "Europe/Paris", True
        self.team.save()
        self.zone = self.team.zone
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")
        self.mia = get_user_model().objects.create_user("mia", password="writes every day", first_name="Mia")
        Membership.objects.create(user=self.mia, team=self.team, role=Membership.Role.MEMBER)
        # The library's signed links point at the live server, as a deployment's at its public address.
        self.enterContext(override_settings(MEDIA_BASE_URL=self.live_server_url))
        today = timezone.now().astimezone(self.zone).date()
        self.wednesday = today + timedelta(days=7 - today.weekday() + 2)  # next week's: every hour ahead

    def find(self, selector: str):
        return self.browser.find_element(By.CSS_SELECTOR, selector)

    def text_of(self, selector: str) -> str:
        return self.browser.execute_script(
            "const found = document.querySelector(arguments[0]); return found ? found.innerText : '';", selector
        )

    def wait_in(self, selector: str, text: str) -> None:
        wait_for(lambda: text in self.text_of(selector), timeout=15, message=f"{text!r} in {selector}")

    def set_value(self, element_id: str, value: str) -> None:
        # Date and time widgets depend on the browser's locale: the value is set as a person's
        # typing would leave it, with the events the page listens to.
        self.browser.execute_script(
            "const field = document.getElementById(arguments[0]); field.value = arguments[1];"
            "field.dispatchEvent(new Event('input', {bubbles: true}));"
            "field.dispatchEvent(new Event('change', {bubbles: true}));",
            element_id,
            value,
        )

    def test_a_post_goes_from_the_library_and_the_composer_through_approval_and_the_calendar_to_the_networks(
        self,
    ):
        # 1. The member uploads a picture to the library.
        self.log_in_workspace("mia", "writes every day")
        self.open(f"/app/{self.team.pk}/media/")
        self.wait_for_text("Drop images or videos here")
        photo = os.path.join(tempfile.mkdtemp(), "winter-loaf.jpg")
        with open(photo, "wb") as handle:
            handle.write(image_bytes("JPEG", (1080, 1350)))
        self.find("#media-files").send_keys(photo)
        self.find(".media-upload button[type=submit]").click()
        self.wait_for_text("Uploaded winter-loaf.jpg.")
        self.shot("the member uploaded a picture")

        # 2. She composes for three channels with it: counters and previews as she types.
        self.open(f"/app/{self.team.pk}/compose/")
        self.wait_for_text("New post")
        for channel in (self.facebook, self.twitter, self.instagram):
            self.find(f"#ch-{channel.pk}").click()
        text = "Our winter loaf is back on Saturday, baked with rye and walnuts."
        self.find("#id_content").send_keys(text)
        self.wait_in("#counters", f"X · Twitter: {len(text)}/280")
        self.wait_in(f".pv[data-channel='{self.instagram.pk}']", "Instagram needs at least one image or video")
        self.find("input[name=media][id^=media-pick-]").click()
        self.wait_in("#check", "Every channel takes this post as it is.")
        wait_for(
            lambda: self.browser.execute_script(
                "const img = document.querySelector(arguments[0]); return img && img.complete && img.naturalWidth > 0;",
                f".pv[data-channel='{self.instagram.pk}'] img",
            ),
            message="Instagram's preview to show the library's picture",
        )
        self.assertIn("winter loaf", self.text_of(f".pv[data-channel='{self.twitter.pk}']"))
        self.set_value("id_when", f"{self.wednesday.isoformat()}T10:00")
        self.shot("composed for three channels with counters and previews")
        self.find("button[value=submit]").click()
        self.wait_for_text("Submitted for approval")
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.IN_REVIEW)
        self.assertEqual(set(post.channels), {self.facebook.pk, self.twitter.pk, self.instagram.pk})
        self.assertEqual(len(post.media_urls), 1)
        self.assertIn("/app/m/", post.media_urls[0])
        self.assertEqual(post.scheduled_at, local_instant(self.wednesday, time(10, 0), self.zone))
        self.shot("submitted for approval")
        self.open(f"/app/{self.team.pk}/approvals/")
        self.wait_for_text("Your posts waiting for review (1)")
        self.assertIn("Waiting for an admin or owner.", self.browser.page_source)
        self.shot("the member sees her post waiting")
        self.log_out_workspace()

        # 3. The owner approves it from the inbox, where each channel's preview is.
        self.log_in_workspace("alice", "password")
        self.open(f"/app/{self.team.pk}/approvals/")
        self.assertEqual(self.find("nav .badge").get_attribute("title"), "1 waiting for review")
        self.assertIn(text, self.find(f"#post-{post.pk}").text)
        self.shot("the owner's inbox")
        self.browser.find_element(By.XPATH, f"//button[normalize-space()='Approve post #{post.pk}']").click()
        self.wait_for_text(f"Post #{post.pk} is approved")
        post.refresh_from_db()
        self.assertEqual((post.status, post.reviewed_by), (Post.Status.SCHEDULED, self.owner))

        # 4. She drags its card in the week to 11:00.
        self.open(f"/app/{self.team.pk}/calendar/?view=week&date={self.wednesday.isoformat()}")
        publication = post.publications.get(platform="FACEBOOK")
        card = self.find(f"#card-{post.pk}-{publication.pk} .card-link")
        target = self.find(f'[data-drop-date="{self.wednesday.isoformat()}"][data-drop-time="11:00"]')
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
        ActionChains(self.browser).move_to_element(card).click_and_hold().move_by_offset(12, 12).move_to_element(
            target
        ).pause(0.1).release().perform()
        eleven = local_instant(self.wednesday, time(11, 0), self.zone)
        wait_for(lambda: Post.objects.get(pk=post.pk).scheduled_at == eleven, message="the post to move to 11:00")
        self.wait_for_text("11:00 Europe/Paris")
        self.shot("dragged to 11:00 in the week")

        # 5. She edits its text in the composer.
        self.open(f"/app/{self.team.pk}/posts/{post.pk}/edit/")
        content = self.find("#id_content")
        content.clear()
        content.send_keys("Our winter loaf is back on Saturday: rye, walnuts and a dark crust.")
        self.wait_in("#check", "Every channel takes this post as it is.")
        self.find("button[value=save]").click()
        wait_for(lambda: "dark crust" in Post.objects.get(pk=post.pk).content, message="the edit to be saved")
        post.refresh_from_db()
        self.assertEqual((post.status, post.scheduled_at), (Post.Status.SCHEDULED, eleven))
        self.shot("edited")

        # 6. She publishes it now from its page and watches a real worker publish it everywhere.
        self.start_worker()
        self.open(f"/app/{self.team.pk}/posts/{post.pk}/")
        self.browser.find_element(By.XPATH, "//button[normalize-space()='Publish now']").click()
        wait_for(
            lambda: Post.objects.get(pk=post.pk).status in Post.FINAL,
            timeout=60,
            message=f"the post to be published (workers: {self.worker_logs()})",
        )
        post.refresh_from_db()
        self.assertEqual(post.status, Post.Status.PUBLISHED, list(post.publications.values("platform", "error")))
        self.open(f"/app/{self.team.pk}/posts/{post.pk}/")
        links = {link.get_attribute("href") for link in self.browser.find_elements(By.CSS_SELECTOR, "a.live-link")}
        urls = {p.platform: p.metadata.get("url") for p in post.publications.all()}
        self.assertEqual(links, set(urls.values()), urls)
        self.assertEqual(len(links), 3)
        body = self.find("main").text
        self.assertIn("Attempt 1", body)
        self.assertIn("Europe/Paris", body)
        self.assertNotIn("Publish now", body)
        self.assertNotIn("Cancel this post", body)
        self.shot("published with a link to each live post")
