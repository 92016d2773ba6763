"""Ingest throughput: readings/s through meters.ingest.ingest_readings in batches of 1,000.

Runs on SQLite (a temporary database file) and on PostgreSQL (a scratch database created and dropped here;
skipped with a message when the server is unreachable). Each backend runs in its own child process, which
also measures the baseline in the same process: one ``Reading.save()`` per reading. Goal: >= 20,000 readings/s.

    .venv/bin/python bench/ingest.py [--readings 20000] [--baseline 2000] [--pg-url postgres://...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 20_000
BATCH = 1_000


def _items(serial: str, start: datetime, count: int) -> list[dict]:
    items = []
    register = 1000.0
    for n in range(count):
        register += 0.125
        items.append(
            {
                "serial": serial,
                "timestamp": (start + timedelta(minutes=15 * n, seconds=3)).isoformat(),
                "import_t1_kwh": f"{register:.3f}",
                "import_t2_kwh": f"{register / 2:.3f}",
                "export_t1_kwh": "120.500",
                "export_t2_kwh": "10.250",
                "tariff": 1 + n % 2,
                "power_import_kw": 0.512,
                "power_export_kw": 0,
                "l1_import_kw": 0.2,
                "l2_import_kw": 0.15,
                "l3_import_kw": 0.162,
                "l1_export_kw": 0,
                "l2_export_kw": 0,
                "l3_export_kw": 0,
                "l1_voltage_v": 231.4,
                "l2_voltage_v": 229.8,
                "l3_voltage_v": 230.6,
                "l1_current_a": 1.2,
                "l2_current_a": 0.8,
                "l3_current_a": 0.9,
                "breaker_state": 1,
                "avg_demand_kw": 0.48,
                "month_peak_kw": 3.2,
                "month_peak_at": "2026-01-05T18:15:00+01:00",
                "gas_m3": f"{register / 10:.3f}",
                "gas_at": (start + timedelta(minutes=15 * n)).isoformat(),
            }
        )
    return items


def child(readings: int, baseline: int) -> dict:
    """Runs inside a process whose DATABASE_URL points at an empty database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from meters.ingest import ingest_readings, parse_timestamp, slot_start
    from meters.models import Meter, Reading

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench-operator", is_staff=True)
    start = datetime(2025, 1, 1, tzinfo=UTC)

    # Baseline: the naive way, one save() per reading (autocommit), values converted by Django.
    base_meter = Meter.objects.create(serial="1BENCH00000001")
    base_items = _items(base_meter.serial, start, baseline)
    began = time.perf_counter()
    for item in base_items:
        moment = parse_timestamp(item["timestamp"])
        fields = {k: v for k, v in item.items() if k not in ("serial", "timestamp")}
        fields["month_peak_at"] = parse_timestamp(fields["month_peak_at"])
        fields["gas_at"] = parse_timestamp(fields["gas_at"])
        Reading(meter=base_meter, timestamp=slot_start(moment), measured_at=moment, **fields).save()
    baseline_rate = baseline / (time.perf_counter() - began)

    # Best of three rounds (each on a new meter): the machine may be shared, the best round is the capacity.
    ingest_rate = resend_rate = cpu_rate = 0.0
    for round_ in range(3):
        items = _items(f"1BENCH0000001{round_}", start, readings)
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        began, began_cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            ingest_readings(user, batch)
        ingest_rate = max(ingest_rate, readings / (time.perf_counter() - began))
        cpu_rate = max(cpu_rate, readings / (time.process_time() - began_cpu))

        # Resending everything (the edge after a crash): all duplicates.
        began = time.perf_counter()
        for batch in batches:
            result = ingest_readings(user, batch)
            assert result.created == 0
        resend_rate = max(resend_rate, readings / (time.perf_counter() - began))

    assert Reading.objects.filter(meter__serial="1BENCH00000010").count() == readings
    return {"baseline": baseline_rate, "ingest": ingest_rate, "resend": resend_rate, "cpu": cpu_rate}


def _run_child(database_url: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "0", "SECRET_KEY": os.environ.get("SECRET_KEY", "")}
    if not env["SECRET_KEY"]:
        env["SECRET_KEY"] = uuid.uuid4().hex * 2  # a throw-away key for this run only
    command = [sys.executable, __file__, "--child", "--readings", str(args.readings), "--baseline", str(args.baseline)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(name: str, figures: dict) -> bool:
    ratio = figures["ingest"] / figures["baseline"]
    print(
        f"{name:<11} ingest_readings: {figures['ingest']:>9,.0f} readings/s "
        f"(per CPU-second of this process: {figures['cpu']:>7,.0f})   "
        f"resend (all duplicates): {figures['resend']:>9,.0f} readings/s   "
        f"baseline save(): {figures['baseline']:>7,.0f} readings/s   ratio {ratio:5.1f}x   "
        f"goal {GOAL:,}: {'met' if figures['ingest'] >= GOAL else 'MISSED'}"
    )
    return figures["ingest"] >= GOAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--baseline", type=int, default=2_000)
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.readings, args.baseline)))
        return 0

    print(f"ingest bench: {args.readings:,} readings in batches of {BATCH:,}; baseline {args.baseline:,} save() calls")
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPU(s): figures drop when the machine is shared")
    with tempfile.TemporaryDirectory() as tmp:
        _report("SQLite", _run_child(f"sqlite:///{tmp}/bench.sqlite3", args))

    import psycopg

    admin_url = args.pg_url
    scratch = f"p1_bench_ingest_{os.getpid()}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL  skipped: {admin_url} unreachable ({str(exc).strip().splitlines()[0]})")
        return 0
    try:
        admin.execute(f'CREATE DATABASE "{scratch}"')
        _report("PostgreSQL", _run_child(admin_url.rsplit("/", 1)[0] + f"/{scratch}", args))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
