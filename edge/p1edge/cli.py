"""`p1edge` command line: read, upload, pair, simulate, status, check-config."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import socket
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from p1edge import __version__
from p1edge.config import (
    DEFAULT_CONFIG_PATH,
    READER_KEYS,
    UPLOADER_KEYS,
    Config,
    ConfigError,
    load_config,
    url_problem,
)
from p1edge.devicetoken import DeviceToken, TokenFileError, read_token_file
from p1edge.iostats import per_day
from p1edge.spool import Spool
from p1edge.state import READER_STATE, UPLOADER_STATE, load_state

logger = logging.getLogger("p1edge")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 15m, 6h or 2d, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        expected = "an ISO 8601 time like 2025-03-30T00:00:00+01:00"
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected a time with its UTC offset (e.g. +01:00 or Z), got {text!r}")
    return value


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        logger.info("signal %d: stopping after the current step", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _config(args: argparse.Namespace, need: tuple[str, ...], *, log_warnings: bool = True) -> Config:
    try:
        config = load_config(args.config, need=need)
    except ConfigError as exc:
        print(f"p1edge: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if log_warnings:
        for warning in config.warnings:
            logger.warning("%s", warning)
    return config


def cmd_read(args: argparse.Namespace) -> int:
    from p1edge.reader import Reader

    config = _config(args, READER_KEYS)
    assert config.spool_dir is not None
    publisher = None
    if config.mqtt is not None:
        from p1edge.mqtt import MqttPublisher  # paho is loaded only when MQTT is on

        publisher = MqttPublisher(config.mqtt)
    reader = Reader(config, Spool(config.spool_dir), stop=_stop_on_signals(), publisher=publisher)
    return reader.run(once=args.once)


def cmd_upload(args: argparse.Namespace) -> int:
    from p1edge.uploader import Uploader

    config = _config(args, UPLOADER_KEYS)
    assert config.spool_dir is not None

    def reload_config() -> Config:
        # While a refused password is parked the uploader re-reads the file when it changes (a new password).
        return load_config(args.config, need=UPLOADER_KEYS)

    uploader = Uploader(config, Spool(config.spool_dir), stop=_stop_on_signals(), reload_config=reload_config)
    return uploader.run(once=args.once)


def cmd_pair(args: argparse.Namespace) -> int:
    from p1edge.pairing import run_pair

    config = _config(args, (), log_warnings=False)
    token_file = Path(args.token_file).absolute() if args.token_file else config.device_token_file
    server = args.server or config.api_url
    if not server:
        try:
            current = read_token_file(token_file)
        except TokenFileError:
            current = None
        server = current.server if current is not None else None
    if not server:
        print(
            "p1edge pair: --server URL is required (the server's base URL, like https://p1.example.org)",
            file=sys.stderr,
        )
        return 2
    problem = url_problem(server, config.allow_insecure, "--server")
    if problem:
        print(f"p1edge pair: {problem}", file=sys.stderr)
        return 2
    name = (args.name if args.name is not None else socket.gethostname()).strip()
    if not name:
        print("p1edge pair: --name: expected a non-empty name for this Pi (e.g. kitchen)", file=sys.stderr)
        return 2
    # Ctrl-C cancels, even when started from a shell that ignores SIGINT in background jobs (the child inherits
    # SIG_IGN, and Python then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return run_pair(server.rstrip("/"), name, token_file, timeout=config.api_timeout)


def cmd_simulate(args: argparse.Namespace) -> int:
    from p1edge.simulator import SimulatorOptions, open_output, run

    options = SimulatorOptions(
        start=args.start or datetime.now(UTC).replace(microsecond=0),
        duration=args.duration,
        seed=args.seed,
        serial=args.serial,
        single_phase=args.single_phase,
        gas=args.gas,
    )
    try:
        with open_output(args.output) as output:
            count = run(options, output, speed=args.speed)
    except BrokenPipeError:
        return 0
    logger.info("wrote %d telegrams to %s", count, args.output)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args, ("spool.dir",), log_warnings=False)
    assert config.spool_dir is not None
    if not Path(config.spool_dir).is_dir():
        print(f"spool directory {config.spool_dir} does not exist yet (the reader creates it)")
        return 1
    spool = Spool(config.spool_dir)
    records, size, oldest = spool.backlog()
    age = "-"
    if oldest:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds()
        age = f"{oldest} ({seconds / 3600:.1f} h ago)"
    uploader = load_state(spool.dir, UPLOADER_STATE)
    reader = load_state(spool.dir, READER_STATE)
    pairing, device = _pairing(config)
    port = f"cannot open {reader['port_error']} (retrying)" if reader.get("port_error") else "ok"
    lines = [
        f"spool:            {spool.dir}",
        f"backlog:          {records} readings ({size} bytes)",
        f"oldest unsent:    {age}",
        f"last upload:      {uploader.get('last_upload_at', 'never')}",
        f"uploaded:         {uploader.get('total_sent', 0)} ({uploader.get('total_duplicates', 0)} duplicates)",
        f"last error:       {uploader.get('last_error') or '-'} {uploader.get('last_error_at', '')}".rstrip(),
        f"dead letters:     {spool.dead_letter_count()} ({spool.dead_letter_path})",
        f"pairing:          {pairing}",
        f"login:            {_login_line(uploader, device)}",
        f"live:             {_live_line(uploader, reader)}",
        f"mqtt:             {_mqtt_line(config, reader)}",
        f"reader telegrams: {reader.get('telegrams', 0)} seen, {reader.get('stored', 0)} stored, "
        f"{reader.get('rejected', 0)} rejected {reader.get('rejected_reasons') or ''}".rstrip(),
        f"reader fields:    {reader.get('fields_dropped', 0)} malformed optional fields left out of kept readings "
        f"{reader.get('dropped_fields') or ''}".rstrip(),
        f"reader frames:    {reader.get('frames_dropped', 0)} dropped "
        f"{reader.get('dropped_frame_reasons') or ''}".rstrip(),
        f"reader port:      {port}",
        f"reader last error: {reader.get('last_error') or '-'}",
        f"reader writes:    {per_day(reader.get('io'))}{_as_of(reader)}",
        f"uploader writes:  {per_day(uploader.get('io'))}{_as_of(uploader)}",
    ]
    print("\n".join(lines))
    return 0


def _as_of(state: dict) -> str:
    """When a service last wrote its state file: its counters are as of then (it writes every 15 minutes)."""
    return f"; state of {state['updated_at']}" if state.get("updated_at") else ""


def _live_line(uploader_state: dict, reader_state: dict) -> str:
    """Live snapshots as the uploader last wrote them (counters since it started) and a reader that cannot write
    the live file: `every 10 s: 8640 sent (last ...), 3 dropped (unknown meter: 3), 0 skipped (no fresh live file)`."""
    live = uploader_state.get("live")
    if not isinstance(live, dict):
        return "-"
    if not live.get("interval"):
        return "off (live.interval = 0)"
    dropped = live.get("dropped")
    dropped = dropped if isinstance(dropped, dict) else {}
    total = sum(int(n) for n in dropped.values() if isinstance(n, int))
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(dropped.items()))
    interval = live["interval"]
    every = f"{interval:g}" if isinstance(interval, int | float) else str(interval)
    text = (
        f"every {every} s: {live.get('sent', 0)} sent (last {live.get('last_sent_at') or 'never'}), "
        f"{total} dropped{f' ({reasons})' if reasons else ''}, {live.get('stale', 0)} skipped (no fresh live file)"
    )
    if live.get("note"):
        text += f"; now: {live['note']}"
    if live.get("last_error"):
        text += f"; last error: {live['last_error']} {live.get('last_error_at') or ''}".rstrip()
    reader_live = reader_state.get("live")
    if isinstance(reader_live, dict) and reader_live.get("last_error"):
        text += f"; reader: {reader_live['last_error']}"
    return text


def _mqtt_line(config: Config, reader_state: dict) -> str:
    """The reader's MQTT connection and last publish, as it last wrote them (at once when the connection comes or
    goes, else every state.write_interval): `connected to mqtt://host:1883 since ... as ID; 8640 states (last ...)`."""
    mqtt = reader_state.get("mqtt")
    if not isinstance(mqtt, dict):
        return "off (mqtt.host is not set)" if config.mqtt is None else "on; the reader has not reported yet"
    connected = "connected to" if mqtt.get("connected") else "not connected to"
    since = f" since {mqtt['since']}" if mqtt.get("since") else ""
    text = (
        f"{connected} {mqtt.get('broker')}{since} as {mqtt.get('client_id')}; {mqtt.get('states', 0)} states published "
        f"(last {mqtt.get('last_publish_at') or 'never'}"
        f"{': ' + str(mqtt['last_state']) if mqtt.get('last_state') else ''}), {mqtt.get('configs', 0)} sensors "
        f"announced, {mqtt.get('skipped', 0)} states skipped while disconnected"
    )
    if mqtt.get("last_error"):
        text += f"; last error: {mqtt['last_error']} {mqtt.get('last_error_at') or ''}".rstrip()
    return text


def _pairing(config: Config) -> tuple[str, DeviceToken | None]:
    """The pairing line of `status` ("paired with URL as NAME", or why not), from the token file as the uploader
    reads it, and the token."""
    try:
        device = read_token_file(config.device_token_file)
    except TokenFileError as exc:
        return f"not paired: {exc}", None
    since = f" (since {device.paired_at})" if device is not None and device.paired_at else ""
    return replace(config, device_token=device).pairing() + since, device


def _login_line(uploader_state: dict, device: DeviceToken | None = None) -> str:
    refused = uploader_state.get("device_refused")
    if isinstance(refused, dict) and (device is None or refused.get("token") == device.fingerprint):
        return (
            f"{refused.get('status')} (the server refused the device token at {refused.get('at')}: "
            f"{refused.get('reason')}; uploads are stopped and the spool is kept until p1edge pair writes a new one)"
        )
    if isinstance(refused, dict):
        return "a new pairing is in the token file: the uploader resumes within a minute (it refused the old one)"
    if device is not None:
        return "-"  # the device token replaces the password: an old refusal of it no longer matters
    refused = uploader_state.get("login_refused")
    if not isinstance(refused, dict):
        return "-"
    return (
        f"refused at {refused.get('at')}: {refused.get('reason')}; the uploader does not try this password again "
        f"until the config changes or {refused.get('until')} (touch the config file to try at once)"
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _config(args, tuple(args.need) if args.need else READER_KEYS + UPLOADER_KEYS, log_warnings=False)
    print(f"configuration valid (from {config.source})")
    for key, value in config.effective().items():
        print(f"  {key} = {value}")
    print(f"pairing: {config.pairing()}")
    for warning in config.warnings:
        print(f"warning: {warning}")
    if args.offline:
        return 0
    errors = []
    refusal = _refusal(config)
    if refusal:
        print(f"error: api.device_token_file: {refusal}")
        errors.append(refusal)
    if config.serial_port:
        from p1edge.reader import probe_port

        problem = probe_port(config.serial_port, config.baudrate)
        print(f"error: serial.port: cannot open {problem}" if problem else f"serial.port: {config.serial_port} opens")
        errors += [problem] if problem else []
    if config.upload_server:
        from p1edge.uploader import probe_api

        label = "pairing" if config.device_token is not None else "api.url"
        problem, note = probe_api(config)
        print(f"error: {label}: {problem}" if problem else f"{label}: {note}")
        errors += [problem] if problem else []
    if config.mqtt is not None:
        from p1edge.mqtt import probe_broker

        problem = probe_broker(config.mqtt)
        print(f"error: mqtt.host: {problem}" if problem else f"mqtt.host: {config.mqtt.broker} accepts the connection")
        errors += [problem] if problem else []
    return 1 if errors else 0


def _refusal(config: Config) -> str | None:
    """The uploader's record that the server refused the token now in the token file (revoked), if any."""
    if config.device_token is None or config.spool_dir is None:
        return None
    refused = load_state(Path(config.spool_dir), UPLOADER_STATE).get("device_refused")
    if not isinstance(refused, dict) or refused.get("token") != config.device_token.fingerprint:
        return None
    at, reason = refused.get("at"), refused.get("reason")
    return f"{refused.get('status')} (the server refused this device token at {at}: {reason})"


