"""gunicorn's configuration for planrrr's web process (the admin, the connect flows, the API,
/metrics and /healthz). gunicorn reads ``./gunicorn.conf.py`` by itself, so the image's command and
``gunicorn planrrr.wsgi --bind 0.0.0.0:8000`` run from the repository both use it; options given on
the command line or in ``GUNICORN_CMD_ARGS`` win over it. See docs/operations.md.

* Threads (``gthread``), not the default single-request ``sync`` workers: a connect flow waits on the
  platform (a Bluesky PDS or a Mastodon instance may take up to ``PLATFORM_CALL_DEADLINE_SECONDS``,
  60 s, to answer) and holds one thread while the others keep answering ``/healthz``, the admin and
  the API. ``timeout`` then bounds a worker that stops answering its arbiter (a stuck main loop),
  not a slow request: a sync worker is killed ``timeout`` seconds into any request, which gave a
  user a 502 after 31 s.
* No control socket (gunicorn 25.1's ``gunicornc`` interface) unless ``GUNICORN_CONTROL_SOCKET``
  names one: by default gunicorn creates it under ``$HOME/.gunicorn``, and logs "Control server
  error: Permission denied" where HOME is not writable (the image's user).
* Log lines through planrrr's formatters (planrrr.logs), one JSON object a line with
  ``LOG_FORMAT=json`` (the image's default), like the Django and worker lines: gunicorn's own
  lines (``gunicorn.error``) and one line per request (``gunicorn.access``) with its fields. The
  query string is left out of the access line: an OAuth callback carries the authorization code
  there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import environ

# The settings read ./.env (planrrr/settings.py): so does this file, for LOG_FORMAT and the sizes
# below; the process's own environment wins, as there.
if Path(".env").is_file():
    environ.Env.read_env(".env")

# WEB_CONCURRENCY is the variable gunicorn itself reads for the number of processes.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 30
graceful_timeout = 30
# Longer than a load balancer's idle timeout (60 s on most), so the balancer closes an idle
# connection before gunicorn does and never sends a request down one gunicorn just closed.
keepalive = 75

control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# The message of an access line; its fields come from AccessFields.
access_log_format = "%(m)s %(U)s %(s)s"


class AccessFields(logging.Filter):
    """Turns gunicorn's access atoms (the record's args: see gunicorn.glogging.Logger.atoms) into
    the line's fields, which planrrr.logs writes as JSON keys or ``key=value``."""

    FIELDS = {
        "method": "m",
        "path": "U",
        "status": "s",
        "duration_ms": "M",
        "bytes": "B",
        "remote": "h",
        "forwarded_for": "{x-forwarded-for}i",
        "user_agent": "a",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, dict):
            for field, atom in self.FIELDS.items():
                value = atoms.get(atom)
                setattr(record, field, None if value in ("-", "") else value)
            # Formatted once here: the fields above would otherwise be read as extra arguments.
            record.msg, record.args = record.getMessage(), ()
        return True


_formatter = "json" if os.environ.get("LOG_FORMAT", "text") == "json" else "text"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "planrrr.logs.TextFormatter"},
        "json": {"()": "planrrr.logs.JsonFormatter"},
    },
    "filters": {"access_fields": {"()": AccessFields}},
    "handlers": {
        # stderr, like the Django and worker lines (and gunicorn's own default for errors).
        "console": {"class": "logging.StreamHandler", "formatter": _formatter, "stream": "ext://sys.stderr"},
        "access": {
            "class": "logging.StreamHandler",
            "formatter": _formatter,
            "filters": ["access_fields"],
            "stream": "ext://sys.stderr",
        },
    },
    # No propagation: Django's settings.LOGGING gives the root logger a handler of its own.
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
    "root": {"level": "WARNING", "handlers": ["console"]},
}
