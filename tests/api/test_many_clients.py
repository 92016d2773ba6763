"""Many clients at once against a real server: gunicorn with several workers on a file-backed SQLite database.

The default deployment (one machine, SQLite) must not answer 500 "database is locked" when devices upload at the
same moment, and a rate limit must hold across worker processes, which do not share memory.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.edge.server import DjangoServer
from tests.factories import reading_item

pytestmark = pytest.mark.slow

USER = "fleet-operator"
PASSWORD = "many-clients-password-42"
CLIENTS = 16
BATCHES = 4
BATCH = 96  # one day of quarter-hours


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = DjangoServer(
        tmp_path_factory.mktemp("many-clients"),
        workers=3,
        env={"THROTTLE_INGEST_RATE": "100000/min", "THROTTLE_TOKEN_RATE": "20/min", "LOG_LEVEL": "WARNING"},
    )
    srv.prepare(USER, PASSWORD)
    # migrate alone (no createcachetable) made the shared cache's table, as in make run and the Docker entrypoint.
    with contextlib.closing(sqlite3.connect(srv.db)) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'p1_cache'").fetchone() == (1,)
    srv.start(timeout=60)
    yield srv
    srv.stop()


def _token(server: DjangoServer) -> str:
    response = requests.post(f"{server.url}/api/v1/token/", json={"username": USER, "password": PASSWORD}, timeout=60)
    response.raise_for_status()
    return response.json()["access"]


def _batches(client: int) -> list[bytes]:
    serial = f"1SAG77{client:08d}"
    start = datetime(2024, 3, 1, tzinfo=UTC)
    bodies = []
    for batch in range(BATCHES):
        items = [
            reading_item(serial, (start + timedelta(minutes=15 * (batch * BATCH + n))).isoformat())
            for n in range(BATCH)
        ]
        bodies.append(json.dumps({"readings": items}).encode())
    return bodies


def test_it_stores_simultaneous_batch_uploads_without_database_is_locked(server):
    token = _token(server)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def upload(client: int) -> list[tuple[int, str]]:
        with requests.Session() as session:
            return [
                (response.status_code, response.text[:200])
                for response in (
                    session.post(f"{server.url}/api/v1/readings", data=body, headers=headers, timeout=120)
                    for body in _batches(client)
                )
            ]

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = [outcome for client in pool.map(upload, range(CLIENTS)) for outcome in client]

    errors = [outcome for outcome in outcomes if outcome[0] != 200]
    assert not errors, f"{len(errors)} of {len(outcomes)} uploads failed, e.g. {errors[:3]}"
    assert len(server.readings()) == CLIENTS * BATCHES * BATCH


def _refresh_from(server: DjangoServer, address: str) -> int:
    """POST a bad refresh token from the loopback ``address`` (a client of its own for the per-address throttle)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60, source_address=(address, 0))
    try:
        body = json.dumps({"refresh": "not-a-token"})
        connection.request("POST", "/api/v1/token/refresh/", body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_it_holds_the_token_rate_limit_across_worker_processes(server):
    """40 refresh attempts from one address against 20/min: with per-process counters each of the 3 workers
    allowed its own 20. Refresh attempts with a bad token are throttled like logins and need no password hash;
    each connection is new, so the workers take turns."""
    statuses = [_refresh_from(server, "127.0.0.2") for _ in range(40)]

    accepted = [status for status in statuses if status != 429]
    assert len(accepted) == 20, statuses
    assert set(accepted) == {401}
    # Another address has its own budget.
    assert _refresh_from(server, "127.0.0.3") == 401


def test_it_holds_the_token_rate_limit_for_parallel_requests_of_one_client(server):
    """The same 40 attempts from 8 connections at once: two workers reading the same count before either wrote it
    back would both let a request through, past the limit."""
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _n: _refresh_from(server, "127.0.0.4"), range(40)))

    assert statuses.count(401) == 20, statuses
    assert statuses.count(429) == 20
