"""The base of the clients that connect accounts and renew their tokens, on Authlib's requests
client (``OAuth2Session``: the authorization URL with PKCE, the code exchange, the refresh): each
platform's ``client.py`` (connections/platforms/<name>/) holds only what differs.

The contract, as healthchecks' transports state theirs: every method returns what the platform
granted (connections.grants), or raises :class:`OAuthFailure`, whose one flag says whether the
grant itself is dead (the person must connect the account again) or the failure may pass (retry
with backoff). No message of it, no log line, carries a token, a code, a client secret or a URL
holding them.

Every call, Authlib's to the token endpoint included, is :meth:`OAuthClient.fetch`: its whole
answer read within PLATFORM_CALL_DEADLINE_SECONDS and MAX_ANSWER_BYTES, as the adapters read
theirs. requests' read timeout bounds each read only: a server dripping a byte at a time would
hold the web request, or the worker and the connection's row lock during a refresh, for as long
as it liked, and a huge answer would be read whole into memory.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, ClassVar

import requests
import urllib3
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.utils import timezone

from connections.grants import AccountChoice, Grant, lifetime_end, normalize_scopes
from connections.platforms.config import value_of
from connections.platforms.declaration import Declaration
from connections.platforms.reading import BodyTooLarge, DeadlineExceeded, read_within
from planrrr.http import PlatformSession
from planrrr.text import safe_text, time_from_retry_after
from planrrr.urlsafety import UnsafeURL

# The most of one answer read: tokens, profiles and a page of 100 Facebook pages with their tokens
# are a few kB to some tens of kB; anything near this is not an answer to what we asked.
MAX_ANSWER_BYTES = 1024 * 1024


class OAuthFailure(Exception):
    """A classified OAuth failure. ``grant_dead``: the platform said the grant itself is over
    (revoked, expired, a spent refresh token): only a new consent helps. Otherwise it may pass
    (timeouts, 5xx, 429, our app's configuration): try again at ``retry_at`` or with backoff."""

    def __init__(
        self,
        message: str,
        *,
        grant_dead: bool = False,
        retry_at: datetime | None = None,
        status_code: int | None = None,
        secrets: tuple[str | None, ...] = (),
    ):
        message = safe_text(message, secrets=secrets)
        super().__init__(message)
        self.message = message
        self.grant_dead = grant_dead
        self.retry_at = retry_at
        self.status_code = status_code


class NotConfigured(OAuthFailure):
    """The platform's app is not configured (client id or secret unset)."""


class OAuthClient:
    """One platform's OAuth app. Subclasses name their platform's ``declaration`` (its name,
    label and the variables naming the app: ``client_id``, ``client_secret``, ``oauth_url``,
    ``api_url``), say the endpoints and scopes, and override ``classify`` for the platform's error
    quirks and ``accounts`` for who may be connected with a grant."""

    declaration: ClassVar[Declaration]
    platform: ClassVar[str]
    label: ClassVar[str]
    # How the app proves itself at the token endpoint (Authlib's names).
    token_auth_method: ClassVar[str] = "client_secret_basic"
    token_method: ClassVar[str] = "POST"
    pkce: ClassVar[bool] = False
    scope_separator: ClassVar[str] = " "
    # The OAuth error codes that mean the grant is dead (RFC 6749 section 5.2: invalid_grant).
    dead_grant_errors: ClassVar[frozenset[str]] = frozenset({"invalid_grant"})
    # True when a connect may offer several accounts to pick from (pages, organizations).
    picks_accounts: ClassVar[bool] = False
    # How the connect page connects an account: "oauth" (a button to the consent page),
    # "instance" (OAuth on a server the person names) or "app_password" (a form, no redirect).
    connect_form: ClassVar[str] = "oauth"
    # What every call goes through (see HttpAdapter.session_class).
    session_class: ClassVar[type[requests.Session]] = PlatformSession

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "declaration" in cls.__dict__:
            cls.platform, cls.label = cls.declaration.name, cls.declaration.label

    def __init__(self, session: requests.Session | None = None):
        self.http = session or self.session_class()

    # --- configuration -------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        setting = self.declaration.client_id
        return str(value_of(setting)) if setting else ""

    @property
    def client_secret(self) -> str:
        setting = self.declaration.client_secret
        return str(value_of(setting)) if setting else ""

    @property
    def app_settings(self) -> str:
        """The variables naming the app, for messages: "X_CLIENT_ID and X_CLIENT_SECRET"."""
        named = (self.declaration.client_id, self.declaration.client_secret)
        return " and ".join(setting.name for setting in named if setting)

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def not_configured_message(self) -> str:
        return f"not configured: set {self.app_settings}"

    @property
    def api_url(self) -> str:
        """The platform's API base (``Declaration.api_url``), without a trailing slash."""
        return str(value_of(self.declaration.api_url)).rstrip("/")

    @property
    def oauth_url(self) -> str:
        """Where the platform's consent pages live (``Declaration.oauth_url``)."""
        return str(value_of(self.declaration.oauth_url)).rstrip("/")

    @property
    def scopes(self) -> list[str]:
        raise NotImplementedError

    def authorize_endpoint(self) -> str:
        raise NotImplementedError

    def token_endpoint(self) -> str:
        raise NotImplementedError

    @property
    def refreshable(self) -> bool:
        """True when the platform renews tokens with a refresh token."""
        return True

    # --- the flow ------------------------------------------------------------------------
    def session(self, *, redirect_uri: str | None = None, scoped: bool = False, what: str = "") -> OAuth2Session:
        """Authlib's session for this app, sending through ``fetch`` (``what``: the call's words
        for its errors). ``scoped`` only for the authorization URL: Authlib would add the scopes
        to a refresh too, which RFC 6749 section 6 allows but no platform here needs (the grant
        keeps its scopes)."""
        if not self.configured:
            raise NotConfigured(f"{self.label} is {self.not_configured_message}.")
        session = FetchingOAuth2Session(
            client=self,
            what=what,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.token_auth_method,
            scope=self.scope_separator.join(self.scopes) if scoped else None,
            redirect_uri=redirect_uri,
            code_challenge_method="S256" if self.pkce else None,
        )
        # Classify every error answer here, before Authlib reads it as a token or raises its own
        # untyped error: a 429 or 5xx must never be taken for a dead grant.
        session.register_compliance_hook("access_token_response", self._checked)
        session.register_compliance_hook("refresh_token_response", self._checked)
        return session

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str | None) -> str:
        """Where to send the person to consent."""
        with self.session(redirect_uri=redirect_uri, scoped=True) as oauth:
            url, _ = oauth.create_authorization_url(
                self.authorize_endpoint(), state=state, code_verifier=code_verifier if self.pkce else None
            )
        return url

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """The grant for an authorization code."""
        extra = {"code_verifier": code_verifier} if self.pkce and code_verifier else {}
        token = self._call(
            "exchange the authorization code",
            lambda oauth: oauth.fetch_token(
                self.token_endpoint(),
                method=self.token_method,
                code=code,
                allow_redirects=False,
                **extra,
                **self.token_params(),
            ),
            redirect_uri=redirect_uri,
            secrets=(code, code_verifier),
        )
        return self.grant_from(token)

    def refresh(self, *, refresh_token: str) -> Grant:
        """A new grant for a refresh token. The answer's refresh token is empty when the
        platform sent none: the caller keeps the one it has."""
        token = self._call(
            "refresh the token",
            lambda oauth: oauth.refresh_token(
                self.token_endpoint(), refresh_token=refresh_token, allow_redirects=False, **self.token_params()
            ),
            secrets=(refresh_token,),
        )
        # When the answer has no refresh token, Authlib puts back the one sent: the same value,
        # so storing it again changes nothing (LinkedIn, which does not rotate).
        return self.grant_from(token)

    def refresh_connection(self, connection) -> Grant:
        """A new grant for a stored connection (``connection_refresh`` calls this under the row
        lock): by default its refresh token at the platform's token endpoint."""
        return self.refresh(refresh_token=connection.refresh_token)

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The accounts this grant may connect (at least one, or OAuthFailure)."""
        raise NotImplementedError

    def token_params(self) -> dict[str, str]:
        """Extra form fields for the token endpoint."""
        return {}

    def grant_from(self, token: dict) -> Grant:
        access = token.get("access_token") or ""
        if not access:
            raise OAuthFailure(f"{self.label} answered without an access token.")
        now = timezone.now()
        return Grant(
            access_token=access,
            refresh_token=token.get("refresh_token") or "",
            expires_at=lifetime_end(token.get("expires_in"), now=now),
            refresh_expires_at=lifetime_end(token.get("refresh_token_expires_in"), now=now),
            scopes=normalize_scopes(token.get("scope", "")),
        )

    # --- HTTP and errors -----------------------------------------------------------------
    def _call(self, what: str, call, *, redirect_uri: str | None = None, secrets: tuple = ()) -> dict:
        secrets = (*secrets, self.client_secret)
        try:
            with self.session(redirect_uri=redirect_uri, what=what) as oauth:
                return call(oauth)
        except OAuthFailure as err:
            # The transport's failures too (``fetch``), and the error answers (``_checked``).
            err.message = safe_text(err.message, secrets=secrets)
            err.args = (err.message,)
            raise
        except AuthlibBaseError as err:
            # An error in a 2xx answer, which Authlib raises itself.
            code = str(getattr(err, "error", "") or "")
            raise OAuthFailure(
                f"{self.label} refused to {what} ({code}: {getattr(err, 'description', '') or ''}).",
                grant_dead=code in self.dead_grant_errors,
                secrets=secrets,
            ) from None
        except ValueError:
            raise OAuthFailure(f"{self.label} gave an unreadable answer when asked to {what}.") from None

    def _checked(self, response: requests.Response) -> requests.Response:
        self.raise_for_response(response)
        return response

    def raise_for_response(self, response: requests.Response) -> None:
        """Raise the OAuthFailure an answer means; return None for a success."""
        if response.status_code < 400:
            return
        raise self.classify(response)

    def classify(self, response: requests.Response) -> OAuthFailure:
        """What an error answer means. 429 and 5xx may pass; an OAuth error in
        ``dead_grant_errors`` kills the grant; anything else (invalid_client: our app's
        credentials) is not the person's grant, so it is retried rather than disconnecting
        them, and its message says what to check."""
        status = response.status_code
        code, description = self.error_of(response)
        words = f"{code}: {description}" if code and description else (code or description or f"HTTP {status}")
        if status == 429:
            return OAuthFailure(
                f"{self.label} rate limited the request ({words}).",
                retry_at=self.retry_at(response),
                status_code=status,
            )
        if status >= 500:
            return OAuthFailure(f"{self.label} failed with HTTP {status} ({words}).", status_code=status)
        if code in self.dead_grant_errors:
            return OAuthFailure(
                f"{self.label} refused the grant ({words}): reconnect the account.", grant_dead=True, status_code=status
            )
        if code in ("invalid_client", "unauthorized_client"):
            return OAuthFailure(
                f"{self.label} refused planrrr's app credentials ({words}): check {self.app_settings}.",
                status_code=status,
            )
        return OAuthFailure(f"{self.label} refused the request (HTTP {status}, {words}).", status_code=status)

    def error_of(self, response: requests.Response) -> tuple[str, str]:
        """The OAuth error code and description of an answer (RFC 6749 section 5.2)."""
        try:
            body = response.json()
        except ValueError:
            return "", response.text[:200]
        if not isinstance(body, dict):
            return "", ""
        return str(body.get("error") or ""), str(body.get("error_description") or body.get("message") or "")

    def retry_at(self, response: requests.Response) -> datetime | None:
        return time_from_retry_after(response.headers.get("Retry-After"), what=f"{self.label} token endpoint")

    def get(self, url: str, *, token: str, what: str, **kwargs: Any) -> dict:
        """GET a JSON resource with the granted token; errors classified, secrets kept out."""
        return self.request_json("GET", url, what=f"read {what}", secrets=(token,), **kwargs)

    def request_json(self, method: str, url: str, *, what: str, secrets: tuple = (), **kwargs: Any) -> dict:
        """One call whose answer is a JSON object; anything else an OAuthFailure saying what was
        asked (``what``: "read your Facebook pages", "create a session"), with the platform's
        classification (``classify``) and no secret in its text."""
        secrets = (*secrets, self.client_secret)
        response = self.fetch(method, url, what=what, secrets=secrets, **kwargs)
        if response.status_code >= 400:
            err = self.classify(response)
            raise OAuthFailure(
                f"Could not {what}: {err.message}",
                grant_dead=err.grant_dead,
                retry_at=err.retry_at,
                status_code=err.status_code,
                secrets=secrets,
            )
        try:
            body = response.json()
        except ValueError:
            raise OAuthFailure(f"{self.label} gave an unreadable answer when asked to {what}.") from None
        if not isinstance(body, dict):
            raise OAuthFailure(f"{self.label} gave an unexpected answer when asked to {what}.")
        return body

    def fetch(self, method: str, url: str, *, what: str, secrets: tuple = (), **kwargs: Any) -> requests.Response:
        """One HTTP exchange through ``self.http``, never following redirects, its whole answer
        read by PLATFORM_CALL_DEADLINE_SECONDS (``read_within``, as the adapters' ``send``) and
        within MAX_ANSWER_BYTES; returns the response, body in memory, whatever its status. A
        failure of the transport, an answer too slow or too large, is an OAuthFailure saying what
        was asked that may pass (not ``grant_dead``: the connection stays ACTIVE and is retried).

        The deadline is the adapters' own: a token or profile answer takes well under a second,
        so it only ever cuts a server that is broken or hostile, and one setting bounds every
        call a worker makes. The request exceptions are not kept as the cause: their texts hold
        the URL, and Graph's holds the app secret."""
        kwargs.setdefault("timeout", settings.PLATFORM_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        seconds = settings.PLATFORM_CALL_DEADLINE_SECONDS
        deadline = time.monotonic() + seconds
        try:
            response = self.http.request(method, url, stream=True, **kwargs)
        except UnsafeURL as err:
            # Only a pinned session (a Mastodon instance, a Bluesky PDS) checks the address.
            if err.permanent:
                raise OAuthFailure(f"{self.label} cannot be asked to {what}: {err}", secrets=secrets) from None
            raise OAuthFailure(f"{self.label} could not be reached to {what}: {err}", secrets=secrets) from None
        except requests.exceptions.Timeout:
            raise OAuthFailure(f"{self.label} did not answer in time when asked to {what}.") from None
        except requests.exceptions.RequestException as err:
            raise OAuthFailure(f"{self.label} could not be reached to {what} ({err.__class__.__name__}).") from None
        try:
            response._content = read_within(response, deadline=deadline, limit=MAX_ANSWER_BYTES)
        except DeadlineExceeded:
            response.close()
            raise OAuthFailure(
                f"{self.label} was too slow when asked to {what}: its answer did not finish within {seconds:g} s."
            ) from None
        except BodyTooLarge:
            response.close()
            raise OAuthFailure(
                f"{self.label} answered too much when asked to {what}: more than {MAX_ANSWER_BYTES:,} bytes."
            ) from None
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as err:
            response.close()
            raise OAuthFailure(
                f"{self.label} broke off its answer when asked to {what} ({err.__class__.__name__})."
            ) from None
        return response


class FetchingOAuth2Session(OAuth2Session):
    """Authlib's session (``fetch_token``, ``refresh_token``), every request of which is its
    client's :meth:`OAuthClient.fetch`: through the client's session (one without cookies, and for
    a Mastodon instance pinned to the checked address), within the deadline and size limit of
    every other call. Authlib's own ``request`` sends through this Session itself and reads the
    answer whole with only requests' per-read timeout."""

    def __init__(self, *, client: OAuthClient, what: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.client = client
        self.what = what

    def request(self, method, url, withhold_token=False, auth=None, **kwargs):
        # Authlib calls this for the token endpoint only, with the app's authentication as
        # ``auth``; no session here holds a token of its own to add (``withhold_token``).
        return self.client.fetch(method, url, what=self.what, auth=auth, **kwargs)
