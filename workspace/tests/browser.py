"""What the workspace's browser tests share: a real headless Chromium on the live server,
logged in through the workspace's own login page, and screenshots of each step kept for review
under .local/screenshots/workspace/<test class>/ (docs/workspace.md says where)."""

from __future__ import annotations

import re

from django.conf import settings
from selenium.webdriver.common.by import By

from devtools.testing import BrowserMixin, wait_for

SCREENSHOTS = settings.BASE_DIR / ".local" / "screenshots" / "workspace"


class WorkspaceBrowserMixin(BrowserMixin):
    # A phone's width is checked by the tests that say so (set_window_size); this is a laptop's.
    window = (1280, 900)

    def setUp(self) -> None:
        super().setUp()
        self.browser.set_window_size(*self.window)
        self._shots = 0

    def open(self, path: str) -> None:
        self.browser.get(f"{self.live_server_url}{path}")

    def log_in_workspace(self, username: str, password: str) -> None:
        self.open("/app/login/")
        self.browser.find_element(By.ID, "id_username").send_keys(username)
        self.browser.find_element(By.ID, "id_password").send_keys(password)
        self.browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "/app/login/" not in self.browser.current_url, message="the workspace to log in")

    def log_out_workspace(self) -> None:
        self.browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
        wait_for(lambda: "/app/login/" in self.browser.current_url, message="the workspace to log out")

    def wait_for_text(self, text: str, timeout: float = 15) -> None:
        def shown() -> bool:
            # Read in one go: a click that loads a page leaves a moment with no body (or the old
            # one, gone the instant it is read).
            return text in (self.browser.execute_script("return document.body ? document.body.innerText : '';") or "")

        wait_for(shown, timeout=timeout, message=f"{text!r} on the page")

    def shot(self, step: str) -> str:
        """Save the page as it is now, numbered in the test's order; returns the file's path."""
        self._shots += 1
        folder = SCREENSHOTS / type(self).__name__
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self._testMethodName}-{self._shots:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}.png"
        path = folder / name
        self.browser.save_screenshot(str(path))
        return str(path)
