# syntax=docker/dockerfile:1
# P1 Energy server image: gunicorn serving Django, static files collected at build and served by whitenoise.
# Nothing secret is baked in: SECRET_KEY, DATABASE_URL, hosts and the optional superuser come from the
# environment at run time (docs/operations.md lists them).
#
#   docker build --target runtime -t p1energy .      (runtime is also the default, last stage)
#   docker build --target nginx -t p1energy-nginx .  (optional front proxy with the same static files)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the pinned requirements and the edge package (the server imports its parser) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.txt ./
COPY edge/ ./edge/
# requirements.txt is the hash-locked set (edge dependencies included); the edge goes on top as a regular
# package without dependencies, so the runtime stage needs no source checkout of it.
RUN pip install --no-cache-dir --require-hashes -r requirements.txt \
    && pip install --no-cache-dir --no-deps ./edge

# --- static: collectstatic once, shared by the runtime and the nginx images ---
FROM build AS static
WORKDIR /app
COPY . .
# DEBUG=1 only for this build step: collectstatic signs nothing, and the image must carry no SECRET_KEY.
RUN DEBUG=1 STATIC_MANIFEST=1 STATIC_ROOT=/app/staticfiles python manage.py collectstatic --no-input --verbosity 0

# --- nginx: optional reverse proxy for self-hosters (docker/compose.yaml, profile "nginx") ---
FROM nginx:1.27-alpine AS nginx
COPY docker/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=static /app/staticfiles /usr/share/nginx/static

# --- runtime ---
FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Microsoft ODBC Driver 18 for SQL Server (Azure SQL) from Microsoft's signed Debian repository, as their
# install guide describes; curl and gnupg are only needed for the key and are purged again.
# Debian package versions are not pinned: the base image tag pins the release and security updates must apply.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
    && curl -fsSL https://packages.microsoft.com/keys/microsoft.asc \
        | gpg --dearmor -o /usr/share/keyrings/microsoft-prod.gpg \
    && . /etc/os-release \
    && echo "deb [arch=$(dpkg --print-architecture) signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/debian/${VERSION_ID}/prod ${VERSION_CODENAME} main" \
        > /etc/apt/sources.list.d/mssql-release.list \
    && apt-get update \
    && ACCEPT_EULA=Y apt-get install -y --no-install-recommends msodbcsql18 \
    && apt-get purge -y --auto-remove curl gnupg \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=energy_app.settings \
    STATIC_ROOT=/app/staticfiles \
    STATIC_MANIFEST=1 \
    MIGRATE_ON_START=1 \
    PORT=8000

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code stays owned by root (read-only for the app user); only /app/data (optional SQLite) is writable.
COPY . .
COPY --from=static /app/staticfiles /app/staticfiles
RUN install -d -o app -g app -m 0750 /app/data

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "/app/docker/gunicorn.conf.py", "energy_app.wsgi:application"]
