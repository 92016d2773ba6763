from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from p1edge.config import Config
from p1edge.spool import Spool


def make_reading(index: int, serial: str = "1SAG3100716957") -> dict:
    """A minimal valid reading for slot number `index` (spool and uploader tests)."""
    from decimal import Decimal

    slot = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * index)
    reading = {
        "serial": serial,
        "timestamp": slot,
        "measured_at": slot + timedelta(seconds=1),
        "import_t1_kwh": Decimal(1000 + index) / 10,
        "import_t2_kwh": Decimal("50.000"),
        "export_t1_kwh": Decimal("1.000"),
        "export_t2_kwh": Decimal("0.500"),
        "power_import_kw": Decimal("0.420"),
        "power_export_kw": Decimal("0.000"),
        "tariff": 1,
    }
    return reading


@pytest.fixture
def spool(tmp_path) -> Spool:
    return Spool(tmp_path / "spool")


@pytest.fixture
def edge_config(tmp_path):
    def build(**overrides) -> Config:
        values = {
            "serial_port": str(tmp_path / "p1.txt"),
            "spool_dir": tmp_path / "spool",
            "api_url": "http://127.0.0.1:9",
            "api_username": "pi",
            "api_password": "secret-pw",
            "api_timeout": 5.0,
        }
        values.update(overrides)
        return Config(**values)

    return build


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """The real Mosquitto at 127.0.0.1:1883 (`.ci/run` starts it); skipped when it does not answer, unless
    REQUIRE_MQTT=1 (CI), where that fails."""
    import os

    from tests.edge.mqttbroker import SYSTEM_HOST, SYSTEM_PORT, reachable

    if not reachable(SYSTEM_HOST, SYSTEM_PORT):
        if os.environ.get("REQUIRE_MQTT") == "1":
            pytest.fail(f"REQUIRE_MQTT=1 but no MQTT broker answers at {SYSTEM_HOST}:{SYSTEM_PORT}")
        pytest.skip(f"no MQTT broker at {SYSTEM_HOST}:{SYSTEM_PORT}; start mosquitto (or set REQUIRE_MQTT=1 to fail)")
    return SYSTEM_HOST, SYSTEM_PORT


@pytest.fixture
def mqtt_names(mqtt_broker):
    """This test's own topics on the system broker; the retained messages it leaves there are cleared after it."""
    from tests.edge.mqttbroker import clear_retained, new_names

    names = new_names()
    yield names
    clear_retained(names.patterns)
