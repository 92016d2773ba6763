"""Reading field names shared by the parser, the spool records and the API JSON (no heavy imports here:
the uploader uses them without loading dsmr-parser)."""

from __future__ import annotations

# The reading fields of shared DESIGN.md, in the same order as meters.models.READING_FIELDS (the edge
# never imports Django, so the tuple is repeated here; a test compares both).
READING_FIELDS: tuple[str, ...] = (
    "import_t1_kwh",
    "import_t2_kwh",
    "export_t1_kwh",
    "export_t2_kwh",
    "tariff",
    "power_import_kw",
    "power_export_kw",
    "l1_import_kw",
    "l2_import_kw",
    "l3_import_kw",
    "l1_export_kw",
    "l2_export_kw",
    "l3_export_kw",
    "l1_voltage_v",
    "l2_voltage_v",
    "l3_voltage_v",
    "l1_current_a",
    "l2_current_a",
    "l3_current_a",
    "breaker_state",
    "avg_demand_kw",
    "month_peak_kw",
    "month_peak_at",
    "gas_m3",
    "gas_at",
    "water_m3",
    "water_at",
)
DATETIME_FIELDS = frozenset({"measured_at", "timestamp", "month_peak_at", "gas_at", "water_at"})
INT_FIELDS = frozenset({"tariff", "breaker_state"})
