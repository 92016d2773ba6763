"""What the Pi writes to its SD card in a day, before and after issue 24, and the reader's CPU.

    .venv/bin/python bench/edge_writes.py [--speed 720] [--window 60]

Day run, once per mode: the simulator writes a day of telegrams (one per meter-second, 86,400) into a pseudo-terminal;
the reader (`p1edge.reader.Reader`) and the uploader (`p1edge.uploader.Uploader`) run in their own processes, as the
services do, configured from the environment like `p1edge read` / `p1edge upload`. Time is compressed (--speed times
real time) only where the code takes an injected clock: the simulator's pace, the reader's clock (its state-file
interval), the uploader's clock and sleep (quarter-hour slots, spool checks, polls). The serial port, the file
system, fsync and HTTP are real. The uploader sends with a device token to a stub server in this process, which
accepts every reading and counts the POSTs.

What is counted, in the measured processes themselves (p1edge.iostats, what `p1edge status` shows): bytes from each
process's own /proc/self/io `write_bytes` (pages it dirtied, 4 KiB each; the file system's journal, which every
fsync commits, is written by a kernel thread and not included, which is why the fsyncs are counted too); fsyncs by
wrapping os.fsync. Both are recorded in each process's state file at its clean stop; this script scales them to a
day by the span on the compressed clock. Under compression the reader checks whether its state file is due once
per read (about 50 telegrams at --speed 720, once a second in real time), so AFTER writes it a little less often
than every 15 minutes here.

Real-time window, once per mode: --window seconds at one telegram per second, each telegram handed over in 62-byte
packets at the pace of 115200 baud (as a USB serial adapter does), for the reader's CPU % of one core, from
/proc/<pid>/schedstat (nanoseconds on the CPU).

BEFORE is the old behaviour, reachable through the configuration: state.write_interval = 30 and state.fsync = true
(reader-state.json and uploader-state.json every 30 s, two fsyncs each), api.upload_poll = 10 (the spool looked at
every 10 s); plus the old serial read (at least one byte, then what in_waiting reports), which no configuration
reaches: this script puts it back into the BEFORE reader process. AFTER is the default configuration.
Targets: under 5 MB and under 300 fsyncs per day, the reader under 1 % of one core.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import serial
from p1edge import reader as reader_module
from p1edge import wire
from p1edge.config import READER_KEYS, UPLOADER_KEYS, load_config
from p1edge.devicetoken import DeviceToken, write_token_file
from p1edge.reader import PortClosed, Reader
from p1edge.simulator import SimulatorOptions, run, telegrams
from p1edge.spool import Spool
from p1edge.uploader import Uploader

ROOT = Path(__file__).resolve().parents[1]

DAY = 86_400.0
STARTUP_SECONDS = 5.0  # the children import and open the port before the simulated day begins
DAY_START = datetime(2025, 6, 11, 22, 0, tzinfo=UTC)  # midnight on the meter's clock (Brussels, summer time)
MODES: dict[str, dict[str, str]] = {
    # Live snapshots did not exist before; after, the live file sits in the services' RuntimeDirectory (tmpfs).
    "before": {
        "P1EDGE_STATE_WRITE_INTERVAL": "30",
        "P1EDGE_STATE_FSYNC": "true",
        "P1EDGE_UPLOAD_POLL": "10",
        "P1EDGE_LIVE_INTERVAL": "0",
    },
    "after": {},
}
PACKET_BYTES = 62  # an FTDI adapter's USB packet (64 bytes, 2 of them status)
BYTE_SECONDS = 10 / 115_200  # 8N1: ten bits a byte
TARGET_BYTES, TARGET_FSYNCS, TARGET_CPU = 5e6, 300, 1.0


# --- the measured processes -----------------------------------------------------------------------------------------


def _old_serial_read(self: reader_module._SerialPort, size: int) -> bytes:
    """p1edge's serial read before issue 24: at least one byte, then as many as the driver says are waiting."""
    try:
        return self.port.read(max(1, min(self.port.in_waiting, size)))
    except (serial.SerialException, OSError) as exc:
        raise PortClosed(str(exc)) from exc


