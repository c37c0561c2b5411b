"""What Facebook Pages and Instagram share: Meta's Graph API host, error envelope and usage headers.

Errors (https://developers.facebook.com/docs/graph-api/guides/error-handling) come as
``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``,
usually with HTTP 400 whatever the cause, so we branch on ``error.code``, not on the status.

Usage headers (https://developers.facebook.com/docs/graph-api/overview/rate-limiting) say how
close the app, page or business use case is to its limit, in percent, before the platform
refuses: ``X-App-Usage: {"call_count": 28, "total_cputime": 25, "total_time": 25}``, the
same for ``X-Page-Usage``, and ``X-Business-Use-Case-Usage: {"<id>": [{"type": "pages",
"call_count": 100, ..., "estimated_time_to_regain_access": 19}]}`` (minutes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import (
    Account,
    Draft,
    Duplicate,
    PermanentError,
    PlatformError,
    RateLimited,
    TokenExpired,
    TransientError,
    parse_time,
)
from connections.platforms.config import value_of
from connections.platforms.figures import ListedPost
from connections.platforms.http import error_body, header_json, quoted
from connections.platforms.meta import GRAPH_API_VERSION, GRAPH_RATE_LIMIT_BACKOFF_SECONDS
from planrrr.text import MAX_WAIT, wait_from_seconds

# 4 app, 17 user, 32 page, 613 custom-level throttling; 80000-80014 business use case limits
# (80001 pages, 80002 Instagram).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# 190 "Error validating access token: Session has expired ..." (subcodes 458, 459, 460, 463,
# 467: app removed, checkpoint, password changed, expired, invalid); 102 "Session key invalid".
TOKEN_CODES = frozenset({190, 102})
# 506 "Duplicate status message", 368 "The action attempted has been deemed abusive or is
# otherwise disallowed", 100 "Invalid parameter": the same request will never succeed.
PERMANENT_CODES = frozenset({506, 368, 100})
# 1 "An unknown error occurred", 2 "Service temporarily unavailable".
TRANSIENT_CODES = frozenset({1, 2})

USAGE_HEADERS = ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage")
# What of a Graph edge's next page is kept as the backfill's cursor (stored on the channel's row):
# the cursor-based ``after`` and the time-based ``until`` and ``__paging_token``, never the rest of
# ``paging.next``, whose query carries the access token
# (https://developers.facebook.com/docs/graph-api/results).
PAGING_KEYS = ("after", "until", "__paging_token")
USAGE_PERCENT_KEYS = ("call_count", "total_cputime", "total_time")
# From this percentage of any limit on, we slow down before the platform refuses.
SLOW_DOWN_PERCENT = 90


class GraphErrorMixin:
    """Error classification and usage headers for Graph API adapters (Facebook, Instagram).

    Put before HttpAdapter in the bases. A platform with codes of its own overrides
    ``graph_error`` and defers to it for the rest.
    """

    label: ClassVar[str]

    @property
    def base_url(self) -> str:
        return f"{super().base_url}/{value_of(GRAPH_API_VERSION)}"

    def authorize(self, account: Account, method: str, kwargs: dict[str, Any]) -> None:
        """The token as the ``access_token`` field, as facebook-sdk sends it: in the form body of a
        POST, so that it is in no URL, and in the query of a GET, which has no body. Either way
        HttpAdapter.request keeps it out of every error and urllib3's URL log lines."""
        super().authorize(account, method, {})  # refuses a token that cannot be decrypted
        where = "data" if method.upper() == "POST" else "params"
        kwargs[where] = {**(kwargs.get(where) or {}), "access_token": account.access_token}

    def raise_for_response(self, response: requests.Response) -> None:
        if response.ok:
            return
        error = error_body(response).get("error")
        raise self.graph_error(response, error if isinstance(error, dict) else {})

    def graph_error(self, response: requests.Response, error: dict) -> PlatformError:
        """The PlatformError a Graph error envelope means."""
        status = response.status_code
        code = _int(error.get("code"))
        if code is None:
            # No envelope: a proxy or load balancer answered, not the Graph API.
            message = f"{self.label} API error (HTTP {status}): {quoted(response)}"
            if status == 429:
                return RateLimited(message, retry_at=self.graph_retry_at(response), status_code=status)
            if status >= 500:
                return TransientError(message, status_code=status, maybe_sent=True)
            return PermanentError(message, status_code=status)

        message = self.graph_message(error)
        if code in RATE_LIMIT_CODES:
            return RateLimited(message, retry_at=self.graph_retry_at(response), status_code=status)
        if code in TOKEN_CODES:
            return TokenExpired(message, status_code=status)
        if code == 506:
            return Duplicate(message, status_code=status)
        if code in PERMANENT_CODES:
            return PermanentError(message, status_code=status)
        if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
            # The platform may have acted before failing: the next attempt reconciles first.
            return TransientError(message, status_code=status, maybe_sent=True)
        return PermanentError(message, status_code=status)

    def graph_message(self, error: dict) -> str:
        """``Facebook API error (code 506): Duplicate status message``, with the subcode and the
        message meant for people (``error_user_msg``) when the platform gives them."""
        code, subcode = error.get("code"), error.get("error_subcode")
        where = f"code {code}, subcode {subcode}" if subcode else f"code {code}"
        text = str(error.get("message") or "no message")
        user_message = error.get("error_user_msg")
        if user_message and user_message != text:
            text = f"{text} ({user_message})"
        return f"{self.label} API error ({where}): {text}"

    # How the comments edge names a comment's text: Facebook "message", Instagram "text".
    comment_text_field: ClassVar[str] = "message"

    def comment(self, account: Account, draft: Draft) -> str:
        """``POST /{post-id}/comments`` (Facebook) or ``/{ig-media-id}/comments`` (Instagram)
        ``message`` -> ``{"id": "<comment id>"}``
        (https://developers.facebook.com/docs/graph-api/reference/object/comments,
        https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments)."""
        response = self.request("POST", f"/{draft.reply_to}/comments", account=account, data={"message": draft.text})
        comment_id = self.json(response).get("id")
        if not comment_id:
            raise self.malformed(response, "no comment id")
        return str(comment_id)

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        # GET /{id}/comments -> {"data": [{"id", "message" | "text", "created_time" | "timestamp"}]}
        params = {"fields": f"id,{self.comment_text_field}", "limit": 100}
        for comments in self.graph_pages(account, f"/{draft.reply_to}/comments", params):
            for item in comments:
                if isinstance(item, dict) and item.get(self.comment_text_field) == draft.text and item.get("id"):
                    return str(item["id"])
        return None

    def graph_listing(
        self, account: Account, path: str, params: dict, cursor: str | None
    ) -> tuple[list, str | None, requests.Response]:
        """One page of a Graph edge, from ``cursor`` (the paging fields ``next_cursor`` kept; None:
        the first page): its ``data``, the cursor of the next page (None: the last) and the answer."""
        query = dict(params)
        if cursor:
            query.update((key, value) for key, value in parse_qsl(cursor) if key in PAGING_KEYS)
        response = self.request("GET", path, account=account, params=query)
        body = self.json(response)
        data = body.get("data")
        if not isinstance(data, list):
            raise self.malformed(response, "no data list")
        return data, next_cursor(body), response

    def graph_listed_posts(
        self,
        account: Account,
        path: str,
        params: dict,
        cursor: str | None,
        *,
        since: datetime,
        fields: tuple[str, str, str],
        skip: Callable[[dict], bool] = lambda item: False,
        aliases: Callable[[dict], tuple[str, ...]] = lambda item: (),
    ) -> tuple[list[ListedPost], str | None]:
        """One page of an account's posts from a Graph edge listed newest first (the backfill's
        ``recent_posts``): ``fields`` names the item's time, text and link; ``skip`` leaves out what
        is not the account's own post. The first post older than ``since`` ends the listing."""
        time_field, text_field, url_field = fields
        items, following, _ = self.graph_listing(account, path, params, cursor)
        listed, past = [], False
        for item in items:
            created = parse_time(item.get(time_field)) if isinstance(item, dict) else None
            if created is None or not item.get("id") or skip(item):
                continue
            if created < since:
                past = True
                continue
            text, url = str(item.get(text_field) or "")[:300], str(item.get(url_field) or "")[:500]
            listed.append(ListedPost(str(item["id"]), created, text, url, aliases=aliases(item)))
        return listed, (None if past else following)

    def graph_pages(self, account: Account, path: str, params: dict) -> Iterator[list]:
        """The ``data`` of each page of a Graph edge, newest first, following ``paging.cursors.after``
        while the platform says there is a next page, for at most RECONCILE_MAX_PAGES pages."""
        params = dict(params)
        for _ in range(settings.RECONCILE_MAX_PAGES):
            response = self.request("GET", path, account=account, params=params)
            body = self.json(response)
            data = body.get("data")
            if not isinstance(data, list):
                raise self.malformed(response, "no data list")
            yield data
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            if not paging.get("next") or not cursors.get("after"):
                return
            params["after"] = cursors["after"]

    def graph_retry_at(self, response: requests.Response) -> datetime:
        """Graph rate-limit errors carry no reset time; the business use case header may say how
        many minutes until access is regained. Wait that long, and never less than the backoff."""
        minutes = regain_access_minutes(graph_usage(response))
        seconds = max(minutes * 60, value_of(GRAPH_RATE_LIMIT_BACKOFF_SECONDS))
        return self.wait(seconds)

    def wait(self, seconds: float) -> datetime:
        """Now plus ``seconds`` from the platform's headers, at most MAX_WAIT (a huge
        estimated_time_to_regain_access overflowed ``datetime``)."""
        what = f"{self.label} estimated_time_to_regain_access"
        return wait_from_seconds(seconds, what=what) or timezone.now() + MAX_WAIT

    def slow_down(self, response: requests.Response) -> tuple[datetime | None, dict]:
        """(time to wait until before the next call or None, the usage headers as sent).

        At 90% of any limit we wait a part of GRAPH_RATE_LIMIT_BACKOFF_SECONDS that grows to the
        whole of it at 100%, or the time to regain access if the platform states a longer one.
        """
        usage = graph_usage(response)
        percent = usage_percent(usage)
        if percent < SLOW_DOWN_PERCENT:
            return None, usage
        share = min(1.0, (percent - 80) / 20)
        seconds = max(value_of(GRAPH_RATE_LIMIT_BACKOFF_SECONDS) * share, regain_access_minutes(usage) * 60)
        return self.wait(seconds), usage


