"""Log lines an on-call person can read and a machine can parse.

``LOG_FORMAT=json`` writes one JSON object a line (python-json-logger): ``time``, ``level``,
``logger``, ``message`` and the line's fields. Otherwise one readable line: the time, level,
logger and message, then the fields as ``key=value``. Outcome lines carry their fields as
``extra``; ``event(...)`` writes one::

    2026-11-30 07:08:08,120 INFO planrrr.publishing publication outcome post=37 publication=73
        platform=FACEBOOK outcome=PUBLISHED attempt=1 duration_ms=10.6 error=""

``Outage`` reports a failure that repeats every loop (PostgreSQL or Redis unreachable) once
when it starts and once when it ends, with its duration, instead of once a loop.
"""

from __future__ import annotations

import json
import logging
import time

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# The attributes every LogRecord has: anything else on a record is a field of the line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}


class TextFormatter(logging.Formatter):
    """``%(asctime)s %(levelname)s %(name)s %(message)s`` then the line's fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = fields_of(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        pairs = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        return f"{head} {pairs}{newline}{rest}"


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, the fields, exc_info if any."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )


def event(logger: logging.Logger, level: int, message: str, **fields) -> None:
    """One structured line: ``message`` and ``fields`` (keys of our choosing, never a secret)."""
    logger.log(level, message, extra=fields)


class Outage:
    """Something that fails again at every try (a server unreachable): one line when it starts,
    one when it ends, with how long it lasted and how many tries failed."""

    def __init__(self, what: str, logger: logging.Logger):
        self.what = what
        self.logger = logger
        self.since: float | None = None
        self.failures = 0

    def failed(self, error: BaseException, *, traceback: bool = False) -> None:
        self.failures += 1
        if self.since is not None:
            return
        self.since = time.monotonic()
        self.logger.error(
            "%s failing: %s: %s (the end of this outage will be logged, not every failure)",
            self.what,
            type(error).__name__,
            str(error).strip().splitlines()[0] if str(error).strip() else "",
            exc_info=error if traceback else None,
            extra={"outage": self.what, "state": "started"},
        )

    def ok(self) -> None:
        if self.since is None:
            return
        duration = time.monotonic() - self.since
        self.logger.warning(
            "%s back after %.1f s (%d failed tries)",
            self.what,
            duration,
            self.failures,
            extra={"outage": self.what, "state": "ended", "duration_s": round(duration, 1), "failures": self.failures},
        )
        self.since, self.failures = None, 0
