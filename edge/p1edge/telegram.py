"""Parse one Fluvius P1 telegram into a reading dict (the field names of p1edge.wire, docs/design.md "Data model").

dsmr-parser (`BELGIUM_FLUVIUS`) does the line parsing: its specification says which OBIS codes are which
objects, and its value parsers read the lines. What it leaves to us, verified by experiment against
dsmr-parser 1.11.2:

- Its `TelegramParser.parse` re-raises anything but `ParseError` from a value parser, so one malformed line
  of a CRC-valid telegram ends the whole parse: `0-0:98.1.0` whose count exceeds its entries raises
  IndexError, `1-0:32.7.0(*V)` decimal.InvalidOperation, `(1*kW*kW)` ValueError. We hand each line to the
  value parser of its object ourselves, one line at a time, so a bad line costs that line only: a bad
  optional field is dropped and reported (`ParsedTelegram.dropped`, counted by the reader), a bad required
  one rejects the telegram.
- We check the CRC ourselves (p1edge.crc) before any line is read; its message shows both values in hex.
- Its patterns are loose: `^\\d-\\d:1\\.8\\.1.+?` also finds `1-0:1.8.10(...)`, and `^\\d-\\d:96\\.3\\.10` finds the
  M-Bus channels' `0-n:96.3.10` (their valve/breaker), whose value would overwrite the meter's own breaker
  state (the last channel won). A line goes to an object only when its OBIS code is exactly the object's,
  and the electricity meter's values come from channel 0 only.
- The equipment id (0-0:96.1.1) comes back as raw hex; we decode it to ASCII.
- Placeholder timestamps: `632525252525W` already parses to None, but the factory clock (year 2000) and
  `700101010000W` parse to real datetimes, so any time before `p1edge.wire.EARLIEST_READING` is treated as
  "no value". Its timestamp parser refuses a lower-case `s`/`w`, which M-Bus capture times can carry; we upper-case it.
- An M-Bus value whose capture time is a placeholder comes back as a Decimal (unit None for
  `(632525252525W)(00000.000)`); a value captured "never" is no value, so both value and time become None.
- Gas and water are found by device type (0-n:24.1.0: 3 gas, 7 water) on any channel; with two devices of
  one type the lowest channel that has reported is used (see edge/README.md, "two gas or water meters").
- Numbers must be finite and unsigned (the regex lets `NaN`, `Infinity` and `-1` through); tariff must be 1
  or 2 and the breaker state 0, 1 or 2. Integer amps (`002*A`, old firmware) become Decimal("2"); unknown
  OBIS lines are ignored.
"""

from __future__ import annotations

import binascii
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dsmr_parser import telegram_specifications

from p1edge.crc import crc_problem
from p1edge.wire import EARLIEST_READING, READING_FIELDS, REQUIRED_FIELDS

# dsmr-parser object name -> (reading field, OBIS code), for the plain one-value lines of the meter itself.
_SIMPLE: dict[str, tuple[str, str]] = {
    "import_t1_kwh": ("ELECTRICITY_USED_TARIFF_1", "1-0:1.8.1"),
    "import_t2_kwh": ("ELECTRICITY_USED_TARIFF_2", "1-0:1.8.2"),
    "export_t1_kwh": ("ELECTRICITY_DELIVERED_TARIFF_1", "1-0:2.8.1"),
    "export_t2_kwh": ("ELECTRICITY_DELIVERED_TARIFF_2", "1-0:2.8.2"),
    "power_import_kw": ("CURRENT_ELECTRICITY_USAGE", "1-0:1.7.0"),
    "power_export_kw": ("CURRENT_ELECTRICITY_DELIVERY", "1-0:2.7.0"),
    "l1_import_kw": ("INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE", "1-0:21.7.0"),
    "l2_import_kw": ("INSTANTANEOUS_ACTIVE_POWER_L2_POSITIVE", "1-0:41.7.0"),
    "l3_import_kw": ("INSTANTANEOUS_ACTIVE_POWER_L3_POSITIVE", "1-0:61.7.0"),
    "l1_export_kw": ("INSTANTANEOUS_ACTIVE_POWER_L1_NEGATIVE", "1-0:22.7.0"),
    "l2_export_kw": ("INSTANTANEOUS_ACTIVE_POWER_L2_NEGATIVE", "1-0:42.7.0"),
    "l3_export_kw": ("INSTANTANEOUS_ACTIVE_POWER_L3_NEGATIVE", "1-0:62.7.0"),
    "l1_voltage_v": ("INSTANTANEOUS_VOLTAGE_L1", "1-0:32.7.0"),
    "l2_voltage_v": ("INSTANTANEOUS_VOLTAGE_L2", "1-0:52.7.0"),
    "l3_voltage_v": ("INSTANTANEOUS_VOLTAGE_L3", "1-0:72.7.0"),
    "l1_current_a": ("INSTANTANEOUS_CURRENT_L1", "1-0:31.7.0"),
    "l2_current_a": ("INSTANTANEOUS_CURRENT_L2", "1-0:51.7.0"),
    "l3_current_a": ("INSTANTANEOUS_CURRENT_L3", "1-0:71.7.0"),
    "avg_demand_kw": ("BELGIUM_CURRENT_AVERAGE_DEMAND", "1-0:1.4.0"),
}
# Objects without which there is no reading: a malformed line of one of these rejects the telegram.
_REQUIRED_OBJECTS = frozenset(
    {"BELGIUM_EQUIPMENT_IDENTIFIER", "P1_MESSAGE_TIMESTAMP", *(_SIMPLE[field][0] for field in REQUIRED_FIELDS)}
)

