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
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils import timezone as dj_timezone

from meters.billing.cost import Pricing, bucket_costs, effective_prices
from meters.models import Contract, DayEnergy, Meter
from meters.series.capacity import _capacity_year, _month_peak, _quarter_peak, month_peak
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
    _REGISTERS,
    _neighbour,
    _rows,
)
from meters.series.results import Bucket, PowerStats, Series, Totals, _add
from meters.series.windows import SLOT_SECONDS, _utc, _zone, boundaries, check_view, step, window_days

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
    if view == "month" and source == "rollups" and zone.key == _zone(None).key:
        return _month_from_rollups(meter, day, zone, bounds, prices)
    start, end = bounds[0], bounds[-1]

    rows = _rows(meter, start, end)
    edge_rows = _with_edge_neighbours(meter, rows, start, end)
    now = int(dj_timezone.now().timestamp())
    inside = [r for r in rows if r[_EP] < end]
    window = _window(edge_rows, inside, bounds, now)
    samples = _samples(inside, bounds)
    buckets = [_bucket(window, k, samples, prices) for k in range(len(bounds) - 1)]
    buckets = _with_fluvius(meter, buckets, zone)
    buckets = _priced(meter, buckets, zone, prices, window.has_gas)
    expected = _expected_readings(start, end, now)

    capacity = capacity_year = None
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
        totals=_totals(buckets, window.has_gas),
        power=_power(buckets, rows, start, end),
        completeness_pct=round(100 * len(inside) / expected, 1) if expected else None,
        readings=len(inside),
        expected_readings=expected,
        has_gas=window.has_gas,
        phases=samples.phases,
        capacity=capacity,
        capacity_year=capacity_year,
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


def _with_fluvius(meter: Meter, buckets: list[Bucket], zone: ZoneInfo) -> list[Bucket]:
    """The buckets with Mijn Fluvius volumes where the Pi's readings leave them unknown (issue 18, meters.fluvius)."""
    return buckets


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
    buckets = _with_fluvius(meter, buckets, zone)
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