def next_cursor(body: dict) -> str | None:
    """The next page of a Graph edge as paging fields (``after=…``), or None on the last page: Graph
    leaves ``paging.next`` out there. ``cursors.after`` where given, else the paging fields of the
    ``next`` URL (a time-based edge's ``until`` and ``__paging_token``); never its token."""
    paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
    following = paging.get("next")
    if not isinstance(following, str) or not following:
        return None
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    if isinstance(cursors.get("after"), str) and cursors["after"]:
        return urlencode({"after": cursors["after"]})
    kept = [(key, value) for key, value in parse_qsl(urlsplit(following).query) if key in PAGING_KEYS]
    return urlencode(kept) or None


def graph_usage(response: requests.Response) -> dict[str, Any]:
    """The usage headers present and well formed, by name, parsed; malformed ones are left out."""
    usage = {}
    for name in USAGE_HEADERS:
        value = header_json(response, name)
        if isinstance(value, dict):
            usage[name] = value
    return usage


def _usage_entries(usage: dict[str, Any]) -> list[dict]:
    """Every dict of counters in the usage headers: the app and page headers are one each; the
    business use case header holds a list per business object."""
    entries = [usage[name] for name in ("X-App-Usage", "X-Page-Usage") if name in usage]
    for per_object in usage.get("X-Business-Use-Case-Usage", {}).values():
        if isinstance(per_object, list):
            entries.extend(entry for entry in per_object if isinstance(entry, dict))
    return entries


def usage_percent(usage: dict[str, Any]) -> float:
    """The highest percentage of any limit used, 0 when nothing says."""
    values = [_number(entry.get(key)) for entry in _usage_entries(usage) for key in USAGE_PERCENT_KEYS]
    return max([value for value in values if value is not None], default=0.0)


def regain_access_minutes(usage: dict[str, Any]) -> float:
    values = [_number(entry.get("estimated_time_to_regain_access")) for entry in _usage_entries(usage)]
    return max([value for value in values if value is not None], default=0.0)


def _number(value: Any) -> float | None:
    """A finite number from a header field, or None: the headers are the platform's JSON, not ours."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