MBUS_GAS = 3
MBUS_WATER = 7


_OBIS = re.compile(r"\d-\d:\d{1,3}\.\d{1,3}\.\d{1,3}")
_LOWER_DST = re.compile(r"(?<=\(\d{12})[sw](?=\))")
_LINE_SUFFIX = r".+?\r\n"
_CACHED_LINE_CHARS = 1024  # a real line is at most ~570 characters; longer ones are not worth keeping


@dataclass(frozen=True)
class _Object:
    name: str
    code: re.Pattern[str]  # the OBIS part of dsmr-parser's pattern, matched against a line's exact code
    parser: Any  # dsmr-parser's value parser for the line
    mbus: bool  # an M-Bus device's line (0-n:..., n = 1..9) rather than the electricity meter's


def _objects() -> tuple[_Object, ...]:
    objects = []
    for spec in telegram_specifications.BELGIUM_FLUVIUS["objects"]:
        pattern: str = spec["obis_reference"]
        if not (pattern.startswith("^") and pattern.endswith(_LINE_SUFFIX)):
            # every Fluvius pattern is "^<code>.+?\r\n"; fail loudly at import if a new dsmr-parser changes that
            raise RuntimeError(f"unexpected dsmr-parser pattern {pattern!r}")
        code = pattern[1 : -len(_LINE_SUFFIX)]
        name = spec["value_name"]
        objects.append(
            _Object(
                name=name,
                code=re.compile(code),
                parser=spec["value_parser"],
                mbus=name.startswith("MBUS_"),
            )
        )
    return tuple(objects)


_OBJECTS = _objects()


@functools.lru_cache(maxsize=1024)
def _parse_line(index: int, line: str) -> Any:
    """dsmr-parser's value parser of object `index` on one line; raises whatever that parser raises.

    Memoised because consecutive telegrams repeat most lines verbatim (the equipment id, the month peak, the
    ~570-character 98.1.0 whose 26 timestamps are most of a parse's cost), and the server parses every
    telegram of a posted batch. The parsed objects are only read, never changed, so sharing them is safe."""
    return _OBJECTS[index].parser.parse(line)


