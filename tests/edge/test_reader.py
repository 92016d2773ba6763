import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from datetime import UTC, datetime, timedelta

import pytest
import serial
from p1edge import reader as reader_module
from p1edge.config import Config
from p1edge.crc import build_telegram
from p1edge.reader import READ_SIZE, READ_TIMEOUT, Reader, _SerialPort, open_port
from p1edge.sampling import first_per_slot
from p1edge.simulator import SimulatorOptions, run, telegrams
from p1edge.spool import Spool
from p1edge.telegram import parse_telegram

from tests.conftest import wait_for
from tests.edge.server import free_port
from tests.edge.telegrams import base_lines, replace


def _stored(spool: Spool) -> list[dict]:
    return [json.loads(body) for body in spool.read_batch(10_000).bodies]


def _expected(options: SimulatorOptions) -> list[dict]:
    # the simulator's own telegram at each slot start, parsed independently of the reader
    start = options.start
    wanted = {start + timedelta(minutes=15 * q) for q in range(int(options.duration.total_seconds()) // 900)}
    return first_per_slot(parse_telegram(text) for at, text in telegrams(options) if at in wanted)


def test_it_reads_the_simulator_through_a_pseudo_terminal(edge_config, tmp_path):
    options = SimulatorOptions(start=datetime(2025, 6, 11, 10, 0, tzinfo=UTC), duration=timedelta(hours=1), gas=True)
    *_, (_at, last_telegram) = telegrams(options)
    master, slave = os.openpty()
    config = edge_config(serial_port=os.ttyname(slave))
    spool = Spool(config.spool_dir)
    reader = Reader(config, spool)
    handled: list[str] = []  # the frames the reader has handled, in order (it is not told when the writer is done)
    handle_frame = reader.handle_frame

    def watched(frame: str):
        handled.append(frame)
        return handle_frame(frame)

    reader.handle_frame = watched
    reads: list[int] = []
    handle_bytes = reader.handle_bytes
    reader.handle_bytes = lambda data: (reads.append(len(data)), handle_bytes(data))[1]
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", reader.run(once=True)))
    thread.start()
    # pyserial empties the input buffer when it opens the port: write once the reader reads.
    wait_for(lambda: reads, message="the reader's first read")
    with os.fdopen(master, "wb", buffering=0) as output:
        run(options, output, speed=0)
        # The hang-up below discards what the reader has not read yet: hang up once it has handled the last telegram.
        wait_for(lambda: handled and handled[-1] == last_telegram, message="the reader to handle the last telegram")
    thread.join(30)
    os.close(slave)
    assert result == {"code": 0}  # ends when the pty hangs up

    stored = _stored(spool)
    expected = _expected(options)
    assert [r["timestamp"] for r in stored] == [r["timestamp"].isoformat() for r in expected]
    assert [r["import_t1_kwh"] for r in stored] == [str(r["import_t1_kwh"]) for r in expected]
    assert [r["gas_m3"] for r in stored] == [str(r["gas_m3"]) for r in expected]
    assert reader.counts["rejected"] == 0
    assert reader.counts["telegrams"] >= 3000


def test_it_counts_and_skips_bad_telegrams_and_keeps_the_quarter(edge_config, tmp_path):
    def telegram(clock: str, **kw) -> str:
        return build_telegram(base_lines(clock=clock), **kw)

    good_early = telegram("250314101459W")
    lost_zero = telegram("250314101500W").replace("*kWh", "kWh", 1)  # CRC fails: the :00 telegram is lost
    good_next = telegram("250314101501W")
    later = telegram("250314101502W")
    corrupt_later = telegram("250314101503W").replace("(1)", "(2)", 1)  # a bit flip in an already stored quarter
    capture = tmp_path / "p1.txt"
    capture.write_bytes(
        ("\x00garbage" + good_early + lost_zero + good_next[:200] + good_next + later + corrupt_later).encode()
    )
    config = edge_config(serial_port=str(capture))
    spool = Spool(config.spool_dir)

    reader = Reader(config, spool)
    assert reader.run(once=True) == 0

    stored = _stored(spool)
    assert [(r["timestamp"], r["measured_at"]) for r in stored] == [
        ("2025-03-14T09:00:00+00:00", "2025-03-14T09:14:59+00:00"),
        ("2025-03-14T09:15:00+00:00", "2025-03-14T09:15:01+00:00"),
    ]
    assert reader.counts["rejected"] == 2
    assert reader.reasons["CRC mismatch"] == 2
    state = json.loads((spool.dir / "reader-state.json").read_text())
    assert state["rejected"] == 2
    assert state["stored"] == 2

    # a restart replaying the same capture adds nothing (the sampler is seeded from the spool)
    assert Reader(config, spool).run(once=True) == 0
    assert len(_stored(spool)) == 2


def test_it_stops_on_request_while_waiting_for_a_missing_port(edge_config, tmp_path):
    config = edge_config(serial_port=str(tmp_path / "not-plugged-in"))
    stop = threading.Event()
    reader = Reader(config, Spool(config.spool_dir), stop=stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert reader.run(once=False) == 0
    assert time.monotonic() - started < 5


# --- malformed lines, oversized frames, ports that refuse (issue 12) -----------------------------------------


def _clock(second: int, minute: int = 15) -> str:
    return f"25031410{minute:02d}{second:02d}W"


def test_it_keeps_a_reading_whose_optional_lines_are_malformed_and_counts_them(edge_config, tmp_path):
    bad_peaks = replace(base_lines(clock=_clock(0)), "0-0:98.1.0", "0-0:98.1.0(12)(1-0:1.6.0)(1-0:1.6.0)")
    bad_voltage = replace(base_lines(clock=_clock(0, 30)), "1-0:32.7.0", "1-0:32.7.0(*V)")
    one_of_two = replace(
        base_lines(clock=_clock(0, 45)),
        "0-0:98.1.0",
        "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(250101000000W)(241212183000W)(06.100*kW)",
    )
    capture = tmp_path / "p1.txt"
    capture.write_bytes("".join(build_telegram(lines) for lines in (bad_peaks, bad_voltage, one_of_two)).encode())
    config = edge_config(serial_port=str(capture))
    spool = Spool(config.spool_dir)

    reader = Reader(config, spool)
    assert reader.run(once=True) == 0

    stored = _stored(spool)
    assert [r["timestamp"] for r in stored] == [
        "2025-03-14T09:15:00+00:00",
        "2025-03-14T09:30:00+00:00",
        "2025-03-14T09:45:00+00:00",
    ]
    assert stored[1]["l1_voltage_v"] is None
    assert stored[1]["l2_voltage_v"] == "232.0"
    state = json.loads((spool.dir / "reader-state.json").read_text())
    assert state["rejected"] == 0
    assert state["fields_dropped"] == 3
    assert state["dropped_fields"] == {"bad field 0-0:98.1.0": 2, "bad field 1-0:32.7.0": 1}


def test_it_rejects_a_telegram_with_a_malformed_required_register_and_keeps_reading(edge_config, tmp_path):
    bad = replace(base_lines(clock=_clock(0)), "1-0:1.8.1", "1-0:1.8.1(*kWh)")
    capture = tmp_path / "p1.txt"
    capture.write_bytes((build_telegram(bad) + build_telegram(base_lines(clock=_clock(1)))).encode())
    config = edge_config(serial_port=str(capture))
    spool = Spool(config.spool_dir)

    reader = Reader(config, spool)
    assert reader.run(once=True) == 0

    assert [r["measured_at"] for r in _stored(spool)] == ["2025-03-14T09:15:01+00:00"]
    assert reader.reasons == {"bad required field 1-0:1.8.1": 1}
    assert reader.last_error.startswith("bad required field 1-0:1.8.1: ")


def test_it_shows_crc_mismatches_in_hex_also_for_a_quarter_already_stored(edge_config, tmp_path):
    first = build_telegram(base_lines(clock=_clock(0)))
    later = build_telegram(base_lines(clock=_clock(1)))
    said = later[-6:-2]
    corrupt = later.replace("(1)", "(2)", 1)
    capture = tmp_path / "p1.txt"
    capture.write_bytes((first + corrupt).encode())
    config = edge_config(serial_port=str(capture))

    reader = Reader(config, Spool(config.spool_dir))
    assert reader.run(once=True) == 0

    assert reader.reasons == {"CRC mismatch": 1}
    assert reader.last_error.startswith(f"CRC mismatch: telegram says 0x{said}, computed 0x")


def test_it_drops_and_counts_an_oversized_frame_and_reads_on(edge_config, tmp_path):
    huge = build_telegram([*base_lines(clock=_clock(0)), *("0-0:96.13.0(" + "41" * 400 + ")" for _ in range(30))])
    capture = tmp_path / "p1.txt"
    capture.write_bytes((huge + build_telegram(base_lines(clock=_clock(1)))).encode())
    config = edge_config(serial_port=str(capture))
    spool = Spool(config.spool_dir)

    assert Reader(config, spool).run(once=True) == 0

    assert [r["measured_at"] for r in _stored(spool)] == ["2025-03-14T09:15:01+00:00"]
    state = json.loads((spool.dir / "reader-state.json").read_text())
    assert state["frames_dropped"] == 1
    assert state["dropped_frame_reasons"] == {"frame over 16384 bytes": 1}


def test_it_retries_a_refused_socket_port_in_service_mode_until_it_answers(edge_config, tmp_path):
    port = free_port()
    config = edge_config(serial_port=f"socket://127.0.0.1:{port}")
    spool = Spool(config.spool_dir)
    reader = Reader(config, spool)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", reader.run(once=False)))
    thread.start()
    try:
        wait_for(lambda: reader.port_error is not None, message="the refused connection")
        assert "Connection refused" in reader.port_error
        assert "\n" not in reader.port_error
        with socket.create_server(("127.0.0.1", port)) as server:
            connection, _address = server.accept()  # the reader's next attempt
            options = SimulatorOptions(start=datetime(2025, 6, 11, 10, 0, tzinfo=UTC), duration=timedelta(minutes=16))
            with connection, connection.makefile("wb") as output:
                run(options, output, speed=0)
            wait_for(lambda: spool.backlog()[0] >= 2, message="two stored readings")
    finally:
        reader.stop.set()
        thread.join(30)
    assert result == {"code": 0}
    assert reader.counts["stored"] == 2


def _without_privileges() -> list[str]:
    """A command prefix under which a mode-000 file is unreadable (root reads it anyway)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]


def test_it_reports_an_unreadable_capture_file_in_one_line(tmp_path):
    capture = tmp_path / "p1.txt"
    capture.write_bytes(build_telegram(base_lines()).encode())
    capture.chmod(0)
    env = {**os.environ, "P1EDGE_CONFIG": str(tmp_path / "none.toml"), "P1EDGE_SPOOL_DIR": str(tmp_path / "spool")}
    env["P1EDGE_SERIAL_PORT"] = str(capture)
    done = subprocess.run(
        [*_without_privileges(), sys.executable, "-m", "p1edge.cli", "read", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(capture) in lines[0]
    assert "ermission denied" in lines[0]


def test_it_retries_an_unreadable_capture_file_in_service_mode(tmp_path):
    capture = tmp_path / "p1.txt"
    capture.write_bytes(build_telegram(base_lines()).encode())
    capture.chmod(0)
    log = tmp_path / "reader.log"
    env = {**os.environ, "P1EDGE_CONFIG": str(tmp_path / "none.toml"), "P1EDGE_SPOOL_DIR": str(tmp_path / "spool")}
    env["P1EDGE_SERIAL_PORT"] = str(capture)
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [*_without_privileges(), sys.executable, "-m", "p1edge.cli", "read"], env=env, stderr=stderr
        )
    try:
        wait_for(lambda: "retrying" in log.read_text(), message="the first retry")
        capture.chmod(0o644)
        spool = Spool(tmp_path / "spool")
        wait_for(lambda: spool.backlog()[0] == 1, message="the reading once the file is readable")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert "Traceback" not in log.read_text()


# --- counters in memory, the state file every 15 minutes, large serial reads (issue 24) --------------------------

# 08:00:00 to 08:30:00 UTC (10:00 to 10:30 on the meter's clock): the first 901 telegrams end with the one that opens
# the second quarter-hour, the other 900 with the one that opens the third, so a stored reading proves that its part
# has been handled entirely.
_HALF_HOUR = [
    text
    for _at, text in telegrams(
        SimulatorOptions(start=datetime(2025, 6, 11, 8, 0, tzinfo=UTC), duration=timedelta(seconds=1801))
    )
]
_FIRST, _SECOND = _HALF_HOUR[:901], _HALF_HOUR[901:]
_SLOTS = ["2025-06-11T08:00:00+00:00", "2025-06-11T08:15:00+00:00", "2025-06-11T08:30:00+00:00"]


def _write_all(fd: int, texts: list[str]) -> None:
    """Into the pty's master side; blocks while the reader has not read enough to make room."""
    view = memoryview("".join(texts).encode("ascii"))
    while view:
        view = view[os.write(fd, view) :]


def _state(spool: Spool) -> dict | None:
    path = spool.dir / "reader-state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _read_until_stopped(config: Config, spool: Spool, master: int, part: list[str], telegrams_then: int):
    """A reader on the pty whose injected clock never moves (only the stop can write its state file): `part` goes
    in, the reader is stopped once it has counted `telegrams_then` telegrams. Returns it and its read sizes."""
    reader = Reader(config, spool, clock=lambda: 0.0)
    reads: list[int] = []
    handle_bytes = reader.handle_bytes
    reader.handle_bytes = lambda data: (reads.append(len(data)), handle_bytes(data))[1]
    before = _state(spool)
    thread = threading.Thread(target=reader.run)
    thread.start()
    try:
        # pyserial empties the input buffer when it opens the port: write once the reader reads (it comes back
        # from a read at least every READ_TIMEOUT)
        wait_for(lambda: reads, message="the reader's first read")
        _write_all(master, part)
        wait_for(lambda: reader.counts["telegrams"] == telegrams_then, message=f"{telegrams_then} telegrams")
        assert _state(spool) == before  # 900 telegrams and a stored reading later: nothing written
    finally:
        reader.stop.set()
        thread.join(10)
    assert not thread.is_alive()
    return reader, reads


def test_counters_stay_in_memory_and_survive_a_clean_stop_and_a_restart(edge_config):
    master, slave = os.openpty()
    tty.setraw(slave)
    config = edge_config(serial_port=os.ttyname(slave))
    spool = Spool(config.spool_dir)
    try:
        for part, telegrams_then, stored_then in ((_FIRST, 901, 2), (_SECOND, 1801, 3)):
            reader, reads = _read_until_stopped(config, spool, master, part, telegrams_then)
            state = _state(spool)
            assert state is not None
            assert (state["telegrams"], state["stored"], state["rejected"]) == (telegrams_then, stored_then, 0)
            assert state["io"]["fsyncs"] >= 1  # the spool's appends; the state file itself has none
            assert reader.state_file.writes == 1  # at the stop
            # large reads: a handful of calls per second of telegrams, not one per byte or per driver packet
            assert len(reads) < len(part) / 2
    finally:
        os.close(master)
        os.close(slave)
    assert [r["timestamp"] for r in _stored(spool)] == _SLOTS


_CHILD = """
import logging, signal, sys, threading
from pathlib import Path
from p1edge.config import Config
from p1edge.reader import Reader
from p1edge.spool import Spool

port, spool_dir, clock_file = sys.argv[1:4]
logging.basicConfig(level=logging.INFO)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
reader = Reader(
    Config(serial_port=port, spool_dir=Path(spool_dir)),
    Spool(spool_dir),
    stop=stop,
    clock=lambda: float(Path(clock_file).read_text()),  # the test moves it
)
raise SystemExit(reader.run())
"""


def _set_clock(path, seconds: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(seconds))
    os.replace(tmp, path)


def test_a_sigkill_loses_at_most_15_minutes_of_counters_and_no_reading(tmp_path):
    clock = tmp_path / "clock"
    _set_clock(clock, 0)
    master, slave = os.openpty()
    tty.setraw(slave)
    spool = Spool(tmp_path / "spool")
    log = tmp_path / "reader.log"
    with open(log, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, os.ttyname(slave), str(spool.dir), str(clock)], stderr=stderr
        )

    def alive(condition):
        def check():
            assert child.poll() is None, f"the reader exited: {log.read_text()[-2000:]}"
            return condition()

        return check

    try:
        wait_for(alive(lambda: "reading /dev/" in log.read_text()), message="the reader to open the pty")
        _write_all(master, _FIRST)
        wait_for(alive(lambda: spool.backlog()[0] == 2), message="the first part's two readings")
        assert _state(spool) is None  # 901 telegrams, two readings, 0 s on its clock: no state file yet

        _set_clock(clock, 900)  # 15 minutes on the reader's clock: written at its next read
        saved = wait_for(alive(lambda: _state(spool)), message="the state file after 15 minutes")
        assert (saved["telegrams"], saved["stored"]) == (901, 2)

        _set_clock(clock, 900 + 899)
        _write_all(master, _SECOND)
        wait_for(alive(lambda: spool.backlog()[0] == 3), message="the second part's reading")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    os.close(master)
    os.close(slave)

    # killed 899 s after the last write: those counters are lost, the third reading is not
    assert _state(spool) == saved
    assert [r["timestamp"] for r in _stored(spool)] == _SLOTS
    config = Config(serial_port=str(tmp_path / "second.txt"), spool_dir=spool.dir)
    restarted = Reader(config, spool)
    assert (restarted.counts["telegrams"], restarted.counts["stored"]) == (901, 2)  # it counts on from the file
    # the same telegrams again (a restart replays the port): nothing stored twice
    (tmp_path / "second.txt").write_text("".join(_SECOND))
    assert restarted.run(once=True) == 0
    assert [r["timestamp"] for r in _stored(spool)] == _SLOTS
    assert _state(spool)["telegrams"] == 901 + 900


class _FakeSerial:
    """A pyserial port handing over fixed chunks; in_waiting would be a byte-by-byte read pattern."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.sizes: list[int] = []

    @property
    def in_waiting(self) -> int:
        raise AssertionError("the reader asked in_waiting")

    def read(self, size: int) -> bytes:
        self.sizes.append(size)
        if not self.chunks:
            raise serial.SerialException("device disconnected")
        return self.chunks.pop(0)

    def close(self) -> None:
        pass


def test_it_reads_the_port_in_large_chunks_and_frames_telegrams_split_across_them(edge_config, monkeypatch):
    assert open_port("loop://", 115200).port.timeout == READ_TIMEOUT
    data = "".join(_FIRST[:60] + _FIRST[-1:]).encode()
    # cut everywhere: inside headers, CRLFs and CRC lines, and several telegrams in one chunk
    chunks, start = [], 0
    for size in itertools.cycle((1, 2, 7, 333, 1254, 4096, 9000)):
        if start >= len(data):
            break
        chunks.append(data[start : start + size])
        start += size
    fake = _FakeSerial(chunks)
    monkeypatch.setattr(reader_module, "open_port", lambda *a, **k: _SerialPort(fake))
    config = edge_config(serial_port="/dev/ttyUSB0")
    spool = Spool(config.spool_dir)
    reader = Reader(config, spool)

    assert reader.run(once=True) == 0

    assert set(fake.sizes) == {READ_SIZE}
    assert reader.counts["telegrams"] == 61
    assert reader.counts["rejected"] == 0
    assert reader.framer.dropped_frames == 0
    assert [r["timestamp"] for r in _stored(spool)] == _SLOTS[:2]
