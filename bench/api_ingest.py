"""API ingest throughput over real HTTP: batches of 1,000 on /api/v1/readings vs one reading per /api-auth/setData.

For each database (a temporary SQLite file; PostgreSQL in a scratch database created and dropped here, skipped
with a message when the server is unreachable) the app runs under gunicorn on 127.0.0.1 (a free port). The run
posts 100,000 readings in batches of 1,000 and, as the baseline in the same run, 2,000 readings one per request
through the prototype's /api-auth/setData, as the prototype's Pi did. Prints readings/s for both, the ratio and
the p95 request latency. Goal: >= 5,000 readings/s batched.

    .venv/bin/python bench/api_ingest.py [--readings 100000] [--baseline 2000] [--workers 2] [--pg-url postgres://...]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from _timing import stop_process, wait_for_health

if TYPE_CHECKING:
    import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GOAL = 5_000
BATCH = 1_000
USERNAME = "bench-device"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reading(serial: str, moment: datetime, n: int) -> dict:
    register = 1000 + n * 0.125
    return {
        "serial": serial,
        "timestamp": moment.isoformat(),
        "measured_at": (moment + timedelta(seconds=1)).isoformat(),
        "import_t1_kwh": f"{register:.3f}",
        "import_t2_kwh": f"{register / 2:.3f}",
        "export_t1_kwh": "120.500",
        "export_t2_kwh": "10.250",
        "tariff": 1 + n % 2,
        "power_import_kw": "0.512",
        "power_export_kw": "0.000",
        "l1_import_kw": "0.200",
        "l2_import_kw": "0.150",
        "l3_import_kw": "0.162",
        "l1_export_kw": "0.000",
        "l2_export_kw": "0.000",
        "l3_export_kw": "0.000",
        "l1_voltage_v": "231.4",
        "l2_voltage_v": "229.8",
        "l3_voltage_v": "230.6",
        "l1_current_a": "1.20",
        "l2_current_a": "0.80",
        "l3_current_a": "0.90",
        "breaker_state": 1,
        "avg_demand_kw": "0.480",
        "month_peak_kw": "3.200",
        "month_peak_at": "2021-01-05T18:15:00+01:00",
    }


def _prototype(serial: str, local: datetime, n: int) -> dict:
    """What the prototype's reader/writer pair posted: str(float) values and the raw YYYYMMDDhhmmss clock."""
    register = 5000 + n * 0.125
    return {
        "tijdstip": local.strftime("%Y%m%d%H%M%S"),
        "switch": "1.0",
        "serialmeter": serial,
        "currentrate": "0001" if n % 2 == 0 else "0002",
        "totaldayconsumption": str(register),
        "totalnightconsumption": str(register / 2),
        "totaldayproduction": "120.5",
        "totalnightproduction": "10.25",
        "l1consumption": "0.2",
        "l2consumption": "0.15",
        "l3consumption": "0.162",
        "currentconsumption": "0.512",
        "l1production": "0.0",
        "l2production": "0.0",
        "l3production": "0.0",
        "currentproduction": "0.0",
        "l1voltage": "231.4",
        "l2voltage": "229.8",
        "l3voltage": "230.6",
        "l1current": "1.2",
        "l2current": "0.8",
        "l3current": "0.9",
        "Gas consumption": "2345.678",
    }


@dataclass
class Figures:
    readings: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.readings / self.seconds

    @property
    def p95_ms(self) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=20)[18] * 1000


class Server:
    """gunicorn serving the app on a free loopback port, with its own database."""

    def __init__(self, database_url: str, workers: int, workdir: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),  # throw-away, this run only
            "ALLOWED_HOSTS": "127.0.0.1",
            "THROTTLE_INGEST_RATE": "1000000/min",
            "THROTTLE_TOKEN_RATE": "1000/min",
            "JWT_ACCESS_MINUTES": "60",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        self.workers = workers
        self.password = secrets.token_urlsafe(16)
        self.log = (workdir / "gunicorn.log").open("w")
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
            "--worker-class",
            "sync",
            "--timeout",
            "120",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        wait_for_health(self.process, self.base, str(self.log.name))

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()

    def token(self) -> str:
        response = requests.post(
            f"{self.base}/api/v1/token/", json={"username": USERNAME, "password": self.password}, timeout=30
        )
        response.raise_for_status()
        return response.json()["access"]


