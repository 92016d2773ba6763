"""Reporting views for BI tools (Qlik Sense, Power BI): SQL text per database vendor and the calendar tables.

The views ``bi_quarter_hour``, ``bi_day`` and ``bi_month_peak`` are created by a migration (see docs/bi/README.md
for their columns). They compute energy from boundary deltas exactly as docs/design.md prescribes: the energy of a
quarter-hour is the register at the next slot minus the register at this slot, only when the next reading is exactly
15 minutes later; otherwise the quarter is NULL and counted as incomplete, never zero.

Local time. SQLite has no time-zone database and SQL Server's ``AT TIME ZONE`` uses Windows zone names that cannot
be tested here, so local time comes from one source on all three vendors: ``bi_utc_offset``, a table of UTC offset
periods for the site's zone (``settings.TIME_ZONE``, Europe/Brussels by default) from 2000 to 2100, filled at
migration time from Python's IANA tz database (zoneinfo), the same zone the dashboards bucket by.
Periods are split at UTC year boundaries so a reading finds its period with an equality join on the UTC year (a
handful of rows per year) instead of a range scan over the whole table. ``bi_calendar_day`` holds each local day
with its UTC bounds and its number of quarter-hours (92, 96 or 100), which gives the completeness of a day and
doubles as a date dimension for BI tools.

Changing these views later: ``meters/bi.py`` always holds the current SQL. The views are dropped before every
``migrate`` and rebuilt after it (pre_migrate / post_migrate, wired in MetersConfig.ready()), because SQLite cannot
rebuild ``meters_reading`` for an AlterField while a view names it and PostgreSQL refuses to change the type of a
column a view reads. So a later migration of the reading table needs no BI step, and editing the SQL here takes
effect at the next ``migrate``. A migration that removes a column the views read fails loudly at that rebuild.
The capacity minimum in ``bi_month_peak`` is ``meters.series.capacity.capacity_minimum_kw()``
(``settings.CAPACITY_MINIMUM_KW``), written into the view as a decimal literal when the views are built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connections, transaction
from django.db.models.signals import post_migrate, pre_migrate

from meters.series.capacity import capacity_minimum_kw

if TYPE_CHECKING:
    from django.apps import AppConfig
    from django.apps.registry import Apps
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

logger = logging.getLogger(__name__)

CALENDAR_FIRST_YEAR = 2000
CALENDAR_LAST_YEAR = 2100

# Drop order: dependants first.
VIEW_NAMES = ("bi_month_peak", "bi_day", "bi_quarter_hour")
TABLE_NAMES = ("bi_calendar_day", "bi_utc_offset")
SUPPORTED_VENDORS = ("sqlite", "postgresql", "microsoft")

_QUARTER = timedelta(minutes=15)
_INSERT_BATCH = 100  # rows per INSERT: stays under SQL Server's 2100 parameters and old SQLite's 999


class UnsupportedDatabase(Exception):
    """The database vendor has no BI SQL (only sqlite, postgresql and microsoft are supported)."""


# --------------------------------------------------------------------------------------------------------------
# Calendar tables, computed in Python from the IANA tz database
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetPeriod:
    utc_year: int
    utc_start: datetime  # inclusive, aware UTC
    utc_end: datetime  # exclusive, aware UTC
    offset_minutes: int  # local = UTC + offset


@dataclass(frozen=True)
class CalendarDay:
    local_date: date
    utc_start: datetime  # local midnight, aware UTC
    utc_end: datetime  # next local midnight, aware UTC
    quarters: int  # 92 on the spring DST day, 100 on the autumn one, else 96
    year: int
    month: int
    day: int
    iso_year: int
    iso_week: int
    weekday: int  # ISO: 1 = Monday
    month_start: date
    month_utc_start: datetime  # local midnight of the 1st, aware UTC
    month_quarters: int  # quarter-hours in the local month


def _offset_minutes(tz: ZoneInfo, at: datetime) -> int:
    offset = at.astimezone(tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


def _bi_zone(tz_name: str | None) -> ZoneInfo:
    """The zone of the calendar tables: ``settings.TIME_ZONE`` unless one is named."""
    return ZoneInfo(tz_name or settings.TIME_ZONE)


def utc_offset_periods(
    tz_name: str | None = None, first_year: int = CALENDAR_FIRST_YEAR, last_year: int = CALENDAR_LAST_YEAR
) -> list[OffsetPeriod]:
    """Constant-offset periods covering [first_year-01-01, last_year+1-01-01) UTC, split at each UTC new year."""
    tz = _bi_zone(tz_name)
    periods: list[OffsetPeriod] = []
    for year in range(first_year, last_year + 1):
        start = datetime(year, 1, 1, tzinfo=UTC)
        year_end = datetime(year + 1, 1, 1, tzinfo=UTC)
        current = _offset_minutes(tz, start)
        day = start
        while day < year_end:
            next_day = min(day + timedelta(days=1), year_end)
            if _offset_minutes(tz, next_day - _QUARTER) != current:
                # Transitions fall on a quarter-hour in every zone we care about: find it within the day.
                moment = day
                while moment < next_day:
                    offset = _offset_minutes(tz, moment)
                    if offset != current:
                        periods.append(OffsetPeriod(year, start, moment, current))
                        start, current = moment, offset
                    moment += _QUARTER
            day = next_day
        periods.append(OffsetPeriod(year, start, year_end, current))
    return periods


def _local_midnight_utc(tz: ZoneInfo, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def calendar_days(
    tz_name: str | None = None, first_year: int = CALENDAR_FIRST_YEAR, last_year: int = CALENDAR_LAST_YEAR
) -> Iterator[CalendarDay]:
    tz = _bi_zone(tz_name)
    day = date(first_year, 1, 1)
    end = date(last_year + 1, 1, 1)
    while day < end:
        following = day + timedelta(days=1)
        start_utc, end_utc = _local_midnight_utc(tz, day), _local_midnight_utc(tz, following)
        first = day.replace(day=1)
        next_first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        month_utc_start = _local_midnight_utc(tz, first)
        iso = day.isocalendar()
        yield CalendarDay(
            local_date=day,
            utc_start=start_utc,
            utc_end=end_utc,
            quarters=int((end_utc - start_utc) / _QUARTER),
            year=day.year,
            month=day.month,
            day=day.day,
            iso_year=iso.year,
            iso_week=iso.week,
            weekday=iso.weekday,
            month_start=first,
            month_utc_start=month_utc_start,
            month_quarters=int((_local_midnight_utc(tz, next_first) - month_utc_start) / _QUARTER),
        )
        day = following


# --------------------------------------------------------------------------------------------------------------
# SQL per vendor
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between vendors; everything else in the views is shared standard SQL.

    Placeholders: ``{ts}`` a stored UTC timestamp column, ``{a}``/``{b}`` two of them, ``{utc}`` a naive UTC
    timestamp expression, ``{minutes}`` an integer expression.
    """

    vendor: str
    quote: tuple[str, str]
    datetime_type: str  # column type of the calendar tables' instants (same kind as Django's DateTimeField)
    date_type: str
    utc_naive: str  # stored timestamp -> UTC timestamp without zone (what BI tools display unchanged)
    utc_year: str  # stored timestamp -> its UTC year as an integer
    is_next_quarter: str  # {a} is exactly 15 minutes after {b}
    add_minutes: str  # {utc} + {minutes} minutes
    to_date: str  # a naive timestamp -> its date
    false: str  # a stored boolean's false
    kwh: str  # integer Wh (or litres) {x} -> kWh (m3) with 3 decimals
    watts: str  # integer W {x} -> W as the raw views gave it (1 decimal)


