"""Configuration: one TOML file plus P1EDGE_* environment overrides, validated at start.

[serial]
port = "/dev/ttyUSB0"        # P1EDGE_SERIAL_PORT: device, pyserial URL (socket://...) or file/FIFO
baudrate = 115200            # P1EDGE_BAUDRATE
[spool]
dir = "/var/lib/p1edge"      # P1EDGE_SPOOL_DIR
[api]
url = "https://p1.example.org"   # P1EDGE_API_URL (server base URL)
device_token_file = "/var/lib/p1edge/device-token"  # P1EDGE_DEVICE_TOKEN_FILE: written by `p1edge pair`
username = "pi-kitchen"          # P1EDGE_API_USERNAME (deprecated: only when the Pi is not paired)
password = "..."                 # P1EDGE_API_PASSWORD (deprecated; keep the file mode 0640 root:p1edge)
timeout = 15                     # seconds, every request
batch_size = 500                 # readings per request (1..500)
allow_insecure = false           # P1EDGE_API_ALLOW_INSECURE: permit http:// to a non-loopback server
upload_poll = 0                  # P1EDGE_UPLOAD_POLL: 0 = once per quarter-hour, just after the reading is stored;
                                 # N = look at the spool every N seconds (the old behaviour: 10)
[state]
write_interval = 900         # P1EDGE_STATE_WRITE_INTERVAL: seconds between writes of the counter/status files
fsync = false                # P1EDGE_STATE_FSYNC: fsync those writes (the old behaviour; wears the SD card)
[live]
interval = 10                # P1EDGE_LIVE_INTERVAL: seconds between live snapshots to the server (0 = off)
file = "/run/p1edge/live.json"   # P1EDGE_LIVE_FILE: the latest telegram, shared by reader and uploader; default
                             # $RUNTIME_DIRECTORY/live.json (tmpfs, set by systemd), else <spool.dir>/live.json
[mqtt]                       # optional (issue 19): the reader publishes to an MQTT broker, Home Assistant discovery
host = "homeassistant.lan"   # P1EDGE_MQTT_HOST: setting it turns MQTT on
port = 1883                  # P1EDGE_MQTT_PORT: default 1883, 8883 with tls
tls = false                  # P1EDGE_MQTT_TLS
ca_file = "/etc/p1edge/mqtt-ca.pem"  # P1EDGE_MQTT_CA_FILE: a private CA (with tls); default the system's CAs
username = "p1edge"          # P1EDGE_MQTT_USERNAME
password_file = "/etc/p1edge/mqtt-password"  # P1EDGE_MQTT_PASSWORD_FILE, or password = "..." (P1EDGE_MQTT_PASSWORD)
client_id = "p1edge-kitchen" # P1EDGE_MQTT_CLIENT_ID: default p1edge-<hostname>-<pid>
base_topic = "p1edge/{serial}"   # P1EDGE_MQTT_BASE_TOPIC: {serial} is the meter's serial
discovery_prefix = "homeassistant"   # P1EDGE_MQTT_DISCOVERY_PREFIX
interval = 10                # P1EDGE_MQTT_INTERVAL: seconds between states (1..3600)
telegram = false             # P1EDGE_MQTT_TELEGRAM: also the raw telegram on <base_topic>/telegram
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import stat
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from p1edge.devicetoken import DEFAULT_DEVICE_TOKEN_FILE, DeviceToken, TokenFileError, mode_problem, read_token_file

DEFAULT_CONFIG_PATH = "/etc/p1edge/config.toml"
BAUDRATES = (9600, 19200, 38400, 57600, 115200)
MAX_BATCH = 500

# key -> (section, name, environment variable)
_KEYS: dict[str, tuple[str, str, str | None]] = {
    "serial.port": ("serial", "port", "P1EDGE_SERIAL_PORT"),
    "serial.baudrate": ("serial", "baudrate", "P1EDGE_BAUDRATE"),
    "spool.dir": ("spool", "dir", "P1EDGE_SPOOL_DIR"),
    "api.url": ("api", "url", "P1EDGE_API_URL"),
    "api.username": ("api", "username", "P1EDGE_API_USERNAME"),
    "api.password": ("api", "password", "P1EDGE_API_PASSWORD"),
    "api.timeout": ("api", "timeout", "P1EDGE_API_TIMEOUT"),
    "api.batch_size": ("api", "batch_size", "P1EDGE_BATCH_SIZE"),
    "api.allow_insecure": ("api", "allow_insecure", "P1EDGE_API_ALLOW_INSECURE"),
    "api.device_token_file": ("api", "device_token_file", "P1EDGE_DEVICE_TOKEN_FILE"),
    "api.upload_poll": ("api", "upload_poll", "P1EDGE_UPLOAD_POLL"),
    "state.write_interval": ("state", "write_interval", "P1EDGE_STATE_WRITE_INTERVAL"),
    "state.fsync": ("state", "fsync", "P1EDGE_STATE_FSYNC"),
    "live.interval": ("live", "interval", "P1EDGE_LIVE_INTERVAL"),
    "live.file": ("live", "file", "P1EDGE_LIVE_FILE"),
    "mqtt.host": ("mqtt", "host", "P1EDGE_MQTT_HOST"),
    "mqtt.port": ("mqtt", "port", "P1EDGE_MQTT_PORT"),
    "mqtt.tls": ("mqtt", "tls", "P1EDGE_MQTT_TLS"),
    "mqtt.ca_file": ("mqtt", "ca_file", "P1EDGE_MQTT_CA_FILE"),
    "mqtt.username": ("mqtt", "username", "P1EDGE_MQTT_USERNAME"),
    "mqtt.password": ("mqtt", "password", "P1EDGE_MQTT_PASSWORD"),
    "mqtt.password_file": ("mqtt", "password_file", "P1EDGE_MQTT_PASSWORD_FILE"),
    "mqtt.client_id": ("mqtt", "client_id", "P1EDGE_MQTT_CLIENT_ID"),
    "mqtt.base_topic": ("mqtt", "base_topic", "P1EDGE_MQTT_BASE_TOPIC"),
    "mqtt.discovery_prefix": ("mqtt", "discovery_prefix", "P1EDGE_MQTT_DISCOVERY_PREFIX"),
    "mqtt.interval": ("mqtt", "interval", "P1EDGE_MQTT_INTERVAL"),
    "mqtt.telegram": ("mqtt", "telegram", "P1EDGE_MQTT_TELEGRAM"),
}
SECRET_KEYS = frozenset({"api.password", "mqtt.password"})
MQTT_KEYS = tuple(key for key in _KEYS if key.startswith("mqtt."))
READER_KEYS = (
    "serial.port",
    "serial.baudrate",
    "spool.dir",
    "state.write_interval",
    "state.fsync",
    "live.interval",
    "live.file",
    *MQTT_KEYS,  # all optional: MQTT is on when mqtt.host is set
)
# api.url, api.username and api.password are needed only while the Pi is not paired (no device token file).
UPLOADER_KEYS = (
    "spool.dir",
    "api.device_token_file",
    "api.url",
    "api.username",
    "api.password",
    "api.timeout",
    "api.batch_size",
    "api.upload_poll",
    "state.write_interval",
    "state.fsync",
    "live.interval",
    "live.file",
)
ALL_KEYS = tuple(_KEYS)
STATE_WRITE_INTERVAL = 900.0  # 15 minutes: what a power loss may cost of the counters (never a reading)
LIVE_INTERVAL = 10.0  # seconds between live snapshots (issue 16)
LIVE_FILE_NAME = "live.json"
# Where a set live.file came from, for check-config: the key itself or systemd's runtime directory.
LIVE_FROM_KEY, LIVE_FROM_RUNTIME = "live.file", "RUNTIME_DIRECTORY"
MQTT_PORT, MQTT_TLS_PORT = 1883, 8883  # the IANA ports of MQTT and MQTT over TLS
MQTT_INTERVAL = 10.0  # seconds between state messages (issue 19)
SERIAL_PLACEHOLDER = "{serial}"
MQTT_BASE_TOPIC = f"p1edge/{SERIAL_PLACEHOLDER}"
MQTT_DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
MAX_CLIENT_ID = 64


class ConfigError(ValueError):
    """Invalid or missing configuration; `problems` lists one message per key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MqttSettings:
    """The [mqtt] section, validated; present only when mqtt.host is set (MQTT is off by default)."""

    host: str
    port: int = MQTT_PORT
    tls: bool = False
    ca_file: Path | None = None  # with tls: a private CA's certificates (PEM); None: the system's CAs
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # from mqtt.password or mqtt.password_file
    password_file: Path | None = None
    client_id: str | None = None  # None: p1edge-<hostname>-<pid>, so a second p1edge never takes over the first
    base_topic: str = MQTT_BASE_TOPIC  # SERIAL_PLACEHOLDER becomes each meter's serial
    discovery_prefix: str = MQTT_DISCOVERY_PREFIX
    interval: float = MQTT_INTERVAL
    telegram: bool = False  # also publish the raw telegram on <base_topic>/telegram

    @property
    def broker(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


@dataclass(frozen=True)
class Config:
    serial_port: str | None = None
    baudrate: int = 115200
    spool_dir: Path | None = None
    api_url: str | None = None
    api_username: str | None = None
    api_password: str | None = None
    api_timeout: float = 15.0
    batch_size: int = MAX_BATCH
    allow_insecure: bool = False
    device_token_file: Path = Path(DEFAULT_DEVICE_TOKEN_FILE)
    # 0: upload once per quarter-hour slot, just after the reader stored its reading (and whenever the spool grows);
    # N > 0: look at the spool every N seconds (the behaviour before issue 24 was 10).
    upload_poll: float = 0.0
    state_write_interval: float = STATE_WRITE_INTERVAL  # reader-state.json / uploader-state.json at most this often
    state_fsync: bool = False  # fsync the state files (before issue 24: every 30 s, two fsyncs each)
    # Live snapshots (issue 16): the reader shares the latest telegram in live_file, the uploader posts it every
    # live_interval seconds; 0 turns both off. live_file None: <spool_dir>/live.json (see `live_path`), which is
    # usually on the SD card.
    live_interval: float = LIVE_INTERVAL
    live_file: Path | None = None
    live_file_from: str = LIVE_FROM_KEY
    mqtt: MqttSettings | None = None  # None: no [mqtt] host, nothing is published
    # The pairing read from device_token_file when the config was loaded for the uploader (None: not paired).
    device_token: DeviceToken | None = None
    source: str = "defaults"
    path: str | None = None  # the config file that was read, if any (the uploader watches it for changes)
    warnings: tuple[str, ...] = ()  # problems that do not stop a service (check-config prints, services log)

    @property
    def live_path(self) -> Path | None:
        """The shared latest-telegram file (None: live.file unset and no spool directory)."""
        if self.live_file is not None:
            return self.live_file
        return self.spool_dir / LIVE_FILE_NAME if self.spool_dir is not None else None

    @property
    def upload_server(self) -> str | None:
        """Where the uploader sends: the server the device token belongs to (a token is never sent elsewhere), else
        api.url with the deprecated username/password."""
        return self.device_token.server if self.device_token is not None else self.api_url

    def pairing(self) -> str:
        """For status and check-config."""
        if self.device_token is not None:
            return self.device_token.describe()
        if self.api_username or self.api_password:
            return "not paired: using the deprecated username/password"
        return "not paired"

    def effective(self) -> dict[str, str]:
        """Key -> printable value, secrets masked (for check-config)."""
        values = {
            "serial.port": self.serial_port,
            "serial.baudrate": self.baudrate,
            "spool.dir": self.spool_dir,
            "api.url": self.api_url,
            "api.username": self.api_username,
            "api.password": self.api_password,
            "api.timeout": self.api_timeout,
            "api.batch_size": self.batch_size,
            "api.allow_insecure": str(self.allow_insecure).lower(),
            "api.device_token_file": self.device_token_file,
            "api.upload_poll": self.upload_poll,
            "state.write_interval": self.state_write_interval,
            "state.fsync": str(self.state_fsync).lower(),
            "live.interval": f"{self.live_interval} (off)" if not self.live_interval else self.live_interval,
            "live.file": self._live_file_text(),
            **self._mqtt_values(),
        }
        return {
            key: ("(not set)" if value is None else "********" if key in SECRET_KEYS else str(value))
            for key, value in values.items()
        }

    def _mqtt_values(self) -> dict[str, object]:
        mqtt = self.mqtt
        if mqtt is None:
            return {"mqtt.host": "(not set: MQTT is off)"}
        return {
            "mqtt.host": mqtt.host,
            "mqtt.port": mqtt.port,
            "mqtt.tls": str(mqtt.tls).lower(),
            "mqtt.ca_file": mqtt.ca_file if mqtt.tls else None,
            "mqtt.username": mqtt.username,
            "mqtt.password": mqtt.password,
            "mqtt.password_file": mqtt.password_file,
            "mqtt.client_id": mqtt.client_id or "p1edge-<hostname>-<pid> (default)",
            "mqtt.base_topic": mqtt.base_topic,
            "mqtt.discovery_prefix": mqtt.discovery_prefix,
            "mqtt.interval": mqtt.interval,
            "mqtt.telegram": str(mqtt.telegram).lower(),
        }

    def _live_file_text(self) -> str | None:
        """The path and, when it is a default, where it came from: check-config run from a shell has no
        RUNTIME_DIRECTORY, so it shows the spool path while the systemd services use their runtime directory."""
        path = self.live_path
        if path is None:
            return None
        if self.live_file is None:
            return f"{path} (RUNTIME_DIRECTORY is not set; under the systemd units it is /run/p1edge/{LIVE_FILE_NAME})"
        if self.live_file_from == LIVE_FROM_RUNTIME:
            return f"{path} (in $RUNTIME_DIRECTORY)"
        return str(path)


def _label(key: str) -> str:
    env = _KEYS[key][2]
    return f"{key} (env {env})" if env else key


def _raw_values(path: str | None, env: Mapping[str, str]) -> tuple[dict[str, Any], str, str | None, list[str]]:
    problems: list[str] = []
    data: dict[str, Any] = {}
    explicit = path is not None
    file_path = Path(path or env.get("P1EDGE_CONFIG") or DEFAULT_CONFIG_PATH)
    source = "environment"
    read_path: str | None = None
    try:
        with open(file_path, "rb") as handle:
            data = tomllib.load(handle)
        source = read_path = str(file_path)
    except FileNotFoundError:
        if explicit:
            problems.append(f"config file {file_path}: not found")
    except PermissionError:
        problems.append(f"config file {file_path}: not readable by this user (give the p1edge group read access)")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {file_path}: not valid TOML ({exc})")
    except OSError as exc:  # a directory, an I/O error: one line, not a traceback
        problems.append(f"config file {file_path}: cannot be read ({exc.strerror or exc})")
    values: dict[str, Any] = {}
    for key, (section, name, env_name) in _KEYS.items():
        table = data.get(section, {})
        if isinstance(table, dict) and name in table:
            values[key] = table[name]
        if env_name and env.get(env_name, "") != "":
            values[key] = env[env_name]
            source = f"{source} + environment" if "environment" not in source else source
    known_sections = {section for section, _n, _e in _KEYS.values()}
    for section, table in data.items():
        if section not in known_sections or not isinstance(table, dict):
            problems.append(f"{section}: unknown section (expected one of {', '.join(sorted(known_sections))})")
            continue
        for name in table:
            if f"{section}.{name}" not in _KEYS:
                problems.append(f"{section}.{name}: unknown key")
    return values, source, read_path, problems


def _file_warnings(path: str | None, what: str = "the API password") -> list[str]:
    """The file holds a password: other users must not be able to read it."""
    if path is None:
        return []
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return []
    if mode & stat.S_IROTH:
        return [
            f"{path} is readable by every user (mode {stat.S_IMODE(mode):04o}) and holds {what}: "
            f"chmod 600 {path} (or 640 with group p1edge, as the README installs it)"
        ]
    return []


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _flag(values: dict[str, Any], key: str, problems: list[str]) -> bool:
    value = values.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    problems.append(f"{_label(key)}: expected true or false, got {value!r}")
    return False


def is_loopback(host: str | None) -> bool:
    """localhost or a loopback address (127.0.0.0/8, ::1); no DNS lookup, so no name can pretend to be one."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(values: dict[str, Any], key: str, problems: list[str], required: bool) -> str | None:
    value = values.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{_label(key)}: missing; expected a non-empty string")
        return None
    if not isinstance(value, str):
        problems.append(f"{_label(key)}: expected a string, got {value!r}")
        return None
    return value.strip()


def _number(values, key, problems, *, kind, minimum, maximum, default):
    value = values.get(key, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
        if kind is int and isinstance(value, float):
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"{_label(key)}: expected {'an integer' if kind is int else 'a number'}, got {value!r}")
        return default
    if not minimum <= number <= maximum:
        problems.append(f"{_label(key)}: expected a value from {minimum} to {maximum}, got {value!r}")
        return default
    return number


def _live_file(values: dict[str, Any], problems: list[str], env: Mapping[str, str]) -> tuple[Path | None, str]:
    """live.file, else $RUNTIME_DIRECTORY/live.json (systemd's RuntimeDirectory=, a tmpfs: rewriting the file every
    second wears no SD card), and which of the two it is; (None, "") leaves it to <spool.dir>/live.json."""
    key = "live.file"
    text = _text(values, key, problems, False)
    if text is not None:
        if not os.path.isabs(text) or text.endswith("/"):
            problems.append(f"{_label(key)}: expected an absolute file path, got {text!r}")
            return None, ""
        return Path(text), LIVE_FROM_KEY
    # systemd joins several RuntimeDirectory= entries with ":"; the units name one, p1edge
    runtime = (env.get("RUNTIME_DIRECTORY") or "").split(":")[0]
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / LIVE_FILE_NAME, LIVE_FROM_RUNTIME
    return None, ""


def url_problem(url: str, allow_insecure: bool, label: str) -> str | None:
    """What is wrong with a server base URL (api.url, `p1edge pair --server`), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return f"{label}: expected the server base URL like https://p1.example.org, got {url!r}"
    if parts.scheme == "http" and not allow_insecure and not is_loopback(host):
        # http:// would send the credentials (device token or password) and every reading in clear text.
        return (
            f"{label}: {url!r} is not encrypted; use https://, or set api.allow_insecure = true "
            f"(env P1EDGE_API_ALLOW_INSECURE) for a server on a network you trust"
        )
    return None


def _device_token(
    values: dict[str, Any], problems: list[str], need: Collection[str], allow_insecure: bool
) -> tuple[Path, DeviceToken | None, list[str]]:
    """The token file's path and, when the caller needs it, the pairing it holds and warnings about it."""
    key = "api.device_token_file"
    text = _text(values, key, problems, False) or DEFAULT_DEVICE_TOKEN_FILE
    if not os.path.isabs(text):
        problems.append(f"{_label(key)}: expected an absolute file path, got {text!r}")
        return Path(DEFAULT_DEVICE_TOKEN_FILE), None, []
    path = Path(text)
    if key not in need:
        return path, None, []
    try:
        device = read_token_file(path)
    except TokenFileError as exc:
        problems.append(f"{_label(key)}: {exc}")
        return path, None, []
    if device is None:
        return path, None, []
    problem = url_problem(device.server, allow_insecure, f"{_label(key)}: the server in {path}")
    if problem:
        problems.append(problem)
    mode = mode_problem(path)
    return path, device, [mode] if mode else []


def load_config(
    path: str | None = None, env: Mapping[str, str] | None = None, *, need: Collection[str] = ALL_KEYS
) -> Config:
    """Read, merge (env wins) and validate; ConfigError lists every problem (key + expected form).

    `need` names the keys the calling service requires (the reader needs no API settings). With
    api.device_token_file in it the token file is read: when it holds a device token, api.url, api.username and
    api.password are not required (the token names its server)."""
    env = os.environ if env is None else env
    values, source, read_path, problems = _raw_values(path, env)

    port = _text(values, "serial.port", problems, "serial.port" in need)
    baudrate = _number(values, "serial.baudrate", problems, kind=int, minimum=1, maximum=4_000_000, default=115200)
    if baudrate not in BAUDRATES:
        allowed = ", ".join(map(str, BAUDRATES))
        problems.append(f"{_label('serial.baudrate')}: expected one of {allowed}, got {baudrate}")
    spool = _text(values, "spool.dir", problems, "spool.dir" in need)
    if spool is not None and not os.path.isabs(spool):
        problems.append(f"{_label('spool.dir')}: expected an absolute directory path, got {spool!r}")
    allow_insecure = _flag(values, "api.allow_insecure", problems)
    before = len(problems)
    token_file, device, token_warnings = _device_token(values, problems, need, allow_insecure)
    # Paired: the token replaces api.url, api.username and api.password (the deprecated way in). A token file that
    # is wrong or unusable is reported above; asking for a password as well would point the wrong way.
    paired = (
        device is not None
        or len(problems) > before
        or ("api.device_token_file" in need and os.path.lexists(token_file))
    )
    url = _text(values, "api.url", problems, "api.url" in need and not paired)
    if url is not None:
        problem = url_problem(url, allow_insecure, _label("api.url"))
        if problem:
            problems.append(problem)
        url = url.rstrip("/")
    credentials = [key for key in ("api.username", "api.password") if key in need and not paired]
    given = [key for key in credentials if _text(values, key, [], False)]
    if "api.device_token_file" in need and len(credentials) == 2 and not given:
        problems.append(
            f"{_label('api.device_token_file')}: {token_file} does not exist, so this Pi is not paired: run "
            f"p1edge pair --server https://your-server (or set the deprecated api.username and api.password)"
        )
        credentials = []
    username = _text(values, "api.username", problems, "api.username" in credentials)
    password = _text(values, "api.password", problems, "api.password" in credentials)
    if device is not None and url is not None and url != device.server:
        token_warnings.append(
            f"api.url {url} is not the server this Pi is paired with ({device.server}); the uploader sends to "
            f"{device.server}: run p1edge pair --server {url} to move to {url}"
        )
    timeout = _number(values, "api.timeout", problems, kind=float, minimum=1, maximum=300, default=15.0)
    batch = _number(values, "api.batch_size", problems, kind=int, minimum=1, maximum=MAX_BATCH, default=MAX_BATCH)
    poll = _number(values, "api.upload_poll", problems, kind=float, minimum=0, maximum=3600, default=0.0)
    interval = _number(
        values,
        "state.write_interval",
        problems,
        kind=float,
        minimum=1,
        maximum=86_400,
        default=STATE_WRITE_INTERVAL,
    )
    state_fsync = _flag(values, "state.fsync", problems)
    live_interval = _number(
        values, "live.interval", problems, kind=float, minimum=0, maximum=3600, default=LIVE_INTERVAL
    )
    live_file, live_file_from = _live_file(values, problems, env)
    mqtt_warnings: list[str] = []
    mqtt = _mqtt(values, problems, mqtt_warnings)
    if problems:
        raise ConfigError(problems)
    if password is not None:
        mqtt_warnings[:0] = _file_warnings(read_path)
    elif mqtt is not None and mqtt.password is not None and mqtt.password_file is None:
        mqtt_warnings[:0] = _file_warnings(read_path, "the MQTT password (or use mqtt.password_file)")
    return Config(
        serial_port=port,
        baudrate=baudrate,
        spool_dir=Path(spool) if spool else None,
        api_url=url,
        api_username=username,
        api_password=password,
        api_timeout=float(timeout),
        batch_size=batch,
        allow_insecure=allow_insecure,
        device_token_file=token_file,
        device_token=device,
        upload_poll=float(poll),
        state_write_interval=float(interval),
        state_fsync=state_fsync,
        live_interval=float(live_interval),
        live_file=live_file,
        live_file_from=live_file_from,
        mqtt=mqtt,
        source=source,
        path=read_path,
        warnings=tuple(mqtt_warnings + token_warnings),
    )


# --- [mqtt] (issue 19) ----------------------------------------------------------------------------------------------


def _mqtt(values: dict[str, Any], problems: list[str], warnings: list[str]) -> MqttSettings | None:
    """The [mqtt] section, or None when mqtt.host is not set (MQTT off); a key given without a host is a problem,
    since the user evidently meant MQTT to be on."""
    given = [key for key in MQTT_KEYS if key in values]
    host = _mqtt_host(values, problems)
    if host is None:
        if given and "mqtt.host" not in given:
            problems.append(
                f"{_label('mqtt.host')}: missing; expected the broker's host name or address "
                f"({', '.join(given)} is set, and MQTT is on only with a host)"
            )
        return None
    tls = _flag(values, "mqtt.tls", problems)
    port = _number(
        values, "mqtt.port", problems, kind=int, minimum=1, maximum=65535, default=MQTT_TLS_PORT if tls else MQTT_PORT
    )
    ca_file = _mqtt_ca_file(values, problems, tls)
    username = _text(values, "mqtt.username", problems, False)
    password, password_file = _mqtt_password(values, problems, warnings)
    if password is not None and username is None:
        key = "mqtt.password_file" if password_file is not None else "mqtt.password"
        problems.append(f"{_label(key)}: needs mqtt.username (MQTT sends a password only with a user name)")
    client_id = _text(values, "mqtt.client_id", problems, False)
    if client_id is not None and (len(client_id) > MAX_CLIENT_ID or not client_id.isprintable() or " " in client_id):
        problems.append(
            f"{_label('mqtt.client_id')}: expected up to {MAX_CLIENT_ID} printable characters without spaces, "
            f"got {client_id!r}"
        )
    base = _mqtt_topic(values, "mqtt.base_topic", problems, MQTT_BASE_TOPIC, placeholder=True)
    prefix = _mqtt_topic(values, "mqtt.discovery_prefix", problems, MQTT_DISCOVERY_PREFIX, placeholder=False)
    interval = _number(values, "mqtt.interval", problems, kind=float, minimum=1, maximum=3600, default=MQTT_INTERVAL)
    telegram = _flag(values, "mqtt.telegram", problems)
    warnings.extend(_mqtt_warnings(host, port, tls, password))
    return MqttSettings(
        host=host,
        port=port,
        tls=tls,
        ca_file=ca_file,
        username=username,
        password=password,
        password_file=password_file,
        client_id=client_id,
        base_topic=base,
        discovery_prefix=prefix,
        interval=float(interval),
        telegram=telegram,
    )


def _mqtt_host(values: dict[str, Any], problems: list[str]) -> str | None:
    key = "mqtt.host"
    host = _text(values, key, problems, False)
    if host is None:
        return None
    if "://" in host or "/" in host or any(c.isspace() for c in host) or not host.isprintable():
        problems.append(
            f"{_label(key)}: expected a host name or address without scheme or path (e.g. homeassistant.lan or "
            f"192.168.1.10), got {host!r}"
        )
        return None
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            problems.append(
                f"{_label(key)}: expected a host name or address without a port (the port goes in mqtt.port), "
                f"got {host!r}"
            )
            return None
    return bare


def _mqtt_ca_file(values: dict[str, Any], problems: list[str], tls: bool) -> Path | None:
    """mqtt.ca_file: only with TLS, an absolute path to PEM certificates that the ssl module can load."""
    key = "mqtt.ca_file"
    text = _text(values, key, problems, False)
    if text is None:
        return None
    if not tls:
        problems.append(
            f"{_label(key)}: is used only with mqtt.tls = true (env P1EDGE_MQTT_TLS); set mqtt.tls = true "
            f"(the broker's TLS port, usually {MQTT_TLS_PORT}) or remove mqtt.ca_file"
        )
        return None
    if not os.path.isabs(text):
        problems.append(f"{_label(key)}: expected an absolute file path, got {text!r}")
        return None
    problem = ca_file_problem(Path(text))
    if problem is not None:
        problems.append(f"{_label(key)}: {problem}")
        return None
    return Path(text)


def ca_file_problem(path: Path) -> str | None:
    """Why `path` cannot serve as the CA certificates of a TLS connection, or None."""
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        return f"{path} does not exist"
    except PermissionError:
        return f"{path} is not readable by this user (give the p1edge group read access)"
    except ssl.SSLError as exc:
        return f"{path} holds no PEM CA certificate ({exc.reason or exc}); expected -----BEGIN CERTIFICATE----- blocks"
    except OSError as exc:  # a directory, an I/O error
        return f"{path} cannot be read ({exc.strerror or exc})"
    return None


def _mqtt_password(values: dict[str, Any], problems: list[str], warnings: list[str]) -> tuple[str | None, Path | None]:
    """mqtt.password, or the first line of mqtt.password_file (so the config file itself holds no secret)."""
    password = _text(values, "mqtt.password", problems, False)
    key = "mqtt.password_file"
    text = _text(values, key, problems, False)
    if text is None:
        return password, None
    if password is not None:
        problems.append(f"{_label(key)}: set mqtt.password or mqtt.password_file, not both")
        return None, None
    if not os.path.isabs(text):
        problems.append(f"{_label(key)}: expected an absolute file path, got {text!r}")
        return None, None
    path = Path(text)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{_label(key)}: {path} does not exist")
        return None, None
    except PermissionError:
        problems.append(f"{_label(key)}: {path} is not readable by this user (e.g. chown root:p1edge, chmod 640)")
        return None, None
    except OSError as exc:
        problems.append(f"{_label(key)}: {path} cannot be read ({exc.strerror or exc})")
        return None, None
    lines = raw.decode("utf-8", errors="replace").splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        problems.append(f"{_label(key)}: {path} is empty; expected the password on its first line")
        return None, None
    warnings.extend(_file_warnings(str(path), "the MQTT password"))
    return secret, path


def _mqtt_topic(values: dict[str, Any], key: str, problems: list[str], default: str, *, placeholder: bool) -> str:
    """A topic name to publish under: no wildcards, no empty level, no leading or trailing /, not a $SYS topic."""
    topic = _text(values, key, problems, False)
    if topic is None:
        return default
    bare = topic.replace(SERIAL_PLACEHOLDER, "x") if placeholder else topic
    wrong = (
        any(char in bare for char in "+#{}\x00")
        or "" in bare.split("/")
        or bare.startswith("$")
        or len(topic.encode()) > 200
    )
    if wrong:
        form = f" ({SERIAL_PLACEHOLDER} is the meter's serial)" if placeholder else ""
        problems.append(
            f"{_label(key)}: expected topic levels joined by / like {default}{form}, without +, #, a leading or "
            f"trailing / or an empty level, got {topic!r}"
        )
        return default
    return topic


def _mqtt_warnings(host: str, port: int, tls: bool, password: str | None) -> list[str]:
    """Settings that may be meant (a broker may listen anywhere) but usually are a mistake: named, not refused."""
    warnings = []
    if tls and port == MQTT_PORT:
        warnings.append(
            f"mqtt.port {MQTT_PORT} is MQTT's unencrypted port while mqtt.tls = true: a broker usually speaks TLS on "
            f"{MQTT_TLS_PORT} (set mqtt.port = {MQTT_TLS_PORT}, or mqtt.tls = false)"
        )
    if not tls and port == MQTT_TLS_PORT:
        warnings.append(
            f"mqtt.port {MQTT_TLS_PORT} is MQTT's TLS port while mqtt.tls = false: set mqtt.tls = true "
            f"(env P1EDGE_MQTT_TLS), or mqtt.port = {MQTT_PORT}"
        )
    if password is not None and not tls and not is_loopback(host):
        warnings.append(
            f"the MQTT password travels unencrypted to {host}:{port}; set mqtt.tls = true if the broker offers TLS"
        )
    return warnings
