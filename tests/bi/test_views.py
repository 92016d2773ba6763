"""The BI views against ground-truth readings: quarter deltas, gaps, register drops, DST days, day and month sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.bi.truth import BRUSSELS, MILLI, QUARTER, build, local

pytestmark = pytest.mark.django_db


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _naive_local(moment: datetime) -> datetime:
    return moment.astimezone(BRUSSELS).replace(tzinfo=None)


def test_it_gives_each_quarter_the_delta_to_the_next_slot(alice_meter, rows):
    start, end = local(2024, 1, 15), local(2024, 1, 16)
    truth = build(alice_meter, start, end)

    quarters = rows("bi_quarter_hour", alice_meter, "slot_start_utc")

    assert len(quarters) == 97  # 96 quarters of the day plus the next midnight's reading
    for row in quarters[:-1]:
        slot = row["slot_start_utc"].replace(tzinfo=UTC)
        known = truth.quarters[slot]
        assert row["import_kwh"] == known.import_kwh
        assert row["export_kwh"] == Decimal(known.export_wh) * MILLI
        assert row["import_avg_w"] == Decimal(known.import_wh * 4)
        assert row["is_complete"] == 1
        assert row["gas_delta_m3"] == Decimal("0.005")
        assert row["l1_w"] == Decimal(known.import_wh * 2 - known.export_wh * 4)
        assert row["owner_username"] == "alice"
        assert row["meter_serial"] == alice_meter.serial
    # The reading at the next midnight bounds the last quarter but has no successor of its own yet.
    assert quarters[-1]["import_kwh"] is None
    assert quarters[-1]["is_complete"] == 0


def test_it_leaves_quarters_around_a_gap_empty_never_zero(alice_meter, rows):
    start, end = local(2024, 1, 15), local(2024, 1, 16)
    missing = local(2024, 1, 15, 10, 30)
    truth = build(alice_meter, start, end, skip=[missing])

    quarters = {r["slot_start_local"]: r for r in rows("bi_quarter_hour", alice_meter, "slot_start_utc")}
    before_gap = quarters[_naive_local(missing - QUARTER)]
    assert before_gap["import_kwh"] is None
    assert before_gap["import_avg_w"] is None
    assert before_gap["is_complete"] == 0
    assert _naive_local(missing) not in quarters

    day, next_day = rows("bi_day", alice_meter, "local_date")
    assert (day["local_date"], next_day["quarters_with_reading"]) == (start.date(), 1)
    assert day["quarters_expected"] == 96
    assert day["quarters_with_reading"] == 95
    assert day["quarters_complete"] == 94
    assert day["is_complete"] == 0
    assert day["import_kwh"] == truth.import_kwh(start, end)  # the truth holds only the 94 bounded quarters


def test_it_flags_a_register_drop_instead_of_negative_energy(alice_meter, rows):
    start, end = local(2024, 2, 5), local(2024, 2, 5, 3)
    reset = local(2024, 2, 5, 1)
    truth = build(alice_meter, start, end, reset_at=reset)

    quarters = {r["slot_start_local"]: r for r in rows("bi_quarter_hour", alice_meter, "slot_start_utc")}
    dropped = quarters[_naive_local(reset - QUARTER)]
    assert dropped["register_drop"] == 1
    assert dropped["import_kwh"] is None
    assert dropped["export_kwh"] is None
    after = quarters[_naive_local(reset)]
    assert after["register_drop"] == 0
    assert after["import_kwh"] == truth.quarters[reset.astimezone(UTC)].import_kwh

    (day,) = rows("bi_day", alice_meter, "local_date")
    assert day["register_drops"] == 1
    assert day["import_kwh"] == truth.import_kwh(start, end)


@pytest.mark.parametrize(
    ("day", "expected_quarters"),
    [((2024, 3, 31), 92), ((2024, 10, 27), 100), ((2025, 3, 30), 92), ((2025, 10, 26), 100)],
)
def test_it_puts_slots_in_brussels_time_across_dst(alice_meter, rows, day, expected_quarters):
    start = local(*day)
    end = (start + timedelta(days=1, hours=3)).replace(hour=0)  # the next local midnight
    truth = build(alice_meter, start, end)

    quarters = rows("bi_quarter_hour", alice_meter, "slot_start_utc")
    for row in quarters:
        slot = row["slot_start_utc"].replace(tzinfo=UTC)
        assert row["slot_start_local"] == _naive_local(slot)
        assert row["utc_offset_minutes"] == slot.astimezone(BRUSSELS).utcoffset() // timedelta(minutes=1)
        assert row["local_date"] == slot.astimezone(BRUSSELS).date()
    # The repeated autumn hour gives two distinct slots with the same wall-clock time; both are kept.
    assert len({r["slot_start_utc"] for r in quarters}) == len(quarters) == expected_quarters + 1

    first_day = rows("bi_day", alice_meter, "local_date")[0]
    assert first_day["local_date"] == start.date()
    assert first_day["quarters_expected"] == expected_quarters
    assert first_day["quarters_complete"] == expected_quarters
    assert first_day["is_complete"] == 1
    assert first_day["import_kwh"] == truth.import_kwh(start, end)


def test_it_splits_the_day_into_day_and_night_tariff_and_finds_the_peak_quarter(alice_meter, rows):
    start, end = local(2024, 5, 14), local(2024, 5, 16)  # Tuesday and Wednesday
    peak_slot = local(2024, 5, 15, 18, 45)

    def energy(slot: datetime) -> tuple[int, int]:
        imp, exp = 100 + int(slot.timestamp()) // 900 % 50, 20
        return (900 if slot == peak_slot.astimezone(UTC) else imp), exp

    truth = build(alice_meter, start, end, energy=energy)

    days = rows("bi_day", alice_meter, "local_date")
    assert [d["local_date"] for d in days] == [start.date(), (start + timedelta(days=1)).date(), end.date()]
    second = days[1]
    day_start, day_end = local(2024, 5, 15), end
    assert second["import_day_kwh"] == truth.import_kwh(day_start, day_end, night=False)
    assert second["import_night_kwh"] == truth.import_kwh(day_start, day_end, night=True)
    assert second["import_day_kwh"] + second["import_night_kwh"] == second["import_kwh"]
    assert second["export_kwh"] == truth.export_kwh(day_start, day_end)
    assert second["peak_import_w"] == Decimal(900 * 4)
    assert second["peak_slot_start_local"] == _naive_local(peak_slot)
    assert second["peak_slot_start_utc"] == _naive_utc(peak_slot)
    assert second["gas_m3"] == Decimal("0.005") * 96


def test_it_bills_the_month_peak_with_the_minimum_and_shows_the_meter_own_peak(alice_meter, unclaimed_meter, rows):
    # Small quarters (peak 0.4 kW): the bill counts the 2.5 kW minimum.
    start, end = local(2024, 6, 30, 22), local(2024, 7, 1, 4)
    stale = (Decimal("3.111"), local(2024, 6, 12, 19).astimezone(UTC))
    fresh = (Decimal("0.400"), local(2024, 7, 1, 1).astimezone(UTC))
    build(
        alice_meter,
        start,
        end,
        energy=lambda slot: (100, 0),
        month_peak=lambda slot: stale if slot < fresh[1] else fresh,
    )
    # Big quarters on the unclaimed meter (peak 4.8 kW): billed as measured.
    big_slot = local(2024, 7, 1, 2, 15).astimezone(UTC)
    build(unclaimed_meter, start, end, energy=lambda slot: (1200 if slot == big_slot else 300, 0))

    june, july = rows("bi_month_peak", alice_meter, "month_start")
    assert (june["local_year"], june["local_month"], july["local_month"]) == (2024, 6, 7)
    assert june["quarters_expected"] == 30 * 96
    assert june["peak_import_kw"] == Decimal("0.400")
    assert june["billed_peak_kw"] == Decimal("2.500")
    assert june["meter_month_peak_kw"] == Decimal("3.111")
    # The meter's 1.6.0 still shows June's peak during July's first hour: that stale value is not July's.
    assert july["meter_month_peak_kw"] == Decimal("0.400")
    assert july["owner_username"] == "alice"

    (unclaimed_july,) = [m for m in rows("bi_month_peak", unclaimed_meter, "month_start") if m["local_month"] == 7]
    assert unclaimed_july["owner_username"] is None
    assert unclaimed_july["peak_import_kw"] == Decimal("4.800")
    assert unclaimed_july["billed_peak_kw"] == Decimal("4.800")
    assert unclaimed_july["peak_slot_start_utc"] == _naive_utc(big_slot)
    assert unclaimed_july["meter_month_peak_kw"] is None


def test_it_keeps_each_meter_apart(alice_meter, unclaimed_meter, rows):
    start, end = local(2024, 1, 15), local(2024, 1, 15, 6)
    alice_truth = build(alice_meter, start, end)
    build(unclaimed_meter, start, end, energy=lambda slot: (999, 0))

    (day,) = rows("bi_day", alice_meter, "local_date")
    assert day["import_kwh"] == alice_truth.import_kwh(start, end)
    assert day["meter_serial"] == alice_meter.serial
