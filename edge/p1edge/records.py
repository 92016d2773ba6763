"""Spool record format: one JSON object per line, the API's field names, with an integrity check.

A line is the reading's JSON object (Decimals as strings, datetimes ISO 8601 with offset, `timestamp` = slot
start, None kept as null so nothing is invented) with one extra last key `"_crc"`: the CRC-32 of the JSON text
before it. A line torn by power loss (no newline, or a CRC that does not match) is detected by decode_record.
The JSON sent to /api/v1/readings is the decoded record without `_crc`.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from p1edge.wire import DATETIME_FIELDS, INT_FIELDS, READING_FIELDS

RECORD_KEYS = ("serial", "timestamp", "measured_at", *READING_FIELDS)
_CRC_KEY = ',"_crc":"'


class RecordError(ValueError):
    """A spool line that is torn or corrupt."""


def wire_value(value: Any) -> Any:
    """A reading value as JSON carries it: a Decimal as its string, an aware datetime ISO 8601 with its offset."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a reading")
        return value.isoformat()
    return value


def to_wire(reading: dict[str, Any]) -> dict[str, Any]:
    """Reading dict (Decimal/datetime values) -> JSON-ready dict with the record keys, in order."""
    missing = [key for key in ("serial", "timestamp", "measured_at") if reading.get(key) is None]
    if missing:
        raise ValueError("reading lacks " + ", ".join(missing))
    return {key: wire_value(reading.get(key)) for key in RECORD_KEYS}


def from_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """The inverse of to_wire: typed values back (Decimal, aware datetime, int)."""
    reading: dict[str, Any] = {}
    for key in RECORD_KEYS:
        value = wire.get(key)
        if value is None or key == "serial":
            reading[key] = value
        elif key in DATETIME_FIELDS:
            reading[key] = datetime.fromisoformat(value)
        elif key in INT_FIELDS:
            reading[key] = int(value)
        else:
            reading[key] = Decimal(value)
    return reading


def encode_wire(wire: dict[str, Any]) -> bytes:
    body = json.dumps(wire, separators=(",", ":"), ensure_ascii=True)
    crc = zlib.crc32(body.encode("ascii"))
    return f'{body[:-1]}{_CRC_KEY}{crc:08x}"}}\n'.encode("ascii")


def encode_record(reading: dict[str, Any]) -> bytes:
    """One spool line (ending in LF) for a reading dict."""
    return encode_wire(to_wire(reading))


def decode_record(line: bytes) -> dict[str, Any]:
    """One spool line -> the wire dict; RecordError when torn (no LF) or corrupt (CRC/JSON)."""
    if not line.endswith(b"\n"):
        raise RecordError("torn record (no line end)")
    text = line[:-1].decode("ascii", errors="replace")
    head, sep, tail = text.rpartition(_CRC_KEY)
    if not sep or len(tail) != 10 or not tail.endswith('"}'):
        raise RecordError("record without checksum")
    body = head + "}"
    try:
        expected = int(tail[:8], 16)
    except ValueError:
        raise RecordError("record checksum is not hex") from None
    if zlib.crc32(body.encode("ascii")) != expected:
        raise RecordError("record checksum mismatch")
    try:
        wire = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RecordError(f"record is not JSON: {exc}") from None
    if not isinstance(wire, dict):
        raise RecordError("record is not a JSON object")
    return wire