def child(role: str, speed: float, origin: float, old_serial_read: bool) -> int:
    """A reader or an uploader whose clock runs `speed` times real time from `origin` (time.monotonic of this
    machine, shared by all processes) = DAY_START on the meter's clock."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if role == "reader":
        config = load_config(None, need=READER_KEYS)
        assert config.spool_dir is not None
        if old_serial_read:
            reader_module._SerialPort.read = _old_serial_read  # type: ignore[method-assign]
        reader = Reader(config, Spool(config.spool_dir), stop=stop, clock=lambda: (time.monotonic() - origin) * speed)
        return reader.run()
    config = load_config(None, need=UPLOADER_KEYS)
    assert config.spool_dir is not None
    start = DAY_START.timestamp()
    uploader = Uploader(
        config,
        Spool(config.spool_dir),
        stop=stop,
        clock=lambda: start + (time.monotonic() - origin) * speed,
        sleep=lambda seconds: stop.wait(seconds / speed),
    )
    return uploader.run()


# --- the server ------------------------------------------------------------------------------------------------------


class StubServer:
    """Accepts every POST of readings (as the server does for new ones) and counts them."""

    def __init__(self) -> None:
        self.posts = 0
        self.readings = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                count = len(body.get("readings", [])) if self.path == wire.READINGS_PATH else 0
                stub.posts += 1
                stub.readings += count
                data = json.dumps({"created": count, "duplicates": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- one run ---------------------------------------------------------------------------------------------------------


@dataclass
class Service:
    bytes: float  # per day
    fsyncs: float  # per day
    cpu_seconds: float  # per day (day run)


@dataclass
class DayRun:
    reader: Service
    uploader: Service
    posts: float  # per day
    readings: int
    feed_seconds: float  # real time the day's telegrams took to go in

    @property
    def bytes(self) -> float:
        return self.reader.bytes + self.uploader.bytes

    @property
    def fsyncs(self) -> float:
        return self.reader.fsyncs + self.uploader.fsyncs


def cpu_seconds(pid: int) -> float:
    """Time on the CPU of every thread of `pid` (schedstat, ns), else utime + stime (clock ticks)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(work: Path, mode: str, port: str, spool_dir: Path, token_file: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("P1EDGE_")}
    # What systemd's RuntimeDirectory=p1edge gives both services: a directory on tmpfs (/run), never the SD card.
    runtime = work / "run"
    if Path("/dev/shm").is_dir():
        runtime = Path(tempfile.mkdtemp(prefix="p1edge-run-", dir="/dev/shm"))
        atexit.register(shutil.rmtree, runtime, ignore_errors=True)
    runtime.mkdir(exist_ok=True)
    return {
        **env,
        "RUNTIME_DIRECTORY": str(runtime),
        "P1EDGE_CONFIG": str(work / "none.toml"),
        "P1EDGE_SERIAL_PORT": port,
        "P1EDGE_SPOOL_DIR": str(spool_dir),
        "P1EDGE_DEVICE_TOKEN_FILE": str(token_file),
        **MODES[mode],
    }


def _start(role: str, mode: str, speed: float, origin: float, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, __file__, "--child", role, "--speed", str(speed), "--origin", repr(origin)]
    if mode == "before" and role == "reader":
        command.append("--old-serial-read")
    with open(log, "wb") as stderr:
        return subprocess.Popen(command, env=env, cwd=ROOT, stderr=stderr)


