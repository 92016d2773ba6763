"""The ingest service: validate, authorise and store quarter-hour readings. Every entry point calls
``ingest_readings`` (``/api/v1/readings``, ``/api/v1/telegrams``, the prototype's ``setData``, management commands
and the bench), so a reading is checked by one set of rules (docs/design.md, "Ingest rules").

Field names, kinds, the slot and the factory-clock cutoff are the wire contract of ``p1edge.wire``; who may write
which meter is ``meters.access``; the serial rule and the hand-over of a pending meter are ``meters.claims``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone
from p1edge import wire

from meters import access, retention
from meters.bulk import insert_rows
from meters.claims import SERIAL_SHAPE, InvalidSerial, adopt_pending, normalise_serial
from meters.models import READING_FIELDS, REGISTER_FIELDS, Meter, Reading
from meters.series import rollups

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestError:
    index: int  # position of the item in the submitted list
    field: str  # a p1edge.wire field name, "serial", "timestamp" or "non_field_errors"
    message: str


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int
    registered_serials: tuple[str, ...] = ()  # unknown serials that became the acting user's meters
    # With ``return_ids``: the stored row of every submitted item, in submission order (a duplicate gets the row
    # stored before). Costs one more query per meter, so only callers that answer with ids ask for it.
    reading_ids: tuple[int, ...] = ()
    meter_ids: tuple[int, ...] = ()  # the meters the batch wrote to (duplicates included)


class IngestRejected(Exception):
    """The batch was refused as a whole; nothing was stored. ``errors`` lists every bad item by index and field."""

    def __init__(self, errors: Sequence[IngestError]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = list(errors)


class BatchTooLarge(Exception):
    """More items than ``settings.INGEST_MAX_BATCH`` in one call (the API answers 413); nothing was stored."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} readings in one request; the limit is {limit}.")
        self.count = count
        self.limit = limit


# --------------------------------------------------------------------------------------------------------------
# Field rules
# --------------------------------------------------------------------------------------------------------------

_ZERO = Decimal(0)
_KWH_MAX = Decimal("999999999.999")
_KW_MAX = Decimal("1000")
_V_MAX = Decimal("1000")
_A_MAX = Decimal("1000")

# The largest value accepted per decimal field (all are >= 0); decimal places come from the model.
_MAXIMUM: dict[str, Decimal] = {
    **{name: _KWH_MAX for name in REGISTER_FIELDS},
    **{name: _KWH_MAX for name in ("gas_m3", "water_m3")},
    **{name: _V_MAX for name in wire.DECIMAL_FIELDS if name.endswith("_v")},
    **{name: _A_MAX for name in wire.DECIMAL_FIELDS if name.endswith("_a")},
    **{name: _KW_MAX for name in wire.DECIMAL_FIELDS if name.endswith("_kw")},
}
assert set(_MAXIMUM) == set(wire.DECIMAL_FIELDS)
assert set(wire.DECIMAL_FIELDS) | wire.INT_FIELDS | set(wire.TIME_FIELDS) == set(READING_FIELDS)


def _quantum(name: str) -> Decimal:
    """The step of the model's decimal field ``name`` (0.001 for three decimal places)."""
    field = Reading._meta.get_field(name)
    assert isinstance(field, models.DecimalField), name
    return Decimal(1).scaleb(-field.decimal_places)


_DECIMAL_SPECS = tuple(
    (
        name,
        _quantum(name),
        _MAXIMUM[name],
        name in wire.REQUIRED_FIELDS,
    )
    for name in wire.DECIMAL_FIELDS
)


class _Invalid(Exception):
    """One field of one item is invalid; the message is shown to the client."""


# What a meter, the edge or the prototype writes: ASCII digits, an optional decimal point and exponent. Python's
# Decimal() also reads full-width and other Unicode digits, "1_000" and Unicode spaces, which no device sends: such
# a value is a sender's bug (or a probe) and gets a clear error rather than a guess.
_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_NOT_A_NUMBER = "must be a number written with the digits 0-9, e.g. 1234.567"


def is_plain_number(text: str) -> bool:
    """True when ``text`` is a decimal number in ASCII (``" 12.5"``, ``"1e-1"``); no ``_``, no Unicode digits."""
    return _NUMBER_TEXT.fullmatch(text) is not None


