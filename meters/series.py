"""Series service: the numbers behind the day / week / month dashboards (shared DESIGN.md, "Series and numbers").

Energy in a bucket is the register value at the bucket's end boundary minus the value at its start boundary, where
a boundary's value is the reading of the quarter-hour slot that starts there. All register arithmetic is done in
integer Wh (the registers have 3 decimals of kWh), so the buckets add up exactly to the window's delta.

* A missing boundary reading is interpolated linearly in time between the nearest readings on either side (rounded
  to the Wh, so sums stay exact) and the bucket is marked ``estimated``; with nothing on one side it stays ``None``.
* A register that goes down (meter reset or replaced) flags the bucket ``reset``; the drop is not counted and the
  new register's rise from its first value is.
* The running bucket (the one that contains "now") ends at the latest reading when its end boundary has not come
  yet: it holds the energy so far and is marked ``so_far``, so the running period's total is the latest register
  minus the register at the period's start, to the Wh.
* A quarter-hour is *measured* when readings exist at both of its boundaries and none of the four electricity
  registers goes down between them (:func:`is_measured_quarter`). Maxima and the capacity peak use measured
  quarters only (docs/architecture.md, "One rule per number").
* Buckets follow local wall time (``settings.TIME_ZONE``): a day has 92, 96 or 100 quarter-hours, a week's DST day
  has a 3 h or 5 h bucket, a month has one bucket per local day.

Raises :class:`SeriesError` subclasses for bad input (unknown view, unusable date or time zone).
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BigIntegerField, Case, Count, F, FloatField, Func, IntegerField, Value, When
from django.db.models.functions import Cast, Round
from django.utils import timezone as dj_timezone

from meters.models import Meter, Reading

logger = logging.getLogger(__name__)

VIEWS = ("day", "week", "month")
SLOT_SECONDS = 900
WEEK_BUCKET_HOURS = 4
PEAK_MISMATCH_RATIO = Decimal("0.02")
_NO_PEAK = -1  # cached "month has readings but no complete quarter-hour"
_PEAK_CACHE_SECONDS = 7 * 24 * 3600
_THOUSAND = Decimal(1000)


class SeriesError(ValueError):
    """Bad input for a series request; the message is meant for the user."""


class UnknownView(SeriesError):
    pass


class InvalidDate(SeriesError):
    pass


class InvalidTimeZone(SeriesError):
    pass


# --- results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    start: datetime  # UTC
    end: datetime  # UTC
    import_t1_wh: int | None
    import_t2_wh: int | None
    export_t1_wh: int | None
    export_t2_wh: int | None
    import_w: float | None  # average power = energy / duration
    export_w: float | None
    phase_w: tuple[float | None, float | None, float | None]  # mean of lN_import - lN_export samples
    gas_l: int | None  # litres (= dm³); the gas register has 3 decimals of m³
    import_cost_eur: Decimal | None
    export_credit_eur: Decimal | None
    gas_cost_eur: Decimal | None
    samples: int  # readings present in the bucket's slots
    slots: int  # quarter-hour slots in the bucket
    estimated: bool  # an electricity boundary value was interpolated
    gas_estimated: bool
    reset: bool  # a register went down inside the bucket
    so_far: bool = False  # the running bucket: energy from its start up to the latest reading
    so_far_until: datetime | None = None  # that latest reading (UTC), for "so far (until 00:15)"

    @property
    def import_wh(self) -> int | None:
        return _add(self.import_t1_wh, self.import_t2_wh)

    @property
    def export_wh(self) -> int | None:
        return _add(self.export_t1_wh, self.export_t2_wh)

    @property
    def hours(self) -> float:
        """Hours the bucket's energy covers: up to the latest reading for the running bucket."""
        return ((self.so_far_until or self.end) - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class Totals:
    import_t1_wh: int
    import_t2_wh: int
    export_t1_wh: int
    export_t2_wh: int
    gas_l: int | None
    import_cost_eur: Decimal
    export_credit_eur: Decimal
    gas_cost_eur: Decimal | None
    known_hours: float  # duration covered by buckets with known import energy

    @property
    def import_wh(self) -> int:
        return self.import_t1_wh + self.import_t2_wh

    @property
    def export_wh(self) -> int:
        return self.export_t1_wh + self.export_t2_wh

    @property
    def electricity_cost_eur(self) -> Decimal:
        return self.import_cost_eur - self.export_credit_eur


@dataclass(frozen=True)
class PowerStats:
    """Average power over the window's known buckets; maxima are the highest measured quarter-hour averages."""

    import_avg_w: float | None
    import_max_w: float | None
    import_max_at: datetime | None  # start of the measured quarter-hour with the maximum
    export_avg_w: float | None
    export_max_w: float | None
    export_max_at: datetime | None


@dataclass(frozen=True)
class MonthPeak:
    """Capacity tariff of one month: the highest quarter-hour average import power."""

    month: date  # first day of the month
    peak_w: int | None  # from 1.8.1 + 1.8.2 deltas of two consecutive measured slots
    peak_at: datetime | None  # start of that quarter-hour (UTC)
    meter_peak_w: int | None  # the meter's own 1-0:1.6.0: highest value stamped in the month
    meter_peak_at: datetime | None
    mismatch: bool  # our peak and the meter's differ by more than 2 %
    billed_kw: Decimal | None  # max(peak, CAPACITY_MINIMUM_KW); None for a month without data
    cost_eur: Decimal | None  # billed_kw x yearly price / 12


@dataclass(frozen=True)
class CapacityYear:
    """The 12-month card: the mean of the billed peaks of the last 12 months that have data."""

    months: tuple[MonthPeak, ...]  # oldest first; months without data have billed_kw None
    months_with_data: int
    mean_kw: Decimal | None
    yearly_cost_eur: Decimal | None


@dataclass(frozen=True)
class Series:
    meter: Meter
    view: str
    day: date
    tz: str
    start: datetime  # local, aware
    end: datetime
    prev_day: date
    next_day: date
    buckets: tuple[Bucket, ...]
    totals: Totals
    power: PowerStats
    completeness_pct: float | None  # readings present / slots already started; None for a future window
    readings: int
    expected_readings: int
    has_gas: bool
    phases: int  # how many phases sent per-phase power
    capacity: MonthPeak | None  # month view only
    capacity_year: CapacityYear | None  # month view only

    @property
    def estimated_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.estimated)

    @property
    def empty_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.import_t1_wh is None)

    @property
    def reset_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.reset)

    @property
    def is_empty(self) -> bool:
        return self.readings == 0 and self.empty_buckets == len(self.buckets)


