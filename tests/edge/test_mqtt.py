"""MQTT and Home Assistant discovery from the Pi (issue 19), against real Mosquitto brokers: the system one at
127.0.0.1:1883 (skipped when it is down, unless REQUIRE_MQTT=1) and private ones a test may stop, restart or give TLS.
No broker is mocked. Every test has its own topics (``mqtt_names``) and leaves no retained message behind; waits are
for conditions, never fixed sleeps."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from p1edge import mqtt as mqtt_module
from p1edge.cli import main
from p1edge.config import MqttSettings
from p1edge.crc import HEADER_SINGLE_PHASE, build_telegram
from p1edge.mqtt import MqttPublisher, probe_broker
from p1edge.reader import Reader
from p1edge.simulator import SimulatorOptions, run
from p1edge.spool import Spool

from tests.conftest import wait_for
from tests.edge.mqttbroker import (
    Names,
    PrivateBroker,
    Subscriber,
    clear_retained,
    make_certificates,
    new_names,
    retained,
)
from tests.edge.server import free_port
from tests.edge.telegrams import GAS_AND_WATER, SERIAL, base_lines, without

NOW = datetime(2025, 3, 14, 9, 15, 30, tzinfo=UTC)  # the publisher's wall clock in these tests (status times)
SINGLE_PHASE_ABSENT = ("1-0:41.7.0", "1-0:61.7.0", "1-0:42.7.0", "1-0:62.7.0", "1-0:52.7.0", "1-0:72.7.0")
SINGLE_PHASE_ABSENT += ("1-0:51.7.0", "1-0:71.7.0")
THREE_PHASE_OBJECTS = {
    *(f"energy_{way}_t{n}" for way in ("import", "export") for n in (1, 2)),
    "power_import",
    "power_export",
    *(f"power_{way}_l{n}" for way in ("import", "export") for n in (1, 2, 3)),
    *(f"{what}_l{n}" for what in ("voltage", "current") for n in (1, 2, 3)),
    "tariff",
    "average_demand",
    "month_peak",
}
# What base_lines() + GAS_AND_WATER say, written out from the telegram's text (kW become W for power).
EXPECTED_STATE = {
    "energy_import_t1": 4512.345,
    "energy_import_t2": 3987.654,
    "energy_export_t1": 1234.5,
    "energy_export_t2": 321.25,
    "power_import": 1870,
    "power_export": 0,
    "power_import_l1": 620,
    "power_import_l2": 750,
    "power_import_l3": 500,
    "power_export_l1": 0,
    "power_export_l2": 0,
    "power_export_l3": 0,
    "voltage_l1": 231.2,
    "voltage_l2": 232.0,
    "voltage_l3": 229.8,
    "current_l1": 2.71,
    "current_l2": 3.24,
    "current_l3": 2.18,
    "tariff": "day",
    "average_demand": 1.234,
    "month_peak": 5.678,
    "gas": 1234.567,
    "water": 42.118,
}
EXPECTED_ATTRIBUTES = {
    "month_peak": {"peak_at": "2025-03-03T17:45:00+00:00"},
    "gas": {"measured_at": "2025-03-14T09:10:00+00:00"},
    "water": {"measured_at": "2025-03-14T09:00:00+00:00"},
}

# Home Assistant's sensor integration: the units and state classes it accepts per device class (homeassistant
# .components.sensor.const DEVICE_CLASS_UNITS / DEVICE_CLASS_STATE_CLASSES, for the classes used here).
HA_UNITS = {
    "energy": {"Wh", "kWh", "MWh", "GWh", "MJ", "GJ"},
    "power": {"W", "kW", "MW", "GW"},
    "voltage": {"V", "mV", "kV"},
    "current": {"A", "mA"},
    "gas": {"m³", "ft³", "CCF"},
    "water": {"L", "gal", "m³", "ft³", "CCF"},
}
HA_STATE_CLASSES = {
    "energy": {"total", "total_increasing"},
    "gas": {"total", "total_increasing"},
    "water": {"total", "total_increasing"},
    "power": {"measurement"},
    "voltage": {"measurement"},
    "current": {"measurement"},
}
_VALUE_TEMPLATE = re.compile(r"^\{\{ value_json\.([a-z0-9_]+) \}\}$")
_ATTRIBUTES_TEMPLATE = re.compile(r"^\{\{ \{(.+)\} \| tojson \}\}$")
_ATTRIBUTE = re.compile(r'"(\w+)": value_json\.(\w+)')
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _telegram(second: int = 3, *, lines: list[str] | None = None, header: str | None = None) -> str:
    """A CRC-valid telegram of 2025-03-14 10:15:<second> (meter time), by default three-phase with gas and water."""
    lines = lines if lines is not None else [*base_lines(clock=f"2503141015{second:02d}W"), *GAS_AND_WATER]
    return build_telegram(lines, header=header) if header else build_telegram(lines)


def _measured(second: int) -> str:
    return f"2025-03-14T09:15:{second:02d}+00:00"


def _settings(names: Names, *, port: int = 1883, **overrides) -> MqttSettings:
    values = {
        "host": "127.0.0.1",
        "port": port,
        "client_id": f"p1edge-test-{uuid.uuid4().hex[:10]}",
        "base_topic": names.base_topic,
        "discovery_prefix": names.discovery_prefix,
        "interval": 0.2,
        **overrides,
    }
    return MqttSettings(**values)


@pytest.fixture
def subscriber(mqtt_names):
    sub = Subscriber(mqtt_names.patterns)
    yield sub
    sub.close()


@pytest.fixture
def publishers(mqtt_names):
    """Builds publishers with a short backoff; each is closed (offline, disconnect) before the topics are cleared."""
    built: list[MqttPublisher] = []

    def build(settings: MqttSettings, **kwargs) -> MqttPublisher:
        kwargs = {"min_backoff": 0.05, "max_backoff": 0.5, "now": lambda: NOW, **kwargs}
        publisher = MqttPublisher(settings, **kwargs)
        built.append(publisher)
        return publisher

    yield build
    for publisher in built:
        publisher.close()
    assert not [publisher for publisher in built if publisher.running], "a publisher thread outlived close()"


def _configs(sub: Subscriber, names: Names, serial: str = SERIAL) -> dict[str, dict]:
    """object id -> the discovery config last published for it (an empty retained message deletes one)."""
    node = f"{names.discovery_prefix}/sensor/p1edge_{serial}/"
    found = sub.matching(node, "/config")
    return {topic[len(node) : -len("/config")]: json.loads(m.payload) for topic, m in found.items() if m.payload}


def _wait_configs(sub: Subscriber, names: Names, objects: set[str]) -> dict[str, dict]:
    def complete() -> dict[str, dict] | None:
        configs = _configs(sub, names)
        return configs if set(configs) == objects else None

    return wait_for(complete, message=lambda: f"the configs of {sorted(objects)}: {sorted(_configs(sub, names))}")


def _states(sub: Subscriber, names: Names, serial: str = SERIAL) -> list[dict]:
    return [json.loads(m.payload) for m in sub.on(f"{names.base(serial)}/state")]


def _wait_state(sub: Subscriber, names: Names, second: int, serial: str = SERIAL) -> dict:
    def arrived() -> dict | None:
        states = [s for s in _states(sub, names, serial) if s["measured_at"] == _measured(second)]
        return states[-1] if states else None

    return wait_for(arrived, message=f"the state of the telegram of :{second:02d}")


def assert_home_assistant_accepts(topic: str, config: dict, names: Names) -> None:
    """What Home Assistant's MQTT discovery and sensor integration require of a sensor config."""
    levels = topic.split("/")
    prefix = names.discovery_prefix.split("/")
    assert levels[: len(prefix)] == prefix, topic
    component, node, object_id, config_level = levels[len(prefix) :]
    assert (component, config_level) == ("sensor", "config"), topic
    assert _ID.match(node), topic
    assert _ID.match(object_id), topic
    for key in ("name", "unique_id", "state_topic", "value_template", "availability_topic", "device"):
        assert isinstance(config.get(key), str | dict), (topic, key)
        assert config[key], (topic, key)
    assert not set("+#") & set(config["state_topic"] + config["availability_topic"])
    device = config["device"]
    assert isinstance(device["identifiers"], list), topic
    assert device["identifiers"], topic
    assert {"name", "manufacturer", "model", "serial_number"} <= set(device), topic
    assert _VALUE_TEMPLATE.match(config["value_template"]), config["value_template"]
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    device_class = config["device_class"]
    if device_class == "enum":
        assert config["options"]
        assert all(isinstance(option, str) for option in config["options"])
        assert "unit_of_measurement" not in config, topic
        assert "state_class" not in config, topic
    else:
        assert config["unit_of_measurement"] in HA_UNITS[device_class], topic
        assert config["state_class"] in HA_STATE_CLASSES[device_class], topic
    if "json_attributes_template" in config:
        assert config["json_attributes_topic"] == config["state_topic"]
        assert _ATTRIBUTES_TEMPLATE.match(config["json_attributes_template"]), config["json_attributes_template"]


