"""OAuth 2.0 clients that connect accounts and renew their tokens: one class per platform, all on
Authlib's requests client (``OAuth2Session``: the authorization URL with PKCE, the code exchange,
the refresh), one small class per platform holding only what differs.

The contract, as healthchecks' transports state theirs: every method returns what the platform
granted, or raises :class:`OAuthFailure`, whose one flag says whether the grant itself is dead
(the person must connect the account again) or the failure may pass (retry with backoff). No
message of it, no log line, carries a token, a code, a client secret or a URL holding them.

Every call, Authlib's to the token endpoint included, is :meth:`OAuthClient.fetch`: its whole
answer read within PLATFORM_CALL_DEADLINE_SECONDS and MAX_ANSWER_BYTES, as the adapters read
theirs. requests' read timeout bounds each read only: a server dripping a byte at a time would
hold the web request, or the worker and the connection's row lock during a refresh, for as long
as it liked, and a huge answer would be read whole into memory.

Instagram has no client of its own: its business accounts are connected through the Facebook
app, as the accounts linked to the pages a person picks.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import requests
import urllib3
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import BodyTooLarge, DeadlineExceeded, read_within
from planrrr.http import PlatformSession
from planrrr.text import safe_text, time_from_epoch, time_from_retry_after, wait_from_seconds
from planrrr.urlsafety import UnsafeURL

logger = logging.getLogger("planrrr.connections.oauth")

# A lifetime beyond this is not believed (a garbled expires_in must not overflow a datetime).
MAX_LIFETIME = timedelta(days=3650)
# Pages of a listing read at most (Facebook pages); more would be a loop, not a person's pages.
MAX_LISTING_PAGES = 20
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


@dataclass
class Grant:
    """What a token endpoint granted, with lifetimes turned into times."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: str = ""
    # The account's own server (Mastodon instance, Bluesky PDS); "" for the others.
    base_url: str = ""
    # Bluesky: the app password the session was created with (see Connection.app_password).
    app_password: str = field(default="", repr=False)


@dataclass
class AccountChoice:
    """An account the person may connect with this grant: the X user, a Facebook page, the
    Instagram account linked to a page, the LinkedIn member or an organization they administer."""

    platform: str
    account_id: str
    name: str
    grant: Grant = field(repr=False)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account_id}"


def lifetime_end(value: Any, *, now: datetime) -> datetime | None:
    """``now`` plus a lifetime in seconds from a token answer; None if absent or not usable
    (0 means "no expiry" in some Graph answers)."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return now + min(timedelta(seconds=seconds), MAX_LIFETIME)


def normalize_scopes(value: Any) -> str:
    """Scopes as granted, space-separated (LinkedIn answers them comma-separated)."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return " ".join(part for part in re.split(r"[\s,]+", str(value or "")) if part)


class OAuthClient:
    """One platform's OAuth app. Subclasses declare the platform, the settings naming the app,
    the endpoints and scopes, and override ``classify`` for the platform's error quirks and
    ``accounts`` for who may be connected with a grant."""

    platform: ClassVar[str]
    label: ClassVar[str]
    client_id_setting: ClassVar[str]
    client_secret_setting: ClassVar[str]
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

    def __init__(self, session: requests.Session | None = None):
        self.http = session or self.session_class()

    # --- configuration -------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return getattr(settings, self.client_id_setting, "")

    @property
    def client_secret(self) -> str:
        return getattr(settings, self.client_secret_setting, "")

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def not_configured_message(self) -> str:
        return f"not configured: set {self.client_id_setting} and {self.client_secret_setting}"

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
                f"{self.label} refused planrrr's app credentials ({words}): check {self.client_id_setting} "
                f"and {self.client_secret_setting}.",
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


