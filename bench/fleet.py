"""Fleet scale (issue 23): 1,000 meters x 1 year of quarter-hours on PostgreSQL, before and after the stored rollups.

In a scratch database (created here, dropped at the end unless ``--keep``; ``--reuse`` keeps a kept one whose row
count matches) it

1. generates M meters x D local days of readings IN SQL (INSERT ... SELECT FROM generate_series, one local day per
   statement, interleaved by time as devices upload them): a household profile from hashes (base load, morning and
   evening peaks, appliance spikes, EV charging, heating season, solar export on 40 % of the meters, weather shared
   by the fleet), day/night tariff by local hour, gas on 80 % of the meters, the meter's own 1-0:1.6.0, a few
   outages and gas gaps, one meter in 250 replaced (registers restart). The last reading is 2026-11-01 00:00
   Brussels; nothing reads the wall clock;
2. builds the rollups through the production path, ``meters.series.rollups.rebuild(meter_id)`` per meter (a local
   month per transaction), in ``--workers`` processes, and reports readings/s and the ETA while it runs;
3. measures, each "before" (raw readings) beside "after" (rollups) in the same run:

   * a Qlik-style reload of the fleet's ``bi_day`` and ``bi_month_peak`` (server-side cursor, every row fetched),
     before: the old raw views ``meters.bi.reference_views_sql`` builds (``ref_bi_*``), run once each under
     ``--raw-timeout``; goal: after under 5 s each;
   * one serial's ``bi_month_peak WHERE meter_serial = %s``; goal: after p95 under 50 ms;
   * the month view ``build_series(meter, "month", ...)`` p95, cold (a different meter per call, a new database
     connection, an empty series cache; the OS page cache stays warm) and warm (one meter repeated), with
     ``source="readings"`` (before) and the default (after), "now" frozen at the last reading;
   * ``ingest_readings`` throughput with the rollups maintained (the code as it is) against the same ingest with
     ``rollups.refresh`` replaced by a no-op in this process (today's rate), each on its own meters, appending days
     after the generated year; goal: at least 80 %; the appended readings are removed again afterwards;
   * heap, index and total size of meters_reading (its partitions summed when it is partitioned) and of the three
     rollup tables, per million readings.

Prints a summary with MET/MISSED per goal, and the load average (another process on the 2 cores skews the figures).

    .venv/bin/python bench/fleet.py                           # 1,000 meters x 365 days (35 M readings)
    .venv/bin/python bench/fleet.py --meters 20 --days 60     # a quick check
    .venv/bin/python bench/fleet.py --keep                    # keep the database; then --reuse skips generation

Run time here (2 cores, PostgreSQL 15 with its default 128 MB shared_buffers and 4 MB work_mem), the full default
scale: 28 minutes on a quiet machine (generation in SQL 5.4 min, VACUUM 0.3 min, the rollup rebuild 9.3 min with
2 workers, the three raw reference queries 11.5 min, the rest 2 min). With another test suite on the cores the
generation ran at 63,000 instead of 108,000 readings/s and the rebuild at 38,000 instead of 63,000. ``--reuse`` of a
kept database skips both (about 13 minutes). The database takes 13 GB (readings 8.7 GB, rollups 4.3 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _timing import child_env, time_calls

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/p1_bench_fleet"
ZONE_NAME = "Europe/Brussels"
ZONE = ZoneInfo(ZONE_NAME)
END_DAY = date(2026, 11, 1)  # the generated days end here; its first quarter-hour is the last reading
END = datetime(END_DAY.year, END_DAY.month, END_DAY.day, tzinfo=ZONE).astimezone(UTC)
MONTH_DAY = date(2026, 10, 15)  # the month view measured: October 2026, the last full month (autumn DST day)
SLOT = timedelta(minutes=15)
GENERATOR = 1  # bump when the generated data changes: --reuse then regenerates
REF_VIEWS = ("ref_bi_month_peak", "ref_bi_day", "ref_bi_quarter_hour")  # drop order: dependants first
INGEST_METERS = 200  # per ingest mode (with rollups / without)
INGEST_ROUNDS = 3
GOAL_INGEST_RATIO = 0.80
GOAL_FLEET_S = 5.0
GOAL_SERIAL_MS = 50.0
GOAL_MONTH_MS = 50.0  # bench/series.py's goal for the warm month view
FULL_METERS, FULL_DAYS = 1000, 365  # the scale, for the extrapolation of a smaller run
FETCH_ROWS = 10_000


# --------------------------------------------------------------------------------------------------------------
# Generation, in SQL
# --------------------------------------------------------------------------------------------------------------

# u(a, b): a deterministic pseudo-random number in [0, 1). hashint8 is stable for a PostgreSQL major version;
# the function is inlined by the planner (one SQL expression, IMMUTABLE).
_SETUP_SQL = [
    "CREATE OR REPLACE FUNCTION pg_temp.u(a bigint, b bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE"
    " AS $$ SELECT (hashint8(a * 1000003 + b) & 2147483647)::float8 / 2147483648.0 $$",
    # Per meter: household size, standby, solar (40 %), gas (80 %), EV (10 %), three phases (50 %), a replaced meter.
    """CREATE TEMP TABLE fleet_param AS
    SELECT m.id AS meter_id, m.k,
        60 + 140 * pg_temp.u(m.id, 1) AS base_w,
        0.5 + 1.3 * pg_temp.u(m.id, 2) AS scale,
        CASE WHEN pg_temp.u(m.id, 3) < 0.4 THEN 2500 + 4500 * pg_temp.u(m.id, 4) ELSE 0 END AS pv_w,
        pg_temp.u(m.id, 5) < 0.8 AS has_gas,
        0.4 + 1.2 * pg_temp.u(m.id, 6) AS gas_scale,
        pg_temp.u(m.id, 7) < 0.5 AS three_phase,
        CASE WHEN pg_temp.u(m.id, 7) < 0.5 THEN 0.45 ELSE 1.0 END AS f1,  -- L1's share of the power
        CASE WHEN pg_temp.u(m.id, 8) < 0.1 THEN 3700 + 7300 * pg_temp.u(m.id, 9) ELSE 0 END AS ev_w,
        CASE WHEN m.k %% 250 = 123 THEN 1 + (m.k * 37) %% GREATEST(%(days)s - 1, 1) END AS reset_day
    FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM meters_meter WHERE serial LIKE '1FLT%%') m
    WHERE m.k %% %(parts)s = %(part)s""",
    """CREATE TEMP TABLE fleet_state AS
    SELECT meter_id,
        (8000000 + 30000000 * pg_temp.u(meter_id, 10))::bigint AS i1,
        (6000000 + 25000000 * pg_temp.u(meter_id, 11))::bigint AS i2,
        CASE WHEN pv_w > 0 THEN (3000000 * pg_temp.u(meter_id, 12))::bigint ELSE 0 END AS e1,
        CASE WHEN pv_w > 0 THEN (300000 * pg_temp.u(meter_id, 13))::bigint ELSE 0 END AS e2,
        (2000000 + 20000000 * pg_temp.u(meter_id, 14))::bigint AS gas,
        NULL::bigint AS mp
    FROM fleet_param""",
    """CREATE TEMP TABLE fleet_day (
        meter_id bigint, ts timestamptz, n bigint, t1 boolean, imp int, exp int, gas int,
        net_w float8, r float8, missing boolean, gas_missing boolean)""",
]

# One local day [lo, hi) of every meter: the quarter's energies (Wh, gas in litres) from the profile.
# h: local hour at the quarter's start; n: quarter number since 1970 (the per-quarter random stream).
_DAY_SQL = """WITH s AS MATERIALIZED (
    SELECT ts, (extract(epoch FROM ts))::bigint / 900 AS n,
        (extract(hour FROM ts AT TIME ZONE %(zone)s) + extract(minute FROM ts AT TIME ZONE %(zone)s) / 60)::float8 AS h,
        extract(isodow FROM ts AT TIME ZONE %(zone)s)::int AS dow
    FROM generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '15 minutes', interval '15 minutes') ts
),
x AS MATERIALIZED (
    SELECT p.meter_id, p.base_w, p.scale, p.pv_w, p.has_gas, p.gas_scale, p.ev_w, s.ts, s.n, s.h, s.dow,
        pg_temp.u(p.meter_id, s.n * 8) AS r1, pg_temp.u(p.meter_id, s.n * 8 + 1) AS r2,
        pg_temp.u(p.meter_id, s.n * 8 + 2) AS r3, pg_temp.u(p.meter_id, s.n * 8 + 3) AS r4,
        pg_temp.u(p.meter_id, s.n * 8 + 4) AS r5,
        pg_temp.u(p.meter_id, %(dk)s + 1) < 0.006
            AND s.h >= floor(24 * pg_temp.u(p.meter_id, %(dk)s + 2))
            AND s.h < floor(24 * pg_temp.u(p.meter_id, %(dk)s + 2)) + 1 + floor(11 * pg_temp.u(p.meter_id, %(dk)s + 3))
            AS missing,
        pg_temp.u(p.meter_id, %(dk)s + 4) < 0.01
            AND s.h >= floor(18 * pg_temp.u(p.meter_id, %(dk)s + 5))
            AND s.h < floor(18 * pg_temp.u(p.meter_id, %(dk)s + 5)) + 6 AS gas_missing
    FROM s CROSS JOIN fleet_param p
),
e AS MATERIALIZED (
    SELECT x.*,
        x.base_w
        + x.scale * (0.6 + 0.8 * x.r1) * (
            350 * exp(-((x.h - 7.5) ^ 2) / 1.0)
            + 900 * exp(-((x.h - 19.0) ^ 2) / 3.0)
            + CASE WHEN x.dow >= 6 AND x.h >= 9 AND x.h < 18 THEN 300 ELSE 0 END
            + 400 * %(heating)s * (CASE WHEN x.h >= 6 THEN 1 ELSE 0.3 END))
        + CASE WHEN x.r2 < 0.02 THEN 1200 + 3300 * x.r5 ELSE 0 END
        + CASE WHEN x.ev_w > 0 AND (x.h >= 23 OR x.h < 3) AND x.r3 < 0.25 THEN x.ev_w ELSE 0 END
        - CASE WHEN x.h + 0.125 > %(sunrise)s AND x.h + 0.125 < %(sunset)s
            THEN x.pv_w * %(sun)s * (0.75 + 0.25 * x.r5)
                * sin(pi() * (x.h + 0.125 - %(sunrise)s) / (%(sunset)s - %(sunrise)s))
            ELSE 0 END AS net_w
    FROM x
)
INSERT INTO fleet_day
SELECT e.meter_id, e.ts, e.n,
    e.dow <= 5 AND e.h >= 7 AND e.h < 22,
    round(GREATEST(e.net_w, 0) / 4)::int,
    round(GREATEST(-e.net_w, 0) / 4)::int,
    CASE WHEN e.has_gas THEN round(e.gas_scale * (
        150 * %(heating)s * (CASE WHEN e.h >= 6 AND e.h < 23 THEN 1 ELSE 0.35 END) * (0.5 + e.r3)
        + CASE WHEN e.r2 > 0.93 THEN 30 + 40 * e.r4 ELSE 0 END))::int END,
    e.net_w, e.r4, e.missing, e.gas_missing
