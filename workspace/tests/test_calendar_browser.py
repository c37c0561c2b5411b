"""The calendar, the approvals and a post's page in a real headless Chromium, on the live server
(its static files served as in development) with the stand-in platforms and a real worker: a
card dragged in the week view and moved with the keyboard, a refused move, the phone's agenda. A
member's post approved by the owner and watched out, with its links to the live posts, is
test_journey_browser's, after the composer and the library. Each step checks the page and saves
a screenshot (.local/screenshots/workspace/CalendarInBrowserTests/)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from devtools.testing import wait_for
from planrrr.models import Membership
from publishing import services
from publishing.models import Post
from publishing.slots import local_instant
from publishing.tests.base import PublishingLiveTestCase
from workspace.tests.browser import WorkspaceBrowserMixin

OWNER, MEMBER = Membership.Role.OWNER, Membership.Role.MEMBER


class CalendarInBrowserTests(WorkspaceBrowserMixin, PublishingLiveTestCase):
    # htmx and the calendar's own script and styles, from the apps' static folders.
    static_handler = StaticFilesHandler
    window = (1280, 1000)

    def setUp(self) -> None:
        super().setUp()
        self.team.name, self.team.timezone = "Paris bakery", "Europe/Paris"
        self.team.save()
        self.owner.set_password("owns the bakery")
        self.owner.first_name = "Alice"
        self.owner.save()
        self.zone = self.team.zone
        # Wednesday of next week (every day of that week is ahead), and its week's Thursday.
        today = timezone.now().astimezone(self.zone).date()
        self.wednesday = today + timedelta(days=7 - today.weekday() + 2)
        self.thursday = self.wednesday + timedelta(days=1)

    def at(self, day, hour: int, minute: int = 0) -> datetime:
        return local_instant(day, time(hour, minute), self.zone)

    def card(self, post: Post, platform: str = "FACEBOOK"):
        publication = post.publications.get(platform=platform)
        return self.browser.find_element(By.ID, f"card-{post.pk}-{publication.pk}")

    def cell(self, day, hour: int):
        return self.browser.find_element(
            By.CSS_SELECTOR, f'[data-drop-date="{day.isoformat()}"][data-drop-time="{hour:02d}:00"]'
        )

    def drag(self, element, target) -> None:
        # Both in view: the page scrolls to the middle of the two.
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
        (
            ActionChains(self.browser)
            .move_to_element(element)
            .click_and_hold()
            .move_by_offset(12, 12)
            .move_to_element(target)
            .pause(0.1)
            .release()
            .perform()
        )

    def scheduled_at(self, post: Post) -> datetime:
        post.refresh_from_db()
        return post.scheduled_at

    def test_a_card_is_dragged_moved_with_the_keyboard_refused_and_read_on_a_phone(self):
        post = services.post_create(
            team=self.team,
            author=self.owner,
            content="Fresh bread at nine",
            channels=[self.facebook.pk, self.twitter.pk],
            scheduled_at=self.at(self.wednesday, 15, 30),
            role=OWNER,
        )
        self.log_in_workspace("alice", "owns the bakery")
        self.open(f"/app/{self.team.pk}/calendar/?view=week&date={self.wednesday.isoformat()}")
        self.wait_for_text("15:30 Europe/Paris")
        self.assertIn("Times in Europe/Paris", self.browser.find_element(By.TAG_NAME, "body").text)
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", self.card(post))
        self.shot("week with the post on wednesday")

        # Drag: Wednesday 15:30 -> Thursday 11:00 (the hour dropped on), on both channels.
        self.drag(self.card(post).find_element(By.CLASS_NAME, "card-link"), self.cell(self.thursday, 11))
        wait_for(lambda: self.scheduled_at(post) == self.at(self.thursday, 11), message="the post to move")
        self.wait_for_text(
            f"Post #{post.pk} moved to {self.thursday:%a} {self.thursday.day} {self.thursday:%b %Y}, 11:00"
        )
        self.assertEqual(
            self.cell(self.thursday, 11).find_elements(By.CSS_SELECTOR, ".card")[0].get_attribute("id"),
            self.card(post).get_attribute("id"),
        )
        self.assertIn("11:00 Europe/Paris", self.card(post, "TWITTER").text)
        self.assertEqual(self.browser.switch_to.active_element.get_attribute("class"), "card-link")  # focus follows
        self.shot("dragged to thursday 11:00")

        # The keyboard: Tab to the card's Move, Enter (its form comes, the day field focused), a
        # new day and time, Enter.
        move = self.card(post).find_element(By.CSS_SELECTOR, "details.move summary")
        self.browser.execute_script("arguments[0].focus()", self.card(post).find_element(By.CLASS_NAME, "card-link"))
        self.browser.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(self.browser.switch_to.active_element, move)
        move.send_keys(Keys.ENTER)
        day = wait_for(
            lambda: self.card(post).find_elements(By.CSS_SELECTOR, "input[type=date]"), message="the Move form"
        )[0]
        wait_for(lambda: self.browser.switch_to.active_element == day, message="the focus on the Move form's day")
        # The fields as a person fills them (the browser's own date and time widgets: their
        # typing order depends on the locale, so their values are set, then Enter submits).
        self.browser.execute_script("arguments[0].value = arguments[1]", day, self.thursday.isoformat())
        clock = self.card(post).find_element(By.CSS_SELECTOR, "input[type=time]")
        self.browser.execute_script("arguments[0].value = '08:45'", clock)
        self.shot("move form filled with the keyboard")
        clock.send_keys(Keys.ENTER)
        wait_for(lambda: self.scheduled_at(post) == self.at(self.thursday, 8, 45), message="the keyboard move")
        self.wait_for_text("08:45 Europe/Paris")
        self.shot("moved to 08:45 with the keyboard")

        # Publishing started meanwhile (the dispatch took it): the move is refused, the card stays.
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PUBLISHING)
        self.drag(self.card(post).find_element(By.CLASS_NAME, "card-link"), self.cell(self.wednesday, 10))
        self.wait_for_text(f"Post #{post.pk} not moved")
        self.wait_for_text("only drafts and scheduled posts can be changed")
        self.assertEqual(self.scheduled_at(post), self.at(self.thursday, 8, 45))
        self.assertTrue(self.cell(self.thursday, 8).find_elements(By.ID, self.card(post).get_attribute("id")))
        self.shot("refused move keeps the card")

        # A phone: the days one below the other, empty hours hidden, the card readable.
        Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED)
        self.browser.set_window_size(390, 844)
        self.open(f"/app/{self.team.pk}/calendar/?view=week&date={self.wednesday.isoformat()}")
        self.wait_for_text("08:45 Europe/Paris")
        grid = self.browser.find_element(By.CSS_SELECTOR, ".grid")
        self.assertEqual(grid.value_of_css_property("display"), "block")
        self.assertFalse(self.cell(self.thursday, 3).is_displayed())
        card = self.card(post)
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
        self.assertTrue(card.is_displayed())
        self.assertLessEqual(card.rect["x"] + card.rect["width"], 390)
        self.assertLessEqual(self.browser.execute_script("return document.documentElement.scrollWidth"), 390)
        self.shot("phone agenda")
