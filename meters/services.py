"""Business logic of the meters app. Views, the API, management commands and the edge call these functions.

One ingest service (``ingest_readings``) serves every entry point; the meter-management functions below
(``add_meter``, ``claim_meter``, ``rename_meter``, ``release_meter``, ``delete_meter_with_data``) serve the
pages under /serialNumbers/ and raise the documented exceptions instead of returning error codes.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from meters.models import READING_FIELDS, REGISTER_FIELDS, ClaimAttempt, Meter, Reading

logger = logging.getLogger(__name__)

SLOT = timedelta(minutes=15)
# The shape of a stored serial (after ``normalise_serial``); see that function for why.
SERIAL_RE = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{5,32}")


@dataclass(frozen=True)
class IngestError:
    index: int  # position of the item in the submitted list
    field: str  # DESIGN.md field name, "serial", "timestamp" or "non_field_errors"
    message: str


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int
    registered_serials: tuple[str, ...] = ()  # unknown serials that became the acting user's meters


class IngestRejected(Exception):
    """The batch was refused as a whole; nothing was stored. ``errors`` lists every bad item by index and field."""

    def __init__(self, errors: Sequence[IngestError]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = list(errors)


# --------------------------------------------------------------------------------------------------------------
# Field rules
# --------------------------------------------------------------------------------------------------------------

_ZERO = Decimal(0)
_KWH_MAX = Decimal("999999999.999")
_KW_MAX = Decimal("1000")
_V_MAX = Decimal("1000")
_A_MAX = Decimal("1000")

# field -> (maximum, required); all numeric fields are >= 0. Decimal places come from the model.
_DECIMAL_RULES: dict[str, tuple[Decimal, bool]] = {
    **{name: (_KWH_MAX, True) for name in REGISTER_FIELDS},
    "power_import_kw": (_KW_MAX, True),
    "power_export_kw": (_KW_MAX, True),
    **{f"l{n}_{d}_kw": (_KW_MAX, False) for n in (1, 2, 3) for d in ("import", "export")},
    **{f"l{n}_voltage_v": (_V_MAX, False) for n in (1, 2, 3)},
    **{f"l{n}_current_a": (_A_MAX, False) for n in (1, 2, 3)},
    "avg_demand_kw": (_KW_MAX, False),
    "month_peak_kw": (_KW_MAX, False),
    "gas_m3": (_KWH_MAX, False),
    "water_m3": (_KWH_MAX, False),
}
_INT_RULES: dict[str, frozenset[int]] = {"tariff": frozenset({1, 2}), "breaker_state": frozenset({0, 1, 2})}
_DATETIME_FIELDS = ("month_peak_at", "gas_at", "water_at")
_QUANTUM: dict[str, Decimal] = {
    name: Decimal(1).scaleb(-Reading._meta.get_field(name).decimal_places) for name in _DECIMAL_RULES
}
_DECIMAL_SPECS = tuple(
    (name, _QUANTUM[name], maximum, required) for name, (maximum, required) in _DECIMAL_RULES.items()
)
assert set(_DECIMAL_RULES) | set(_INT_RULES) | set(_DATETIME_FIELDS) == set(READING_FIELDS)


class _Invalid(Exception):
    """One field of one item is invalid; the message is shown to the client."""


def _decimal(value: Any, quantum: Decimal, maximum: Decimal) -> Decimal:
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
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _Invalid("must be a number") from None
    else:
        raise _Invalid("must be a number")
    if not number.is_finite():
        raise _Invalid("must be a finite number")
    if number < 0 or number > maximum:
        raise _Invalid(f"must be between 0 and {maximum}")
    return number.quantize(quantum, rounding=ROUND_HALF_UP)


def _integer(value: Any, allowed: frozenset[int]) -> int:
    number = _decimal(value, Decimal("0.001"), Decimal(max(allowed)))
    if number != number.to_integral_value() or int(number) not in allowed:
        raise _Invalid("must be one of " + ", ".join(str(v) for v in sorted(allowed)))
    return int(number)


# Digital meters arrived in Belgium long after this; earlier times are factory clocks (P1-NOTES pitfall 2).
EARLIEST_READING = datetime(2010, 1, 1, tzinfo=UTC)


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
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE), fold=0)
    return moment.astimezone(UTC)


def slot_start(moment: datetime) -> datetime:
    """Start (UTC) of the quarter-hour slot holding ``moment`` (an aware datetime)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


