import os
import subprocess
import sys
from pathlib import Path

import pytest
from p1edge.cli import main
from p1edge.config import READER_KEYS, ConfigError, load_config
from p1edge.devicetoken import DeviceToken, write_token_file

from tests.edge.server import free_port
from tests.edge.test_reader import _without_privileges

GOOD = """
[serial]
port = "/dev/ttyUSB0"
[spool]
dir = "/var/lib/p1edge"
[api]
url = "https://p1.example.org/"
username = "pi-kitchen"
password = "file-secret"
"""


def _file(tmp_path, text=GOOD):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def test_it_reads_the_file_and_lets_the_environment_win(tmp_path):
    config = load_config(_file(tmp_path), {"P1EDGE_BAUDRATE": "9600", "P1EDGE_API_PASSWORD": "env-secret"})
    assert config.serial_port == "/dev/ttyUSB0"
    assert config.baudrate == 9600
    assert config.api_url == "https://p1.example.org"
    assert config.api_password == "env-secret"


def test_it_works_from_the_environment_alone(tmp_path):
    env = {"P1EDGE_SERIAL_PORT": "socket://127.0.0.1:2001", "P1EDGE_SPOOL_DIR": str(tmp_path)}
    env["P1EDGE_CONFIG"] = str(tmp_path / "absent.toml")  # the default file does not exist on this machine
    config = load_config(None, env, need=("serial.port", "spool.dir"))
    assert config.serial_port == "socket://127.0.0.1:2001"
    assert config.baudrate == 115200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"P1EDGE_BAUDRATE": "fast"}, "serial.baudrate (env P1EDGE_BAUDRATE): expected an integer, got 'fast'"),
        ({"P1EDGE_BAUDRATE": "14400"}, "serial.baudrate (env P1EDGE_BAUDRATE): expected one of 9600, 19200"),
        ({"P1EDGE_SPOOL_DIR": "spool"}, "spool.dir (env P1EDGE_SPOOL_DIR): expected an absolute directory path"),
        ({"P1EDGE_API_URL": "p1.example.org"}, "api.url (env P1EDGE_API_URL): expected the server base URL"),
        (
            {"P1EDGE_STATE_WRITE_INTERVAL": "0"},
            "state.write_interval (env P1EDGE_STATE_WRITE_INTERVAL): expected a value from 1 to 86400, got '0'",
        ),
        (
            {"P1EDGE_STATE_WRITE_INTERVAL": "15m"},
            "state.write_interval (env P1EDGE_STATE_WRITE_INTERVAL): expected a number, got '15m'",
        ),
        ({"P1EDGE_STATE_FSYNC": "sometimes"}, "state.fsync (env P1EDGE_STATE_FSYNC): expected true or false"),
        ({"P1EDGE_UPLOAD_POLL": "-1"}, "api.upload_poll (env P1EDGE_UPLOAD_POLL): expected a value from 0 to 3600"),
    ],
)
def test_it_names_the_key_and_the_expected_form(tmp_path, env, message):
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path), env)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def test_it_reads_the_state_and_upload_cadence_keys_and_check_config_prints_them(tmp_path, capsys, monkeypatch):
    defaults = load_config(_file(tmp_path), {})
    assert (defaults.state_write_interval, defaults.state_fsync, defaults.upload_poll) == (900.0, False, 0.0)

    # the behaviour before issue 24, for the bench: state every 30 s with fsync, the spool polled every 10 s
    path = _file(tmp_path, GOOD + "upload_poll = 10\n[state]\nwrite_interval = 30\nfsync = true\n")
    config = load_config(path, {})
    assert (config.state_write_interval, config.state_fsync, config.upload_poll) == (30.0, True, 10.0)
    assert load_config(path, {"P1EDGE_STATE_WRITE_INTERVAL": "600"}).state_write_interval == 600.0

    monkeypatch.delenv("P1EDGE_API_PASSWORD", raising=False)
    monkeypatch.delenv("P1EDGE_STATE_WRITE_INTERVAL", raising=False)
    assert main(["check-config", "--offline", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "state.write_interval = 30.0" in out
    assert "state.fsync = true" in out
    assert "api.upload_poll = 10.0" in out
    with pytest.raises(ConfigError, match=r"state\.fsnyc: unknown key"):
        load_config(_file(tmp_path, GOOD + "[state]\nfsnyc = true\n"), {})


def test_it_lists_every_missing_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path, "[serial]\nport = '/dev/ttyUSB0'\n"), {})
    text = str(caught.value)
    for key in ("spool.dir (env P1EDGE_SPOOL_DIR): missing", "api.url", "api.username", "api.password"):
        assert key in text


