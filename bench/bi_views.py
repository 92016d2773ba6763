"""Benchmark of the BI views: what a dashboard filter and a Qlik reload cost, against reading the raw rows.

For SQLite (a temporary file) and PostgreSQL (a scratch database, skipped with a message when unreachable) it loads
M meters x D days of quarter-hour readings, then times (p50/p95 over N calls):

* one meter's month from ``bi_day`` and its ``bi_month_peak`` row, and one meter's day from ``bi_quarter_hour``;
* the baseline in the same process: the same meter-month's raw rows from ``meters_reading`` (no window functions),
  and the dashboards' ``build_series(meter, "month", day, prices=...)``;
* a full reload of ``bi_day`` (every meter and day), as a Qlik reload reads it.

Prints milliseconds and the ratio view / raw rows. Goal: one meter-month from bi_day under 100 ms on PostgreSQL.

    .venv/bin/python bench/bi_views.py [--meters 20] [--days 92] [--calls 20] [--pg-url postgres://...]

Each database runs in its own child process (Django's settings are read once per process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _timing import child_env, time_calls

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/p1_bench_bi"
START = datetime(2024, 7, 31, 22, 0, tzinfo=UTC)  # 2024-08-01 00:00 in Brussels
MONTH = (date(2024, 10, 1), date(2024, 11, 1))  # contains the autumn DST day
DAY = date(2024, 10, 27)
GOAL_MS = 100.0


def _load(n_meters: int, days: int) -> tuple[int, str]:
    from decimal import Decimal

    from django.db import connection, transaction

    from meters.models import Meter, Reading

    Meter.objects.bulk_create([Meter(serial=f"1BENCH{i:08d}", name=f"Bench {i}") for i in range(n_meters)])
    meters = list(Meter.objects.order_by("id"))
    started = time.perf_counter()
    with transaction.atomic():
        for meter in meters:
            i1, i2 = 1_000_000 + meter.id, 2_000_000
            batch = []
            for n in range(days * 96):
                ts = START + timedelta(minutes=15 * n)
                night = not 28 <= n % 96 < 88
                batch.append(
                    Reading(
                        meter=meter,
                        timestamp=ts,
                        measured_at=ts,
                        import_t1_kwh=Decimal(i1) / 1000,
                        import_t2_kwh=Decimal(i2) / 1000,
                        export_t1_kwh=0,
                        export_t2_kwh=0,
                        tariff=2 if night else 1,
                        power_import_kw=Decimal("0.5"),
                        power_export_kw=0,
                        l1_import_kw=Decimal("0.2"),
                        l1_export_kw=0,
                    )
                )
                wh = 40 + (n * 37 + meter.id * 11) % 211
                if night:
                    i2 += wh
                else:
                    i1 += wh
            Reading.objects.bulk_create(batch, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.perf_counter() - started
    print(f"  loaded {Reading.objects.count():,} readings, {len(meters)} meters, in {elapsed:.1f} s")
    middle = meters[len(meters) // 2]
    return middle.id, middle.serial


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from meters.models import Meter
    from meters.series import build_series
    from users.models import prices_for

    call_command("migrate", verbosity=0, interactive=False)
    meter_id, serial = _load(args.meters, args.days)
    meter = Meter.objects.get(id=meter_id)
    prices = prices_for(meter.owner)
    month_utc = [datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(hours=2) for d in MONTH]

    def query(sql: str, params: list[Any]) -> Callable[[], list[tuple[Any, ...]]]:
        def run() -> list[tuple[Any, ...]]:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()

        return run

    lo, hi = (str(d) for d in MONTH)
    cases = {
        "bi_day, one meter-month": query(
            "SELECT * FROM bi_day WHERE meter_id = %s AND local_date >= %s AND local_date < %s", [meter_id, lo, hi]
        ),
        "bi_month_peak, one meter": query("SELECT * FROM bi_month_peak WHERE meter_id = %s", [meter_id]),
        # meter_serial is not a window partition column, so this filter is applied after the whole fleet's windows.
        "bi_month_peak, by serial (not pushed)": query("SELECT * FROM bi_month_peak WHERE meter_serial = %s", [serial]),
        "bi_quarter_hour, one meter-day": query(
            "SELECT * FROM bi_quarter_hour WHERE meter_id = %s AND local_date = %s", [meter_id, str(DAY)]
        ),
        "baseline: raw rows, one meter-month": query(
            'SELECT * FROM meters_reading WHERE meter_id = %s AND "timestamp" >= %s AND "timestamp" <= %s',
            [meter_id, *month_utc],
        ),
        "baseline: build_series month": lambda: build_series(meter, "month", MONTH[0], prices=prices),
    }
    results = {name: time_calls(fn, args.calls) for name, fn in cases.items()}
    for name, (p50, p95) in results.items():
        print(f"  {name:<38} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
    raw = results["baseline: raw rows, one meter-month"][0]
    view = results["bi_day, one meter-month"][0]
    print(f"  ratio bi_day month / raw rows month: {view / raw:.1f}x")
    started = time.perf_counter()
    n_days = len(query("SELECT * FROM bi_day", [])())
    print(f"  full bi_day reload: {n_days:,} rows in {(time.perf_counter() - started) * 1000:.0f} ms")
    if connection.vendor == "postgresql":
        verdict = "met" if results["bi_day, one meter-month"][1] < GOAL_MS else "MISSED"
        print(f"  goal bi_day meter-month p95 < {GOAL_MS:.0f} ms on PostgreSQL: {verdict}")
    return 0


def _pg_reachable(url: str) -> bool:
    try:
        import psycopg

        psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    passthrough = ["--meters", str(args.meters), "--days", str(args.days), "--calls", str(args.calls), "--child"]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"== SQLite ({args.meters} meters x {args.days} days) ==", flush=True)
        env = child_env(DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3")
        subprocess.run([sys.executable, __file__, *passthrough], env=env, check=True)
    if not _pg_reachable(args.pg_url):
        print(f"== PostgreSQL at {args.pg_url} unreachable: skipped ==")
        return 0
    import psycopg

    admin = args.pg_url.rsplit("/", 1)[0] + "/postgres"
    name = args.pg_url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"== PostgreSQL ({args.meters} meters x {args.days} days) ==", flush=True)
        env = child_env(DATABASE_URL=args.pg_url)
        subprocess.run([sys.executable, __file__, *passthrough], env=env, check=True)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