FROM e"""

# The readings of that day: registers are the state at the day's start plus the quarters before the slot (the
# meter counts through an outage, so a gap's energy shows in the next reading). 1-0:1.6.0: the highest completed
# quarter of the month so far; on the month's first slot it is still last month's (stamped last month). A peak is
# kept as one bigint, W * 10^7 + (10^7 - 1 - quarter number): the highest wins, the earliest of equal ones.
# Decimals are made from integers (bigint * 0.001): a float8 -> numeric cast costs five times as much.
_INSERT_SQL = """INSERT INTO meters_reading (
    "timestamp", measured_at, import_t1_kwh, import_t2_kwh, export_t1_kwh, export_t2_kwh, tariff,
    power_import_kw, power_export_kw, l1_import_kw, l2_import_kw, l3_import_kw, l1_export_kw, l2_export_kw,
    l3_export_kw, l1_voltage_v, l2_voltage_v, l3_voltage_v, l1_current_a, l2_current_a, l3_current_a,
    breaker_state, avg_demand_kw, month_peak_kw, month_peak_at, gas_m3, gas_at, received_at, meter_id)
SELECT c.ts, c.ts + make_interval(secs => 1 + c.n %% 9),
    (st.i1 + c.ci1) * 0.001, (st.i2 + c.ci2) * 0.001, (st.e1 + c.ce1) * 0.001, (st.e2 + c.ce2) * 0.001,
    CASE WHEN c.t1 THEN 1 ELSE 2 END,
    c.imp_w * 0.001, c.exp_w * 0.001,
    round(c.imp_w * p.f1)::bigint * 0.001,
    CASE WHEN p.three_phase THEN round(c.imp_w * 0.3)::bigint * 0.001 END,
    CASE WHEN p.three_phase THEN round(c.imp_w * 0.25)::bigint * 0.001 END,
    round(c.exp_w * p.f1)::bigint * 0.001,
    CASE WHEN p.three_phase THEN round(c.exp_w * 0.3)::bigint * 0.001 END,
    CASE WHEN p.three_phase THEN round(c.exp_w * 0.25)::bigint * 0.001 END,
    round(2260 + 90 * c.r)::bigint * 0.1,
    CASE WHEN p.three_phase THEN round(2270 + 80 * c.r)::bigint * 0.1 END,
    CASE WHEN p.three_phase THEN round(2250 + 90 * c.r)::bigint * 0.1 END,
    round(abs(c.net_w) * p.f1 / (2.26 + 0.09 * c.r))::bigint * 0.01,
    CASE WHEN p.three_phase THEN round(abs(c.net_w) * 0.3 / (2.27 + 0.08 * c.r))::bigint * 0.01 END,
    CASE WHEN p.three_phase THEN round(abs(c.net_w) * 0.25 / (2.25 + 0.09 * c.r))::bigint * 0.01 END,
    1,
    c.imp_w * 0.001,
    (mp.v / 10000000) * 0.001, to_timestamp((9999999 - mp.v %% 10000000) * 900),
    CASE WHEN p.has_gas AND NOT c.gas_missing THEN (st.gas + c.cgas) * 0.001 END,
    CASE WHEN p.has_gas AND NOT c.gas_missing THEN c.ts END,
    c.ts + interval '40 seconds',
    c.meter_id