SQLITE = Dialect(
    vendor="sqlite",
    quote=('"', '"'),
    datetime_type="datetime",
    date_type="date",
    # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC; datetime() normalises to whole seconds.
    utc_naive="datetime({ts})",
    utc_year="CAST(strftime('%Y', {ts}) AS integer)",
    is_next_quarter="CAST(strftime('%s', {a}) AS integer) - CAST(strftime('%s', {b}) AS integer) = 900",
    add_minutes="datetime({utc}, printf('%+d minutes', {minutes}))",
    to_date="date({utc})",
    false="0",
    kwh="ROUND(({x}) / 1000.0, 3)",
    watts="ROUND(({x}) * 1.0, 1)",
)

POSTGRESQL = Dialect(
    vendor="postgresql",
    quote=('"', '"'),
    datetime_type="timestamp with time zone",
    date_type="date",
    # AT TIME ZONE 'UTC' makes the result independent of the BI client's session time zone.
    utc_naive="({ts} AT TIME ZONE 'UTC')",
    utc_year="CAST(EXTRACT(YEAR FROM ({ts} AT TIME ZONE 'UTC')) AS integer)",
    is_next_quarter="{a} = {b} + INTERVAL '15 minutes'",
    add_minutes="({utc} + make_interval(mins => {minutes}))",
    to_date="CAST({utc} AS date)",
    false="false",
    kwh="ROUND(CAST(({x}) AS numeric) / 1000, 3)",
    watts="ROUND(CAST(({x}) AS numeric), 1)",
)

# SQL Server / Azure SQL (mssql-django's vendor string is "microsoft"). With USE_TZ, mssql-django stores
# DateTimeField as datetimeoffset in UTC; SWITCHOFFSET(..., '+00:00') guards against rows written with another
# offset by other tools. This branch cannot run here (no SQL Server); it is rendered to
# docs/bi/sqlserver-views.sql for review and a test keeps that file in sync.
MICROSOFT = Dialect(
    vendor="microsoft",
    quote=("[", "]"),
    datetime_type="datetimeoffset(0)",
    date_type="date",
    utc_naive="CAST(SWITCHOFFSET({ts}, '+00:00') AS datetime2(0))",
    utc_year="DATEPART(year, SWITCHOFFSET({ts}, '+00:00'))",
    is_next_quarter="{a} = DATEADD(minute, 15, {b})",
    add_minutes="DATEADD(minute, {minutes}, {utc})",
    to_date="CAST({utc} AS date)",
    false="0",
    kwh="CAST(({x}) / 1000.0 AS decimal(15, 3))",
    watts="CAST(({x}) AS decimal(15, 1))",
)

