"""Gunicorn settings for the container. Every knob comes from the environment; logs go to stdout/stderr.

GUNICORN_WORKERS (default 2 x CPUs + 1, at most 8), GUNICORN_THREADS (default 2), GUNICORN_TIMEOUT (seconds a
request may take, default 60), GUNICORN_GRACEFUL_TIMEOUT (default 30), GUNICORN_KEEPALIVE (default 5),
GUNICORN_MAX_REQUESTS (recycle a worker after N requests, default 1000, 0 = never), PORT (default 8000),
FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-* headers gunicorn trusts, default 127.0.0.1,::1), LOG_LEVEL.
A bad value stops the start with a message naming the variable.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


_cpus = os.cpu_count() or 1

bind = f"0.0.0.0:{_env_int('PORT', 8000, minimum=1)}"
workers = _env_int("GUNICORN_WORKERS", min(2 * _cpus + 1, 8), minimum=1)
threads = _env_int("GUNICORN_THREADS", 2, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _env_int("GUNICORN_TIMEOUT", 60, minimum=1)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Container logs: access log to stdout, gunicorn's own log to stderr, both collected by Docker / App Service.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
capture_output = True

# The heartbeat file lives in memory where Docker provides /dev/shm (a disk-backed /tmp can stall workers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - documented gunicorn practice
# No gunicornc control socket: the image's home directory is read-only and nothing uses it.
control_socket_disable = True
