"""Many clients at once on the default deployment: gunicorn with several workers on one SQLite file.

Runs the same load twice in one process, each time against a fresh temporary SQLite file and a gunicorn on a free
127.0.0.1 port: first with the old settings as the baseline (rollback journal, DEFERRED transactions, a cache in
each worker's memory), then with the project's settings (WAL, BEGIN IMMEDIATE, busy timeout, the shared database
cache). The load:

- 16 clients uploading batches of one day (96 readings) to /api/v1/readings at the same time;
- 160 logins on /api/v1/token/ from 16 parallel clients (16 client addresses, so the token rate limit allows them);
- 120 logins from one address by 8 parallel clients against the nominal token rate of 20/min.

Prints, per run, the failed requests (with how many the server logged as "database is locked"), requests/s and
readings/s, and how many throttled logins were accepted. Goal: 0 errors and at most 20 logins accepted.

    .venv/bin/python bench/sqlite_concurrency.py [--clients 16] [--batches 10] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from _timing import stop_process, wait_for_health
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BATCH = 96
LOGINS = 160
THROTTLED_LOGINS = 120
TOKEN_RATE = 20
USERNAME = "bench-fleet"

# The settings before WAL, IMMEDIATE transactions and the shared cache, for the baseline run.
BASELINE_SETTINGS = """\
from energy_app.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"] = {"timeout": 20}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _FromAddress(HTTPAdapter):
    """Connections from a given loopback address: the server keys its rate limits on the client address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _session(address: str = "127.0.0.1") -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def _reading(serial: str, moment: datetime, n: int) -> dict:
    register = 1000 + n * 0.125
    return {
        "serial": serial,
        "timestamp": moment.isoformat(),
        "import_t1_kwh": f"{register:.3f}",
        "import_t2_kwh": f"{register / 2:.3f}",
        "export_t1_kwh": "120.500",
        "export_t2_kwh": "10.250",
        "tariff": 1 + n % 2,
        "power_import_kw": "0.512",
        "power_export_kw": "0.000",
        "l1_voltage_v": "231.4",
        "l1_current_a": "1.20",
    }


@dataclass
class Figures:
    upload_requests: int
    upload_errors: int
    upload_seconds: float
    readings: int
    login_errors: int
    throttled_accepted: int
    locked_in_log: int

    @property
    def requests_per_second(self) -> float:
        return self.upload_requests / self.upload_seconds

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.upload_seconds


class Server:
    """gunicorn serving the app from a fresh SQLite file, with the given settings module."""

    def __init__(self, workdir: Path, settings_module: str, workers: int) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.password = secrets.token_urlsafe(16)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),  # throw-away, this run only
            "ALLOWED_HOSTS": "127.0.0.1",
            "THROTTLE_INGEST_RATE": "1000000/min",
            "THROTTLE_TOKEN_RATE": f"{TOKEN_RATE}/min",
            "JWT_ACCESS_MINUTES": "60",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
        }
        self.log_path = workdir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def prepare(self) -> None:
        subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=self.env, check=True)
        code = (
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({USERNAME!r}, password={self.password!r})"
        )
        subprocess.run([PYTHON, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=self.env, check=True)

    def start(self) -> None:
        command = [
            str(Path(PYTHON).with_name("gunicorn")),
            "energy_app.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--timeout",
            "120",
        ]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        wait_for_health(self.process, self.base, str(self.log_path))

    def stop(self) -> None:
        stop_process(self.process)

    def login(self, session: requests.Session) -> requests.Response:
        body = {"username": USERNAME, "password": self.password}
        return session.post(f"{self.base}/api/v1/token/", json=body, timeout=120)

    def locked_in_log(self) -> int:
        return self.log_path.read_text(errors="replace").count("database is locked")


def _uploads(server: Server, token: str, clients: int, batches: int) -> tuple[int, int, float]:
    """(requests, failed requests, seconds) for ``clients`` devices uploading ``batches`` batches each at once."""
    start = datetime(2024, 1, 1, tzinfo=UTC)

    def device(client: int) -> list[int]:
        serial = f"1BENCH{client:08d}"
        session = _session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        statuses = []
        for batch in range(batches):
            first = batch * BATCH
            items = [_reading(serial, start + timedelta(minutes=15 * n), n) for n in range(first, first + BATCH)]
            try:
                response = session.post(
                    f"{server.base}/api/v1/readings", data=json.dumps({"readings": items}), timeout=120
                )
                statuses.append(response.status_code)
            except requests.RequestException:
                statuses.append(0)
        return statuses

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        statuses = [status for device_statuses in pool.map(device, range(clients)) for status in device_statuses]
    seconds = time.perf_counter() - began
    return len(statuses), sum(status != 200 for status in statuses), seconds


def _logins(server: Server, clients: int) -> int:
    """Failed logins of ``LOGINS`` made by ``clients`` parallel clients, each from its own loopback address."""
    per_client = LOGINS // clients

    def client(n: int) -> list[int]:
        session = _session(f"127.0.1.{n + 1}")
        return [server.login(session).status_code for _ in range(per_client)]

    with ThreadPoolExecutor(clients) as pool:
        statuses = [status for result in pool.map(client, range(clients)) for status in result]
    return sum(status != 200 for status in statuses)


def _throttled_logins(server: Server) -> int:
    """Accepted logins of ``THROTTLED_LOGINS`` from one address by 8 parallel clients, against TOKEN_RATE/min."""

    def client(_n: int) -> list[int]:
        session = _session("127.0.2.1")
        return [server.login(session).status_code for _ in range(THROTTLED_LOGINS // 8)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [status for result in pool.map(client, range(8)) for status in result]
    return sum(status == 200 for status in statuses)


def run(settings_module: str, args: argparse.Namespace, workdir: Path) -> Figures:
    workdir.mkdir()
    (workdir / "bench_baseline_settings.py").write_text(BASELINE_SETTINGS)  # on the server's PYTHONPATH
    server = Server(workdir, settings_module, args.workers)
    server.prepare()
    try:
        server.start()
        token = server.login(_session("127.0.3.1")).json()["access"]
        requests_sent, upload_errors, seconds = _uploads(server, token, args.clients, args.batches)
        login_errors = _logins(server, args.clients)
        accepted = _throttled_logins(server)
        return Figures(
            upload_requests=requests_sent,
            upload_errors=upload_errors,
            upload_seconds=seconds,
            readings=(requests_sent - upload_errors) * BATCH,
            login_errors=login_errors,
            throttled_accepted=accepted,
            locked_in_log=server.locked_in_log(),
        )
    finally:
        server.stop()


def _report(name: str, figures: Figures, args: argparse.Namespace) -> None:
    print(
        f"{name:<9} {args.clients} parallel uploads: {figures.upload_errors:>4} of {figures.upload_requests} failed "
        f"({figures.locked_in_log} 'database is locked' in the server log), "
        f"{figures.requests_per_second:6.1f} requests/s, {figures.readings_per_second:7,.0f} stored readings/s   "
        f"logins: {figures.login_errors} of {LOGINS} failed   "
        f"throttled logins accepted: {figures.throttled_accepted} of {THROTTLED_LOGINS} "
        f"(nominal {TOKEN_RATE}/min, {args.workers} workers)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batches", type=int, default=10, help="batches of 96 readings per client")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="p1-sqlite-bench-"))
    try:
        baseline = run("bench_baseline_settings", args, workdir / "baseline")
        _report("baseline", baseline, args)
        current = run("energy_app.settings", args, workdir / "current")
        _report("current", current, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # Stored readings, not requests: the baseline's failed requests return early and would flatter its rate.
    ratio = current.readings_per_second / baseline.readings_per_second
    ok = current.upload_errors == 0 and current.login_errors == 0 and current.throttled_accepted <= TOKEN_RATE
    print(
        f"errors {baseline.upload_errors + baseline.login_errors} -> {current.upload_errors + current.login_errors}, "
        f"stored readings/s ratio {ratio:.2f}x, throttled logins accepted {baseline.throttled_accepted} -> "
        f"{current.throttled_accepted}: goal (0 errors, <= {TOKEN_RATE} accepted) {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
