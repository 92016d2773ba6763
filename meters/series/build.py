"""Building a series (docs/design.md, "Series and numbers"): boundary values, buckets, totals, power.

``build_series`` runs the steps in order: the window's boundaries (``windows``), its readings (``queries``), one
continuous track per register with its value at every boundary, the per-bucket samples, the buckets, and for the
month view the capacity cards (``capacity``). All register arithmetic is in integer Wh.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, QuerySet
from django.utils import timezone as dj_timezone

from meters.billing.cost import Pricing, bucket_costs, effective_prices
from meters.models import (
    Contract,
    DayEnergy,
    FluviusDay,
    FluviusInterval,
    FluviusRegister,
    Meter,
    MonthEnergy,
)
from meters.series.capacity import (
    CapacityYear,
    _capacity_year,
    _month_peak,
    _quarter_peak,
    capacity_year_of,
    month_peak,
    with_fluvius_peaks,
)
from meters.series.queries import (
    _E1,
    _E2,
    _EP,
    _GAS,
    _I1,
    _I2,
    _L1E,
    _L1I,
    _L2E,
    _L2I,
    _L3E,
    _L3I,
    _MONTH_SUMS,
    _REGISTERS,
    ENERGIES,
    _neighbour,
    _rows,
    month_sums,
)
from meters.series.results import Bucket, PowerStats, Series, Totals, _add
from meters.series.windows import (
    SLOT_SECONDS,
    _add_months,
    _utc,
    _zone,
    boundaries,
    check_view,
    step,
    window_days,
)

if TYPE_CHECKING:
    from users.models import Prices

_THOUSAND = Decimal(1000)
_PHASE_COLUMNS = ((_L1I, _L1E), (_L2I, _L2E), (_L3I, _L3E))  # (import, export) line of each phase

# --- register arithmetic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Track:
    """One cumulative register made continuous across resets: value at each boundary, estimated flags, drops."""

    values: list[int | None]
    estimated: list[bool]
    drops: list[tuple[int, int]]  # (previous reading, reading after the drop) epochs
    so_far: int | None = None  # index of the boundary that took the latest reading's value (the running bucket)


def _continuous(rows: list[tuple], col: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Times and values of one register with every drop taken out, and the drops (previous reading, next reading)."""
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
    return times, cont, drops


def _at_bounds(times: list[int], cont: list[int], bounds: list[int]) -> tuple[list[int | None], list[bool]]:
    """A continuous register's value at each boundary (a reading there, else interpolated) and whether estimated."""
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
    return values, estimated


def _track(rows: list[tuple], col: int, bounds: list[int], running: int | None = None) -> _Track:
    """Boundary values of one register; ``running`` is the index of the bucket that contains now, if any."""
    times, cont, drops = _continuous(rows, col)
    values, estimated = _at_bounds(times, cont, bounds)
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


def _wh_cost(wh: int, price: Decimal) -> Decimal:
    return Decimal(wh) * price / _THOUSAND


def _kwh_cost(wh: int | None, price: Decimal) -> Decimal | None:
    return None if wh is None else _wh_cost(wh, price)


# --- the steps of build_series ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The window's boundaries and register tracks: what every bucket is computed from."""

    bounds: list[int]
    tracks: dict[int, _Track]  # by column: the four electricity registers and gas
    drops: list[tuple[int, int]]  # drops of any electricity register
    gas_drops: list[tuple[int, int]]
    has_gas: bool
    latest: int  # the latest reading inside the window (the window's end when it has none)


@dataclass(frozen=True)
class _Samples:
    """Readings per bucket and the mean per-phase load (W) of each bucket's samples."""

    counts: list[int]
    phase_w: list[tuple[float | None, float | None, float | None]]
    phases: int  # how many phases sent per-phase power


def _with_edge_neighbours(
    meter: Meter | int, rows: list[tuple], start: int, end: int, *, after: bool = True
) -> list[tuple]:
    """The window's rows plus the nearest reading outside each edge that has no reading of its own.

    Interpolating across the window's edge needs them (only when the edge is missing). ``after=False``: the
    caller knows there is no reading after the window.
    """
    edge_rows = list(rows)
    if not rows or rows[0][_EP] != start:
        before = _neighbour(meter, start, before=True)
        if before is not None:
            edge_rows.insert(0, before)
    if after and (not rows or rows[-1][_EP] != end):
        following = _neighbour(meter, end, before=False)
        if following is not None:
            edge_rows.append(following)
    return edge_rows


def _window(edge_rows: list[tuple], inside: list[tuple], bounds: list[int], now: int) -> _Window:
    start, end = bounds[0], bounds[-1]
    running = bisect_right(bounds, now) - 1 if start <= now < end else None
    tracks = {col: _track(edge_rows, col, bounds, running) for col in (*_REGISTERS, _GAS)}
    return _Window(
        bounds=bounds,
        tracks=tracks,
        drops=sorted({d for col in _REGISTERS for d in tracks[col].drops}),
        gas_drops=tracks[_GAS].drops,
        has_gas=any(r[_GAS] is not None for r in inside),
        latest=inside[-1][_EP] if inside else end,
    )