class XClient(OAuthClient):
    """X: OAuth 2.0 authorization code with PKCE (S256), a confidential client (Basic auth).

    Refresh: ``POST {TWITTER_API_URL}/2/oauth2/token`` with ``grant_type=refresh_token``; the
    access token lives 2 hours and every refresh answers a new refresh token (rotation): the
    one sent is spent, and reusing it answers 400 ``invalid_request`` ("Value passed for the
    token was invalid."), which is X's way of saying the grant is dead. A refresh token is
    issued only with the ``offline.access`` scope.
    https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/user-access-token
    """

    platform = "TWITTER"
    label = "X"
    client_id_setting = "X_CLIENT_ID"
    client_secret_setting = "X_CLIENT_SECRET"
    pkce = True
    # X answers a spent or revoked refresh token with invalid_request, not invalid_grant
    # (docs/platforms/x.md, "Limits and tokens"); on the token endpoint nothing else we send can be
    # malformed, so it is read as the grant's end.
    dead_grant_errors = frozenset({"invalid_grant", "invalid_request"})

    @property
    def scopes(self) -> list[str]:
        return ["tweet.read", "tweet.write", "users.read", "offline.access", "media.write"]

    def authorize_endpoint(self) -> str:
        return f"{settings.X_OAUTH_URL.rstrip('/')}/i/oauth2/authorize"

    def token_endpoint(self) -> str:
        return f"{settings.TWITTER_API_URL.rstrip('/')}/2/oauth2/token"

    def token_params(self) -> dict[str, str]:
        # X's examples send client_id in the form as well as in the Basic header.
        return {"client_id": self.client_id}

    def retry_at(self, response: requests.Response) -> datetime | None:
        return time_from_epoch(response.headers.get("x-rate-limit-reset"), what="X token endpoint") or super().retry_at(
            response
        )

    def error_of(self, response: requests.Response) -> tuple[str, str]:
        code, description = super().error_of(response)
        if not code:
            # The v2 API's problem+json (a 401 without Basic auth, for one).
            try:
                body = response.json()
                description = str(body.get("detail") or body.get("title") or description)
            except (ValueError, AttributeError):
                pass
        return code, description

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        body = self.get(
            f"{settings.TWITTER_API_URL.rstrip('/')}/2/users/me",
            token=grant.access_token,
            what="the X account",
            headers={"Authorization": f"Bearer {grant.access_token}"},
        )
        user = body.get("data") or {}
        if not user.get("id"):
            raise OAuthFailure("X did not say which account was connected.")
        name = f"@{user['username']}" if user.get("username") else str(user.get("name") or user["id"])
        return [AccountChoice("TWITTER", str(user["id"]), name, grant)]


