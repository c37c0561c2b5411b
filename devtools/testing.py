"""Test support: real worker processes, waiting on conditions, a clean Redis.

Tests talk to the real PostgreSQL and Redis the settings point at (embedded by default)
and start real ``manage.py rqworker`` processes pointed at the test database.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import django_rq
from django.test import LiveServerTestCase, override_settings
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from devtools.processes import REQUESTS_IN_FLIGHT, WorkerProcess, stand_in_env, worker_env  # noqa: F401 - re-exported
from mockapis.server import Server as StandInServer


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    The pause between two polls starts at ``interval`` and grows by half at each poll up to
    ``MAX_POLL_INTERVAL``: a condition met at once is seen at once, and a long wait (a retry's
    backoff, a worker starting) does not spend the machine's CPU asking (each poll of the
    stand-in is an HTTP request served by this process, of PostgreSQL a query).

    ``message`` may be a function, called only on a timeout: what the workers logged by then,
    not when the wait began."""
    deadline = time.monotonic() + timeout
    pause = interval
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {said or predicate}")
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0) + 0.001))
        pause = min(pause * 1.5, max(interval, MAX_POLL_INTERVAL))


# The longest pause between two polls of wait_for.
MAX_POLL_INTERVAL = 0.25


def process_stop(process, *, timeout: float = 10.0) -> None:
    """Stop a child process a test started: SIGTERM, then SIGKILL if it has not exited within
    ``timeout`` (a gunicorn finishing a request in flight, a loaded machine), so that one slow
    shutdown never fails a test whose assertions passed, nor leaves the process behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flush_redis() -> None:
    """Empty the Redis database the tests use (never the one the demo uses: see settings)."""
    django_rq.get_connection("default").flushdb()


class _NoDelayHandler(QuietWSGIRequestHandler):
    # Answer at once instead of waiting ~40 ms for the client's delayed ACK (Nagle).
    disable_nagle_algorithm = True

    # From a request's first line read to its answer's end, the thread is in REQUESTS_IN_FLIGHT:
    # a worker is forked only once none is (devtools.processes._requests_finish); between two
    # requests of a kept-alive connection it is not.
    def parse_request(self) -> bool:
        REQUESTS_IN_FLIGHT.add(threading.get_ident())
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            REQUESTS_IN_FLIGHT.discard(threading.get_ident())


class _NoDelayServerThread(LiveServerThread):
    # The stand-in's server: a listen backlog for a worker's threads connecting at once.
    server_class = StandInServer

    def _create_server(self, connections_override=None):
        return self.server_class(
            (self.host, self.port),
            _NoDelayHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )


class LiveWorkerTestCase(LiveServerTestCase):
    """A live server (serving the stand-in APIs under /mock/) plus real workers.

    Subclasses start workers with ``self.start_worker(...)``; they are killed after the
    test. Platform base URLs point at the live server.
    """

    server_thread_class = _NoDelayServerThread

    def setUp(self) -> None:
        super().setUp()
        flush_redis()
        self.workers: list[WorkerProcess] = []
        # This process sees the same world as its workers: the stand-in is local, retries are
        # fast (a job's RQ Retry is made by whichever process enqueues it, often this one).
        self.enterContext(override_settings(**_typed(self.platform_env())))

    def tearDown(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=5)
        flush_redis()
        super().tearDown()

    def stand_in(self):
        from mockapis.client import MockApis

        return MockApis(f"{self.live_server_url}/mock")

    def platform_env(self) -> dict[str, str]:
        return {
            **stand_in_env(self.stand_in().base_url),
            # Fast retries for tests; production defaults are in settings.
            "PUBLISH_RETRY_BASE_SECONDS": "1",
            "SWEEP_INTERVAL_SECONDS": "0.5",
        }

    def start_worker(self, *queues: str, **env: Any) -> WorkerProcess:
        """A worker with the test's settings plus ``env``; this process takes ``env`` too, so
        that what it enqueues (RQ's Retry, for one) follows the same settings."""
        worker = WorkerProcess(*queues, env={**self.platform_env(), **env}).start()
        self.workers.append(worker)
        self.enterContext(override_settings(**_typed(env)))
        return worker.wait_ready()


def _typed(env: dict[str, Any]) -> dict[str, Any]:
    """Environment values as the settings hold them (the type of the current setting)."""
    from django.conf import settings

    typed = {}
    for name, value in env.items():
        current = getattr(settings, name, None)
        if isinstance(current, bool):
            typed[name] = str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, (int, float)) and not isinstance(value, (int, float)):
            typed[name] = type(current)(value)
        elif isinstance(current, (list, tuple)) and isinstance(value, str):
            # As django-environ reads a list: comma-separated.
            typed[name] = type(current)(part.strip() for part in value.split(",") if part.strip())
        else:
            typed[name] = value
    return typed


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def headless_chromium():
    """A headless Chromium driven by Selenium (Debian's ``chromium`` and ``chromium-driver``:
    `.ci/run` installs them), or unittest.SkipTest saying what to install. Never downloads a
    browser or driver (Selenium Manager is bypassed by naming both)."""
    import os
    import tempfile
    import unittest

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        raise unittest.SkipTest(
            f"{' and '.join(missing)} not installed: `apt-get install chromium chromium-driver` (.ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The flags of a browser that must not reach out of this machine (no network here but the
    # registries): no background networking, updates or sync.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='planrrr-chromium-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class BrowserMixin:
    """A real headless browser for a LiveServerTestCase; a screenshot under .local/screenshots
    when the test fails.

    One browser for the class, started before its first test: a Chromium's start and end cost
    about 2-3 s of CPU. Each test starts from a browser as a new one is: no cookies (no session),
    no storage or cache of the live server's site, one blank tab; a browser that cannot be reset
    so (a test left it broken) is replaced."""

    browser = None

    @classmethod
    def setUpClass(cls) -> None:
        # Before the live server: a class without Chromium is skipped, saying what to install,
        # before anything is started.
        cls._start_browser()
        cls.addClassCleanup(cls._quit_browser)
        super().setUpClass()

    @classmethod
    def _start_browser(cls) -> None:
        cls.browser = headless_chromium()
        cls.browser.set_page_load_timeout(30)

    @classmethod
    def _quit_browser(cls) -> None:
        browser, cls.browser = cls.browser, None
        if browser is not None:
            browser.quit()  # ends the driver and the browser, whatever state they are in

    def setUp(self) -> None:
        super().setUp()
        self.addCleanup(self._reset_browser)
        # What the test before left must be gone: its session above all.
        self.assertEqual(self.browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"], [])

    def _reset_browser(self) -> None:
        from selenium.common.exceptions import WebDriverException

        browser = type(self).browser
        try:
            for handle in browser.window_handles[1:]:
                browser.switch_to.window(handle)
                browser.close()
            browser.switch_to.window(browser.window_handles[0])
            browser.get("about:blank")
            # The Chrome DevTools Protocol's Network and Storage domains: what a new profile
            # would not have.
            browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
            browser.execute_cdp_cmd("Network.clearBrowserCache", {})
            browser.execute_cdp_cmd(
                "Storage.clearDataForOrigin", {"origin": self.live_server_url, "storageTypes": "all"}
            )
        except WebDriverException:
            type(self)._quit_browser()
            type(self)._start_browser()

    def _callTestMethod(self, method) -> None:
        # unittest's hook around the test method: the page as it was when the test failed.
        try:
            super()._callTestMethod(method)
        except BaseException:
            from django.conf import settings

            folder = settings.BASE_DIR / ".local" / "screenshots"
            folder.mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(folder / f"{self.id()}.png"))
            raise

    def log_in(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By

        self.browser.get(f"{self.live_server_url}/admin/login/")
        self.browser.find_element(By.NAME, "username").send_keys(username)
        self.browser.find_element(By.NAME, "password").send_keys(password)
        self.browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait_for(lambda: "/admin/login/" not in self.browser.current_url, message="the admin to log in")
