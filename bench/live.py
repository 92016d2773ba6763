"""Live snapshots at fleet scale: 1,000 simulated meters posting to /api/v1/live through gunicorn, and the p95 of
GET /api/v1/meters/<code>/live, on the database cache and on Redis.

PostgreSQL holds the accounts (a scratch database, created and dropped here). Each of the 1,000 meters has its own
account and paired device (a device token, as a Pi sends it). A Pi posts every 10 s, so 1,000 meters make
100 posts/s; the bench posts ``--rounds`` rounds of all meters as fast as ``--clients`` parallel clients can, so the
figure is the capacity. (The server's one-snapshot-per-2-s limit per meter is off here, because the rounds are
compressed.) GET /live is timed one request at a time for 50 owners whose meters hold today's quarter-hours.

The posts are made twice: by Python threads (requests), which share the two cores with the server, and by wrk (a
C load generator, `apt-get install wrk`; skipped with a message when absent), whose figure is the server's capacity.
Baselines in the same run, with the same Python client: the snapshots' count posted as one-reading uploads to
/api/v1/readings (what storing live data as readings would cost), and GET of the day series (a dashboard refresh).
Targets: >= 1,000 posts/s and GET /live p95 < 20 ms on Redis.

    .venv/bin/python bench/live.py [--meters 1000] [--rounds 5] [--clients 16] [--workers 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from _timing import child_env, stop_process, wait_for_health

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POST_GOAL = 1_000
GET_GOAL_MS = 20.0
SAMPLED = 50
REDIS_DB = 13  # this bench's own Redis database, emptied before and after

_SETUP = """
import json, os, secrets, sys
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from meters.devices import _hash
from meters.ingest import ingest_readings
from meters.models import Device, Meter
from tests.factories import reading_item

count, sampled = int(os.environ["BENCH_METERS"]), int(os.environ["BENCH_SAMPLED"])
User = get_user_model()
users = User.objects.bulk_create([User(username=f"bench-{i:05d}") for i in range(count)])
meters = Meter.objects.bulk_create([Meter(serial=f"1BENCH{i:08d}", owner=u) for i, u in enumerate(users)])
tokens = [f"p1d_{secrets.token_urlsafe(24)}" for _ in users]
Device.objects.bulk_create([Device(owner=u, name="pi", token_hash=_hash(t)) for u, t in zip(users, tokens)])
now = timezone.now()
slot = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % 15)
owners = []
for user, meter in list(zip(users, meters))[:sampled]:
    # Today's quarter-hours so far (at least one), so the guard reads a real month peak from stored quarters.
    start = slot.replace(hour=0, minute=0)
    n = max(1, int((slot - start).total_seconds() // 900))
    items = [reading_item(meter.serial, (slot - timedelta(minutes=15 * k)).isoformat(),
             import_t1_kwh=f"{1000 + (n - k) * 0.3:.3f}") for k in range(n)]
    ingest_readings(user, items)
    owners.append({"code": str(meter.code), "token": str(AccessToken.for_user(user))})
json.dump({"serials": [m.serial for m in meters], "tokens": tokens, "owners": owners}, sys.stdout)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] * 1000 if len(samples) > 1 else samples[0] * 1000


class Server:
    def __init__(self, database_url: str, redis_url: str | None, workers: int, workdir: Path, name: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        extra = {
            "DATABASE_URL": database_url,
            "ALLOWED_HOSTS": "127.0.0.1",
            "THROTTLE_INGEST_RATE": "1000000/min",
            "LIVE_MIN_INTERVAL_SECONDS": "0",
            "JWT_ACCESS_MINUTES": "120",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        if redis_url:
            extra["REDIS_URL"] = redis_url
        self.env = child_env(**extra)
        if not redis_url:
            self.env.pop("REDIS_URL", None)  # the database cache, whatever the calling shell has set
        self.workers = workers
        self.log = (workdir / f"gunicorn-{name}.log").open("w")
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str, stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True, stdout=stdout)

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
            "--backlog",
            "2048",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        wait_for_health(self.process, self.base, str(self.log.name))

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def _snapshot(serial: str, moment: datetime, n: int) -> bytes:
    rng = random.Random(n)
    power = rng.uniform(0.2, 6.0)
    return json.dumps(
        {
            "serial": serial,
            "measured_at": moment.isoformat(),
            "power_import_kw": f"{power:.3f}",
            "power_export_kw": "0.000",
            "l1_import_kw": f"{power / 3:.3f}",
            "l2_import_kw": f"{power / 3:.3f}",
            "l3_import_kw": f"{power / 3:.3f}",
            "l1_voltage_v": "231.4",
            "l2_voltage_v": "229.8",
            "l3_voltage_v": "230.6",
            "l1_current_a": "3.1",
            "l2_current_a": "2.9",
            "l3_current_a": "3.0",
            "tariff": 1,
            "avg_demand_kw": f"{power * 0.8:.3f}",
            "month_peak_kw": "4.120",
            "month_peak_at": moment.replace(hour=8, minute=15, second=0, microsecond=0).isoformat(),
        }
    ).encode()


def _reading(serial: str, moment: datetime, n: int) -> bytes:
    slot = moment.replace(second=0, microsecond=0) - timedelta(minutes=15 * (n + 200))
    item = {
        "serial": serial,
        "timestamp": slot.isoformat(),
        "import_t1_kwh": f"{2000 + n * 0.1:.3f}",
        "import_t2_kwh": "500.000",
        "export_t1_kwh": "10.000",
        "export_t2_kwh": "1.000",
        "power_import_kw": "0.500",
        "power_export_kw": "0.000",
    }
    return json.dumps({"readings": [item]}).encode()


def _blast(url: str, jobs: list[tuple[str, bytes]], clients: int, accepted: tuple[int, ...]) -> tuple[float, float]:
    """Posts/s and p95 ms of every (token, body) in ``jobs``, ``clients`` at a time, each on a kept-alive session."""
    local = threading.local()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def post(job: tuple[str, bytes]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        token, body = job
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sent = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=60)
        took = time.perf_counter() - sent
        with lock:
            latencies.append(took)
            if response.status_code not in accepted and len(errors) < 5:
                errors.append(f"{response.status_code}: {response.text[:200]}")

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, jobs))
    seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{url}: {errors}")
    return len(jobs) / seconds, _p95(latencies)