DIALECTS = {d.vendor: d for d in (SQLITE, POSTGRESQL, MICROSOFT)}


def dialect_for(vendor: str) -> Dialect:
    try:
        return DIALECTS[vendor]
    except KeyError:
        raise UnsupportedDatabase(
            f"BI views support {', '.join(SUPPORTED_VENDORS)}; this database's vendor is {vendor!r}"
        ) from None


def _q(d: Dialect, name: str) -> str:
    return f"{d.quote[0]}{name}{d.quote[1]}"


def _decimal_literal(value: Decimal) -> str:
    """A plain SQL decimal literal such as ``2.5`` (never ``2.5E+0``): view SQL is text, it takes no parameters."""
    value = Decimal(value)
    if not value.is_finite() or value < 0:
        raise ValueError(f"Not a usable capacity minimum for the BI views: {value!r}")
    return format(value, "f")


def create_tables_sql(vendor: str) -> list[str]:
    d = dialect_for(vendor)
    return [
        f"CREATE TABLE bi_utc_offset ("
        f" utc_year integer NOT NULL,"
        f" utc_start {d.datetime_type} NOT NULL,"
        f" utc_end {d.datetime_type} NOT NULL,"
        f" offset_minutes integer NOT NULL,"
        f" PRIMARY KEY (utc_year, utc_start))",
        f"CREATE TABLE bi_calendar_day ("
        f" local_date {d.date_type} NOT NULL PRIMARY KEY,"
        f" utc_start {d.datetime_type} NOT NULL,"
        f" utc_end {d.datetime_type} NOT NULL,"
        f" quarters integer NOT NULL,"
        f" {_q(d, 'year')} integer NOT NULL,"
        f" {_q(d, 'month')} integer NOT NULL,"
        f" {_q(d, 'day')} integer NOT NULL,"
        f" iso_year integer NOT NULL,"
        f" iso_week integer NOT NULL,"
        f" weekday integer NOT NULL,"
        f" month_start {d.date_type} NOT NULL,"
        f" month_utc_start {d.datetime_type} NOT NULL,"
        f" month_quarters integer NOT NULL)",
    ]


_READING_COLUMNS = (
    "import_t1_kwh",
    "import_t2_kwh",
    "export_t1_kwh",
    "export_t2_kwh",
    "tariff",
    "power_import_kw",
    "power_export_kw",
    *(f"l{n}_{kind}" for kind in ("import_kw", "export_kw", "voltage_v", "current_a") for n in (1, 2, 3)),
    "avg_demand_kw",
    "month_peak_kw",
    "month_peak_at",
    "gas_m3",
)