class TelegramError(ValueError):
    """A telegram that cannot become a reading; `reason` says why (logged), `kind` is its short, bounded form
    (no values in it) that the reader counts by."""

    def __init__(self, reason: str, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind or reason.split(": ", 1)[0]


@dataclass(frozen=True)
class ParsedTelegram:
    reading: dict[str, Any]
    # "bad field <OBIS>" for each optional line that was malformed and left out of the reading
    dropped: tuple[str, ...] = ()
    # the same keys with the offending text, for the log
    details: tuple[str, ...] = ()


class _Bad(Exception):
    """One line's value is unusable; the message says how (for the log)."""


@dataclass
class _Line:
    code: str  # its exact OBIS code, e.g. 1-0:32.7.0
    value: Any  # what dsmr-parser's value parser returned


@dataclass
class _Lines:
    """The telegram's lines as parsed by dsmr-parser's value parsers, grouped per channel."""

    main: dict[str, _Line]  # object name -> the electricity meter's line (channel 0)
    channels: dict[int, dict[str, _Line]]  # M-Bus channel -> object name -> line
    bad: dict[str, tuple[str, str]]  # OBIS code -> (object name, why), for lines no value parser could read


def _short(line: str) -> str:
    text = line.rstrip("\r\n")
    return repr(text if len(text) <= 80 else text[:77] + "...")


@functools.lru_cache(maxsize=512)
def _objects_for(code: str) -> tuple[int, ...]:
    """Indexes of the objects whose OBIS code is exactly `code`: usually one, none for an unknown code."""
    return tuple(index for index, obj in enumerate(_OBJECTS) if obj.code.fullmatch(code))


def _read_lines(body: str) -> _Lines:
    """Each data line, dispatched by its exact OBIS code to dsmr-parser's value parser for that object.

    One pass over the lines rather than dsmr-parser's scan of the whole text with each of its 37 patterns: the
    same lines (its patterns are `^<code>.+?\\r\\n`, and the framer leaves no bare LF inside a frame), a third
    of the time. A line whose value parser fails is noted in `bad` and costs that line only."""
    lines = _Lines(main={}, channels={}, bad={})
    for text in body.split("\r\n"):
        code_match = _OBIS.match(text)
        if code_match is None:
            continue  # the header, the empty line, anything that is not a data line
        code = code_match.group()
        for index in _objects_for(code):
            obj = _OBJECTS[index]
            channel = int(code[2])
            if not obj.mbus and channel != 0:
                continue  # e.g. 0-1:96.3.10, an M-Bus device's valve: not the electricity meter's value
            line = text + "\r\n"  # as dsmr-parser's patterns hand lines to its value parsers
            if obj.name == "MBUS_METER_READING":
                line = _LOWER_DST.sub(lambda m: m.group().upper(), line)
            try:
                if text[len(code) : len(code) + 1] != "(":
                    raise ValueError("no value group after the OBIS code")
                value = _parse_line(index, line) if len(line) <= _CACHED_LINE_CHARS else obj.parser.parse(line)
            except Exception as exc:  # noqa: BLE001 - dsmr-parser's value parsers raise whatever their coercion raises
                lines.bad.setdefault(code, (obj.name, f"{_short(line)} ({type(exc).__name__})"))
                continue
            target = lines.channels.setdefault(channel, {}) if obj.mbus else lines.main
            target.setdefault(obj.name, _Line(code, value))  # a repeated line: the first one counts
    return lines


def _date(value: Any) -> datetime | None:
    if not isinstance(value, datetime) or value < EARLIEST_READING:
        return None
    return value.astimezone(UTC)


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite() or value.is_signed():
        raise _Bad(f"{value!r} is not an unsigned number")
    return value


def _decode_serial(raw: Any) -> str:
    if not raw or not isinstance(raw, str):
        raise TelegramError("no equipment id (0-0:96.1.1)", "no equipment id")
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    try:
        serial = binascii.unhexlify(raw).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TelegramError(f"equipment id {shown!r} is not hex-encoded ASCII", "bad equipment id") from None
    if not serial.isprintable() or not serial.strip():
        raise TelegramError(f"equipment id {shown!r} does not decode to printable text", "bad equipment id")
    return serial.strip()


class _Builder:
    """Turns the parsed lines into a reading, dropping (and noting) each optional value that is unusable."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.dropped: dict[str, str] = {}

    def drop(self, code: str, why: str) -> None:
        self.dropped.setdefault(f"bad field {code}", why)

    def main(self, name: str) -> _Line | None:
        return self.lines.main.get(name)

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        line = self.main(name)
        if line is None:
            return None
        try:
            return _number(line.value.value)
        except _Bad as exc:
            if required:
                raise TelegramError(
                    f"bad required field {line.code}: {exc}", f"bad required field {line.code}"
                ) from None
            self.drop(line.code, str(exc))
            return None

    def code_in(self, name: str, allowed: frozenset[int]) -> int | None:
        """A small integer code (tariff, breaker) that must be one of `allowed`."""
        line = self.main(name)
        if line is None or line.value.value is None:
            return None
        value = line.value.value
        if isinstance(value, str):  # the tariff comes as text, "0001"; 5,000 digits would make int() raise
            value = int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else None
        if isinstance(value, int) and value in allowed:
            return value
        self.drop(line.code, f"{line.value.value!r} is not one of {sorted(allowed)}")
        return None

    def mbus(self, device_type: int) -> tuple[Decimal | None, datetime | None]:
        """The lowest channel of `device_type` that has reported; a placeholder capture time is "never"."""
        for channel in sorted(self.lines.channels):
            device = self.lines.channels[channel]
            kind, reading = device.get("MBUS_DEVICE_TYPE"), device.get("MBUS_METER_READING")
            if kind is None or reading is None or kind.value.value != device_type:
                continue
            at = _date(reading.value.datetime)
            if at is None:
                continue  # this device never reported: it is not the one in use
            try:
                return _number(reading.value.value), at
            except _Bad as exc:
                self.drop(reading.code, str(exc))
        return None, None


def parse_telegram_report(text: str) -> ParsedTelegram:
    """One framed telegram (`/` ... `!CRC` CRLF) -> the reading and the optional fields left out of it.

    Reading keys: `serial`, `measured_at` (meter clock, aware UTC) and every name in READING_FIELDS (Decimal,
    int, aware UTC datetime, or None when the meter did not send it, sent a placeholder, or sent it malformed).
    Raises TelegramError (and nothing else, whatever the text) on a CRC mismatch, no equipment id, no valid
    meter clock, or a missing or malformed required register.
    """
    problem = crc_problem(text)
    if problem is not None:
        raise TelegramError(problem[1], problem[0])
    # Only the part the CRC covers is read: lines before `/` or after `!` could say anything.
    lines = _read_lines(text[text.find("/") : text.rfind("!")])
    for code, (name, why) in lines.bad.items():
        if name in _REQUIRED_OBJECTS:  # all of the electricity meter itself (channel 0)
            raise TelegramError(f"bad required field {code}: {why}", f"bad required field {code}")

    build = _Builder(lines)
    serial_line = build.main("BELGIUM_EQUIPMENT_IDENTIFIER")
    serial = _decode_serial(serial_line.value.value if serial_line else None)
    clock = build.main("P1_MESSAGE_TIMESTAMP")
    measured_at = _date(clock.value.value) if clock else None
    if measured_at is None:
        raise TelegramError("no valid meter clock (0-0:1.0.0)", "no valid meter clock")

    reading: dict[str, Any] = {"serial": serial, "measured_at": measured_at}
    for field, (name, _obis) in _SIMPLE.items():
        reading[field] = build.number(name, required=field in REQUIRED_FIELDS)
    missing = [obis for field, (_name, obis) in _SIMPLE.items() if field in REQUIRED_FIELDS and reading[field] is None]
    if missing:
        raise TelegramError("missing " + ", ".join(missing))

    reading["tariff"] = build.code_in("ELECTRICITY_ACTIVE_TARIFF", frozenset({1, 2}))
    reading["breaker_state"] = build.code_in("ACTUAL_SWITCH_POSITION", frozenset({0, 1, 2}))

    peak = build.main("BELGIUM_MAXIMUM_DEMAND_MONTH")
    reading["month_peak_kw"] = reading["month_peak_at"] = None
    if peak is not None and (peak_at := _date(peak.value.datetime)) is not None:
        try:
            reading["month_peak_kw"], reading["month_peak_at"] = _number(peak.value.value), peak_at
        except _Bad as exc:
            build.drop(peak.code, str(exc))

    reading["gas_m3"], reading["gas_at"] = build.mbus(MBUS_GAS)
    reading["water_m3"], reading["water_at"] = build.mbus(MBUS_WATER)

    for code, (_name, why) in lines.bad.items():
        build.drop(code, why)
    dropped = tuple(sorted(build.dropped))
    return ParsedTelegram(
        reading={key: reading[key] for key in ("serial", "measured_at", *READING_FIELDS)},
        dropped=dropped,
        details=tuple(f"{key}: {build.dropped[key]}" for key in dropped),
    )


def parse_telegram(text: str) -> dict[str, Any]:
    """`parse_telegram_report(text).reading`: the reading alone (the server's telegram endpoint, tests)."""
    return parse_telegram_report(text).reading
