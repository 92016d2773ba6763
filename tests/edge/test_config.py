import pytest
from p1edge.cli import main
from p1edge.config import ConfigError, load_config

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
    ],
)
def test_it_names_the_key_and_the_expected_form(tmp_path, env, message):
    with pytest.raises(ConfigError) as caught:
        load_config(_file(tmp_path), env)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


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
    assert main(["check-config", "--config", _file(tmp_path)]) == 0
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