def raw_quarter_hour_view_sql(
    vendor: str, reading_table: str, meter_table: str, user_table: str, name: str = "ref_bi_quarter_hour"
) -> str:
    """``bi_quarter_hour`` computed from the raw readings with window functions (the views before the rollups)."""
    d = dialect_for(vendor)
    ts = _q(d, "timestamp")

    def utc(col: str) -> str:
        return d.utc_naive.format(ts=col)

    registers = ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "gas_m3")
    lead_cols = ",\n        ".join(
        f"LEAD(r.{col}) OVER (PARTITION BY r.meter_id ORDER BY r.{ts}) AS next_{col}" for col in registers
    )
    next_is_quarter = d.is_next_quarter.format(a="x.next_ts", b=f"x.{ts}")
    drop = " OR ".join(f"x.next_{c} < x.{c}" for c in registers[:4])

    def delta(expr: str) -> str:
        return f"CASE WHEN y.usable = 1 THEN ROUND({expr}, 3) END"

    imp = "(y.next_import_t1_kwh + y.next_import_t2_kwh) - (y.import_t1_kwh + y.import_t2_kwh)"
    exp = "(y.next_export_t1_kwh + y.next_export_t2_kwh) - (y.export_t1_kwh + y.export_t2_kwh)"
    local = d.add_minutes.format(utc=utc(f"y.{ts}"), minutes="o.offset_minutes")

    def phase_w(n: int) -> str:
        # Meters send the import and export line of a phase together; a lone import line counts export as 0,
        # as the dashboards do. No import line (older firmware, single-phase L2/L3) stays NULL.
        return f"ROUND((y.l{n}_import_kw - COALESCE(y.l{n}_export_kw, 0)) * 1000, 1)"

    # S608: identifiers come from model metadata and this module's constants, never from user input.
    # Named columns, not r.*: PostgreSQL would otherwise tie every column of the table to the view.
    used = ", ".join(f"r.{c}" for c in ("meter_id", ts, *_READING_COLUMNS))
    return f"""CREATE VIEW {name} AS
WITH x AS (
    SELECT {used},
        LEAD(r.{ts}) OVER (PARTITION BY r.meter_id ORDER BY r.{ts}) AS next_ts,
        {lead_cols}
    FROM {reading_table} r
),
y AS (
    SELECT x.*,
        CASE WHEN x.next_ts IS NOT NULL AND {next_is_quarter} THEN 1 ELSE 0 END AS has_next,
        CASE WHEN x.next_ts IS NOT NULL AND {next_is_quarter} AND ({drop}) THEN 1 ELSE 0 END AS register_drop,
        CASE WHEN x.next_ts IS NOT NULL AND {next_is_quarter} AND NOT ({drop}) THEN 1 ELSE 0 END AS usable
    FROM x
)
SELECT
    y.meter_id AS meter_id,
    m.serial AS meter_serial,
    m.name AS meter_name,
    m.owner_id AS owner_id,
    u.username AS owner_username,
    {utc(f"y.{ts}")} AS slot_start_utc,
    {local} AS slot_start_local,
    o.offset_minutes AS utc_offset_minutes,
    {d.to_date.format(utc=local)} AS local_date,
    y.tariff AS tariff,
    y.usable AS is_complete,
    y.register_drop AS register_drop,
    {delta(imp)} AS import_kwh,
    {delta("y.next_import_t1_kwh - y.import_t1_kwh")} AS import_t1_kwh,
    {delta("y.next_import_t2_kwh - y.import_t2_kwh")} AS import_t2_kwh,
    {delta(exp)} AS export_kwh,
    {delta("y.next_export_t1_kwh - y.export_t1_kwh")} AS export_t1_kwh,
    {delta("y.next_export_t2_kwh - y.export_t2_kwh")} AS export_t2_kwh,
    CASE WHEN y.usable = 1 THEN ROUND(({imp}) * 4000, 1) END AS import_avg_w,
    CASE WHEN y.usable = 1 THEN ROUND(({exp}) * 4000, 1) END AS export_avg_w,
    ROUND(y.power_import_kw * 1000, 1) AS power_import_w,
    ROUND(y.power_export_kw * 1000, 1) AS power_export_w,
    {phase_w(1)} AS l1_w,
    {phase_w(2)} AS l2_w,
    {phase_w(3)} AS l3_w,
    y.l1_voltage_v AS l1_voltage_v,
    y.l2_voltage_v AS l2_voltage_v,
    y.l3_voltage_v AS l3_voltage_v,
    y.l1_current_a AS l1_current_a,
    y.l2_current_a AS l2_current_a,
    y.l3_current_a AS l3_current_a,
    y.avg_demand_kw AS avg_demand_kw,
    y.month_peak_kw AS month_peak_kw,
    {utc("y.month_peak_at")} AS month_peak_at_utc,
    y.gas_m3 AS gas_m3,
    CASE WHEN y.has_next = 1 AND y.next_gas_m3 >= y.gas_m3 THEN ROUND(y.next_gas_m3 - y.gas_m3, 3) END
        AS gas_delta_m3
FROM y
JOIN {meter_table} m ON m.id = y.meter_id
LEFT JOIN {user_table} u ON u.id = m.owner_id
LEFT JOIN bi_utc_offset o
    ON o.utc_year = {d.utc_year.format(ts=f"y.{ts}")} AND o.utc_start <= y.{ts} AND y.{ts} < o.utc_end"""  # noqa: S608


def raw_day_view_sql(vendor: str, name: str = "ref_bi_day", quarters: str = "ref_bi_quarter_hour") -> str:
    """``bi_day`` summed from a raw quarter-hour view on every read."""
    d = dialect_for(vendor)
    year, month = _q(d, "year"), _q(d, "month")
    # One pass over bi_quarter_hour (each CTE used once), so PostgreSQL inlines it and pushes a meter_id filter
    # below the window functions.
    return f"""CREATE VIEW {name} AS
WITH ranked AS (
    SELECT q.*,
        ROW_NUMBER() OVER (
            PARTITION BY q.meter_id, q.local_date
            ORDER BY CASE WHEN q.import_avg_w IS NULL THEN 1 ELSE 0 END, q.import_avg_w DESC, q.slot_start_utc
        ) AS rank_in_day
    FROM {quarters} q
),
totals AS (
    SELECT q.meter_id, q.meter_serial, q.meter_name, q.owner_id, q.owner_username, q.local_date,
        COUNT(*) AS quarters_with_reading,
        SUM(q.is_complete) AS quarters_complete,
        SUM(q.register_drop) AS register_drops,
        ROUND(SUM(q.import_kwh), 3) AS import_kwh,
        ROUND(SUM(q.import_t1_kwh), 3) AS import_day_kwh,
        ROUND(SUM(q.import_t2_kwh), 3) AS import_night_kwh,
        ROUND(SUM(q.export_kwh), 3) AS export_kwh,
        ROUND(SUM(q.export_t1_kwh), 3) AS export_day_kwh,
        ROUND(SUM(q.export_t2_kwh), 3) AS export_night_kwh,
        ROUND(SUM(q.gas_delta_m3), 3) AS gas_m3,
        MAX(q.import_avg_w) AS peak_import_w,
        MAX(CASE WHEN q.rank_in_day = 1 AND q.import_avg_w IS NOT NULL THEN q.slot_start_utc END)
            AS peak_slot_start_utc,
        MAX(CASE WHEN q.rank_in_day = 1 AND q.import_avg_w IS NOT NULL THEN q.slot_start_local END)
            AS peak_slot_start_local,
        MAX(q.export_avg_w) AS peak_export_w
    FROM ranked q
    GROUP BY q.meter_id, q.meter_serial, q.meter_name, q.owner_id, q.owner_username, q.local_date
)
SELECT
    t.meter_id, t.meter_serial, t.meter_name, t.owner_id, t.owner_username, t.local_date,
    c.{year} AS {year}, c.{month} AS {month},
    c.iso_week AS iso_week, c.weekday AS weekday,
    c.quarters AS quarters_expected,
    t.quarters_with_reading, t.quarters_complete, t.register_drops,
    CASE WHEN t.quarters_complete = c.quarters THEN 1 ELSE 0 END AS is_complete,
    t.import_kwh, t.import_day_kwh, t.import_night_kwh,
    t.export_kwh, t.export_day_kwh, t.export_night_kwh,
    t.gas_m3,
    t.peak_import_w, t.peak_slot_start_utc, t.peak_slot_start_local,
    t.peak_export_w
FROM totals t
LEFT JOIN bi_calendar_day c ON c.local_date = t.local_date"""  # noqa: S608