def _mean_w(kw_sum: float, count: int) -> float | None:
    """The mean of ``count`` per-phase samples (kW) in W; None without samples."""
    return kw_sum * 1000 / count if count else None


def _samples(inside: list[tuple], bounds: list[int]) -> _Samples:
    """Per-bucket sample counts and sums for the phase loads."""
    n = len(bounds) - 1
    counts = [0] * n
    phase_sum = [[0.0, 0.0, 0.0] for _ in range(n)]
    phase_cnt = [[0, 0, 0] for _ in range(n)]
    phases_seen = [False, False, False]
    for row in inside:
        k = bisect_right(bounds, row[_EP]) - 1
        counts[k] += 1
        for p, (ci, ce) in enumerate(_PHASE_COLUMNS):
            imp = row[ci]
            if imp is not None:
                # Meters send the import and export line of a phase together; a missing export line counts as 0.
                phase_sum[k][p] += imp - (row[ce] or 0.0)
                phase_cnt[k][p] += 1
                phases_seen[p] = True
    phase_w = [
        (_mean_w(s[0], c[0]), _mean_w(s[1], c[1]), _mean_w(s[2], c[2]))
        for s, c in zip(phase_sum, phase_cnt, strict=True)
    ]
    return _Samples(counts=counts, phase_w=phase_w, phases=sum(phases_seen))


def _import_cost(i1: int | None, i2: int | None, prices: Prices) -> Decimal | None:
    if i1 is None or i2 is None:
        return None
    return _wh_cost(i1, prices.import_day_eur_kwh) + _wh_cost(i2, prices.import_night_eur_kwh)


def _overlaps(drops: list[tuple[int, int]], b0: int, b1: int) -> bool:
    return any(t0 < b1 and t1 > b0 for t0, t1 in drops)


def _bucket(w: _Window, k: int, samples: _Samples, prices: Prices) -> Bucket:
    """Bucket k of the window: boundary deltas, average power, costs and flags."""
    b0, b1 = w.bounds[k], w.bounds[k + 1]
    t = w.tracks
    i1, i2 = _delta(t[_I1], k), _delta(t[_I2], k)
    e1, e2 = _delta(t[_E1], k), _delta(t[_E2], k)
    gas = _delta(t[_GAS], k) if w.has_gas else None
    imp, exp = _add(i1, i2), _add(e1, e2)
    so_far = imp is not None and any(t[c].so_far == k + 1 for c in _REGISTERS)
    until = w.latest if so_far else b1
    # A running bucket's average power is over the time it has covered so far, not its whole length.
    covered = until - b0
    return Bucket(
        start=_utc(b0),
        end=_utc(b1),
        import_t1_wh=i1,
        import_t2_wh=i2,
        export_t1_wh=e1,
        export_t2_wh=e2,
        import_w=None if imp is None or not covered else imp * 3600 / covered,
        export_w=None if exp is None or not covered else exp * 3600 / covered,
        phase_w=samples.phase_w[k],
        gas_l=gas,
        import_cost_eur=_import_cost(i1, i2, prices),
        export_credit_eur=_kwh_cost(exp, prices.export_eur_kwh),
        gas_cost_eur=_kwh_cost(gas, prices.gas_eur_m3),
        samples=samples.counts[k],
        slots=(b1 - b0) // SLOT_SECONDS,
        estimated=any(t[c].estimated[k] or t[c].estimated[k + 1] for c in _REGISTERS),
        gas_estimated=w.has_gas and (t[_GAS].estimated[k] or t[_GAS].estimated[k + 1]),
        reset=_overlaps(w.drops, b0, b1) or (w.has_gas and _overlaps(w.gas_drops, b0, b1)),
        so_far=so_far,
        so_far_until=_utc(until) if so_far else None,
        source=None if imp is None else "p1",
    )