def _post_all(session: requests.Session, url: str, bodies: list[bytes], per_request: int) -> Figures:
    latencies = []
    began = time.perf_counter()
    for body in bodies:
        sent = time.perf_counter()
        response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
        latencies.append(time.perf_counter() - sent)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
    return Figures(readings=len(bodies) * per_request, seconds=time.perf_counter() - began, latencies=latencies)


def run_backend(name: str, database_url: str, args: argparse.Namespace, workdir: Path) -> tuple[Figures, Figures]:
    server = Server(database_url, args.workers, workdir)
    server.prepare()
    try:
        server.start()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {server.token()}"

        start = datetime(2020, 1, 1, tzinfo=UTC)
        items = [_reading("1BENCH00000001", start + timedelta(minutes=15 * n), n) for n in range(args.readings)]
        batches = [json.dumps({"readings": items[i : i + BATCH]}).encode() for i in range(0, len(items), BATCH)]
        local_start = datetime(2021, 1, 1)  # Brussels wall time, as the prototype's reader wrote it
        singles = [
            json.dumps(_prototype("1BENCH00000002", local_start + timedelta(minutes=15 * n), n)).encode()
            for n in range(args.baseline)
        ]

        baseline = _post_all(session, f"{server.base}/api-auth/setData", singles, per_request=1)
        batched = _post_all(session, f"{server.base}/api/v1/readings", batches, per_request=BATCH)

        meters = {m["serial"]: m["reading_count"] for m in session.get(f"{server.base}/api/v1/meters/").json()}
        if meters.get("1BENCH00000001") != args.readings or meters.get("1BENCH00000002") != args.baseline:
            raise RuntimeError(f"{name}: stored counts do not match what was sent: {meters}")
        return batched, baseline
    finally:
        server.stop()


def _report(name: str, batched: Figures, baseline: Figures) -> bool:
    ok = batched.rate >= GOAL
    print(
        f"{name:<10} batched /api/v1/readings: {batched.rate:>8,.0f} readings/s "
        f"({batched.readings:,} in {batched.seconds:.1f} s, p95 {batched.p95_ms:.0f} ms per 1,000)   "
        f"baseline /api-auth/setData: {baseline.rate:>6,.0f} readings/s "
        f"({baseline.readings:,} in {baseline.seconds:.1f} s, p95 {baseline.p95_ms:.1f} ms)   "
        f"ratio {batched.rate / baseline.rate:5.1f}x   goal {GOAL:,}: {'met' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def _pg_admin(url: str) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    all_ok = True
    workdir = Path(tempfile.mkdtemp(prefix="p1-api-bench-"))
    try:
        batched, baseline = run_backend("SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}", args, workdir)
        all_ok &= _report("SQLite", batched, baseline)

        try:
            admin = _pg_admin(args.pg_url)
        except Exception as exc:  # noqa: BLE001 - any connection failure means "no PostgreSQL here"
            print(f"PostgreSQL at {args.pg_url} unreachable ({exc.__class__.__name__}): PostgreSQL run skipped")
        else:
            scratch = f"p1_api_bench_{secrets.token_hex(4)}"
            with admin:
                admin.execute(f'CREATE DATABASE "{scratch}"')
                try:
                    url = args.pg_url.rsplit("/", 1)[0] + f"/{scratch}"
                    batched, baseline = run_backend("PostgreSQL", url, args, workdir)
                    all_ok &= _report("PostgreSQL", batched, baseline)
                finally:
                    admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
