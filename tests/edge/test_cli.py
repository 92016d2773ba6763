"""The p1edge command line as an operator uses it: subprocesses, signals, FIFOs and terminals."""

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
from p1edge.cli import build_parser, main
from p1edge.config import Config
from p1edge.framing import split_telegrams
from p1edge.reader import Reader
from p1edge.spool import Spool
from p1edge.telegram import parse_telegram

from tests.conftest import wait_for

SUBCOMMANDS = ("read", "upload", "pair", "simulate", "status", "check-config")


def _env(tmp_path, **extra):
    return {
        **os.environ,
        "P1EDGE_CONFIG": str(tmp_path / "none.toml"),
        "P1EDGE_SPOOL_DIR": str(tmp_path / "spool"),
        **extra,
    }


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_it_has_help_for_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: p1edge {command}" in capsys.readouterr().out


def test_it_stops_the_reader_cleanly_on_sigterm_and_saves_its_counters(tmp_path):
    capture = tmp_path / "p1.txt"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "p1edge.cli",
            "simulate",
            "--output",
            str(capture),
            # 10:00:00 to 10:30:00 inclusive: the last telegram opens a third quarter, so three stored readings
            # prove the reader has consumed the whole capture (and is now following the file).
            "--duration",
            "1801s",
            "--speed",
            "0",
            "--start",
            "2025-03-14T10:00:00+01:00",
        ],
        check=True,
        timeout=60,
    )
    reader = subprocess.Popen(
        [sys.executable, "-m", "p1edge.cli", "read", "--log-level", "WARNING"],
        env=_env(tmp_path, P1EDGE_SERIAL_PORT=str(capture)),
    )
    state = tmp_path / "spool" / "reader-state.json"
    spool = Spool(tmp_path / "spool")
    try:
        wait_for(lambda: spool.backlog()[0] >= 3, message="the reader to store the capture's three readings")
    finally:
        reader.send_signal(signal.SIGTERM)
        code = reader.wait(timeout=10)
    assert code == 0
    counters = json.loads(state.read_text())
    assert counters["stored"] == 3
    assert counters["telegrams"] == 1801


def test_it_simulates_into_a_fifo_read_by_the_reader(tmp_path):
    fifo = tmp_path / "p1.fifo"
    os.mkfifo(fifo)
    config = Config(serial_port=str(fifo), spool_dir=tmp_path / "spool")
    reader = Reader(config, Spool(config.spool_dir))
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", reader.run(once=True)))
    thread.start()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "p1edge.cli",
            "simulate",
            "--output",
            str(fifo),
            "--duration",
            "16m",
            "--speed",
            "0",
            "--start",
            "2025-03-14T10:00:00+01:00",
        ],
        check=True,
        timeout=60,
    )
    thread.join(30)
    assert result == {"code": 0}
    assert reader.counts["telegrams"] == 960
    assert reader.counts["stored"] == 2


def test_it_simulates_crlf_unchanged_into_a_pseudo_terminal(tmp_path):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    process = subprocess.Popen(
        [sys.executable, "-m", "p1edge.cli", "simulate", "--output", path, "--duration", "5s", "--speed", "0"]
    )
    # the simulator opens the path itself and sets raw mode, so CRLF is not turned into CR CR LF
    data = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([master], [], [], 0.2)
        if ready:
            data += os.read(master, 65536)
        elif process.poll() is not None:
            break
    assert process.wait(timeout=5) == 0
    os.close(slave)
    os.close(master)
    frames = split_telegrams(data.decode("latin-1"))
    assert len(frames) == 5
    assert b"\r\r\n" not in data
    assert parse_telegram(frames[0])["serial"] == "1SAG3100716957"


