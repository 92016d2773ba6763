"""Home Assistant MQTT discovery (issue 19): what the Pi publishes about a meter, as plain data, no I/O.

One Home Assistant device per meter (its serial), one sensor entity per value the meter sends, all fed by one JSON
state message per meter (``<base>/state``) through ``value_template``; an availability topic (``<base>/availability``,
``online`` / ``offline``, the connection's last will) marks every entity unavailable when the publisher is gone. The
discovery configs (``<prefix>/sensor/<node>/<object>/config``, retained) follow Home Assistant's MQTT sensor schema:
``device_class``, ``state_class`` and unit in the combinations its sensor integration accepts (energy registers
``energy`` / ``total_increasing`` / kWh, so they can be picked in the Energy dashboard; gas ``gas`` / m³).
``p1edge.mqtt`` sends them; this module only builds topics and payloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from p1edge import __version__

AVAILABLE, NOT_AVAILABLE = "online", "offline"
# Home Assistant publishes this on <prefix>/status when it (re)starts: configs and state are sent again then.
HA_STATUS_TOPIC = "status"
HA_ONLINE = "online"
# The meter's own names for the manufacturer flag of the telegram header (/FLU5\...): IEC 62056-21 flag ids.
MANUFACTURERS: Mapping[str, str] = {
    "FLU": "Fluvius",
    "SAG": "Sagemcom",
    "ISK": "Iskra",
    "KFM": "Kaifa",
    "LGF": "Landis+Gyr",
    "LGZ": "Landis+Gyr",
    "XMX": "Xemex",
    "KAM": "Kamstrup",
    "ELL": "Elster",
}
_HEADER = re.compile(r"/([A-Za-z]{3})(\d)([^\r\n]*)")
_VERSION = re.compile(r"^0-0:96\.1\.4\(([^)\r\n]{1,32})\)", re.MULTILINE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
TARIFFS: Mapping[int, str] = {1: "day", 2: "night"}  # 0-0:96.14.0: 1 = day (normal), 2 = night and weekend (low)
_KW_TO_W = Decimal(1000)


@dataclass(frozen=True)
class Sensor:
    """One Home Assistant sensor: ``key`` is its object id and its name in the state JSON, ``field`` the reading
    field it shows (times ``scale`` when its unit differs from the reading's)."""

    key: str
    name: str
    field: str
    device_class: str | None
    state_class: str | None
    unit: str | None
    scale: Decimal | None = None
    options: tuple[str, ...] = ()  # an enum sensor's possible states
    # (attribute name, reading field): a time shown as an attribute, under the field's name in the state JSON
    attributes: tuple[tuple[str, str], ...] = ()
    precision: int | None = None  # Home Assistant's suggested_display_precision


def _energy(key: str, name: str, field: str) -> Sensor:
    return Sensor(key, name, field, "energy", "total_increasing", "kWh", precision=3)


def _power_w(key: str, name: str, field: str) -> Sensor:
    return Sensor(key, name, field, "power", "measurement", "W", scale=_KW_TO_W, precision=0)


def _phase(n: int, what: str, device_class: str, unit: str, field: str) -> Sensor:
    return Sensor(f"{what}_l{n}", f"{what.capitalize()} L{n}", field, device_class, "measurement", unit)


SENSORS: tuple[Sensor, ...] = (
    _energy("energy_import_t1", "Energy import tariff 1 (day)", "import_t1_kwh"),
    _energy("energy_import_t2", "Energy import tariff 2 (night)", "import_t2_kwh"),
    _energy("energy_export_t1", "Energy export tariff 1 (day)", "export_t1_kwh"),
    _energy("energy_export_t2", "Energy export tariff 2 (night)", "export_t2_kwh"),
    _power_w("power_import", "Power import", "power_import_kw"),
    _power_w("power_export", "Power export", "power_export_kw"),
    *(_power_w(f"power_import_l{n}", f"Power import L{n}", f"l{n}_import_kw") for n in (1, 2, 3)),
    *(_power_w(f"power_export_l{n}", f"Power export L{n}", f"l{n}_export_kw") for n in (1, 2, 3)),
    *(_phase(n, "voltage", "voltage", "V", f"l{n}_voltage_v") for n in (1, 2, 3)),
    *(_phase(n, "current", "current", "A", f"l{n}_current_a") for n in (1, 2, 3)),
    Sensor("tariff", "Tariff", "tariff", "enum", None, None, options=tuple(TARIFFS.values())),
    Sensor("average_demand", "Average demand this quarter-hour (1.4.0)", "avg_demand_kw", "power", "measurement", "kW"),
    Sensor(
        "month_peak",
        "Capacity peak this month (1.6.0)",
        "month_peak_kw",
        "power",
        "measurement",
        "kW",
        attributes=(("peak_at", "month_peak_at"),),
    ),
    Sensor("gas", "Gas", "gas_m3", "gas", "total_increasing", "m³", attributes=(("measured_at", "gas_at"),)),
    Sensor("water", "Water", "water_m3", "water", "total_increasing", "m³", attributes=(("measured_at", "water_at"),)),
)
SENSOR_KEYS = frozenset(sensor.key for sensor in SENSORS)


@dataclass(frozen=True)
class MeterIdentity:
    """The Home Assistant device of one meter: serial (the equipment id) and what its telegram header says."""

    serial: str
    manufacturer: str
    model: str
    sw_version: str | None = None


def meter_identity(frame: str, serial: str) -> MeterIdentity:
    """The device of the meter that sent ``frame`` (its header ``/FLU5\\253769484_A`` names the manufacturer and
    identifies the model; ``0-0:96.1.4`` is its version). A frame without a header still gets a device."""
    header = _HEADER.search(frame)
    if header is None:
        return MeterIdentity(serial=serial, manufacturer="unknown", model="P1 meter")
    flag = header.group(1)
    version = _VERSION.search(frame)
    return MeterIdentity(
        serial=serial,
        manufacturer=MANUFACTURERS.get(flag.upper(), flag),
        model=f"{flag}{header.group(2)}{header.group(3).strip()}"[:64],
        sw_version=version.group(1) if version else None,
    )


def object_id(text: str) -> str:
    """``text`` as a discovery topic level Home Assistant accepts for node and object ids ([a-zA-Z0-9_-])."""
    return _ID_UNSAFE.sub("_", text) or "_"


@dataclass(frozen=True)
class Topics:
    """Every topic of one meter."""

    base: str
    discovery_prefix: str
    node: str

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def telegram(self) -> str:
        return f"{self.base}/telegram"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/{HA_STATUS_TOPIC}"

    def config(self, sensor: Sensor) -> str:
        return f"{self.discovery_prefix}/sensor/{self.node}/{sensor.key}/config"


def meter_topics(base_topic: str, discovery_prefix: str, serial: str, placeholder: str = "{serial}") -> Topics:
    """The topics of the meter ``serial``: ``placeholder`` in the base topic becomes its serial (as a safe level)."""
    safe = object_id(serial)
    return Topics(base=base_topic.replace(placeholder, safe), discovery_prefix=discovery_prefix, node=f"p1edge_{safe}")


def present_sensors(reading: Mapping[str, Any]) -> tuple[Sensor, ...]:
    """The sensors of the values this telegram has: a single-phase meter gets no L2/L3, gas only with a gas meter."""
    return tuple(sensor for sensor in SENSORS if reading.get(sensor.field) is not None)


def device(identity: MeterIdentity) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "identifiers": [f"p1edge_{object_id(identity.serial)}"],
        "name": f"P1 meter {identity.serial}",
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "serial_number": identity.serial,
    }
    if identity.sw_version:
        payload["sw_version"] = identity.sw_version
    return payload