FROM (
    SELECT d.*, round(GREATEST(d.net_w, 0))::bigint AS imp_w, round(GREATEST(-d.net_w, 0))::bigint AS exp_w,
        COALESCE(SUM(CASE WHEN d.t1 THEN d.imp END) OVER w, 0) AS ci1,
        COALESCE(SUM(CASE WHEN d.t1 THEN NULL ELSE d.imp END) OVER w, 0) AS ci2,
        COALESCE(SUM(CASE WHEN d.t1 THEN d.exp END) OVER w, 0) AS ce1,
        COALESCE(SUM(CASE WHEN d.t1 THEN NULL ELSE d.exp END) OVER w, 0) AS ce2,
        COALESCE(SUM(d.gas) OVER w, 0) AS cgas,
        MAX(d.imp * 4 * 10000000::bigint + 9999999 - d.n) OVER w AS month_so_far
    FROM fleet_day d
    WINDOW w AS (PARTITION BY d.meter_id ORDER BY d.ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) c
JOIN fleet_state st ON st.meter_id = c.meter_id
JOIN fleet_param p ON p.meter_id = c.meter_id
CROSS JOIN LATERAL (
    SELECT CASE WHEN %(first_of_month)s THEN COALESCE(c.month_so_far, st.mp)
        ELSE GREATEST(st.mp, c.month_so_far) END AS v
) mp
WHERE NOT c.missing
ORDER BY c.ts, c.meter_id"""

_STATE_SQL = """UPDATE fleet_state st SET
    i1 = st.i1 + a.i1, i2 = st.i2 + a.i2, e1 = st.e1 + a.e1, e2 = st.e2 + a.e2, gas = st.gas + a.gas,
    mp = CASE WHEN %(first_of_month)s THEN a.mp ELSE GREATEST(st.mp, a.mp) END
FROM (
    SELECT meter_id,
        SUM(CASE WHEN t1 THEN imp ELSE 0 END) AS i1, SUM(CASE WHEN t1 THEN 0 ELSE imp END) AS i2,
        SUM(CASE WHEN t1 THEN exp ELSE 0 END) AS e1, SUM(CASE WHEN t1 THEN 0 ELSE exp END) AS e2,
        COALESCE(SUM(gas), 0) AS gas, MAX(imp * 4 * 10000000::bigint + 9999999 - n) AS mp
    FROM fleet_day GROUP BY meter_id
) a
WHERE st.meter_id = a.meter_id"""

# A replaced meter: the new one's registers start near zero at the day's first reading.
_RESET_SQL = """UPDATE fleet_state st SET i1 = 12000, i2 = 7000, e1 = 0, e2 = 0
FROM fleet_param p WHERE p.meter_id = st.meter_id AND p.reset_day = %(day)s"""


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC)


def _day_params(index: int, day: date) -> dict[str, Any]:
    """The fleet's weather of one local day: heating season, daylight and sunshine (shared by every meter)."""
    import math

    doy = day.timetuple().tm_yday
    # 1 in mid-January, 0 from May to September.
    heating = max(0.0, (math.cos(2 * math.pi * (doy - 15) / 365.25) + 0.25) / 1.25) ** 1.3
    summer = 0.5 - 0.5 * math.cos(2 * math.pi * (doy - 10) / 365.25)  # 0 in winter, 1 around 10 July
    # A day's sunshine from a fixed sequence (no random module state): a cloudy third of the days.
    sun = (0.15 + 0.85 * ((index * 7919) % 101) / 100) * (0.35 + 0.65 * summer)
    return {
        "heating": heating,
        "sunrise": 8.6 - 3.3 * summer,
        "sunset": 16.7 + 5.2 * summer,
        "sun": sun,
        "dk": 100_000_000 + index * 16,  # the day's random stream (outages, gas gaps)
        "zone": ZONE_NAME,
    }


def _session(conn: Any) -> None:
    """Session tweaks for the load only; timed work later runs with the server's settings."""
    import psycopg

    try:
        # No foreign-key trigger per row (the meters exist: they are generated first); needs a superuser.
        conn.execute("SET session_replication_role = replica")
    except psycopg.Error:
        conn.rollback()  # without it the load is only slower
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET work_mem = '64MB'")
    conn.execute("SET jit = off")  # its compile time dwarfs these one-day statements
    conn.commit()


def _generate_part(dsn: str, part: int, parts: int, days: int, done: list[int]) -> None:
    """The readings of every ``parts``-th meter, a local day per statement (``done[part]``: rows so far)."""
    import psycopg

    first_day = END_DAY - timedelta(days=days)
    # Client-side binding: the setup statements (CREATE TABLE AS) take no server-side parameters.
    with psycopg.connect(dsn, cursor_factory=psycopg.ClientCursor) as conn:
        _session(conn)
        for sql in _SETUP_SQL:
            conn.execute(sql, {"days": days, "part": part, "parts": parts})
        conn.commit()
        chunks = [(i, first_day + timedelta(days=i)) for i in range(days)]
        chunks.append((days, END_DAY))  # the closing reading: the first quarter-hour of END_DAY
        for index, day in chunks:
            lo = _local_midnight(day)
            hi = lo + SLOT if index == days else _local_midnight(day + timedelta(days=1))
            params = {**_day_params(index, day), "lo": lo, "hi": hi, "day": index, "first_of_month": day.day == 1}
            conn.execute(_RESET_SQL, params)
            conn.execute("TRUNCATE fleet_day")
            conn.execute(_DAY_SQL, params)
            done[part] += conn.execute(_INSERT_SQL, params).rowcount
            conn.execute(_STATE_SQL, params)
            conn.commit()


def _generate(dsn: str, n_meters: int, days: int, parts: int) -> int:
    """Users, meters and readings in SQL, ``parts`` connections side by side; returns the number of readings."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                is_active, date_joined)
            SELECT '!', false, 'fleet-' || lpad(k::text, 5, '0'), '', '', '', false, true, %s
            FROM generate_series(0, %s - 1) k""",
            [END, n_meters],
        )
        conn.execute(
            """INSERT INTO meters_meter (serial, name, code, created_at, updated_at, owner_id)
            SELECT '1FLT' || lpad(k::text, 10, '0'), 'Fleet ' || k, md5('fleet' || k)::uuid, %s, %s, u.id
            FROM generate_series(0, %s - 1) k JOIN auth_user u ON u.username = 'fleet-' || lpad(k::text, 5, '0')""",
            [END, END, n_meters],
        )
    expected = n_meters * (days * 96 + 1)
    done = [0] * parts
    with ThreadPoolExecutor(parts) as pool:
        futures = [pool.submit(_generate_part, dsn, part, parts, days, done) for part in range(parts)]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=30, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # raises a part's error
            elapsed = time.perf_counter() - started
            total = sum(done)
            eta = elapsed / total * (expected - total) if total else 0
            print(f"    generated {total:,} readings, {total / elapsed:,.0f}/s, ETA {eta:.0f} s", flush=True)
    total = sum(done)
    print(f"  generated {total:,} readings in {time.perf_counter() - started:.0f} s ({parts} connections)", flush=True)
    return total


# --------------------------------------------------------------------------------------------------------------
# Rollups: rebuild() per meter in worker processes
# --------------------------------------------------------------------------------------------------------------


def _fleet_meter_ids() -> list[int]:
    from meters.models import Meter

    return list(Meter.objects.filter(serial__startswith="1FLT").order_by("id").values_list("id", flat=True))