def _render(template: str, state: dict) -> object:
    """Home Assistant's rendering of our value_template, which reads one key of the state JSON."""
    match = _VALUE_TEMPLATE.match(template)
    assert match, template
    return state[match.group(1)]


def _render_attributes(template: str, state: dict) -> dict:
    match = _ATTRIBUTES_TEMPLATE.match(template)
    assert match, template
    return {name: state[field] for name, field in _ATTRIBUTE.findall(match.group(1))}


# --- discovery and states -------------------------------------------------------------------------------------------


def test_it_announces_one_home_assistant_device_with_configs_home_assistant_accepts(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names))
    publisher.start()
    publisher.offer(_telegram(3))

    expected = THREE_PHASE_OBJECTS | {"gas", "water"}
    configs = _wait_configs(subscriber, mqtt_names, expected)

    node = f"{mqtt_names.discovery_prefix}/sensor/p1edge_{SERIAL}"
    kept = retained(mqtt_names.patterns)  # what Home Assistant finds when it subscribes after the Pi announced
    for object_id, config in configs.items():
        topic = f"{node}/{object_id}/config"
        assert_home_assistant_accepts(topic, config, mqtt_names)
        assert json.loads(kept[topic].payload) == config
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    # one device for the meter: the same identifiers and description on every entity
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1
    device = configs["power_import"]["device"]
    assert device["identifiers"] == [f"p1edge_{SERIAL}"]
    assert (device["manufacturer"], device["model"]) == ("Fluvius", "FLU5\\253769484_A")
    assert device["serial_number"] == SERIAL
    assert device["sw_version"] == "50217"
    base = mqtt_names.base(SERIAL)
    assert {c["state_topic"] for c in configs.values()} == {f"{base}/state"}
    assert {c["availability_topic"] for c in configs.values()} == {f"{base}/availability"}
    # the classes, state classes and units the issue asks for
    for n in (1, 2):
        for way in ("import", "export"):
            config = configs[f"energy_{way}_t{n}"]
            assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
                "energy",
                "total_increasing",
                "kWh",
            )
    for key in ("power_import", "power_export", "power_import_l2", "power_export_l3"):
        assert (configs[key]["device_class"], configs[key]["unit_of_measurement"]) == ("power", "W")
    assert configs["voltage_l1"]["unit_of_measurement"] == "V"
    assert configs["current_l3"]["unit_of_measurement"] == "A"
    assert (configs["tariff"]["device_class"], configs["tariff"]["options"]) == ("enum", ["day", "night"])
    for key in ("average_demand", "month_peak"):
        assert (configs[key]["device_class"], configs[key]["unit_of_measurement"]) == ("power", "kW")
    assert "peak_at" in configs["month_peak"]["json_attributes_template"]
    assert (configs["gas"]["device_class"], configs["gas"]["state_class"], configs["gas"]["unit_of_measurement"]) == (
        "gas",
        "total_increasing",
        "m³",
    )
    assert (configs["water"]["device_class"], configs["water"]["unit_of_measurement"]) == ("water", "m³")
    assert kept[f"{base}/availability"].text == "online"
    assert f"{base}/state" not in kept  # replaced every interval: not kept