def test_it_reports_backlog_uploads_errors_and_dead_letters_in_status(tmp_path, capsys, monkeypatch):
    from p1edge.records import encode_record

    from tests.edge.conftest import make_reading

    for key, value in _env(tmp_path).items():
        if key.startswith("P1EDGE_"):
            monkeypatch.setenv(key, value)
    spool = Spool(tmp_path / "spool")
    spool.append([encode_record(make_reading(i)) for i in range(3)])
    spool.dead_letter({"record": {"serial": "x"}, "errors": []})

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    assert "backlog:          3 readings" in out
    assert "oldest unsent:    2025-01-01T00:00:00+00:00" in out
    assert "last upload:      never" in out
    assert "dead letters:     1" in out


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"P1EDGE_API_USERNAME": "pi", "P1EDGE_API_PASSWORD": "pw"},
            "not paired: using the deprecated username/password",
        ),
        ({}, "not paired"),
    ],
)
def test_it_shows_an_unpaired_pi_in_status(tmp_path, capsys, monkeypatch, env, line):
    for key in ("P1EDGE_API_USERNAME", "P1EDGE_API_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**_env(tmp_path, **env), "P1EDGE_DEVICE_TOKEN_FILE": str(tmp_path / "device-token")}.items():
        if key.startswith("P1EDGE_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "spool").mkdir()
    assert main(["status"]) == 0
    [pairing] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("pairing:")]
    assert pairing.split(None, 1)[1] == line


def test_it_shows_what_the_reader_and_the_uploader_write_per_day_in_status(tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        if key.startswith("P1EDGE_"):
            monkeypatch.setenv(key, value)
    spool = tmp_path / "spool"
    spool.mkdir()
    reader = {
        "io": {"seconds": 43_200, "write_bytes": 400_000, "fsyncs": 48},
        "updated_at": "2025-06-11T12:00:00+00:00",
    }
    uploader = {"io": {"seconds": 21_600, "write_bytes": 200_000, "fsyncs": 48}, "updated_at": "2025-06-11T06:00:00Z"}
    (spool / "reader-state.json").write_text(json.dumps(reader))
    (spool / "uploader-state.json").write_text(json.dumps(uploader))

    assert main(["status"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert (
        "reader writes:    0.8 MB/day written, 96 fsyncs/day (over 12.0 h); state of 2025-06-11T12:00:00+00:00" in lines
    )
    assert "uploader writes:  0.8 MB/day written, 192 fsyncs/day (over 6.0 h); state of 2025-06-11T06:00:00Z" in lines


def test_status_says_so_when_a_service_has_not_written_its_figures_yet(tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        if key.startswith("P1EDGE_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "spool").mkdir()
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "reader writes:    -" in lines
    assert "uploader writes:  -" in lines


def test_status_shows_the_live_snapshots_the_uploader_last_wrote(tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        if key.startswith("P1EDGE_"):
            monkeypatch.setenv(key, value)
    spool = tmp_path / "spool"
    spool.mkdir()

    def live_line(uploader: dict | None, reader: dict | None = None) -> str:
        for name, state in (("uploader-state.json", uploader), ("reader-state.json", reader)):
            if state is not None:
                (spool / name).write_text(json.dumps(state))
        assert main(["status"]) == 0
        [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("live:")]
        return line.split(None, 1)[1]

    assert live_line(None) == "-"  # the uploader has not written its state yet
    live = {
        "interval": 10.0,
        "sent": 8640,
        "dropped": {"unknown meter": 3, "timeout": 1},
        "stale": 2,
        "last_sent_at": "2025-06-11T12:00:03+00:00",
        "last_error": "no answer from https://p1.example.org/api/v1/live within 10 s",
        "last_error_at": "2025-06-11T11:00:00+00:00",
        "note": None,
    }
    assert live_line({"live": live}) == (
        "every 10 s: 8640 sent (last 2025-06-11T12:00:03+00:00), 4 dropped (timeout: 1, unknown meter: 3), "
        "2 skipped (no fresh live file); last error: no answer from https://p1.example.org/api/v1/live within 10 s "
        "2025-06-11T11:00:00+00:00"
    )
    unpaired = {"interval": 10.0, "note": "live snapshots need a paired device (p1edge pair)"}
    reader = {"live": {"file": "/run/p1edge/live.json", "writes": 0, "last_error": "cannot write x: Read-only"}}
    assert live_line({"live": unpaired}, reader) == (
        "every 10 s: 0 sent (last never), 0 dropped, 0 skipped (no fresh live file); "
        "now: live snapshots need a paired device (p1edge pair); reader: cannot write x: Read-only"
    )
    assert live_line({"live": {"interval": 0}}) == "off (live.interval = 0)"