# --- windows ---------------------------------------------------------------------------------------------------


def _zone(tz: str | None) -> ZoneInfo:
    name = tz or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimeZone(f"Unknown time zone {name!r}") from None


def _local_epoch(zone: ZoneInfo, d: date, hour: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=zone).timestamp())


def window_days(view: str, day: date) -> tuple[date, date]:
    """First local day of the window and the first day after it."""
    if view == "day":
        return day, day + timedelta(days=1)
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if view == "month":
        first = day.replace(day=1)
        return first, _add_months(first, 1)
    raise UnknownView(f"Unknown view {view!r}: use one of {', '.join(VIEWS)}")


def step(view: str, day: date, direction: int) -> date:
    """The day that selects the previous (-1) or next (+1) period of this view."""
    if view == "day":
        return day + timedelta(days=direction)
    if view == "week":
        return day + timedelta(days=7 * direction)
    if view == "month":
        return _add_months(day.replace(day=1), direction)
    raise UnknownView(f"Unknown view {view!r}: use one of {', '.join(VIEWS)}")


def _add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def boundaries(view: str, day: date, tz: str | None = None) -> list[int]:
    """Bucket boundaries as UTC epoch seconds, at local wall-time boundaries; len = buckets + 1."""
    zone = _zone(tz)
    first, after = window_days(view, day)
    if view == "day":
        start, end = _local_epoch(zone, first), _local_epoch(zone, after)
        return list(range(start, end + 1, SLOT_SECONDS))
    days = [first + timedelta(days=i) for i in range((after - first).days)]
    if view == "week":
        points = [_local_epoch(zone, d, h) for d in days for h in range(0, 24, WEEK_BUCKET_HOURS)]
    else:
        points = [_local_epoch(zone, d) for d in days]
    points.append(_local_epoch(zone, after))
    return points


# --- database access -------------------------------------------------------------------------------------------


