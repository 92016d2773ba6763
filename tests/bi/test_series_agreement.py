"""The BI views and the dashboards' series service (meters/series/) give the same numbers for the same readings.

Where they differ by design it is spelt out: the dashboard interpolates a missing boundary and marks the bucket
estimated, the BI view reports only measured quarters (NULL around a gap) and counts completeness instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import F

from meters.models import Reading
from meters.series import build_series, rollups
from tests.bi.truth import build, local
from tests.meters import series_truth
from users.models import prices_for

pytestmark = pytest.mark.django_db

OCTOBER = (local(2024, 9, 30, 22), local(2024, 11, 1, 1))  # the whole month, with DST ending on the 27th
GAP = local(2024, 10, 9, 14, 15)
STALE_PEAK = (Decimal("3.111"), local(2024, 9, 18, 19).astimezone(UTC))
OWN_PEAK = (Decimal("2.345"), local(2024, 10, 2, 18, 30).astimezone(UTC))


def _meter_own_peak(slot: datetime) -> tuple[Decimal, datetime]:
    # 1-0:1.6.0 as a meter sends it: September's value until shortly after the month starts, then October's.
    return STALE_PEAK if slot < local(2024, 10, 1, 0, 30) else OWN_PEAK


@pytest.fixture
def october(alice_meter):
    with time_machine.travel(datetime(2024, 11, 20, 12, tzinfo=UTC), tick=False):
        yield build(alice_meter, *OCTOBER, skip=[GAP], month_peak=_meter_own_peak)


def _wh(kwh: Decimal | None) -> int | None:
    return None if kwh is None else int(kwh * 1000)


@pytest.mark.parametrize("day", [date(2024, 10, 8), date(2024, 10, 27), date(2024, 10, 31)])
def test_it_matches_the_day_dashboard_on_complete_days(alice_meter, october, rows, day):
    series = build_series(alice_meter, "day", day, prices=prices_for(alice_meter.owner))
    by_date = {d["local_date"]: d for d in rows("bi_day", alice_meter, "local_date")}
    bi_day = by_date[day]

    assert bi_day["is_complete"] == 1
    assert bi_day["quarters_expected"] == len(series.buckets)
    assert _wh(bi_day["import_day_kwh"]) == series.totals.import_t1_wh
    assert _wh(bi_day["import_night_kwh"]) == series.totals.import_t2_wh
    assert _wh(bi_day["export_day_kwh"]) == series.totals.export_t1_wh
    assert _wh(bi_day["export_night_kwh"]) == series.totals.export_t2_wh
    assert _wh(bi_day["gas_m3"]) == series.totals.gas_l
    assert bi_day["peak_import_w"] == Decimal(str(series.power.import_max_w)).quantize(Decimal("0.001"))
    assert bi_day["peak_slot_start_utc"] == series.power.import_max_at.astimezone(UTC).replace(tzinfo=None)

    quarters = {
        q["slot_start_utc"]: q for q in rows("bi_quarter_hour", alice_meter, "slot_start_utc") if q["local_date"] == day
    }
    assert len(quarters) == len(series.buckets)
    for bucket in series.buckets:
        quarter = quarters[bucket.start.astimezone(UTC).replace(tzinfo=None)]
        assert _wh(quarter["import_kwh"]) == bucket.import_wh
        assert _wh(quarter["export_kwh"]) == bucket.export_wh
        assert float(quarter["import_avg_w"]) == pytest.approx(bucket.import_w)
        assert float(quarter["l1_w"]) == pytest.approx(bucket.phase_w[0])


def test_it_matches_the_day_dashboard_on_measured_quarters_of_a_day_with_a_gap(alice_meter, october, rows):
    series = build_series(alice_meter, "day", GAP.date(), prices=prices_for(alice_meter.owner))
    quarters = {q["slot_start_utc"]: q for q in rows("bi_quarter_hour", alice_meter, "slot_start_utc")}

    measured = [b for b in series.buckets if not b.estimated and not b.reset]
    assert len(measured) == len(series.buckets) - 2  # the dashboard estimates the two quarters around the gap
    for bucket in series.buckets:
        quarter = quarters.get(bucket.start.astimezone(UTC).replace(tzinfo=None))
        if bucket in measured:
            assert _wh(quarter["import_kwh"]) == bucket.import_wh
        else:
            assert quarter is None or quarter["import_kwh"] is None  # the view never estimates
    (bi_day,) = [d for d in rows("bi_day", alice_meter, "local_date") if d["local_date"] == GAP.date()]
    assert bi_day["is_complete"] == 0
    assert _wh(bi_day["import_kwh"]) == sum(b.import_wh for b in measured)


def test_it_matches_the_month_dashboard_days_and_capacity_peak(alice_meter, october, rows):
    series = build_series(alice_meter, "month", date(2024, 10, 1), prices=prices_for(alice_meter.owner))
    days = {d["local_date"]: d for d in rows("bi_day", alice_meter, "local_date")}

    compared = 0
    for bucket in series.buckets:
        bi_day = days[bucket.start.astimezone(local(2024, 10, 1).tzinfo).date()]
        if bi_day["is_complete"]:
            assert _wh(bi_day["import_kwh"]) == bucket.import_wh
            assert _wh(bi_day["export_kwh"]) == bucket.export_wh
            compared += 1
    assert compared == 30  # every October day but the one with the gap

    (peak,) = [m for m in rows("bi_month_peak", alice_meter, "month_start") if m["local_month"] == 10]
    capacity = series.capacity
    assert _wh(peak["peak_import_kw"]) == capacity.peak_w
    assert peak["peak_slot_start_utc"] == capacity.peak_at.astimezone(UTC).replace(tzinfo=None)
    assert peak["billed_peak_kw"] == capacity.billed_kw
    assert _wh(peak["meter_month_peak_kw"]) == capacity.meter_peak_w


def test_it_matches_the_week_dashboard_four_hour_buckets(alice_meter, october, rows):
    # The week whose Sunday has 25 hours.
    series = build_series(alice_meter, "week", date(2024, 10, 27), prices=prices_for(alice_meter.owner))
    quarters = rows("bi_quarter_hour", alice_meter, "slot_start_utc")
    for bucket in series.buckets:
        start = bucket.start.astimezone(UTC).replace(tzinfo=None)
        end = bucket.end.astimezone(UTC).replace(tzinfo=None)
        inside = [q for q in quarters if start <= q["slot_start_utc"] < end]
        assert len(inside) == (end - start) // timedelta(minutes=15)
        assert sum(_wh(q["import_kwh"]) for q in inside) == bucket.import_wh


@pytest.mark.parametrize("case", ["meter replaced", "export register reset"])
def test_it_agrees_on_the_capacity_peak_of_a_month_with_a_register_drop(alice_meter, rows, case):
    drop = series_truth.local(2024, 11, 14, 18)
    with time_machine.travel(datetime(2025, 1, 15, 12, tzinfo=UTC), tick=False):
        if case == "meter replaced":
            truth = series_truth.build(
                alice_meter,
                series_truth.local(2024, 10, 31, 23),
                series_truth.local(2024, 12, 1, 1),
                reset_at=series_truth.epoch(drop),
                gas=False,
            )
        else:
            truth = series_truth.build(
                alice_meter, series_truth.local(2024, 10, 31, 23), series_truth.local(2024, 12, 1, 1), gas=False
            )
            # Only 2.8.1 restarts, while 1.8.1 jumps by 2 kWh in that same quarter: no delta of it is trusted.
            Reading.objects.filter(meter=alice_meter, timestamp__gte=drop).update(
                export_t1_kwh=F("export_t1_kwh") - Decimal("300"), import_t1_kwh=F("import_t1_kwh") + Decimal("2")
            )
            truth.energy[series_truth.epoch(drop) - series_truth.SLOT] = (0, 0, 0, 0)
            rollups.rebuild(alice_meter.pk)  # the readings were edited behind ingest's back
        november = build_series(alice_meter, "month", date(2024, 11, 1), prices=prices_for(alice_meter.owner))
        december = build_series(alice_meter, "month", date(2024, 12, 1), prices=prices_for(alice_meter.owner))

    first, after = series_truth.epoch(local(2024, 11, 1)), series_truth.epoch(local(2024, 12, 1))
    expected = max((e[0] + e[1]) * 4 for ep, e in truth.energy.items() if first <= ep < after)

    (bi,) = [m for m in rows("bi_month_peak", alice_meter, "month_start") if m["local_month"] == 11]
    assert november.capacity.peak_w == expected  # the month view (Python)
    assert december.capacity_year.months[-2].peak_w == expected  # the 12-month card (SQL)
    assert _wh(bi["peak_import_kw"]) == expected  # the BI view
    assert bi["peak_slot_start_utc"] == november.capacity.peak_at.astimezone(UTC).replace(tzinfo=None)
    assert november.power.import_max_w == expected
    assert november.reset_buckets == 1