@dataclass(slots=True)
class _Item:
    index: int
    serial: str
    slot: datetime
    values: dict[str, Any]


def _validate(index: int, item: Any, latest_allowed: datetime, errors: list[IngestError]) -> _Item | None:
    if type(item) is not dict and not isinstance(item, Mapping):
        errors.append(IngestError(index, "non_field_errors", "each reading must be an object"))
        return None
    before = len(errors)

    serial = item.get("serial")
    try:
        # The same rule as the Meters page, so "1sag3100000099" lands on the meter 1SAG3100000099.
        serial = normalise_serial(serial)
    except InvalidSerial:
        errors.append(IngestError(index, "serial", _SERIAL_SHAPE))

    slot = None
    values: dict[str, Any] = {}
    for name in ("timestamp", "measured_at"):
        raw = item.get(name)
        if raw is None:
            if name == "timestamp":
                errors.append(IngestError(index, name, "this field is required"))
            continue
        try:
            moment = parse_timestamp(raw)
        except ValueError as exc:
            errors.append(IngestError(index, name, str(exc)))
            continue
        if moment > latest_allowed:
            errors.append(IngestError(index, name, "is too far in the future; check the device clock"))
            continue
        if moment < EARLIEST_READING:
            # Meters reset to a factory clock (year 2000, 1970) report it as the time; that is no date.
            errors.append(IngestError(index, name, "is before 2010: the meter clock is not set (factory default)"))
            continue
        values[name] = moment
    if "timestamp" in values:
        slot = slot_start(values["timestamp"])
        values.setdefault("measured_at", values["timestamp"])
        del values["timestamp"]

    # Inlined fast path for the ~25 numeric fields of every reading; anything unusual goes through _decimal(),
    # which gives the precise message (this loop dominates ingest time, see bench/ingest.py).
    get = item.get
    for name, quantum, maximum, required in _DECIMAL_SPECS:
        raw = get(name)
        if raw is None:
            if required:
                errors.append(IngestError(index, name, "this field is required"))
            values[name] = None
            continue
        kind = type(raw)
        if kind is str or kind is int or kind is Decimal or kind is float:
            try:
                number = Decimal(repr(raw) if kind is float else raw)
                # A NaN raises InvalidOperation here; infinities fail the range test.
                if _ZERO <= number <= maximum:
                    values[name] = number.quantize(quantum, ROUND_HALF_UP)
                    continue
            except InvalidOperation:
                pass
        try:
            values[name] = _decimal(raw, quantum, maximum)
        except _Invalid as exc:
            errors.append(IngestError(index, name, str(exc)))
    for name, allowed in _INT_RULES.items():
        raw = get(name)
        if type(raw) is int and raw in allowed:
            values[name] = raw
            continue
        try:
            values[name] = None if raw is None else _integer(raw, allowed)
        except _Invalid as exc:
            errors.append(IngestError(index, name, str(exc)))
    for name in _DATETIME_FIELDS:
        raw = item.get(name)
        try:
            values[name] = None if raw is None else parse_timestamp(raw)
        except ValueError as exc:
            errors.append(IngestError(index, name, str(exc)))

    if len(errors) > before:
        return None
    return _Item(index=index, serial=serial, slot=slot, values=values)


# --------------------------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------------------------

_REFUSED = "you may not write readings for this meter; if it is yours, claim it on the Meters page first"