def _rollups_todo(sample: int, resume: bool) -> list[int]:
    """The meters to rebuild: all (the first ``sample``), or with ``resume`` those an interrupted run did not finish
    (``rebuild`` writes months in order, so a finished meter has the month of the last reading)."""
    from meters.models import MonthEnergy

    ids = _fleet_meter_ids()
    if sample:
        ids = ids[:sample]
    if resume:
        finished = set(MonthEnergy.objects.filter(month=END_DAY.replace(day=1)).values_list("meter_id", flat=True))
        ids = [i for i in ids if i not in finished]
    return ids


def rollup_worker() -> int:
    """A worker process: rebuilds the meters whose ids arrive as a JSON list on stdin, one JSON line per meter."""
    _setup_django()
    from meters.series import rollups

    for meter_id in json.loads(sys.stdin.read()):
        began = time.perf_counter()
        report = rollups.rebuild(meter_id)
        seconds = time.perf_counter() - began
        line = {"meter": meter_id, "quarters": report.quarters, "days": report.days, "s": seconds}
        print(json.dumps(line), flush=True)
    return 0


def _rebuild_rollups(args: argparse.Namespace, readings: int, n_meters: int, resume: bool) -> dict[str, Any]:
    """Run the workers, print progress and the ETA; the figures of the rebuild."""
    todo = _rollups_todo(args.rollup_sample, resume)
    target = len(todo)
    earlier = (min(args.rollup_sample, n_meters) if args.rollup_sample else n_meters) - target
    if earlier:
        print(f"  rollups: {earlier} meters were rebuilt by an earlier, interrupted run; {target} to go", flush=True)
    if not todo:
        return {"meters": 0, "seconds": 0.0, "readings_per_s": 0.0, "workers": 0, "earlier": earlier}
    workers = max(1, min(args.workers, target))
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    procs = []
    started = time.perf_counter()
    for i in range(workers):
        command = [sys.executable, __file__, "--rollup-worker"]
        proc = subprocess.Popen(
            command, env=os.environ.copy(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(todo[i::workers]))
        proc.stdin.close()
        procs.append(proc)

        def pump(stream: Any = proc.stdout) -> None:
            for raw in stream:
                if raw.startswith("{"):
                    lines.put(json.loads(raw))
                else:
                    print(f"    worker: {raw.rstrip()}", flush=True)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
    done = quarters = 0
    finished = 0
    last_print = started
    warned = False
    while finished < workers:
        item = lines.get()
        if item is None:
            finished += 1
            continue
        done += 1
        quarters += item["quarters"]
        now = time.perf_counter()
        elapsed = now - started
        eta = elapsed / done * (target - done)
        if done in (workers, 5 * workers) or now - last_print > 60 or done == target:
            last_print = now
            print(
                f"    rollups: {done}/{target} meters, {quarters:,} quarter rows, "
                f"{quarters / elapsed:,.0f} quarters/s, elapsed {elapsed:.0f} s, ETA {eta:.0f} s",
                flush=True,
            )
        if done == 5 * workers and not warned and elapsed + eta > 25 * 60 and not args.rollup_sample:
            warned = True
            print(
                f"    rollups: the whole fleet takes ~{(elapsed + eta) / 60:.0f} min here; "
                "--rollup-sample N rebuilds N meters and extrapolates (the fleet BI figures then cover N meters)",
                flush=True,
            )
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"rollup worker exited with {proc.returncode}")
    seconds = time.perf_counter() - started
    rate = done * readings / n_meters / seconds if seconds else 0.0
    print(
        f"  rollups rebuilt for {done} meters ({workers} workers) in {seconds:.0f} s: "
        f"{rate:,.0f} readings/s, {quarters / max(seconds, 1e-9):,.0f} quarter rows/s",
        flush=True,
    )
    if done + earlier < n_meters:
        print(f"  extrapolated to all {n_meters} meters: {seconds * n_meters / done / 60:.1f} min", flush=True)
    return {"meters": done, "seconds": seconds, "readings_per_s": rate, "workers": workers, "earlier": earlier}


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------


class _TimedOut(Exception):
    pass


@dataclass
class Timing:
    p50_ms: float | None = None
    p95_ms: float | None = None
    calls: int = 0
    timed_out_s: float | None = None
    rows: int | None = None
    note: str = ""

    def text(self) -> str:
        if self.timed_out_s is not None:
            return f"> {self.timed_out_s:.0f} s (timed out)"
        if self.p50_ms is None:
            return "n/a" + (f" ({self.note})" if self.note else "")
        if self.calls <= 1:
            return _ms(self.p50_ms) + " (1 call)"
        return f"p50 {_ms(self.p50_ms)}  p95 {_ms(self.p95_ms)}"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.1f} ms"


@contextmanager
def _statement_timeout(seconds: float) -> Iterator[None]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(seconds * 1000))])
        yield


def _is_timeout(exc: BaseException) -> bool:
    import psycopg

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, psycopg.errors.QueryCanceled):
            return True
        cause = cause.__cause__
    return False


def _reload(sql: str, timeout: float) -> Timing:
    """Every row of ``sql`` through a server-side cursor, counted (a BI reload); one run under ``timeout``."""
    from django.db import connection

    began = time.perf_counter()
    rows = 0
    try:
        with _statement_timeout(timeout):
            raw = connection.connection
            assert raw is not None
            with raw.cursor(name="fleet_reload") as cursor:
                cursor.execute(sql)
                while batch := cursor.fetchmany(FETCH_ROWS):
                    rows += len(batch)
                    if time.perf_counter() - began > timeout:
                        raise _TimedOut
    except _TimedOut:
        return Timing(timed_out_s=timeout)
    except Exception as exc:
        if _is_timeout(exc):
            return Timing(timed_out_s=timeout)
        raise
    ms = (time.perf_counter() - began) * 1000
    return Timing(p50_ms=ms, p95_ms=ms, calls=1, rows=rows)


def _query(sql: str, params: Sequence[Any], timeout: float) -> Callable[[], int]:
    def run() -> int:
        from django.db import connection

        try:
            with _statement_timeout(timeout), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return len(cursor.fetchall())
        except Exception as exc:
            if _is_timeout(exc):
                raise _TimedOut from exc
            raise

    return run


def _repeat(fn: Callable[[], object], calls: int, timeout: float, slow_s: float = 2.0) -> Timing:
    """p50/p95 of ``calls`` calls after a warm-up; a first call slower than ``slow_s`` is the only one (a raw fleet
    query is not repeated 20 times), one over ``timeout`` reports the timeout."""
    began = time.perf_counter()
    try:
        fn()
    except _TimedOut:
        return Timing(timed_out_s=timeout)
    first = (time.perf_counter() - began) * 1000
    if first > slow_s * 1000:
        return Timing(p50_ms=first, p95_ms=first, calls=1)
    p50, p95 = time_calls(fn, calls)
    return Timing(p50_ms=p50, p95_ms=p95, calls=calls)


