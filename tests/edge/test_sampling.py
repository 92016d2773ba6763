from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from p1edge.crc import build_telegram
from p1edge.sampling import QuarterSampler, first_per_slot
from p1edge.telegram import parse_telegram
from p1edge.wire import slot_start

from tests.edge.telegrams import base_lines

BRUSSELS = ZoneInfo("Europe/Brussels")


def _clock(at: datetime) -> str:
    local = at.astimezone(BRUSSELS)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _readings(start: datetime, seconds: int, *, skip=frozenset()) -> list[dict]:
    out = []
    for s in range(seconds):
        at = start + timedelta(seconds=s)
        if at in skip:
            continue
        out.append(parse_telegram(build_telegram(base_lines(clock=_clock(at)))))
    return out


def test_it_floors_to_the_utc_quarter_hour():
    assert slot_start(datetime(2025, 3, 14, 9, 29, 59, 900, tzinfo=UTC)) == datetime(2025, 3, 14, 9, 15, tzinfo=UTC)
    plus_one = datetime(2025, 3, 14, 10, 44, tzinfo=ZoneInfo("Europe/Brussels"))
    assert slot_start(plus_one) == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        slot_start(datetime(2025, 3, 14, 9, 0))


def test_it_keeps_the_quarter_when_the_00_telegram_is_missing():
    start = datetime(2025, 3, 14, 9, 14, 58, tzinfo=UTC)
    lost = datetime(2025, 3, 14, 9, 15, 0, tzinfo=UTC)
    sampler = QuarterSampler()
    kept = [r for r in (sampler.offer(x) for x in _readings(start, 5, skip={lost})) if r]

    assert [r["timestamp"] for r in kept] == [datetime(2025, 3, 14, 9, 0, tzinfo=UTC), lost]
    assert kept[1]["measured_at"] == datetime(2025, 3, 14, 9, 15, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start_utc", "hours", "slots"),
    [
        (datetime(2025, 3, 29, 23, 0, tzinfo=UTC), 24, 96),  # across the spring-forward jump (02:00 W -> 03:00 S)
        (datetime(2025, 10, 25, 22, 0, tzinfo=UTC), 26, 104),  # 02:00-03:00 local repeated (S then W)
    ],
)
def test_it_gives_distinct_slots_across_dst_changes(start_utc, hours, slots):
    # one telegram per quarter at :07 after the slot start, plus a second one inside the slot that must be ignored
    sampler = QuarterSampler()
    kept = []
    for q in range(hours * 4):
        for offset in (7, 300):
            at = start_utc + timedelta(minutes=15 * q, seconds=offset)
            kept.append(sampler.offer(parse_telegram(build_telegram(base_lines(clock=_clock(at))))))
    stored = [r for r in kept if r]
    assert len(stored) == slots
    assert len({r["timestamp"] for r in stored}) == slots
    assert all(r["timestamp"] == r["measured_at"] - timedelta(seconds=7) for r in stored)


def test_it_does_not_emit_a_slot_twice_after_a_restart_seeded_from_the_spool():
    start = datetime(2025, 3, 14, 9, 14, 58, tzinfo=UTC)
    readings = _readings(start, 4)
    sampler = QuarterSampler({readings[0]["serial"]: datetime(2025, 3, 14, 9, 15, tzinfo=UTC)})
    assert [sampler.offer(r) for r in readings] == [None] * 4


def test_it_takes_the_earliest_clock_per_slot_in_any_order():
    start = datetime(2025, 3, 14, 9, 14, 57, tzinfo=UTC)
    readings = _readings(start, 6)
    result = first_per_slot(list(reversed(readings)))

    assert [r["timestamp"] for r in result] == [
        datetime(2025, 3, 14, 9, 0, tzinfo=UTC),
        datetime(2025, 3, 14, 9, 15, tzinfo=UTC),
    ]
    assert [r["measured_at"] for r in result] == [start, datetime(2025, 3, 14, 9, 15, tzinfo=UTC)]