def _decimal(value: Any, quantum: Decimal, maximum: Decimal) -> Decimal:
    """``value`` as a Decimal in [0, maximum], quantized; raises ``_Invalid`` with the client's message."""
    if isinstance(value, bool):  # bool is an int subclass; True is not a reading
        raise _Invalid("must be a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("must be a finite number")
        number = Decimal(repr(value))  # repr keeps 1.1 as 1.1, not its binary expansion
    elif isinstance(value, str):
        if not is_plain_number(value):
            raise _Invalid(_NOT_A_NUMBER)
        number = Decimal(value.strip())  # cannot fail: the pattern is a subset of Decimal's syntax
    else:
        raise _Invalid("must be a number")
    if not number.is_finite():
        raise _Invalid("must be a finite number")
    if number < 0 or number > maximum:
        raise _Invalid(f"must be between 0 and {maximum}")
    if number.is_signed():
        # -0 or -0.000: equal to zero, but no meter writes a sign, so it is a sender's bug rather than a reading.
        raise _Invalid("must not carry a minus sign (-0)")
    return number.quantize(quantum, rounding=ROUND_HALF_UP)


def _integer(value: Any, allowed: frozenset[int]) -> int:
    """``value`` as one of ``allowed`` (1.0 and "0001" are fine, 1.5 and a full-width 1 not); raises ``_Invalid``."""
    number = _decimal(value, Decimal("0.001"), Decimal(max(allowed)))
    if number != number.to_integral_value() or int(number) not in allowed:
        raise _Invalid("must be one of " + ", ".join(str(v) for v in sorted(allowed)))
    return int(number)


EARLIEST_READING = wire.EARLIEST_READING  # factory clocks (docs/p1.md, pitfall 2)
_OUTSIDE_CALENDAR = "is outside the calendar this server stores (its UTC time must fall in the years 1 to 9999)"


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from an aware/naive datetime or an ISO 8601 string.

    Naive times are Europe/Brussels local time (settings.TIME_ZONE). In the repeated autumn hour a naive time is
    ambiguous and is read as its first occurrence (summer time, fold=0); senders that care send an offset.
    Raises ``ValueError`` with a message for the client.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time, e.g. 2026-10-25T02:15:00+01:00") from None
    else:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-10-25T02:15:00+01:00")
    try:
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE), fold=0)
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-23:59 or 0001-01-01T00:00:00 in Brussels: valid ISO 8601, but its UTC time falls
        # outside the years 1-9999 that Python (and so every database adapter) can represent.
        raise ValueError(_OUTSIDE_CALENDAR) from None


def check_reading_time(moment: datetime, latest_allowed: datetime) -> str | None:
    """Why ``moment`` (aware) cannot be the time of a meter reading, or None when it can.

    The same rule for the reading's timestamp and for every time it carries (measured_at, month_peak_at, gas_at,
    water_at): no later than ``latest_allowed`` (now plus ``settings.INGEST_MAX_FUTURE``), not before 2010.
    """
    if moment > latest_allowed:
        return "is too far in the future; check the device clock"
    if moment < EARLIEST_READING:
        # Meters reset to a factory clock (year 2000, 1970) report it as the time; that is no date.
        return "is before 2010: the meter clock is not set (factory default)"
    return None


slot_start = wire.slot_start


@dataclass(slots=True)
class _Item:
    index: int
    serial: str
    slot: datetime
    values: dict[str, Any]


def _moment(index: int, name: str, raw: Any, latest_allowed: datetime, errors: list[IngestError]) -> datetime | None:
    """A time field parsed and range-checked (one rule for every time of a reading); None after reporting why."""
    try:
        moment = parse_timestamp(raw)
    except ValueError as exc:
        errors.append(IngestError(index, name, str(exc)))
        return None
    problem = check_reading_time(moment, latest_allowed)
    if problem is not None:
        errors.append(IngestError(index, name, problem))
        return None
    return moment


@dataclass(frozen=True)
class _Window:
    """The slots a reading may have: not later than ``latest_allowed``; with retention, not before ``kept_from``."""

    latest_allowed: datetime
    kept_from: datetime | None = None  # meters.retention.cutoff
    too_old: str = ""  # the message for a reading before kept_from, built once per batch