def test_it_publishes_states_that_match_the_telegram(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names))
    publisher.start()
    publisher.offer(_telegram(3))

    state = _wait_state(subscriber, mqtt_names, 3)
    configs = _wait_configs(subscriber, mqtt_names, set(EXPECTED_STATE))

    # each entity's value, as Home Assistant renders it from the state message, is what the telegram says
    rendered = {key: _render(config["value_template"], state) for key, config in configs.items()}
    assert rendered == EXPECTED_STATE
    attributes = {
        key: _render_attributes(config["json_attributes_template"], state)
        for key, config in configs.items()
        if "json_attributes_template" in config
    }
    assert attributes == EXPECTED_ATTRIBUTES
    assert (state["serial"], state["measured_at"]) == (SERIAL, _measured(3))


def test_it_announces_only_what_the_meter_sends_and_adds_gas_when_it_appears(mqtt_names, subscriber, publishers):
    single = without(base_lines(clock="250314101503W"), *SINGLE_PHASE_ABSENT)
    publisher = publishers(_settings(mqtt_names))
    publisher.start()
    publisher.offer(_telegram(lines=single, header=HEADER_SINGLE_PHASE))

    state = _wait_state(subscriber, mqtt_names, 3)
    configs = _configs(subscriber, mqtt_names)
    assert {key for key in configs if key.endswith(("_l2", "_l3"))} == set()
    assert {"power_import_l1", "voltage_l1", "current_l1"} <= set(configs)
    assert {"gas", "water"}.isdisjoint(configs)
    assert state["voltage_l2"] is None  # Home Assistant shows "unknown", never an invented value
    assert configs["power_import"]["device"]["model"] == "FLU5\\253770234_A"

    # the gas meter reports for the first time: its sensor is announced with the next state
    gas = [*without(base_lines(clock="250314101504W"), *SINGLE_PHASE_ABSENT), *GAS_AND_WATER[3:]]
    publisher.offer(_telegram(lines=gas, header=HEADER_SINGLE_PHASE))
    assert _wait_state(subscriber, mqtt_names, 4)["gas"] == 1234.567
    assert "gas" in _configs(subscriber, mqtt_names)


