"""Live power: the latest snapshot per meter, and the peak guard that warns before a quarter-hour becomes a new
capacity peak (docs/design.md, "Live power and the peak guard").

A Pi posts a snapshot every few seconds (``p1edge.wire.LIVE_FIELDS``). It is checked by ingest's field rules and
kept in the shared cache (database cache by default, Redis with ``REDIS_URL``), never in the Reading table: it is
what the meter says *now*, replaced by the next one, and worth nothing an hour later.

The peak guard (``peak_guard``) works on plain numbers:

* the running quarter's average so far is the meter's 1-0:1.4.0; for a meter that sends none, the import
  registers of the snapshot minus those of the stored reading at the quarter's start;
* the projection assumes the current import power holds until the quarter ends;
* this month's peak is the higher of the stored quarters' peak (``meters.series.capacity``, the one rule) and the
  meter's own 1-0:1.6.0 stamped in the month;
* a month peak higher by D kW raises the 12-month mean by D/12 for twelve months: about D x the yearly capacity
  price / 12 in all. Below the billed minimum (2.5 kW) nothing extra is billed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from p1edge import wire

from meters import access
from meters.billing.cost import effective_prices
from meters.claims import InvalidSerial, normalise_serial
from meters.ingest import IngestError, IngestRejected, check_fields
from meters.models import Meter, Reading
from meters.series.capacity import capacity_minimum_kw, month_peak_so_far
from meters.series.windows import SLOT_SECONDS
from users.models import Prices

logger = logging.getLogger(__name__)

_KW = Decimal("0.001")
_EUR = Decimal("0.01")
_ZERO = Decimal(0)
_QUARTER = Decimal(SLOT_SECONDS)
# Below this many seconds into a quarter, a register delta of 1 Wh (the registers' resolution) would already read
# as 0.4 kW: too coarse to call an average.
_MIN_REGISTER_SECONDS = 30


class UnknownMeter(Exception):
    """The snapshot's serial is no meter the sender may write (yet): the first quarter-hour upload registers it."""


class TooSoon(Exception):
    """A snapshot for this meter arrived sooner than ``settings.LIVE_MIN_INTERVAL`` after the previous one."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"one snapshot per meter every {settings.LIVE_MIN_INTERVAL} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Snapshot:
    """What the meter said at ``measured_at`` (UTC), as the server received it at ``received_at``."""

    meter_id: int
    serial: str
    measured_at: datetime
    received_at: datetime
    values: Mapping[str, Any]  # LIVE_FIELDS without serial and measured_at: Decimal, int, datetime or None

    def kw(self, name: str) -> Decimal | None:
        value = self.values.get(name)
        return value if isinstance(value, Decimal) else None


@dataclass(frozen=True)
class PeakGuard:
    """The running quarter-hour against this month's capacity peak. Powers in kW, money in EUR."""

    quarter_start: datetime  # UTC
    quarter_end: datetime
    elapsed_seconds: int
    remaining_seconds: int
    current_import_kw: Decimal
    so_far_kw: Decimal | None  # the quarter's average import power so far
    so_far_source: str | None  # "meter" (1-0:1.4.0), "registers" or None (unknown: projection = current power)
    projected_kw: Decimal  # the quarter's average if the current power holds until its end
    month_peak_kw: Decimal | None  # this month's peak so far
    month_peak_at: datetime | None
    month_peak_source: str | None  # "quarters" (stored readings) or "meter" (its 1-0:1.6.0)
    minimum_kw: Decimal  # the billed minimum (2.5 kW)
    threshold_kw: Decimal  # the higher of the month peak and the minimum: above it a quarter costs money
    headroom_kw: Decimal  # threshold - projected (negative: heading over)
    allowed_power_kw: Decimal | None  # the import power that ends the quarter exactly at the threshold
    exceeds: bool
    exceed_kw: Decimal  # projected - threshold, at least 0
    capacity_eur_kw_year: Decimal
    cost_per_kw_eur: Decimal  # what each kW above the threshold costs over the next twelve months
    extra_cost_eur: Decimal  # exceed_kw x cost_per_kw_eur