def _validate(index: int, item: Any, window: _Window, errors: list[IngestError]) -> _Item | None:
    """One submitted item as an ``_Item``, or None after appending every problem with it to ``errors``."""
    latest_allowed = window.latest_allowed
    if type(item) is not dict and not isinstance(item, Mapping):
        errors.append(IngestError(index, "non_field_errors", "each reading must be an object"))
        return None
    before = len(errors)
    serial = item.get("serial")
    try:
        # The same rule as the Meters page, so "1sag3100000099" lands on the meter 1SAG3100000099.
        serial = normalise_serial(serial)
    except InvalidSerial:
        errors.append(IngestError(index, "serial", SERIAL_SHAPE))
    values: dict[str, Any] = {}
    slot = _times(index, item, latest_allowed, values, errors)
    if slot is not None and window.kept_from is not None and slot < window.kept_from:
        # Its day and its quarters are gone (meters.retention): storing it would recompute that day's kept total
        # from one reading. Refused for good: the edge dead-letters an item refused by index and field.
        errors.append(IngestError(index, "timestamp", window.too_old))
    _decimals(index, item, values, errors)
    _integers(index, item, values, errors)
    if len(errors) > before:
        return None
    return _Item(index=index, serial=serial, slot=slot, values=values)  # type: ignore[arg-type]  # no errors: set


def _times(
    index: int, item: Mapping[str, Any], latest_allowed: datetime, values: dict[str, Any], errors: list[IngestError]
) -> datetime | None:
    """The slot of the item's ``timestamp``; ``measured_at`` (default: the timestamp) and the reading's times go to
    ``values``."""
    for name in ("timestamp", "measured_at"):
        raw = item.get(name)
        if raw is None:
            if name == "timestamp":
                errors.append(IngestError(index, name, "this field is required"))
            continue
        moment = _moment(index, name, raw, latest_allowed, errors)
        if moment is not None:
            values[name] = moment
    for name in wire.TIME_FIELDS:
        raw = item.get(name)
        moment = None if raw is None else _moment(index, name, raw, latest_allowed, errors)
        if raw is None or moment is not None:
            values[name] = moment
    timestamp = values.pop("timestamp", None)
    if timestamp is None:
        return None
    values.setdefault("measured_at", timestamp)
    return slot_start(timestamp)


def _decimals(index: int, item: Mapping[str, Any], values: dict[str, Any], errors: list[IngestError]) -> None:
    """The decimal fields into ``values``: the fast path of ingest.

    The ~25 numeric fields of every reading are checked inline; anything unusual goes through ``_decimal()``, which
    gives the precise message. This loop dominates ingest time (bench/ingest.py), so it is not split further.
    """
    get = item.get
    for name, quantum, maximum, required in _DECIMAL_SPECS:
        raw = get(name)
        if raw is None:
            if required:
                errors.append(IngestError(index, name, "this field is required"))
            values[name] = None
            continue
        kind = type(raw)
        # Text with Unicode digits or "1_000" takes the slow path (Decimal() would read it), as does -0.
        if (kind is str and raw.isascii() and "_" not in raw) or kind is int or kind is Decimal or kind is float:
            try:
                number = Decimal(repr(raw) if kind is float else raw)
                # A NaN raises InvalidOperation here; infinities fail the range test.
                if _ZERO <= number <= maximum and not number.is_signed():
                    values[name] = number.quantize(quantum, ROUND_HALF_UP)
                    continue
            except InvalidOperation:
                pass
        try:
            values[name] = _decimal(raw, quantum, maximum)
        except _Invalid as exc:
            errors.append(IngestError(index, name, str(exc)))


def _integers(index: int, item: Mapping[str, Any], values: dict[str, Any], errors: list[IngestError]) -> None:
    for name, allowed in wire.INT_VALUES.items():
        raw = item.get(name)
        if type(raw) is int and raw in allowed:
            values[name] = raw
            continue
        try:
            values[name] = None if raw is None else _integer(raw, allowed)
        except _Invalid as exc:
            errors.append(IngestError(index, name, str(exc)))


def check_fields(
    index: int,
    item: Mapping[str, Any],
    names: Sequence[str],
    required: Sequence[str],
    latest_allowed: datetime,
    errors: list[IngestError],
) -> dict[str, Any]:
    """The named fields of ``item`` by the readings' rules, for other messages that carry reading fields (the live
    snapshots of ``meters.live``): a value ingest refuses is refused with the same message. Absent fields are None;
    an absent ``required`` one is reported. Problems are appended to ``errors``."""
    values: dict[str, Any] = {}
    for name in names:
        raw = item.get(name)
        if raw is None:
            if name in required:
                errors.append(IngestError(index, name, "this field is required"))
            values[name] = None
        elif name in wire.DATETIME_FIELDS:
            values[name] = _moment(index, name, raw, latest_allowed, errors)
        elif name in wire.INT_VALUES:
            try:
                values[name] = _integer(raw, wire.INT_VALUES[name])
            except _Invalid as exc:
                errors.append(IngestError(index, name, str(exc)))
        else:
            try:
                values[name] = _decimal(raw, _quantum(name), _MAXIMUM[name])
            except _Invalid as exc:
                errors.append(IngestError(index, name, str(exc)))
    return values


