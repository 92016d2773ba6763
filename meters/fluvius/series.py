"""Mijn Fluvius volumes in the dashboards' buckets (docs/design.md, "Mijn Fluvius import", the fill rule).

The Pi's register deltas win wherever it has readings. A bucket is filled from Fluvius only when the Pi leaves it
unknown (no energy) or only interpolated across a gap without a single reading in it, and Fluvius covers all of it:
every quarter-hour of the bucket for all four electricity registers, or, for a bucket that is a local day, a day
total of each register. Such a bucket says ``source="fluvius"`` and is ``estimated`` when any of its volumes is
*Geschat*. At most two queries per series, none when no bucket needs filling.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils import timezone as dj_timezone

from meters.fluvius.reconcile import ELECTRICITY
from meters.models import FluviusDay, FluviusInterval, FluviusRegister, FluviusStatus, Meter
from meters.series.results import Bucket

if TYPE_CHECKING:
    from users.models import Prices

_SLOT = 900
_THOUSAND = Decimal(1000)
_FIELDS = {r: f"{r}_wh" for r in ELECTRICITY}


def needs_fluvius(bucket: Bucket, now: datetime) -> bool:
    """Whether the Pi leaves ``bucket`` to Fluvius: past, not running, and unknown or only interpolated over a gap."""
    if bucket.so_far or bucket.start >= now:
        return False
    unknown = any(getattr(bucket, f) is None for f in _FIELDS.values())
    return unknown or (bucket.samples == 0 and bucket.estimated)


def _cost(wh: int | None, price: Decimal) -> Decimal | None:
    return None if wh is None else Decimal(wh) * price / _THOUSAND


def _filled(
    bucket: Bucket, energies: dict[str, int], estimated: bool, gas_l: int | None, prices: Prices | None
) -> Bucket:
    seconds = (bucket.end - bucket.start).total_seconds()
    i1, i2 = energies[FluviusRegister.IMPORT_T1], energies[FluviusRegister.IMPORT_T2]
    e1, e2 = energies[FluviusRegister.EXPORT_T1], energies[FluviusRegister.EXPORT_T2]
    gas = bucket.gas_l if gas_l is None else gas_l
    return replace(
        bucket,
        import_t1_wh=i1,
        import_t2_wh=i2,
        export_t1_wh=e1,
        export_t2_wh=e2,
        import_w=(i1 + i2) * 3600 / seconds if seconds else None,
        export_w=(e1 + e2) * 3600 / seconds if seconds else None,
        # Without the owner's prices the costs stay unknown; meters with a contract are priced after this step.
        import_cost_eur=None
        if prices is None
        else (_cost(i1, prices.import_day_eur_kwh) or Decimal(0)) + (_cost(i2, prices.import_night_eur_kwh) or 0),
        export_credit_eur=None if prices is None else _cost(e1 + e2, prices.export_eur_kwh),
        gas_cost_eur=None if prices is None or gas is None else _cost(gas, prices.gas_eur_m3),
        gas_l=gas,
        gas_estimated=bucket.gas_estimated if gas_l is None else False,
        estimated=estimated,
        reset=False,
        so_far=False,
        so_far_until=None,
        source="fluvius",
    )


def _is_local_day(bucket: Bucket, zone: ZoneInfo) -> date | None:
    start, end = bucket.start.astimezone(zone), bucket.end.astimezone(zone)
    midnight = (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)
    return start.date() if midnight and (end.date() - start.date()).days == 1 else None


def _complete(found: dict[str, tuple[int, str, int]], slots: int) -> bool:
    """All four electricity registers have a whole day: a day totals file's (0) or all the day's quarters."""
    return all(r in found and found[r][2] in (0, slots) for r in ELECTRICITY)


def fill(
    meter: Meter, buckets: list[Bucket], zone: ZoneInfo, *, prices: Prices | None = None, now: datetime | None = None
) -> list[Bucket]:
    """``buckets`` with Fluvius' volumes where the Pi leaves them unknown (the rule above); the others unchanged.

    A bucket that is a local day (month and year views) is filled from the day rows (``FluviusDay``: a day totals
    file, or the sum of the day's quarters the import wrote), shorter ones from the quarter-hours: one query each.
    ``prices``: the owner's profile prices for the filled buckets' costs (None: unknown; meters with a contract are
    priced by the series' next step anyway).
    """
    now = now or dj_timezone.now()
    candidates = [k for k, b in enumerate(buckets) if needs_fluvius(b, now)]
    if not candidates:
        return buckets
    out = list(buckets)
    days = {day: k for k in candidates if (day := _is_local_day(buckets[k], zone)) is not None}
    short = [k for k in candidates if k not in days.values()]
    if days:
        totals: dict[date, dict[str, tuple[int, str, int]]] = {}
        for day, register, value, status, quarters in FluviusDay.objects.filter(
            meter=meter, day__in=list(days)
        ).values_list("day", "register", "value", "status", "quarters"):
            totals.setdefault(day, {})[register] = (value, status, quarters)
        for day, k in days.items():
            found = totals.get(day, {})
            if _complete(found, buckets[k].slots):
                energies: dict[str, int] = {str(r): found[r][0] for r in ELECTRICITY}
                gas_row = found.get(FluviusRegister.GAS)
                gas_whole = gas_row is not None and gas_row[2] in (0, buckets[k].slots // 4)
                est = any(v[1] == FluviusStatus.ESTIMATED for v in found.values())
                out[k] = _filled(buckets[k], energies, est, gas_row[0] if gas_whole and gas_row else None, prices)
    if short:
        out = _fill_from_intervals(meter, buckets, out, short, prices)
    return out


def _fill_from_intervals(
    meter: Meter, buckets: list[Bucket], out: list[Bucket], candidates: list[int], prices: Prices | None
) -> list[Bucket]:
    starts = [int(b.start.timestamp()) for b in buckets]
    wanted = set(candidates)
    sums: dict[int, dict[str, int]] = {}
    counts: dict[int, dict[str, int]] = {}
    estimated: dict[int, bool] = {}
    rows = FluviusInterval.objects.filter(
        meter=meter, start__gte=buckets[candidates[0]].start, start__lt=buckets[candidates[-1]].end
    ).values_list("start", "register", "value", "status")
    for start, register, value, status in rows.iterator(chunk_size=5000):
        k = bisect_right(starts, int(start.timestamp())) - 1
        if k not in wanted:
            continue
        per_sum = sums.setdefault(k, {})
        per_sum[register] = per_sum.get(register, 0) + value
        per = counts.setdefault(k, {})
        # Gas hours count four quarters each, so "complete" is the same test for both.
        per[register] = per.get(register, 0) + (4 if register == FluviusRegister.GAS else 1)
        estimated[k] = estimated.get(k, False) or status == FluviusStatus.ESTIMATED
    for k in candidates:
        b = buckets[k]
        got = counts.get(k, {})
        if all(got.get(r) == b.slots for r in ELECTRICITY):
            gas = sums[k].get(FluviusRegister.GAS) if got.get(FluviusRegister.GAS) == b.slots else None
            out[k] = _filled(b, sums[k], estimated.get(k, False), gas, prices)
    return out
