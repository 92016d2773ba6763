import json
import os
import random
import signal
import time
from decimal import Decimal

from p1edge.records import encode_record
from p1edge.spool import Spool

from tests.edge.conftest import make_reading


def _drain(spool: Spool, size: int = 7) -> list[dict]:
    out = []
    while True:
        batch = spool.read_batch(size)
        if batch.end is None or (not batch.bodies and batch.end == spool.ack_position()):
            return out
        out += [json.loads(body) for body in batch.bodies]
        spool.ack(batch.end, rejects=batch.rejects)


def _seq(body: str) -> int:
    return int(json.loads(body)["import_t2_kwh"].split(".")[0])


def test_it_delivers_records_in_order_across_segments_and_deletes_acked_segments(tmp_path):
    spool = Spool(tmp_path / "s", segment_max_bytes=2000)
    for i in range(40):
        spool.append([encode_record(make_reading(i))])
    assert len(spool.segment_numbers()) > 5

    got = _drain(spool)

    assert [r["import_t1_kwh"] for r in got] == [str(make_reading(i)["import_t1_kwh"]) for i in range(40)]
    assert len(spool.segment_numbers()) == 1  # only the segment being written remains
    assert spool.backlog()[0] == 0


def test_it_keeps_unacknowledged_records(spool):
    spool.append([encode_record(make_reading(i)) for i in range(5)])
    batch = spool.read_batch(3)
    assert len(batch) == 3
    # not acked (server unreachable): the same records come back
    assert spool.read_batch(3).bodies == batch.bodies
    spool.ack(batch.end)
    assert len(_drain(spool)) == 2


def test_it_cuts_a_torn_last_record_and_never_hands_it_out(spool):
    spool.append([encode_record(make_reading(0))])
    segment = spool.segments_dir / f"{spool.segment_numbers()[-1]:012d}.jsonl"
    torn = encode_record(make_reading(1))[:57]
    with open(segment, "ab") as handle:
        handle.write(torn)

    assert len(spool.read_batch(10)) == 1  # the torn line is not consumed
    spool.append([encode_record(make_reading(2))])  # the next writer cuts it off

    got = _drain(spool)
    assert [r["timestamp"] for r in got] == ["2025-01-01T00:00:00+00:00", "2025-01-01T00:30:00+00:00"]
    assert spool.dead_letter_count() == 0


def test_it_moves_a_corrupt_line_to_the_dead_letter_file_without_blocking(spool):
    spool.append([encode_record(make_reading(0))])
    segment = spool.segments_dir / f"{spool.segment_numbers()[-1]:012d}.jsonl"
    with open(segment, "ab") as handle:
        handle.write(encode_record(make_reading(1)).replace(b"0.420", b"9.420"))
    spool.append([encode_record(make_reading(2))])

    assert len(_drain(spool)) == 2
    assert spool.dead_letter_count() == 1


def _writer(directory, pipe_w):
    # child process: append records forever, reporting each one after append() returned (= durable)
    spool = Spool(directory, segment_max_bytes=3000)
    last = spool.last_record()
    index = 0 if last is None else int(last["import_t2_kwh"].split(".")[0]) + 1
    while True:
        reading = {**make_reading(index), "import_t2_kwh": Decimal(f"{index}.000")}
        spool.append([encode_record(reading)])
        os.write(pipe_w, f"{index}\n".encode())
        index += 1


def test_it_loses_nothing_acknowledged_when_the_writer_is_killed_at_random_moments(tmp_path):
    directory = tmp_path / "spool"
    consumer = Spool(directory, segment_max_bytes=3000)
    rng = random.Random(5)
    confirmed: set[int] = set()
    consumed: list[int] = []
    runs = 60
    for _ in range(runs):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read_fd)
            try:
                _writer(directory, write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        deadline = time.monotonic() + rng.uniform(0.001, 0.03)
        while time.monotonic() < deadline:  # consume concurrently with the writer
            batch = consumer.read_batch(rng.randint(1, 5))
            consumed += [_seq(body) for body in batch.bodies]
            if batch.end is not None:
                consumer.ack(batch.end, rejects=batch.rejects)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read_fd, "rb") as pipe:
            confirmed |= {int(x) for x in pipe.read().split()}

    remaining = [int(r["import_t2_kwh"].split(".")[0]) for r in _drain(consumer)]
    everything = consumed + remaining
    assert len(confirmed) > runs  # the writers did real work
    assert confirmed <= set(everything), "a record reported durable was lost"
    assert everything == sorted(everything), "records out of order"
    assert len(everything) == len(set(everything)), "a record was handed out twice"
    assert everything == list(range(len(everything))), "a gap in the sequence"
    assert consumer.dead_letter_count() == 0
