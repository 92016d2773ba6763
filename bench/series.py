"""Benchmark of the dashboard series service on a realistic table: 100 meters x 1 year of quarter-hours (3.5M rows).

For SQLite (a temporary file) and PostgreSQL (a scratch database, skipped with a message when unreachable) it
bulk-loads the readings (executemany / COPY), then times the month, week and day series of one meter (p50/p95
over N calls) beside a baseline run in the same process: load the period's Reading objects through the ORM and
bucket them in Python. Goals: month p95 < 50 ms; the year view (12 months
summed from 365 stored days) within 2x the month's p95.

    .venv/bin/python bench/series.py                 # both databases, 100 meters, 365 days, 50 calls
    .venv/bin/python bench/series.py --meters 10     # smaller table
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/p1_bench_series .venv/bin/python bench/series.py

Each database runs in its own child process (Django's settings are read once per process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _timing import run_children, time_calls

if TYPE_CHECKING:
    from meters.models import Meter

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/p1_bench_series"
YEAR_START = datetime(2023, 12, 31, 23, 0, tzinfo=UTC)  # 2024-01-01 00:00 in Brussels
CASES = (
    ("month", date(2024, 10, 15)),
    ("week", date(2024, 10, 23)),
    ("day", date(2024, 10, 27)),
    ("year", date(2024, 10, 15)),
)
COLUMNS = (
    "meter_id",
    "timestamp",
    "measured_at",
    "import_t1_kwh",
    "import_t2_kwh",
    "export_t1_kwh",
    "export_t2_kwh",
    "tariff",
    "power_import_kw",
    "power_export_kw",
    "l1_import_kw",
    "l2_import_kw",
    "l3_import_kw",
    "l1_export_kw",
    "l2_export_kw",
    "l3_export_kw",
    "gas_m3",
    "received_at",
)


def _rows(meter_id: int, stamps: list[str], pg: bool) -> Iterator[tuple[Any, ...]]:
    """One meter's year: cumulative registers from pseudo-random quarter energies (deterministic)."""
    i1 = 1_000_000 + meter_id * 1_000
    i2 = 2_000_000
    e1 = e2 = 0
    gas = 3_000_000
    for i, ts in enumerate(stamps):
        q = i % 96
        day_tariff = 28 <= q < 88 and (i // 96 + 1) % 7 < 5
        imp = 40 + (i * 37 + meter_id * 11) % 211
        exp = (i * 13) % 97 if 36 <= q < 68 else 0
        if pg:
            fmt = "{:.3f}"
            yield (
                meter_id,
                ts,
                ts,
                fmt.format(i1 / 1000),
                fmt.format(i2 / 1000),
                fmt.format(e1 / 1000),
                fmt.format(e2 / 1000),
                1 if day_tariff else 2,
                "0.500",
                "0.000",
                "0.200",
                "0.150",
                "0.100",
                "0.000",
                "0.000",
                "0.000",
                fmt.format(gas / 1000),
                ts,
            )
        else:
            yield (
                meter_id,
                ts,
                ts,
                i1 / 1000,
                i2 / 1000,
                e1 / 1000,
                e2 / 1000,
                1 if day_tariff else 2,
                0.5,
                0.0,
                0.2,
                0.15,
                0.1,
                0.0,
                0.0,
                0.0,
                gas / 1000,
                ts,
            )
        if day_tariff:
            i1 += imp
            e1 += exp
        else:
            i2 += imp
            e2 += exp
        gas += i % 5


def _load(n_meters: int, days: int) -> int:
    from django.db import connection, transaction

    from meters.models import Meter, Reading

    Meter.objects.bulk_create([Meter(serial=f"1BENCH{i:08d}", name=f"Bench {i}") for i in range(n_meters)])
    meter_ids = list(Meter.objects.order_by("id").values_list("id", flat=True))
    slots = days * 96
    pg = connection.vendor == "postgresql"
    if pg:
        stamps = [(YEAR_START + timedelta(minutes=15 * i)).isoformat() for i in range(slots)]
    else:
        stamps = [(YEAR_START + timedelta(minutes=15 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(slots)]
    table = Reading._meta.db_table
    cols = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # Rows interleaved by time, as devices upload them: the table is not clustered by meter.
        rows = (row for rows in zip(*(_rows(m, stamps, pg) for m in meter_ids), strict=True) for row in rows)
        if pg:
            raw = cursor.cursor  # psycopg 3 cursor: COPY is the fast path
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(COLUMNS))
            sql = f"INSERT INTO {table} ({cols}) VALUES ({placeholders})"  # noqa: S608 - fixed names
            # django-stubs wants a Sequence, but Django hands param_list on to sqlite3's executemany, which takes any
            # iterable (SQLiteCursorWrapper.executemany tee()s it: "a generator can be passed"). Streaming keeps the
            # 3.5M rows out of memory.
            cursor.executemany(sql, rows)  # type: ignore[arg-type]
            cursor.execute("ANALYZE")
    if pg:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does after a bulk load
    count = Reading.objects.count()
    print(f"  loaded {count:,} readings for {len(meter_ids)} meters in {time.perf_counter() - started:.1f} s")
    return meter_ids[len(meter_ids) // 2]


def baseline(meter: Meter, view: str, day: date) -> dict[str, Any]:
    """The straightforward way: Reading objects through the ORM, bucketed in Python with Decimals."""
    from meters.models import Reading
    from meters.series import boundaries

    bounds = [datetime.fromtimestamp(b, UTC) for b in boundaries(view, day)]
    readings = list(
        Reading.objects.filter(meter=meter, timestamp__gte=bounds[0], timestamp__lte=bounds[-1]).order_by("timestamp")
    )
    by_ts = {r.timestamp: r for r in readings}
    buckets = []
    for a, b in pairwise(bounds):
        ra, rb = by_ts.get(a), by_ts.get(b)
        inside = [r for r in readings if a <= r.timestamp < b]
        energy = None
        if ra and rb:
            energy = (rb.import_t1_kwh + rb.import_t2_kwh) - (ra.import_t1_kwh + ra.import_t2_kwh)
        loads = [r.l1_import_kw - (r.l1_export_kw or Decimal(0)) for r in inside if r.l1_import_kw is not None]
        buckets.append((a, energy, sum(loads) / len(loads) if loads else None))
    total = sum((e for _, e, _ in buckets if e is not None), Decimal(0))
    return {"buckets": len(buckets), "import_kwh": total, "known": [e is not None for _, e, _ in buckets]}


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from meters.models import Meter
    from meters.series import build_series, rollups
    from meters.series.trends import trends
    from users.models import prices_for

    call_command("migrate", verbosity=0, interactive=False)
    meter = Meter.objects.get(id=_load(args.meters, args.days))
    # The readings went straight to the table (COPY), past ingest: build the measured meter's stored rollups, which
    # the month and year views read, as ingest would have kept them.
    started = time.perf_counter()
    rollups.rebuild(meter.pk)
    print(f"  rollups of the measured meter rebuilt in {time.perf_counter() - started:.1f} s")
    prices = prices_for(meter.owner)  # looked up once, as a page does before it builds its series
    print(f"  {'view':6} {'series p50':>11} {'p95':>8} {'baseline p50':>13} {'p95':>8} {'speed-up p95':>13}")
    month_p95 = year_p95 = 0.0
    for view, day in CASES:
        series = build_series(meter, view, day, prices=prices)
        base = baseline(meter, view, day)
        # The bench's year ends on its last day at midnight, so the baseline knows no December (no reading at the
        # year's end boundary) while the year view sums December's known days: compare what both know.
        known = sum(b.import_wh or 0 for b, k in zip(series.buckets, base["known"], strict=True) if k)
        if known != int(base["import_kwh"] * 1000) or len(series.buckets) != base["buckets"]:
            print(f"  MISMATCH on {view}: series {known} Wh, baseline {base['import_kwh']} kWh")
            return 1
        if view == "month":
            cold = []
            for _ in range(5):
                cache.clear()
                started = time.perf_counter()
                build_series(meter, view, day, prices=prices)
                cold.append((time.perf_counter() - started) * 1000)
            print(
                f"  month, cold cache (11 past months' peaks computed in SQL): median {statistics.median(cold):.1f} ms"
            )
        s50, s95 = time_calls(partial(build_series, meter, view, day, prices=prices), args.calls)
        # A year's baseline loads 35,000 Reading objects a call: fewer calls are enough for its median.
        b50, b95 = time_calls(
            partial(baseline, meter, view, day), min(args.calls, 10) if view == "year" else args.calls
        )
        print(f"  {view:6} {s50:9.1f}ms {s95:6.1f}ms {b50:11.1f}ms {b95:6.1f}ms {b95 / s95:12.1f}x")
        if view == "month":
            month_p95 = s95
        if view == "year":
            year_p95 = s95
    verdict = "met" if month_p95 < 50 else "NOT met"
    print(f"  goal month p95 < 50 ms (warm cache, 12-month card included): {verdict} ({month_p95:.1f} ms)")
    # Trends over the bench's 12 months (its ~35,000 stored quarters), against the year view in the same run.
    t50, t95 = time_calls(partial(trends, meter, date(2024, 1, 1), date(2025, 1, 1)), max(5, args.calls // 5))
    print(f"  trends over 12 months: p50 {t50:.1f} ms, p95 {t95:.1f} ms ({t95 / year_p95:.1f}x the year view's p95)")
    print(f"  goal trends p95 < 250 ms: {'met' if t95 < 250 else 'NOT met'}")
    ratio = year_p95 / month_p95
    verdict = "met" if ratio <= 2 else "NOT met"
    print(f"  goal year p95 within 2x the month's: {verdict} ({year_p95:.1f} ms = {ratio:.2f}x)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    passthrough = ["--meters", str(args.meters), "--days", str(args.days), "--calls", str(args.calls)]
    scale = f"{args.meters} meters x {args.days} days"
    return run_children(__file__, passthrough, scale, os.environ.get("BENCH_PG_URL", DEFAULT_PG))


if __name__ == "__main__":
    sys.exit(main())