# --------------------------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------------------------

_REFUSED = "you may not write readings for this meter; if it is yours, claim it on the Meters page first"


class _Retry(Exception):
    """A concurrent writer changed a meter or slot under us; re-read and try again."""


def ingest_readings(user: Any, items: Sequence[Mapping[str, Any]], *, return_ids: bool = False) -> IngestResult:
    """Validate, authorise and store quarter-hour readings atomically.

    ``items`` are plain dicts with ``serial``, ``timestamp`` (aware datetime or ISO 8601 string; naive means
    Europe/Brussels), optional ``measured_at`` (default: the timestamp) and the p1edge.wire reading fields
    (numbers, Decimals or numeric strings; unknown keys are ignored). Each timestamp is snapped to its UTC
    quarter-hour slot; a slot already stored, or already present earlier in the batch, counts as a duplicate.

    Raises ``BatchTooLarge`` for more than ``settings.INGEST_MAX_BATCH`` items and ``IngestRejected`` listing every
    invalid item and every item ``user`` may not write; either way nothing is stored. With retention on
    (``settings.RETENTION_RAW_DAYS``) a reading older than ``meters.retention.cutoff`` is invalid (field
    ``timestamp``).
    """
    if len(items) > settings.INGEST_MAX_BATCH:
        raise BatchTooLarge(len(items), settings.INGEST_MAX_BATCH)
    if not items:
        return IngestResult(created=0, duplicates=0)

    errors: list[IngestError] = []
    now = timezone.now()
    kept_from = retention.cutoff(now)
    window = _Window(
        latest_allowed=now + settings.INGEST_MAX_FUTURE,
        kept_from=kept_from,
        too_old="" if kept_from is None else retention.too_old_message(kept_from),
    )
    valid = [_validate(index, item, window, errors) for index, item in enumerate(items)]
    if errors:
        raise IngestRejected(errors)
    parsed: list[_Item] = valid  # type: ignore[assignment]  # no errors means every item validated

    try:
        return _store(user, parsed, return_ids)
    except (IntegrityError, _Retry):
        logger.info("ingest: concurrent write detected, retrying the batch once")
        return _store(user, parsed, return_ids)


# Readings go in through meters.bulk.insert_rows (executemany, COPY on PostgreSQL), not bulk_create: see there.
_INSERT_FIELDS = [f for f in Reading._meta.concrete_fields if not f.primary_key]
_VALUE_NAMES = tuple(f.attname for f in _INSERT_FIELDS)


def _rows(meter_id: int, items: list[_Item], received_at: datetime) -> list[list[Any]]:
    """Insert parameters in ``_INSERT_FIELDS`` order (validated ints and quantized Decimals, datetimes)."""
    rows = []
    for item in items:
        values = item.values
        values["meter_id"] = meter_id
        values["timestamp"] = item.slot
        values["received_at"] = received_at
        rows.append([values[name] for name in _VALUE_NAMES])
    return rows


def _insert(rows: list[list[Any]], connection: Any) -> None:
    insert_rows(connection, Reading, _VALUE_NAMES, rows)


class _Refused(Exception):
    """``user`` may not write these serials."""

    def __init__(self, serials: list[str]) -> None:
        super().__init__(", ".join(serials))
        self.serials = frozenset(serials)


def _authorise(user: Any, serials: list[str], meters: dict[str, Meter]) -> tuple[list[str], list[Meter]]:
    """The serials to create and the unclaimed meters the upload claims; ``IngestRejected`` names the items of
    every serial ``user`` may not write (``meters.access.may_write``)."""
    privileged = access.may_write_any(user)
    unclaimed_ids = [m.pk for m in meters.values() if m.owner_id is None]
    with_data = (
        set(Reading.objects.filter(meter_id__in=unclaimed_ids).values_list("meter_id", flat=True).distinct())
        if unclaimed_ids and not privileged
        else set()
    )
    refused: list[str] = []
    to_claim: list[Meter] = []
    to_create: list[str] = []
    for serial in serials:
        meter = meters.get(serial)
        if meter is None:
            # An anonymous upload creates nothing; an account's creates its own meter, the operator's an unclaimed one.
            (to_create if privileged or user.is_authenticated else refused).append(serial)
        elif not access.may_write(user, meter, has_readings=meter.pk in with_data):
            refused.append(serial)
        elif meter.owner_id is None and not privileged:
            to_claim.append(meter)
    if refused:
        raise _Refused(refused)
    return to_create, to_claim