def may_write_any_meter(user) -> bool:
    """Staff and holders of ``meters.add_reading`` write for any serial (the operator's fleet)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.has_perm("meters.add_reading")))


class _Retry(Exception):
    """A concurrent writer changed a meter or slot under us; re-read and try again."""


def ingest_readings(user, items: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Validate, authorise and store quarter-hour readings atomically.

    ``items`` are plain dicts with ``serial``, ``timestamp`` (aware datetime or ISO 8601 string; naive means
    Europe/Brussels), optional ``measured_at`` (default: the timestamp) and the DESIGN.md reading fields
    (numbers, Decimals or numeric strings; unknown keys are ignored). Each timestamp is snapped to its UTC
    quarter-hour slot; a slot already stored, or already present earlier in the batch, counts as a duplicate.

    Raises ``IngestRejected`` (nothing stored) listing every invalid item, every item ``user`` may not write, or
    a batch larger than ``settings.INGEST_MAX_BATCH``.
    """
    if len(items) > settings.INGEST_MAX_BATCH:
        raise IngestRejected(
            [
                IngestError(
                    settings.INGEST_MAX_BATCH,
                    "non_field_errors",
                    f"too many readings in one batch: at most {settings.INGEST_MAX_BATCH}",
                )
            ]
        )
    if not items:
        return IngestResult(created=0, duplicates=0)

    errors: list[IngestError] = []
    latest_allowed = timezone.now() + settings.INGEST_MAX_FUTURE
    valid = [_validate(index, item, latest_allowed, errors) for index, item in enumerate(items)]
    if errors:
        raise IngestRejected(errors)
    parsed: list[_Item] = valid  # type: ignore[assignment]  # no errors means every item validated

    try:
        return _store(user, parsed)
    except (IntegrityError, _Retry):
        logger.info("ingest: concurrent write detected, retrying the batch once")
        return _store(user, parsed)


# Readings are inserted with one parametrised INSERT run through DB-API executemany (SQLite, pyodbc for SQL
# Server) or COPY (PostgreSQL), not Model.objects.bulk_create: measured, bulk_create spent ~100 us per row
# preparing 33 fields in Django's SQL compiler, capping ingest near 8,000 readings/s. Values here are already
# validated and quantized, so only datetimes need the backend's adapter.
_INSERT_FIELDS = [f for f in Reading._meta.concrete_fields if not f.primary_key]
_DATETIME_COLUMNS = frozenset(i for i, f in enumerate(_INSERT_FIELDS) if f.get_internal_type() == "DateTimeField")
_VALUE_NAMES = tuple(f.attname for f in _INSERT_FIELDS)


def _rows(meter_id: int, items: list[_Item], received_at: datetime, connection) -> list[list[Any]]:
    """Insert parameters in ``_INSERT_FIELDS`` order; datetimes through the backend's adapter (SQLite stores
    text), the rest (validated ints and quantized Decimals) as they are, which every driver accepts."""
    adapt = connection.ops.adapt_datetimefield_value
    datetime_columns = tuple(sorted(_DATETIME_COLUMNS))
    rows = []
    for item in items:
        values = item.values
        values["meter_id"] = meter_id
        values["timestamp"] = item.slot
        values["received_at"] = received_at
        row = [values[name] for name in _VALUE_NAMES]
        for i in datetime_columns:
            if row[i] is not None:
                row[i] = adapt(row[i])
        rows.append(row)
    return rows


def _insert(rows: list[list[Any]], connection) -> None:
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(Reading._meta.db_table)
    columns = ", ".join(quote(f.column) for f in _INSERT_FIELDS)
    placeholders = "(" + ", ".join(["%s"] * len(_INSERT_FIELDS)) + ")"
    sql = f"INSERT INTO {table} ({columns}) VALUES {placeholders}"  # noqa: S608 - model identifiers, values bound
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and hasattr(cursor.cursor, "copy"):
            # psycopg 3: COPY is ~5x faster than executemany, which Django's settings (client-side binding, no
            # prepared statements, pgbouncer-safe) slow down. A duplicate slot still raises the unique-constraint
            # IntegrityError, so the retry path is the same.
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(sql, rows)