@dataclass(frozen=True)
class LiveStatus:
    """Everything the Now page and ``GET /api/v1/meters/<code>/live`` show."""

    meter: Meter
    now: datetime
    snapshot: Snapshot | None
    age_seconds: int | None
    stale: bool  # no snapshot, or one older than settings.LIVE_STALE_SECONDS
    last_reading_at: datetime | None  # the slot of the latest stored quarter-hour reading
    last_seen_at: datetime | None  # the later of the snapshot's reception and the latest reading's slot
    guard: PeakGuard | None


def _key(meter_id: int) -> str:
    return f"live:{meter_id}"


def _q(value: Decimal, step: Decimal = _KW) -> Decimal:
    return value.quantize(step, ROUND_HALF_UP)


# --- receiving ---------------------------------------------------------------------------------------------------


def parse_snapshot(data: Any, now: datetime) -> tuple[str, dict[str, Any]]:
    """The serial and checked values of a posted snapshot; ``IngestRejected`` lists every bad field (index 0).

    The fields and their rules are ingest's (``meters.ingest.check_fields``): a value the readings upload refuses is
    refused here with the same message.
    """
    if not isinstance(data, Mapping):
        raise IngestRejected([IngestError(0, "non_field_errors", "a snapshot must be one JSON object")])
    errors: list[IngestError] = []
    serial = ""
    try:
        serial = normalise_serial(data.get("serial"))
    except InvalidSerial as exc:
        errors.append(IngestError(0, "serial", str(exc)))
    names = [name for name in wire.LIVE_FIELDS if name != "serial"]
    required = [name for name in wire.LIVE_REQUIRED_FIELDS if name != "serial"]
    values = check_fields(0, data, names, required, now + settings.INGEST_MAX_FUTURE, errors)
    if errors:
        raise IngestRejected(errors)
    return serial, values


def receive_snapshot(user: Any, data: Any, now: datetime | None = None) -> Snapshot:
    """Keep a posted snapshot as its meter's latest; then the peak alert is checked (``meters.alerts``).

    Raises ``IngestRejected`` (bad fields), ``UnknownMeter`` (a serial that is not a meter ``user`` may write: the
    owner, a device of the owner, or the operator) and ``TooSoon``. An older snapshot than the one kept (a late
    packet) is acknowledged and dropped.
    """
    now = now or timezone.now()
    serial, values = parse_snapshot(data, now)
    meter = Meter.objects.filter(serial=serial).only("pk", "serial", "owner_id").first()
    if meter is None or not access.may_send_live(user, meter):
        raise UnknownMeter(serial)
    measured_at = values.pop("measured_at")
    snapshot = Snapshot(meter.pk, meter.serial, measured_at, now, values)
    previous = latest_snapshot(meter.pk)
    if previous is not None:
        since = (now - previous.received_at).total_seconds()
        if 0 <= since < settings.LIVE_MIN_INTERVAL:
            raise TooSoon(settings.LIVE_MIN_INTERVAL - since)
        if measured_at <= previous.measured_at:
            logger.debug("live: dropped a snapshot of %s older than the one kept", serial)
            return previous
    cache.set(_key(meter.pk), _stored(snapshot), timeout=settings.LIVE_SNAPSHOT_TTL)
    from meters import alerts  # alerts reads this module's guard; imported here to keep the import graph a tree

    alerts.check_peak(meter, snapshot, now)
    return snapshot


def _stored(snapshot: Snapshot) -> dict[str, Any]:
    # Plain types only: the database cache and Redis both pickle, and a dataclass would tie the cache to its code.
    return {
        "meter_id": snapshot.meter_id,
        "serial": snapshot.serial,
        "measured_at": snapshot.measured_at,
        "received_at": snapshot.received_at,
        "values": dict(snapshot.values),
    }