class Epoch(Func):
    """A datetime column as integer UTC epoch seconds (saves converting thousands of rows to datetime objects)."""

    output_field = BigIntegerField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"

    def as_sqlite(self, compiler, conn, **extra):
        # Django stores UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'; julianday() avoids strftime's '%' escaping.
        template = "CAST(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400) AS INTEGER)"
        return self.as_sql(compiler, conn, template=template, **extra)

    def as_microsoft(self, compiler, conn, **extra):
        template = "DATEDIFF_BIG(second, '19700101', %(expressions)s)"
        return self.as_sql(compiler, conn, template=template, **extra)


def _milli(field: str):
    """A 3-decimal register as an exact integer (Wh, or litres for gas); NULL stays NULL."""
    return Cast(Round(F(field) * Value(1000)), BigIntegerField())


def _float(field: str):
    return Cast(F(field), FloatField())


_COLUMNS = {
    "ep": Epoch("timestamp"),
    "i1": _milli("import_t1_kwh"),
    "i2": _milli("import_t2_kwh"),
    "e1": _milli("export_t1_kwh"),
    "e2": _milli("export_t2_kwh"),
    "gas": _milli("gas_m3"),
    "l1i": _float("l1_import_kw"),
    "l2i": _float("l2_import_kw"),
    "l3i": _float("l3_import_kw"),
    "l1e": _float("l1_export_kw"),
    "l2e": _float("l2_export_kw"),
    "l3e": _float("l3_export_kw"),
    "mpk": _milli("month_peak_kw"),  # W
    "mpa": Epoch("month_peak_at"),
}
_EP, _I1, _I2, _E1, _E2, _GAS, _L1I, _L2I, _L3I, _L1E, _L2E, _L3E, _MPK, _MPA = range(len(_COLUMNS))
_REGISTERS = (_I1, _I2, _E1, _E2)


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _rows(meter: Meter, start: int, end: int) -> list[tuple]:
    """Readings with start <= slot <= end (the end boundary included), only the needed columns, in time order."""
    qs = (
        Reading.objects.filter(meter=meter, timestamp__gte=_utc(start), timestamp__lte=_utc(end))
        .order_by("timestamp")
        .annotate(**_COLUMNS)
        .values_list(*_COLUMNS)
    )
    # Every column is already an int or float in SQL: skip the ORM's per-row conversion (a third of the time).
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _neighbour(meter: Meter, epoch: int, before: bool) -> tuple | None:
    """The nearest reading strictly before / after an instant (to interpolate across the window's edge)."""
    qs = Reading.objects.filter(meter=meter)
    if before:
        qs = qs.filter(timestamp__lt=_utc(epoch)).order_by("-timestamp")
    else:
        qs = qs.filter(timestamp__gt=_utc(epoch)).order_by("timestamp")
    return qs.annotate(**_COLUMNS).values_list(*_COLUMNS).first()


# --- register arithmetic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Track:
    """One cumulative register made continuous across resets: value at each boundary, estimated flags, drops."""

    values: list[int | None]
    estimated: list[bool]
    drops: list[tuple[int, int]]  # (previous reading, reading after the drop) epochs
    so_far: int | None = None  # index of the boundary that took the latest reading's value (the running bucket)


