"""Text from outside (a platform's error, a receiver's answer, a header) made safe to store,
log and show, and times from outside made sane.

Every attempt must end: a value PostgreSQL refuses (a NUL byte, a lone surrogate that UTF-8
cannot encode) or a time ``datetime`` cannot hold turned an attempt's outcome into an
exception, the row stayed PUBLISHING, and the sweep started the attempt again for ever. So
whatever comes from outside passes through here before it is written anywhere.

Secrets never leave: ``scrub`` removes the secrets given, and any ``access_token=…`` style
query or form value, from a text (requests puts the whole URL in its exception messages, and
the Graph API takes the token in the query string).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus

from django.utils import timezone

logger = logging.getLogger("planrrr.text")

# Longest error text kept on a row (the platform's message, quoted, fits easily).
MAX_TEXT = 2000
# Longest wait a platform's header may ask for; beyond it the header is not believed.
MAX_WAIT = timedelta(hours=24)

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_SECRET_PARAMS = re.compile(
    r"(?i)\b(access_token|refresh_token|client_secret|fb_exchange_token|input_token|code_verifier|password|"
    r"app_secret|token)=([^&\s'\"<>]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._~+/=\-|]{8,}")
REDACTED = "[redacted]"


def storable(value: object, *, limit: int = MAX_TEXT) -> str:
    """``value`` as text PostgreSQL will store and a person can read: NUL bytes and lone
    surrogates replaced, at most ``limit`` characters (an ellipsis says it was cut)."""
    text = value if isinstance(value, str) else str(value)
    text = _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", text)
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret given, every ``access_token=…``-like parameter and every
    ``Bearer …`` credential replaced by ``[redacted]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            # As sent in a URL or a form too: a page token holding "|" is "%7C" there.
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, REDACTED)
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def safe_text(value: object, *, secrets: Iterable[str | None] = (), limit: int = MAX_TEXT) -> str:
    """``scrub`` then ``storable``: what every error text goes through before it is kept."""
    return storable(scrub(value if isinstance(value, str) else str(value), secrets), limit=limit)


def clamp_wait(when: datetime, *, what: str, now: datetime | None = None) -> datetime:
    """A time a platform asked us to wait until, no later than MAX_WAIT from now (a header
    saying ``99999999999999`` is logged and read as the longest wait we accept)."""
    now = now or timezone.now()
    if when > now + MAX_WAIT:
        logger.warning("%s asked to wait until %s; waiting at most %s instead", what, when, MAX_WAIT)
        return now + MAX_WAIT
    return when


def wait_from_seconds(seconds: float | None, *, what: str, now: datetime | None = None) -> datetime | None:
    """``now`` plus a wait in seconds from a header, clamped to [0, MAX_WAIT]; None if unusable
    (not a number, NaN). Never raises OverflowError, whatever the header says."""
    now = now or timezone.now()
    try:
        seconds = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(seconds):
        return None
    if seconds > MAX_WAIT.total_seconds():
        logger.warning("%s asked to wait %.0f s; waiting at most %s instead", what, seconds, MAX_WAIT)
        return now + MAX_WAIT
    return now + timedelta(seconds=max(seconds, 0.0))


def time_from_epoch(value: object, *, what: str, now: datetime | None = None) -> datetime | None:
    """A Unix time in seconds from a header (X's ``x-rate-limit-reset``), clamped to
    [now, now + MAX_WAIT]; None if it is not a number."""
    now = now or timezone.now()
    try:
        epoch = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(epoch):
        return None
    return wait_from_seconds(epoch - now.timestamp(), what=what, now=now)


def time_from_retry_after(value: object, *, what: str, now: datetime | None = None) -> datetime | None:
    """``Retry-After`` (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date) as a time clamped
    to [now, now + MAX_WAIT]; None if it is neither."""
    now = now or timezone.now()
    text = str(value or "").strip()
    if text.isdigit():
        return wait_from_seconds(text, what=what, now=now)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(clamp_wait(when, what=what, now=now), now)