def discovery_config(sensor: Sensor, identity: MeterIdentity, topics: Topics) -> dict[str, Any]:
    """The retained config Home Assistant reads from ``topics.config(sensor)``."""
    config: dict[str, Any] = {
        "name": sensor.name,
        "unique_id": f"{topics.node}_{sensor.key}",
        "state_topic": topics.state,
        "value_template": f"{{{{ value_json.{sensor.key} }}}}",
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "device_class": sensor.device_class,
        "device": device(identity),
        "origin": {"name": "p1edge", "sw_version": __version__},
    }
    if sensor.state_class is not None:
        config["state_class"] = sensor.state_class
    if sensor.unit is not None:
        config["unit_of_measurement"] = sensor.unit
    if sensor.options:
        config["options"] = list(sensor.options)
    if sensor.precision is not None:
        config["suggested_display_precision"] = sensor.precision
    if sensor.attributes:
        pairs = ", ".join(f'"{name}": value_json.{field}' for name, field in sensor.attributes)
        config["json_attributes_topic"] = topics.state
        config["json_attributes_template"] = f"{{{{ {{{pairs}}} | tojson }}}}"
    return config


def discovery_messages(
    identity: MeterIdentity, topics: Topics, sensors: Iterable[Sensor]
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of each sensor's retained discovery config."""
    return [(topics.config(sensor), discovery_config(sensor, identity, topics)) for sensor in sensors]


def _number(value: Decimal, scale: Decimal | None) -> int | float:
    """A JSON number with the meter's digits: Decimal("0.620") kW -> 620 W, Decimal("4512.345") -> 4512.345 (the
    shortest float repr of a value with this few digits is its decimal text, so nothing is invented)."""
    scaled = value * scale if scale is not None else value
    return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)


def _value(sensor: Sensor, value: Any) -> Any:
    if value is None:
        return None  # Home Assistant shows "unknown" for a template that renders None
    if sensor.options:
        return TARIFFS.get(value)
    if isinstance(value, Decimal):
        return _number(value, sensor.scale)
    return value


def _time(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def state_payload(reading: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON state of one telegram: every sensor's value (null when the meter did not send it, so an entity
    announced earlier shows "unknown" rather than an old value), its attributes and the meter's clock."""
    state: dict[str, Any] = {"serial": reading.get("serial"), "measured_at": _time(reading.get("measured_at"))}
    for sensor in SENSORS:
        state[sensor.key] = _value(sensor, reading.get(sensor.field))
        for _name, field in sensor.attributes:
            state[field] = _time(reading.get(field))
    return state
