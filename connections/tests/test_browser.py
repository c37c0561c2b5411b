"""In a real headless Chromium: connecting an X account from the admin, through the stand-in's
consent page, back to the admin with the account connected."""

from django.contrib.auth import get_user_model
from django.test import override_settings
from selenium.webdriver.common.by import By

from connections.models import Connection
from devtools.testing import BrowserMixin, LiveWorkerTestCase, wait_for
from planrrr.models import Membership, Team

OAUTH_APP = {"X_CLIENT_ID": "planrrr-browser", "X_CLIENT_SECRET": "browser-client-secret"}


@override_settings(**OAUTH_APP)
class ConnectInBrowserTests(BrowserMixin, LiveWorkerTestCase):
    def setUp(self):
        super().setUp()
        self.mock = self.stand_in()
        self.mock.reset()
        self.team = Team.objects.create(name="Acme")
        admin = get_user_model().objects.create_user("ann", "ann@example.org", "correct horse", is_staff=True)
        Membership.objects.create(user=admin, team=self.team, role=Membership.Role.ADMIN)
        # The admin pages need model permissions for a staff user who is not a superuser.
        get_user_model().objects.filter(pk=admin.pk).update(is_superuser=True)

    def test_it_connects_an_x_account_from_the_admin(self):
        self.log_in("ann", "correct horse")
        self.browser.get(f"{self.live_server_url}/admin/planrrr/team/")
        self.browser.find_element(By.CSS_SELECTOR, "a[href*='/connect/team/']").click()
        wait_for(lambda: self.browser.find_elements(By.ID, "connect-twitter"), message="the connect page")
        self.browser.find_element(By.ID, "connect-twitter").click()

        # The stand-in's consent page, as X's would be: approve.
        wait_for(lambda: "/oauth2/authorize" in self.browser.current_url, message="X's consent page")
        self.browser.find_element(By.ID, "authorize").click()

        wait_for(lambda: "/admin/connections/connection/" in self.browser.current_url, message="back in the admin")
        self.assertIn("Connected", self.browser.page_source)
        connection = Connection.objects.get(team=self.team, platform="TWITTER")
        self.assertEqual(connection.status, Connection.Status.ACTIVE)
        self.assertTrue(connection.refreshable)
        self.assertIn("@", connection.name)
        self.assertNotIn(connection.access_token, self.browser.page_source)
