"""What a webhook stores, logs and sends carries no secret: credentials scrubbed from payloads,
receivers' answers and tracebacks (planrrr.text.scrub, and Standard Webhooks secrets)."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

from planrrr.text import MAX_TEXT, safe_text, scrub

logger = logging.getLogger("planrrr.webhooks")


# A Standard Webhooks secret, wherever it turns up in a text (scrubbed even if we do not know it).
WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=_-]{4,}")


def scrubbed(value: Any) -> Any:
    """``value`` with every text in it scrubbed of credentials (planrrr.text.scrub, and webhook secrets)."""
    if isinstance(value, str):
        return WHSEC.sub("[redacted]", scrub(value))
    if isinstance(value, dict):
        return {key: scrubbed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed(item) for item in value]
    return value


def safe(text: object, secrets: Iterable[str | None] = (), *, limit: int = MAX_TEXT) -> str:
    """Text from outside (a receiver's answer, an exception) as it may be stored, logged and shown:
    no secret, no NUL byte or lone surrogate, not too long."""
    return WHSEC.sub("[redacted]", safe_text(text, secrets=secrets, limit=limit))


def log_exception(message: str, err: BaseException, secrets: Iterable[str | None] = ()) -> None:
    """``logger.exception`` with the traceback scrubbed: an exception's text may quote a secret."""
    details = "".join(traceback.format_exception(err))
    logger.error("%s\n%s", message, WHSEC.sub("[redacted]", scrub(details, list(secrets))))