def _register(user: Any, meters: dict[str, Meter], to_create: list[str], to_claim: list[Meter]) -> list[str]:
    """Create and claim meters for this upload; the serials that became ``user``'s."""
    registered: list[str] = []
    owner = None if access.may_write_any(user) else user
    for serial in to_create:
        # A concurrent batch may create the same serial: the IntegrityError triggers the one retry.
        meters[serial] = Meter.objects.create(serial=serial, owner=owner)
        if owner is not None:
            registered.append(serial)
    for meter in to_claim:
        if Meter.objects.filter(pk=meter.pk, owner__isnull=True).update(owner=user) != 1:
            raise _Retry(meter.serial)
        meter.owner = user
        registered.append(meter.serial)
    if registered:
        # The device of this account uploaded first: that, not a serial typed on the Meters page, makes the
        # meter its own (serial squatting, docs/design.md "Ingest rules"). Its pending entry hands over the
        # name typed there.
        adopt_pending(user, [meters[serial] for serial in registered])
    return registered


def _store(user: Any, items: list[_Item], return_ids: bool) -> IngestResult:
    serials = sorted({item.serial for item in items})
    using = router.db_for_write(Reading)
    with transaction.atomic(using=using):
        meters = {m.serial: m for m in Meter.objects.filter(serial__in=serials)}
        try:
            to_create, to_claim = _authorise(user, serials, meters)
        except _Refused as exc:
            raise IngestRejected(
                [IngestError(item.index, "serial", _REFUSED) for item in items if item.serial in exc.serials]
            ) from None
        registered = _register(user, meters, to_create, to_claim)

        by_meter: dict[int, list[_Item]] = {}
        for item in items:
            by_meter.setdefault(meters[item.serial].pk, []).append(item)

        rows: list[list[Any]] = []
        stored: dict[int, list[datetime]] = {}
        duplicates = 0
        received_at = timezone.now()
        for meter_id, meter_items in by_meter.items():
            fresh = _fresh(meter_id, meter_items)
            duplicates += len(meter_items) - len(fresh)
            rows.extend(_rows(meter_id, fresh, received_at))
            stored[meter_id] = [item.slot for item in fresh]
        _insert(rows, connections[using])
        # The derived numbers change with the readings, in the same transaction (meters/series/rollups.py).
        for meter_id in sorted(stored):
            rollups.refresh(meter_id, stored[meter_id], using=using)
        ids = _stored_ids(items, by_meter) if return_ids else ()

    if registered:
        logger.info("ingest: user %s registered meter(s) %s", user.pk, ", ".join(registered))
    return IngestResult(
        created=len(rows),
        duplicates=duplicates,
        registered_serials=tuple(registered),
        reading_ids=ids,
        meter_ids=tuple(by_meter),
    )


def _fresh(meter_id: int, items: list[_Item]) -> list[_Item]:
    """``items`` without the slots already stored for the meter or seen earlier in the batch (duplicates)."""
    slots = [item.slot for item in items]
    taken = set(
        Reading.objects.filter(meter_id=meter_id, timestamp__range=(min(slots), max(slots))).values_list(
            "timestamp", flat=True
        )
    )
    fresh = []
    for item in items:
        if item.slot not in taken:
            taken.add(item.slot)
            fresh.append(item)
    return fresh


def _stored_ids(items: list[_Item], by_meter: dict[int, list[_Item]]) -> tuple[int, ...]:
    """The row id of every item's slot, in submission order: one range query per meter (COPY returns no ids)."""
    ids: dict[tuple[int, datetime], int] = {}
    meter_of: dict[int, int] = {}
    for meter_id, meter_items in by_meter.items():
        slots = [item.slot for item in meter_items]
        for item in meter_items:
            meter_of[item.index] = meter_id
        stored = Reading.objects.filter(meter_id=meter_id, timestamp__range=(min(slots), max(slots)))
        for timestamp, pk in stored.values_list("timestamp", "pk"):
            ids[(meter_id, timestamp)] = pk
    return tuple(ids[(meter_of[item.index], item.slot)] for item in items)