class SteppedClock:
    """The publisher's monotonic clock, moved by the test; ``turns()`` counts its reads (each turn of the publisher
    reads it), so a test can wait until the publisher has looked at a moment in time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.reads += 1
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def wait_turns(self, n: int = 20) -> None:
        start = self.reads
        wait_for(lambda: self.reads - start >= n, message="the publisher to look at the clock")


def test_it_publishes_the_latest_telegram_once_per_interval_and_never_repeats_one(mqtt_names, subscriber, publishers):
    clock = SteppedClock()
    publisher = publishers(_settings(mqtt_names, interval=10), clock=clock)
    publisher.start()
    publisher.offer(_telegram(1))
    _wait_state(subscriber, mqtt_names, 1)  # at once on connect, not an interval later

    publisher.offer(_telegram(2))
    publisher.offer(_telegram(3))
    clock.wait_turns()
    assert [s["measured_at"] for s in _states(subscriber, mqtt_names)] == [_measured(1)]  # not due yet
    clock.advance(10)
    _wait_state(subscriber, mqtt_names, 3)  # the latest one; :02 was replaced before it was due

    clock.advance(10)  # due, but no new telegram (a meter that went quiet): nothing
    clock.wait_turns()
    publisher.offer(_telegram(4))
    clock.wait_turns()
    assert [s["measured_at"] for s in _states(subscriber, mqtt_names)] == [_measured(1), _measured(3)]
    clock.advance(10)
    _wait_state(subscriber, mqtt_names, 4)
    assert [s["measured_at"] for s in _states(subscriber, mqtt_names)] == [_measured(n) for n in (1, 3, 4)]
    assert publisher.status()["states"] == 3


def test_it_publishes_the_raw_telegram_when_asked_and_skips_a_corrupt_one(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names, telegram=True))
    publisher.start()
    text = _telegram(3)
    publisher.offer(text)
    topic = f"{mqtt_names.base(SERIAL)}/telegram"
    assert subscriber.wait_last(topic, text).text == text

    corrupt = _telegram(4).replace("(1)", "(2)", 1)  # a bit flip: the CRC no longer matches
    publisher.offer(corrupt)
    publisher.offer(_telegram(5))
    _wait_state(subscriber, mqtt_names, 5)
    assert corrupt not in [m.text for m in subscriber.on(topic)]


def test_it_says_offline_when_it_stops_cleanly(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names))
    publisher.start()
    publisher.offer(_telegram(3))
    availability = f"{mqtt_names.base(SERIAL)}/availability"
    subscriber.wait_last(availability, "online")

    publisher.close()

    subscriber.wait_last(availability, "offline")
    assert retained(mqtt_names.patterns)[availability].text == "offline"
    assert publisher.status()["connected"] is False


def test_it_announces_again_when_home_assistant_comes_online(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names, interval=3600))
    publisher.start()
    publisher.offer(_telegram(3))
    _wait_state(subscriber, mqtt_names, 3)
    config_topic = f"{mqtt_names.discovery_prefix}/sensor/p1edge_{SERIAL}/power_import/config"
    announced = len(subscriber.on(config_topic))

    # Home Assistant's birth message after its restart: configs and a state again, without waiting an hour
    subscriber.client.publish(f"{mqtt_names.discovery_prefix}/status", "online", qos=1)

    wait_for(lambda: len(subscriber.on(config_topic)) > announced, message="the configs again")
    wait_for(lambda: len(_states(subscriber, mqtt_names)) == 2, message="a state again")


def test_it_moves_to_a_new_meter_on_the_port(mqtt_names, subscriber, publishers):
    publisher = publishers(_settings(mqtt_names))
    publisher.start()
    publisher.offer(_telegram(3))
    _wait_state(subscriber, mqtt_names, 3)

    new_serial = "1SAG9999999999"
    replaced = base_lines(clock="250314101504W", serial_hex=new_serial.encode().hex().upper())
    publisher.offer(_telegram(lines=replaced))

    _wait_state(subscriber, mqtt_names, 4, serial=new_serial)
    assert subscriber.wait_last(f"{mqtt_names.base(SERIAL)}/availability", "offline")
    assert subscriber.wait_last(f"{mqtt_names.base(new_serial)}/availability", "online")
    assert _configs(subscriber, mqtt_names, new_serial)["power_import"]["device"]["serial_number"] == new_serial


# --- the last will, a broker that goes away -------------------------------------------------------------------------


def _capture(path: Path, duration: timedelta, start: datetime = datetime(2025, 6, 11, 10, 0, tzinfo=UTC)) -> Path:
    with open(path, "wb") as output:
        run(SimulatorOptions(start=start, duration=duration), output, speed=0)
    return path


def _reader_env(tmp_path: Path, names: Names, **mqtt: str) -> dict[str, str]:
    return {
        "P1EDGE_CONFIG": str(tmp_path / "absent.toml"),
        "P1EDGE_SERIAL_PORT": str(_capture(tmp_path / "p1.txt", timedelta(minutes=2))),
        "P1EDGE_SPOOL_DIR": str(tmp_path / "spool"),
        "P1EDGE_LIVE_INTERVAL": "0",
        "P1EDGE_MQTT_HOST": "127.0.0.1",
        "P1EDGE_MQTT_BASE_TOPIC": names.base_topic,
        "P1EDGE_MQTT_DISCOVERY_PREFIX": names.discovery_prefix,
        "P1EDGE_MQTT_CLIENT_ID": f"p1edge-test-{uuid.uuid4().hex[:10]}",
        "P1EDGE_MQTT_INTERVAL": "1",
        **mqtt,
    }


def test_it_fires_the_last_will_when_the_publisher_process_is_killed(tmp_path, mqtt_names, subscriber):
    env = {k: v for k, v in os.environ.items() if not k.startswith("P1EDGE_")}
    env.update(_reader_env(tmp_path, mqtt_names))
    log = open(tmp_path / "reader.log", "wb")  # the process writes it until it is killed
    process = subprocess.Popen([sys.executable, "-m", "p1edge.cli", "read"], env=env, stdout=log, stderr=log)
    availability = f"{mqtt_names.base(SERIAL)}/availability"
    try:
        subscriber.wait_last(availability, "online", timeout=30)
        wait_for(lambda: _states(subscriber, mqtt_names), message="a state from the reader process")

        process.send_signal(signal.SIGKILL)  # no chance to say goodbye: only the broker can mark it offline
        assert process.wait(10) == -signal.SIGKILL

        subscriber.wait_last(availability, "offline")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    # a Home Assistant that connects later sees the meter as unavailable too
    assert retained(mqtt_names.patterns)[availability].text == "offline"


@pytest.fixture
def private_broker(tmp_path, mqtt_broker):
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = PrivateBroker(directory).start()
    yield broker
    broker.stop()


def test_it_reconnects_and_announces_again_after_the_broker_restarts(private_broker, publishers):
    names = new_names()
    publisher = publishers(_settings(names, port=private_broker.port))
    publisher.start()
    publisher.offer(_telegram(1))
    before = Subscriber(names.patterns, port=private_broker.port)
    try:
        wait_for(lambda: publisher.status()["connected"] and _states(before, names), message="a first state")
    finally:
        before.close()
    changes = publisher.changes

    private_broker.stop()
    wait_for(lambda: not publisher.status()["connected"], message="the publisher to notice the broker is gone")
    assert publisher.changes > changes  # the reader writes its state file at once for `status`
    assert "lost the connection" in publisher.status()["last_error"]
    publisher.offer(_telegram(2))  # the reader carries on; the state due meanwhile is skipped, not queued

    private_broker.start()  # same port, empty: nothing retained survived
    after = Subscriber(names.patterns, port=private_broker.port)
    try:
        wait_for(lambda: publisher.status()["connects"] == 2, message="the reconnection")
        publisher.offer(_telegram(3))
        _wait_state(after, names, 3)
        # the discovery configs and "online" are on the new broker again, retained
        kept = retained(names.patterns, port=private_broker.port)
        assert len([topic for topic in kept if topic.endswith("/config")]) == len(EXPECTED_STATE)
        assert kept[f"{names.base(SERIAL)}/availability"].text == "online"
        assert publisher.status()["connected"] is True
    finally:
        after.close()


def _dead_port() -> int:
    return free_port()  # nothing listens there


class SilentBroker:
    """Accepts TCP connections and never answers: a broker that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_it_keeps_reading_and_spooling_while_the_broker_is_down(
    tmp_path, edge_config, mqtt_names, publishers, monkeypatch, broker
):
    monkeypatch.setattr(mqtt_module, "CONNECT_TIMEOUT", 0.5)
    silent = SilentBroker() if broker == "silent" else None
    port = silent.port if silent else _dead_port()
    capture = _capture(tmp_path / "p1.txt", timedelta(hours=1))
    config = edge_config(serial_port=str(capture), live_interval=0.0)
    spool = Spool(config.spool_dir)
    publisher = publishers(_settings(mqtt_names, port=port), flush_timeout=1.0)
    try:
        reader = Reader(config, spool, publisher=publisher)
        assert reader.run(once=True) == 0
    finally:
        if silent:
            silent.close()

    assert reader.counts["stored"] == 4  # every quarter-hour of the hour, as without MQTT
    assert reader.counts["telegrams"] == 3600
    status = publisher.status()
    assert status["connected"] is False
    assert status["states"] == 0
    expected = "refused the connection" if broker == "refusing" else "did not answer the MQTT CONNECT"
    assert expected in (status["last_error"] or ""), status
    state = json.loads((spool.dir / "reader-state.json").read_text())
    assert state["mqtt"]["last_error"] == status["last_error"]


