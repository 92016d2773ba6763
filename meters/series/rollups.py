"""Stored rollups: the series' numbers per quarter-hour, local day and month, computed once (docs/design.md,
"Stored rollups").

Readings are the source of truth; QuarterEnergy, DayEnergy and MonthEnergy (meters.models) hold what the series
rules of this package make of them, so the month view, the capacity card, the live peak guard, the bill and the BI
views read a few stored rows instead of every quarter-hour again.

* :func:`refresh` is called in the transaction that adds or removes readings (``meters.ingest``, admin deletes):
  a reading at slot t changes only what lies between its neighbours, the readings just before and after it, so
  the quarters in that span, the local days that touch it and their months are recomputed, nothing else.
* :func:`rebuild` recomputes a meter from its readings, a month at a time (``manage.py rebuild_rollups``); a test
  compares it with what ingest maintained.
* With retention (``settings.RETENTION_RAW_DAYS``, ``meters.retention``) neither writes anything before the
  cutoff: the readings of those days are gone or about to go, and the day totals and peaks stored from them are
  what remains. Both start at the cutoff, a local midnight whose reading is kept, so the first kept day is
  computed as before.

Every number comes from the functions the dashboards used before: ``build._continuous`` / ``build._at_bounds`` for
boundary values (interpolated to the Wh, so the days add up to the month exactly), ``capacity._quarter_peak`` and
``capacity.is_measured_quarter`` for peaks and measured quarters, ``capacity._meter_month_peak``'s rule for 1.6.0.
Days and months are local (``settings.TIME_ZONE``, the zone the dashboards bucket by).
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connections, router, transaction
from django.db.models import Case, Max, Min, QuerySet, Value, When
from django.utils import timezone

from meters import retention
from meters.bulk import delete_rows, insert_rows
from meters.models import DayEnergy, Meter, MonthEnergy, QuarterEnergy, Reading
from meters.series.build import (
    _PHASE_COLUMNS,
    _at_bounds,
    _continuous,
    _overlaps,
    _with_edge_neighbours,
    earliest_max,
)
from meters.series.capacity import _quarter_peak, is_measured_quarter
from meters.series.queries import (
    _E1,
    _E2,
    _EP,
    _GAS,
    _I1,
    _I2,
    _MPA,
    _MPK,
    _REGISTERS,
    Epoch,
    RangeQuery,
    _neighbour,
    _rows,
)
from meters.series.windows import SLOT_SECONDS, _add_months, _local_epoch, _utc, _zone

logger = logging.getLogger(__name__)

_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class RebuildReport:
    """What :func:`rebuild` wrote for one meter."""

    meter_id: int
    quarters: int
    days: int
    months: int


# --- the numbers of a span, from readings -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Register:
    """One register made continuous over the fetched rows (``build._continuous``)."""

    times: list[int]
    cont: list[int]
    drops: list[tuple[int, int]]

    def at(self, bounds: list[int]) -> tuple[list[int | None], list[bool]]:
        return _at_bounds(self.times, self.cont, bounds)


def _registers(rows: list[tuple], gas_rows: list[tuple]) -> dict[int, _Register]:
    registers = {col: _Register(*_continuous(rows, col)) for col in _REGISTERS}
    registers[_GAS] = _Register(*_continuous(gas_rows, _GAS))
    return registers


def _with_gas_neighbours(meter_id: int, rows: list[tuple], start: int, end: int, after: bool = True) -> list[tuple]:
    """``rows`` plus the nearest readings with gas outside [start, end]: gas may pause (a radio link lost) while
    electricity goes on, and the gas across that pause is interpolated between the gas readings around it."""
    # Only where the edge rows themselves have no gas: a gas reading at or beyond each edge is all interpolation needs.
    before = _neighbour(meter_id, start, before=True, gas=True) if rows and rows[0][_GAS] is None else None
    later = _neighbour(meter_id, end, before=False, gas=True) if after and rows and rows[-1][_GAS] is None else None
    extra = [r for r in (before, later) if r is not None]
    if not extra:
        return rows
    by_epoch = {r[_EP]: r for r in [*rows, *extra]}
    return [by_epoch[ep] for ep in sorted(by_epoch)]


def _quarter_rows(
    meter_id: int, regs: dict[int, _Register], rows: list[tuple], lo: int, hi: int, has_gas: bool
) -> list[list[Any]]:
    """QuarterEnergy rows for the slots lo <= slot < hi (epochs on the slot grid).

    Most quarters lie between two stored readings: their deltas are the registers' differences (a drop counts
    nothing and flags ``reset``), which is what the continuous track gives, without interpolating. Only quarters
    in a gap, or whose gas paused, take the interpolated track (``_at_bounds``).
    """
    bounds = list(range(lo, hi + 1, SLOT_SECONDS))
    if len(bounds) < 2:
        return []
    by_epoch = {r[_EP]: r for r in rows}
    tracks: dict[int, tuple[list[int | None], list[bool]]] = {}
    elec_drops: list[tuple[int, int]] = []

    def track(col: int) -> tuple[list[int | None], list[bool]]:
        nonlocal elec_drops
        if not tracks:
            tracks.update({c: reg.at(bounds) for c, reg in regs.items()})
            elec_drops = sorted({d for c in _REGISTERS for d in regs[c].drops})
        return tracks[col]

    out = []
    for k in range(len(bounds) - 1):
        b0, b1 = bounds[k], bounds[k + 1]
        r0, r1 = by_epoch.get(b0), by_epoch.get(b1)
        if r0 is not None and r1 is not None:
            deltas = [max(0, r1[c] - r0[c]) for c in _REGISTERS]
            reset = any(r1[c] < r0[c] for c in _REGISTERS)
            g0, g1 = r0[_GAS], r1[_GAS]
            if g0 is not None and g1 is not None:
                gas, gas_est, gas_reset = max(0, g1 - g0), False, g1 < g0
                out.append([meter_id, _utc(b0), *deltas, gas, False, reset, gas_est, gas_reset])
                continue
            if not has_gas:
                out.append([meter_id, _utc(b0), *deltas, None, False, reset, False, False])
                continue
        values = [track(c)[0] for c in _REGISTERS]
        if any(v[k] is None or v[k + 1] is None for v in values):
            continue
        gas_values, gas_flags = track(_GAS)
        ga, gb = gas_values[k], gas_values[k + 1]
        out.append(
            [
                meter_id,
                _utc(b0),
                *(v[k + 1] - v[k] for v in values),  # type: ignore[operator]  # None is excluded above
                None if ga is None or gb is None else gb - ga,
                any(track(c)[1][k] or track(c)[1][k + 1] for c in _REGISTERS),
                _overlaps(elec_drops, b0, b1),
                ga is not None and gb is not None and (gas_flags[k] or gas_flags[k + 1]),
                _overlaps(regs[_GAS].drops, b0, b1),
            ]
        )
    return out


_QUARTER_COLUMNS = (
    "meter_id",
    "slot",
    "import_t1_wh",
    "import_t2_wh",
    "export_t1_wh",
    "export_t2_wh",
    "gas_l",
    "estimated",
    "reset",
    "gas_estimated",
    "gas_reset",
)


def _energy(reg: _Register, values: list[int | None], b0: int, b1: int, k: int) -> tuple[int | None, bool]:
    """A day's delta of one register, and whether it is partial: with no end yet, the rise up to the latest reading
    inside the day (what the running day shows so far, as ``build._track`` does)."""
    start, end = values[k], values[k + 1]
    if start is None:
        return None, False
    if end is not None:
        return end - start, False
    if reg.times and b0 <= reg.times[-1] < b1:
        return reg.cont[-1] - start, True
    return None, False


def _day_row(
    meter_id: int, day: date, b0: int, b1: int, k: int, rows: list[tuple], regs: dict[int, _Register], at: dict
) -> list[Any] | None:
    """One DayEnergy row for the day [b0, b1) (index k of the day bounds); None for a day with nothing to say."""
    energies = [_energy(regs[col], at[col][0], b0, b1, k) for col in _REGISTERS]
    gas, gas_partial = _energy(regs[_GAS], at[_GAS][0], b0, b1, k)
    i0 = bisect_left(rows, b0, key=lambda r: r[_EP])
    i1 = bisect_right(rows, b1, key=lambda r: r[_EP])
    span = rows[i0:i1]  # the day's readings and the one at its end, for its last quarter
    inside = [r for r in span if r[_EP] < b1]
    if not inside and all(e is None for e, _ in energies):
        return None

    measured = [0, 0, 0, 0]
    measured_gas: int | None = None
    quarters = drops = 0
    for prev, row in pairwise(span):
        if row[_EP] - prev[_EP] != SLOT_SECONDS:
            continue
        if prev[_GAS] is not None and row[_GAS] is not None and row[_GAS] >= prev[_GAS]:
            measured_gas = (measured_gas or 0) + row[_GAS] - prev[_GAS]
        if is_measured_quarter(prev, row):
            quarters += 1
            for n, col in enumerate(_REGISTERS):
                measured[n] += row[col] - prev[col]
        else:
            drops += 1
    peak_w, peak_at = _quarter_peak(span, b0, b1, (_I1, _I2))
    export_w, export_at = _quarter_peak(span, b0, b1, (_E1, _E2))
    own = _own_peak(inside, day)
    phase_sum = [0.0, 0.0, 0.0]
    phase_n = [0, 0, 0]
    for row in inside:
        for p, (ci, ce) in enumerate(_PHASE_COLUMNS):
            if row[ci] is not None:
                # The series' rule (build._samples): a missing export line counts as 0.
                phase_sum[p] += row[ci] - (row[ce] or 0.0)
                phase_n[p] += 1
    elec_drops = sorted({d for col in _REGISTERS for d in regs[col].drops})
    return [
        meter_id,
        day,
        *(e for e, _ in energies),
        gas,
        any(p for _, p in energies),
        gas_partial,
        any(at[col][1][k] for col in _REGISTERS),
        any(at[col][1][k + 1] for col in _REGISTERS),
        at[_GAS][1][k],
        at[_GAS][1][k + 1],
        _overlaps(elec_drops, b0, b1),
        _overlaps(regs[_GAS].drops, b0, b1),
        any(r[_GAS] is not None for r in inside),
        len(inside),
        _utc(inside[0][_EP]) if inside else None,
        _utc(inside[-1][_EP]) if inside else None,
        quarters,
        drops,
        *measured,
        measured_gas,
        peak_w,
        None if peak_at is None else _utc(peak_at),
        export_w,
        None if export_at is None else _utc(export_at),
        None if own is None else own[_MPK],
        None if own is None or own[_MPA] is None else _utc(own[_MPA]),
        *phase_sum,
        *phase_n,
    ]


_DAY_COLUMNS = (
    "meter_id",
    "day",
    "import_t1_wh",
    "import_t2_wh",
    "export_t1_wh",
    "export_t2_wh",
    "gas_l",
    "partial",
    "gas_partial",
    "start_estimated",
    "end_estimated",
    "gas_start_estimated",
    "gas_end_estimated",
    "reset",
    "gas_reset",
    "has_gas",
    "readings",
    "first_slot",
    "last_slot",
    "quarters_measured",
    "register_drops",
    "measured_import_t1_wh",
    "measured_import_t2_wh",
    "measured_export_t1_wh",
    "measured_export_t2_wh",
    "measured_gas_l",
    "peak_import_w",
    "peak_import_at",
    "peak_export_w",
    "peak_export_at",
    "meter_peak_w",
    "meter_peak_at",
    "l1_kw_sum",
    "l2_kw_sum",
    "l3_kw_sum",
    "l1_samples",
    "l2_samples",
    "l3_samples",
)


def _own_peak(inside: list[tuple], day: date) -> tuple | None:
    """The day's reading with the highest 1-0:1.6.0 stamped in the day's month (capacity._meter_month_peak's rule:
    a value stamped before the month began is last month's); the earliest of equal ones."""
    zone = _zone(None)
    first = day.replace(day=1)
    start, end = _local_epoch(zone, first), _local_epoch(zone, _add_months(first, 1))
    best = None
    for r in inside:
        if r[_MPK] is not None and (r[_MPA] is None or start <= r[_MPA] < end):
            if best is None or r[_MPK] > best[_MPK]:
                best = r
    return best


def _days(zone: ZoneInfo, first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _local_day(zone: ZoneInfo, epoch: int) -> date:
    return _utc(epoch).astimezone(zone).date()


# --- writing ------------------------------------------------------------------------------------------------------


def _recompute(
    meter_id: int,
    lo: int,
    hi: int,
    using: str,
    has_gas: bool,
    nothing_after: bool = False,
    kept_from: int | None = None,
) -> tuple[int, int, list[date]]:
    """Quarters lo <= slot < hi and every local day touching [lo, hi]; returns (quarters, days, months touched).

    ``has_gas``: the meter has gas readings somewhere, so the gas track needs its own neighbours.
    ``nothing_after``: no reading after ``hi`` (the usual upload of the latest quarters): no need to look.
    ``kept_from``: the retention cutoff (a local midnight, epoch): no quarter, day or month before it is rewritten.
    """
    zone = _zone(None)
    if kept_from is not None:
        if hi < kept_from:
            return 0, 0, []
        lo = max(lo, kept_from)
    days = _days(zone, _local_day(zone, lo - 1), _local_day(zone, hi))
    if kept_from is not None:
        # lo - 1 reaches back into the day that ends at the cutoff: its stored row stays as it is.
        days = [d for d in days if d >= _local_day(zone, kept_from)]
    bounds = [_local_epoch(zone, d) for d in days] + [_local_epoch(zone, days[-1] + timedelta(days=1))]
    start, end = bounds[0], bounds[-1]
    rows = _rows(meter_id, start, end)
    edge_rows = _with_edge_neighbours(meter_id, rows, start, end, after=not nothing_after)
    gas_rows = _with_gas_neighbours(meter_id, edge_rows, start, end, not nothing_after) if has_gas else edge_rows
    regs = _registers(edge_rows, gas_rows)

    quarters = _quarter_rows(meter_id, regs, rows, lo, hi, has_gas)
    at = {col: reg.at(bounds) for col, reg in regs.items()}
    day_rows = [
        row
        for k, day in enumerate(days)
        if (row := _day_row(meter_id, day, bounds[k], bounds[k + 1], k, rows, regs, at)) is not None
    ]
    connection = connections[using]
    delete_rows(connection, QuarterEnergy, meter_id, "slot", _utc(lo), _utc(hi))
    delete_rows(connection, DayEnergy, meter_id, "day", days[0], days[-1] + timedelta(days=1))
    insert_rows(connection, QuarterEnergy, _QUARTER_COLUMNS, quarters)
    insert_rows(connection, DayEnergy, _DAY_COLUMNS, day_rows)
    months = sorted({d.replace(day=1) for d in days})
    return len(quarters), len(day_rows), months


_MONTH_INPUTS = (
    "day",
    "import_t1_wh",
    "import_t2_wh",
    "export_t1_wh",
    "export_t2_wh",
    "gas_l",
    "partial",
    "start_estimated",
    "end_estimated",
    "reset",
    "has_gas",
    "readings",
    "quarters_measured",
    "peak_import_w",
    "peak_import_at",
    "meter_peak_w",
    "meter_peak_at",
)


def _month_row(meter_id: int, month: date, days: list[Any]) -> list[Any] | None:
    if not days:
        return None
    first = days[0]
    starts_known = first.day == month and first.import_t1_wh is not None

    def total(attr: str) -> int | None:
        if not starts_known:
            return None
        known = [v for d in days if (v := getattr(d, attr)) is not None]
        return sum(known) if known else None

    gas_known = first.day == month and first.gas_l is not None
    gas = sum(d.gas_l for d in days if d.gas_l is not None) if gas_known else None
    peak = earliest_max(days, "peak_import_w")
    own = earliest_max(days, "meter_peak_w")
    return [
        meter_id,
        month,
        *(total(a) for a in ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")),
        gas,
        any(d.partial for d in days),
        first.start_estimated or days[-1].end_estimated,
        any(d.reset for d in days),
        any(d.has_gas for d in days),
        len(days),
        sum(d.readings for d in days),
        sum(d.quarters_measured for d in days),
        None if peak is None else peak.peak_import_w,
        None if peak is None else peak.peak_import_at,
        None if own is None else own.meter_peak_w,
        None if own is None else own.meter_peak_at,
    ]


_MONTH_COLUMNS = (
    "meter_id",
    "month",
    "import_t1_wh",
    "import_t2_wh",
    "export_t1_wh",
    "export_t2_wh",
    "gas_l",
    "partial",
    "estimated",
    "reset",
    "has_gas",
    "days",
    "readings",
    "quarters_measured",
    "peak_w",
    "peak_at",
    "meter_peak_w",
    "meter_peak_at",
)


def _write_months(meter_id: int, months: Iterable[date], using: str) -> int:
    months = sorted(set(months))
    if not months:
        return 0
    by_month: dict[date, list[Any]] = {m: [] for m in months}
    days = DayEnergy.objects.using(using).filter(
        meter_id=meter_id, day__gte=months[0], day__lt=_add_months(months[-1], 1)
    )
    # Named tuples of the fields a month needs: building 31 model instances of 40 fields each costs more.
    for d in days.order_by("day").values_list(*_MONTH_INPUTS, named=True):
        first = d.day.replace(day=1)
        if first in by_month:
            by_month[first].append(d)
    rows = [row for m in months if (row := _month_row(meter_id, m, by_month[m])) is not None]
    delete_rows(connections[using], MonthEnergy, meter_id, "month", months[0], _add_months(months[-1], 1), only=months)
    insert_rows(connections[using], MonthEnergy, _MONTH_COLUMNS, rows)
    return len(rows)


_EPOCHS = RangeQuery(
    lambda meter_id, start, end: (
        Reading.objects.filter(meter_id=meter_id, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .annotate(ep=Epoch("timestamp"), gas=Case(When(gas_m3__isnull=True, then=Value(0)), default=Value(1)))
        .values_list("ep", "gas")
    )
)


def _epochs(meter_id: int, start: int, end: int, using: str) -> tuple[list[int], list[int]]:
    """The slots of the meter's readings in [start, end], and those of the ones with gas."""
    found = _EPOCHS.fetch(meter_id, start, end, using)
    return [ep for ep, _ in found], [ep for ep, gas in found if gas]


def _neighbour_query(before: bool, gas: bool) -> RangeQuery:
    def build(meter_id: int, start: datetime, end: datetime) -> QuerySet[Any]:
        qs = Reading.objects.filter(meter_id=meter_id, timestamp__gt=start, timestamp__lt=end)
        if gas:
            qs = qs.filter(gas_m3__isnull=False)
        return (
            qs.order_by("-timestamp" if before else "timestamp").annotate(ep=Epoch("timestamp")).values_list("ep")[:1]
        )

    return RangeQuery(build)


_NEIGHBOURS = {(before, gas): _neighbour_query(before, gas) for before in (True, False) for gas in (True, False)}
_FAR = 200 * 366 * _DAY_SECONDS  # beyond any reading: the open end of a neighbour search


def _neighbour_epoch(meter_id: int, epoch: int, before: bool, using: str, *, gas: bool = False) -> int | None:
    """The slot of the nearest reading strictly before / after ``epoch`` (with gas, if asked)."""
    start, end = (epoch - _FAR, epoch) if before else (epoch, epoch + _FAR)
    found = _NEIGHBOURS[(before, gas)].fetch(meter_id, start, end, using)
    return found[0][0] if found else None


def _around(epochs: list[int], t: int) -> tuple[int, int]:
    """The nearest slots strictly before and after t (t itself where there is none)."""
    i = bisect_left(epochs, t)
    j = bisect_right(epochs, t)
    return epochs[i - 1] if i > 0 else t, epochs[j] if j < len(epochs) else t


def _spans(changed: list[int], epochs: list[int], gas_epochs: list[int]) -> list[tuple[int, int]]:
    """The spans [previous reading, next reading] around each changed slot (wider where the gas readings around it
    are further away), merged where their days meet."""
    spans: list[tuple[int, int]] = []
    for t in changed:
        lo, hi = _around(epochs, t)
        if gas_epochs:
            gas_lo, gas_hi = _around(gas_epochs, t)
            lo, hi = min(lo, gas_lo), max(hi, gas_hi)
        if spans and lo <= spans[-1][1] + 2 * _DAY_SECONDS:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def refresh(meter_id: int, slots: Iterable[datetime], *, using: str | None = None) -> None:
    """Readings of ``meter_id`` at ``slots`` were stored or removed: recompute what they touch.

    Runs inside the caller's transaction. It first locks the meter's row, so two uploads of one meter recompute
    one after the other and the second sees the first's readings (a day computed without them would be lost).
    """
    changed = sorted({int(s.timestamp()) for s in slots})
    if not changed:
        return
    using = using or router.db_for_write(Reading)
    with transaction.atomic(using=using):
        list(Meter.objects.using(using).select_for_update().filter(pk=meter_id).values_list("pk"))
        first, last = changed[0], changed[-1]
        # One read of the slots around the change usually holds every neighbour needed; look further only if not.
        epochs, gas_epochs = _epochs(meter_id, first - _PROBE_SECONDS, last + _PROBE_SECONDS, using)
        before = _below(epochs, first) or _neighbour_epoch(meter_id, first, True, using)
        after = _above(epochs, last) or _neighbour_epoch(meter_id, last, False, using)
        has_gas = bool(gas_epochs) or MonthEnergy.objects.using(using).filter(meter_id=meter_id, has_gas=True).exists()
        lo, hi = before or first, after or last
        if has_gas:
            gas_before = _below(gas_epochs, first) or _neighbour_epoch(meter_id, first, True, using, gas=True)
            gas_after = (
                (_above(gas_epochs, last) or _neighbour_epoch(meter_id, last, False, using, gas=True))
                if after
                else None
            )
            lo, hi = min(lo, gas_before or lo), max(hi, gas_after or hi)
        if lo < first - _PROBE_SECONDS or hi > last + _PROBE_SECONDS:
            epochs, gas_epochs = _epochs(meter_id, lo, hi, using)
        months: set[date] = set()
        kept_from = _kept_from()
        for span_lo, span_hi in _spans(changed, epochs, gas_epochs):
            _, _, touched = _recompute(
                meter_id,
                span_lo,
                span_hi,
                using,
                has_gas,
                nothing_after=after is None and span_hi >= last,
                kept_from=kept_from,
            )
            months.update(touched)
        _write_months(meter_id, months, using)


def _kept_from() -> int | None:
    """The retention cutoff as an epoch (``meters.retention.cutoff``), None when raw data is kept forever."""
    cut = retention.cutoff(timezone.now())
    return None if cut is None else int(cut.timestamp())


_PROBE_SECONDS = 2 * _DAY_SECONDS


def _below(epochs: list[int], t: int) -> int | None:
    i = bisect_left(epochs, t)
    return epochs[i - 1] if i > 0 else None


def _above(epochs: list[int], t: int) -> int | None:
    j = bisect_right(epochs, t)
    return epochs[j] if j < len(epochs) else None


def rebuild(
    meter_id: int, *, using: str | None = None, progress: Callable[[date], None] | None = None
) -> RebuildReport:
    """Recompute every rollup of one meter from its readings, a local month per transaction.

    ``progress`` is called with each month done. Rows outside the readings' range are removed.

    With retention on (``settings.RETENTION_RAW_DAYS``) only what lies from the cutoff on is recomputed: the
    quarters, days and months before it are kept as stored, since their readings are gone (or go at the next
    ``apply_retention``) and a rebuild from what is left would blank or distort exact day totals and peaks. The
    cutoff's month is rewritten from its day rows, the kept ones included. Set ``RETENTION_RAW_DAYS`` empty to
    rebuild everything, e.g. after restoring old readings from a backup.
    """
    using = using or router.db_for_write(Reading)
    zone = _zone(None)
    kept_from = _kept_from()
    span = Reading.objects.using(using).filter(meter_id=meter_id).aggregate(lo=Min("timestamp"), hi=Max("timestamp"))
    first_kept = None if kept_from is None else _local_day(zone, kept_from)
    with transaction.atomic(using=using):
        if kept_from is None or first_kept is None:
            for model in (QuarterEnergy, DayEnergy, MonthEnergy):
                model.objects.using(using).filter(meter_id=meter_id).delete()
        else:
            QuarterEnergy.objects.using(using).filter(meter_id=meter_id, slot__gte=_utc(kept_from)).delete()
            DayEnergy.objects.using(using).filter(meter_id=meter_id, day__gte=first_kept).delete()
            MonthEnergy.objects.using(using).filter(meter_id=meter_id, month__gt=first_kept.replace(day=1)).delete()
    if span["lo"] is not None:
        lo, hi = int(span["lo"].timestamp()), int(span["hi"].timestamp())
        if kept_from is not None:
            lo = max(lo, kept_from)  # the readings left before the cutoff are only its neighbours (meters.retention)
        # Refresh's rule: gas kept in the months before the cutoff counts too (its gas readings may be gone).
        has_gas = (
            Reading.objects.using(using).filter(meter_id=meter_id, gas_m3__isnull=False).exists()
            or MonthEnergy.objects.using(using).filter(meter_id=meter_id, has_gas=True).exists()
        )
        month = _local_day(zone, lo).replace(day=1)
        last = _local_day(zone, hi).replace(day=1)
        while lo <= hi and month <= last:
            m0 = max(lo, _local_epoch(zone, month))
            m1 = min(hi, _local_epoch(zone, _add_months(month, 1)))
            earlier = _add_months(month, -1)
            with transaction.atomic(using=using):
                # Days are recomputed whole on both sides of a month edge; the later month rewrites the shared one.
                _recompute(meter_id, m0, m1, using, has_gas, kept_from=kept_from)
                months = [m for m in (month, earlier) if first_kept is None or m >= first_kept.replace(day=1)]
                _write_months(meter_id, months, using)
            if progress is not None:
                progress(month)
            month = _add_months(month, 1)
    if first_kept is not None:
        with transaction.atomic(using=using):
            # The cutoff's month from its day rows, also when no reading is left from the cutoff on.
            _write_months(meter_id, [first_kept.replace(day=1)], using)
    counts = [m.objects.using(using).filter(meter_id=meter_id).count() for m in (QuarterEnergy, DayEnergy, MonthEnergy)]
    return RebuildReport(meter_id, *counts)


def snapshot(meter_id: int, *, using: str | None = None) -> dict[str, list[tuple]]:
    """Every rollup row of one meter, all columns, in key order: to compare what is stored with a rebuild."""
    using = using or router.db_for_read(Reading)
    out = {}
    for model in (QuarterEnergy, DayEnergy, MonthEnergy):
        names = [f.attname for f in model._meta.concrete_fields]
        rows = model.objects.using(using).filter(meter_id=meter_id).order_by(names[1]).values_list(*names)
        out[model.__name__] = list(rows)
    return out


def delete_readings(readings: QuerySet[Reading]) -> int:
    """Delete ``readings`` and recompute what they contributed to, in one transaction; the number deleted.

    The one way to remove single readings (admin); deleting a meter removes its rollups with it (CASCADE).
    """
    using = readings.db
    with transaction.atomic(using=using):
        slots: dict[int, list[datetime]] = {}
        for meter_id, slot in readings.values_list("meter_id", "timestamp"):
            slots.setdefault(meter_id, []).append(slot)
        deleted, _ = readings.delete()
        for meter_id in sorted(slots):
            refresh(meter_id, slots[meter_id], using=using)
    return deleted
