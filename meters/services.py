"""Business logic of the meters app. Views, the API, management commands and the edge call these functions.

One ingest service (``ingest_readings``) serves every entry point; the meter-management functions below
(``add_meter``, ``claim_meter``, ``rename_meter``, ``release_meter``, ``delete_meter_with_data``) serve the
pages under /serialNumbers/ and raise the documented exceptions instead of returning error codes.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import dateformat, timezone

from meters.models import READING_FIELDS, REGISTER_FIELDS, ClaimAttempt, Meter, PendingMeter, Reading

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


# Digital meters arrived in Belgium long after this; earlier times are factory clocks (P1-NOTES pitfall 2).
EARLIEST_READING = datetime(2010, 1, 1, tzinfo=UTC)
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
        moment = _moment(index, name, raw, latest_allowed, errors)
        if moment is not None:
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
        moment = None if raw is None else _moment(index, name, raw, latest_allowed, errors)
        if raw is None or moment is not None:
            values[name] = moment

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
        if registered:
            # The device of this account uploaded first: that, not a serial typed on the Meters page, makes the
            # meter its own (issue 12, serial squatting). Its pending entry hands over the name typed there.
            _adopt_pending(user, [meters[serial] for serial in registered])

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

# How many wrong register proofs count before claims are refused: settings.CLAIM_MAX_WRONG_PER_METER_PER_DAY (all
# accounts together), CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR (per client network) and
# CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR; see ``claim_meter``.
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


class MeterAlreadyPending(MeterError):
    """The user added this serial before and it still waits for its first reading."""


class TooManyPending(MeterError):
    """The user has ``PENDING_MAX_PER_ACCOUNT`` serials waiting for data already."""


class MeterOwnedElsewhere(MeterError):
    pass


class ProofRequired(MeterError):
    """The meter has data but no owner: the caller must ask for the day register (1.8.1) on its display."""


class WrongProof(MeterError):
    pass


class TooManyAttempts(MeterError):
    """A claim limit is reached. ``limit`` names it ("meter", "network" or "account"); ``retry_at`` (aware) is when
    a try counts again."""

    def __init__(self, message: str, limit: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_at = retry_at


@dataclass(frozen=True)
class AddedMeter:
    meter: Meter | None  # None when the serial had no data: then ``pending`` holds the user's note of it
    has_data: bool
    first_meter: bool  # the user had no meter before this one
    claimed_with_proof: bool = False
    pending: PendingMeter | None = None

    @property
    def display_name(self) -> str:
        return (self.meter or self.pending).display_name  # type: ignore[union-attr]  # one of them is set


# States of a pending entry on the Meters page (``pending_meters``).
PENDING_WAITING = "waiting"  # no data yet: the first upload by this account's device makes the meter its own
PENDING_NEEDS_PROOF = "needs_proof"  # data arrived from elsewhere (the operator, an earlier owner): proof needed
PENDING_TAKEN = "taken"  # another account's device uploaded first, or it claimed the meter with the proof
PENDING_MAX_PER_ACCOUNT = 20  # a household has a few meters; a cap keeps scripts from filling the table


@dataclass(frozen=True)
class PendingEntry:
    code: uuid.UUID
    serial: str
    name: str
    state: str  # one of PENDING_WAITING, PENDING_NEEDS_PROOF, PENDING_TAKEN
    message: str  # for the user; never names another account

    @property
    def display_name(self) -> str:
        return self.name or self.serial


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


def client_network(address: str | None) -> str:
    """The key under which claim and registration limits count a client: an IPv4 address as it is, an IPv6
    address as its /64 network, "" when there is no valid address.

    Why /64: an IPv6 household or server is given a whole /64 and picks any address in it, so counting single
    addresses would limit nobody. An IPv4-mapped IPv6 address counts as the IPv4 address it carries.
    """
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass(frozen=True)
class _ClaimLimit:
    scope: str  # "meter", "network" or "account": which attempts count together
    maximum: int
    window: timedelta


def _claim_limits() -> tuple[_ClaimLimit, ...]:
    # Read at each call, so tests and operators change them through settings (energy_app/settings.py).
    return (
        _ClaimLimit("meter", settings.CLAIM_MAX_WRONG_PER_METER_PER_DAY, timedelta(days=1)),
        _ClaimLimit("network", settings.CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR, timedelta(hours=1)),
        _ClaimLimit("account", settings.CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR, timedelta(hours=1)),
    )


def _wrong_attempts(limit: _ClaimLimit, user, serial: str, network: str, now: datetime) -> QuerySet[ClaimAttempt]:
    """The attempts that count against ``limit`` at ``now``: wrong ones, and ones still being checked."""
    attempts = ClaimAttempt.objects.filter(succeeded=False, created_at__gt=now - limit.window)
    if limit.scope == "meter":
        return attempts.filter(serial=serial)
    if limit.scope == "network":
        return attempts.filter(address=network)
    return attempts.filter(user=user)


def retry_time_text(moment: datetime) -> str:
    """``moment`` in the site's time zone as "21 Nov 2026 13:05", rounded up to the minute: the "try again after"
    of the claim and registration limits must not be too early."""
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return dateformat.format(timezone.localtime(moment), "j M Y H:i")


def _limit_message(limit: _ClaimLimit, retry_at: datetime) -> str:
    when = retry_time_text(retry_at)
    if limit.scope == "meter":
        return (
            f"Too many wrong register entries for this meter ({limit.maximum} in 24 hours, from all accounts "
            f"together). To protect it, no claim is checked until then. Try again after {when}."
        )
    if limit.scope == "network":
        return (
            f"Too many wrong register entries from your network ({limit.maximum} in an hour). Try again after {when}."
        )
    return f"Too many wrong attempts from your account ({limit.maximum} in an hour). Try again after {when}."


def _limit_reached(user, serial: str, network: str, now: datetime, own: int | None = None) -> TooManyAttempts | None:
    """The refusal for the first limit that leaves no room for one more attempt, else None.

    ``own`` is the id of an attempt already recorded for this request: it is not counted against itself. Without
    it this is the check before a value is asked for or recorded.
    """
    for limit in _claim_limits():
        if limit.scope == "network" and not network:
            continue  # no address known (a test client, a misconfigured proxy): the other two limits still hold
        attempts = _wrong_attempts(limit, user, serial, network, now)
        if own is not None:
            attempts = attempts.exclude(pk=own)
        count = attempts.count()
        if count < limit.maximum:
            continue
        # The try counts again once enough of the oldest attempts left the window for one more to fit.
        oldest = list(attempts.order_by("created_at").values_list("created_at", flat=True)[: count - limit.maximum + 1])
        retry_at = oldest[-1] + limit.window
        return TooManyAttempts(_limit_message(limit, retry_at), limit.scope, retry_at)
    return None


def _attempts_left(user, serial: str, network: str, now: datetime) -> str:
    """The "N attempt(s) left ..." sentence for the limit closest to being reached."""
    closest: tuple[int, _ClaimLimit] | None = None
    for limit in _claim_limits():
        if limit.scope == "network" and not network:
            continue
        left = max(limit.maximum - _wrong_attempts(limit, user, serial, network, now).count(), 0)
        if closest is None or left < closest[0]:
            closest = (left, limit)
    left, limit = closest  # type: ignore[misc]  # the meter and account limits always apply
    where = {"meter": "today for this meter", "network": "this hour from your network", "account": "this hour"}
    return f"{left} attempt(s) left {where[limit.scope]}."


def _record_attempt(user, serial: str, network: str, now: datetime) -> ClaimAttempt:
    """Record an attempt as wrong, committed before anyone counts it.

    This is what keeps the limits exact under parallel requests, on every database and without a lock: each
    request records first and then counts, and refuses (deleting its row) when the count is over a limit. Of N
    parallel requests, the k-th to commit counts at least k rows, so no more than the limit can see room.
    ``durable``: inside a caller's transaction the row would not be visible to the others, so that is an error.
    """
    with transaction.atomic(durable=True):
        return ClaimAttempt.objects.create(user=user, serial=serial, address=network, succeeded=False, created_at=now)


def wrong_claim_attempts(user, now: datetime | None = None) -> int:
    """Wrong claim attempts by ``user`` in the past hour (the per-account limit's window)."""
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


def _meter_name(name: str | None) -> str:
    from users.text import strip_bidi_controls  # the rule rename_meter applies to names

    return strip_bidi_controls(name or "").strip()[: Meter._meta.get_field("name").max_length]


def _add_pending(user, serial: str, name: str, first_meter: bool) -> AddedMeter:
    if PendingMeter.objects.filter(user=user).count() >= PENDING_MAX_PER_ACCOUNT:
        raise TooManyPending(
            f"You have {PENDING_MAX_PER_ACCOUNT} serial numbers waiting for their first reading. Remove the ones "
            "you no longer need before adding another."
        )
    pending, created = PendingMeter.objects.get_or_create(user=user, serial=serial, defaults={"name": name})
    if not created:
        raise MeterAlreadyPending(
            "This serial number is already in your list, waiting for the first reading from your device."
        )
    logger.info("meters: user %s is waiting for the first reading of %s", user.pk, serial)
    return AddedMeter(meter=None, has_data=False, first_meter=first_meter, pending=pending)


def claim_meter(
    user, serial: str, name: str = "", day_register: Decimal | None = None, address: str | None = None
) -> AddedMeter:
    """Add the meter ``serial`` to ``user``'s account (the "add" form of /serialNumbers/).

    A serial without data (unknown, or an unclaimed meter that has no readings) becomes a *pending* entry of
    ``user`` that reserves nothing (``AddedMeter.meter`` is None): the meter becomes an account's through the first
    upload by that account's device (``ingest_readings``), which has physical access to the meter. An unclaimed
    meter with data is claimed only when ``day_register`` lies in ``claim_range``.

    Proofs are limited per meter (all accounts together), per client network (``address``, the client's IP
    address; see ``client_network``) and per account, by the settings CLAIM_MAX_WRONG_PER_METER_PER_DAY,
    CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR and CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR. Once a limit is reached every
    attempt is refused, even a right one, and is not recorded. Must not run inside a transaction (see
    ``_record_attempt``).

    Raises ``InvalidSerial``, ``MeterAlreadyYours``, ``MeterAlreadyPending``, ``TooManyPending``,
    ``MeterOwnedElsewhere``, ``ProofRequired`` (ask for the register), ``WrongProof`` or ``TooManyAttempts``.
    """
    serial = normalise_serial(serial)
    name = _meter_name(name)
    first_meter = not Meter.objects.filter(owner=user).exists()
    meter = Meter.objects.filter(serial=serial).first()
    if meter is not None and meter.owner_id == user.pk:
        raise MeterAlreadyYours("This meter is already in your list.")
    if meter is not None and meter.owner_id is not None:
        raise MeterOwnedElsewhere("This meter is registered to another account, so it cannot be added here.")
    if meter is None or not meter.readings.exists():
        return _add_pending(user, serial, name, first_meter)

    network = client_network(address)
    now = timezone.now()
    refusal = _limit_reached(user, serial, network, now)
    if refusal is not None:
        raise refusal
    if day_register is None:
        raise ProofRequired(
            "This meter already sends data. To prove it is yours, enter the day register 1.8.1 (kWh) "
            "shown on the meter's display."
        )
    # No transaction around the rest: the recorded attempt must be visible to parallel requests at once and must
    # stay recorded when WrongProof is raised.
    attempt = _record_attempt(user, serial, network, now)
    refusal = _limit_reached(user, serial, network, now, own=attempt.pk)
    if refusal is not None:
        attempt.delete()  # refused tries are not counted, so a paused claim resumes on time
        logger.warning(
            "meters: claim of %s by user %s from %s refused, %s limit reached", serial, user.pk, network, refusal.limit
        )
        raise refusal
    low, high = claim_range(meter, now)  # type: ignore[misc]  # it has readings: a range exists
    if not low <= day_register <= high:
        logger.warning("meters: wrong claim proof for %s by user %s from %s", serial, user.pk, network)
        raise WrongProof(
            "That value does not match this meter's day register. " + _attempts_left(user, serial, network, now)
        )
    ClaimAttempt.objects.filter(pk=attempt.pk).update(succeeded=True)
    if Meter.objects.filter(pk=meter.pk, owner__isnull=True).update(owner=user, name=name or meter.name) != 1:
        raise MeterOwnedElsewhere("This meter is registered to another account, so it cannot be added here.")
    PendingMeter.objects.filter(user=user, serial=serial).delete()
    meter.refresh_from_db()
    logger.info("meters: user %s claimed meter %s with the register proof", user.pk, serial)
    return AddedMeter(meter=meter, has_data=True, first_meter=first_meter, claimed_with_proof=True)


def add_meter(user, serial: str, name: str = "", address: str | None = None) -> AddedMeter:
    """``claim_meter`` without a register value: a pending entry for a serial without data."""
    return claim_meter(user, serial, name, address=address)


def pending_meters(user) -> list[PendingEntry]:
    """``user``'s pending entries with what became of each serial, oldest first; entries of meters that are
    ``user``'s by now are left out (an operator may have assigned one in the admin)."""
    entries = list(PendingMeter.objects.filter(user=user).order_by("created_at", "serial"))
    if not entries:
        return []
    meters = {
        row["serial"]: row
        for row in Meter.objects.filter(serial__in=[e.serial for e in entries])
        .annotate(has_data=Exists(Reading.objects.filter(meter=OuterRef("pk"))))
        .values("serial", "owner_id", "has_data")
    }
    result = []
    for entry in entries:
        meter = meters.get(entry.serial)
        if meter is None or (meter["owner_id"] is None and not meter["has_data"]):
            state, message = PENDING_WAITING, "Waiting for the first reading from your device."
        elif meter["owner_id"] == user.pk:
            continue
        elif meter["owner_id"] is not None:
            state, message = (
                PENDING_TAKEN,
                "This meter is now registered to another account: its device uploaded first. It can be claimed "
                "here with the register proof (1.8.1 on the meter's display) only once that account removes it.",
            )
        else:
            state, message = (
                PENDING_NEEDS_PROOF,
                "This meter now sends data, but not from a device of your account. To add it, enter the day "
                "register 1.8.1 (kWh) shown on the meter's display.",
            )
        result.append(PendingEntry(entry.code, entry.serial, entry.name, state, message))
    return result


def forget_pending_meter(user, code: str | uuid.UUID) -> bool:
    """Remove ``user``'s pending entry with this public code; False when there is none (or the code is no UUID)."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        return False
    deleted, _ = PendingMeter.objects.filter(user=user, code=code).delete()
    return bool(deleted)


def _adopt_pending(user, meters: Sequence[Meter]) -> None:
    """After ``user``'s device made ``meters`` its own: the names typed on the Meters page go to the meters and
    the user's pending entries for them go away. Other accounts' entries stay; their page says what happened."""
    entries = list(PendingMeter.objects.filter(user=user, serial__in=[m.serial for m in meters]))
    names = {entry.serial: entry.name for entry in entries if entry.name}
    for meter in meters:
        if not meter.name and meter.serial in names:
            meter.name = names[meter.serial]
            Meter.objects.filter(pk=meter.pk).update(name=meter.name)
    if entries:
        PendingMeter.objects.filter(pk__in=[entry.pk for entry in entries]).delete()


def rename_meter(meter: Meter, name: str) -> Meter:
    """Give ``meter`` a new display name (blank shows the serial). Call with a meter from the owner check.

    Bidirectional controls are dropped: they would reorder the name, and the page text after it, on screen.
    """
    from users.text import strip_bidi_controls

    meter.name = strip_bidi_controls(name or "").strip()[: Meter._meta.get_field("name").max_length]
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