def test_it_does_not_need_api_settings_for_the_reader(tmp_path):
    config = load_config(
        _file(tmp_path, "[serial]\nport='/dev/ttyUSB0'\n[spool]\ndir='/tmp/x'\n"), {}, need=("serial.port", "spool.dir")
    )
    assert config.api_url is None


def test_it_rejects_unknown_keys_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"api\.pasword: unknown key"):
        load_config(_file(tmp_path, GOOD + "pasword = 'x'\n"), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_file(tmp_path, "[serial\n"), {})
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "missing.toml"), {})


def test_it_masks_the_password_in_check_config(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("P1EDGE_API_PASSWORD", raising=False)
    assert main(["check-config", "--offline", "--config", _file(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "api.password = ********" in out
    assert "file-secret" not in out
    assert "api.url = https://p1.example.org" in out


def test_it_refuses_to_start_a_service_with_a_bad_value(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("P1EDGE_BAUDRATE", "fast")
    with pytest.raises(SystemExit) as exited:
        main(["read", "--once", "--config", _file(tmp_path)])
    assert exited.value.code == 2
    assert "P1EDGE_BAUDRATE" in capsys.readouterr().err


# --- check-config hardening (issue 12) ----------------------------------------------------------------------


def test_it_warns_about_a_config_file_other_users_can_read(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("P1EDGE_API_PASSWORD", raising=False)
    path = _file(tmp_path)
    os.chmod(path, 0o644)
    assert main(["check-config", "--offline", "--config", path]) == 0
    out = capsys.readouterr()
    warning = [line for line in (out.out + out.err).splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert path in warning[0]
    assert "chmod 600" in warning[0]

    os.chmod(path, 0o640)
    assert main(["check-config", "--offline", "--config", path]) == 0
    out = capsys.readouterr()
    assert "warning:" not in out.out + out.err


@pytest.mark.parametrize(
    "url", ["http://p1.example.org", "http://192.168.1.20:8000", "http://127.0.0.1.nip.io", "http://localhost.example"]
)
def test_it_refuses_a_plain_http_api_url(tmp_path, url):
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path), {"P1EDGE_API_URL": url})
    [problem] = caught.value.problems
    assert problem.startswith("api.url (env P1EDGE_API_URL): ")
    assert "https://" in problem
    assert "api.allow_insecure = true" in problem


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.8.9.10", "http://localhost:8000", "http://[::1]:80"]
)
def test_it_accepts_plain_http_to_a_loopback_address(tmp_path, url):
    assert load_config(_file(tmp_path), {"P1EDGE_API_URL": url}).api_url == url


def test_it_accepts_plain_http_when_allowed_explicitly_in_the_file_or_the_environment(tmp_path):
    insecure = GOOD.replace('url = "https://p1.example.org/"', 'url = "http://p1.lan"\nallow_insecure = true')
    config = load_config(_file(tmp_path, insecure), {})
    assert (config.api_url, config.allow_insecure) == ("http://p1.lan", True)
    env = {"P1EDGE_API_URL": "http://p1.lan", "P1EDGE_API_ALLOW_INSECURE": "true"}
    assert load_config(_file(tmp_path), env).allow_insecure is True
    with pytest.raises(ConfigError, match=r"api\.allow_insecure \(env P1EDGE_API_ALLOW_INSECURE\): expected true or"):
        load_config(_file(tmp_path), {"P1EDGE_API_ALLOW_INSECURE": "maybe"})
    assert load_config(_file(tmp_path), {}).allow_insecure is False


def _probe_config(tmp_path, port: str, url: str) -> str:
    return _file(
        tmp_path,
        f'[serial]\nport = "{port}"\n[spool]\ndir = "{tmp_path}/spool"\n'
        f'[api]\nurl = "{url}"\nusername = "pi"\npassword = "pw"\ntimeout = 5\n',
    )


def test_it_reports_a_refused_socket_port_in_one_line(tmp_path, capsys):
    path = _probe_config(tmp_path, f"socket://127.0.0.1:{free_port()}", "http://127.0.0.1:9")
    os.chmod(path, 0o600)
    assert main(["check-config", "--config", path]) == 1
    out = capsys.readouterr()
    errors = [line for line in (out.out + out.err).splitlines() if line.startswith("error:")]
    assert any(line.startswith("error: serial.port: ") and "Connection refused" in line for line in errors), errors
    assert any(line.startswith("error: api.url: ") and "http://127.0.0.1:9/api/v1/token/" in line for line in errors)
    assert "Traceback" not in out.out + out.err


def test_it_reports_an_unreadable_capture_file_in_one_line(tmp_path):
    capture = tmp_path / "p1.txt"
    capture.write_text("")
    capture.chmod(0)
    path = _probe_config(tmp_path, str(capture), "http://127.0.0.1:9")
    done = subprocess.run(
        [
            *_without_privileges(),
            sys.executable,
            "-m",
            "p1edge.cli",
            "check-config",
            "--need",
            "serial.port",
            "--config",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "P1EDGE_API_PASSWORD": ""},
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("error: serial.port:")]
    assert len(errors) == 1, done.stdout
    assert str(capture) in errors[0]
    assert "ermission denied" in errors[0]
    assert "Traceback" not in done.stderr


@pytest.mark.django_db(transaction=True)
def test_it_names_the_url_tried_when_the_api_path_is_wrong(tmp_path, capsys, live_server):
    (tmp_path / "p1.txt").write_text("")
    path = _probe_config(tmp_path, str(tmp_path / "p1.txt"), live_server.url + "/p1")
    os.chmod(path, 0o600)
    assert main(["check-config", "--config", path]) == 1
    out = capsys.readouterr().out
    [error] = [line for line in out.splitlines() if line.startswith("error:")]
    assert f"{live_server.url}/p1/api/v1/token/" in error
    assert "404" in error

    path = _probe_config(tmp_path, str(tmp_path / "p1.txt"), live_server.url)
    os.chmod(path, 0o600)
    assert main(["check-config", "--config", path]) == 0
    assert "error:" not in capsys.readouterr().out


# --- the device token file (issue 14) --------------------------------------------------------------------------

PAIRED = """
[serial]
port = "/dev/ttyUSB0"
[spool]
dir = "/var/lib/p1edge"
"""


def _token_file(tmp_path, server="https://p1.example.org"):
    path = tmp_path / "device-token"
    write_token_file(path, DeviceToken("p1d_secret-value", server, "kitchen", "2025-06-01T10:00:00+00:00"))
    return path


def test_a_paired_pi_needs_no_url_username_or_password(tmp_path):
    token = _token_file(tmp_path)
    config = load_config(_file(tmp_path, PAIRED), {"P1EDGE_DEVICE_TOKEN_FILE": str(token)})
    assert config.device_token is not None
    assert config.device_token.token == "p1d_secret-value"
    assert (config.upload_server, config.api_username, config.api_password) == ("https://p1.example.org", None, None)
    assert config.pairing() == "paired with https://p1.example.org as kitchen"
    assert "p1d_secret-value" not in repr(config)


def test_it_asks_to_pair_when_there_is_neither_a_token_nor_a_password(tmp_path):
    missing = tmp_path / "device-token"
    with pytest.raises(ConfigError) as caught:
        load_config(
            _file(tmp_path, PAIRED + "[api]\nurl = 'https://p1.example.org'\n"),
            {"P1EDGE_DEVICE_TOKEN_FILE": str(missing)},
        )
    [problem] = caught.value.problems
    assert problem.startswith(f"api.device_token_file (env P1EDGE_DEVICE_TOKEN_FILE): {missing} does not exist")
    assert "p1edge pair --server" in problem
    assert "deprecated api.username and api.password" in problem

    # half of the deprecated credentials: the missing one is named as before
    with pytest.raises(ConfigError, match=r"api\.password \(env P1EDGE_API_PASSWORD\): missing"):
        load_config(_file(tmp_path, PAIRED), {"P1EDGE_DEVICE_TOKEN_FILE": str(missing), "P1EDGE_API_USERNAME": "pi"})


def test_the_deprecated_password_still_works_without_a_token_file(tmp_path):
    config = load_config(_file(tmp_path), {"P1EDGE_DEVICE_TOKEN_FILE": str(tmp_path / "device-token")})
    assert config.device_token is None
    assert config.upload_server == "https://p1.example.org"
    assert config.pairing() == "not paired: using the deprecated username/password"


@pytest.mark.parametrize(
    ("content", "value", "message"),
    [
        (None, "device-token", "expected an absolute file path, got 'device-token'"),
        ("not json", None, "is not valid JSON (expected the JSON file written by `p1edge pair`"),
        ('{"server": "https://p1.example.org"}', None, "holds no device token"),
        ('{"token": "p1d_x"}', None, "names no server"),
        ('{"token": "p1d_x", "server": "http://p1.lan"}', None, "'http://p1.lan' is not encrypted"),
    ],
)
def test_it_names_the_token_file_key_and_what_is_wrong(tmp_path, content, value, message):
    path = tmp_path / "device-token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path, PAIRED), {"P1EDGE_DEVICE_TOKEN_FILE": value or str(path)})
    [problem] = caught.value.problems
    assert problem.startswith("api.device_token_file (env P1EDGE_DEVICE_TOKEN_FILE): ")
    assert message in problem


def test_the_reader_does_not_read_the_token_file(tmp_path):
    (tmp_path / "device-token").write_text("not json")
    env = {"P1EDGE_DEVICE_TOKEN_FILE": str(tmp_path / "device-token")}
    assert load_config(_file(tmp_path, PAIRED), env, need=READER_KEYS).device_token is None


def test_check_config_asks_for_chmod_600_on_a_token_file_others_can_read(tmp_path, capsys, monkeypatch):
    token = _token_file(tmp_path)
    monkeypatch.setenv("P1EDGE_DEVICE_TOKEN_FILE", str(token))
    for key in ("P1EDGE_API_URL", "P1EDGE_API_USERNAME", "P1EDGE_API_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    path = _file(tmp_path, PAIRED)
    os.chmod(token, 0o644)
    assert main(["check-config", "--offline", "--config", path]) == 0
    out = capsys.readouterr().out
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert f"{token} holds the device token" in warning
    assert f"chmod 600 {token}" in warning
    assert "pairing: paired with https://p1.example.org as kitchen" in out
    assert "p1d_secret-value" not in out

    os.chmod(token, 0o640)  # group-readable is too much as well
    assert main(["check-config", "--offline", "--config", path]) == 0
    assert f"chmod 600 {token}" in capsys.readouterr().out

    os.chmod(token, 0o600)
    assert main(["check-config", "--offline", "--config", path]) == 0
    assert "warning:" not in capsys.readouterr().out


def test_it_warns_when_api_url_is_not_the_paired_server(tmp_path):
    token = _token_file(tmp_path)
    config = load_config(_file(tmp_path), {"P1EDGE_DEVICE_TOKEN_FILE": str(token), "P1EDGE_API_URL": "https://new.org"})
    assert config.upload_server == "https://p1.example.org"  # the token never goes to another server
    [warning] = [w for w in config.warnings if "paired" in w]
    assert "api.url https://new.org is not the server this Pi is paired with (https://p1.example.org)" in warning
    assert "p1edge pair --server https://new.org" in warning


# --- live snapshots (issue 16) -----------------------------------------------------------------------------------


def test_it_reads_the_live_keys_with_their_defaults_and_check_config_prints_them(tmp_path, capsys, monkeypatch):
    defaults = load_config(_file(tmp_path), {})
    assert defaults.live_interval == 10.0
    assert str(defaults.live_path) == "/var/lib/p1edge/live.json"  # no RUNTIME_DIRECTORY: next to the spool
    # systemd's RuntimeDirectory=p1edge (a tmpfs) when the service runs under the shipped units
    assert str(load_config(_file(tmp_path), {"RUNTIME_DIRECTORY": "/run/p1edge"}).live_path) == "/run/p1edge/live.json"
    explicit = {"RUNTIME_DIRECTORY": "/run/p1edge", "P1EDGE_LIVE_FILE": "/dev/shm/p1/live.json"}
    assert str(load_config(_file(tmp_path), explicit).live_path) == "/dev/shm/p1/live.json"

    path = _file(tmp_path, GOOD + '[live]\ninterval = 0\nfile = "/run/p1/now.json"\n')
    config = load_config(path, {})
    assert (config.live_interval, str(config.live_path)) == (0.0, "/run/p1/now.json")
    assert load_config(path, {"P1EDGE_LIVE_INTERVAL": "2.5"}).live_interval == 2.5

    for key in ("P1EDGE_API_PASSWORD", "P1EDGE_LIVE_INTERVAL", "P1EDGE_LIVE_FILE", "RUNTIME_DIRECTORY"):
        monkeypatch.delenv(key, raising=False)
    assert main(["check-config", "--offline", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "live.interval = 0.0 (off)" in out
    assert "live.file = /run/p1/now.json" in out
    assert main(["check-config", "--offline", "--config", _file(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "live.interval = 10.0" in out
    # run from a shell, check-config says where the services put the file
    assert "live.file = /var/lib/p1edge/live.json (RUNTIME_DIRECTORY is not set; under the systemd units" in out


@pytest.mark.parametrize(
    ("env", "text", "message"),
    [
        (
            {"P1EDGE_LIVE_INTERVAL": "-1"},
            "",
            "live.interval (env P1EDGE_LIVE_INTERVAL): expected a value from 0 to 3600,",
        ),
        ({"P1EDGE_LIVE_INTERVAL": "3601"}, "", "live.interval (env P1EDGE_LIVE_INTERVAL): expected a value from 0 to"),
        ({"P1EDGE_LIVE_INTERVAL": "10s"}, "", "live.interval (env P1EDGE_LIVE_INTERVAL): expected a number, got '10s'"),
        ({}, "[live]\ninterval = true\n", "live.interval (env P1EDGE_LIVE_INTERVAL): expected a number, got True"),
        ({"P1EDGE_LIVE_FILE": "live.json"}, "", "live.file (env P1EDGE_LIVE_FILE): expected an absolute file path"),
        ({}, '[live]\nfile = "/run/p1edge/"\n', "live.file (env P1EDGE_LIVE_FILE): expected an absolute file path"),
        ({}, "[live]\nfile = 3\n", "live.file (env P1EDGE_LIVE_FILE): expected a string, got 3"),
        ({}, "[live]\nintervall = 5\n", "live.intervall: unknown key"),
    ],
)
def test_it_names_the_live_key_and_the_expected_form(tmp_path, env, text, message):
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path, GOOD + text), env)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def test_the_example_config_turns_live_snapshots_on_every_10_s(tmp_path):
    example = Path(__file__).resolve().parents[2] / "edge" / "config.example.toml"
    config = load_config(str(example), {"RUNTIME_DIRECTORY": "/run/p1edge"}, need=READER_KEYS)
    assert config.live_interval == 10.0
    assert str(config.live_path) == "/run/p1edge/live.json"
