"""Plain builders of test input shared by the suites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# The serial of alice's meter (the ``alice_meter`` fixture): a decoded equipment id (0-0:96.1.1) as stored.
ALICE_SERIAL = "1SAG1100000292"


def reading_item(serial: str, timestamp: datetime | str, **overrides: Any) -> dict[str, Any]:
    """A valid three-phase reading dict with the docs/design.md field names; ``overrides`` replace or add keys."""
    item: dict[str, Any] = {
        "serial": serial,
        "timestamp": timestamp,
        "import_t1_kwh": "1234.567",
        "import_t2_kwh": "2345.678",
        "export_t1_kwh": "345.678",
        "export_t2_kwh": "45.678",
        "tariff": 1,
        "power_import_kw": "0.512",
        "power_export_kw": "0.000",
        "l1_import_kw": "0.200",
        "l2_import_kw": "0.150",
        "l3_import_kw": "0.162",
        "l1_voltage_v": "231.4",
        "l2_voltage_v": "229.8",
        "l3_voltage_v": "230.6",
        "l1_current_a": "1.20",
        "l2_current_a": "0.80",
        "l3_current_a": "0.90",
    }
    item.update(overrides)
    return item