def _reference_views() -> str:
    """Creates the old raw views ``ref_bi_*``; '' when done, else why not."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from meters import bi
    from meters.models import Meter, Reading

    make = getattr(bi, "reference_views_sql", None)
    if make is None:
        return "meters.bi.reference_views_sql does not exist yet"
    _drop_reference_views()
    tables = (Reading._meta.db_table, Meter._meta.db_table, get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        for sql in make(connection.vendor, *tables):
            cursor.execute(sql)
    return ""


def _drop_reference_views() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name in REF_VIEWS:
            cursor.execute(f"DROP VIEW IF EXISTS {name}")


def _bi_figures(args: argparse.Namespace, serial: str, meter_id: int) -> dict[str, dict[str, Timing]]:
    timeout = args.raw_timeout
    month = ["2026-10-01", "2026-11-01"]
    out: dict[str, dict[str, Timing]] = {}
    missing = _reference_views()
    for label, prefix in (("after", ""), ("before", "ref_")):
        if label == "before" and missing:
            out[label] = {k: Timing(note=missing) for k in ("day", "month_peak", "serial", "meter_month")}
            print(f"  BI before: {missing}: skipped", flush=True)
            continue
        figures = {}
        print(f"  BI {label} ({prefix or ''}bi_*):", flush=True)
        for key, view in (("day", "bi_day"), ("month_peak", "bi_month_peak")):
            figures[key] = _reload(f"SELECT * FROM {prefix}{view}", timeout)  # noqa: S608 - constant names
            rows = "" if figures[key].rows is None else f", {figures[key].rows:,} rows"
            print(f"    fleet {view} reload: {figures[key].text()}{rows}", flush=True)
        sql = f"SELECT * FROM {prefix}bi_month_peak WHERE meter_serial = %s"  # noqa: S608
        figures["serial"] = _repeat(_query(sql, [serial], timeout), args.calls, timeout)
        print(f"    one serial's bi_month_peak: {figures['serial'].text()}", flush=True)
        sql = f"SELECT * FROM {prefix}bi_day WHERE meter_id = %s AND local_date >= %s AND local_date < %s"  # noqa: S608
        figures["meter_month"] = _repeat(_query(sql, [meter_id, *month], timeout), args.calls, timeout)
        print(f"    one meter-month of bi_day: {figures['meter_month'].text()}", flush=True)
        out[label] = figures
    return out


def _month_figures(args: argparse.Namespace, meter_ids: list[int]) -> dict[str, dict[str, Timing]]:
    """build_series month, cold (a new connection and another meter per call) and warm, before and after."""
    import time_machine
    from django.core.cache import cache
    from django.db import connection

    from meters.models import Meter
    from meters.series import build_series
    from users.models import prices_for

    out: dict[str, dict[str, Timing]] = {}
    warm_meter = Meter.objects.select_related("owner").get(id=meter_ids[len(meter_ids) // 2])
    others = [i for i in meter_ids if i != warm_meter.id]
    pool = others[:: max(1, len(others) // (2 * args.calls))]
    cold_sets = {"after": pool[0::2][: args.calls], "before": pool[1::2][: args.calls]}
    with time_machine.travel(END, tick=False):
        cache.clear()  # the readings path caches past months' peaks (per meter): none is cached when cold
        warm_prices = prices_for(warm_meter.owner)
        check = {
            source: build_series(warm_meter, "month", MONTH_DAY, prices=warm_prices, source=source)
            for source in ("readings", "rollups")
        }
        same = [
            check["readings"].totals == check["rollups"].totals,
            check["readings"].capacity == check["rollups"].capacity,
            check["readings"].capacity_year == check["rollups"].capacity_year,
        ]
        print(f"  month view: readings and rollups agree (totals, month peak, 12-month card): {same}", flush=True)
        for label, source in (("before", "readings"), ("after", "rollups")):
            samples = []
            for meter in Meter.objects.select_related("owner").filter(id__in=cold_sets[label]):
                prices = prices_for(meter.owner)  # a page looks these up before it builds its series
                connection.close()
                connection.ensure_connection()  # a new backend: no plan or catalog cache
                began = time.perf_counter()
                build_series(meter, "month", MONTH_DAY, prices=prices, source=source)
                samples.append((time.perf_counter() - began) * 1000)
            samples.sort()
            cold = Timing(
                p50_ms=statistics.median(samples),
                p95_ms=samples[max(0, round(0.95 * len(samples)) - 1)],
                calls=len(samples),
            )

            def warm_call(source: str = source) -> object:
                return build_series(warm_meter, "month", MONTH_DAY, prices=warm_prices, source=source)

            warm = _repeat(warm_call, args.calls, args.raw_timeout, slow_s=60)
            out[label] = {"cold": cold, "warm": warm}
            print(f"  month view {label} (source={source}): cold {cold.text()}; warm {warm.text()}", flush=True)
    print(
        "  (cold: a new connection and another meter per call, no cached peaks; PostgreSQL's shared buffers and the"
        " OS page cache stay warm: the database fits in RAM here)",
        flush=True,
    )
    return out


# --- ingest -------------------------------------------------------------------------------------------------------


def _items(serial: str, last: dict[str, Any], start: datetime, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` quarter-hours of one meter from ``start``, registers continuing from ``last`` (Wh, litres)."""
    import random

    rng = random.Random(seed)
    items = []
    for n in range(count):
        slot = start + n * SLOT
        local = slot.astimezone(ZONE)
        day_tariff = local.weekday() < 5 and 7 <= local.hour < 22
        watts = rng.choice((150, 250, 400, 700, 1200, 3000))
        item: dict[str, Any] = {
            "serial": serial,
            "timestamp": (slot + timedelta(seconds=3)).isoformat(),
            "import_t1_kwh": f"{last['i1'] / 1000:.3f}",
            "import_t2_kwh": f"{last['i2'] / 1000:.3f}",
            "export_t1_kwh": f"{last['e1'] / 1000:.3f}",
            "export_t2_kwh": f"{last['e2'] / 1000:.3f}",
            "tariff": 1 if day_tariff else 2,
            "power_import_kw": watts / 1000,
            "power_export_kw": 0,
            "l1_import_kw": watts / 1000,
            "l1_export_kw": 0,
            "l1_voltage_v": 230.1,
            "l1_current_a": round(watts / 230, 2),
            "breaker_state": 1,
            "avg_demand_kw": watts / 1000,
            "month_peak_kw": 3.412,
            "month_peak_at": "2026-11-01T19:15:00+01:00",
        }
        if last["gas"] is not None:
            item["gas_m3"] = f"{last['gas'] / 1000:.3f}"
            item["gas_at"] = slot.isoformat()
            last["gas"] += rng.choice((0, 10, 40, 90))
        items.append(item)
        last["i1" if day_tariff else "i2"] += watts // 4
    return items


def _no_refresh(*args: object, **kwargs: object) -> None:
    """Stands in for rollups.refresh while today's rate (no rollups) is measured."""