def _store(user, items: list[_Item]) -> IngestResult:
    privileged = may_write_any_meter(user)
    serials = sorted({item.serial for item in items})
    with transaction.atomic(using=router.db_for_write(Reading)):
        meters = {m.serial: m for m in Meter.objects.filter(serial__in=serials)}
        unclaimed_ids = [m.pk for m in meters.values() if m.owner_id is None]
        with_data = (
            set(Reading.objects.filter(meter_id__in=unclaimed_ids).values_list("meter_id", flat=True).distinct())
            if unclaimed_ids and not privileged
            else set()
        )

        refused: set[str] = set()
        to_claim: list[Meter] = []
        to_create: list[str] = []
        for serial in serials:
            meter = meters.get(serial)
            if meter is None:
                to_create.append(serial)
            elif privileged or meter.owner_id == user.pk:
                continue
            elif meter.owner_id is None and meter.pk not in with_data and user.is_authenticated:
                to_claim.append(meter)
            else:
                refused.add(serial)
        if not privileged and not user.is_authenticated:
            refused.update(to_create)
        if refused:
            raise IngestRejected(
                [IngestError(item.index, "serial", _REFUSED) for item in items if item.serial in refused]
            )

        registered: list[str] = []
        owner = None if privileged else user
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

        by_meter: dict[int, list[_Item]] = {}
        for item in items:
            by_meter.setdefault(meters[item.serial].pk, []).append(item)

        connection = connections[router.db_for_write(Reading)]
        rows: list[list[Any]] = []
        duplicates = 0
        received_at = timezone.now()
        for meter_id, meter_items in by_meter.items():
            slots = [item.slot for item in meter_items]
            taken = set(
                Reading.objects.filter(meter_id=meter_id, timestamp__range=(min(slots), max(slots))).values_list(
                    "timestamp", flat=True
                )
            )
            fresh = []
            for item in meter_items:
                if item.slot in taken:
                    duplicates += 1
                    continue
                taken.add(item.slot)
                fresh.append(item)
            rows.extend(_rows(meter_id, fresh, received_at, connection))
        _insert(rows, connection)

    if registered:
        logger.info("ingest: user %s registered meter(s) %s", user.pk, ", ".join(registered))
    return IngestResult(created=len(rows), duplicates=duplicates, registered_serials=tuple(registered))


# --------------------------------------------------------------------------------------------------------------
# Meter management (the pages under /serialNumbers/)
# --------------------------------------------------------------------------------------------------------------

CLAIM_MAX_WRONG_PER_HOUR = 5
CLAIM_TOLERANCE_BELOW_KWH = Decimal("1")
CLAIM_GROWTH_PER_DAY_KWH = Decimal("30")


class MeterError(Exception):
    """A meter action was refused; ``str(exc)`` is a message for the user (never names another account)."""


class InvalidSerial(MeterError):
    """The text is not shaped like a meter's equipment id (see ``normalise_serial``)."""


# Shown on the Meters page; says where a homeowner finds the number. The P1 reader logs "stored reading <serial>"
# for every reading it keeps (edge/p1edge/reader.py), which is where a device owner sees what the meter sends.
INVALID_SERIAL_MESSAGE = (
    "This is not a meter serial number. Type the meter's equipment id, e.g. 1SAG1100000292: 5 to 32 letters "
    "and digits, with at least one digit. It is printed on the label on the front of your digital meter, and "
    "your P1 reader's log shows it with every reading it stores."
)
# Shown to API clients (field "serial" of an ingest error).
_SERIAL_SHAPE = "must be the meter's equipment id (0-0:96.1.1): 5-32 letters and digits, at least one digit"


