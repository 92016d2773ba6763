"""Benchmark of the Mijn Fluvius import (meters/fluvius/): three years of quarter-hours for one meter.

Writes a quarter-hour totals export of three years (1,096 local days x 96 quarters x 4 registers, about 420,000
rows, both DST changes included) to a temporary directory, then on SQLite (a temporary file) and PostgreSQL (a
scratch database; skipped with a message when unreachable), each in its own child process:

* the baseline: only reading the file (``meters.fluvius.parse.read``, no database);
* the import into an empty meter (``import_file``: one transaction, batches, the reconciliation);
* the same file again (every value ``unchanged``: the idempotent path).

Each prints seconds, rows/s, the ratio to the baseline and the process's peak RSS. Goal: the import under 10 s and
under 150 MB.

    .venv/bin/python bench/fluvius_import.py [--days 1096]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from _timing import run_children

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/p1_bench_fluvius"
SERIAL = "1SAG1100000292"
FIRST = datetime(2023, 10, 12, tzinfo=ZoneInfo("Europe/Brussels"))
HEADER = (
    "Van datum;Van tijdstip;Tot datum;Tot tijdstip;EAN-code;Meter;Metertype;Register;Volume;Eenheid;"
    "Validatiestatus;Omschrijving"
)
REGISTERS = ("Afname Dag", "Afname Nacht", "Injectie Dag", "Injectie Nacht")
GOAL_SECONDS = 10
GOAL_MB = 150


def write_file(path: Path, days: int) -> int:
    """The export, written line by line; returns its data rows."""
    zone = FIRST.tzinfo
    start = FIRST.astimezone(UTC)
    last = FIRST + timedelta(days=days)
    end = datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(UTC)
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(HEADER + "\n")
        t = start
        step = timedelta(minutes=15)
        while t < end:
            a, b = t.astimezone(zone), (t + step).astimezone(zone)
            when = f"{a:%d-%m-%Y;%H:%M:%S};{b:%d-%m-%Y;%H:%M:%S}"
            i = int(t.timestamp()) // 900
            for k, name in enumerate(REGISTERS):
                wh = (40 + (i * 37 + k) % 211) if k < 2 else (i * 13 + k) % 97
                status = "Geschat" if i % 997 == 0 else "Gevalideerd"
                out.write(
                    f'{when};="541448820000000000";{SERIAL};Digitale Meter;{name};{wh // 1000},{wh % 1000:03d};kWh;'
                    f"{status};\n"
                )
                rows += 1
            t += step
    return rows


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from meters.fluvius import parse
    from meters.fluvius.imports import import_file
    from meters.models import FluviusInterval, Meter

    call_command("migrate", verbosity=0, interactive=False)
    meter = Meter.objects.create(serial=SERIAL, name="bench")
    path = Path(args.file)
    size_mb = path.stat().st_size / 1e6
    print(f"  ready: {size_mb:.1f} MB file, peak RSS {_peak_mb():.0f} MB after Django and migrate", flush=True)

    began = time.perf_counter()
    with path.open("rb") as handle:
        parsed = sum(1 for _ in parse.read(handle, serial=SERIAL))
    base = time.perf_counter() - began
    print(f"  baseline, reading only: {parsed:,} rows in {base:.2f} s = {parsed / base:,.0f} rows/s; "
          f"peak RSS {_peak_mb():.0f} MB", flush=True)  # fmt: skip

    began = time.perf_counter()
    with path.open("rb") as handle:
        report = import_file(meter, handle, file_name=path.name)
    took = time.perf_counter() - began
    stored = FluviusInterval.objects.filter(meter=meter).count()
    assert report.stored == parsed == stored, (report.stored, parsed, stored)
    peak = _peak_mb()
    print(f"  import: {report.rows:,} rows in {took:.2f} s = {report.rows / took:,.0f} rows/s "
          f"({took / base:.1f}x the baseline); peak RSS {peak:.0f} MB", flush=True)  # fmt: skip

    began = time.perf_counter()
    with path.open("rb") as handle:
        again = import_file(meter, handle, file_name=path.name)
    again_took = time.perf_counter() - began
    assert again.unchanged == parsed
    assert again.stored == 0
    print(f"  re-import (all unchanged): {again_took:.2f} s = {again.rows / again_took:,.0f} rows/s "
          f"({again_took / base:.1f}x the baseline); peak RSS {_peak_mb():.0f} MB", flush=True)  # fmt: skip
    met = "met" if took < GOAL_SECONDS and peak < GOAL_MB else "MISSED"
    print(f"  goal import < {GOAL_SECONDS} s and < {GOAL_MB} MB: {met}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="bench-fluvius-") as tmp:
        path = Path(tmp) / "Verbruikshistoriek_elektriciteit_541448820000000000_kwartiertotalen.csv"
        began = time.perf_counter()
        rows = write_file(path, args.days)
        print(f"wrote {rows:,} rows ({args.days} days) in {time.perf_counter() - began:.1f} s", flush=True)
        scale = f"{rows:,} quarter-hour rows"
        return run_children(__file__, ["--file", str(path)], scale, os.environ.get("BENCH_PG_URL", DEFAULT_PG))


if __name__ == "__main__":
    sys.exit(main())
