"""Series service against ground truth: known energy per quarter, DST days, a 3-hour gap, a replaced meter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings
from django.urls import reverse

from meters.models import Meter, Reading
from meters.series import InvalidDate, UnknownView, build_series, parse_day, rollups
from tests.meters.series_truth import SLOT, build, epoch, gas_litres, local
from users.models import Profile, prices_for, profile_for

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


def _sum(buckets, attr):
    return sum(getattr(b, attr) for b in buckets)


@pytest.mark.parametrize(
    ("day", "count"),
    [(date(2024, 3, 31), 92), (date(2024, 10, 27), 100), (date(2024, 6, 12), 96)],
)
def test_it_gives_each_local_quarter_its_known_energy_on_dst_days(meter, day, count):
    midnight = local(day.year, day.month, day.day)
    truth = build(meter, midnight - timedelta(hours=2), midnight + timedelta(days=1, hours=2))

    series = build_series(meter, "day", day, prices=prices_for(meter.owner))

    assert len(series.buckets) == count
    for b in series.buckets:
        assert b.end - b.start == timedelta(minutes=15)
        known = truth.wh(epoch(b.start), epoch(b.end))
        assert (b.import_t1_wh, b.import_t2_wh, b.export_t1_wh, b.export_t2_wh) == known
        assert b.import_w == pytest.approx((known[0] + known[1]) * 4)
        assert not b.estimated
        assert not b.reset
    start, end = series.start, series.end
    assert (start.hour, end.hour) == (0, 0)
    t = truth.wh(start, end)
    assert series.totals.import_t1_wh == t[0]
    assert series.totals.import_t2_wh == t[1]
    assert series.totals.export_wh == t[2] + t[3]
    assert series.completeness_pct == 100.0


def test_it_uses_local_four_hour_buckets_that_shrink_and_stretch_on_dst_sundays(meter):
    build(meter, local(2024, 3, 24), local(2024, 4, 2))
    spring = build_series(meter, "week", date(2024, 3, 27), prices=prices_for(meter.owner))
    build(meter, local(2024, 10, 20), local(2024, 10, 29))
    autumn = build_series(meter, "week", date(2024, 10, 21), prices=prices_for(meter.owner))

    for series, sunday_hours in ((spring, 3), (autumn, 5)):
        assert len(series.buckets) == 42
        hours = [b.hours for b in series.buckets]
        assert hours[36] == sunday_hours  # Sunday 00:00-04:00 local
        assert hours.count(4) == 41
        assert series.start.weekday() == 0
        assert series.start.hour == 0
        assert [b.start.astimezone(series.start.tzinfo).hour for b in series.buckets[:6]] == [0, 4, 8, 12, 16, 20]
        # The Sunday's first bucket: average power over its real duration.
        sunday = series.buckets[36]
        assert sunday.import_w == pytest.approx(sunday.import_wh / sunday_hours)


def test_it_sums_month_buckets_to_the_wh_across_both_dst_changes(meter):
    truth = build(meter, local(2024, 2, 29, 23), local(2024, 4, 1, 1))
    march = build_series(meter, "month", date(2024, 3, 5), prices=prices_for(meter.owner))
    assert len(march.buckets) == 31
    assert march.buckets[30].hours == 23
    for b in march.buckets:
        assert b.import_wh == truth.import_wh(epoch(b.start), epoch(b.end))
    assert march.totals.import_wh == truth.import_wh(local(2024, 3, 1), local(2024, 4, 1))

    truth = build(meter, local(2024, 9, 30, 23), local(2024, 11, 1, 1))
    october = build_series(meter, "month", date(2024, 10, 1), prices=prices_for(meter.owner))
    assert [b.hours for b in october.buckets].count(25) == 1
    assert october.buckets[26].hours == 25
    t = truth.wh(local(2024, 10, 1), local(2024, 11, 1))
    assert (october.totals.import_t1_wh, october.totals.import_t2_wh) == (t[0], t[1])
    assert (october.totals.export_t1_wh, october.totals.export_t2_wh) == (t[2], t[3])
    assert october.has_gas
    assert october.totals.gas_l == sum(
        gas_litres(ep) for ep in range(epoch(local(2024, 10, 1)), epoch(local(2024, 11, 1)), SLOT)
    )


def test_it_interpolates_a_three_hour_gap_and_marks_those_buckets_estimated(meter):
    gap = set(range(epoch(local(2024, 6, 12, 10)), epoch(local(2024, 6, 12, 13)), SLOT))  # 10:00..12:45 missing
    truth = build(meter, local(2024, 6, 11, 23), local(2024, 6, 13, 1), skip=gap)

    day = build_series(meter, "day", date(2024, 6, 12), prices=prices_for(meter.owner))

    estimated = [b for b in day.buckets if b.estimated]
    assert len(estimated) == 13  # 09:45-10:00 (end missing) through 12:45-13:00
    assert estimated[0].start == local(2024, 6, 12, 9, 45)
    assert estimated[-1].end == local(2024, 6, 12, 13)
    # Interpolation spreads the gap's true energy evenly, to the Wh, and loses nothing.
    gap_truth = truth.import_wh(local(2024, 6, 12, 9, 45), local(2024, 6, 12, 13))
    assert sum(b.import_wh for b in estimated) == gap_truth
    assert max(b.import_wh for b in estimated) - min(b.import_wh for b in estimated) <= 2
    assert day.totals.import_wh == truth.import_wh(local(2024, 6, 12), local(2024, 6, 13))
    assert day.readings == 96 - 12
    assert day.completeness_pct == pytest.approx(100 * 84 / 96, abs=0.05)
    # The maximum is a measured quarter, never an estimate.
    assert day.power.import_max_at not in {b.start for b in estimated}

    # A daily bucket only needs its midnight readings: the gap leaves the month's numbers exact.
    month = build_series(meter, "month", date(2024, 6, 12), prices=prices_for(meter.owner))
    june12 = month.buckets[11]
    assert not june12.estimated
    assert june12.import_wh == truth.import_wh(local(2024, 6, 12), local(2024, 6, 13))


def test_it_leaves_buckets_null_without_data_on_one_side_never_zero(meter):
    build(meter, local(2024, 6, 12, 0), local(2024, 6, 12, 14))

    day = build_series(meter, "day", date(2024, 6, 12), prices=prices_for(meter.owner))

    known = [b for b in day.buckets if b.import_wh is not None]
    empty = [b for b in day.buckets if b.import_wh is None]
    assert len(known) == 56
    assert len(empty) == 40
    assert all(b.import_t1_wh is None and b.export_wh is None and b.import_w is None for b in empty)
    assert all(b.import_cost_eur is None for b in empty)
    assert day.completeness_pct == pytest.approx(100 * 57 / 96, abs=0.05)

    nothing = build_series(meter, "day", date(2024, 5, 1), prices=prices_for(meter.owner))
    assert nothing.is_empty
    assert nothing.readings == 0
    assert nothing.totals.import_wh == 0
    assert all(b.import_wh is None for b in nothing.buckets)


def test_it_flags_a_replaced_meter_and_counts_the_new_registers_rise(meter):
    drop = epoch(local(2024, 6, 12, 15))
    truth = build(meter, local(2024, 6, 11, 23), local(2024, 6, 13, 1), reset_at=drop)

    day = build_series(meter, "day", date(2024, 6, 12), prices=prices_for(meter.owner))

    flagged = [b for b in day.buckets if b.reset]
    assert [b.start for b in flagged] == [local(2024, 6, 12, 14, 45)]
    assert flagged[0].import_wh == 0
    assert all(b.import_wh >= 0 for b in day.buckets)
    assert day.totals.import_wh == truth.import_wh(local(2024, 6, 12), local(2024, 6, 13))
    after = next(b for b in day.buckets if b.start == local(2024, 6, 12, 15))
    assert after.import_wh == truth.import_wh(drop, drop + SLOT)

    week = build_series(meter, "week", date(2024, 6, 12), prices=prices_for(meter.owner))
    assert sum(1 for b in week.buckets if b.reset) == 1
    assert week.totals.import_wh == truth.import_wh(local(2024, 6, 12), local(2024, 6, 13))


def test_it_finds_the_month_capacity_peak_and_checks_the_meters_own_value(meter):
    def energy(ep):
        if ep == epoch(local(2024, 6, 20, 18, 30)):
            return (0, 1_234, 0, 0)  # 4 936 W during that quarter
        return (0, 100, 0, 0)

    build(meter, local(2024, 5, 31, 23), local(2024, 7, 1, 1), energy=energy, month_peak_kw=Decimal("4.936"))
    june = build_series(meter, "month", date(2024, 6, 1), prices=prices_for(meter.owner))

    cap = june.capacity
    assert cap.peak_w == 4_936
    assert cap.peak_at == local(2024, 6, 20, 18, 30)
    assert cap.meter_peak_w == 4_936
    assert not cap.mismatch
    assert cap.billed_kw == Decimal("4.936")
    assert cap.cost_eur == Decimal("4.936") * Decimal("53.26") / 12

    Reading.objects.filter(meter=meter).update(month_peak_kw=Decimal("5.100"))  # 3.3 % off
    rollups.rebuild(meter.pk)  # the readings were edited behind ingest's back
    assert build_series(meter, "month", date(2024, 6, 1), prices=prices_for(meter.owner)).capacity.mismatch


def test_it_bills_at_least_the_minimum_and_averages_the_last_twelve_months(meter):
    peaks_wh = {  # month -> Wh of its peak quarter (x4 = W); months not listed have no data
        date(2023, 7, 1): 500,  # 2.000 kW -> billed 2.5
        date(2023, 9, 1): 1_500,  # 6.0 kW
        date(2024, 1, 1): 900,  # 3.6 kW
        date(2024, 5, 1): 1_100,  # 4.4 kW
        date(2024, 6, 1): 800,  # 3.2 kW (the shown month)
        date(2023, 6, 1): 2_000,  # 8 kW, 13 months back: outside the card
    }
    for first, peak in peaks_wh.items():
        start = local(first.year, first.month, 10, 12)
        build(
            meter,
            start,
            start + timedelta(hours=1),
            energy=lambda ep, p=peak, s=start: (0, p if ep == epoch(s) + SLOT else 50, 0, 0),
        )
    # Two readings four slots apart in April with a large delta: a gap, not a quarter; it must not count.
    for ts, reg in ((local(2024, 4, 3, 8), "100.000"), (local(2024, 4, 3, 9), "105.000")):
        Reading.objects.create(
            meter=meter,
            timestamp=ts,
            measured_at=ts,
            import_t1_kwh=reg,
            import_t2_kwh=0,
            export_t1_kwh=0,
            export_t2_kwh=0,
            power_import_kw=0,
            power_export_kw=0,
        )

    june = build_series(meter, "month", date(2024, 6, 30), prices=prices_for(meter.owner))

    year = june.capacity_year
    assert len(year.months) == 12
    assert year.months[0].month == date(2023, 7, 1)
    assert year.months[-1].month == date(2024, 6, 1)
    billed = {m.month: m.billed_kw for m in year.months if m.billed_kw is not None}
    assert billed == {
        date(2023, 7, 1): Decimal("2.5"),
        date(2023, 9, 1): Decimal("6"),
        date(2024, 1, 1): Decimal("3.6"),
        date(2024, 5, 1): Decimal("4.4"),
        date(2024, 6, 1): Decimal("3.2"),
    }
    assert year.months_with_data == 5
    assert year.mean_kw == Decimal("19.7") / 5
    assert year.yearly_cost_eur == Decimal("19.7") / 5 * Decimal("53.26")


def test_it_prices_buckets_with_the_owners_day_night_and_export_prices(meter, alice):
    profile = profile_for(alice)
    profile.price_import_day = Decimal("0.3100")
    profile.price_import_night = Decimal("0.2200")
    profile.price_export = Decimal("0.0500")
    profile.price_gas = Decimal("1.2000")
    profile.save()
    build(meter, local(2024, 6, 10, 23), local(2024, 6, 12, 1))  # a Tuesday: day and night tariff hours

    day = build_series(meter, "day", date(2024, 6, 11), prices=prices_for(meter.owner))

    t = day.totals
    assert t.import_t1_wh > 0
    assert t.import_t2_wh > 0
    assert t.export_wh > 0
    expected = (Decimal(t.import_t1_wh) * Decimal("0.31") + Decimal(t.import_t2_wh) * Decimal("0.22")) / 1000
    assert t.import_cost_eur == expected
    assert t.export_credit_eur == Decimal(t.export_wh) * Decimal("0.05") / 1000
    assert t.electricity_cost_eur == expected - t.export_credit_eur
    assert t.gas_cost_eur == Decimal(t.gas_l) * Decimal("1.2") / 1000
    assert sum(b.import_cost_eur for b in day.buckets) == t.import_cost_eur


def test_it_does_not_create_a_profile_while_showing_a_dashboard(alice_client, alice, meter):
    # The dashboards' charts draw from the series API: a GET reads the owner's prices and never writes a profile.
    build(meter, local(2025, 1, 13, 23), local(2025, 1, 15, 1))
    assert not Profile.objects.filter(user=alice).exists()

    url = reverse("api:meter-series", args=[meter.code])
    for view in ("day", "week", "month"):
        response = alice_client.get(url, {"view": view, "date": "2025-01-14"})
        assert response.status_code == 200, view
        assert response.json()["totals"]["import_cost_eur"] > 0, view

    assert not Profile.objects.filter(user=alice).exists()
    defaults = Profile().prices()
    assert prices_for(alice) == prices_for(None) == prices_for(AnonymousUser()) == defaults
    assert defaults.import_day_eur_kwh == settings.PRICE_IMPORT_DAY_EUR_KWH
    assert not Profile.objects.exists()


def test_it_averages_phase_samples_and_reports_power_extremes(meter):
    build(meter, local(2024, 6, 11, 23), local(2024, 6, 13, 1), phases=1, gas=False)

    week = build_series(meter, "week", date(2024, 6, 12), prices=prices_for(meter.owner))

    b = week.buckets[14]  # Wednesday 08:00-12:00
    slots = range(epoch(b.start), epoch(b.end), SLOT)
    assert b.samples == 16 == b.slots
    expected_l1 = sum(((ep // SLOT) % 9) * 100 - 100 for ep in slots) / 16
    assert b.phase_w[0] == pytest.approx(expected_l1)
    assert b.phase_w[1] is None
    assert b.phase_w[2] is None
    assert week.phases == 1
    assert not week.has_gas
    assert week.totals.gas_l is None
    assert week.power.import_avg_w == pytest.approx(week.totals.import_wh / week.totals.known_hours)


def test_it_reports_the_highest_quarter_hour_as_the_maximum_of_every_view(meter):
    truth = build(meter, local(2024, 6, 1), local(2024, 7, 1), gas=False)
    quarters = {ep: (e[0] + e[1]) * 4 for ep, e in truth.energy.items()}
    exports = {ep: (e[2] + e[3]) * 4 for ep, e in truth.energy.items()}

    for view, day in (("day", date(2024, 6, 12)), ("week", date(2024, 6, 12)), ("month", date(2024, 6, 1))):
        series = build_series(meter, view, day, prices=prices_for(meter.owner))
        inside = {ep: w for ep, w in quarters.items() if epoch(series.start) <= ep < epoch(series.end)}
        top = max(inside.values())
        first_top = min(ep for ep, w in inside.items() if w == top)
        assert series.power.import_max_w == top, view
        assert series.power.import_max_at == datetime.fromtimestamp(first_top, UTC), view
        assert series.power.export_max_w == max(w for ep, w in exports.items() if ep in inside), view
        # A bar is an average over its bucket: on week and month views the quarter-hour maximum is higher.
        if view != "day":
            assert top > max(b.import_w for b in series.buckets if b.import_w is not None)


@override_settings(TIME_ZONE="UTC")
def test_it_follows_the_configured_time_zone(meter):
    build(meter, datetime(2024, 3, 30, 22, tzinfo=UTC), datetime(2024, 4, 1, 2, tzinfo=UTC))
    prices = prices_for(meter.owner)
    assert len(build_series(meter, "day", date(2024, 3, 31), prices=prices).buckets) == 96
    assert len(build_series(meter, "day", date(2024, 3, 31), "Europe/Brussels", prices=prices).buckets) == 92


def test_it_rejects_an_unknown_view_and_a_malformed_date(meter):
    with pytest.raises(UnknownView, match="day, week, month, year"):
        build_series(meter, "decade", date(2024, 6, 1), prices=prices_for(meter.owner))
    with pytest.raises(InvalidDate, match="YYYY-MM-DD"):
        parse_day("12/06/2024")
    assert parse_day("") == date(2025, 1, 15)


def test_it_recomputes_a_past_months_peak_after_a_late_upload(meter):
    flat = build(meter, local(2024, 5, 10, 12), local(2024, 5, 10, 13), energy=lambda ep: (0, 1_000, 0, 0))
    assert len(flat.stored) == 5
    before = build_series(meter, "month", date(2024, 6, 1), prices=prices_for(meter.owner)).capacity_year.months[-2]
    assert before.peak_w == 4_000

    # A device that was offline uploads a busier May afternoon later on.
    start = local(2024, 5, 20, 17)
    build(meter, start, start + timedelta(minutes=30), energy=lambda ep: (0, 1_500, 0, 0))
    after = build_series(meter, "month", date(2024, 6, 1), prices=prices_for(meter.owner)).capacity_year.months[-2]
    assert after.month == date(2024, 5, 1)
    assert after.peak_w == 6_000
