"""Live snapshots, edge side (issue 16): the reader shares the latest telegram in a file, the uploader's live sender
posts it to /api/v1/live. The server is faked on loopback (FakeApi below: the endpoint is built on the server side
at the same time); no test waits for the wall clock: clocks are injected, and the only real waits are a server
that holds its answer (a timeout, a hanging endpoint), which is the behaviour under test."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from p1edge import live as live_module
from p1edge import reader as reader_module
from p1edge import wire
from p1edge.crc import build_telegram
from p1edge.devicetoken import DeviceToken
from p1edge.live import (
    decode_snapshot,
    encode_snapshot,
    load_live_file,
    read_live_file,
    snapshot_from_reading,
    write_live_file,
)
from p1edge.reader import Reader
from p1edge.records import encode_record, to_wire
from p1edge.spool import Spool
from p1edge.telegram import parse_telegram
from p1edge.uploader import (
    LIVE_REFUSED_SECONDS,
    LIVE_UNPAIRED,
    REVOKED_STATUS,
    TOKEN_CHECK_SECONDS,
    LiveSender,
    Uploader,
)

from tests.conftest import wait_for
from tests.edge.conftest import make_reading
from tests.edge.telegrams import SERIAL, base_lines, without
from tests.edge.test_uploader import SteadyStream

TOKEN = "p1d_kitchen-secret"
# What the fake server answers and a fixed modification time: no test reads the day it runs on.
RECEIVED_AT = "2026-12-01T17:07:31+00:00"
WRITTEN_AT = datetime(2026, 12, 1, 17, 7, 30, tzinfo=UTC).timestamp()


def _telegram(second: int, minute: int = 15) -> str:
    """A CRC-valid telegram of 2025-03-14 10:<minute>:<second> on the meter's clock (winter time, UTC+1)."""
    return build_telegram(base_lines(clock=f"25031410{minute:02d}{second:02d}W"))


def _measured(second: int, minute: int = 15) -> str:
    return f"2025-03-14T09:{minute:02d}:{second:02d}+00:00"


class FakeApi:
    """The server's side of wire.py for the uploader: readings are accepted; a live snapshot gets the next of
    `live_answers` ((status, body, headers), consumed in order), else 202; with `hang` the live endpoint holds its
    answer until `release` is set. Records every request as (path, body, headers)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, object, dict]] = []
        self.live_answers: list[tuple[int, object, dict]] = []
        self.hang = False
        self.release = threading.Event()
        self.live_arrived = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
                api.requests.append((self.path, body, dict(self.headers)))
                if self.path == wire.READINGS_PATH:
                    self._reply(200, {"created": len(body["readings"]), "duplicates": 0})
                elif self.path == wire.LIVE_PATH:
                    api.live_arrived.set()
                    if api.hang:
                        api.release.wait(30)
                    status, reply, headers = api.live_answers.pop(0) if api.live_answers else (202, None, {})
                    if reply is None:
                        reply = {"accepted": True, "received_at": RECEIVED_AT}
                    self._reply(status, reply, headers)
                else:
                    self._reply(404, {"detail": "Not found."})

            def _reply(self, status, reply, headers=None):
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (a timeout under test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def posts(self, path: str) -> list[tuple[str, object, dict]]:
        return [r for r in self.requests if r[0] == path]


@pytest.fixture
def api():
    fake = FakeApi()
    yield fake
    fake.release.set()
    fake.httpd.shutdown()


@pytest.fixture
def paired(api, edge_config):
    """A paired Pi's config (live every 10 s, the file in the spool directory) and its spool with 3 readings."""

    def build(**overrides):
        device = DeviceToken(TOKEN, api.url, "kitchen")
        config = edge_config(**{"api_url": api.url, "device_token": device, "live_interval": 10.0, **overrides})
        spool = Spool(config.spool_dir)
        spool.append([encode_record(make_reading(i)) for i in range(3)])
        return config, spool

    return build


