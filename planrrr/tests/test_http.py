"""EnvironmentOnceSession: requests' environment settings, read once per host; PlatformSession: no cookie;
PinnedSession: every request checked and connected to the checked address, whatever the environment."""

import os
import tempfile
from unittest import mock

import requests
import responses
from django.test import SimpleTestCase

from planrrr.http import (
    EnvironmentOnceSession,
    PinnedSession,
    PlatformSession,
    environment_read,
    environment_settings,
)
from planrrr.tests.test_urlsafety import LocalServer, fake_dns
from planrrr.urlsafety import UnsafeURL

PROXY = "http://proxy.internal:3128"
URLS = (
    "https://api.x.test/2/tweets",
    "http://api.x.test:8080/2/tweets",
    "https://graph.test/v21.0/1/feed?access_token=t",
    "https://bot:pw@mastodon.test/api/v1/statuses",
    "http://10.1.2.3/x",
)
ENVIRONMENTS = (
    {},
    {"https_proxy": PROXY, "http_proxy": PROXY},
    {"all_proxy": PROXY, "no_proxy": "graph.test,.x.test"},
    {"https_proxy": PROXY, "no_proxy": "10.0.0.0/8"},
    {"https_proxy": PROXY, "no_proxy": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/planrrr.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
)


class EnvironmentOnceSessionTests(SimpleTestCase):
    def setUp(self):
        environment_settings.cache_clear()
        self.addCleanup(environment_settings.cache_clear)

    def environment(self, variables: dict[str, str]):
        # Every proxy and bundle variable replaced, so that the test process's own do not count.
        names = [n for n in os.environ if n.lower().endswith("_proxy") or n.endswith("_CA_BUNDLE")]
        cleared = {name: "" for name in names}
        return mock.patch.dict(os.environ, {**cleared, **variables})

    def test_it_merges_what_requests_merges(self):
        arguments = (
            ({}, None, None, None),
            ({"no_proxy": "api.x.test"}, True, None, None),
            ({"https": "http://mine:1"}, False, "/tmp/other.pem", ("c", "k")),
        )
        for variables in ENVIRONMENTS:
            for url in URLS:
                for proxies, stream, verify, cert in arguments:
                    with self.subTest(variables=variables, url=url, proxies=proxies, verify=verify):
                        environment_settings.cache_clear()
                        with self.environment(variables):
                            ours = EnvironmentOnceSession().merge_environment_settings(
                                url, dict(proxies), stream, verify, cert
                            )
                            theirs = requests.Session().merge_environment_settings(
                                url, dict(proxies), stream, verify, cert
                            )
                        self.assertEqual(ours, theirs)

    def test_it_reads_the_environment_once_per_host(self):
        session = EnvironmentOnceSession()
        with (
            self.environment({"https_proxy": PROXY}),
            mock.patch.object(requests.utils, "get_environ_proxies", wraps=requests.utils.get_environ_proxies) as reads,
        ):
            for _ in range(3):
                settings = session.merge_environment_settings("https://api.x.test/2/tweets", {}, None, None, None)
                session.merge_environment_settings("https://graph.test/v21.0/1/feed", {}, None, None, None)
        self.assertEqual(settings["proxies"]["https"], PROXY)
        self.assertEqual(reads.call_count, 2)

    def test_it_keeps_no_credential_of_a_url_in_its_cache(self):
        with self.environment({}):
            EnvironmentOnceSession().merge_environment_settings(
                "https://bot:SECRET@mastodon.test/api", {}, None, None, None
            )
        self.assertEqual(environment_settings.cache_info().currsize, 1)
        with mock.patch.object(requests.utils, "get_environ_proxies") as reads:
            EnvironmentOnceSession().merge_environment_settings("https://mastodon.test/api", {}, None, None, None)
        reads.assert_not_called()  # the same host, without its credentials, is the same entry

    def test_it_reads_nothing_from_the_environment_without_trust_env(self):
        session = EnvironmentOnceSession()
        session.trust_env = False
        with self.environment({"https_proxy": PROXY, "REQUESTS_CA_BUNDLE": "/etc/ssl/planrrr.pem"}):
            settings = session.merge_environment_settings("https://api.x.test/", {}, None, None, None)
        self.assertEqual(settings["proxies"], {})
        self.assertIs(settings["verify"], True)

    def test_it_leaves_netrc_to_requests(self):
        # Decided: an operator's ~/.netrc keeps working, read by requests per request as before.
        with tempfile.NamedTemporaryFile("w", suffix=".netrc") as netrc:
            netrc.write("machine api.x.test login bot password pw\n")
            netrc.flush()
            with self.environment({"NETRC": netrc.name}):
                prepared = EnvironmentOnceSession().prepare_request(requests.Request("GET", "https://api.x.test/"))
        self.assertEqual(prepared.headers["Authorization"], "Basic Ym90OnB3")

    def test_it_reads_ahead_the_hosts_it_is_given(self):
        with self.environment({"https_proxy": PROXY}):
            environment_read(["https://api.x.test", "https://graph.test/v21.0", "", "not a url"])
            self.assertEqual(environment_settings.cache_info().currsize, 2)
            with mock.patch.object(requests.utils, "get_environ_proxies") as reads:
                settings = EnvironmentOnceSession().merge_environment_settings(
                    "https://graph.test/v21.0/1/feed", {}, None, None, None
                )
        reads.assert_not_called()
        self.assertEqual(settings["proxies"]["https"], PROXY)


class PlatformSessionTests(SimpleTestCase):
    def test_a_cookie_one_account_was_given_never_goes_with_another_accounts_request(self):
        api = "https://api.platform.test/v1/post"
        session = PlatformSession()
        with responses.RequestsMock() as http:
            http.post(api, json={"id": "1"}, headers={"Set-Cookie": "lb=account-a; Path=/; Domain=api.platform.test"})
            http.post(api, json={"id": "2"})
            session.post(api, headers={"Authorization": "Bearer a"})
            session.post(api, headers={"Authorization": "Bearer b"})
            self.assertNotIn("Cookie", http.calls[1].request.headers)
        self.assertEqual(len(session.cookies), 0)

    def test_a_plain_session_would_have_sent_it(self):
        # What the test above guards against: requests keeps and sends the cookie.
        api = "https://api.platform.test/v1/post"
        session = EnvironmentOnceSession()
        with responses.RequestsMock() as http:
            http.post(api, json={"id": "1"}, headers={"Set-Cookie": "lb=account-a; Path=/; Domain=api.platform.test"})
            http.post(api, json={"id": "2"})
            session.post(api)
            session.post(api)
            self.assertEqual(http.calls[1].request.headers.get("Cookie"), "lb=account-a")


class PinnedSessionTests(SimpleTestCase):
    def setUp(self):
        self.server = LocalServer()
        self.addCleanup(self.server.close)
        self.url = f"http://instance.example.test:{self.server.port}/api/v2/instance"

    def test_it_goes_to_the_checked_address_past_a_proxy_of_the_environment(self):
        # A proxy would resolve the name itself.
        proxy = LocalServer()
        self.addCleanup(proxy.close)
        url = f"http://127.0.0.1:{proxy.port}"
        with (
            mock.patch.dict(os.environ, {"http_proxy": url, "HTTP_PROXY": url, "no_proxy": "", "NO_PROXY": ""}),
            fake_dns({"instance.example.test": ["127.0.0.1"]}),
        ):
            response = PinnedSession(allow_private=True).get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(proxy.seen, [])
        self.assertEqual(
            self.server.seen, [{"path": "/api/v2/instance", "host": f"instance.example.test:{self.server.port}"}]
        )

    def test_it_reads_whether_private_addresses_are_allowed_at_every_request(self):
        allowed = [False]
        session = PinnedSession(allow_private=lambda: allowed[0])
        with fake_dns({"instance.example.test": ["127.0.0.1"]}):
            with self.assertRaisesMessage(UnsafeURL, "resolves to 127.0.0.1, which is a loopback address"):
                session.get(self.url)
            allowed[0] = True
            self.assertEqual(session.get(self.url).status_code, 200)
        self.assertEqual(len(self.server.seen), 1)

    def test_it_refuses_other_schemes_through_the_check(self):
        with self.assertRaisesMessage(UnsafeURL, "The URL must start with https:// or http://, not ftp://"):
            PinnedSession(allow_private=True).get("ftp://instance.example.test/api")
