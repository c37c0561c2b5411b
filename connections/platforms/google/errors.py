"""Google's JSON error envelope, as every Google API answers it
(https://cloud.google.com/apis/design/errors#http_mapping, and the YouTube Data API's
https://developers.google.com/youtube/v3/docs/errors)::

    {"error": {"code": 403, "message": "The request cannot be completed because you have exceeded
     your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
     "errors": [{"message": "...", "domain": "youtube.quota", "reason": "quotaExceeded"}],
     "status": "PERMISSION_DENIED"}}

The HTTP status says the kind (401 the token, 429 and 5xx may pass, other 4xx will not); the
first ``errors[].reason`` says more where it matters (a 403 ``quotaExceeded`` or
``rateLimitExceeded`` is a wait, not a refusal). A platform adds its own reasons in
``google_error``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from connections.platforms.base import PermanentError, PlatformError, RateLimited, TokenExpired, TransientError
from connections.platforms.http import error_body, quoted
from planrrr.text import time_from_retry_after

# 403 reasons that mean "slow down", not "never": the per-user and per-project rate limits
# (https://developers.google.com/youtube/v3/docs/errors#general, "rateLimitExceeded",
# "userRateLimitExceeded").
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


class GoogleErrorMixin:
    """``raise_for_response`` for an adapter speaking a Google API (mixed before HttpAdapter)."""

    def raise_for_response(self, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        error = error_body(response).get("error")
        if not isinstance(error, dict):
            message = f"{self.label} API error: HTTP {response.status_code}: {quoted(response)}"
            raise self.status_error(response, message)
        reasons = [str(item.get("reason") or "") for item in error.get("errors") or [] if isinstance(item, dict)]
        reason = next((r for r in reasons if r), "") or str(error.get("status") or "")
        raise self.google_error(response, reason, self.google_message(response, error, reason))

    def google_message(self, response: requests.Response, error: dict, reason: str) -> str:
        # Google's messages may hold markup (the quota message links to the docs): words only.
        words = re.sub(r"<[^>]+>", "", str(error.get("message") or "")).strip() or quoted(response)
        what = f"{response.status_code} {reason}" if reason else str(response.status_code)
        return f"{self.label} API error ({what}): {words}"

    def google_error(self, response: requests.Response, reason: str, message: str) -> PlatformError:
        """What an error answer means; a platform overrides it for its own reasons, calling this."""
        status = response.status_code
        if status == 401:
            return TokenExpired(message, status_code=status)
        if status == 429 or reason in RATE_REASONS:
            return RateLimited(message, retry_at=self.retry_at(response), status_code=status)
        if status >= 500:
            return TransientError(message, status_code=status, maybe_sent=True)
        return PermanentError(message, status_code=status)

    def retry_at(self, response: requests.Response):
        """Retry-After where Google sends one; else RATE_LIMIT_DEFAULT_BACKOFF_SECONDS."""
        return time_from_retry_after(response.headers.get("Retry-After"), what=f"{self.label} rate limit") or (
            timezone.now() + timedelta(seconds=settings.RATE_LIMIT_DEFAULT_BACKOFF_SECONDS)
        )
