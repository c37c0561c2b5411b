"""A requests session that reads the process environment once per host, not on every request.

requests merges the environment into every call of a session that trusts it (``trust_env``,
the default): the proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, in either
case) through ``get_environ_proxies``, which walks the whole of ``os.environ`` twice, and the
CA bundle (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE). That was ~0.1 ms of CPU a publication (more
with a large environment) for values an operator sets before the process starts.
:class:`EnvironmentOnceSession` merges the same values in the same way, looked up once per
scheme and host for the life of the process: changing them takes a restart, as any setting does.

What is left to requests, unchanged:

* ``~/.netrc`` (or the file ``$NETRC`` names) is still read on every request that carries no
  auth of its own, so a machine entry someone relies on keeps working; with no such file it
  costs a stat or two. (An entry for a platform's API host would replace the account's
  ``Authorization`` header, as it always did.)
* A redirect followed by requests resolves its proxies from the environment again, hop by hop;
  the adapters and the OAuth clients follow none.
* ``trust_env = False`` reads nothing from the environment, as in requests.

:class:`PinnedSession` (the servers a person named: Mastodon instances, Bluesky PDSes) is the
exception: it reads neither the proxy nor the CA bundle variables, as webhook deliveries and media
downloads do not (see it).
"""

from __future__ import annotations

import functools
import http.cookiejar
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.sessions import merge_setting

from planrrr.urlsafety import PinnedAdapter, ReleasingSession

# (scheme, proxy URL) pairs, as requests' proxies dict holds them; a tuple, so that no caller
# can change what the cache hands to the next one.
Proxies = tuple[tuple[str, str], ...]


# Sized for the hosts a process calls: the platforms' APIs, and each Mastodon instance or PDS in use.
@functools.lru_cache(maxsize=1024)
def environment_settings(scheme: str, host: str, no_proxy: str | None) -> tuple[Proxies, str | None]:
    """The proxies the environment gives URLs on ``scheme://host`` (``host`` with its port, if
    any) and the CA bundle it names, read as requests reads them for one request."""
    proxies = requests.utils.get_environ_proxies(f"{scheme}://{host}/", no_proxy=no_proxy)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return tuple(proxies.items()), bundle or None


def environment_read(urls: Iterable[str]) -> None:
    """Look up now the environment settings of these URLs' hosts (a forking worker's main process
    does, so that its work-horses inherit them). URLs without a host are skipped."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            environment_settings(parts.scheme, parts.netloc.rpartition("@")[2], None)


def pool_connections() -> int:
    """Connections a session keeps per host: one per job thread of a worker process
    (RQ_WORKER_THREADS), at least requests' 10. Fewer, and each request past them would open a
    connection (a TLS handshake, in production) and drop it after the answer."""
    return max(10, getattr(settings, "RQ_WORKER_THREADS", 1))


class EnvironmentOnceSession(ReleasingSession):
    """``requests.Session`` whose environment settings come from :func:`environment_settings`;
    the thread's database connection is given back before each request (``ReleasingSession``)."""

    def __init__(self) -> None:
        super().__init__()
        adapter = HTTPAdapter(pool_maxsize=pool_connections())
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def merge_environment_settings(
        self, url: str, proxies: dict[str, str] | None, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What requests' own method does (requests/sessions.py), with the lookups cached.
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        # Keyed without any user:password@ of the URL: no credential is kept as a key.
        parts = urlsplit(url)
        env_proxies, bundle = environment_settings(parts.scheme, parts.netloc.rpartition("@")[2], no_proxy)
        if proxies is not None:
            for key, value in env_proxies:
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = bundle or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps no cookie, sends none."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


class PlatformSession(EnvironmentOnceSession):
    """The session the adapters and OAuth clients call the platforms' APIs with: one per
    process, shared by every account of every team (one connection pool). It keeps no cookie:
    a cookie one account's answer sets (a load balancer's, a tracking one) would otherwise go
    with the next account's request to that host, tying accounts and teams together in the
    platform's eyes. The APIs authenticate each request by its token and need none."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(_NoCookies())


class PinnedSession(PlatformSession):
    """A :class:`PlatformSession` (no cookie kept) for servers a person named, such as a Mastodon
    instance or a Bluesky PDS: every request, whatever its URL, goes through
    :class:`planrrr.urlsafety.PinnedAdapter`, which checks the address the name resolves to and
    connects to exactly that address. A second lookup by the connection itself could get another
    answer (DNS rebinding) and carry the account's token to the private network.

    No proxy from the environment: a proxy would resolve the name itself, out of our sight; and
    no CA bundle from it either (certifi's CAs verify the certificate), as for webhooks and media.
    One per process is shared by every account: its pools are keyed by the checked address, so a
    kept connection is only reused for a request to the address just checked.

    ``allow_private``: lift the address rules (development and tests), still pinning; a function
    is called at every request (see PinnedAdapter).
    """

    def __init__(self, *, allow_private: bool | Callable[[], bool] = False) -> None:
        super().__init__()
        self.trust_env = False
        self.pinned = PinnedAdapter(allow_private=allow_private, pool_maxsize=pool_connections())
        self.mount("http://", self.pinned)
        self.mount("https://", self.pinned)

    def get_adapter(self, url: str) -> BaseAdapter:
        # Every URL, an ftp:// one included: the check then refuses it with a message saying what
        # to change, where requests would only say it has no adapter for it.
        return self.pinned