def raw_month_peak_view_sql(vendor: str, name: str = "ref_bi_month_peak", quarters: str = "ref_bi_quarter_hour") -> str:
    """``bi_month_peak`` ranked from a raw quarter-hour view on every read."""
    d = dialect_for(vendor)
    year, month = _q(d, "year"), _q(d, "month")
    month_utc_start = d.utc_naive.format(ts="c.month_utc_start")
    minimum = _decimal_literal(capacity_minimum_kw())  # the one capacity minimum (settings.CAPACITY_MINIMUM_KW)
    return f"""CREATE VIEW {name} AS
WITH quarters AS (
    SELECT q.*, c.{year} AS local_year, c.{month} AS local_month, c.month_start AS month_start,
        c.month_quarters AS month_quarters, {month_utc_start} AS month_utc_start,
        ROW_NUMBER() OVER (
            PARTITION BY q.meter_id, c.month_start
            ORDER BY CASE WHEN q.import_kwh IS NULL THEN 1 ELSE 0 END, q.import_kwh DESC, q.slot_start_utc
        ) AS rank_in_month
    FROM {quarters} q
    JOIN bi_calendar_day c ON c.local_date = q.local_date
),
totals AS (
    SELECT q.meter_id, q.meter_serial, q.meter_name, q.owner_id, q.owner_username,
        q.local_year, q.local_month, q.month_start,
        MAX(q.month_quarters) AS quarters_expected,
        COUNT(*) AS quarters_with_reading,
        SUM(q.is_complete) AS quarters_complete,
        ROUND(MAX(q.import_kwh) * 4, 3) AS peak_import_kw,
        MAX(CASE WHEN q.rank_in_month = 1 AND q.import_kwh IS NOT NULL THEN q.slot_start_utc END)
            AS peak_slot_start_utc,
        MAX(CASE WHEN q.rank_in_month = 1 AND q.import_kwh IS NOT NULL THEN q.slot_start_local END)
            AS peak_slot_start_local,
        -- The meter's 1-0:1.6.0 restarts each month: a value stamped before the month began is last month's.
        MAX(CASE WHEN q.month_peak_at_utc IS NULL OR q.month_peak_at_utc >= q.month_utc_start
            THEN q.month_peak_kw END) AS meter_month_peak_kw
    FROM quarters q
    GROUP BY q.meter_id, q.meter_serial, q.meter_name, q.owner_id, q.owner_username,
        q.local_year, q.local_month, q.month_start
)
SELECT
    t.meter_id, t.meter_serial, t.meter_name, t.owner_id, t.owner_username,
    t.local_year, t.local_month, t.month_start,
    t.quarters_expected, t.quarters_with_reading, t.quarters_complete,
    t.peak_import_kw, t.peak_slot_start_utc, t.peak_slot_start_local,
    CASE WHEN t.peak_import_kw IS NULL THEN NULL
        WHEN t.peak_import_kw < {minimum} THEN {minimum}
        ELSE t.peak_import_kw END AS billed_peak_kw,
    {minimum} AS minimum_kw,
    t.meter_month_peak_kw
FROM totals t"""  # noqa: S608


@dataclass(frozen=True)
class Tables:
    """The database tables the views read (from the models, so a renamed table follows)."""

    reading: str = "meters_reading"
    meter: str = "meters_meter"
    user: str = "auth_user"
    quarter: str = "meters_quarterenergy"
    day: str = "meters_dayenergy"
    month: str = "meters_monthenergy"


def _owner_columns(alias: str) -> str:
    return (
        f"{alias}.meter_id AS meter_id, m.serial AS meter_serial, m.name AS meter_name, m.owner_id AS owner_id, "
        "u.username AS owner_username"
    )


