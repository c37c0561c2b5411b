"""In a real headless Chromium: composing a post for three channels with the live counters and
previews the door's rules drive, a channel's own text in its tab (by keyboard), scheduling it in
the person's zone, and the composer at a phone's width. Screenshots of each step under
.local/screenshots/workspace/ComposerBrowserTests/."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.staticfiles.handlers import StaticFilesHandler
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from devtools.testing import wait_for
from planrrr.models import Team
from publishing.models import Post
from publishing.tests.base import INSTAGRAM_USER, PublishingLiveTestCase
from workspace.tests.browser import WorkspaceBrowserMixin


class ComposerBrowserTests(WorkspaceBrowserMixin, PublishingLiveTestCase):
    # The workspace's CSS and scripts (htmx's too) from the apps' static folders, as runserver
    # serves them (the live server serves only collected files, which a fresh clone has none of).
    static_handler = StaticFilesHandler

    def setUp(self):
        super().setUp()
        Team.objects.filter(pk=self.team.pk).update(timezone="Europe/Paris")
        self.instagram = self.connect("INSTAGRAM", INSTAGRAM_USER, "mock_ig_token")

    def find(self, selector: str):
        return self.browser.find_element(By.CSS_SELECTOR, selector)

    def text_of(self, selector: str) -> str:
        # Read in one go: htmx swaps these parts as the person types (an element found, then read,
        # may be gone in between).
        return self.browser.execute_script(
            "const found = document.querySelector(arguments[0]); return found ? found.innerText : '';", selector
        )

    def show(self, selector: str) -> None:
        """Scroll the previews to one, for the screenshot."""
        self.browser.execute_script("document.querySelector(arguments[0]).scrollIntoView();", selector)

    def wait_in(self, selector: str, text: str) -> None:
        wait_for(lambda: text in self.text_of(selector), timeout=15, message=f"{text!r} in {selector}")

    def test_it_composes_for_three_channels_with_live_counters_and_previews_and_schedules_it(self):
        self.log_in_workspace("alice", "password")
        self.open(f"/app/{self.team.pk}/compose/")
        self.wait_for_text("New post")
        self.shot("an empty composer")

        for channel in (self.twitter, self.facebook, self.instagram):
            self.find(f"#ch-{channel.pk}").click()
        text = "Our croissants are back, baked at dawn every morning. Come early: they go fast! " * 2
        self.find("#id_content").send_keys(text + "https://bakery.example/menu")
        # The counters under the text, as each network counts (X: the link is 23), from the server.
        self.wait_in("#counters", f"X · Twitter: {len(text) + 23}/280")
        self.wait_in("#counters", "Instagram · Instagram:")
        # Instagram folds the caption ("… more") and needs an image; X and Facebook show the link's card.
        self.wait_in(f".pv[data-channel='{self.instagram.pk}']", "… more")
        self.wait_in(f".pv[data-channel='{self.instagram.pk}']", "Instagram needs at least one image or video")
        self.assertIn("bakery.example", self.text_of(f".pv[data-channel='{self.twitter.pk}'] .pv-link"))
        self.show(f".pv[data-channel='{self.instagram.pk}']")
        self.shot("three previews and their counters")

        # Past X's 280: its counter turns red and the door's words are next to the text.
        self.find("#id_content").send_keys(" More: croissants, pains au chocolat, brioches and baguettes." * 2)
        self.wait_in("#counters", "too many")
        x_counter = self.browser.execute_script(
            "return Array.from(document.querySelectorAll('#counters .counter'))"
            ".find((c) => c.innerText.startsWith('X ·')).className;"
        )
        self.assertIn("over", x_counter)
        self.wait_in("#err-content", "X allows at most 280 characters")
        self.shot("over x's limit")

        # X gets its own, shorter text: its tab, by keyboard from Facebook's (ArrowLeft; tabs
        # follow the channels' order: Facebook, Instagram, X).
        facebook_tab = self.find(f"#tab-{self.facebook.pk}")
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", facebook_tab)
        facebook_tab.click()
        facebook_tab.send_keys(Keys.END)
        wait_for(lambda: self.find(f"#tab-{self.twitter.pk}").get_attribute("aria-selected") == "true")
        self.assertTrue(self.find(f"#panel-{self.facebook.pk}").get_attribute("hidden"))
        self.find(f"#tab-{self.twitter.pk}").send_keys(Keys.TAB, Keys.SPACE)  # "Write a different text"
        own = self.find(f"#v-{self.twitter.pk}-content")
        wait_for(lambda: own.get_attribute("value").startswith("Our croissants"), message="X's text from the main")
        own.clear()
        own.send_keys("Croissants are back! https://bakery.example/menu")
        self.wait_in("#counters", "X · Twitter: 44/280")
        # And an image for all (Instagram needs one): the stand-in's.
        self.find("#id_media_urls").send_keys(f"{self.live_server_url}/mock/media/croissant.png")
        self.wait_in("#check", "Every channel takes this post as it is.")
        wait_for(
            lambda: self.browser.execute_script(
                "const img = document.querySelector(arguments[0]); return img && img.complete && img.naturalWidth > 0;",
                f".pv[data-channel='{self.instagram.pk}'] .pv-square img",
            ),
            message="Instagram's preview to show the image",
        )
        self.show(f".pv[data-channel='{self.instagram.pk}'] .pv-card")
        self.shot("x with its own text and an image for all")

        # 09:30 in Paris on 14 January 2031 is 08:30 UTC.
        self.browser.execute_script(
            "const when = document.getElementById('id_when'); when.value = '2031-01-14T09:30';"
            "when.dispatchEvent(new Event('input', {bubbles: true}));"
        )
        self.find("button[value=schedule]").click()
        self.wait_for_text("Scheduled for Tue 14 Jan 2031, 09:30 Europe/Paris")
        post = Post.objects.get()
        self.assertEqual(post.status, Post.Status.SCHEDULED)
        self.assertEqual(post.scheduled_at, datetime(2031, 1, 14, 8, 30, tzinfo=UTC))
        self.assertEqual(post.channels, [self.facebook.pk, self.instagram.pk, self.twitter.pk])
        self.assertEqual(
            post.variants, {str(self.twitter.pk): {"content": "Croissants are back! https://bakery.example/menu"}}
        )
        self.shot("scheduled, on its edit page")

        # A phone's width: one column, nothing wider than the screen.
        self.browser.set_window_size(390, 844)
        self.open(f"/app/{self.team.pk}/posts/{post.pk}/edit/")
        self.wait_in("#check", "Every channel takes this post as it is.")
        overflow = self.browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
        )
        self.assertLessEqual(overflow, 0)
        self.shot("the composer on a phone")