_WRK_SCRIPT = """
-- One thread posts for its own meters (thread t: meters t, t + T, ...), round after round, each round 10 s later
-- on the meter clock, so every snapshot of a meter is newer than the one before (as a Pi's are).
local fleet = {}
for line in io.lines(os.getenv("BENCH_FLEET")) do
  local token, serial = line:match("([^ ]+) ([^ ]+)")
  fleet[#fleet + 1] = {token, serial}
end
local threads, counter = 0, 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
function init(args)
  mine, n = {}, 0
  for i = id + 1, #fleet, tonumber(os.getenv("BENCH_THREADS")) do mine[#mine + 1] = fleet[i] end
end
function request()
  local meter = mine[(n % #mine) + 1]
  local round = math.floor(n / #mine)
  n = n + 1
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S+00:00", tonumber(os.getenv("BENCH_BASE")) + 10 * round)
  local power = string.format("%.3f", 0.2 + (n % 58) / 10)
  local body = '{"serial":"' .. meter[2] .. '","measured_at":"' .. stamp .. '","power_import_kw":"' .. power ..
    '","power_export_kw":"0.000","l1_import_kw":"1.000","l2_import_kw":"1.000","l3_import_kw":"1.000",' ..
    '"l1_voltage_v":"231.4","l2_voltage_v":"229.8","l3_voltage_v":"230.6","tariff":1,"avg_demand_kw":"2.100",' ..
    '"month_peak_kw":"4.120"}'
  return wrk.format("POST", "/api/v1/live", {["Authorization"] = "Bearer " .. meter[1],
    ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %.6f %.3f\\n", summary.requests, summary.errors.status,
    summary.duration / 1e6, latency:percentile(95) / 1000))
end
"""


def _wrk(base: str, fleet: dict, workdir: Path, seconds: int, connections: int) -> tuple[float, float]:
    """Posts/s and p95 ms from wrk (a C load generator, so the two cores go to the server, not to the client)."""
    threads = 2
    listing = workdir / "fleet.txt"
    listing.write_text("".join(f"{t} {s}\n" for t, s in zip(fleet["tokens"], fleet["serials"], strict=True)))
    script = workdir / "live.lua"
    script.write_text(_WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_FLEET": str(listing),
        "BENCH_THREADS": str(threads),
        "BENCH_BASE": str(int(time.time()) - 86_400),
    }
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), base]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    requests_done, bad, duration, p95 = line.split()[1:]
    if int(bad):
        raise RuntimeError(f"wrk: {bad} of {requests_done} snapshots were not accepted:\n{out}")
    return int(requests_done) / float(duration), float(p95)