def _offset_join(d: Dialect, instant: str) -> str:
    utc_year = d.utc_year.format(ts=instant)
    return (
        f"LEFT JOIN bi_utc_offset o ON o.utc_year = {utc_year} AND o.utc_start <= {instant} AND {instant} < o.utc_end"
    )


def quarter_hour_view_sql(vendor: str, t: Tables) -> str:
    """One row per reading, its quarter's energy from QuarterEnergy: measured quarters only (no window function,
    so a filter on meter_id or serial goes straight to the indexes)."""
    d = dialect_for(vendor)
    ts = _q(d, "timestamp")
    utc = d.utc_naive.format(ts=f"r.{ts}")
    local = d.add_minutes.format(utc=utc, minutes="o.offset_minutes")
    pair = f"q.meter_id IS NOT NULL AND q.estimated = {d.false}"  # both boundaries are readings
    usable = f"{pair} AND q.reset = {d.false}"

    def kwh(expr: str) -> str:
        return f"CASE WHEN {usable} THEN {d.kwh.format(x=expr)} END"

    def phase_w(n: int) -> str:
        # As the dashboards: a lone import line counts export as 0; no import line stays NULL.
        return f"ROUND((r.l{n}_import_kw - COALESCE(r.l{n}_export_kw, 0)) * 1000, 1)"

    imp, exp = "q.import_t1_wh + q.import_t2_wh", "q.export_t1_wh + q.export_t2_wh"
    gas_ok = f"{pair} AND q.gas_l IS NOT NULL AND q.gas_estimated = {d.false} AND q.gas_reset = {d.false}"
    return f"""CREATE VIEW bi_quarter_hour AS
SELECT
    {_owner_columns("r")},
    {utc} AS slot_start_utc,
    {local} AS slot_start_local,
    o.offset_minutes AS utc_offset_minutes,
    {d.to_date.format(utc=local)} AS local_date,
    r.tariff AS tariff,
    CASE WHEN {usable} THEN 1 ELSE 0 END AS is_complete,
    CASE WHEN {pair} AND q.reset <> {d.false} THEN 1 ELSE 0 END AS register_drop,
    {kwh(imp)} AS import_kwh,
    {kwh("q.import_t1_wh")} AS import_t1_kwh,
    {kwh("q.import_t2_wh")} AS import_t2_kwh,
    {kwh(exp)} AS export_kwh,
    {kwh("q.export_t1_wh")} AS export_t1_kwh,
    {kwh("q.export_t2_wh")} AS export_t2_kwh,
    CASE WHEN {usable} THEN {d.watts.format(x=f"({imp}) * 4")} END AS import_avg_w,
    CASE WHEN {usable} THEN {d.watts.format(x=f"({exp}) * 4")} END AS export_avg_w,
    ROUND(r.power_import_kw * 1000, 1) AS power_import_w,
    ROUND(r.power_export_kw * 1000, 1) AS power_export_w,
    {phase_w(1)} AS l1_w,
    {phase_w(2)} AS l2_w,
    {phase_w(3)} AS l3_w,
    r.l1_voltage_v AS l1_voltage_v,
    r.l2_voltage_v AS l2_voltage_v,
    r.l3_voltage_v AS l3_voltage_v,
    r.l1_current_a AS l1_current_a,
    r.l2_current_a AS l2_current_a,
    r.l3_current_a AS l3_current_a,
    r.avg_demand_kw AS avg_demand_kw,
    r.month_peak_kw AS month_peak_kw,
    {d.utc_naive.format(ts="r.month_peak_at")} AS month_peak_at_utc,
    r.gas_m3 AS gas_m3,
    CASE WHEN {gas_ok} THEN {d.kwh.format(x="q.gas_l")} END AS gas_delta_m3
FROM {t.reading} r
JOIN {t.meter} m ON m.id = r.meter_id
LEFT JOIN {t.user} u ON u.id = m.owner_id
LEFT JOIN {t.quarter} q ON q.meter_id = r.meter_id AND q.slot = r.{ts}
{_offset_join(d, f"r.{ts}")}"""  # noqa: S608


