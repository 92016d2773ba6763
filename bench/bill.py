"""Benchmark of the bill (meters/billing/): one meter's year of quarter-hours with day-ahead prices for every quarter.

On SQLite (a temporary file) and PostgreSQL (a scratch database) it loads one meter's year (35,136 readings, rollups
rebuilt) and the year's 35,136 day-ahead prices, gives the meter a dynamic 15-minute contract in Flanders, then
times, server side (the service calls a page makes, no HTTP), p50/p95 over N calls:

* the bill of one month (``month_bill``: 2,976 quarters priced, capacity, fees, levies, VAT);
* the bill beside its comparison (``compare``: the month priced again for each preset);
* the month view with costs for each of the year's 12 months ("a year of costs for the month view"), against the
  baseline in the same run: the same month views for a meter without a contract (the profile prices, computed
  from the day rollups as before contracts existed); then with a day/night contract, which is priced from the
  day totals (``cost.by_registers``) while the dynamic one reads every quarter.

Goals: bill p95 < 250 ms; month view with a dynamic contract p95 < 100 ms.

    .venv/bin/python bench/bill.py
    .venv/bin/python bench/bill.py --calls 10
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

from _timing import run_children, time_calls

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/p1_bench_bill"
YEAR = 2026
MONTH = date(YEAR, 10, 1)  # the autumn DST month: 2,980 quarters
GOAL_BILL_MS = 250
GOAL_MONTH_VIEW_MS = 100


def _load_year(serial: str, offset: int) -> int:
    """A meter with a year of readings (cumulative registers from varied quarter energies), its rollups rebuilt."""
    from meters.models import Meter, Reading
    from meters.series import rollups

    meter = Meter.objects.create(serial=serial, name=serial)
    start = datetime(YEAR - 1, 12, 31, 23, 0, tzinfo=UTC)  # 1 January, local midnight
    regs = [1_000_000 + offset, 2_000_000, 0, 0]
    rows = []
    for i in range(366 * 96 + 1):
        ts = start + timedelta(minutes=15 * i)
        day = 28 <= i % 96 < 88
        rows.append(
            Reading(
                meter=meter,
                timestamp=ts,
                measured_at=ts,
                import_t1_kwh=Decimal(regs[0]) / 1000,
                import_t2_kwh=Decimal(regs[1]) / 1000,
                export_t1_kwh=Decimal(regs[2]) / 1000,
                export_t2_kwh=Decimal(regs[3]) / 1000,
                tariff=1 if day else 2,
                power_import_kw=Decimal("0.5"),
                power_export_kw=Decimal(0),
                gas_m3=Decimal(3_000_000 + i * 2) / 1000,
            )
        )
        imp, exp = 40 + (i * 37) % 211, (i * 13) % 97 if 36 <= i % 96 < 68 else 0
        regs[0 if day else 1] += imp
        regs[2 if day else 3] += exp
    Reading.objects.bulk_create(rows, batch_size=5000)
    rollups.rebuild(meter.pk)
    return meter.pk


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()
    import time

    from django.core.management import call_command

    from meters.billing.bill import compare, month_bill
    from meters.models import Contract, Meter, SpotPrice
    from meters.series import build_series
    from users.models import prices_for

    call_command("migrate", verbosity=0, interactive=False)
    began = time.perf_counter()
    dynamic = Meter.objects.get(pk=_load_year("1BENCHBILL0001", 0))
    plain = Meter.objects.get(pk=_load_year("1BENCHBILL0002", 7))
    first = datetime(YEAR - 1, 12, 31, 23, 0, tzinfo=UTC)
    SpotPrice.objects.bulk_create(
        [
            SpotPrice(slot=first + timedelta(minutes=15 * i), price_eur_mwh=Decimal((i * 53) % 260 - 30))
            for i in range(366 * 96)
        ],
        batch_size=5000,
    )
    Contract.objects.create(
        meter=dynamic, name="Dynamic", valid_from=date(YEAR, 1, 1), region="VL", area="Imewo",
        energy_kind="dynamic", spot_factor=Decimal("0.1039"), spot_offset_ct=Decimal("0.8702"),
        export_kind="dynamic", export_spot_factor=Decimal("0.1"), export_spot_offset_ct=Decimal("-1.3135"),
        fixed_eur_year=Decimal("60"), gas_eur_kwh=Decimal("0.05"),
    )  # fmt: skip
    print(f"  loaded 2 meters x 35,137 readings, 35,136 prices, rollups in {time.perf_counter() - began:.1f} s")
    prices = prices_for(None)

    bill = month_bill(dynamic, MONTH, prices)
    assert bill.complete, bill.notes
    assert bill.total_eur == sum(line.amount_eur for line in bill.lines)
    b50, b95 = time_calls(partial(month_bill, dynamic, MONTH, prices), args.calls)
    c50, c95 = time_calls(partial(compare, dynamic, MONTH, prices), max(3, args.calls // 4))
    alternatives = len(compare(dynamic, MONTH, prices).alternatives)
    print(f"  bill of {MONTH:%B %Y} (dynamic 15-min, {bill.total_eur} EUR): p50 {b50:.1f} ms, p95 {b95:.1f} ms")
    print(f"  bill + comparison with {alternatives} alternatives: p50 {c50:.1f} ms, p95 {c95:.1f} ms")

    def year(meter: Meter) -> None:
        for m in range(1, 13):
            build_series(meter, "month", date(YEAR, m, 15), prices=prices)

    months = [date(YEAR, m, 15) for m in range(1, 13)]
    costs = build_series(dynamic, "month", MONTH, prices=prices)
    assert costs.totals.cost_complete
    v95s, p95s = [], []
    for day in months:
        v95s.append(time_calls(partial(build_series, dynamic, "month", day, prices=prices), args.calls)[1])
        p95s.append(time_calls(partial(build_series, plain, "month", day, prices=prices), args.calls)[1])
    _y50, y95 = time_calls(partial(year, dynamic), max(3, args.calls // 4))
    _z50, z95 = time_calls(partial(year, plain), max(3, args.calls // 4))
    worst, base = max(v95s), max(p95s)
    print(f"  month view with costs, worst month p95: dynamic contract {worst:.1f} ms, baseline {base:.1f} ms "
          f"(no contract) = {worst / base:.1f}x")  # fmt: skip
    print(f"  a year of month views (12 calls): dynamic p95 {y95:.0f} ms, baseline p95 {z95:.0f} ms = {y95 / z95:.1f}x")
    Contract.objects.create(
        meter=plain, name="Day/night", valid_from=date(YEAR, 1, 1), region="VL", area="Imewo",
        energy_kind="day_night", price_day_eur_kwh=Decimal("0.13"), price_night_eur_kwh=Decimal("0.10"),
    )  # fmt: skip
    fixed95 = max(
        time_calls(partial(build_series, plain, "month", day, prices=prices), args.calls)[1] for day in months
    )
    print(f"  month view with a day/night contract (priced from the day totals), worst month p95: {fixed95:.1f} ms "
          f"= {fixed95 / base:.1f}x the baseline")  # fmt: skip
    met_bill = "met" if b95 < GOAL_BILL_MS else "MISSED"
    met_view = "met" if worst < GOAL_MONTH_VIEW_MS else "MISSED"
    print(f"  goal bill p95 < {GOAL_BILL_MS} ms: {met_bill}; month view p95 < {GOAL_MONTH_VIEW_MS} ms: {met_view}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    scale = "1 meter-year, dynamic prices"
    return run_children(__file__, ["--calls", str(args.calls)], scale, os.environ.get("BENCH_PG_URL", DEFAULT_PG))


if __name__ == "__main__":
    sys.exit(main())