def _loaded(data: Any) -> Snapshot | None:
    try:
        return Snapshot(data["meter_id"], data["serial"], data["measured_at"], data["received_at"], data["values"])
    except (KeyError, TypeError):
        return None  # an entry written by another version: as if there were none


def latest_snapshot(meter_id: int) -> Snapshot | None:
    return _loaded(cache.get(_key(meter_id)))


def latest_snapshots(meter_ids: Iterable[int]) -> dict[int, Snapshot]:
    """The kept snapshot of each meter that has one, in one cache round trip."""
    found = cache.get_many([_key(pk) for pk in meter_ids])
    snapshots = (_loaded(data) for data in found.values())
    return {s.meter_id: s for s in snapshots if s is not None}


# --- the peak guard ----------------------------------------------------------------------------------------------


def _month_start(moment: datetime, zone: ZoneInfo) -> tuple[date, datetime]:
    first = moment.astimezone(zone).date().replace(day=1)
    return first, datetime(first.year, first.month, 1, tzinfo=zone).astimezone(UTC)


def meter_month_peak(snapshot: Snapshot, tz: str | None = None) -> tuple[Decimal | None, datetime | None]:
    """The meter's own 1-0:1.6.0 if it belongs to the month of the snapshot's quarter: a value stamped before the
    month began is last month's (the one rule of ``meters.series.capacity``); one without a stamp counts."""
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    _first, month_start = _month_start(wire.slot_start(snapshot.measured_at), zone)
    value = snapshot.kw("month_peak_kw")
    stamp = snapshot.values.get("month_peak_at")
    if value is None or (isinstance(stamp, datetime) and stamp < month_start):
        return None, None
    return value, stamp if isinstance(stamp, datetime) else None


def _timing(snapshot: Snapshot) -> tuple[datetime, int, int]:
    """The start (UTC) of the snapshot's quarter, the seconds gone and the seconds left."""
    start = wire.slot_start(snapshot.measured_at)
    elapsed = int((snapshot.measured_at - start).total_seconds())
    return start, elapsed, SLOT_SECONDS - elapsed


def _projected(so_far: Decimal | None, current: Decimal, elapsed: int, remaining: int) -> Decimal:
    """The quarter's average if ``current`` holds until its end; without a known average so far, ``current``."""
    if so_far is None:
        return current
    return _q((so_far * elapsed + current * remaining) / _QUARTER)


def projection_from_snapshot(snapshot: Snapshot) -> Decimal | None:
    """The guard's projection when the snapshot alone gives it (1-0:1.4.0 sent, or neither 1.4.0 nor registers);
    None when it needs the stored reading at the quarter's start. The alerts' check before any query."""
    _start, elapsed, remaining = _timing(snapshot)
    current = snapshot.kw("power_import_kw") or _ZERO
    demand = snapshot.kw("avg_demand_kw")
    if demand is None and (snapshot.kw("import_t1_kwh") is not None or snapshot.kw("import_t2_kwh") is not None):
        return None
    return _projected(demand, current, elapsed, remaining)


def last_seen(snapshot: Snapshot | None, last_reading_at: datetime | None) -> datetime | None:
    """When the meter was last heard of: the later of the snapshot's reception and the latest reading's slot."""
    seen = [t for t in (snapshot.received_at if snapshot else None, last_reading_at) if t is not None]
    return max(seen) if seen else None


def _so_far(meter: Meter, snapshot: Snapshot, start: datetime, elapsed: int) -> tuple[Decimal | None, str | None]:
    demand = snapshot.kw("avg_demand_kw")
    if demand is not None:
        return demand, "meter"
    t1, t2 = snapshot.kw("import_t1_kwh"), snapshot.kw("import_t2_kwh")
    if t1 is None or t2 is None or elapsed < _MIN_REGISTER_SECONDS:
        return None, None
    first = Reading.objects.filter(meter=meter, timestamp=start).values_list("import_t1_kwh", "import_t2_kwh").first()
    if first is None or first[0] is None or first[1] is None:
        return None, None
    used = (t1 + t2) - (first[0] + first[1])
    if used < 0:
        return None, None  # a register went down: reset or replaced meter, no average to trust
    return _q(used * 3600 / elapsed), "registers"