def _wait(
    condition: Callable[[], object], what: str, processes: list[subprocess.Popen], log: Path, timeout: float = 60.0
) -> None:
    """Poll until `condition()`; fail at once when a child died, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"a child exited ({process.returncode}) waiting for {what}: {log.read_text()[-2000:]}"
                )
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")
        time.sleep(0.01)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _io(spool_dir: Path, name: str) -> dict:
    return json.loads((spool_dir / name).read_text())["io"]


def day_run(mode: str, speed: float, work: Path, server: StubServer) -> DayRun:
    spool_dir = work / f"spool-{mode}"
    token_file = work / f"device-token-{mode}"
    spool_dir.mkdir()
    write_token_file(token_file, DeviceToken("p1d_bench-" + mode, server.url, f"bench-{mode}"))
    master, slave = os.openpty()
    tty.setraw(slave)
    env = _env(work, mode, os.ttyname(slave), spool_dir, token_file)
    origin = time.monotonic() + STARTUP_SECONDS
    log = work / f"{mode}.log"
    reader = _start("reader", mode, speed, origin, env, log)
    uploader = _start("uploader", mode, speed, origin, env, work / f"{mode}-uploader.log")
    children = [reader, uploader]
    posts, readings = server.posts, server.readings
    try:
        _wait(lambda: "reading /dev/" in log.read_text(), "the reader to open the pty", children, log)
        if time.monotonic() > origin:
            raise RuntimeError(f"the children took over {STARTUP_SECONDS} s to start: raise STARTUP_SECONDS")
        time.sleep(origin - time.monotonic())  # the day starts at `origin` on every clock
        cpu = {p.pid: cpu_seconds(p.pid) for p in children}
        options = SimulatorOptions(start=DAY_START, duration=timedelta(days=1), gas=True)
        with os.fdopen(os.dup(master), "wb", buffering=0) as output:
            run(options, output, speed=speed)
        fed = time.monotonic() - origin
        _wait(lambda: server.readings - readings >= 96, "96 delivered readings", children, log, timeout=120)
        ended = time.monotonic()
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu.items()}
    finally:
        _stop(children)
        os.close(master)
        os.close(slave)
    days = (ended - origin) * speed / DAY
    services = []
    for process, name in ((reader, "reader-state.json"), (uploader, "uploader-state.json")):
        io = _io(spool_dir, name)
        services.append(Service(io["write_bytes"] / days, io["fsyncs"] / days, cpu[process.pid] / days))
    return DayRun(services[0], services[1], (server.posts - posts) / days, server.readings - readings, fed)


def realtime_cpu(mode: str, window: float, work: Path) -> float:
    """The reader's CPU % of one core at one telegram per second, paced like a serial line."""
    spool_dir = work / f"spool-realtime-{mode}"
    master, slave = os.openpty()
    tty.setraw(slave)
    env = _env(work, mode, os.ttyname(slave), spool_dir, work / "no-token")
    log = work / f"realtime-{mode}.log"
    reader = _start("reader", mode, 1.0, time.monotonic(), env, log)
    # From 10:14:20 on the meter's clock: the first telegram is stored (and warms the parser up) before the
    # measurement starts; the window then crosses 10:15:00, so it includes a full parse and a stored reading too.
    options = SimulatorOptions(
        start=datetime(2025, 6, 11, 8, 14, 20, tzinfo=UTC), duration=timedelta(seconds=window + 1)
    )
    spool = Spool(spool_dir)
    try:
        _wait(lambda: "reading /dev/" in log.read_text(), "the reader to open the pty", [reader], log)
        stream = telegrams(options)
        os.write(master, next(stream)[1].encode("ascii"))
        _wait(lambda: spool.backlog()[0] == 1, "the first reading", [reader], log)
        started = time.monotonic()
        before = cpu_seconds(reader.pid)
        for second, (_at, text) in enumerate(stream):
            data = text.encode("ascii")
            for index in range(0, len(data), PACKET_BYTES):
                wake = started + second + (index + PACKET_BYTES) * BYTE_SECONDS
                time.sleep(max(0.0, wake - time.monotonic()))  # the pace of the line, not a wait for a condition
                os.write(master, data[index : index + PACKET_BYTES])
        time.sleep(max(0.0, started + window - time.monotonic()))
        used = cpu_seconds(reader.pid) - before
        elapsed = time.monotonic() - started
    finally:
        _stop([reader])
        os.close(master)
        os.close(slave)
    if window > 40 and spool.backlog()[0] != 2:
        raise RuntimeError(f"the real-time reader did not store the 10:15 reading: {log.read_text()[-2000:]}")
    return 100 * used / elapsed


