import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from p1edge.crc import build_telegram
from p1edge.reader import Reader
from p1edge.sampling import first_per_slot
from p1edge.simulator import SimulatorOptions, run, telegrams
from p1edge.spool import Spool
from p1edge.telegram import parse_telegram

from tests.edge.telegrams import base_lines


def _stored(spool: Spool) -> list[dict]:
    return [json.loads(body) for body in spool.read_batch(10_000).bodies]


def _expected(options: SimulatorOptions) -> list[dict]:
    # the simulator's own telegram at each slot start, parsed independently of the reader
    start = options.start
    wanted = {start + timedelta(minutes=15 * q) for q in range(int(options.duration.total_seconds()) // 900)}
    return first_per_slot(parse_telegram(text) for at, text in telegrams(options) if at in wanted)


def test_it_reads_the_simulator_through_a_pseudo_terminal(edge_config, tmp_path):
    options = SimulatorOptions(start=datetime(2025, 6, 11, 10, 0, tzinfo=UTC), duration=timedelta(hours=1), gas=True)
    master, slave = os.openpty()
    config = edge_config(serial_port=os.ttyname(slave))
    spool = Spool(config.spool_dir)
    reader = Reader(config, spool)

    def feed():
        with os.fdopen(master, "wb", buffering=0) as output:
            run(options, output, speed=0)
            time.sleep(0.5)  # let the reader drain the pty buffer before the hang-up

    writer = threading.Thread(target=feed)
    writer.start()
    assert reader.run(once=True) == 0  # ends when the pty hangs up
    writer.join()
    os.close(slave)

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