class FacebookClient(OAuthClient):
    """Facebook Login for Pages (and the Instagram business accounts linked to them).

    No refresh: the code is exchanged for a short-lived user token, which is exchanged at once
    (``grant_type=fb_exchange_token``) for a long-lived one of about 60 days; Facebook issues
    no refresh token. The tokens stored are the pages' own, read with the long-lived user
    token from ``/me/accounts``: those carry no expiry until the person revokes the app or
    changes their password, so a page connection usually has no ``expires_at``.
    https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
    """

    platform = "FACEBOOK"
    label = "Facebook"
    client_id_setting = "FACEBOOK_APP_ID"
    client_secret_setting = "FACEBOOK_APP_SECRET"
    # Graph takes the app's id and secret as query parameters of a GET.
    token_auth_method = "none"
    token_method = "GET"
    scope_separator = ","
    picks_accounts = True

    # Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling):
    # "190: Invalid OAuth 2.0 Access Token" (expired, revoked, password changed) ends the grant;
    # 4, 17, 32, 613 and 80001 are rate limits.
    GRAPH_DEAD = frozenset({190})
    GRAPH_RATE_LIMITED = frozenset({4, 17, 32, 613, 80001})

    @property
    def refreshable(self) -> bool:
        return False

    @property
    def scopes(self) -> list[str]:
        return [
            "pages_show_list",
            "pages_manage_posts",
            "pages_manage_engagement",
            "pages_read_engagement",
            "business_management",
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_comments",
        ]

    def graph(self, path: str) -> str:
        return f"{settings.FACEBOOK_API_URL.rstrip('/')}/{settings.GRAPH_API_VERSION}{path}"

    def authorize_endpoint(self) -> str:
        return f"{settings.FACEBOOK_OAUTH_URL.rstrip('/')}/{settings.GRAPH_API_VERSION}/dialog/oauth"

    def token_endpoint(self) -> str:
        return self.graph("/oauth/access_token")

    def token_params(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """The long-lived user token for an authorization code (two calls)."""
        short = super().exchange(code=code, redirect_uri=redirect_uri, code_verifier=None)
        token = self._call(
            "exchange for a long-lived token",
            lambda oauth: oauth.fetch_token(
                self.token_endpoint(),
                method="GET",
                grant_type="fb_exchange_token",
                fb_exchange_token=short.access_token,
                allow_redirects=False,
                **self.token_params(),
            ),
            secrets=(short.access_token,),
        )
        return self.grant_from(token)

    def refresh(self, *, refresh_token: str) -> Grant:
        raise OAuthFailure("Facebook issues no refresh token: reconnect the account to renew it.", grant_dead=True)

    def classify(self, response: requests.Response) -> OAuthFailure:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            return super().classify(response)
        code = error.get("code")
        words = f"{error.get('message', '')} (code {code})"
        if code in self.GRAPH_DEAD:
            return OAuthFailure(f"Facebook refused the token: {words}; reconnect the account.", grant_dead=True)
        if code in self.GRAPH_RATE_LIMITED or response.status_code >= 500:
            return OAuthFailure(f"Facebook asked to slow down or failed: {words}.", retry_at=self._backoff())
        return OAuthFailure(f"Facebook refused the request: {words}.", status_code=response.status_code)

    def _backoff(self) -> datetime | None:
        # Graph's rate-limit errors carry no reset time.
        return wait_from_seconds(settings.GRAPH_RATE_LIMIT_BACKOFF_SECONDS, what="Facebook")

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The pages the person manages, each with its own token, and the Instagram business
        account linked to each (connected with that page's token)."""
        choices: list[AccountChoice] = []
        url: str | None = self.graph("/me/accounts")
        params: dict | None = {
            "fields": "id,name,access_token,instagram_business_account",
            "access_token": grant.access_token,
            "limit": 100,
        }
        for _ in range(MAX_LISTING_PAGES):
            if not url:
                break
            body = self.get(url, token=grant.access_token, what="your Facebook pages", params=params)
            for page in body.get("data") or []:
                if not isinstance(page, dict) or not page.get("id") or not page.get("access_token"):
                    continue
                # Page tokens read with a long-lived user token do not expire (see the docstring).
                page_grant = Grant(access_token=page["access_token"], scopes=grant.scopes)
                name = str(page.get("name") or page["id"])
                choices.append(AccountChoice("FACEBOOK", str(page["id"]), name, page_grant))
                ig = page.get("instagram_business_account")
                if isinstance(ig, dict) and ig.get("id"):
                    choices.append(
                        AccountChoice(
                            "INSTAGRAM", str(ig["id"]), f"{name} (Instagram)", page_grant, note=f"linked to page {name}"
                        )
                    )
            # paging.next is the whole next URL, token included; it is never logged or shown.
            url = (body.get("paging") or {}).get("next")
            params = None
        if not choices:
            raise OAuthFailure("This Facebook account manages no page that planrrr may publish to.")
        return choices


class LinkedInClient(OAuthClient):
    """LinkedIn: OAuth 2.0 authorization code (3-legged), the secret in the form.

    Refresh: only for apps LinkedIn approved for programmatic refresh tokens. The access token
    lives 60 days, the refresh token 365 days from the first consent and is **not** extended by
    refreshing (an answer may repeat it or omit it: the stored one is kept); at its end, or if
    revoked, LinkedIn answers 400 ``invalid_grant`` and the member must consent again. Apps
    without refresh get no refresh token: such a connection is announced before it expires.
    https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
    """

    platform = "LINKEDIN"
    label = "LinkedIn"
    client_id_setting = "LINKEDIN_CLIENT_ID"
    client_secret_setting = "LINKEDIN_CLIENT_SECRET"
    token_auth_method = "client_secret_post"
    picks_accounts = True

    @property
    def scopes(self) -> list[str]:
        return settings.LINKEDIN_SCOPES.split()

    def authorize_endpoint(self) -> str:
        return f"{settings.LINKEDIN_OAUTH_URL.rstrip('/')}/oauth/v2/authorization"

    def token_endpoint(self) -> str:
        return f"{settings.LINKEDIN_OAUTH_URL.rstrip('/')}/oauth/v2/accessToken"

    def accounts(self, grant: Grant) -> list[AccountChoice]:
        """The member (``urn:li:person:{sub}`` from OpenID userinfo) and the organizations they
        administer (approved ADMINISTRATOR role assignments)."""
        api = settings.LINKEDIN_API_URL.rstrip("/")
        bearer = {"Authorization": f"Bearer {grant.access_token}"}
        me = self.get(f"{api}/v2/userinfo", token=grant.access_token, what="your LinkedIn profile", headers=bearer)
        if not me.get("sub"):
            raise OAuthFailure("LinkedIn did not say which member consented.")
        choices = [AccountChoice("LINKEDIN", f"urn:li:person:{me['sub']}", str(me.get("name") or me["sub"]), grant)]
        try:
            acls = self.get(
                f"{api}/rest/organizationAcls",
                token=grant.access_token,
                what="the organizations you administer",
                params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
                headers={
                    **bearer,
                    "LinkedIn-Version": settings.LINKEDIN_API_VERSION,
                    "X-Restli-Protocol-Version": "2.0.0",
                },
            )
        except OAuthFailure as err:
            # Without the organization scopes (an app not approved for the Community Management
            # API) the member can still be connected.
            logger.info("LinkedIn organizations not listed: %s", err.message)
            return choices
        for element in acls.get("elements") or []:
            urn = element.get("organization") if isinstance(element, dict) else None
            if urn and isinstance(urn, str):
                choices.append(
                    AccountChoice("LINKEDIN", urn, f"Organization {urn.rsplit(':', 1)[-1]}", grant, note="organization")
                )
        return choices