# --- the report ------------------------------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / 1e6:.2f} MB"


def _ratio(before: float, after: float) -> str:
    return f"x{before / after:.1f}" if after > 0 else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=720.0, help="times real time for the day runs (120 s a day)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of the real-time CPU runs")
    parser.add_argument("--child", choices=("reader", "uploader"), help=argparse.SUPPRESS)
    parser.add_argument("--origin", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--old-serial-read", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.speed, args.origin, args.old_serial_read)

    days: dict[str, DayRun] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edge-writes-", dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        server = StubServer()
        try:
            for mode in MODES:
                print(f"{mode}: a day of telegrams at {args.speed:g}x real time ...", flush=True)
                days[mode] = day_run(mode, args.speed, work, server)
                print(
                    f"  {days[mode].readings} readings delivered; the day went in in {days[mode].feed_seconds:.0f} s "
                    f"(planned {DAY / args.speed:.0f} s)",
                    flush=True,
                )
                print(f"{mode}: {args.window:g} s in real time, one telegram per second ...", flush=True)
                cpu[mode] = realtime_cpu(mode, args.window, work)
        finally:
            server.server.shutdown()

    before, after = days["before"], days["after"]
    mb, count, seconds = _mb, (lambda v: f"{v:.0f}"), (lambda v: f"{v:.1f}")
    rows: list[tuple[str, float, float, Callable[[float], str]]] = [
        ("reader bytes/day", before.reader.bytes, after.reader.bytes, mb),
        ("reader fsyncs/day", before.reader.fsyncs, after.reader.fsyncs, count),
        ("uploader bytes/day", before.uploader.bytes, after.uploader.bytes, mb),
        ("uploader fsyncs/day", before.uploader.fsyncs, after.uploader.fsyncs, count),
        ("total bytes/day", before.bytes, after.bytes, mb),
        ("total fsyncs/day", before.fsyncs, after.fsyncs, count),
        ("POSTs/day", before.posts, after.posts, count),
        ("reader CPU % of a core (real time)", cpu["before"], cpu["after"], lambda v: f"{v:.3f} %"),
        ("reader CPU s/day (day run)", before.reader.cpu_seconds, after.reader.cpu_seconds, seconds),
        ("uploader CPU s/day (day run)", before.uploader.cpu_seconds, after.uploader.cpu_seconds, seconds),
    ]
    print()
    print(f"{'per day':<36}{'BEFORE':>12}{'AFTER':>12}{'before/after':>14}")
    for label, value_before, value_after, shown in rows:
        print(f"{label:<36}{shown(value_before):>12}{shown(value_after):>12}{_ratio(value_before, value_after):>14}")
    print()
    print("bytes: each process's /proc/self/io write_bytes; fsyncs: os.fsync wrapped in each process (p1edge.iostats)")
    goals = [
        (f"under 5 MB a day: {_mb(after.bytes)}", after.bytes < TARGET_BYTES),
        (f"under 300 fsyncs a day: {after.fsyncs:.0f}", after.fsyncs < TARGET_FSYNCS),
        (f"reader under 1 % of one core: {cpu['after']:.3f} %", cpu["after"] < TARGET_CPU),
    ]
    for text, met in goals:
        print(f"{text} ({'met' if met else 'NOT met'})")
    delivered = all(run.readings == 96 for run in days.values())
    return 0 if delivered and all(met for _t, met in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