def peak_guard(meter: Meter, snapshot: Snapshot, prices: Prices, tz: str | None = None) -> PeakGuard:
    """The running quarter of ``snapshot`` against this month's peak (see the module's docstring)."""
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    start, elapsed, remaining = _timing(snapshot)
    current = snapshot.kw("power_import_kw") or _ZERO
    so_far, source = _so_far(meter, snapshot, start, elapsed)
    projected = _projected(so_far, current, elapsed, remaining)

    first, _month_begins = _month_start(start, zone)
    stored_w, stored_at = month_peak_so_far(meter, first, zone)
    peak_kw: Decimal | None = None if stored_w is None else Decimal(stored_w) / 1000
    peak_at, peak_source = stored_at, None if stored_w is None else "quarters"
    own_kw, own_at = meter_month_peak(snapshot, zone.key)
    if own_kw is not None and (peak_kw is None or own_kw > peak_kw):
        peak_kw, peak_at, peak_source = own_kw, own_at, "meter"

    minimum = capacity_minimum_kw()
    threshold = max(peak_kw or _ZERO, minimum)
    allowed = None
    if remaining > 0:
        done = (so_far if so_far is not None else current) * elapsed
        allowed = max(_ZERO, _q((threshold * _QUARTER - done) / remaining))
    exceed = max(_ZERO, projected - threshold)
    per_kw = prices.capacity_eur_kw_year / 12
    return PeakGuard(
        quarter_start=start,
        quarter_end=start + timedelta(seconds=SLOT_SECONDS),
        elapsed_seconds=elapsed,
        remaining_seconds=remaining,
        current_import_kw=current,
        so_far_kw=so_far,
        so_far_source=source,
        projected_kw=projected,
        month_peak_kw=None if peak_kw is None else _q(peak_kw),
        month_peak_at=peak_at,
        month_peak_source=peak_source,
        minimum_kw=minimum,
        threshold_kw=_q(threshold),
        headroom_kw=_q(threshold - projected),
        allowed_power_kw=allowed,
        exceeds=exceed > 0,
        exceed_kw=_q(exceed),
        capacity_eur_kw_year=prices.capacity_eur_kw_year,
        cost_per_kw_eur=_q(per_kw, _EUR),
        extra_cost_eur=_q(exceed * per_kw, _EUR),
    )


def live_status(meter: Meter, prices: Prices, now: datetime | None = None) -> LiveStatus:
    """The meter's latest snapshot, how old it is, when the meter was last heard of and its peak guard."""
    now = now or timezone.now()
    snapshot = latest_snapshot(meter.pk)
    if snapshot is not None:
        prices = effective_prices(meter.pk, prices, timezone.localdate(now))
    last_reading = Reading.objects.filter(meter=meter).order_by("-timestamp").values_list("timestamp", flat=True)
    last_reading_at = last_reading.first()
    age = None if snapshot is None else max(0, int((now - snapshot.measured_at).total_seconds()))
    return LiveStatus(
        meter=meter,
        now=now,
        snapshot=snapshot,
        age_seconds=age,
        stale=age is None or age > settings.LIVE_STALE_SECONDS,
        last_reading_at=last_reading_at,
        last_seen_at=last_seen(snapshot, last_reading_at),
        guard=None if snapshot is None else peak_guard(meter, snapshot, prices),
    )


def has_fresh_snapshot(meters: Iterable[Meter], now: datetime | None = None) -> Meter | None:
    """The first of ``meters`` whose snapshot is under ``settings.LIVE_STALE_SECONDS`` old (the landing page)."""
    now = now or timezone.now()
    ordered = list(meters)
    snapshots = latest_snapshots(m.pk for m in ordered)
    for meter in ordered:
        s = snapshots.get(meter.pk)
        if s is not None and (now - s.measured_at).total_seconds() <= settings.LIVE_STALE_SECONDS:
            return meter
    return None
