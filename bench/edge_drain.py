"""Drain spooled readings into a live local server and compare with one request per reading.

    .venv/bin/python bench/edge_drain.py [--counts 2880,1000000] [--baseline 300]

Starts gunicorn (2 workers) on 127.0.0.1 against a temp SQLite file, fills a spool per run, then times
`p1edge upload --once` in a subprocess and reports its peak RSS (VmHWM of that process, polled).
The baseline is the same uploader with batch_size=1 (one HTTP request per reading, as the prototype did,
though it keeps one token instead of logging in for every reading); it runs on a smaller count and its
figures for the large counts are EXTRAPOLATED from its rate, and printed as such.
The server's ingest throttle is raised for the bench (THROTTLE_INGEST_RATE) so we measure the drain itself.
Goals: 2,880 readings in < 2 s; 1,000,000 with uploader RSS < 60 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from p1edge.records import encode_record  # noqa: E402
from p1edge.spool import Spool  # noqa: E402

from tests.edge.server import DjangoServer  # noqa: E402

USER, PASSWORD = "bench-pi", "bench-Pass-2880"


@dataclass
class Run:
    label: str
    count: int
    seconds: float
    rss_mb: float
    exit_code: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


# One meter holds at most a year of quarter-hours: a larger backlog is spread over several meters, since one
# meter's million quarter-hours would reach back to 1997, which the server rightly refuses as a factory clock.
READINGS_PER_METER = 35_040


def serials_for(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:03d}" for n in range((count + READINGS_PER_METER - 1) // READINGS_PER_METER)]


def fill_spool(directory: Path, count: int, prefix: str) -> None:
    """`count` realistic quarter-hour readings (registers rising), written in fsync'd chunks."""
    spool = Spool(directory)
    serials = serials_for(prefix, count)
    start = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(minutes=15 * min(count, READINGS_PER_METER))
    registers = [Decimal("1000.000"), Decimal("800.000"), Decimal("50.000"), Decimal("5.000")]
    chunk: list[bytes] = []
    for i in range(count):
        serial = serials[i // READINGS_PER_METER]
        slot = start + timedelta(minutes=15 * (i % READINGS_PER_METER))
        registers[i % 2] += Decimal("0.123")
        registers[2] += Decimal("0.011") if 40 <= i % 96 <= 64 else 0
        chunk.append(
            encode_record(
                {
                    "serial": serial,
                    "timestamp": slot,
                    "measured_at": slot + timedelta(seconds=1),
                    "import_t1_kwh": registers[0],
                    "import_t2_kwh": registers[1],
                    "export_t1_kwh": registers[2],
                    "export_t2_kwh": registers[3],
                    "tariff": 1 + i % 2,
                    "power_import_kw": Decimal("0.492"),
                    "power_export_kw": Decimal("0.000"),
                    "l1_import_kw": Decimal("0.200"),
                    "l2_import_kw": Decimal("0.150"),
                    "l3_import_kw": Decimal("0.142"),
                    "l1_export_kw": Decimal("0.000"),
                    "l2_export_kw": Decimal("0.000"),
                    "l3_export_kw": Decimal("0.000"),
                    "l1_voltage_v": Decimal("231.4"),
                    "l2_voltage_v": Decimal("230.9"),
                    "l3_voltage_v": Decimal("229.8"),
                    "l1_current_a": Decimal("0.87"),
                    "l2_current_a": Decimal("0.65"),
                    "l3_current_a": Decimal("0.62"),
                    "breaker_state": 1,
                    "avg_demand_kw": Decimal("0.481"),
                    "month_peak_kw": Decimal("4.210"),
                    "month_peak_at": slot - timedelta(days=3),
                    "gas_m3": Decimal("1234.500") + Decimal(i) / 1000,
                    "gas_at": slot - timedelta(minutes=5),
                }
            )
        )
        if len(chunk) >= 20_000:
            spool.append(chunk)
            chunk = []
    spool.append(chunk)


def drain(server: DjangoServer, spool_dir: Path, *, batch_size: int) -> tuple[float, float, int]:
    """Run `p1edge upload --once` to completion: (seconds, peak RSS in MB, exit code)."""
    env = {
        **os.environ,
        "P1EDGE_CONFIG": str(spool_dir / "none.toml"),
        "P1EDGE_SPOOL_DIR": str(spool_dir),
        "P1EDGE_API_URL": server.url,
        "P1EDGE_API_USERNAME": USER,
        "P1EDGE_API_PASSWORD": PASSWORD,
        "P1EDGE_BATCH_SIZE": str(batch_size),
        "P1EDGE_API_TIMEOUT": "120",
    }
    command = [sys.executable, "-m", "p1edge.cli", "upload", "--once", "--log-level", "WARNING"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    peak = [0]
    watcher = threading.Thread(target=_watch_hwm, args=(process, peak), daemon=True)
    watcher.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    watcher.join()
    return seconds, peak[0] / 1024, code


def _watch_hwm(process: subprocess.Popen, peak: list[int]) -> None:
    """Poll VmHWM (peak RSS of the uploader's own address space, in kB) until the process ends.

    wait4's ru_maxrss is not used: Linux folds the parent's RSS at fork/exec time into the child's maxrss,
    so it reports the bench process (which has just built the spool), not the uploader."""
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.01)


def run(server: DjangoServer, work: Path, label: str, count: int, batch_size: int) -> Run:
    spool_dir = work / f"spool-{label}"
    t0 = time.perf_counter()
    prefix = f"1SAGB{count:07d}{batch_size:03d}"
    fill_spool(spool_dir, count, prefix=prefix)
    print(f"  spooled {count:,} readings in {time.perf_counter() - t0:.1f} s ({label})", flush=True)
    seconds, rss, code = drain(server, spool_dir, batch_size=batch_size)
    left = Spool(spool_dir).backlog()[0]
    serials = serials_for(prefix, count)
    stored = sum(server.count_readings(serial) for serial in serials)
    print(
        f"  server holds {stored:,} readings for {len(serials)} meter(s); {left} left in the spool; exit code {code}",
        flush=True,
    )
    if code != 0 or left or stored != count:
        code = code or 1
    return Run(label, count, seconds, rss, code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="2880,1000000", help="comma-separated spool sizes to drain")
    parser.add_argument("--baseline", type=int, default=300, help="readings sent one request each (baseline)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]

    with tempfile.TemporaryDirectory(prefix="edge-drain-") as tmp:
        work = Path(tmp)
        server = DjangoServer(
            work / "server",
            workers=args.workers,
            env={"THROTTLE_INGEST_RATE": "1000000/min", "THROTTLE_TOKEN_RATE": "1000/min"},
        )
        print("preparing server (migrate, user) ...", flush=True)
        server.prepare(USER, PASSWORD)
        server.start()
        try:
            base = run(server, work, "baseline", args.baseline, batch_size=1)
            results = [run(server, work, f"batched-{c}", c, batch_size=500) for c in counts]
        finally:
            server.stop()

    print()
    print(f"{'run':<22}{'readings':>12}{'time (s)':>12}{'readings/s':>12}{'uploader RSS (MB)':>20}")
    print(f"{'baseline 1/request':<22}{base.count:>12,}{base.seconds:>12.2f}{base.rate:>12.0f}{base.rss_mb:>20.1f}")
    for r in results:
        print(f"{'batched 500/request':<22}{r.count:>12,}{r.seconds:>12.2f}{r.rate:>12.0f}{r.rss_mb:>20.1f}")
    print()
    for r in results:
        extrapolated = r.count / base.rate
        print(
            f"{r.count:,} readings: batched {r.seconds:.2f} s vs baseline {extrapolated:.1f} s "
            f"(EXTRAPOLATED from {base.count} one-per-request readings at {base.rate:.0f}/s): "
            f"x{extrapolated / r.seconds:.1f} faster"
        )
    goals = []
    for r in results:
        if r.count == 2880:
            goals.append(f"2,880 in < 2 s: {'met' if r.seconds < 2 else 'NOT met'} ({r.seconds:.2f} s)")
        if r.count >= 1_000_000:
            goals.append(f"1M with RSS < 60 MB: {'met' if r.rss_mb < 60 else 'NOT met'} ({r.rss_mb:.1f} MB)")
    print("\n".join(goals))
    return 0 if all(r.exit_code == 0 for r in [base, *results]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