def day_view_sql(vendor: str, t: Tables) -> str:
    """One row per meter and local day with readings, straight from DayEnergy: measured quarters' sums, the peak."""
    d = dialect_for(vendor)
    year, month = _q(d, "year"), _q(d, "month")
    peak_utc = d.utc_naive.format(ts="de.peak_import_at")
    some = "de.quarters_measured > 0"

    def kwh(expr: str) -> str:
        return f"CASE WHEN {some} THEN {d.kwh.format(x=expr)} END"

    return f"""CREATE VIEW bi_day AS
SELECT
    {_owner_columns("de")}, de.day AS local_date,
    c.{year} AS {year}, c.{month} AS {month},
    c.iso_week AS iso_week, c.weekday AS weekday,
    c.quarters AS quarters_expected,
    de.readings AS quarters_with_reading, de.quarters_measured AS quarters_complete,
    de.register_drops AS register_drops,
    CASE WHEN de.quarters_measured = c.quarters THEN 1 ELSE 0 END AS is_complete,
    {kwh("de.measured_import_t1_wh + de.measured_import_t2_wh")} AS import_kwh,
    {kwh("de.measured_import_t1_wh")} AS import_day_kwh,
    {kwh("de.measured_import_t2_wh")} AS import_night_kwh,
    {kwh("de.measured_export_t1_wh + de.measured_export_t2_wh")} AS export_kwh,
    {kwh("de.measured_export_t1_wh")} AS export_day_kwh,
    {kwh("de.measured_export_t2_wh")} AS export_night_kwh,
    {d.kwh.format(x="de.measured_gas_l")} AS gas_m3,
    {d.watts.format(x="de.peak_import_w")} AS peak_import_w,
    {peak_utc} AS peak_slot_start_utc,
    {d.add_minutes.format(utc=peak_utc, minutes="o.offset_minutes")} AS peak_slot_start_local,
    {d.watts.format(x="de.peak_export_w")} AS peak_export_w
FROM {t.day} de
JOIN {t.meter} m ON m.id = de.meter_id
LEFT JOIN {t.user} u ON u.id = m.owner_id
LEFT JOIN bi_calendar_day c ON c.local_date = de.day
{_offset_join(d, "de.peak_import_at")}
WHERE de.readings > 0"""  # noqa: S608


def month_peak_view_sql(vendor: str, t: Tables) -> str:
    """One row per meter and local month with readings, straight from MonthEnergy: the capacity peak, billed."""
    d = dialect_for(vendor)
    year, month = _q(d, "year"), _q(d, "month")
    minimum = _decimal_literal(capacity_minimum_kw())  # the one capacity minimum (settings.CAPACITY_MINIMUM_KW)
    peak = d.kwh.format(x="me.peak_w")
    peak_utc = d.utc_naive.format(ts="me.peak_at")
    return f"""CREATE VIEW bi_month_peak AS
SELECT
    {_owner_columns("me")},
    c.{year} AS local_year, c.{month} AS local_month, me.month AS month_start,
    c.month_quarters AS quarters_expected,
    me.readings AS quarters_with_reading, me.quarters_measured AS quarters_complete,
    {peak} AS peak_import_kw,
    {peak_utc} AS peak_slot_start_utc,
    {d.add_minutes.format(utc=peak_utc, minutes="o.offset_minutes")} AS peak_slot_start_local,
    CASE WHEN me.peak_w IS NULL THEN NULL
        WHEN {peak} < {minimum} THEN {minimum}
        ELSE {peak} END AS billed_peak_kw,
    {minimum} AS minimum_kw,
    {d.kwh.format(x="me.meter_peak_w")} AS meter_month_peak_kw
FROM {t.month} me
JOIN {t.meter} m ON m.id = me.meter_id
LEFT JOIN {t.user} u ON u.id = m.owner_id
LEFT JOIN bi_calendar_day c ON c.local_date = me.month
{_offset_join(d, "me.peak_at")}
WHERE me.readings > 0"""  # noqa: S608


def create_views_sql(vendor: str, tables: Tables | None = None) -> list[str]:
    t = tables or Tables()
    return [quarter_hour_view_sql(vendor, t), day_view_sql(vendor, t), month_peak_view_sql(vendor, t)]


def reference_views_sql(vendor: str, reading_table: str, meter_table: str, user_table: str) -> list[str]:
    """The views as they were before the rollups, computed from raw readings on every read, named ``ref_bi_*``:
    ``bench/fleet.py`` times them against the views, and tests/bi checks both give the same rows."""
    return [
        raw_quarter_hour_view_sql(vendor, reading_table, meter_table, user_table),
        raw_day_view_sql(vendor),
        raw_month_peak_view_sql(vendor),
    ]


def drop_views_sql(vendor: str) -> list[str]:
    dialect_for(vendor)
    return [f"DROP VIEW IF EXISTS {name}" for name in VIEW_NAMES]


def drop_tables_sql(vendor: str) -> list[str]:
    dialect_for(vendor)
    return [f"DROP TABLE IF EXISTS {name}" for name in TABLE_NAMES]


# --------------------------------------------------------------------------------------------------------------
# Migration entry points (RunPython functions: apps, schema_editor)
# --------------------------------------------------------------------------------------------------------------