def _time_gets(base: str, owners: list[dict], path: str, calls: int) -> float:
    session = requests.Session()
    samples = []
    for n in range(calls + len(owners)):
        owner = owners[n % len(owners)]
        url = f"{base}/api/v1/meters/{owner['code']}/{path}"
        sent = time.perf_counter()
        response = session.get(url, headers={"Authorization": f"Bearer {owner['token']}"}, timeout=60)
        took = time.perf_counter() - sent
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        if n >= len(owners):  # the first pass of each owner warms its month-peak cache entry
            samples.append(took)
    return _p95(samples)


def run(name: str, database_url: str, redis_url: str | None, args: argparse.Namespace, workdir: Path) -> bool:
    server = Server(database_url, redis_url, args.workers, workdir, name)
    server.manage("migrate", "--no-input", "-v", "0")
    server.manage("createcachetable", "-v", "0")
    setup_env = {**server.env, "BENCH_METERS": str(args.meters), "BENCH_SAMPLED": str(SAMPLED)}
    command = [PYTHON, "manage.py", "shell", "-v", "0", "-c", _SETUP]
    out = subprocess.run(command, cwd=ROOT, env=setup_env, check=True, stdout=subprocess.PIPE).stdout
    fleet = json.loads(out)
    try:
        server.start()
        now = datetime.now(UTC).replace(microsecond=0)
        jobs = [
            (token, _snapshot(serial, now + timedelta(seconds=10 * r - 60 * args.rounds), r * args.meters + i))
            for r in range(args.rounds)
            for i, (serial, token) in enumerate(zip(fleet["serials"], fleet["tokens"], strict=True))
        ]
        # The Python client's figures compare with the baseline (same client); wrk's are the server's capacity.
        py_rate, py_p95 = _blast(f"{server.base}/api/v1/live", jobs, args.clients, (202,))
        if shutil.which("wrk"):
            rate, post_p95 = _wrk(server.base, fleet, workdir, args.seconds, args.clients)
        else:
            print("wrk is not installed (apt-get install wrk): the capacity below is the Python client's")
            rate, post_p95 = py_rate, py_p95
        base_jobs = [
            (t, _reading(s, now, n)) for n, (t, s) in enumerate(zip(fleet["tokens"], fleet["serials"], strict=True))
        ]
        base_rate, base_p95 = _blast(f"{server.base}/api/v1/readings", base_jobs, args.clients, (200,))
        get_p95 = _time_gets(server.base, fleet["owners"], "live", args.gets)
        series_p95 = _time_gets(server.base, fleet["owners"], "series/?view=day", args.gets)
    finally:
        server.stop()
    ok = rate >= POST_GOAL and (redis_url is None or get_p95 < GET_GOAL_MS)
    print(
        f"{name:<16} POST /api/v1/live, {args.meters:,} meters, {args.clients} connections: wrk {rate:>6,.0f} "
        f"posts/s (p95 {post_p95:.0f} ms)   Python client {py_rate:>5,.0f} posts/s (p95 {py_p95:.0f} ms) vs baseline "
        f"one-reading /api/v1/readings {base_rate:>5,.0f} posts/s (p95 {base_p95:.0f} ms): ratio "
        f"{py_rate / base_rate:4.1f}x\n"
        f"{'':<16} GET /live p95 {get_p95:.1f} ms   baseline GET day series p95 {series_p95:.1f} ms   "
        f"ratio {series_p95 / get_p95:4.1f}x   goals >= {POST_GOAL:,} posts/s"
        f"{f', p95 < {GET_GOAL_MS:.0f} ms' if redis_url else ''}: {'met' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--gets", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20, help="how long wrk posts")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}"))
    args = parser.parse_args()

    import psycopg
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="p1-live-bench-"))
    all_ok = True
    try:
        admin = psycopg.connect(args.pg_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {args.pg_url} unreachable ({exc.__class__.__name__}): nothing to measure")
        return 1
    try:
        for name, use_redis in (("database cache", False), ("Redis", True)):
            scratch = f"p1_live_bench_{secrets.token_hex(4)}"
            admin.execute(f'CREATE DATABASE "{scratch}"')
            try:
                if use_redis:
                    redis.Redis.from_url(args.redis_url).flushdb()
                url = args.pg_url.rsplit("/", 1)[0] + f"/{scratch}"
                all_ok &= run(name, url, args.redis_url if use_redis else None, args, workdir)
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
                if use_redis:
                    redis.Redis.from_url(args.redis_url).flushdb()
    finally:
        admin.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
