"""The wire contract between the Pi and the server, in one module: reading field names and kinds, the quarter-hour
slot, the oldest time a meter clock may show, the ingest paths and the shape of an ingest error.

The server imports this module (``meters.models``, ``meters.ingest``, ``api``); the edge never imports Django. No
heavy imports here: the uploader uses it without loading dsmr-parser. ``tests/api/test_wire_contract.py`` checks
that both sides keep to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# --- reading fields (docs/design.md, "Data model") ---------------------------------------------------------------

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
# Without these there is no reading: the parser rejects a telegram that lacks one, the server an item.
REQUIRED_FIELDS: tuple[str, ...] = (*REGISTER_FIELDS, *POWER_FIELDS)
# Integer fields and the values a meter sends in them (tariff 1 = day, 2 = night; breaker 0 off, 1 on, 2 ready).
INT_VALUES: Mapping[str, frozenset[int]] = {"tariff": frozenset({1, 2}), "breaker_state": frozenset({0, 1, 2})}
INT_FIELDS = frozenset(INT_VALUES)
# Reading fields that are times (ISO 8601 with an offset on the wire).
TIME_FIELDS: tuple[str, ...] = ("month_peak_at", "gas_at", "water_at")
# Every time an item carries: the slot, the meter clock and the reading's own times.
DATETIME_FIELDS = frozenset({"timestamp", "measured_at", *TIME_FIELDS})
# The rest are decimals (kWh, kW, V, A, m3), never negative.
DECIMAL_FIELDS: tuple[str, ...] = tuple(f for f in READING_FIELDS if f not in INT_FIELDS and f not in TIME_FIELDS)

# A live snapshot (POST LIVE_PATH, one JSON object every ``live.interval`` seconds): what the meter says right now.
# Never stored as a reading; the server keeps the latest per meter in its cache. Registers are optional: with them
# the server works out the running quarter's average for meters that send no 1-0:1.4.0.
LIVE_FIELDS: tuple[str, ...] = (
    "serial",
    "measured_at",
    *POWER_FIELDS,
    *PHASE_FIELDS,
    "tariff",
    "avg_demand_kw",
    "month_peak_kw",
    "month_peak_at",
    *REGISTER_FIELDS,
)
LIVE_REQUIRED_FIELDS: tuple[str, ...] = ("serial", "measured_at", *POWER_FIELDS)

# --- time ---------------------------------------------------------------------------------------------------------

SLOT_SECONDS = 15 * 60
# No Fluvius digital meter existed before 2010: earlier times are factory clocks (year 2000) or the Unix epoch
# (docs/p1.md, pitfall 2). The parser treats such a time as "no value"; the server refuses it.
EARLIEST_READING = datetime(2010, 1, 1, tzinfo=UTC)


def slot_start(moment: datetime) -> datetime:
    """Start (UTC) of the quarter-hour slot holding the aware datetime ``moment``: the reading's ``timestamp``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("slot_start needs an aware datetime")
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


# --- HTTP -----------------------------------------------------------------------------------------------------------

READINGS_PATH = "/api/v1/readings"
TOKEN_PATH = "/api/v1/token/"  # noqa: S105 - a path, not a password
TOKEN_REFRESH_PATH = "/api/v1/token/refresh/"  # noqa: S105 - a path
TELEGRAMS_PATH = "/api/v1/telegrams"
LIVE_PATH = "/api/v1/live"

# Pairing: the OAuth 2.0 Device Authorization Grant (RFC 8628). The Pi asks DEVICE_CODE_PATH for a code, the owner
# approves it on the website, and the Pi polls DEVICE_TOKEN_PATH until it gets its device token, which it then sends
# as "Authorization: Bearer <token>" to READINGS_PATH, TELEGRAMS_PATH and LIVE_PATH (anything else is 403).
DEVICE_CODE_PATH = "/api/v1/device/code"
DEVICE_TOKEN_PATH = "/api/v1/device/token"  # noqa: S105 - a path
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Device tokens start with this, so the server tells them from JWTs without trying to decode them.
DEVICE_TOKEN_PREFIX = "p1d_"  # noqa: S105 - a prefix, not a secret
# The 401 "detail" once the owner revoked the device: the Pi stops uploading, keeps its spool, and asks to be paired.
DEVICE_REVOKED = "device revoked"
# RFC 8628 section 3.5: the "error" of a 400 from DEVICE_TOKEN_PATH while polling.
AUTHORIZATION_PENDING = "authorization_pending"
SLOW_DOWN = "slow_down"
ACCESS_DENIED = "access_denied"
EXPIRED_TOKEN = "expired_token"  # noqa: S105 - an error code

# A 400 from READINGS_PATH that refuses items: {"errors": [{"index": i, "field": name, "message": text}, ...]},
# ``index`` counting from 0 in the posted list, ``field`` one of the names above, "serial" or "non_field_errors".
ERRORS_KEY = "errors"


def error_body(errors: list[tuple[int, str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The 400 body for ``(index, field, message)`` triples."""
    return {ERRORS_KEY: [{"index": index, "field": field, "message": message} for index, field, message in errors]}


def item_errors(body: Any, count: int) -> dict[int, list[dict[str, Any]]]:
    """``{index: [error, ...]}`` from a 400 body of ``count`` posted items; {} when an error cannot be pinned to
    one of them (a request-level ``{"detail": ...}``, a foreign proxy's page): then nothing is guessed."""
    items = body.get(ERRORS_KEY) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return {}
    errors: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            return {}
        errors.setdefault(index, []).append(item)
    return errors
