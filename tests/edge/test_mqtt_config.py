"""The [mqtt] section (issue 19): off by default, every key in the file or the environment, and a wrong value named
with its key and the expected form, TLS settings included. No broker needed: check-config runs --offline here (the
broker check is in test_mqtt.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from p1edge.cli import main
from p1edge.config import READER_KEYS, ConfigError, MqttSettings, load_config

from tests.edge.mqttbroker import make_certificates

BASE = """
[serial]
port = "/dev/ttyUSB0"
[spool]
dir = "/var/lib/p1edge"
"""


def _file(tmp_path: Path, text: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text)
    path.chmod(0o640)
    return str(path)


def _mqtt(tmp_path: Path, text: str = "", env: dict[str, str] | None = None) -> MqttSettings | None:
    return load_config(_file(tmp_path, text), env or {}, need=READER_KEYS).mqtt


def _problems(tmp_path: Path, text: str = "", env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path, text), env or {}, need=READER_KEYS)
    return caught.value.problems


def test_it_is_off_without_a_host(tmp_path):
    assert _mqtt(tmp_path) is None
    assert load_config(_file(tmp_path), {}, need=READER_KEYS).effective()["mqtt.host"] == "(not set: MQTT is off)"


def test_it_has_the_defaults_of_the_issue(tmp_path):
    settings = _mqtt(tmp_path, '[mqtt]\nhost = "homeassistant.lan"\n')
    assert settings == MqttSettings(host="homeassistant.lan")
    assert (settings.port, settings.tls, settings.interval) == (1883, False, 10.0)
    assert (settings.base_topic, settings.discovery_prefix) == ("p1edge/{serial}", "homeassistant")
    assert (settings.username, settings.password, settings.client_id, settings.telegram) == (None, None, None, False)
    assert _mqtt(tmp_path, '[mqtt]\nhost = "broker"\ntls = true\n').port == 8883  # MQTT over TLS


def test_it_reads_every_key_from_the_file(tmp_path):
    settings = _mqtt(
        tmp_path,
        """
