"""The student prototype's reading JSON (``/api-auth/setData`` and ``/api-auth/getData/<id>``).

Devices in the field still send it, so this module is the one place that knows its field names and
formats. It only translates: validation (ranges, required fields, write rights) stays in
``meters.ingest.ingest_readings``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from meters.ingest import is_plain_number
from meters.models import Reading

# Prototype key -> p1edge.wire field name (in the order of the prototype's reader).
PROTOTYPE_TO_FIELD: dict[str, str] = {
    "tijdstip": "timestamp",
    "switch": "breaker_state",
    "serialmeter": "serial",
    "currentrate": "tariff",
    "totaldayconsumption": "import_t1_kwh",
    "totalnightconsumption": "import_t2_kwh",
    "totaldayproduction": "export_t1_kwh",
    "totalnightproduction": "export_t2_kwh",
    "l1consumption": "l1_import_kw",
    "l2consumption": "l2_import_kw",
    "l3consumption": "l3_import_kw",
    "currentconsumption": "power_import_kw",
    "l1production": "l1_export_kw",
    "l2production": "l2_export_kw",
    "l3production": "l3_export_kw",
    "currentproduction": "power_export_kw",
    "l1voltage": "l1_voltage_v",
    "l2voltage": "l2_voltage_v",
    "l3voltage": "l3_voltage_v",
    "l1current": "l1_current_a",
    "l2current": "l2_current_a",
    "l3current": "l3_current_a",
}
FIELD_TO_PROTOTYPE: dict[str, str] = {field: key for key, field in PROTOTYPE_TO_FIELD.items()}

# The prototype's reader wrote the meter clock as "20" + YYMMDDhhmmss, dropping the S/W (summer/winter) letter,
# which makes the repeated autumn hour ambiguous; a device that keeps the letter gets the exact offset.
_COMPACT_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW]?)$")
_DST_OFFSET = {"S": "+02:00", "W": "+01:00", "": ""}
# Integer fields that the prototype's reader sent as str(float) ("1.0") or zero-padded ("0001").
_INTEGER_FIELDS = frozenset({"breaker_state", "tariff"})


def _normalise_time(value: Any) -> Any:
    """``YYYYMMDDhhmmss[S|W]`` -> ISO 8601; without the letter it stays naive (the service reads Europe/Brussels)."""
    if isinstance(value, str):
        match = _COMPACT_TIME.match(value.strip())
        if match:
            year, month, day, hour, minute, second, dst = match.groups()
            return f"{year}-{month}-{day} {hour}:{minute}:{second}{_DST_OFFSET[dst]}"
    return value


def _normalise_integer(value: Any) -> Any:
    """``"0001"`` -> 1 and ``"1.0"`` -> 1; anything else is passed on for the service to judge.

    Only spellings the service itself accepts as numbers are rewritten: a full-width ``"0001"``, ``"0_1"`` or ``"-0"``
    would become a valid 1 or 0 here (``Decimal`` reads them) and so slip past the service's rule.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    if not is_plain_number(text):
        return value
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return value
    # adjusted() < 6 keeps int() away from "1e999999", which would build a million-digit integer.
    if number.is_finite() and not number.is_signed() and number.adjusted() < 6 and number == number.to_integral_value():
        return int(number)
    return value


def item_from_prototype(data: Mapping[str, Any]) -> dict[str, Any]:
    """Translate one prototype JSON object into an ingest item; unknown keys (e.g. "Gas consumption") are dropped."""
    item: dict[str, Any] = {}
    for key, field in PROTOTYPE_TO_FIELD.items():
        if key not in data:
            continue
        value = data[key]
        if field == "timestamp":
            value = _normalise_time(value)
        elif field in _INTEGER_FIELDS:
            value = _normalise_integer(value)
        item[field] = value
    return item


def prototype_field(field: str) -> str:
    """The prototype's name for an ingest error field (``non_field_errors`` and unknown names unchanged)."""
    return FIELD_TO_PROTOTYPE.get(field, field)


def reading_to_prototype(reading: Reading) -> dict[str, Any]:
    """One stored reading in the prototype's shape: its id plus the prototype keys, numbers as JSON numbers."""
    data: dict[str, Any] = {"id": reading.pk}
    for key, field in PROTOTYPE_TO_FIELD.items():
        if field == "serial":
            value: Any = reading.meter.serial
        elif field == "timestamp":
            value = timezone.localtime(reading.timestamp).isoformat()
        else:
            value = getattr(reading, field)
            if isinstance(value, Decimal):
                value = float(value)
        data[key] = value
    return data
