"""State files (counters, status) and what a service writes per day (issue 24)."""

import json
import os

from p1edge import iostats
from p1edge.iostats import IoMeter, per_day
from p1edge.state import StateFile, load_state, save_state


def test_it_replaces_a_state_file_atomically_without_fsync_unless_asked(tmp_path, monkeypatch):
    calls: list[object] = []
    monkeypatch.setattr(os, "fsync", calls.append)

    save_state(tmp_path, "reader-state.json", {"telegrams": 1})
    save_state(tmp_path, "reader-state.json", {"telegrams": 2})

    assert calls == []
    assert load_state(tmp_path, "reader-state.json") == {"telegrams": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader-state.json"]  # no temporary file left

    save_state(tmp_path, "reader-state.json", {"telegrams": 3}, fsync=True)  # state.fsync = true: the old way
    assert len(calls) == 2  # the file and its directory


def test_it_is_due_once_per_interval_and_at_once_when_the_clock_went_back(tmp_path):
    now = [1000.0]
    state = StateFile(tmp_path, "x.json", interval=900, fsync=False, clock=lambda: now[0])
    assert not state.due()  # a new process writes its first file one interval later (or when it stops)
    now[0] += 899
    assert not state.due()
    now[0] += 1
    assert state.due()
    state.write({"a": 1})
    assert not state.due()
    assert state.writes == 1
    now[0] -= 3600  # the wall clock set back (the uploader's clock): due, not an hour of silence
    assert state.due()


def test_it_counts_the_fsyncs_and_bytes_of_this_process(tmp_path):
    now = [0.0]
    meter = IoMeter(lambda: now[0])
    assert os.fsync is iostats._counting_fsync
    with open(tmp_path / "f", "wb") as handle:
        handle.write(b"x" * 10_000)
        handle.flush()
        os.fsync(handle.fileno())
    now[0] = 60.0

    snapshot = meter.snapshot()

    assert snapshot["fsyncs"] == 1
    assert snapshot["seconds"] == 60.0
    if iostats.write_bytes() is not None:  # Linux with task I/O accounting
        assert snapshot["write_bytes"] >= 8192
    json.dumps(snapshot)  # it goes into the state file as it is


def test_it_turns_a_snapshot_into_figures_per_day():
    half_a_day = {"since": "2025-06-11T00:00:00+00:00", "seconds": 43_200, "write_bytes": 600_000, "fsyncs": 48}
    assert per_day(half_a_day) == "1.2 MB/day written, 96 fsyncs/day (over 12.0 h)"
    assert (
        per_day({**half_a_day, "write_bytes": None}) == "bytes unknown (no /proc/self/io), 96 fsyncs/day (over 12.0 h)"
    )
    # a service that has just started (or `read --once` on a file): the counts, not a day extrapolated from them
    assert per_day({**half_a_day, "seconds": 900}) == (
        "0.60 MB written, 48 fsyncs in the first 15 min (a daily figure after an hour)"
    )
    assert per_day({**half_a_day, "seconds": 0.2}).endswith("48 fsyncs in the first 0 s (a daily figure after an hour)")
    assert per_day(None) == "-"
    assert per_day({"seconds": "x"}) == "-"