def _common(default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=default if default is argparse.SUPPRESS else None,
        help=f"TOML config file (default {DEFAULT_CONFIG_PATH}; env P1EDGE_* override)",
    )
    common.add_argument("--log-level", default=default if default is argparse.SUPPRESS else "INFO", choices=LEVELS)
    return common


LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def build_parser() -> argparse.ArgumentParser:
    # the options are accepted before and after the subcommand; SUPPRESS keeps a value given before it
    common = _common(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="p1edge", description="Fluvius P1 reader and uploader for the Raspberry Pi.", parents=[_common(None)]
    )
    parser.add_argument("--version", action="version", version=f"p1edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    read = sub.add_parser(
        "read",
        parents=[common],
        help="read telegrams from the P1 port into the spool",
        description="Read the P1 port (device, pyserial URL or file/FIFO), keep the first valid telegram of "
        "each quarter-hour and append it to the spool. Runs until stopped; reconnects when the port disappears.",
    )
    read.add_argument("--once", action="store_true", help="stop when the input ends (file, FIFO, closed port)")
    read.set_defaults(func=cmd_read)

    upload = sub.add_parser(
        "upload",
        parents=[common],
        help="upload spooled readings to the server",
        description="Send spooled readings in batches to the server's /api/v1/readings with the device token of "
        "`p1edge pair` (or, deprecated, a JWT from api.username/api.password).",
    )
    upload.add_argument(
        "--once", action="store_true", help="drain until the spool is empty (exit 0) or the server is unreachable (75)"
    )
    upload.set_defaults(func=cmd_upload)

    pair = sub.add_parser(
        "pair",
        parents=[common],
        help="pair this Pi with the server (no password: approve a code on the website)",
        description="Ask the server for a pairing code (OAuth 2.0 device authorization, RFC 8628), show where to "
        "approve it (URL, code and a QR code), wait for the approval and write the device token to "
        "api.device_token_file (mode 0600). Run it as the service user: sudo -u p1edge p1edge pair --server URL. "
        "Exit 0: paired, 1: denied, expired or failed (the reason is printed), 2: invalid arguments or "
        "configuration, 130: cancelled (Ctrl-C).",
    )
    pair.add_argument(
        "--server",
        help="the server's base URL, like https://p1.example.org (default: api.url, else the server of the "
        "current pairing); https:// unless api.allow_insecure = true or a loopback address",
    )
    pair.add_argument("--name", help="this Pi's name on the website's Devices page (default: the hostname)")
    pair.add_argument(
        "--token-file", help="where to write the device token (default: api.device_token_file, /var/lib/p1edge/...)"
    )
    pair.set_defaults(func=cmd_pair)

    simulate = sub.add_parser(
        "simulate",
        parents=[common],
        help="write realistic Fluvius telegrams (no meter needed)",
        description="Write one telegram per simulated meter-second, CRC valid, to a file, FIFO, pty or stdout.",
    )
    simulate.add_argument("--output", required=True, help="file, FIFO or terminal path, or - for stdout")
    simulate.add_argument("--start", type=_start, default=None, help="meter time of the first telegram (ISO 8601)")
    simulate.add_argument("--duration", type=_duration, default=timedelta(hours=6), help="e.g. 90s, 15m, 6h, 2d")
    simulate.add_argument("--speed", type=float, default=900.0, help="times real time; 0 = as fast as possible")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (same seed, same telegrams)")
    simulate.add_argument("--serial", default="1SAG3100716957", help="equipment id to send")
    simulate.add_argument("--single-phase", action="store_true", help="an S211 single-phase meter (L1 only)")
    simulate.add_argument("--gas", action="store_true", help="add a gas meter on M-Bus channel 1")
    simulate.set_defaults(func=cmd_simulate)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="backlog, last upload, last error, pairing, live snapshots, MQTT, dead letters, bytes written per day",
        description="Print the spool backlog (size and age), last upload, last error, dead-letter count, the pairing "
        "(paired with URL as NAME), whether the server refused the device token or the password, the live "
        "snapshots sent and dropped, the MQTT connection and last publish, and what the "
        "reader and the uploader write to the SD card per day. The counters are those the services last wrote "
        "(every state.write_interval seconds, 15 minutes by default, and when they stop).",
    )
    status.set_defaults(func=cmd_status)

    check = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate and print the effective configuration",
        description="Validate the configuration (file + environment) and print it with secrets masked, warn "
        "about a config file other users can read, then open the serial port, reach the server's token "
        "endpoint (no login) and the MQTT broker (when [mqtt] is set) and name what fails. Exit 2: invalid "
        "configuration, 1: a check failed.",
    )
    check.add_argument(
        "--offline", action="store_true", help="validate only; do not open the port or contact the server"
    )
    check.add_argument("--need", nargs="*", help=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
