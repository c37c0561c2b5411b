"""Log lines an on-call person can read and a machine can parse.

``LOG_FORMAT=json`` writes one JSON object a line (python-json-logger): ``time`` (RFC 3339, UTC,
milliseconds), ``level``, ``logger``, ``message``, ``pid``, the line's fields, and a traceback, if
any, as ``exc_info`` inside the object. Otherwise one readable line: the same time, level, logger and
message, then the fields as ``key=value`` (a traceback below it). Outcome lines carry their
fields as ``extra``; ``event(...)`` writes one::

    2026-11-30T07:08:08.120Z INFO planrrr.publishing publication outcome post=37 publication=73
        platform=FACEBOOK outcome=PUBLISHED attempt=1 duration_ms=10.6 error=""

Every line of a process goes through these formatters: Django's own loggers, RQ's, Python's
warnings (``configure``, the settings' LOGGING_CONFIG, routes them through logging) and an
exception nothing caught (logged, not printed). Both formatters take no argument, so another
program's logging configuration (gunicorn's ``logconfig_dict``, gunicorn.conf.py) names them as
``{"()": "planrrr.logs.JsonFormatter"}``; this module needs no Django settings.

``Outage`` reports a failure that repeats every loop (PostgreSQL or Redis unreachable) once
when it starts and once when it ends, with its duration, instead of once a loop
(``planrrr.outages`` keeps one per process).
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import threading
import time
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# The attributes every LogRecord has: anything else on a record is a field of the line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}


def utc_time(record: logging.LogRecord) -> str:
    """When the record was made, in RFC 3339 (UTC, milliseconds): 2026-12-06T07:47:41.294Z."""
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``%(asctime)s %(levelname)s %(name)s %(message)s`` then the line's fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return utc_time(record)

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
    """One JSON object a line: time, level, logger, message, the process's id (a pool's workers
    share its output), the fields, exc_info if any."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return utc_time(record)


def configure(config: dict) -> None:
    """The settings' LOGGING_CONFIG: ``config`` (a dictConfig), plus what dictConfig cannot say.

    Python's warnings become log records (``py.warnings``), and an exception no code caught
    (in the main thread or another) is logged at CRITICAL with its traceback instead of printed:
    with LOG_FORMAT=json, every line the process writes is then a JSON object."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, args.thread)


def _log_uncaught(exc_type, value, traceback, thread: threading.Thread | None = None) -> None:
    if issubclass(exc_type, KeyboardInterrupt) and thread is None:
        sys.__excepthook__(exc_type, value, traceback)
        return
    where = f" in thread {thread.name}" if thread is not None else ""
    logging.getLogger("planrrr").critical("uncaught exception%s", where, exc_info=(exc_type, value, traceback))


def event(logger: logging.Logger, level: int, message: str, **fields) -> None:
    """One structured line: ``message`` and ``fields`` (keys of our choosing, never a secret)."""
    logger.log(level, message, extra=fields)


class Outage:
    """Something that fails again at every try (a server unreachable): one line when it starts,
    one when it ends, with how long it lasted and how many tries failed. Safe to share between
    threads (a web process's)."""

    # After an outage ended, how long a failure is taken for one of its stragglers (failed()).
    straggler_seconds = 1.0

    def __init__(self, what: str, logger: logging.Logger):
        self.what = what
        self.logger = logger
        self.since: float | None = None
        # When the last outage ended (time.monotonic()).
        self.ended: float | None = None
        self.failures = 0
        self._lock = threading.Lock()

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException, *, began: float | None = None, traceback: bool = False) -> None:
        """A try failed: the outage starts, unless it is on already. ``began`` is the
        ``time.monotonic()`` at which that try started: one that started before the last outage
        ended (a call in flight through it, on a connection the server dropped) is part of that
        outage, and starts no other. So is a failure in the ``straggler_seconds`` after it ended
        (a connection made before a restart, used only now: "Connection closed by server."); a
        server that goes again is noted by the next failure after that."""
        with self._lock:
            if self.since is None and self.ended is not None:
                if (began is not None and began < self.ended) or time.monotonic() - self.ended < self.straggler_seconds:
                    return
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

    def ok(self, began: float | None = None) -> None:
        """A try succeeded: the outage, if any, ends. ``began`` is the ``time.monotonic()`` at which
        that try started: one that started before the outage was noted (another thread's, in
        flight when the server went) says nothing of the server now, and ends nothing."""
        if self.since is None:
            return
        with self._lock:
            if self.since is None or (began is not None and began < self.since):
                return
            self.ended = time.monotonic()
            duration, failures = self.ended - self.since, self.failures
            self.since, self.failures = None, 0
        self.logger.warning(
            "%s back after %.1f s (%d failed tries)",
            self.what,
            duration,
            failures,
            extra={"outage": self.what, "state": "ended", "duration_s": round(duration, 1), "failures": failures},
        )
