"""Reading field names shared by the parser, the spool records and the API JSON (no heavy imports here:
the uploader uses them without loading dsmr-parser)."""

from __future__ import annotations

# The reading fields of shared DESIGN.md: the one definition, used by the parser, the spool records, the server's
# model, API and CSV (the server may import the edge package; the edge never imports Django).
REGISTER_FIELDS: tuple[str, ...] = ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh")
POWER_FIELDS: tuple[str, ...] = ("power_import_kw", "power_export_kw")
PHASE_FIELDS: tuple[str, ...] = (
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
)
READING_FIELDS: tuple[str, ...] = (
    *REGISTER_FIELDS,
    "tariff",
    *POWER_FIELDS,
    *PHASE_FIELDS,
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
