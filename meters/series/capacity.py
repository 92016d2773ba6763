"""The one capacity peak rule (docs/design.md, "Series and numbers"; docs/architecture.md, "One rule per number").

* A quarter-hour is *measured* when readings exist at both of its boundaries and none of the four electricity
  registers goes down between them (:func:`is_measured_quarter`). Maxima and the capacity peak use measured
  quarters only; the BI views and ``queries._month_peaks_sql`` apply the same comparisons in SQL.
* The capacity peak of a month is its highest measured quarter-hour average import power (a quarter belongs to the
  month of its start, local time); the bill counts at least :func:`capacity_minimum_kw`
  (``settings.CAPACITY_MINIMUM_KW``, read here and nowhere else, also for the BI view ``bi_month_peak``).
* The meter's own month peak (1-0:1.6.0) is shown beside ours and flagged when they differ by more than 2 %.
* The 12-month card is the mean of the billed peaks of the shown month and the 11 before it that have data; past
  months' peaks are computed in the database and cached per (meter, month, number of readings in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache

from meters.models import FluviusPeak, Meter, MonthEnergy
from meters.series.queries import (
    _EP,
    _I1,
    _I2,
    _MPA,
    _MPK,
    _REGISTERS,
    _month_peaks_sql,
    _month_reading_counts,
)
from meters.series.windows import SLOT_SECONDS, _add_months, _local_epoch, _utc

if TYPE_CHECKING:
    from users.models import Prices

PEAK_MISMATCH_RATIO = Decimal("0.02")
_NO_PEAK = -1  # cached "month has readings but no complete quarter-hour"
_PEAK_CACHE_SECONDS = 7 * 24 * 3600
_THOUSAND = Decimal(1000)


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


def capacity_minimum_kw() -> Decimal:
    """The least a month's capacity peak is billed at (Flemish tariff, fixed by law): settings.CAPACITY_MINIMUM_KW."""
    return settings.CAPACITY_MINIMUM_KW


def quarter_deltas_wh(
    seconds: int, start_wh: Sequence[int | None], end_wh: Sequence[int | None]
) -> tuple[int, ...] | None:
    """The one rule for a measured quarter-hour, on plain values: the four register deltas (Wh) from the reading at
    its start to the reading ``seconds`` later, or None when the quarter is not measured.

    Measured = consecutive slots (900 s apart) and none of 1.8.1 / 1.8.2 / 2.8.1 / 2.8.2 goes down: a drop in any
    of them means the meter was reset or replaced between the two readings, so no delta of that quarter is trusted.
    The series (:func:`is_measured_quarter`), the CSV export (``meters.exports``) and, in SQL, the BI view
    ``bi_quarter_hour`` and ``queries._month_peaks_sql`` apply it.
    """
    if seconds != SLOT_SECONDS:
        return None
    deltas = []
    for start, end in zip(start_wh, end_wh, strict=True):
        if start is None or end is None or end < start:
            return None
        deltas.append(end - start)
    return tuple(deltas)


def is_measured_quarter(prev: tuple, row: tuple) -> bool:
    """:func:`quarter_deltas_wh` for two series rows (``queries`` columns), inlined: it runs for every row of a
    month when its peak is computed."""
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
    """What the capacity tariff counts for a month: the peak in kW, at least the minimum; None without data."""
    if peak_w is None:
        return None
    return max(Decimal(peak_w) / _THOUSAND, capacity_minimum_kw())


def billed_mean_kw(peaks_w: Sequence[int | None]) -> Decimal:
    """The capacity charge's 12-month mean, the bill's rule: the mean over all ``peaks_w`` (the billed month and the
    11 before it) of each month's peak, at least the minimum, a month without data counting as the minimum.

    The 12-month card (:class:`CapacityYear`) averages only the months with data: what was measured, not billed.
    """
    minimum = capacity_minimum_kw()
    billed = [minimum if w is None else max(Decimal(w) / _THOUSAND, minimum) for w in peaks_w]
    return sum(billed, Decimal(0)) / len(billed) if billed else minimum


def stored_peaks(meter_id: int, firsts: Sequence[date]) -> list[int | None]:
    """Peaks (W) of the months starting on ``firsts`` from MonthEnergy (meters/series/rollups.py); None without data."""
    stored = dict(
        MonthEnergy.objects.filter(meter_id=meter_id, month__gte=min(firsts), month__lte=max(firsts)).values_list(
            "month", "peak_w"
        )
    )
    return with_fluvius_peaks(meter_id, firsts, [stored.get(first) for first in firsts])


