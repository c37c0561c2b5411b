# The production image: gunicorn for the web process (the default command), the same image for
# the workers (`python manage.py planrrr_workers default webhooks analytics`: a pool), migrations and the
# stand-in APIs. Only the runtime requirements (requirements.txt): no embedded PostgreSQL/Redis.
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t planrrr .
# BASE: any image with Python 3.11 as `python`, venv and groupadd/useradd; `make image` builds
# this file with buildah on a stand-in made from Debian's packages (tools/image/base.sh).
ARG BASE=python:3.11-slim

# --- build: wheels compiled here, nothing of the toolchain goes further ---------------------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# --- runtime ---------------------------------------------------------------------------------
FROM ${BASE}
ARG VERSION=unknown
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/app/static \
    LOG_FORMAT=json
RUN groupadd --system planrrr && useradd --system --gid planrrr --home-dir /app --no-create-home planrrr
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
# The admin's static files, served by WhiteNoise; the settings need a database and Redis URL
# only to load (nothing connects here). VERSION feeds planrrr_build_info.
RUN DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && echo "$VERSION" > VERSION \
    && mkdir -p /app/.local/media && chown -R planrrr:planrrr /app/.local
USER planrrr
EXPOSE 8000
# 200 when this process answers and reaches PostgreSQL and Redis, 503 naming the one it cannot
# (planrrr.health); a worker container has no web server: compose turns this off for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# gunicorn reads /app/gunicorn.conf.py: WEB_CONCURRENCY processes (2) of GUNICORN_THREADS threads (8),
# JSON log lines, no control socket; GUNICORN_CMD_ARGS adds or overrides options.
CMD ["gunicorn", "planrrr.wsgi", "--bind", "0.0.0.0:8000"]