def _last_registers(meter_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each meter's registers at its latest reading (Wh, gas in litres): where its appended readings continue."""
    from django.db import connection

    sql = """SELECT DISTINCT ON (meter_id) meter_id, ROUND(import_t1_kwh * 1000), ROUND(import_t2_kwh * 1000),
        ROUND(export_t1_kwh * 1000), ROUND(export_t2_kwh * 1000), ROUND(gas_m3 * 1000)
    FROM meters_reading WHERE meter_id = ANY(%s) ORDER BY meter_id, "timestamp" DESC"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [meter_ids])
        rows = cursor.fetchall()
    keys = ("i1", "i2", "e1", "e2", "gas")
    return {row[0]: {k: None if v is None else int(v) for k, v in zip(keys, row[1:], strict=True)} for row in rows}


@dataclass
class _Pass:
    readings: int = 0
    seconds: float = 0.0
    rates: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return max(self.rates) if self.rates else 0.0


def _ingest_figures(meter_ids: list[int]) -> dict[str, dict[str, _Pass]]:
    """Readings/s through ingest_readings, with the rollups maintained and without, on separate meters."""
    from unittest import mock

    import time_machine

    from meters.ingest import ingest_readings
    from meters.models import Meter
    from meters.series import rollups

    n = min(INGEST_METERS, len(meter_ids) // 2)
    sets = {"with": meter_ids[:n], "without": meter_ids[n : 2 * n]}
    meters = {m.id: m for m in Meter.objects.select_related("owner").filter(id__in=sets["with"] + sets["without"])}
    last = _last_registers(list(meters))
    # (shape, first slot of its first round, readings per call, rounds)
    shapes = [("day", END + SLOT, 96, INGEST_ROUNDS), ("live", END + timedelta(days=INGEST_ROUNDS) + SLOT, 1, 4)]
    out: dict[str, dict[str, _Pass]] = {}
    with time_machine.travel(END + timedelta(days=INGEST_ROUNDS + 2), tick=True):
        for shape, first, per_call, rounds in shapes:
            passes = {"with": _Pass(), "without": _Pass()}
            for r in range(rounds):
                start = first + r * per_call * SLOT
                modes = ("with", "without") if r % 2 == 0 else ("without", "with")
                for mode in modes:
                    calls = [
                        (meters[i].owner, _items(meters[i].serial, last[i], start, per_call, seed=i * 1000 + r))
                        for i in sets[mode]
                    ]
                    # Today's rate: the same ingest with the rollup maintenance switched off in this process.
                    patch: AbstractContextManager[Any] = (
                        mock.patch.object(rollups, "refresh", _no_refresh) if mode == "without" else nullcontext()
                    )
                    with patch:
                        began = time.perf_counter()
                        for user, items in calls:
                            result = ingest_readings(user, items)
                            assert result.created == len(items), result
                        seconds = time.perf_counter() - began
                    count = sum(len(items) for _, items in calls)
                    passes[mode].readings += count
                    passes[mode].seconds += seconds
                    passes[mode].rates.append(count / seconds)
            out[shape] = passes
            w, wo = passes["with"], passes["without"]
            print(
                f"  ingest, {per_call} reading(s) per call, {n} meters x {rounds} round(s): "
                f"with rollups {w.best:,.0f}/s, without {wo.best:,.0f}/s (best round), ratio {w.best / wo.best:.2f}",
                flush=True,
            )
    check_id = sets["with"][0]
    from django.db import transaction

    with transaction.atomic():
        before = rollups.snapshot(check_id)
        rollups.rebuild(check_id)
        same = rollups.snapshot(check_id) == before
        transaction.set_rollback(True)
    print(f"  rollups maintained by ingest equal a rebuild (meter {check_id}): {same}", flush=True)
    return out


def _remove_appended() -> int:
    """Readings after the generated year (ingest's), removed with their rollups recomputed (rollups.delete_readings)."""
    from meters.models import Reading
    from meters.series import rollups

    return rollups.delete_readings(Reading.objects.filter(timestamp__gt=END))


def _describe_data() -> None:
    """What was generated, from the rollups: a check that the profile looks like households."""
    from django.db import connection

    days_sql = """SELECT COUNT(*), SUM(import_t1_wh + import_t2_wh), SUM(import_t1_wh),
        SUM(export_t1_wh + export_t2_wh), SUM(gas_l), AVG(CASE WHEN has_gas THEN 1.0 ELSE 0.0 END)
    FROM meters_dayenergy WHERE NOT partial AND import_t1_wh IS NOT NULL"""
    months_sql = """SELECT AVG(peak_w), MAX(peak_w),
        AVG(CASE WHEN abs(meter_peak_w - peak_w) <= 0.02 * peak_w THEN 1.0 ELSE 0.0 END)
    FROM meters_monthenergy WHERE peak_w IS NOT NULL AND days > 1"""
    with connection.cursor() as cursor:
        cursor.execute(days_sql)
        n, imp, day, exp, gas, with_gas = cursor.fetchone()
        cursor.execute(months_sql)
        peak, top, agree = cursor.fetchone()
    if not n:
        return
    imp, day, exp, gas, with_gas, peak, top, agree = (
        float(v or 0) for v in (imp, day, exp, gas, with_gas, peak, top, agree)
    )
    year = 365 / n / 1000  # Wh per meter-day -> kWh per meter-year
    print(
        f"  data, per meter and year: import {imp * year:,.0f} kWh ({day / imp:.0%} on the day tariff), "
        f"export {exp * year:,.0f} kWh, gas {gas * year / (with_gas or 1):,.0f} m3 on the {with_gas:.0%} with gas; "
        f"month peaks mean {peak / 1000:.1f} kW, max {top / 1000:.1f} kW; the meter's 1-0:1.6.0 within 2 % of the "
        f"measured peak in {agree:.0%} of the meter-months",
        flush=True,
    )


# --- sizes --------------------------------------------------------------------------------------------------------

# The relation and, when it is partitioned, its partitions (pg_partition_tree lists nothing for a plain table).
_TREE = """(SELECT relid, isleaf FROM pg_partition_tree(%(rel)s::regclass)
    UNION ALL SELECT %(rel)s::regclass, true WHERE NOT EXISTS (SELECT FROM pg_partition_tree(%(rel)s::regclass)))"""

_SIZE_SQL = f"""SELECT COALESCE(SUM(pg_relation_size(t.relid)), 0)::bigint,
    COALESCE(SUM(pg_indexes_size(t.relid)), 0)::bigint, COALESCE(SUM(pg_total_relation_size(t.relid)), 0)::bigint,
    COUNT(*) FILTER (WHERE t.isleaf)
FROM {_TREE} t"""  # noqa: S608 - constant text

_INDEX_SQL = f"""SELECT i.indexrelid::regclass::text, (
    SELECT COALESCE(SUM(pg_relation_size(t.relid)), 0)::bigint FROM {_TREE.replace("%(rel)s", "i.indexrelid")} t)
FROM pg_index i WHERE i.indrelid = %(rel)s::regclass ORDER BY 1"""  # noqa: S608 - constant text


def _mb(size: float) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.0f}" if mb >= 100 else f"{mb:.1f}"


def _sizes(readings: int) -> list[tuple[str, int, int, int, int, list[tuple[str, int]]]]:
    from django.db import connection

    from meters.models import DayEnergy, MonthEnergy, QuarterEnergy, Reading

    out = []
    with connection.cursor() as cursor:
        for model in (Reading, QuarterEnergy, DayEnergy, MonthEnergy):
            table = model._meta.db_table
            cursor.execute(_SIZE_SQL, {"rel": table})
            heap, indexes, total, leaves = cursor.fetchone()
            cursor.execute(_INDEX_SQL, {"rel": table})
            out.append((table, heap, indexes, total, leaves, list(cursor.fetchall())))
    per_million = readings / 1e6
    print(f"  sizes ({readings:,} readings; MB, and MB per million readings):", flush=True)
    for table, heap, indexes, total, leaves, index_sizes in out:
        parts = f" ({leaves} partitions)" if leaves > 1 else ""
        print(
            f"    {table:<22} heap {_mb(heap):>8}  indexes {_mb(indexes):>8}  total {_mb(total):>8}"
            f"   per M readings: heap {_mb(heap / per_million):>6}  indexes {_mb(indexes / per_million):>6}"
            f"  total {_mb(total / per_million):>6}{parts}",
            flush=True,
        )
        for name, size in index_sizes:
            print(f"      index {name:<42} {_mb(size):>8}   per M {_mb(size / per_million):>6}", flush=True)
    return out


# --------------------------------------------------------------------------------------------------------------
# The child: one Django process on the scratch database
# --------------------------------------------------------------------------------------------------------------


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()


def _load() -> str:
    if hasattr(os, "getloadavg"):
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return "n/a"


def _stored_meta(cursor: Any, name: str) -> dict[str, Any]:
    cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
    row = cursor.fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}