def _batched(rows: Sequence[tuple], size: int) -> Iterable[Sequence[tuple]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(schema_editor: BaseDatabaseSchemaEditor, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    d = dialect_for(schema_editor.connection.vendor)
    cols = ", ".join(_q(d, c) for c in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with schema_editor.connection.cursor() as cursor:
        for batch in _batched(rows, _INSERT_BATCH):
            values = ", ".join([one] * len(batch))
            sql = f"INSERT INTO {table} ({cols}) VALUES {values}"  # noqa: S608 (constant identifiers)
            cursor.execute(sql, [v for row in batch for v in row])


def fill_calendar_tables(schema_editor: BaseDatabaseSchemaEditor) -> None:
    ops = schema_editor.connection.ops
    instant = ops.adapt_datetimefield_value
    offsets = [(p.utc_year, instant(p.utc_start), instant(p.utc_end), p.offset_minutes) for p in utc_offset_periods()]
    _insert(schema_editor, "bi_utc_offset", ("utc_year", "utc_start", "utc_end", "offset_minutes"), offsets)
    days = [
        (
            ops.adapt_datefield_value(c.local_date),
            instant(c.utc_start),
            instant(c.utc_end),
            c.quarters,
            c.year,
            c.month,
            c.day,
            c.iso_year,
            c.iso_week,
            c.weekday,
            ops.adapt_datefield_value(c.month_start),
            instant(c.month_utc_start),
            c.month_quarters,
        )
        for c in calendar_days()
    ]
    columns = ("local_date", "utc_start", "utc_end", "quarters", "year", "month", "day", "iso_year", "iso_week")
    months = ("month_start", "month_utc_start", "month_quarters")
    _insert(schema_editor, "bi_calendar_day", (*columns, "weekday", *months), days)


def _table_names(apps: Apps) -> Tables:
    def table(name: str) -> str:
        return apps.get_model("meters", name)._meta.db_table

    meter = apps.get_model("meters", "Meter")
    user = meter._meta.get_field("owner").related_model
    return Tables(
        reading=table("Reading"),
        meter=table("Meter"),
        user=user._meta.db_table,
        quarter=table("QuarterEnergy"),
        day=table("DayEnergy"),
        month=table("MonthEnergy"),
    )


def _rollups_present(connection: BaseDatabaseWrapper) -> bool:
    return Tables.month in connection.introspection.table_names()


def create_views(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """The views read the rollup tables: until their migration (0011) has run, post_migrate creates them later."""
    if not _rollups_present(schema_editor.connection):
        logger.info("BI views wait for the rollup tables (created after migrate)")
        return
    vendor = schema_editor.connection.vendor
    for sql in create_views_sql(vendor, _table_names(apps)):
        schema_editor.execute(sql, params=None)


def drop_views(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for sql in drop_views_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def create_schema(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Forward step of the BI migration: calendar tables, their rows, then the views."""
    vendor = schema_editor.connection.vendor
    for sql in create_tables_sql(vendor):
        schema_editor.execute(sql, params=None)
    fill_calendar_tables(schema_editor)
    create_views(apps, schema_editor)
    logger.info("BI calendar tables created on %s", vendor)


def drop_schema(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Reverse step of the BI migration: views first (they depend on the tables), then the tables."""
    drop_views(apps, schema_editor)
    for sql in drop_tables_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def _bi_tables_present(connection: BaseDatabaseWrapper) -> bool:
    return "bi_calendar_day" in connection.introspection.table_names()


def drop_views_before_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """pre_migrate: drop the views so no migration trips over them.

    SQLite rebuilds a table for most AlterField operations and refuses the final rename while a view names the
    table; PostgreSQL refuses to change the type of a column a view reads. Dropping first keeps every later
    migration of meters_reading, meters_meter or auth_user free of BI concerns.
    """
    connection = connections[using]
    if connection.vendor not in DIALECTS or not _bi_tables_present(connection):
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for sql in drop_views_sql(connection.vendor):
            cursor.execute(sql)


def create_views_after_migrate(
    sender: AppConfig, using: str = "default", apps: Apps | None = None, **kwargs: Any
) -> None:
    """post_migrate (also sent by flush): rebuild the views from the current SQL, if the BI migration is applied."""
    connection = connections[using]
    if connection.vendor not in DIALECTS or not _bi_tables_present(connection) or not _rollups_present(connection):
        return
    tables = _table_names(apps or global_apps)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for sql in drop_views_sql(connection.vendor):
            cursor.execute(sql)
        for sql in create_views_sql(connection.vendor, tables):
            cursor.execute(sql)


def connect_signals(app_config: AppConfig) -> None:
    """Called from MetersConfig.ready(): views are dropped before each migrate and rebuilt after it."""
    pre_migrate.connect(drop_views_before_migrate, sender=app_config, dispatch_uid="meters.bi.drop_views")
    post_migrate.connect(create_views_after_migrate, sender=app_config, dispatch_uid="meters.bi.create_views")


def review_script(vendor: str = "microsoft") -> str:
    """DDL and view SQL of one vendor as a script for review (docs/bi/sqlserver-views.sql); rows are not included."""
    separator = "\nGO\n\n" if vendor == "microsoft" else ";\n\n"
    statements = [
        *create_tables_sql(vendor),
        "-- bi_utc_offset and bi_calendar_day rows are inserted by the migration from Python's tz database.",
        *create_views_sql(vendor),
    ]
    header = (
        f"-- Generated by meters.bi.review_script({vendor!r}); tests/bi keeps this file in sync. Do not edit.\n"
        "-- The migration meters/0002_bi_views runs these statements (one batch each) on SQL Server / Azure SQL.\n\n"
    )
    body = ""
    for statement in statements:
        body += statement + ("\n\n" if statement.startswith("--") else separator)
    return header + body