class MeterAlreadyYours(MeterError):
    pass


class MeterOwnedElsewhere(MeterError):
    pass


class ProofRequired(MeterError):
    """The meter has data but no owner: the caller must ask for the day register (1.8.1) on its display."""


class WrongProof(MeterError):
    pass


class TooManyAttempts(MeterError):
    pass


@dataclass(frozen=True)
class AddedMeter:
    meter: Meter
    has_data: bool
    first_meter: bool  # the user had no meter before this one
    claimed_with_proof: bool = False


@dataclass(frozen=True)
class DeletedMeter:
    serial: str
    readings_deleted: int


def normalise_serial(serial: Any) -> str:
    """The serial as stored: surrounding blanks removed, upper case; ``InvalidSerial`` unless it has the shape of
    an equipment id.

    The rule: 5 to 32 ASCII letters and digits, at least one of them a digit. Why: the serial is the equipment
    id the meter sends in 0-0:96.1.1 (hex-encoded ASCII, decoded by the edge and by the telegram endpoint).
    Fluvius meters send 14 capitals and digits (Sagemcom ``1SAG1100000292``, ``1SAG3100716957``; Landis+Gyr
    and Siconia meters send their own letters-and-digits ids), so case carries no meaning and the same meter
    typed in lower case must not become a second meter. Every id has digits, so a word such as ``abc`` is a
    slip, not a meter. Blanks, dashes and other punctuation are refused rather than dropped: an id never has
    them, so they mean something else was typed. The upper bound is the stored column (``Meter.serial``). The
    lower bound is loose on purpose: the ingest path uses this rule too, and a refused upload loses a device's
    readings, while a mistyped serial on the Meters page only adds an empty meter that says it has no data.

    Used by the Meters page (``claim_meter``) and by every ingest path (``ingest_readings``): one rule.
    """
    if not isinstance(serial, str):
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    serial = serial.strip()
    # isascii first: str.upper() maps some non-ASCII letters to ASCII ones ("ß" -> "SS").
    if not serial.isascii():
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    serial = serial.upper()
    if not SERIAL_RE.fullmatch(serial):
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    return serial


def wrong_claim_attempts(user, now: datetime | None = None) -> int:
    """Wrong claim attempts by ``user`` in the past hour."""
    since = (now or timezone.now()) - timedelta(hours=1)
    return ClaimAttempt.objects.filter(user=user, succeeded=False, created_at__gt=since).count()


def claim_range(meter: Meter, now: datetime | None = None) -> tuple[Decimal, Decimal] | None:
    """Accepted day-register (1.8.1) values for claiming ``meter``: from the latest stored value minus 1 kWh to
    that value plus 30 kWh per day elapsed since it was read. ``None`` when the meter has no readings."""
    latest = meter.readings.order_by("-timestamp").values("import_t1_kwh", "timestamp").first()
    if latest is None:
        return None
    elapsed_days = max(Decimal(0), Decimal(((now or timezone.now()) - latest["timestamp"]).total_seconds()) / 86400)
    value = latest["import_t1_kwh"]
    return value - CLAIM_TOLERANCE_BELOW_KWH, value + CLAIM_GROWTH_PER_DAY_KWH * elapsed_days


