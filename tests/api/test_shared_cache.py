"""Rate limits count in a cache that every worker process shares: Redis when REDIS_URL is set (a real Redis here).

The throttle counter of one client must be the same whether its requests reach this process or another one; the
"other worker" below is a second Python process configured only through the environment, as gunicorn's are.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections
from rest_framework.test import APIClient

from energy_app.settings import cache_from_url

ROOT = Path(__file__).resolve().parents[2]
REFRESH = "/api/v1/token/refresh/"

redis = pytest.importorskip("redis", reason="the redis package is in requirements.txt")
# redis_url: the real Redis of this machine (tests/api/conftest.py).


@pytest.fixture
def addresses(redis_url):
    """Two client addresses of this test only, so runs sharing the Redis never share a counter; their keys are
    removed afterwards (never the whole database, which other runs may be using)."""
    chosen = [f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}" for _ in "ab"]
    yield chosen
    connection = redis.Redis.from_url(redis_url)
    for address in chosen:
        for key in connection.scan_iter(match=f"*throttle_token_{address}"):
            connection.delete(key)


def _other_worker(redis_url: str, address: str, requests: int) -> list[int]:
    """Statuses of ``requests`` refresh attempts made by a separate process, set up from the environment only."""
    code = (
        "import django; django.setup(); from rest_framework.test import APIClient; c = APIClient(); "
        f"print(*[c.post({REFRESH!r}, {{'refresh': 'x'}}, format='json', REMOTE_ADDR={address!r}).status_code "
        f"for _ in range({requests})])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "energy_app.settings",
        "REDIS_URL": redis_url,
        "THROTTLE_TOKEN_RATE": "5/min",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": "sqlite:///:memory:",
        "LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return [int(status) for status in result.stdout.split()]


@pytest.mark.django_db
def test_it_counts_one_clients_requests_across_worker_processes_in_redis(settings, redis_url, addresses):
    client_address, another_address = addresses
    settings.CACHES = {"default": cache_from_url(redis_url)}  # what REDIS_URL gives every worker
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "5/min"},
    }
    this_worker = APIClient(REMOTE_ADDR=client_address)

    def here() -> int:
        return this_worker.post(REFRESH, {"refresh": "x"}, format="json").status_code

    first = [here(), here(), here()]
    elsewhere = _other_worker(redis_url, client_address, 3)
    last = here()

    assert first == [401, 401, 401]
    assert elsewhere == [401, 401, 429]  # the other process saw the three requests made here
    assert last == 429  # and this one saw the other's
    assert APIClient(REMOTE_ADDR=another_address).post(REFRESH, {"refresh": "x"}, format="json").status_code == 401


@pytest.mark.django_db
def test_it_counts_parallel_requests_of_one_client_exactly_in_redis(settings, redis_url, addresses):
    """Eight threads, each with its own Redis connection as a worker has: no two read the same count."""
    settings.CACHES = {"default": cache_from_url(redis_url)}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "5/min"},
    }
    client_address = addresses[0]

    def attempt(_n: int) -> int:
        try:
            return APIClient(REMOTE_ADDR=client_address).post(REFRESH, {"refresh": "x"}, format="json").status_code
        finally:
            connections.close_all()  # this thread's own connection, so the test database can be dropped afterwards

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, range(24)))

    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 19
