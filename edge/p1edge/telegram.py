"""Parse one Fluvius P1 telegram into a reading dict (the DESIGN.md field names).

dsmr-parser (`BELGIUM_FLUVIUS`) does the line parsing and the CRC check. What it leaves to us, verified by
experiment against dsmr-parser 1.11.2:

- The equipment id (0-0:96.1.1) comes back as raw hex; we decode it to ASCII.
- Placeholder timestamps: `632525252525W` already parses to None, but the factory clock (year 2000) and
  `700101010000W` parse to real datetimes, so any time before `_NO_DATE_BEFORE` is treated as "no value".
- An M-Bus value whose capture time is a placeholder comes back as a Decimal (unit None for
  `(632525252525W)(00000.000)`); a value captured "never" is no value, so both value and time become None.
- M-Bus devices are grouped per channel (`MBUS_DEVICES`); the flat `MBUS_METER_READING` attribute is only
  the last channel, so gas and water are found by device type (0-n:24.1.0: 3 gas, 7 water) on any channel.
- A CRC of fewer than 4 hex digits is accepted by dsmr-parser when its value matches (it reads 1 to 4
  upper-case digits after `!`), so nothing to work around there.
- Integer amps (`002*A`, old firmware) become Decimal("2"); 98.1.0 with 0 or 13 entries parses to a list
  (we do not store it); unknown OBIS lines are ignored; a malformed known line is logged by dsmr-parser and
  skipped, so a missing required register is reported here.
"""

from __future__ import annotations

import binascii
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from p1edge.fields import READING_FIELDS

logger = logging.getLogger(__name__)


# dsmr-parser attribute name -> reading field, for the plain one-value lines.
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
_REQUIRED = ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "power_import_kw", "power_export_kw")

MBUS_GAS = 3
MBUS_WATER = 7

# No Fluvius digital meter existed before this; earlier dates are factory clocks (2000) or the Unix epoch.
_NO_DATE_BEFORE = datetime(2010, 1, 1, tzinfo=UTC)

_PARSER = TelegramParser(telegram_specifications.BELGIUM_FLUVIUS, apply_checksum_validation=True)


class TelegramError(ValueError):
    """A telegram that cannot become a reading; `reason` says why (logged and counted by the reader)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _date(value: Any) -> datetime | None:
    if not isinstance(value, datetime) or value < _NO_DATE_BEFORE:
        return None
    return value.astimezone(UTC)


def _value(telegram: Any, attribute: str) -> Any:
    obj = getattr(telegram, attribute, None)
    return None if obj is None else obj.value


def _decode_serial(raw: str | None) -> str:
    if not raw:
        raise TelegramError("no equipment id (0-0:96.1.1)")
    try:
        serial = binascii.unhexlify(raw).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TelegramError(f"equipment id {raw!r} is not hex-encoded ASCII") from None
    if not serial.isprintable() or not serial.strip():
        raise TelegramError(f"equipment id {raw!r} does not decode to printable text")
    return serial.strip()


def _mbus_reading(telegram: Any, device_type: int) -> tuple[Decimal | None, datetime | None]:
    """The first channel of `device_type` with a real capture time; placeholders give (None, None)."""
    for device in getattr(telegram, "MBUS_DEVICES", []):
        kind = getattr(device, "MBUS_DEVICE_TYPE", None)
        reading = getattr(device, "MBUS_METER_READING", None)
        if kind is None or kind.value != device_type or reading is None:
            continue
        at = _date(reading.datetime)
        if at is not None and isinstance(reading.value, Decimal):
            return reading.value, at
    return None, None


def parse_telegram(text: str) -> dict[str, Any]:
    """One framed telegram (`/` ... `!CRC` CRLF) -> reading dict.

    Keys: `serial`, `measured_at` (meter clock, aware UTC) and every name in READING_FIELDS (Decimal, int,
    aware UTC datetime, or None when the meter did not send it or sent a placeholder).
    Raises TelegramError on a CRC mismatch, an unparsable telegram, no equipment id, no valid meter clock
    or a missing register.
    """
    try:
        telegram = _PARSER.parse(text)
    except InvalidChecksumError as exc:
        raise TelegramError(f"CRC mismatch: {exc}") from None
    except ParseError as exc:
        raise TelegramError(f"unparsable telegram: {exc}") from None
    except ValueError as exc:  # e.g. a non-hex CRC field
        raise TelegramError(f"unparsable telegram: {exc}") from None

    serial = _decode_serial(_value(telegram, "BELGIUM_EQUIPMENT_IDENTIFIER"))
    measured_at = _date(_value(telegram, "P1_MESSAGE_TIMESTAMP"))
    if measured_at is None:
        raise TelegramError("no valid meter clock (0-0:1.0.0)")

    reading: dict[str, Any] = {"serial": serial, "measured_at": measured_at}
    for field, (attribute, _obis) in _SIMPLE.items():
        value = _value(telegram, attribute)
        reading[field] = value if isinstance(value, Decimal) else None
    missing = [obis for field, (_a, obis) in _SIMPLE.items() if field in _REQUIRED and reading[field] is None]
    if missing:
        raise TelegramError("missing " + ", ".join(missing))

    tariff = _value(telegram, "ELECTRICITY_ACTIVE_TARIFF")
    reading["tariff"] = int(tariff) if isinstance(tariff, str) and tariff.isdigit() and int(tariff) in (1, 2) else None
    breaker = _value(telegram, "ACTUAL_SWITCH_POSITION")
    reading["breaker_state"] = breaker if isinstance(breaker, int) else None

    peak = getattr(telegram, "BELGIUM_MAXIMUM_DEMAND_MONTH", None)
    peak_at = _date(peak.datetime) if peak is not None else None
    reading["month_peak_at"] = peak_at
    reading["month_peak_kw"] = peak.value if peak_at is not None and isinstance(peak.value, Decimal) else None

    reading["gas_m3"], reading["gas_at"] = _mbus_reading(telegram, MBUS_GAS)
    reading["water_m3"], reading["water_at"] = _mbus_reading(telegram, MBUS_WATER)
    return {key: reading[key] for key in ("serial", "measured_at", *READING_FIELDS)}
