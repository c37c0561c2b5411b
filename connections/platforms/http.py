"""What every adapter speaking HTTP shares: one ``requests`` session, a timeout and an overall
deadline on every call, transport failures classified, JSON decoded, and the account's token
kept out of every error and log line. A platform's adapter holds only what differs (its
endpoints, its error envelope: ``raise_for_response``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from django.conf import settings

from connections.platforms.base import (
    Account,
    Adapter,
    Duplicate,
    PermanentError,
    PlatformError,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connections.platforms.config import value_of
from connections.platforms.reading import DeadlineExceeded, read_within
from planrrr.crypto import is_undecryptable
from planrrr.http import PlatformSession
from planrrr.text import safe_text, scrub


class HttpAdapter(Adapter):
    """Adapter speaking HTTP with ``requests``: one session, timeouts on every call,
    transport errors classified, JSON decoded. A platform subclass implements
    ``raise_for_response`` for its error envelope."""

    # What the calls go through: for one API for everybody, the proxy and CA bundle variables read
    # once per host, not at every request (planrrr.http). ``get_adapter`` shares one per class.
    session_class: ClassVar[type[requests.Session]] = PlatformSession

    def __init__(self, session: requests.Session | None = None):
        self.session = session or self.session_class()

    @property
    def base_url(self) -> str:
        """The API's base (``Declaration.api_url``); "" for a platform whose every connection
        names its own server."""
        api_url = self.declaration.api_url
        return str(value_of(api_url)).rstrip("/") if api_url else ""

    def request(self, method: str, path: str, *, account: Account | None = None, **kwargs: Any) -> requests.Response:
        """Send one request for ``account`` (its token placed by ``authorize``), read the whole
        answer within PLATFORM_CALL_DEADLINE_SECONDS, and classify failures. Never follows
        redirects. No error raised here carries the account's token, whatever the platform or
        the transport put in their texts."""
        secrets = (account.access_token,) if account else ()
        try:
            if account is not None:
                self.authorize(account, method, kwargs)
            response = self.send(method, path, **kwargs)
            self.raise_for_response(response)
        except PlatformError as err:
            err.redact(secrets)
            raise
        return response

    def authorize(self, account: Account, method: str, kwargs: dict[str, Any]) -> None:
        """Put the account's token where the platform takes it (a header, by default a Bearer
        token). A token that cannot be decrypted is never sent: the account must be reconnected."""
        if is_undecryptable(account.access_token):
            raise TokenExpired(
                f"The {self.label} access token cannot be decrypted (was TOKEN_ENCRYPTION_KEY changed?): "
                "reconnect the account."
            )
        if not account.access_token:
            raise TokenExpired(f"The {self.label} connection has no access token: reconnect the account.")
        kwargs["headers"] = {"Authorization": f"Bearer {account.access_token}", **kwargs.get("headers", {})}

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The HTTP exchange itself, within an overall deadline: requests' read timeout bounds
        each read, so an answer dripping a byte at a time would hold the worker for the whole job
        timeout. Transport failures are TransientErrors; the request exceptions are not kept as
        their cause, since their text holds the URL (with the Graph API, the token)."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        kwargs.setdefault("timeout", settings.PLATFORM_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        seconds = settings.PLATFORM_CALL_DEADLINE_SECONDS
        deadline = time.monotonic() + seconds
        try:
            response = self.session.request(method, url, stream=True, **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise TransientError(f"{self.label} API did not accept the connection in time") from None
        except requests.exceptions.ReadTimeout:
            # The request went out; the platform may have acted on it.
            raise TransientError(
                f"{self.label} API error: network timeout waiting for the answer", maybe_sent=True
            ) from None
        except requests.exceptions.ConnectionError as err:
            sent = not _is_connect_failure(err)
            raise TransientError(
                f"{self.label} API error: connection failed ({_short(err)})", maybe_sent=sent
            ) from None
        except requests.exceptions.RequestException as err:
            raise TransientError(f"{self.label} API error: {_short(err)}", maybe_sent=True) from None
        try:
            # Read here, within the deadline, and kept where requests keeps a body it read itself
            # (``response.content``, ``.json()`` and ``.text`` then read it from memory).
            response._content = read_within(response, deadline=deadline)
        except DeadlineExceeded:
            response.close()
            raise TransientError(
                f"{self.label} API error: the answer did not finish within {seconds:g} s", maybe_sent=True
            ) from None
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as err:
            response.close()
            raise TransientError(
                f"{self.label} API error: the answer broke off ({err.__class__.__name__})", maybe_sent=True
            ) from None
        return response

    def raise_for_response(self, response: requests.Response) -> None:
        """Raise the PlatformError this response means; return None if it is a success."""
        raise NotImplementedError

    def status_error(self, response: requests.Response, message: str, *, duplicate: bool = False) -> PlatformError:
        """What an error status means on platforms whose errors follow HTTP (X, LinkedIn): 401
        token expired or revoked, 429 rate limited until ``retry_at``, 5xx transient (the
        platform may have acted), a duplicate refusal, anything else permanent."""
        status = response.status_code
        if status == 401:
            return TokenExpired(message, status_code=status)
        if status == 429:
            return RateLimited(message, retry_at=self.retry_at(response), status_code=status)
        if status >= 500:
            return TransientError(message, status_code=status, maybe_sent=True)
        if duplicate:
            return Duplicate(message, status_code=status)
        return PermanentError(message, status_code=status)

    def retry_at(self, response: requests.Response) -> datetime:
        """When a rate-limited request may be sent again, from the platform's headers."""
        raise NotImplementedError

    def json(self, response: requests.Response) -> dict:
        """Decode a success body. An unreadable one is transient, and the platform may have
        acted on the request, so the next attempt reconciles."""
        try:
            body = response.json()
        except ValueError as err:
            raise TransientError(
                f"{self.label} API error: malformed answer (HTTP {response.status_code}, not JSON): {quoted(response)}",
                status_code=response.status_code,
                maybe_sent=True,
            ) from err
        if not isinstance(body, dict):
            raise TransientError(
                f"{self.label} API error: malformed answer (expected a JSON object): {quoted(response)}",
                status_code=response.status_code,
                maybe_sent=True,
            )
        return body

    def malformed(self, response: requests.Response, what: str) -> TransientError:
        return TransientError(
            f"{self.label} API error: malformed answer, {what}: {quoted(response)}",
            status_code=response.status_code,
            maybe_sent=True,
        )