def _share(path: Path, text: str | None = None, *, mtime: float = WRITTEN_AT) -> dict:
    """Write the live file as the reader does, from a parsed telegram, stamped ``mtime`` (by default the fixed
    WRITTEN_AT, which the senders' clock below takes as a second ago); returns the snapshot."""
    snapshot = snapshot_from_reading(parse_telegram(text or _telegram(3)))
    write_live_file(path, snapshot)
    os.utime(path, (mtime, mtime))
    return snapshot


def _now() -> float:
    """The Pi's clock of these tests: one second after the live file was written."""
    return WRITTEN_AT + 1


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# --- the pure part: fields, encoding, the file ----------------------------------------------------------------------


def test_it_picks_the_live_fields_of_a_telegram_and_encodes_them_like_the_spool():
    reading = parse_telegram(_telegram(3))
    snapshot = snapshot_from_reading(reading)
    assert set(snapshot) == set(wire.LIVE_FIELDS)  # this telegram has every one, registers included
    wire_snapshot = json.loads(encode_snapshot(snapshot))
    assert list(wire_snapshot) == list(wire.LIVE_FIELDS)
    assert wire_snapshot["serial"] == SERIAL
    assert wire_snapshot["measured_at"] == _measured(3)  # the meter's time, with its offset
    assert wire_snapshot["power_import_kw"] == "1.870"  # decimals as strings, exactly as read
    assert wire_snapshot["l2_voltage_v"] == "232.0"
    assert wire_snapshot["tariff"] == 1
    assert wire_snapshot["avg_demand_kw"] == "1.234"
    assert (wire_snapshot["month_peak_kw"], wire_snapshot["month_peak_at"]) == ("5.678", "2025-03-03T17:45:00+00:00")
    assert wire_snapshot["import_t1_kwh"] == "4512.345"
    # the same text as the spool record of the same reading, field by field
    record = to_wire({**reading, "timestamp": reading["measured_at"]})
    assert all(record[key] == value for key, value in wire_snapshot.items())


def test_it_leaves_out_what_the_meter_did_not_send():
    reading = parse_telegram(build_telegram(without(base_lines(), "1-0:1.4.0", "1-0:1.6.0", "1-0:52.7.0")))
    wire_snapshot = json.loads(encode_snapshot(snapshot_from_reading(reading)))
    assert {"avg_demand_kw", "month_peak_kw", "month_peak_at", "l2_voltage_v"}.isdisjoint(wire_snapshot)
    assert set(wire.LIVE_REQUIRED_FIELDS) <= set(wire_snapshot)
    assert None not in wire_snapshot.values()


def test_it_replaces_the_live_file_atomically_in_its_directory_without_fsync(tmp_path, monkeypatch):
    path = tmp_path / "live.json"
    fsyncs: list[object] = []
    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    monkeypatch.setattr(
        live_module.os, "replace", lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst))
    )

    _share(path, _telegram(3))
    second = _share(path, _telegram(4))

    assert fsyncs == []
    assert [(src.parent, dst) for src, dst in replaced] == [(tmp_path, path)] * 2  # a temp file renamed over it
    assert read_live_file(path) == json.loads(encode_snapshot(second))
    assert [p.name for p in tmp_path.iterdir()] == ["live.json"]  # no temporary file left