def test_it_publishes_and_flushes_before_read_once_exits(tmp_path, mqtt_names, subscriber, monkeypatch, capsys):
    for key, value in _reader_env(tmp_path, mqtt_names).items():
        monkeypatch.setenv(key, value)

    assert main(["read", "--once"]) == 0

    # the capture's last telegram (10:01:59 UTC), delivered before the command returned
    base = mqtt_names.base("1SAG3100716957")
    wait_for(lambda: _states(subscriber, mqtt_names), message="the state")
    assert [s["measured_at"] for s in _states(subscriber, mqtt_names)] == ["2025-06-11T10:01:59+00:00"]
    assert len(_configs(subscriber, mqtt_names)) == len(THREE_PHASE_OBJECTS)
    subscriber.wait_last(f"{base}/availability", "offline")  # said goodbye: no will needed

    # and `status` shows the connection the reader last had
    assert main(["status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mqtt:"))
    assert "not connected to mqtt://127.0.0.1:1883" in line
    assert "1 states published" in line
    assert "1SAG3100716957 at 2025-06-11T10:01:59+00:00" in line


def test_status_shows_the_mqtt_connection_and_the_last_publish(
    tmp_path, edge_config, mqtt_names, publishers, capsys, monkeypatch
):
    config = edge_config(live_interval=0.0)
    spool = Spool(config.spool_dir)
    settings = _settings(mqtt_names)
    publisher = publishers(settings)
    reader = Reader(config, spool, publisher=publisher)
    publisher.start()
    reader.handle_bytes(_telegram(3).encode())
    wait_for(lambda: publisher.status()["states"] == 1, message="a state")
    reader.handle_bytes(b"")  # the next read: the connection changed, so the state file is written at once

    monkeypatch.setenv("P1EDGE_SPOOL_DIR", str(config.spool_dir))
    monkeypatch.setenv("P1EDGE_CONFIG", str(tmp_path / "absent.toml"))
    assert main(["status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mqtt:"))
    assert line == (
        f"mqtt:             connected to mqtt://127.0.0.1:1883 since {NOW.isoformat()} as {settings.client_id}; "
        f"1 states published (last {NOW.isoformat()}: {SERIAL} at {_measured(3)}), 23 sensors announced, "
        f"0 states skipped while disconnected"
    )