def request_secrets(request: requests.PreparedRequest | None) -> list[str]:
    """The credentials a request carried: its Authorization header's and any ``access_token``
    in its URL or form body. A body quoted from an answer is scrubbed of them: a proxy or an
    error page may echo the request."""
    if request is None:
        return []
    secrets = []
    authorization = request.headers.get("Authorization", "")
    if authorization:
        secrets.append(authorization.split(" ", 1)[-1])
    body = request.body if isinstance(request.body, str | bytes) else ""
    for text in (urlsplit(request.url or "").query, body):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        secrets.extend(value for name, value in parse_qsl(text) if name == "access_token")
    return secrets


def quoted(response: requests.Response, limit: int = 200) -> str:
    """The start of an answer's body, quoted for an error message, without the request's credentials
    (scrubbed before it is cut, so that no part of one can remain)."""
    text = response.text
    if not text:
        return "''"
    return repr(safe_text(text, secrets=request_secrets(response.request), limit=limit))


def error_body(response: requests.Response) -> dict:
    """The JSON body of an error response, or {} if it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def header_json(response: requests.Response, name: str) -> Any:
    try:
        return json.loads(response.headers.get(name, ""))
    except ValueError:
        return None


def _is_connect_failure(err: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never established, so nothing was sent."""
    text = repr(err)
    return bool(re.search(r"NewConnectionError|Connection refused|Name or service not known|NameResolution", text))


def _short(err: Exception) -> str:
    # Scrubbed before it is cut: requests' texts hold the URL, with the Graph API the token.
    return safe_text(scrub(str(err)), limit=200)


class _ScrubURLs(logging.Filter):
    """urllib3 logs every request's URL at DEBUG ('"GET /v21.0/1/feed?access_token=… HTTP/1.1" 200'):
    with the Graph API that is the token. Its records are scrubbed before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_ScrubURLs())