def test_it_leaves_no_temporary_file_when_the_write_fails(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(live_module.os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        _share(tmp_path / "live.json")
    assert list(tmp_path.iterdir()) == []


_GOOD = encode_snapshot(snapshot_from_reading(parse_telegram(_telegram(3))))


@pytest.mark.parametrize(
    "content",
    [
        None,  # no file (the reader has not written one yet)
        b"",
        _GOOD[: len(_GOOD) // 2],  # half a file, as a non-atomic writer would leave it
        b"\x00\xff\xfe garbage",
        b"[1, 2, 3]",
        b'"a string"',
        json.dumps({"serial": SERIAL, "power_import_kw": "1.0", "power_export_kw": "0"}).encode(),  # no measured_at
        _GOOD.replace(b"+00:00", b""),  # naive times
        _GOOD.replace(b'"1.870"', b'"-1.870"'),  # a negative power
        _GOOD.replace(b'"1.870"', b'"NaN"'),
        _GOOD.replace(b'"1.870"', b"1.87"),  # a number, not the wire's string
        _GOOD.replace(b'"tariff":1', b'"tariff":7'),
        _GOOD + b" " * live_module.MAX_FILE_BYTES,  # far too long to be a snapshot
    ],
)
def test_it_reads_a_missing_half_or_garbage_file_as_none(tmp_path, content):
    path = tmp_path / "live.json"
    if content is not None:
        path.write_bytes(content)
    assert read_live_file(path) is None
    assert load_live_file(path) is None


def test_it_reads_back_what_it_wrote_and_ignores_keys_it_does_not_know(tmp_path):
    path = tmp_path / "live.json"
    data = json.loads(_GOOD)
    path.write_text(json.dumps({**data, "gas_m3": "1.0", "l3_current_a": None}))
    loaded = load_live_file(path)
    assert loaded is not None
    assert loaded.snapshot == {key: value for key, value in data.items() if key != "l3_current_a"}
    assert loaded.key == (SERIAL, _measured(3))
    os.utime(path, (WRITTEN_AT, WRITTEN_AT))  # the file's modification time is its freshness, on the Pi's clock
    written = load_live_file(path)
    assert written is not None
    assert written.written_at == WRITTEN_AT
    assert decode_snapshot(path.read_bytes()) == loaded.snapshot


# --- the reader: once per clock second, and only when live is on ---------------------------------------------------


@pytest.fixture
def parses(monkeypatch):
    """The telegrams the reader parsed in full (the fast path parses none)."""
    seen: list[str] = []
    real = reader_module.parse_telegram_report

    def counting(text):
        seen.append(text)
        return real(text)

    monkeypatch.setattr(reader_module, "parse_telegram_report", counting)
    return seen


def test_it_writes_the_live_file_at_most_once_per_clock_second(edge_config, parses):
    config = edge_config(live_interval=10.0)
    now = [100.0]
    reader = Reader(config, Spool(config.spool_dir), clock=lambda: now[0])
    path = config.live_path
    assert path == config.spool_dir / "live.json"

    written = []
    for second, at in enumerate((100.0, 100.4, 101.0, 101.9, 102.5, 103.0)):
        now[0] = at
        reader.handle_frame(_telegram(second))
        written.append(read_live_file(path)["measured_at"])

    # 100.4 and 101.9 fall in a second that was written already: the file keeps the telegram before them
    assert written == [_measured(0), _measured(0), _measured(2), _measured(2), _measured(4), _measured(5)]
    assert reader.live_writes == 4
    assert len(parses) == 4  # every telegram that refreshed the file was parsed in full, the other two were not
    assert reader.counts["stored"] == 1
    assert reader.counts["skipped"] == 5
    assert reader.live_snapshot["measured_at"] == datetime(2025, 3, 14, 9, 15, 5, tzinfo=UTC)
    assert reader.live_snapshot["power_import_kw"] == Decimal("1.870")


def test_it_parses_every_second_of_an_already_stored_quarter_when_live_is_on(edge_config, parses):
    config = edge_config(live_interval=10.0)
    spool = Spool(config.spool_dir)
    Reader(config, spool, clock=lambda: 0.0).handle_frame(_telegram(0))  # the quarter is stored
    now = [0.0]
    reader = Reader(config, spool, clock=lambda: now[0])  # a restart: seeded from the spool
    parses.clear()
    for second in range(1, 11):
        now[0] = float(second)
        reader.handle_frame(_telegram(second))
    assert len(parses) == 10
    assert reader.counts["stored"] == 0
    assert read_live_file(config.live_path)["measured_at"] == _measured(10)


def test_it_keeps_the_fast_path_and_writes_no_file_when_live_is_off(edge_config, parses):
    config = edge_config(live_interval=0.0)
    now = [0.0]
    reader = Reader(config, Spool(config.spool_dir), clock=lambda: now[0])
    for second in range(10):
        now[0] = float(second)
        reader.handle_frame(_telegram(second))
    assert len(parses) == 1  # the telegram that opened the quarter; the nine others took the fast path
    assert reader.counts["skipped"] == 9
    assert reader.live_path is None
    assert not config.live_path.exists()


def test_a_corrupt_telegram_is_still_counted_when_live_parses_it(edge_config):
    config = edge_config(live_interval=10.0)
    now = [0.0]
    reader = Reader(config, Spool(config.spool_dir), clock=lambda: now[0])
    reader.handle_frame(_telegram(0))
    now[0] = 1.0
    reader.handle_frame(_telegram(1).replace("(1)", "(2)", 1))  # a bit flip, in a second that refreshes the file
    now[0] = 1.5
    reader.handle_frame(_telegram(2))  # the file was not written in that second: this one does
    assert reader.counts["rejected"] == 1
    assert reader.reasons["CRC mismatch"] == 1
    assert read_live_file(config.live_path)["measured_at"] == _measured(2)


def test_it_keeps_storing_readings_when_the_live_file_cannot_be_written(edge_config, tmp_path, caplog):
    config = edge_config(live_interval=10.0, live_file=tmp_path / "missing-dir" / "live.json")
    now = [0.0]
    spool = Spool(config.spool_dir)
    reader = Reader(config, spool, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="p1edge.reader"):
        for second, minute in ((0, 15), (1, 15), (2, 15), (0, 30)):
            now[0] += 1
            reader.handle_frame(_telegram(second, minute))
    assert spool.backlog()[0] == 2
    assert reader.live_writes == 0
    assert "No such file or directory" in reader.live_error
    assert [r.getMessage() for r in caplog.records].count(
        f"live snapshots: {reader.live_error} (retrying every second)"
    ) == 1
    reader.save_state()
    state = json.loads((spool.dir / "reader-state.json").read_text())
    assert state["live"]["last_error"] == reader.live_error


def test_read_once_writes_no_live_file(edge_config, tmp_path):
    capture = tmp_path / "p1.txt"
    capture.write_text("".join(_telegram(s) for s in range(5)))
    config = edge_config(serial_port=str(capture), live_interval=10.0)
    spool = Spool(config.spool_dir)
    assert Reader(config, spool).run(once=True) == 0
    assert spool.backlog()[0] == 1
    assert not config.live_path.exists()  # a replayed capture is not "now"


# --- the sender: one POST per new, fresh snapshot ---------------------------------------------------------------------


def _sender(config, device=None, **kwargs) -> LiveSender:
    token = device if device is not None else config.device_token
    kwargs.setdefault("clock", _now)
    return LiveSender(config, lambda: token, **kwargs)


def test_it_posts_the_snapshot_with_the_device_token(api, paired):
    config, _spool = paired()
    snapshot = _share(config.live_path)
    sender = _sender(config)

    assert sender.step() == 10.0

    [(path, body, headers)] = api.requests
    assert path == wire.LIVE_PATH
    assert body == json.loads(encode_snapshot(snapshot))
    assert isinstance(body, dict)
    assert set(body) == set(wire.LIVE_FIELDS)
    assert body["measured_at"] == _measured(3)
    assert body["power_import_kw"] == "1.870"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("p1edge/")
    assert sender.report()["sent"] == 1
    assert sender.report()["last_sent_at"] is not None


def test_it_does_not_resend_the_same_snapshot(api, paired):
    config, _spool = paired()
    _share(config.live_path, _telegram(3))
    sender = _sender(config)
    sender.step()
    sender.step()
    assert len(api.posts(wire.LIVE_PATH)) == 1

    _share(config.live_path, _telegram(4))  # the reader's next telegram
    sender.step()
    assert [body["measured_at"] for _p, body, _h in api.posts(wire.LIVE_PATH)] == [_measured(3), _measured(4)]


@pytest.mark.parametrize("age", [31.0, -31.0, None])  # written 31 s ago, 31 s "ahead" (a clock step), no file
def test_it_sends_nothing_for_a_stale_or_missing_file(api, paired, age, caplog):
    config, _spool = paired()
    now = 1_750_000_000.0
    if age is not None:
        _share(config.live_path, mtime=now - age)
    sender = _sender(config, clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="p1edge.uploader"):
        assert sender.step() == 10.0
        assert sender.step() == 10.0
    assert api.requests == []
    report = sender.report()
    assert (report["sent"], report["stale"]) == (0, 2)
    assert "is the reader running?" in report["note"]
    assert sum("is missing or older than 30 s" in r.getMessage() for r in caplog.records) == 1

    _share(config.live_path, mtime=now - 29)  # fresh again: sent
    sender.step()
    assert len(api.posts(wire.LIVE_PATH)) == 1
    assert sender.report()["note"] is None


@pytest.mark.parametrize(
    ("answer", "reason", "delay"),
    [
        ((404, {"detail": "No meter 1SAG3100716957 in this account."}, {}), "unknown meter", 10.0),
        ((401, {"detail": wire.DEVICE_REVOKED}, {}), "device token refused", LIVE_REFUSED_SECONDS),
        ((401, {"detail": "Invalid token."}, {}), "device token refused", LIVE_REFUSED_SECONDS),
        ((500, {"detail": "boom"}, {}), "server error", 10.0),
        ((503, "<html>proxy</html>", {}), "server error", 10.0),
        ((429, {"detail": "slow down"}, {"Retry-After": "42"}), "throttled", 42.0),
        ((400, wire.error_body([(0, "power_import_kw", "A valid number is required.")]), {}), "refused", 10.0),
        ("timeout", "timeout", 10.0),
        ("refused connection", "network", 10.0),
    ],
)
def test_it_drops_a_snapshot_the_server_does_not_take_without_raising_or_touching_the_spool(
    api, paired, answer, reason, delay
):
    config, spool = paired(api_timeout=0.5)
    if answer == "timeout":
        api.hang = True  # no answer before the sender's timeout, min(api.timeout, live.interval) = 0.5 s
    elif answer == "refused connection":
        config = replace(config, device_token=DeviceToken(TOKEN, "http://127.0.0.1:9", "kitchen"))  # discard port
    else:
        api.live_answers.append(answer)
    _share(config.live_path)
    before = _files(spool.dir)
    sender = _sender(config)

    assert sender.step() == delay

    report = sender.report()
    assert report["sent"] == 0
    assert report["dropped"] == {reason: 1}
    assert report["last_error"]
    assert _files(spool.dir) == before  # no spool line, no ack, no state file: the snapshot is simply gone
    assert spool.backlog()[0] == 3
    api.release.set()
    # dropped, not queued: the same snapshot is not posted again
    sender.step()
    assert len(api.posts(wire.LIVE_PATH)) == (0 if answer == "refused connection" else 1)


def test_it_logs_an_unknown_meter_once_not_every_ten_seconds(api, paired, caplog):
    config, _spool = paired()
    sender = _sender(config)
    answer = (404, {"detail": "Not found."}, {})
    with caplog.at_level(logging.DEBUG, logger="p1edge.uploader"):
        for second in range(3, 9):
            api.live_answers.append(answer)
            _share(config.live_path, _telegram(second))
            sender.step()
    infos = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(infos) == 1
    assert "does not know meter 1SAG3100716957 yet" in infos[0].getMessage()
    assert sender.report()["dropped"] == {"unknown meter": 6}
    assert "first quarter-hour upload" in sender.report()["note"]

    # the first quarter-hour arrived: accepted, and a later 404 would be logged again
    _share(config.live_path, _telegram(9))
    with caplog.at_level(logging.INFO, logger="p1edge.uploader"):
        sender.step()
    assert "the server accepts them again" in caplog.records[-1].getMessage()
    assert sender.report()["note"] is None


def test_it_tries_once_a_minute_after_a_401_and_logs_it_once(api, paired, caplog):
    config, _spool = paired()
    sender = _sender(config)
    with caplog.at_level(logging.WARNING, logger="p1edge.uploader"):
        for second in range(3, 6):
            api.live_answers.append((401, {"detail": wire.DEVICE_REVOKED}, {}))
            _share(config.live_path, _telegram(second))
            assert sender.step() == LIVE_REFUSED_SECONDS
    assert len(caplog.records) == 1
    assert REVOKED_STATUS in caplog.records[0].getMessage()
    assert TOKEN not in caplog.text
    assert sender.report()["note"] == f"{REVOKED_STATUS}; trying once a minute"
    _share(config.live_path, _telegram(6))
    assert sender.step() == 10.0  # paired again (or restored): back to every interval
    assert sender.report()["sent"] == 1


def test_it_needs_a_paired_device(api, paired, caplog):
    config, _spool = paired(device_token=None)  # the deprecated username/password of the fixture
    _share(config.live_path)
    up = Uploader(config, Spool(config.spool_dir), clock=_now)
    with caplog.at_level(logging.INFO, logger="p1edge.uploader"):
        assert up.live.step() == TOKEN_CHECK_SECONDS
        assert up.live.step() == TOKEN_CHECK_SECONDS
    assert api.requests == []
    assert [r.getMessage() for r in caplog.records] == [f"{LIVE_UNPAIRED}; not sending them"]
    assert up.live.report()["note"] == LIVE_UNPAIRED
    # `p1edge pair` wrote a token file, which the quarter-hour loop picked up: live snapshots follow it
    up.client.use_device(DeviceToken(TOKEN, api.url, "kitchen"))
    assert up.live.step() == 10.0
    assert len(api.posts(wire.LIVE_PATH)) == 1
    assert up.live.report()["note"] is None


# --- in the uploader: its own thread, never in the way of the quarter-hours ------------------------------------------


def test_it_keeps_uploading_the_quarter_hours_while_the_live_endpoint_hangs(api, paired):
    config, spool = paired(api_timeout=15.0)
    spool.ack(spool.read_batch(100).end)  # the fixture's readings were sent long ago
    stream = SteadyStream(spool, slots=3)
    _share(config.live_path, mtime=stream.now)  # fresh on the uploader's clock
    api.hang = True
    up = Uploader(config, spool, sleep=lambda s: sleep(s), clock=stream.clock)
    stream.stop = up.stop
    readings_before_release: list[int] = []

    def sleep(seconds):
        # the first wait of the quarter-hour loop begins once the live request hangs at the server
        wait_for(api.live_arrived.is_set, message="the live snapshot to reach the server")
        stream.sleep(seconds)
        if up.stop.is_set():
            readings_before_release.append(len(api.posts(wire.READINGS_PATH)))
            api.release.set()

    assert up.run() == 0

    assert readings_before_release == [3]  # every quarter-hour went out while the live request still hung
    assert [len(body["readings"]) for _p, body, _h in api.posts(wire.READINGS_PATH)] == [1, 1, 1]
    assert len(api.posts(wire.LIVE_PATH)) == 1
    assert up.live.thread is None  # stopped with the uploader
    state = json.loads((spool.dir / "uploader-state.json").read_text())
    assert state["total_sent"] == 3
    assert state["live"]["sent"] == 1  # answered once released, before the uploader wrote its last state


def test_it_runs_the_sender_in_its_own_thread_in_service_mode_only(api, paired):
    config, spool = paired()
    _share(config.live_path)

    def names():
        return [t.name for t in threading.enumerate() if t.name == "p1edge-live"]

    # `upload --once` drains the spool and sends no live snapshot, fresh file or not
    once = Uploader(config, spool, sleep=lambda s: None)
    assert once.run(once=True) == 0
    assert len(api.posts(wire.READINGS_PATH)) == 1
    assert api.posts(wire.LIVE_PATH) == []
    assert once.live.thread is None

    threads: list[list[str]] = []
    up = Uploader(config, spool, sleep=lambda s: (threads.append(names()), up.stop.set()))
    assert up.run() == 0
    assert threads == [["p1edge-live"]]
    assert names() == []  # stopped with the uploader
    assert up.live.thread is None


def test_interval_0_means_no_sender_no_thread_and_off_in_the_state(api, paired):
    config, spool = paired(live_interval=0.0)
    _share(config.live_path)
    seen: list[list[threading.Thread]] = []
    up = Uploader(config, spool, sleep=lambda s: (seen.append(threading.enumerate()), up.stop.set()))
    assert up.live is None
    assert up.run() == 0
    assert all(t.name != "p1edge-live" for t in seen[0])
    assert api.posts(wire.LIVE_PATH) == []
    assert json.loads((spool.dir / "uploader-state.json").read_text())["live"] == {"interval": 0}


def test_the_counters_go_into_the_uploader_state_without_extra_writes(api, paired):
    config, spool = paired()
    up = Uploader(config, spool, clock=_now)
    for second in range(3, 8):
        if second == 5:
            api.live_answers.append((500, {"detail": "boom"}, {}))
        _share(config.live_path, _telegram(second))
        up.live.step()
    assert up.state_file.writes == 0  # five snapshots later: nothing written (the state waits for its interval)
    assert not (spool.dir / "uploader-state.json").exists()
    up.save_state()
    live = json.loads((spool.dir / "uploader-state.json").read_text())["live"]
    assert (live["sent"], live["dropped"], live["stale"], live["interval"]) == (4, {"server error": 1}, 0, 10.0)
    assert live["file"] == str(config.live_path)
    assert "HTTP 500" in live["last_error"]


# --- against the real server ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_real_server_takes_the_snapshot_once_the_first_quarter_hour_created_the_meter(
    live_server, alice, edge_config, settings, caplog
):
    from meters import live as server_live
    from meters.devices import _hash
    from meters.models import Device, Meter

    settings.LIVE_MIN_INTERVAL = 0  # the test posts two snapshots within the server's 2 s
    token = wire.DEVICE_TOKEN_PREFIX + "kelder-" + "x" * 24
    Device.objects.create(owner=alice, name="kelder", token_hash=_hash(token))
    config = edge_config(api_url=live_server.url, device_token=DeviceToken(token, live_server.url, "kelder"))
    spool = Spool(config.spool_dir)
    sender = _sender(config)

    _share(config.live_path, _telegram(3))
    with caplog.at_level(logging.INFO, logger="p1edge.uploader"):
        assert sender.step() == 10.0
    assert sender.report()["dropped"] == {"unknown meter": 1}
    assert "does not know meter 1SAG3100716957 yet" in caplog.text

    spool.append([encode_record(make_reading(0, SERIAL))])
    assert Uploader(config, spool).run(once=True) == 0  # the first quarter-hour: now the meter exists
    _share(config.live_path, _telegram(4))
    assert sender.step() == 10.0

    assert sender.report()["sent"] == 1
    kept = server_live.latest_snapshot(Meter.objects.get(serial=SERIAL).pk)
    assert kept is not None
    assert kept.measured_at == datetime(2025, 3, 14, 9, 15, 4, tzinfo=UTC)
    assert kept.values["power_import_kw"] == Decimal("1.870")
    assert kept.values["month_peak_at"] == datetime(2025, 3, 3, 17, 45, tzinfo=UTC)
    assert kept.values["l3_current_a"] == Decimal("2.18")