def _track(rows: list[tuple], col: int, bounds: list[int], running: int | None = None) -> _Track:
    """Boundary values of one register; ``running`` is the index of the bucket that contains now, if any."""
    times: list[int] = []
    cont: list[int] = []
    drops: list[tuple[int, int]] = []
    prev_raw: int | None = None
    for row in rows:
        raw = row[col]
        if raw is None:
            continue
        if prev_raw is None:
            cont.append(raw)
        elif raw >= prev_raw:
            cont.append(cont[-1] + raw - prev_raw)
        else:
            # Register went down: count nothing across the drop, then the new register's rise.
            cont.append(cont[-1])
            drops.append((times[-1], row[_EP]))
        times.append(row[_EP])
        prev_raw = raw

    values: list[int | None] = []
    estimated: list[bool] = []
    for b in bounds:
        i = bisect_left(times, b)
        if i < len(times) and times[i] == b:
            values.append(cont[i])
            estimated.append(False)
        elif 0 < i < len(times):
            t0, t1, c0, c1 = times[i - 1], times[i], cont[i - 1], cont[i]
            num, den = (c1 - c0) * (b - t0), t1 - t0
            values.append(c0 + (2 * num + den) // (2 * den))  # rounded to the Wh: sums stay exact
            estimated.append(True)
        else:
            values.append(None)
            estimated.append(False)
    so_far = None
    if running is not None and values[running] is not None and values[running + 1] is None and times:
        # The running bucket's end has not come yet: it holds the energy up to the latest reading inside it.
        if bounds[running] <= times[-1] < bounds[running + 1]:
            values[running + 1] = cont[-1]
            so_far = running + 1
    return _Track(values, estimated, drops, so_far)


def _delta(track: _Track, k: int) -> int | None:
    a, b = track.values[k], track.values[k + 1]
    return None if a is None or b is None else b - a


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _kwh_cost(wh: int | None, price: Decimal) -> Decimal | None:
    return None if wh is None else Decimal(wh) * price / _THOUSAND


# --- the service -----------------------------------------------------------------------------------------------


def parse_day(text: str | None, tz: str | None = None) -> date:
    """A ``YYYY-MM-DD`` query value; today (local) when empty. Raises InvalidDate."""
    if not text:
        return dj_timezone.now().astimezone(_zone(tz)).date()
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(f"Invalid date {text!r}: use the form YYYY-MM-DD") from None
    if not 2000 <= value.year <= 2100:
        raise InvalidDate(f"Date {text!r} is out of range (years 2000 to 2100)")
    return value


def build_series(meter: Meter, view: str, day: date, tz: str | None = None, *, prices=None) -> Series:
    """The buckets and window figures of one meter for the day / week / month containing ``day``.

    ``prices`` defaults to the meter owner's profile prices (site defaults for an unclaimed meter).
    Raises UnknownView, InvalidTimeZone.
    """
    if view not in VIEWS:
        raise UnknownView(f"Unknown view {view!r}: use one of {', '.join(VIEWS)}")
    zone = _zone(tz)
    prices = prices or _prices_for(meter)
    bounds = boundaries(view, day, tz)
    start, end = bounds[0], bounds[-1]

    rows = _rows(meter, start, end)
    edge_rows = list(rows)
    # Interpolating across the window's edge needs the nearest reading outside it (only when the edge is missing).
    if not rows or rows[0][_EP] != start:
        before = _neighbour(meter, start, before=True)
        if before is not None:
            edge_rows.insert(0, before)
    if not rows or rows[-1][_EP] != end:
        after = _neighbour(meter, end, before=False)
        if after is not None:
            edge_rows.append(after)

    now = int(dj_timezone.now().timestamp())
    running = bisect_right(bounds, now) - 1 if start <= now < end else None
    tracks = {col: _track(edge_rows, col, bounds, running) for col in (*_REGISTERS, _GAS)}
    inside = [r for r in rows if r[_EP] < end]
    has_gas = any(r[_GAS] is not None for r in inside)

    # Per-bucket sample sums for the phase loads.
    n = len(bounds) - 1
    samples = [0] * n
    phase_sum = [[0.0, 0.0, 0.0] for _ in range(n)]
    phase_cnt = [[0, 0, 0] for _ in range(n)]
    phases_seen = [False, False, False]
    for row in inside:
        k = bisect_right(bounds, row[_EP]) - 1
        samples[k] += 1
        for p, (ci, ce) in enumerate(((_L1I, _L1E), (_L2I, _L2E), (_L3I, _L3E))):
            imp = row[ci]
            if imp is not None:
                # Meters send the import and export line of a phase together; a missing export line counts as 0.
                phase_sum[k][p] += imp - (row[ce] or 0.0)
                phase_cnt[k][p] += 1
                phases_seen[p] = True

    drops = sorted({d for col in _REGISTERS for d in tracks[col].drops})
    gas_drops = tracks[_GAS].drops

    buckets: list[Bucket] = []
    for k in range(n):
        b0, b1 = bounds[k], bounds[k + 1]
        seconds = b1 - b0
        i1, i2 = _delta(tracks[_I1], k), _delta(tracks[_I2], k)
        e1, e2 = _delta(tracks[_E1], k), _delta(tracks[_E2], k)
        gas = _delta(tracks[_GAS], k) if has_gas else None
        imp, exp = _add(i1, i2), _add(e1, e2)
        so_far = imp is not None and any(tracks[c].so_far == k + 1 for c in _REGISTERS)
        until = inside[-1][_EP] if so_far else b1
        # A running bucket's average power is over the time it has covered so far, not its whole length.
        covered = until - b0
        import_cost = (
            None
            if i1 is None or i2 is None
            else _kwh_cost(i1, prices.import_day_eur_kwh) + _kwh_cost(i2, prices.import_night_eur_kwh)
        )
        buckets.append(
            Bucket(
                start=_utc(b0),
                end=_utc(b1),
                import_t1_wh=i1,
                import_t2_wh=i2,
                export_t1_wh=e1,
                export_t2_wh=e2,
                import_w=None if imp is None or not covered else imp * 3600 / covered,
                export_w=None if exp is None or not covered else exp * 3600 / covered,
                phase_w=tuple(phase_sum[k][p] * 1000 / phase_cnt[k][p] if phase_cnt[k][p] else None for p in range(3)),
                gas_l=gas,
                import_cost_eur=import_cost,
                export_credit_eur=_kwh_cost(exp, prices.export_eur_kwh),
                gas_cost_eur=_kwh_cost(gas, prices.gas_eur_m3),
                samples=samples[k],
                slots=seconds // SLOT_SECONDS,
                estimated=any(tracks[c].estimated[k] or tracks[c].estimated[k + 1] for c in _REGISTERS),
                gas_estimated=has_gas and (tracks[_GAS].estimated[k] or tracks[_GAS].estimated[k + 1]),
                reset=any(t0 < b1 and t1 > b0 for t0, t1 in drops)
                or (has_gas and any(t0 < b1 and t1 > b0 for t0, t1 in gas_drops)),
                so_far=so_far,
                so_far_until=_utc(until) if so_far else None,
            )
        )

    started = -(-(now - start) // SLOT_SECONDS)  # slots that have begun by now (ceil)
    expected = max(0, min((end - start) // SLOT_SECONDS, started))
    capacity = capacity_year = None
    if view == "month":
        capacity = _month_peak(meter, window_days("month", day)[0], rows, start, end, prices)
        capacity_year = _capacity_year(meter, capacity, zone, prices)

    return Series(
        meter=meter,
        view=view,
        day=day,
        tz=zone.key,
        start=_utc(start).astimezone(zone),
        end=_utc(end).astimezone(zone),
        prev_day=step(view, day, -1),
        next_day=step(view, day, +1),
        buckets=tuple(buckets),
        totals=_totals(buckets, has_gas),
        power=_power(buckets, rows, start, end),
        completeness_pct=round(100 * len(inside) / expected, 1) if expected else None,
        readings=len(inside),
        expected_readings=expected,
        has_gas=has_gas,
        phases=sum(phases_seen),
        capacity=capacity,
        capacity_year=capacity_year,
    )


def _prices_for(meter: Meter):
    from users.models import Profile, profile_for

    return profile_for(meter.owner).prices() if meter.owner_id else Profile().prices()


def _totals(buckets: list[Bucket], has_gas: bool) -> Totals:
    def total(attr: str) -> int:
        return sum(v for b in buckets if (v := getattr(b, attr)) is not None)

    def money(attr: str) -> Decimal:
        return sum((v for b in buckets if (v := getattr(b, attr)) is not None), Decimal(0))

    return Totals(
        import_t1_wh=total("import_t1_wh"),
        import_t2_wh=total("import_t2_wh"),
        export_t1_wh=total("export_t1_wh"),
        export_t2_wh=total("export_t2_wh"),
        gas_l=total("gas_l") if has_gas else None,
        import_cost_eur=money("import_cost_eur"),
        export_credit_eur=money("export_credit_eur"),
        gas_cost_eur=money("gas_cost_eur") if has_gas else None,
        known_hours=sum(b.hours for b in buckets if b.import_wh is not None),
    )


def _power(buckets: list[Bucket], rows: list[tuple], start: int, end: int) -> PowerStats:
    def average(energy: str) -> float | None:
        known = [b for b in buckets if getattr(b, energy) is not None]
        hours = sum(b.hours for b in known)
        return sum(getattr(b, energy) for b in known) / hours if hours else None

    # The maximum is something that happened: the highest measured quarter-hour, whatever the bucket size.
    imp_w, imp_at = _quarter_peak(rows, start, end, (_I1, _I2))
    exp_w, exp_at = _quarter_peak(rows, start, end, (_E1, _E2))
    return PowerStats(
        import_avg_w=average("import_wh"),
        import_max_w=None if imp_w is None else float(imp_w),
        import_max_at=None if imp_at is None else _utc(imp_at),
        export_avg_w=average("export_wh"),
        export_max_w=None if exp_w is None else float(exp_w),
        export_max_at=None if exp_at is None else _utc(exp_at),
    )


# --- capacity tariff -------------------------------------------------------------------------------------------


def is_measured_quarter(prev: tuple, row: tuple) -> bool:
    """The one rule for a measured quarter-hour: consecutive slots and no electricity register goes down.

    A drop in any of 1.8.1 / 1.8.2 / 2.8.1 / 2.8.2 means the meter was reset or replaced between the two readings,
    so no delta of that quarter is trusted (the BI view ``bi_quarter_hour`` applies the same rule in SQL, and
    ``_month_peaks_sql`` below too).
    """
    return row[_EP] - prev[_EP] == SLOT_SECONDS and all(
        row[c] is not None and prev[c] is not None and row[c] >= prev[c] for c in _REGISTERS
    )


def _quarter_peak(
    rows: list[tuple], start: int, end: int, registers: tuple[int, int] = (_I1, _I2)
) -> tuple[int | None, int | None]:
    """Highest measured quarter-hour average power (W) of the registers' sum inside [start, end], and its slot.

    Ties go to the earliest quarter (as in the BI views).
    """
    best_w: int | None = None
    best_at: int | None = None
    a, b = registers
    for prev, row in pairwise(rows):
        if start <= prev[_EP] and row[_EP] <= end and is_measured_quarter(prev, row):
            w = (row[a] + row[b] - prev[a] - prev[b]) * 4
            if best_w is None or w > best_w:
                best_w, best_at = w, prev[_EP]
    return best_w, best_at


def _billed(peak_w: int | None) -> Decimal | None:
    if peak_w is None:
        return None
    return max(Decimal(peak_w) / _THOUSAND, settings.CAPACITY_MINIMUM_KW)


def _meter_month_peak(rows: list[tuple], start: int, end: int) -> tuple | None:
    """The reading with the meter's own month peak (1-0:1.6.0): the highest value stamped in the month.

    The register restarts each month, but a meter may still send last month's value for a few minutes after
    midnight: a value stamped before the month began is last month's and does not count (nor in ``bi_month_peak``).
    A value without a stamp counts for the month of its reading.
    """
    best = None
    for r in rows:
        if start <= r[_EP] < end and r[_MPK] is not None and (r[_MPA] is None or start <= r[_MPA] < end):
            if best is None or r[_MPK] > best[_MPK]:
                best = r
    return best


def _month_peak(meter: Meter, month: date, rows: list[tuple], start: int, end: int, prices) -> MonthPeak:
    peak_w, peak_at = _quarter_peak(rows, start, end)
    own = _meter_month_peak(rows, start, end)
    meter_w = own[_MPK] if own else None
    mismatch = bool(
        peak_w is not None
        and meter_w is not None
        and abs(Decimal(peak_w - meter_w)) > PEAK_MISMATCH_RATIO * max(peak_w, meter_w)
    )
    billed = _billed(peak_w)
    return MonthPeak(
        month=month,
        peak_w=peak_w,
        peak_at=None if peak_at is None else _utc(peak_at),
        meter_peak_w=meter_w,
        meter_peak_at=_utc(own[_MPA]) if own and own[_MPA] is not None else None,
        mismatch=mismatch,
        billed_kw=billed,
        cost_eur=None if billed is None else billed * prices.capacity_eur_kw_year / 12,
    )


def _capacity_year(meter: Meter, current: MonthPeak, zone: ZoneInfo, prices) -> CapacityYear:
    """The current month's peak plus the 11 months before it, computed in the database (one query)."""
    firsts = [_add_months(current.month, -i) for i in range(11, 0, -1)]
    edges = [int(datetime(d.year, d.month, 1, tzinfo=zone).timestamp()) for d in [*firsts, current.month]]
    peaks = _previous_peaks(meter, firsts, edges, zone)
    months = []
    for i, first in enumerate(firsts):
        peak_w = peaks[i]
        billed = _billed(peak_w)
        months.append(
            MonthPeak(
                month=first,
                peak_w=peak_w,
                peak_at=None,
                meter_peak_w=None,
                meter_peak_at=None,
                mismatch=False,
                billed_kw=billed,
                cost_eur=None if billed is None else billed * prices.capacity_eur_kw_year / 12,
            )
        )
    months.append(current)
    billed = [m.billed_kw for m in months if m.billed_kw is not None]
    mean = sum(billed, Decimal(0)) / len(billed) if billed else None
    return CapacityYear(
        months=tuple(months),
        months_with_data=len(billed),
        mean_kw=mean,
        yearly_cost_eur=None if mean is None else mean * prices.capacity_eur_kw_year,
    )


def _month_index(edges: list[int]) -> Case:
    """Index i of the month [edges[i], edges[i + 1]) holding a reading; -1 outside them."""
    return Case(
        *[
            When(timestamp__gte=_utc(a), timestamp__lt=_utc(b), then=Value(i))
            for i, (a, b) in enumerate(pairwise(edges))
        ],
        default=Value(-1),
        output_field=IntegerField(),
    )


def _previous_peaks(meter: Meter, firsts: list[date], edges: list[int], zone: ZoneInfo) -> list[int | None]:
    """Peaks of past months, cached per (meter, month, number of readings in it).

    A month's peak only changes when readings are added to it (ingest never rewrites a stored reading), so the
    reading count is the cache key's version: a late upload from a device that was offline changes the count and
    the month is recomputed. Counting is an index-only range scan, far cheaper than the window query.
    """
    peaks: list[int | None] = [None] * len(firsts)
    counts = dict(
        Reading.objects.filter(meter=meter, timestamp__gte=_utc(edges[0]), timestamp__lt=_utc(edges[-1]))
        .annotate(mi=_month_index(edges))
        .values("mi")
        .annotate(n=Count("*"))  # "*" keeps it an index-only scan (counting pk reads the table)
        .order_by()
        .values_list("mi", "n")
    )
    keys = {
        i: f"series:peak:{meter.pk}:{first.isoformat()}:{zone.key}:{counts[i]}"
        for i, first in enumerate(firsts)
        if counts.get(i)
    }
    cached = cache.get_many(list(keys.values()))
    missing = [i for i, key in keys.items() if key not in cached]
    if missing:
        # Only the month's first slot after its end is needed from outside: the window query's span covers it.
        computed = _month_peaks_sql(meter, edges[min(missing) : max(missing) + 2])
        cache.set_many(
            {keys[i]: computed.get(i - min(missing), _NO_PEAK) for i in missing}, timeout=_PEAK_CACHE_SECONDS
        )
        cached.update({keys[i]: computed.get(i - min(missing), _NO_PEAK) for i in missing})
    for i, key in keys.items():
        value = cached[key]
        peaks[i] = None if value == _NO_PEAK else value
    return peaks


def _month_peaks_sql(meter: Meter, edges: list[int]) -> dict[int, int]:
    """Peak quarter-hour import energy x 4 (W) per month index, for months [edges[i], edges[i+1]).

    LAG over the readings gives each slot's predecessor; only pairs exactly one slot apart count (a gap would
    spread several quarters' energy over one). A quarter belongs to the month of its starting slot.
    """
    from django.db.models import Window
    from django.db.models.functions import Lag

    order = F("timestamp").asc()
    month_index = _month_index(edges)
    registers = {name: _milli(f"{name}_kwh") for name in ("import_t1", "import_t2", "export_t1", "export_t2")}
    inner = (
        Reading.objects.filter(meter=meter, timestamp__gte=_utc(edges[0]), timestamp__lte=_utc(edges[-1]))
        .annotate(
            mi=month_index,
            ep=Epoch("timestamp"),
            **registers,
            p_ep=Window(Lag(Epoch("timestamp")), order_by=order),
            **{f"p_{name}": Window(Lag(expr), order_by=order) for name, expr in registers.items()},
            p_mi=Window(Lag(month_index), order_by=order),
        )
        .values_list("mi", "ep", *registers, "p_ep", *(f"p_{name}" for name in registers), "p_mi")
    )
    sql, params = inner.query.sql_with_params()
    # The same rule as is_measured_quarter: consecutive slots, no electricity register goes down.
    no_drop = " AND ".join(f"s.{name} >= s.p_{name}" for name in registers)
    outer = (
        "SELECT s.p_mi, MAX(s.import_t1 + s.import_t2 - s.p_import_t1 - s.p_import_t2) "  # noqa: S608
        f"FROM (%s) s WHERE s.ep - s.p_ep = %%s AND {no_drop} AND s.p_mi >= 0 GROUP BY s.p_mi"
    )
    result: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(outer % sql, [*params, SLOT_SECONDS])
        for mi, wh in cursor.fetchall():
            result[int(mi)] = int(wh) * 4
    return result