def claim_meter(user, serial: str, name: str = "", day_register: Decimal | None = None) -> AddedMeter:
    """Add the meter ``serial`` to ``user``'s account (the "add" form of /serialNumbers/).

    Unknown serial: a new meter owned by ``user``. Unclaimed without data: claimed directly. Unclaimed with
    data: claimed only when ``day_register`` lies in ``claim_range``; wrong values are recorded and after
    ``CLAIM_MAX_WRONG_PER_HOUR`` wrong ones in an hour every attempt is refused, even a right one.

    Raises ``InvalidSerial``, ``MeterAlreadyYours``, ``MeterOwnedElsewhere``, ``ProofRequired`` (ask for the
    register), ``WrongProof`` or ``TooManyAttempts``.
    """
    serial = normalise_serial(serial)
    name = (name or "").strip()[: Meter._meta.get_field("name").max_length]
    first_meter = not Meter.objects.filter(owner=user).exists()
    # No transaction around the whole: a wrong attempt must stay recorded when WrongProof is raised.
    meter = Meter.objects.filter(serial=serial).first()
    if meter is None:
        try:
            with transaction.atomic():
                meter = Meter.objects.create(serial=serial, name=name, owner=user)
        except IntegrityError:
            raise MeterOwnedElsewhere("This meter was registered a moment ago; try again.") from None
        logger.info("meters: user %s added new meter %s", user.pk, serial)
        return AddedMeter(meter=meter, has_data=False, first_meter=first_meter)
    if meter.owner_id == user.pk:
        raise MeterAlreadyYours("This meter is already in your list.")
    if meter.owner_id is not None:
        raise MeterOwnedElsewhere("This meter is registered to another account, so it cannot be added here.")

    has_data = meter.readings.exists()
    proof = False
    if has_data:
        if wrong_claim_attempts(user) >= CLAIM_MAX_WRONG_PER_HOUR:
            raise TooManyAttempts("Too many wrong attempts. Try again in an hour.")
        if day_register is None:
            raise ProofRequired(
                "This meter already sends data. To prove it is yours, enter the day register 1.8.1 (kWh) "
                "shown on the meter's display."
            )
        low, high = claim_range(meter)  # type: ignore[misc]  # has_data: a range exists
        if not low <= day_register <= high:
            ClaimAttempt.objects.create(user=user, serial=serial, succeeded=False)
            left = CLAIM_MAX_WRONG_PER_HOUR - wrong_claim_attempts(user)
            logger.warning("meters: wrong claim proof for %s by user %s", serial, user.pk)
            raise WrongProof(
                f"That value does not match this meter's day register. {max(left, 0)} attempt(s) left this hour."
            )
        ClaimAttempt.objects.create(user=user, serial=serial, succeeded=True)
        proof = True
    if Meter.objects.filter(pk=meter.pk, owner__isnull=True).update(owner=user, name=name or meter.name) != 1:
        raise MeterOwnedElsewhere("This meter is registered to another account, so it cannot be added here.")
    meter.refresh_from_db()
    logger.info("meters: user %s claimed meter %s (proof: %s)", user.pk, serial, proof)
    return AddedMeter(meter=meter, has_data=has_data, first_meter=first_meter, claimed_with_proof=proof)


def add_meter(user, serial: str, name: str = "") -> AddedMeter:
    """``claim_meter`` without a register value (unknown serials and unclaimed meters without data)."""
    return claim_meter(user, serial, name)


def rename_meter(meter: Meter, name: str) -> Meter:
    """Give ``meter`` a new display name (blank shows the serial). Call with a meter from the owner check."""
    meter.name = (name or "").strip()[: Meter._meta.get_field("name").max_length]
    meter.save(update_fields=["name", "updated_at"])
    return meter


def release_meter(meter: Meter) -> Meter:
    """Take ``meter`` out of its owner's account; its readings stay and it becomes unclaimed (claimable with
    proof of the register when it has data)."""
    owner_id = meter.owner_id
    meter.owner = None
    meter.save(update_fields=["owner", "updated_at"])
    logger.info("meters: user %s released meter %s", owner_id, meter.serial)
    return meter


def delete_meter_with_data(meter: Meter) -> DeletedMeter:
    """Delete ``meter`` and every reading of it (cannot be undone)."""
    with transaction.atomic():
        deleted, _ = Reading.objects.filter(meter=meter).delete()
        serial = meter.serial
        meter.delete()
    logger.info("meters: meter %s deleted with %d readings", serial, deleted)
    return DeletedMeter(serial=serial, readings_deleted=deleted)