[mqtt]
host = "192.168.1.10"
port = 1884
username = "p1edge"
password = "file-secret"
client_id = "p1edge-kitchen"
base_topic = "home/p1/{serial}"
discovery_prefix = "ha"
interval = 30
telegram = true
""",
    )
    assert settings == MqttSettings(
        host="192.168.1.10",
        port=1884,
        username="p1edge",
        password="file-secret",
        client_id="p1edge-kitchen",
        base_topic="home/p1/{serial}",
        discovery_prefix="ha",
        interval=30.0,
        telegram=True,
    )


def test_the_environment_overrides_every_key(tmp_path):
    env = {
        "P1EDGE_MQTT_HOST": "mqtt.example.org",
        "P1EDGE_MQTT_PORT": "8884",
        "P1EDGE_MQTT_USERNAME": "env-user",
        "P1EDGE_MQTT_PASSWORD": "env-secret",
        "P1EDGE_MQTT_TLS": "true",
        "P1EDGE_MQTT_BASE_TOPIC": "meters/{serial}",
        "P1EDGE_MQTT_DISCOVERY_PREFIX": "hass",
        "P1EDGE_MQTT_INTERVAL": "5",
        "P1EDGE_MQTT_CLIENT_ID": "env-client",
        "P1EDGE_MQTT_TELEGRAM": "yes",
    }
    settings = _mqtt(tmp_path, '[mqtt]\nhost = "file-host"\nport = 1883\ninterval = 60\n', env)
    assert settings == MqttSettings(
        host="mqtt.example.org",
        port=8884,
        tls=True,
        username="env-user",
        password="env-secret",
        client_id="env-client",
        base_topic="meters/{serial}",
        discovery_prefix="hass",
        interval=5.0,
        telegram=True,
    )


def test_it_reads_the_password_from_a_file(tmp_path):
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret with spaces \n")
    secret.chmod(0o640)
    text = f'[mqtt]\nhost = "localhost"\nusername = "pi"\npassword_file = "{secret}"\n'
    config = load_config(_file(tmp_path, text), {}, need=READER_KEYS)
    assert config.mqtt is not None
    assert (config.mqtt.password, config.mqtt.password_file) == ("s3cret with spaces", secret)
    assert config.warnings == ()
    secret.chmod(0o644)
    warnings = load_config(_file(tmp_path, text), {}, need=READER_KEYS)
    assert any(f"{secret} is readable by every user" in warning for warning in warnings.warnings)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("port = 1883\n", {}, "mqtt.host (env P1EDGE_MQTT_HOST): missing; expected the broker's host name or address"),
        ("", {"P1EDGE_MQTT_HOST": "mqtt://broker:1883"}, "mqtt.host (env P1EDGE_MQTT_HOST): expected a host name"),
        ('host = "broker:1883"\n', {}, "mqtt.host (env P1EDGE_MQTT_HOST): expected a host name or address without a"),
        ('host = "b"\nport = "mqtt"\n', {}, "mqtt.port (env P1EDGE_MQTT_PORT): expected an integer, got 'mqtt'"),
        ('host = "b"\n', {"P1EDGE_MQTT_PORT": "70000"}, "mqtt.port (env P1EDGE_MQTT_PORT): expected a value from 1"),
        ('host = "b"\ntls = "maybe"\n', {}, "mqtt.tls (env P1EDGE_MQTT_TLS): expected true or false, got 'maybe'"),
        ('host = "b"\n', {"P1EDGE_MQTT_INTERVAL": "0"}, "mqtt.interval (env P1EDGE_MQTT_INTERVAL): expected a value"),
        ('host = "b"\ninterval = "10s"\n', {}, "mqtt.interval (env P1EDGE_MQTT_INTERVAL): expected a number"),
        (
            'host = "b"\nbase_topic = "p1edge/#"\n',
            {},
            "mqtt.base_topic (env P1EDGE_MQTT_BASE_TOPIC): expected topic levels joined by / like p1edge/{serial}",
        ),
        ('host = "b"\n', {"P1EDGE_MQTT_BASE_TOPIC": "/p1edge/"}, "mqtt.base_topic (env P1EDGE_MQTT_BASE_TOPIC)"),
        ('host = "b"\ndiscovery_prefix = "home//assistant"\n', {}, "mqtt.discovery_prefix (env P1EDGE_MQTT_DISCOVERY"),
        ('host = "b"\n', {"P1EDGE_MQTT_DISCOVERY_PREFIX": "ha/+"}, "mqtt.discovery_prefix (env P1EDGE_MQTT_DISCOVERY"),
        ('host = "b"\npassword = "x"\n', {}, "mqtt.password (env P1EDGE_MQTT_PASSWORD): needs mqtt.username"),
        ('host = "b"\nclient_id = "two words"\n', {}, "mqtt.client_id (env P1EDGE_MQTT_CLIENT_ID): expected up to 64"),
        ('host = "b"\nhots = "x"\n', {}, "mqtt.hots: unknown key"),
        ('host = "b"\npassword_file = "p"\n', {}, "mqtt.password_file (env P1EDGE_MQTT_PASSWORD_FILE): expected an"),
        ('host = "b"\npassword_file = "/none/p"\n', {}, "mqtt.password_file (env P1EDGE_MQTT_PASSWORD_FILE): /none/p"),
    ],
)
def test_it_names_the_key_and_the_expected_form(tmp_path, text, env, message):
    problems = _problems(tmp_path, "[mqtt]\n" + text, env)
    assert any(problem.startswith(message) for problem in problems), problems


def test_it_refuses_a_password_in_two_places_and_an_empty_password_file(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    both = f'[mqtt]\nhost = "b"\nusername = "u"\npassword = "x"\npassword_file = "{empty}"\n'
    assert "mqtt.password_file (env P1EDGE_MQTT_PASSWORD_FILE): set mqtt.password or mqtt.password_file, not both" in (
        _problems(tmp_path, both)
    )
    problems = _problems(tmp_path, f'[mqtt]\nhost = "b"\nusername = "u"\npassword_file = "{empty}"\n')
    assert problems == [
        f"mqtt.password_file (env P1EDGE_MQTT_PASSWORD_FILE): {empty} is empty; expected the password on its first line"
    ]


# --- TLS configuration errors ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_it_takes_a_private_ca_with_tls(tmp_path, certificates):
    settings = _mqtt(tmp_path, f'[mqtt]\nhost = "b"\ntls = true\nca_file = "{certificates["ca.pem"]}"\n')
    assert (settings.tls, settings.ca_file, settings.port) == (True, certificates["ca.pem"], 8883)
    assert settings.broker == "mqtts://b:8883"


def test_it_names_every_tls_mistake(tmp_path, certificates):
    garbage = tmp_path / "not-a-ca.pem"
    garbage.write_text("hello\n")
    unreadable = tmp_path / "unreadable.pem"
    unreadable.write_bytes(certificates["ca.pem"].read_bytes())
    unreadable.chmod(0)
    cases = {
        f'ca_file = "{certificates["ca.pem"]}"\n': "mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): is used only with "
        "mqtt.tls = true (env P1EDGE_MQTT_TLS); set mqtt.tls = true (the broker's TLS port, usually 8883) or remove "
        "mqtt.ca_file",
        'tls = true\nca_file = "ca.pem"\n': "mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): expected an absolute file path, "
        "got 'ca.pem'",
        f'tls = true\nca_file = "{tmp_path / "missing.pem"}"\n': f"mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): "
        f"{tmp_path / 'missing.pem'} does not exist",
        f'tls = true\nca_file = "{garbage}"\n': f"mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): {garbage} holds no PEM CA "
        "certificate (",
        f'tls = true\nca_file = "{tmp_path}"\n': f"mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): {tmp_path} ",
    }
    if os.geteuid() != 0:  # root reads any file
        cases[f'tls = true\nca_file = "{unreadable}"\n'] = (
            f"mqtt.ca_file (env P1EDGE_MQTT_CA_FILE): {unreadable} is not readable by this user"
        )
    for text, message in cases.items():
        problems = _problems(tmp_path, '[mqtt]\nhost = "b"\n' + text)
        assert len(problems) == 1, problems
        assert problems[0].startswith(message), problems
    assert _problems(tmp_path, '[mqtt]\nhost = "b"\n', {"P1EDGE_MQTT_TLS": "sometimes"}) == [
        "mqtt.tls (env P1EDGE_MQTT_TLS): expected true or false, got 'sometimes'"
    ]


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "tls = true\nport = 1883\n",
            "mqtt.port 1883 is MQTT's unencrypted port while mqtt.tls = true: a broker usually speaks TLS on 8883",
        ),
        ("port = 8883\n", "mqtt.port 8883 is MQTT's TLS port while mqtt.tls = false: set mqtt.tls = true"),
        ('username = "u"\npassword = "p"\n', "the MQTT password travels unencrypted to b:1883"),
    ],
)
def test_it_warns_about_settings_that_are_probably_a_mistake(tmp_path, text, warning):
    config = load_config(_file(tmp_path, '[mqtt]\nhost = "b"\n' + text), {}, need=READER_KEYS)
    assert any(w.startswith(warning) for w in config.warnings), config.warnings


def test_check_config_prints_the_mqtt_settings_with_the_password_masked(tmp_path, capsys, monkeypatch):
    for key in [key for key in os.environ if key.startswith("P1EDGE_")]:
        monkeypatch.delenv(key)
    path = _file(tmp_path, '[mqtt]\nhost = "b"\nusername = "pi"\npassword = "mqtt-secret"\n')
    assert main(["check-config", "--offline", "--config", path, "--need", "serial.port", "spool.dir"]) == 0
    out = capsys.readouterr().out
    assert "mqtt.host = b" in out
    assert "mqtt.password = ********" in out
    assert "mqtt-secret" not in out
    assert "mqtt.base_topic = p1edge/{serial}" in out
    assert "mqtt.client_id = p1edge-<hostname>-<pid> (default)" in out
    assert "warning: the MQTT password travels unencrypted to b:1883" in out


def test_the_example_config_leaves_mqtt_off_and_its_commented_section_is_valid(tmp_path):
    example = (Path(__file__).resolve().parents[2] / "edge" / "config.example.toml").read_text()
    assert load_config(_file(tmp_path, ""), {}, need=READER_KEYS).mqtt is None
    block = example[example.index("# [mqtt]") :]
    # uncommented as a user would, without the two lines that name files this machine does not have
    lines = [
        re.sub(r"^# ?", "", line)
        for line in block.splitlines()
        if re.match(r"^# (\[mqtt\]|\w+ = )", line) and not re.match(r"^# (ca_file|password_file) ", line)
    ]
    settings = _mqtt(tmp_path, "\n".join(lines) + "\n")
    assert settings == MqttSettings(host="homeassistant.lan", username="p1edge", client_id="p1edge-kitchen")