def test_status_says_mqtt_is_off_without_a_host(tmp_path, capsys, monkeypatch):
    (tmp_path / "spool").mkdir()
    monkeypatch.setenv("P1EDGE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("P1EDGE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("P1EDGE_MQTT_HOST", raising=False)
    assert main(["status"]) == 0
    assert "mqtt:             off (mqtt.host is not set)" in capsys.readouterr().out


# --- TLS and credentials, at connection time ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_broker(tmp_path, mqtt_broker, certificates):
    directory = tmp_path / "tls-broker"
    directory.mkdir()
    broker = PrivateBroker(directory, tls=(certificates["server.pem"], certificates["server.key"])).start()
    yield broker
    broker.stop()


def test_it_publishes_over_tls_with_a_private_ca(tls_broker, certificates, publishers):
    names = new_names()
    settings = _settings(names, port=tls_broker.port, tls=True, ca_file=certificates["ca.pem"])
    assert probe_broker(settings) is None
    publisher = publishers(settings)
    publisher.start()
    publisher.offer(_telegram(3))
    wait_for(lambda: publisher.status()["states"] == 1, message=lambda: f"a state over TLS: {publisher.status()}")
    assert publisher.status()["broker"] == f"mqtts://127.0.0.1:{tls_broker.port}"


@pytest.mark.parametrize(
    ("ca", "message"),
    [
        (None, "is not trusted (unable to get local issuer certificate): set mqtt.ca_file to the CA that signed it"),
        ("other-ca.pem", "is not trusted (unable to get local issuer certificate): check mqtt.ca_file"),
    ],
)
def test_it_names_a_broker_certificate_it_does_not_trust(tls_broker, certificates, publishers, ca, message):
    settings = _settings(new_names(), port=tls_broker.port, tls=True, ca_file=certificates[ca] if ca else None)
    assert probe_broker(settings) == f"TLS: the certificate of 127.0.0.1:{tls_broker.port} {message}"
    publisher = publishers(settings)
    publisher.offer(_telegram(3))
    publisher.start()
    wait_for(lambda: message in (publisher.status()["last_error"] or ""), message="the TLS error in the status")


def test_it_names_tls_spoken_to_a_plain_port_and_plain_to_a_tls_port(mqtt_broker, tls_broker, certificates):
    tls_to_plain = probe_broker(_settings(new_names(), port=1883, tls=True))
    assert tls_to_plain.startswith("TLS handshake with 127.0.0.1:1883 failed (")
    assert tls_to_plain.endswith("does the broker speak TLS there (mqtt.port, mqtt.tls)?")
    plain_to_tls = probe_broker(_settings(new_names(), port=tls_broker.port))
    assert plain_to_tls == (
        f"127.0.0.1:{tls_broker.port} closed the connection before accepting it (does it expect TLS? mqtt.tls)"
    )


def test_it_names_credentials_the_broker_refuses(tmp_path, mqtt_broker, publishers):
    directory = tmp_path / "auth-broker"
    directory.mkdir()
    passwords = directory / "passwords"
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "pi", "right-password"], check=True)
    broker = PrivateBroker(directory, extra=f"password_file {passwords}\n")
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    try:
        names = new_names()
        good = _settings(names, port=broker.port, username="pi", password="right-password")
        assert probe_broker(good) is None
        wrong = _settings(names, port=broker.port, username="pi", password="wrong")
        assert probe_broker(wrong) == (
            f"127.0.0.1:{broker.port} refused the connection: Not authorized (check mqtt.username and mqtt.password)"
        )
        publisher = publishers(wrong)
        publisher.offer(_telegram(3))
        publisher.start()
        wait_for(lambda: "Not authorized" in (publisher.status()["last_error"] or ""), message="the refusal")
        assert publisher.status()["connected"] is False
    finally:
        broker.stop()


def test_check_config_tries_the_broker(tmp_path, mqtt_names, capsys, monkeypatch):
    for key, value in _reader_env(tmp_path, mqtt_names).items():
        monkeypatch.setenv(key, value)
    assert main(["check-config", "--need", "serial.port", "spool.dir"]) == 0
    out = capsys.readouterr().out
    assert "mqtt.host: mqtt://127.0.0.1:1883 accepts the connection" in out

    monkeypatch.setenv("P1EDGE_MQTT_PORT", str(_dead_port()))
    assert main(["check-config", "--need", "serial.port", "spool.dir"]) == 1
    assert "error: mqtt.host: 127.0.0.1:" in capsys.readouterr().out


def test_the_fixtures_leave_no_retained_message_behind(mqtt_broker):
    names = new_names()
    publisher = MqttPublisher(_settings(names), now=lambda: NOW)
    publisher.start()
    publisher.offer(_telegram(3))
    watcher = Subscriber(names.patterns)
    try:
        wait_for(lambda: _configs(watcher, names), message="the configs")
    finally:
        publisher.close()
        watcher.close()
    assert retained(names.patterns)
    clear_retained(names.patterns)
    assert retained(names.patterns) == {}