def _store_meta(cursor: Any, name: str, meta: dict[str, Any]) -> None:
    text = json.dumps(meta).replace("'", "''")
    cursor.execute(f"COMMENT ON DATABASE \"{name}\" IS '{text}'")


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    keep = ("host", "port", "dbname", "user", "password")
    return " ".join(f"{k}={params[k]}" for k in keep if params.get(k))


def _month_partitions(days: int) -> None:
    """On a partitioned readings table, a partition for every generated month, as production has them (else every
    row would land in the DEFAULT partition): ``ensure_partitions`` with "now" in each month."""
    try:
        from meters import partitions
    except ImportError:  # a checkout from before the partitioning (migration 0010)
        return
    if not partitions.is_partitioned():
        print("  meters_reading is one plain table (not partitioned)", flush=True)
        return
    month = (END_DAY - timedelta(days=days)).replace(day=1)
    while month <= END_DAY:
        partitions.ensure_partitions(_local_midnight(month), months_ahead=0)
        month = partitions.add_months(month, 1)
    names = [p.name for p in partitions.partitions()]
    print(f"  meters_reading is partitioned by month: {len(names)} partitions ({names[0]} ... {names[-1]})", flush=True)


def _prepare(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Generated readings and rollups, from a kept database when it matches; (readings, how long each step took)."""
    from django.db import connection

    from meters.models import Reading

    name = connection.settings_dict["NAME"]
    wanted = {"generator": GENERATOR, "meters": args.meters, "days": args.days}
    with connection.cursor() as cursor:
        meta = _stored_meta(cursor, name)
    readings = 0
    generated_now = rebuilt_now = False
    if args.reuse and all(meta.get(k) == v for k, v in wanted.items()):
        removed = _remove_appended()  # a run that stopped during the ingest step
        readings = Reading.objects.count()
        if readings == meta.get("readings"):
            print(f"  reusing {readings:,} generated readings (removed {removed} appended ones)", flush=True)
        else:
            print(f"  kept database has {readings:,} readings, not {meta.get('readings')}: regenerating", flush=True)
            readings = 0
    if not readings:
        with connection.cursor() as cursor:  # a kept database of another scale: start again
            cursor.execute("TRUNCATE meters_meter, auth_user RESTART IDENTITY CASCADE")
        _month_partitions(args.days)
        began = time.perf_counter()
        readings = _generate(_dsn(), args.meters, args.days, max(1, args.workers))
        generated_now = True
        generate_s = time.perf_counter() - began
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE meters_reading")  # what autovacuum does after a bulk load
            cursor.execute("ANALYZE meters_meter, auth_user")
        vacuum_s = time.perf_counter() - began
        print(f"  VACUUM ANALYZE meters_reading: {vacuum_s:.0f} s", flush=True)
        meta = {**wanted, "readings": readings, "generate_s": generate_s, "vacuum_s": vacuum_s}
        with connection.cursor() as cursor:
            _store_meta(cursor, name, meta)
    rollup_key = {"rollups": args.rollup_sample or "all"}
    if not all(meta.get(k) == v for k, v in rollup_key.items()):
        resume = args.reuse and not generated_now and meta.get("rollups") is None
        rebuild = _rebuild_rollups(args, readings, args.meters, resume)
        rebuilt_now = True
        began = time.perf_counter()
        with connection.cursor() as cursor:
            for table in ("meters_quarterenergy", "meters_dayenergy", "meters_monthenergy"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        rebuild["vacuum_s"] = time.perf_counter() - began
        print(f"  VACUUM ANALYZE of the rollup tables: {rebuild['vacuum_s']:.0f} s", flush=True)
        meta = {**meta, **rollup_key, "rebuild": rebuild}
        with connection.cursor() as cursor:
            _store_meta(cursor, name, meta)
    else:
        print("  reusing the rollups (the rebuild figures below are from the run that built them)", flush=True)
    return readings, {**meta, "generated_now": generated_now, "rebuilt_now": rebuilt_now}


def child(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    from meters.models import Meter

    started = time.perf_counter()
    _drop_reference_views()  # a later migration of meters_reading must not trip over them
    call_command("migrate", verbosity=0, interactive=False)
    try:
        readings, setup = _prepare(args)
        meter_ids = _fleet_meter_ids()
        _describe_data()
        sizes = _sizes(readings)
        middle = Meter.objects.get(id=meter_ids[len(meter_ids) // 2])
        bi = _bi_figures(args, middle.serial, middle.id)
        month = _month_figures(args, meter_ids)
        print(f"  load average before ingest: {_load()}", flush=True)
        ingest = _ingest_figures(meter_ids)
        began = time.perf_counter()
        removed = _remove_appended()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE meters_reading")
        print(f"  removed the {removed:,} appended readings again in {time.perf_counter() - began:.0f} s", flush=True)
    finally:
        _drop_reference_views()
    _summary(args, readings, setup, sizes, bi, month, ingest, time.perf_counter() - started)
    return 0


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


def _fleet_ok(t: Timing) -> bool | None:
    if t.timed_out_s is not None:
        return False
    return None if t.p50_ms is None else t.p50_ms < GOAL_FLEET_S * 1000


def _p95_ok(t: Timing, goal_ms: float) -> bool | None:
    if t.timed_out_s is not None:
        return False
    return None if t.p95_ms is None else t.p95_ms < goal_ms


def _summary(
    args: argparse.Namespace,
    readings: int,
    setup: dict[str, Any],
    sizes: list[tuple[str, int, int, int, int, list[tuple[str, int]]]],
    bi: dict[str, dict[str, Timing]],
    month: dict[str, dict[str, Timing]],
    ingest: dict[str, dict[str, _Pass]],
    seconds: float,
) -> None:
    day, live = ingest["day"], ingest["live"]
    ratio = day["with"].best / day["without"].best
    live_ratio = live["with"].best / live["without"].best
    before, after = bi["before"], bi["after"]
    per_million = readings / 1e6
    raw_mb = sizes[0][3] / per_million
    rollup_mb = sum(size[3] for size in sizes[1:]) / per_million
    rows = [
        (
            "ingest, 96 readings/call (without = today's rate)",
            f"{day['without'].best:,.0f}/s",
            f"{day['with'].best:,.0f}/s = {ratio:.0%}",
            f">= {GOAL_INGEST_RATIO:.0%}",
            _verdict(ratio >= GOAL_INGEST_RATIO),
        ),
        (
            "ingest, 1 reading/call (a live upload)",
            f"{live['without'].best:,.0f}/s",
            f"{live['with'].best:,.0f}/s = {live_ratio:.0%}",
            "-",
            "info",
        ),
        ("month view, cold", month["before"]["cold"].text(), month["after"]["cold"].text(), "-", "info"),
        (
            "month view, warm",
            month["before"]["warm"].text(),
            month["after"]["warm"].text(),
            f"p95 < {GOAL_MONTH_MS:.0f} ms",
            _verdict(_p95_ok(month["after"]["warm"], GOAL_MONTH_MS)),
        ),
        (
            "fleet bi_day reload",
            before["day"].text(),
            after["day"].text(),
            f"< {GOAL_FLEET_S:.0f} s",
            _verdict(_fleet_ok(after["day"])),
        ),
        (
            "fleet bi_month_peak reload",
            before["month_peak"].text(),
            after["month_peak"].text(),
            f"< {GOAL_FLEET_S:.0f} s",
            _verdict(_fleet_ok(after["month_peak"])),
        ),
        (
            "one serial's bi_month_peak",
            before["serial"].text(),
            after["serial"].text(),
            f"p95 < {GOAL_SERIAL_MS:.0f} ms",
            _verdict(_p95_ok(after["serial"], GOAL_SERIAL_MS)),
        ),
        ("one meter-month of bi_day", before["meter_month"].text(), after["meter_month"].text(), "-", "info"),
        (
            "MB per million readings",
            f"{_mb(raw_mb)} (readings)",
            f"+ {_mb(rollup_mb)} (rollups)",
            "-",
            "info",
        ),
    ]
    scale = f"{args.meters} meters x {args.days} days, {readings:,} readings"
    print(f"\n== Summary: {scale}; load average {_load()} on {os.cpu_count()} CPU(s) ==")
    head = ("figure", "before (raw readings)", "after (rollups)", "goal", "verdict")
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(5)]
    for row in (head, *rows):
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    rebuild = setup.get("rebuild") or {}
    if "generate_s" in setup:
        print(
            f"  generation in SQL {setup['generate_s'] / 60:.1f} min, VACUUM ANALYZE {setup['vacuum_s'] / 60:.1f} min"
        )
    if rebuild.get("meters"):
        earlier = f" ({rebuild['earlier']} more by an earlier, interrupted run)" if rebuild.get("earlier") else ""
        print(
            f"  rollup rebuild (rollups.rebuild per meter, {rebuild['workers']} worker processes): {rebuild['meters']}"
            f" meters in {rebuild['seconds'] / 60:.1f} min{earlier}, {rebuild['readings_per_s']:,.0f} readings/s"
        )
    print(f"  this run took {seconds / 60:.1f} min (the generation and rebuild included when they ran in it)")
    _extrapolation(args, readings, setup, sizes, bi, seconds)


def _extrapolation(
    args: argparse.Namespace,
    readings: int,
    setup: dict[str, Any],
    sizes: list[tuple[str, int, int, int, int, list[tuple[str, int]]]],
    bi: dict[str, dict[str, Timing]],
    seconds: float,
) -> None:
    """The figures that grow with the fleet, scaled linearly to 1,000 meters x 365 days: an estimate, not measured."""
    full = FULL_METERS * (FULL_DAYS * 96 + 1)
    if args.meters >= FULL_METERS and args.days >= FULL_DAYS:
        return  # measured at full scale (a few outages make it a little under ``full`` readings)
    k = full / readings

    def took(t: Timing) -> float:
        return t.timed_out_s if t.timed_out_s is not None else (t.p50_ms or 0) / 1000

    def scaled(t: Timing) -> str:
        if t.timed_out_s is not None:
            return f"> {t.timed_out_s * k:.0f} s"
        if t.p50_ms is None:
            return "n/a"
        return f"~{t.p50_ms * k / 1000:.0f} s" if t.p50_ms * k >= 10_000 else f"~{t.p50_ms * k / 1000:.1f} s"

    print(
        f"\n  EXTRAPOLATED, not measured: {FULL_METERS:,} meters x {FULL_DAYS} days ({full / 1e6:.1f} M readings) is "
        f"{k:.1f}x this run; linear in readings (the raw views' sorts grow a little faster):"
    )
    rebuild = setup.get("rebuild") or {}
    raw = [took(bi["before"][key]) for key in ("day", "month_peak", "serial")]  # each stops at --raw-timeout
    after_s = [took(bi["after"][key]) for key in ("day", "month_peak")]
    known = "generate_s" in setup and bool(rebuild.get("meters"))
    if known:
        rebuild_s = rebuild["seconds"] * args.meters / rebuild["meters"]  # every meter, at this run's rate
        print(
            f"    generation {setup['generate_s'] * k / 60:.1f} min, VACUUM {setup['vacuum_s'] * k / 60:.1f} min, "
            f"rollup rebuild {rebuild_s * k / 60:.1f} min "
            f"({rebuild['workers']} workers at {rebuild['readings_per_s']:,.0f} readings/s)"
        )
        grows = [setup["generate_s"], setup["vacuum_s"], rebuild_s, rebuild.get("vacuum_s", 0), *after_s]
        # What else this run did (migrate, month views, ingest): the same at any fleet size.
        fixed = seconds - sum(raw) - sum(after_s)
        if setup.get("generated_now"):
            fixed -= setup["generate_s"] + setup["vacuum_s"]
        if setup.get("rebuilt_now"):
            fixed -= rebuild["seconds"] + rebuild.get("vacuum_s", 0)
    for key, label in (("day", "bi_day"), ("month_peak", "bi_month_peak")):
        before, after = bi["before"][key], bi["after"][key]
        print(f"    fleet {label} reload: before {scaled(before)}, after {scaled(after)} (goal < {GOAL_FLEET_S:.0f} s)")
    print(
        f"    one serial's bi_month_peak before: {scaled(bi['before']['serial'])} (the raw view computes the whole "
        "fleet's windows first); after: an index lookup, independent of the fleet size"
    )
    gb = 1024**3
    print(f"    sizes: readings {sizes[0][3] * k / gb:.1f} GB, rollups {sum(x[3] for x in sizes[1:]) * k / gb:.1f} GB")
    if known:
        whole = sum(grows) * k + sum(min(t * k, args.raw_timeout) for t in raw) + max(fixed, 0)
        print(
            f"    this whole bench at that scale, generation included: ~{whole / 60:.0f} min "
            f"(a raw query stops at --raw-timeout {args.raw_timeout:.0f} s)"
        )
    print("    per meter, so the same at any fleet size: the month view, ingest per call, one serial after")


# --------------------------------------------------------------------------------------------------------------
# The parent: scratch database, child process
# --------------------------------------------------------------------------------------------------------------


def _admin(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return f"{base}/postgres", name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database with the same data")
    parser.add_argument("--workers", type=int, default=2, help="rollup rebuild processes")
    parser.add_argument("--rollup-sample", type=int, default=0, help="rebuild only N meters and extrapolate")
    parser.add_argument("--raw-timeout", type=float, default=600, help="seconds one raw fleet query may take")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rollup-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rollup_worker:
        return rollup_worker()
    if args.child:
        return child(args)

    import psycopg

    admin, name = _admin(args.pg_url)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"fleet bench: PostgreSQL at {args.pg_url} unreachable, skipped ({str(exc).strip().splitlines()[0]})")
        return 0
    print(f"fleet bench: {args.meters} meters x {args.days} days on PostgreSQL ({args.pg_url})")
    print(f"load average {_load()} on {os.cpu_count()} CPU(s): figures drop when the machine is shared")
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and not args.reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or not args.reuse:
            conn.execute(f'CREATE DATABASE "{name}"')
    command = [sys.executable, __file__, "--child", *sys.argv[1:]]
    try:
        return subprocess.run(command, env=child_env(DATABASE_URL=args.pg_url), check=False).returncode
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped {name}")


if __name__ == "__main__":
    sys.exit(main())