def with_fluvius_peaks(meter_id: int, firsts: Sequence[date], peaks: list[int | None]) -> list[int | None]:
    """``peaks`` with each month the Pi has no peak for taken from a Mijn Fluvius monthly peaks file (its
    Piekvermogen, meters.fluvius): the 12-month mean then covers the history from before the Pi. One query, and
    none when every month has its own peak."""
    missing = [first for first, peak in zip(firsts, peaks, strict=True) if peak is None]
    if not missing:
        return peaks
    imported = dict(FluviusPeak.objects.filter(meter_id=meter_id, month__in=missing).values_list("month", "peak_w"))
    return [imported.get(first) if peak is None else peak for first, peak in zip(firsts, peaks, strict=True)]


def _month_cost(billed_kw: Decimal | None, prices: Prices) -> Decimal | None:
    return None if billed_kw is None else billed_kw * prices.capacity_eur_kw_year / 12


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


def _month_peak(meter: Meter, month: date, rows: list[tuple], start: int, end: int, prices: Prices) -> MonthPeak:
    """The shown month's peak from the window's rows, beside the meter's own 1.6.0 month peak."""
    peak_w, peak_at = _quarter_peak(rows, start, end)
    own = _meter_month_peak(rows, start, end)
    return month_peak(
        month,
        peak_w,
        None if peak_at is None else _utc(peak_at),
        own[_MPK] if own else None,
        _utc(own[_MPA]) if own and own[_MPA] is not None else None,
        prices,
    )


def month_peak(
    month: date,
    peak_w: int | None,
    peak_at: datetime | None,
    meter_w: int | None,
    meter_at: datetime | None,
    prices: Prices,
) -> MonthPeak:
    """A month's capacity figures from its peak (W) and the meter's own 1.6.0: mismatch, billed kW and cost."""
    mismatch = bool(
        peak_w is not None
        and meter_w is not None
        and abs(Decimal(peak_w - meter_w)) > PEAK_MISMATCH_RATIO * max(peak_w, meter_w)
    )
    billed = _billed(peak_w)
    return MonthPeak(
        month=month,
        peak_w=peak_w,
        peak_at=peak_at,
        meter_peak_w=meter_w,
        meter_peak_at=meter_at,
        mismatch=mismatch,
        billed_kw=billed,
        cost_eur=_month_cost(billed, prices),
    )


def _capacity_year(
    meter: Meter, current: MonthPeak, zone: ZoneInfo, prices: Prices, *, stored: bool = True
) -> CapacityYear:
    """The current month's peak plus the 11 months before it: from the stored month rollups (one query), or with
    ``stored=False`` computed from the readings (the reference path, see ``build_series``'s ``source``)."""
    firsts = [_add_months(current.month, -i) for i in range(11, 0, -1)]
    if stored:
        peaks = stored_peaks(meter.pk, firsts)
    else:
        edges = [_local_epoch(zone, d) for d in [*firsts, current.month]]
        peaks = _previous_peaks(meter, firsts, edges, zone)
    months = [month_peak(first, peak_w, None, None, None, prices) for first, peak_w in zip(firsts, peaks, strict=True)]
    return capacity_year_of([*months, current], prices)


def capacity_year_of(months: Sequence[MonthPeak], prices: Prices) -> CapacityYear:
    """The 12-month card of the last of ``months`` (oldest first: it and the 11 before it)."""
    billed_kws = [m.billed_kw for m in months if m.billed_kw is not None]
    mean = sum(billed_kws, Decimal(0)) / len(billed_kws) if billed_kws else None
    return CapacityYear(
        months=tuple(months),
        months_with_data=len(billed_kws),
        mean_kw=mean,
        yearly_cost_eur=None if mean is None else mean * prices.capacity_eur_kw_year,
    )


def _previous_peaks(meter: Meter, firsts: list[date], edges: list[int], zone: ZoneInfo) -> list[int | None]:
    """Peaks of past months, cached per (meter, month, number of readings in it).

    A month's peak only changes when readings are added to it (ingest never rewrites a stored reading), so the
    reading count is the cache key's version: a late upload from a device that was offline changes the count and
    the month is recomputed. Counting is an index-only range scan, far cheaper than the window query.
    """
    peaks: list[int | None] = [None] * len(firsts)
    counts = _month_reading_counts(meter, edges)
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
    return with_fluvius_peaks(meter.pk, firsts, peaks)


def month_peak_so_far(meter: Meter, month: date, zone: ZoneInfo) -> tuple[int | None, datetime | None]:
    """The month's peak from its stored quarters (W) and the start of that quarter (UTC), for the live peak guard.

    Asked every few seconds while a Now page is open: one row of the month rollup (meters/series/rollups.py),
    which ingest keeps up to date with every reading.
    """
    found = MonthEnergy.objects.filter(meter=meter, month=month).values_list("peak_w", "peak_at").first()
    return (None, None) if found is None else found
