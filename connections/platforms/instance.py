"""What the adapters of open networks share: each connection has its own server (a Mastodon
instance, a Bluesky PDS), named by ``Connection.base_url`` and reaching the adapter as
``Account.base_url``.

That URL was typed by a person, so it is an outbound URL like a webhook's: http(s) only, and
public addresses only unless ``INSTANCE_ALLOW_PRIVATE_URLS`` is set (development, tests and the
demo, where the stand-in runs on loopback). Every call to it goes through an
:class:`InstanceSession`, which checks the address at every request and connects to exactly the
address it checked: a name whose DNS answer changes between a check and the connection (DNS
rebinding) cannot point a token at the private network, nor can a row edited past the connect
form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from connections.platforms.base import Account, PermanentError, TransientError
from connections.platforms.http import HttpAdapter
from planrrr.http import PinnedSession
from planrrr.urlsafety import UnsafeURL, check_public_url


def normalized_base_url(value: str) -> str:
    """A server's base URL as stored: scheme and host (and port, path) without a trailing slash;
    a bare host name gets https://."""
    value = (value or "").strip()
    if value and "://" not in value:
        value = f"https://{value}"
    return value.rstrip("/")


def base_url_problem(value: str) -> str | None:
    """Why a server URL cannot be used, in words that say what to change, or None. A name that
    does not resolve right now is not refused (it is retried at the call)."""
    url = normalized_base_url(value)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not a server address: give one like https://mastodon.social."
    if parts.query or parts.fragment:
        return f"{value!r} must be the server's address only, without ?query or #fragment."
    try:
        check_public_url(url, allow_private=settings.INSTANCE_ALLOW_PRIVATE_URLS)
    except UnsafeURL as err:
        if err.permanent:
            return f"The server address {url} cannot be used: {err}"
    return None


class InstanceSession(PinnedSession):
    """The session of every call to a connection's own server, by the adapters and by the clients
    that connect and renew accounts (Bluesky's and Mastodon's client.py): pinned to the checked address,
    with INSTANCE_ALLOW_PRIVATE_URLS read at each request."""

    def __init__(self) -> None:
        super().__init__(allow_private=lambda: settings.INSTANCE_ALLOW_PRIVATE_URLS)


class InstanceAdapter(HttpAdapter):
    """An adapter whose API lives on the connection's own server; ``base_url`` is the server used
    when a connection names none (Bluesky: BLUESKY_PDS_URL), "" when one is required."""

    session_class = InstanceSession

    def api_base(self, account: Account) -> str:
        """The connection's server. Its address is checked by the session, at every call."""
        base = normalized_base_url(account.base_url or self.base_url)
        if not base:
            raise PermanentError(f"The {self.label} connection names no server: reconnect the account.")
        return base

    def url(self, account: Account, path: str) -> str:
        return f"{self.api_base(account)}{path}"

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """HttpAdapter's exchange, with the session's refusal of the server's address classified: a
        URL that must change is a PermanentError, a name that does not resolve just now a
        TransientError (nothing was sent)."""
        try:
            return super().send(method, path, **kwargs)
        except UnsafeURL as err:
            server = _server(path)
            if err.permanent:
                raise PermanentError(f"The {self.label} server {server} cannot be used: {err}") from None
            raise TransientError(f"The {self.label} server {server} could not be reached: {err}") from None


def _server(url: str) -> str:
    """The scheme and host (and port) of a URL, for a message: not its path, nor a user:password@."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # the check's own message quotes it whole anyway
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