def _expected_readings(start: int, end: int, now: int) -> int:
    """Slots of the window that have begun by now."""
    started = -(-(now - start) // SLOT_SECONDS)  # ceil
    return max(0, min((end - start) // SLOT_SECONDS, started))


# --- the service -----------------------------------------------------------------------------------------------


def build_series(
    meter: Meter, view: str, day: date, tz: str | None = None, *, prices: Prices, source: str = "rollups"
) -> Series:
    """The buckets and window figures of one meter for the day / week / month containing ``day``.

    ``prices`` are the owner's effective prices (``users.models.prices_for``): the caller looks them up, so
    showing a series never writes to the database. The month view reads the stored day and month rollups
    (meters/series/rollups.py) in the site's zone; ``source="readings"`` computes it from the raw readings
    instead, the reference the tests and ``bench/fleet.py`` compare it with. Raises UnknownView, InvalidTimeZone.
    """
    check_view(view)
    zone = _zone(tz)
    bounds = boundaries(view, day, tz)
    prices = effective_prices(meter.pk, prices, day)  # the capacity price of the meter's contract
    if view in ("month", "year") and source == "rollups" and zone.key == _zone(None).key:
        if view == "year":
            return _year_from_rollups(meter, day, zone, bounds, prices)
        return _month_from_rollups(meter, day, zone, bounds, prices)
    start, end = bounds[0], bounds[-1]

    rows = _rows(meter, start, end)
    edge_rows = _with_edge_neighbours(meter, rows, start, end)
    now = int(dj_timezone.now().timestamp())
    inside = [r for r in rows if r[_EP] < end]
    # A year is computed a day at a time and summed per month, as from the rollups: one rule for a month's total.
    calc = list(_midnights(zone.key, *window_days("year", day))) if view == "year" else bounds
    window = _window(edge_rows, inside, calc, now)
    samples = _samples(inside, calc)
    buckets = [_bucket(window, k, samples, prices) for k in range(len(calc) - 1)]
    buckets = _with_fluvius(meter, buckets, zone, prices)
    buckets = _priced(meter, buckets, zone, prices, window.has_gas)
    totals = _totals(buckets, window.has_gas)
    if view == "year":
        buckets = _months(buckets, calc, bounds, now, window.has_gas, _samples(inside, bounds).phase_w)
    expected = _expected_readings(start, end, now)

    capacity = capacity_year = None
    capacity_months = _capacity_months(meter, day, prices)[0] if view == "year" else None
    if view == "month":
        capacity = _month_peak(meter, window_days("month", day)[0], rows, start, end, prices)
        capacity_year = _capacity_year(meter, capacity, zone, prices, stored=False)

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
        totals=totals,
        power=_power(buckets, rows, start, end),
        completeness_pct=round(100 * len(inside) / expected, 1) if expected else None,
        readings=len(inside),
        expected_readings=expected,
        has_gas=window.has_gas,
        phases=samples.phases,
        capacity=capacity,
        capacity_year=capacity_year,
        capacity_months=capacity_months,
    )


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
        cost_complete=all(b.import_cost_eur is not None for b in buckets if b.import_wh is not None),
    )


def _with_fluvius(meter: Meter, buckets: list[Bucket], zone: ZoneInfo, prices: Prices) -> list[Bucket]:
    """The buckets with Mijn Fluvius volumes where the Pi's readings leave them unknown (issue 18, meters.fluvius),
    costed with ``prices`` as the Pi's buckets are (a contract then prices them again in ``_priced``)."""
    # Imported here: meters.fluvius.series reads this package's results, so a module-level import would be a cycle.
    from meters.fluvius.series import fill

    return fill(meter, buckets, zone, prices=prices)


def _priced(meter: Meter, buckets: list[Bucket], zone: ZoneInfo, prices: Prices, has_gas: bool) -> list[Bucket]:
    """The buckets with the costs of their quarters under the meter's contracts (meters.billing.cost); a meter
    without a contract keeps the costs of its owner's profile prices, computed from the bucket's registers (the
    same numbers: those prices are linear in the registers)."""
    if not buckets or not Contract.objects.filter(meter_id=meter.pk).exists():
        return buckets
    bounds = [b.start for b in buckets] + [buckets[-1].end]
    totals = [(b.import_t1_wh or 0, b.import_t2_wh or 0, b.export_wh or 0, b.gas_l) for b in buckets]
    costs = bucket_costs(Pricing(meter.pk, prices, zone=zone), bounds, has_gas, totals)
    return [
        b
        if b.import_wh is None
        else replace(b, import_cost_eur=c.import_eur, export_credit_eur=c.export_eur, gas_cost_eur=c.gas_eur)
        for b, c in zip(buckets, costs, strict=True)
    ]


def _power(buckets: list[Bucket], rows: list[tuple], start: int, end: int) -> PowerStats:
    # The maximum is something that happened: the highest measured quarter-hour, whatever the bucket size.
    imp_w, imp_at = _quarter_peak(rows, start, end, (_I1, _I2))
    exp_w, exp_at = _quarter_peak(rows, start, end, (_E1, _E2))
    return _power_stats(buckets, imp_w, imp_at, exp_w, exp_at)


def _power_stats(
    buckets: Sequence[Bucket], imp_w: int | None, imp_at: int | None, exp_w: int | None, exp_at: int | None
) -> PowerStats:
    def average(energy: str) -> float | None:
        known = [b for b in buckets if getattr(b, energy) is not None]
        hours = sum(b.hours for b in known)
        return sum(getattr(b, energy) for b in known) / hours if hours else None

    return PowerStats(
        import_avg_w=average("import_wh"),
        import_max_w=None if imp_w is None else float(imp_w),
        import_max_at=None if imp_at is None else _utc(imp_at),
        export_avg_w=average("export_wh"),
        export_max_w=None if exp_w is None else float(exp_w),
        export_max_at=None if exp_at is None else _utc(exp_at),
    )


# --- the month view from the stored rollups -----------------------------------------------------------------------


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def earliest_max(days: Sequence[DayEnergy], value: str) -> DayEnergy | None:
    """The day with the highest ``value``; the earliest of equal ones (days in order), as the series' ties."""
    best: DayEnergy | None = None
    for d in days:
        v = getattr(d, value)
        if v is not None and (best is None or v > getattr(best, value)):
            best = d
    return best


def _earliest_max(days: Sequence[DayEnergy], value: str, at: str) -> tuple[int | None, int | None]:
    """The highest ``value`` of the days and its time (epoch)."""
    best = earliest_max(days, value)
    return (None, None) if best is None else (getattr(best, value), _epoch(getattr(best, at)))


def _day_bucket(d: DayEnergy | None, b0: int, b1: int, running: bool, has_gas: bool, prices: Prices) -> Bucket:
    """One month-view bucket from its DayEnergy row: the figures ``_bucket`` computes from the readings."""
    slots = (b1 - b0) // SLOT_SECONDS
    if d is None:
        return Bucket(
            start=_utc(b0),
            end=_utc(b1),
            import_t1_wh=None,
            import_t2_wh=None,
            export_t1_wh=None,
            export_t2_wh=None,
            import_w=None,
            export_w=None,
            phase_w=(None, None, None),
            gas_l=None,
            import_cost_eur=None,
            export_credit_eur=None,
            gas_cost_eur=None,
            samples=0,
            slots=slots,
            estimated=False,
            gas_estimated=False,
            reset=False,
            so_far=False,
            so_far_until=None,
            source=None,
        )
    # A day without its end yet counts only while it runs, "so far"; a past one stays unknown.
    known = not d.partial or running
    i1, i2, e1, e2 = (v if known else None for v in (d.import_t1_wh, d.import_t2_wh, d.export_t1_wh, d.export_t2_wh))
    gas = (d.gas_l if not d.gas_partial or running else None) if has_gas else None
    imp, exp = _add(i1, i2), _add(e1, e2)
    so_far = imp is not None and d.partial and running
    until = _epoch(d.last_slot) if so_far else b1
    covered = (until or b1) - b0
    return Bucket(
        start=_utc(b0),
        end=_utc(b1),
        import_t1_wh=i1,
        import_t2_wh=i2,
        export_t1_wh=e1,
        export_t2_wh=e2,
        import_w=None if imp is None or not covered else imp * 3600 / covered,
        export_w=None if exp is None or not covered else exp * 3600 / covered,
        phase_w=(
            _mean_w(d.l1_kw_sum, d.l1_samples),
            _mean_w(d.l2_kw_sum, d.l2_samples),
            _mean_w(d.l3_kw_sum, d.l3_samples),
        ),
        gas_l=gas,
        import_cost_eur=_import_cost(i1, i2, prices),
        export_credit_eur=_kwh_cost(exp, prices.export_eur_kwh),
        gas_cost_eur=_kwh_cost(gas, prices.gas_eur_m3),
        samples=d.readings,
        slots=slots,
        estimated=d.start_estimated or d.end_estimated,
        gas_estimated=has_gas and (d.gas_start_estimated or d.gas_end_estimated),
        reset=d.reset or (has_gas and d.gas_reset),
        so_far=so_far,
        so_far_until=_utc(until) if so_far and until is not None else None,
        source=None if imp is None else "p1",
    )


def _month_from_rollups(meter: Meter, day: date, zone: ZoneInfo, bounds: list[int], prices: Prices) -> Series:
    """The month view from the meter's DayEnergy rows (one query) and the 11 months before from MonthEnergy."""
    first, after = window_days("month", day)
    start, end = bounds[0], bounds[-1]
    days = list(DayEnergy.objects.filter(meter=meter, day__gte=first, day__lt=after).order_by("day"))
    by_day = {d.day: d for d in days}
    now = int(dj_timezone.now().timestamp())
    running = bisect_right(bounds, now) - 1 if start <= now < end else None
    has_gas = any(d.has_gas for d in days)
    buckets = [
        _day_bucket(by_day.get(first + timedelta(days=k)), bounds[k], bounds[k + 1], k == running, has_gas, prices)
        for k in range(len(bounds) - 1)
    ]
    buckets = _with_fluvius(meter, buckets, zone, prices)
    buckets = _priced(meter, buckets, zone, prices, has_gas)
    readings = sum(d.readings for d in days)
    expected = _expected_readings(start, end, now)
    imp_w, imp_at = _earliest_max(days, "peak_import_w", "peak_import_at")
    exp_w, exp_at = _earliest_max(days, "peak_export_w", "peak_export_at")
    own_w, own_at = _earliest_max(days, "meter_peak_w", "meter_peak_at")
    capacity = month_peak(
        first, imp_w, None if imp_at is None else _utc(imp_at), own_w, None if own_at is None else _utc(own_at), prices
    )
    return Series(
        meter=meter,
        view="month",
        day=day,
        tz=zone.key,
        start=_utc(start).astimezone(zone),
        end=_utc(end).astimezone(zone),
        prev_day=step("month", day, -1),
        next_day=step("month", day, +1),
        buckets=tuple(buckets),
        totals=_totals(buckets, has_gas),
        power=_power_stats(buckets, imp_w, imp_at, exp_w, exp_at),
        completeness_pct=round(100 * readings / expected, 1) if expected else None,
        readings=readings,
        expected_readings=expected,
        has_gas=has_gas,
        phases=sum(1 for n in ("l1_samples", "l2_samples", "l3_samples") if any(getattr(d, n) for d in days)),
        capacity=capacity,
        capacity_year=_capacity_year(meter, capacity, zone, prices),
    )


# --- the year view: its months from the stored day rollups ------------------------------------------------------


def _year_from_rollups(meter: Meter, day: date, zone: ZoneInfo, bounds: list[int], prices: Prices) -> Series:
    """The year view from the stored day rollups: summed per month in SQL when the days' figures are the DayEnergy
    rows as they are (no contract prices them by the day, no imported volume fills one), else day by day."""
    first, after = window_days("year", day)
    volumes = FluviusInterval.objects.filter(
        meter_id=meter.pk, start__gte=_utc(bounds[0]), start__lt=_utc(bounds[-1])
    ).exclude(register=FluviusRegister.GAS)
    checks = Meter.objects.filter(pk=meter.pk).values_list(
        Exists(Contract.objects.filter(meter_id=meter.pk)),
        Exists(FluviusDay.objects.filter(meter_id=meter.pk, day__gte=first, day__lt=after)),
        Exists(volumes),
    )
    if any(checks.first() or ()):
        return _year_by_days(meter, day, zone, bounds, prices)
    return _year_in_sql(meter, day, zone, bounds, prices)


_ENERGIES = ENERGIES
_EMPTY_MONTH: dict[str, Any] = dict.fromkeys(_MONTH_SUMS, None) | {"known": 0, "known_dst": 0}  # a month without days


def _year_in_sql(meter: Meter, day: date, zone: ZoneInfo, bounds: list[int], prices: Prices) -> Series:
    """The year view with the finished days summed per month in the database (one GROUP BY) and the few unfinished
    ones (``partial``: the running day, a day whose gas has no end yet) added as ``_day_bucket`` makes them: the
    sums ``_year_by_days`` makes of the same rows (a test compares the two), without 365 day buckets in Python."""
    first, after = window_days("year", day)
    now = int(dj_timezone.now().timestamp())
    day_bounds = list(_midnights(zone.key, first, after))
    lengths = [b - a for a, b in pairwise(day_bounds)]
    dst_days = [first + timedelta(days=k) for k, n in enumerate(lengths) if n != 86400]
    rows = DayEnergy.objects.filter(meter=meter, day__gte=first, day__lt=after)
    groups = month_sums(meter.pk, first, after, dst_days)
    finished = {r["month"]: r for r in groups if not r["open"]}
    # The unfinished days' rows are fetched only when there are some (the running day, mostly).
    unfinished = (
        list(rows.filter(partial=True) | rows.filter(gas_partial=True)) if any(r["open"] for r in groups) else []
    )
    unfinished.sort(key=lambda d: d.day)
    has_gas = any(r["gas_days"] for r in finished.values()) or any(d.has_gas for d in unfinished)
    months: list[Bucket] = []
    known_hours = 0.0
    for m in range(12):
        lo, hi = bisect_left(day_bounds, bounds[m]), bisect_left(day_bounds, bounds[m + 1])
        r = finished.get(_add_months(first, m), _EMPTY_MONTH)
        own = [d for d in unfinished if lo <= (d.day - first).days < hi]
        extra = [
            _day_bucket(d, day_bounds[k], day_bounds[k + 1], day_bounds[k] <= now < day_bounds[k + 1], has_gas, prices)
            for d in own
            for k in [(d.day - first).days]
        ]
        # The finished known days' hours: 24 each, the DST day's 23 or 25 when it is one of them.
        dst_hours = sum(n / 3600 - 24 for n in lengths[lo:hi] if n != 86400)
        hours = r["known"] * 24 + r["known_dst"] * dst_hours + sum(b.hours for b in extra if b.import_wh is not None)
        over = sum(1 for k in range(lo, hi) if day_bounds[k + 1] <= now)
        months.append(_summed_month(r, own, extra, bounds[m], bounds[m + 1], hours, over, now, has_gas, prices))
        known_hours += hours
    readings = sum(b.samples for b in months)
    cards, month_rows = _capacity_months(meter, day, prices)
    return _year_series(
        meter,
        day,
        zone,
        bounds,
        prices,
        buckets=months,
        totals=_totals_of_months(months, has_gas, known_hours),
        power=_year_power(rows, months, known_hours, month_rows, [*finished.values()], unfinished),
        capacity_months=cards,
        readings=readings,
        has_gas=has_gas,
        phases=sum(
            1
            for n in (1, 2, 3)
            if any(r[f"sum_l{n}_samples"] for r in finished.values())
            or any(getattr(d, f"l{n}_samples") for d in unfinished)
        ),
    )


def _summed_month(
    r: dict[str, Any],
    rows: list[DayEnergy],
    extra: list[Bucket],
    b0: int,
    b1: int,
    hours: float,
    over: int,
    now: int,
    has_gas: bool,
    prices: Prices,
) -> Bucket:
    """A year-view month from the sums ``r`` of its finished days and the buckets of its unfinished ones (``rows``):
    the fields ``_month_bucket`` gives the same days' buckets."""
    known = [b for b in extra if b.import_wh is not None]
    mine = bool(r["known"])  # the finished days contribute

    def total(attr: str, sql: str) -> int | None:
        return _sum_or_none([r[sql] if mine else None, *(getattr(b, attr) for b in known)])

    i1, i2, e1, e2 = (total(a, f"sum_{a}") for a in _ENERGIES)
    imp, exp = _add(i1, i2), _add(e1, e2)
    gas = total("gas_l", "sum_gas") if has_gas else None
    running = next((b for b in known if b.so_far), None)

    def money(own: Decimal | None, attr: str) -> Decimal | None:
        return _money_or_none([own if mine else None, *(getattr(b, attr) for b in known)])

    def phase(n: int) -> float | None:
        kw_sum = (r[f"sum_l{n}_kw_sum"] or 0.0) + sum(getattr(d, f"l{n}_kw_sum") for d in rows)
        return _mean_w(kw_sum, (r[f"sum_l{n}_samples"] or 0) + sum(getattr(d, f"l{n}_samples") for d in rows))

    finished_exp = _add(r["sum_export_t1_wh"], r["sum_export_t2_wh"])
    n_known = r["known"] + len(known)
    return Bucket(
        start=_utc(b0),
        end=_utc(b1),
        import_t1_wh=i1,
        import_t2_wh=i2,
        export_t1_wh=e1,
        export_t2_wh=e2,
        import_w=None if imp is None or not hours else imp / hours,
        export_w=None if exp is None or not hours else exp / hours,
        phase_w=(phase(1), phase(2), phase(3)),
        gas_l=gas,
        import_cost_eur=money(_import_cost(r["sum_import_t1_wh"], r["sum_import_t2_wh"], prices), "import_cost_eur"),
        export_credit_eur=money(_kwh_cost(finished_exp, prices.export_eur_kwh), "export_credit_eur"),
        gas_cost_eur=money(_kwh_cost(r["sum_gas"], prices.gas_eur_m3), "gas_cost_eur") if has_gas else None,
        samples=(r["sum_readings"] or 0) + sum(b.samples for b in extra),
        slots=(b1 - b0) // SLOT_SECONDS,
        estimated=bool(r["estimated"]) or any(b.estimated for b in known),
        gas_estimated=has_gas and (bool(r["gas_estimated"]) or any(b.gas_estimated for b in known)),
        reset=bool(r["resets"] or (has_gas and r["gas_resets"])) or any(b.reset for b in extra),
        so_far=running is not None,
        so_far_until=None if running is None else running.so_far_until,
        source="p1" if n_known else None,
        missing_days=max(0, over - r["known"] - sum(1 for b in known if int(b.end.timestamp()) <= now))
        if n_known
        else 0,
    )


def _totals_of_months(months: list[Bucket], has_gas: bool, known_hours: float) -> Totals:
    """The year's totals: the sums of its months (of its known days), over the hours of its known days."""
    return replace(_totals(months, has_gas), known_hours=known_hours)


def _year_power(
    rows: QuerySet[DayEnergy],
    months: list[Bucket],
    known_hours: float,
    month_rows: list[dict[str, Any]],
    finished: list[dict[str, Any]],
    unfinished: list[DayEnergy],
) -> PowerStats:
    """Average power over the known days' hours; the maxima are the highest measured quarters of the year's days
    (the earliest of equal ones, as everywhere): for import the months' own (MonthEnergy, the earliest of their
    days'), for export one query for the day that has it."""
    imp_w = imp_at = None
    for r in month_rows:  # oldest first: ">" keeps the earliest of equal peaks
        if r["peak_w"] is not None and (imp_w is None or r["peak_w"] > imp_w):
            imp_w, imp_at = r["peak_w"], _epoch(r["peak_at"])
    peaks = [
        p for p in (*(r["peak_export"] for r in finished), *(d.peak_export_w for d in unfinished)) if p is not None
    ]
    exp_w = max(peaks) if peaks else None
    exp_at = None
    if exp_w is not None:
        exp_at = _epoch(
            rows.filter(peak_export_w=exp_w).order_by("day").values_list("peak_export_at", flat=True).first()
        )
    imports = sum(b.import_wh or 0 for b in months)
    exports = sum(b.export_wh or 0 for b in months)
    return PowerStats(
        import_avg_w=imports / known_hours if known_hours else None,
        import_max_w=None if imp_w is None else float(imp_w),
        import_max_at=None if imp_at is None else _utc(imp_at),
        export_avg_w=exports / known_hours if known_hours else None,
        export_max_w=None if exp_w is None else float(exp_w),
        export_max_at=None if exp_at is None else _utc(exp_at),
    )


def _year_series(
    meter: Meter,
    day: date,
    zone: ZoneInfo,
    bounds: list[int],
    prices: Prices,
    *,
    buckets: list[Bucket],
    totals: Totals,
    power: PowerStats,
    readings: int,
    has_gas: bool,
    phases: int,
    capacity_months: tuple[CapacityYear, ...],
) -> Series:
    start, end = bounds[0], bounds[-1]
    expected = _expected_readings(start, end, int(dj_timezone.now().timestamp()))
    return Series(
        meter=meter,
        view="year",
        day=day,
        tz=zone.key,
        start=_utc(start).astimezone(zone),
        end=_utc(end).astimezone(zone),
        prev_day=step("year", day, -1),
        next_day=step("year", day, +1),
        buckets=tuple(buckets),
        totals=totals,
        power=power,
        completeness_pct=round(100 * readings / expected, 1) if expected else None,
        readings=readings,
        expected_readings=expected,
        has_gas=has_gas,
        phases=phases,
        capacity=None,
        capacity_year=None,
        capacity_months=capacity_months,
    )


def _year_by_days(meter: Meter, day: date, zone: ZoneInfo, bounds: list[int], prices: Prices) -> Series:
    """The year view: every local day of the year as the month view builds it (DayEnergy, imported volumes, the
    contracts' prices), summed per month. So a month's bar is that month view's total and the year's totals are the
    sums of its days, to the Wh and the cent; the months' peaks and 12-month means come from MonthEnergy."""
    first, after = window_days("year", day)
    days = list(DayEnergy.objects.filter(meter=meter, day__gte=first, day__lt=after).order_by("day"))
    by_day = {d.day: d for d in days}
    now = int(dj_timezone.now().timestamp())
    has_gas = any(d.has_gas for d in days)
    day_bounds = list(_midnights(zone.key, first, after))
    day_buckets = [
        _day_bucket(
            by_day.get(first + timedelta(days=k)),
            day_bounds[k],
            day_bounds[k + 1],
            day_bounds[k] <= now < day_bounds[k + 1],
            has_gas,
            prices,
        )
        for k in range(len(day_bounds) - 1)
    ]
    day_buckets = _with_fluvius(meter, day_buckets, zone, prices)
    day_buckets = _priced(meter, day_buckets, zone, prices, has_gas)
    in_month = [[d for d in days if _add_months(first, m) <= d.day < _add_months(first, m + 1)] for m in range(12)]
    months = _months(day_buckets, day_bounds, bounds, now, has_gas, [_day_phases(ds) for ds in in_month])
    imp_w, imp_at = _earliest_max(days, "peak_import_w", "peak_import_at")
    exp_w, exp_at = _earliest_max(days, "peak_export_w", "peak_export_at")
    return _year_series(
        meter,
        day,
        zone,
        bounds,
        prices,
        buckets=months,
        totals=_totals(day_buckets, has_gas),
        power=_power_stats(day_buckets, imp_w, imp_at, exp_w, exp_at),
        readings=sum(d.readings for d in days),
        has_gas=has_gas,
        phases=sum(1 for n in ("l1_samples", "l2_samples", "l3_samples") if any(getattr(d, n) for d in days)),
        capacity_months=_capacity_months(meter, day, prices)[0],
    )


@lru_cache(maxsize=64)
def _midnights(zone: str, first: date, after: date) -> tuple[int, ...]:
    """The local midnights from ``first`` to ``after`` included (epochs): the boundaries of its days. Kept: a
    year's 366 conversions cost more than the rest of the view."""
    tz = ZoneInfo(zone)
    return tuple(
        int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
        for d in (first + timedelta(days=k) for k in range((after - first).days + 1))
    )


def _day_phases(days: Sequence[DayEnergy]) -> tuple[float | None, float | None, float | None]:
    """The mean per-phase load over the days' samples (what ``_samples`` gives a bucket from its readings)."""

    def phase(n: int) -> float | None:
        kw_sum = sum(getattr(d, f"l{n}_kw_sum") for d in days)
        return _mean_w(kw_sum, sum(getattr(d, f"l{n}_samples") for d in days))

    return (phase(1), phase(2), phase(3))


def _months(
    day_buckets: Sequence[Bucket],
    day_bounds: list[int],
    bounds: list[int],
    now: int,
    has_gas: bool,
    phases: Sequence[tuple[float | None, float | None, float | None]],
) -> list[Bucket]:
    """The year's month buckets from its day buckets (``bounds`` the 13 month boundaries, all local midnights)."""
    months = []
    for m in range(len(bounds) - 1):
        lo, hi = bisect_left(day_bounds, bounds[m]), bisect_left(day_bounds, bounds[m + 1])
        months.append(_month_bucket(day_buckets[lo:hi], bounds[m], bounds[m + 1], now, has_gas, phases[m]))
    return months


def _sum_or_none(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _money_or_none(values: Sequence[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def _month_bucket(
    days: Sequence[Bucket],
    b0: int,
    b1: int,
    now: int,
    has_gas: bool,
    phase_w: tuple[float | None, float | None, float | None],
) -> Bucket:
    """One year-view bucket: the sums of its days' buckets (the days without energy left out and counted)."""
    known = [b for b in days if b.import_wh is not None]
    i1, i2, e1, e2 = (_sum_or_none([getattr(b, a) for b in known]) for a in _ENERGIES)
    imp, exp = _add(i1, i2), _add(e1, e2)
    seconds = sum(b.hours for b in known) * 3600
    running = next((b for b in known if b.so_far), None)
    sources = {b.source for b in known}

    return Bucket(
        start=_utc(b0),
        end=_utc(b1),
        import_t1_wh=i1,
        import_t2_wh=i2,
        export_t1_wh=e1,
        export_t2_wh=e2,
        import_w=None if imp is None or not seconds else imp * 3600 / seconds,
        export_w=None if exp is None or not seconds else exp * 3600 / seconds,
        phase_w=phase_w,
        gas_l=_sum_or_none([b.gas_l for b in known]) if has_gas else None,
        import_cost_eur=_money_or_none([b.import_cost_eur for b in known]),
        export_credit_eur=_money_or_none([b.export_credit_eur for b in known]),
        gas_cost_eur=_money_or_none([b.gas_cost_eur for b in known]) if has_gas else None,
        samples=sum(b.samples for b in days),
        slots=sum(b.slots for b in days),
        estimated=any(b.estimated for b in known),
        gas_estimated=has_gas and any(b.gas_estimated for b in known),
        reset=any(b.reset for b in days),
        so_far=running is not None,
        so_far_until=None if running is None else running.so_far_until,
        source=None if not sources else sources.pop() if len(sources) == 1 else "mixed",
        # Known days around a gap are estimated across it; unknown ones lie before the first or after the latest
        # reading (or the Pi's first day): the month's sum leaves them out, and says how many.
        missing_days=sum(1 for b in days if b.import_wh is None and int(b.end.timestamp()) <= now) if known else 0,
    )


def _capacity_months(meter: Meter, day: date, prices: Prices) -> tuple[tuple[CapacityYear, ...], list[dict[str, Any]]]:
    """Each month of the year with its 12-month card: its peak (MonthEnergy, the one rule of ``capacity``; a Mijn
    Fluvius monthly peak where the Pi has none) and the mean of the billed peaks of it and the 11 months before it
    that have data. One query for the 23 months (two with imported peaks); also the year's MonthEnergy rows."""
    jan = date(day.year, 1, 1)
    firsts = [_add_months(jan, k) for k in range(-11, 12)]
    rows: dict[date, dict[str, Any]] = {
        r["month"]: dict(r)
        for r in MonthEnergy.objects.filter(meter=meter, month__gte=firsts[0], month__lte=firsts[-1]).values(
            "month", "peak_w", "peak_at", "meter_peak_w", "meter_peak_at"
        )
    }
    own = [rows[f]["peak_w"] if f in rows else None for f in firsts]
    peaks = with_fluvius_peaks(meter.pk, firsts, own)
    months = []
    for first, peak_w, own_w in zip(firsts, peaks, own, strict=True):
        row = rows.get(first, {})
        at = row.get("peak_at") if own_w is not None else None  # an imported peak comes without its time
        months.append(month_peak(first, peak_w, at, row.get("meter_peak_w"), row.get("meter_peak_at"), prices))
    cards = tuple(capacity_year_of(months[k : k + 12], prices) for k in range(12))
    return cards, [rows[f] for f in firsts[11:] if f in rows]
