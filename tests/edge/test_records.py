from datetime import UTC, datetime

import pytest
from p1edge.crc import build_telegram
from p1edge.records import RECORD_KEYS, RecordError, decode_record, encode_record, from_wire
from p1edge.sampling import first_per_slot
from p1edge.telegram import parse_telegram

from tests.edge.telegrams import base_lines


def _reading() -> dict:
    lines = [*base_lines(), "0-2:24.1.0(003)", "0-2:24.2.3(250314101000W)(01234.567*m3)"]
    return first_per_slot([parse_telegram(build_telegram(lines))])[0]


def test_it_round_trips_a_reading_through_one_json_line():
    reading = _reading()
    line = encode_record(reading)

    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    wire = decode_record(line)
    assert list(wire) == list(RECORD_KEYS)
    assert wire["import_t1_kwh"] == "4512.345"
    assert wire["timestamp"] == "2025-03-14T09:15:00+00:00"
    assert wire["gas_at"] == "2025-03-14T09:10:00+00:00"
    assert wire["water_m3"] is None
    assert from_wire(wire) == {key: reading.get(key) for key in RECORD_KEYS}


def test_it_detects_every_torn_prefix_of_a_line():
    line = encode_record(_reading())
    for cut in range(len(line)):
        with pytest.raises(RecordError):
            decode_record(line[:cut])


def test_it_detects_a_flipped_digit():
    line = encode_record(_reading()).replace(b"4512.345", b"4512.346")
    with pytest.raises(RecordError, match="checksum"):
        decode_record(line)


def test_it_refuses_to_encode_a_reading_without_slot():
    reading = _reading()
    del reading["timestamp"]
    with pytest.raises(ValueError, match="timestamp"):
        encode_record(reading)
    with pytest.raises(ValueError, match="naive"):
        encode_record({**_reading(), "gas_at": datetime(2025, 1, 1)})
    assert encode_record({**_reading(), "gas_at": datetime(2025, 1, 1, tzinfo=UTC)})
