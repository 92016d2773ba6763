"""The peak guard on hand-computed cases (meters.live): start and end of a quarter, below the 2.5 kW minimum, export
only, a meter without 1-0:1.4.0, the month's peak from stored quarters and from the meter's own 1-0:1.6.0."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from meters import live
from meters.ingest import IngestRejected, ingest_readings
from meters.models import Reading
from tests.factories import ALICE_SERIAL, reading_item
from users.models import Profile, prices_for

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
# Tuesday 1 December 2026, 18:00 in Brussels: the quarter 18:00-18:15 (17:00-17:15 UTC).
QUARTER = datetime(2026, 12, 1, 18, 0, tzinfo=BRUSSELS)


def _at(seconds: int, base: datetime = QUARTER) -> datetime:
    return base + timedelta(seconds=seconds)


def _post(user, measured_at: datetime, **values):
    data = {"serial": ALICE_SERIAL, "measured_at": measured_at.isoformat(), "power_export_kw": "0", **values}
    data.setdefault("power_import_kw", "0")
    with time_machine.travel(measured_at + timedelta(seconds=1), tick=False):
        return live.receive_snapshot(user, data)


def _guard(alice, alice_meter, measured_at: datetime, **values) -> live.PeakGuard:
    snapshot = _post(alice, measured_at, **values)
    return live.peak_guard(alice_meter, snapshot, prices_for(alice))


def _store_quarter(alice, start: datetime, kwh: str, base: str = "1000.000") -> None:
    """Two readings one slot apart whose day register grew by ``kwh``: a measured quarter of 4 x kwh kW."""
    end = str(Decimal(base) + Decimal(kwh))
    after = (start + timedelta(minutes=15)).isoformat()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        ingest_readings(
            alice,
            [
                reading_item(ALICE_SERIAL, start.isoformat(), import_t1_kwh=base, import_t2_kwh="500.000"),
                reading_item(ALICE_SERIAL, after, import_t1_kwh=end, import_t2_kwh="500.000"),
            ],
        )


def test_it_projects_the_quarter_from_its_first_seconds(alice, alice_meter):
    # 10 s in at 1 kW on average, 6 kW now: (1 x 10 + 6 x 890) / 900 = 5.944 kW.
    guard = _guard(alice, alice_meter, _at(10), avg_demand_kw="1.000", power_import_kw="6.000")
    assert guard.quarter_start == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert (guard.elapsed_seconds, guard.remaining_seconds) == (10, 890)
    assert (guard.so_far_kw, guard.so_far_source) == (Decimal("1.000"), "meter")
    assert guard.projected_kw == Decimal("5.944")
    # No quarter stored and no 1.6.0 yet: the 2.5 kW minimum is the threshold.
    assert guard.month_peak_kw is None
    assert guard.threshold_kw == Decimal("2.500")
    assert guard.exceeds
    assert guard.exceed_kw == Decimal("3.444")
    # 53.26 EUR/kW/year (the site default) / 12 = 4.4383 EUR per kW; 3.444 kW x 4.4383 = 15.29 EUR.
    assert guard.cost_per_kw_eur == Decimal("4.44")
    assert guard.extra_cost_eur == Decimal("15.29")
    # (2.5 x 900 - 1 x 10) / 890 = 2.517 kW keeps the quarter at the minimum.
    assert guard.allowed_power_kw == Decimal("2.517")


def test_it_weighs_the_quarter_so_far_near_its_end(alice, alice_meter):
    _store_quarter(alice, datetime(2026, 12, 1, 8, 0, tzinfo=BRUSSELS), kwh="0.750")  # 3.000 kW at 08:00
    # 890 s at 2 kW, 8 kW for the last 10 s: (2 x 890 + 8 x 10) / 900 = 2.067 kW, under this month's 3 kW.
    guard = _guard(alice, alice_meter, _at(890), avg_demand_kw="2.000", power_import_kw="8.000")
    assert guard.projected_kw == Decimal("2.067")
    assert guard.month_peak_kw == Decimal("3.000")
    assert guard.month_peak_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert guard.month_peak_source == "quarters"
    assert guard.threshold_kw == Decimal("3.000")
    assert guard.headroom_kw == Decimal("0.933")
    assert not guard.exceeds
    assert guard.exceed_kw == 0
    assert guard.extra_cost_eur == 0
    # (3 x 900 - 2 x 890) / 10 = 92 kW may still be drawn for 10 s.
    assert guard.allowed_power_kw == Decimal("92.000")


def test_it_costs_nothing_below_the_minimum(alice, alice_meter):
    guard = _guard(alice, alice_meter, _at(450), avg_demand_kw="1.200", power_import_kw="2.000")
    assert guard.projected_kw == Decimal("1.600")
    assert guard.threshold_kw == Decimal("2.500")
    assert guard.headroom_kw == Decimal("0.900")
    assert not guard.exceeds
    assert guard.extra_cost_eur == 0


def test_it_projects_nothing_for_a_house_that_exports(alice, alice_meter):
    guard = _guard(
        alice,
        alice_meter,
        _at(450),
        avg_demand_kw="0.000",
        power_import_kw="0.000",
        power_export_kw="3.100",
        month_peak_kw="4.120",
        month_peak_at="2026-12-01T08:15:00+01:00",
    )
    assert guard.current_import_kw == 0
    assert guard.projected_kw == 0
    # The meter's own month peak is the threshold when no quarter is stored.
    assert guard.month_peak_kw == Decimal("4.120")
    assert guard.month_peak_source == "meter"
    assert guard.threshold_kw == Decimal("4.120")
    assert guard.headroom_kw == Decimal("4.120")


def test_it_takes_the_higher_of_stored_quarters_and_the_meter_peak(alice, alice_meter):
    _store_quarter(alice, datetime(2026, 12, 1, 8, 0, tzinfo=BRUSSELS), kwh="1.000")  # 4.000 kW
    lower = _guard(alice, alice_meter, _at(60), avg_demand_kw="1", power_import_kw="1", month_peak_kw="3.900")
    assert (lower.month_peak_kw, lower.month_peak_source) == (Decimal("4.000"), "quarters")
    higher = _guard(alice, alice_meter, _at(120), avg_demand_kw="1", power_import_kw="1", month_peak_kw="4.300")
    assert (higher.month_peak_kw, higher.month_peak_source) == (Decimal("4.300"), "meter")


def test_it_works_out_the_average_from_the_registers_without_1_4_0(alice, alice_meter):
    with time_machine.travel(QUARTER + timedelta(minutes=1), tick=False):
        ingest_readings(
            alice,
            [reading_item(ALICE_SERIAL, QUARTER.isoformat(), import_t1_kwh="1000.000", import_t2_kwh="500.000")],
        )
    # 0.4 kWh in 450 s = 3.2 kW so far; 2 kW now: (3.2 x 450 + 2 x 450) / 900 = 2.6 kW.
    guard = _guard(
        alice, alice_meter, _at(450), power_import_kw="2.000", import_t1_kwh="1000.400", import_t2_kwh="500.000"
    )
    assert (guard.so_far_kw, guard.so_far_source) == (Decimal("3.200"), "registers")
    assert guard.projected_kw == Decimal("2.600")


def test_it_projects_the_current_power_when_nothing_tells_the_quarter_so_far(alice, alice_meter):
    # No 1.4.0 and no stored reading at the quarter's start: the current power is all there is.
    guard = _guard(alice, alice_meter, _at(450), power_import_kw="2.700", import_t1_kwh="1000.4", import_t2_kwh="5")
    assert guard.so_far_kw is None
    assert guard.so_far_source is None
    assert guard.projected_kw == Decimal("2.700")
    assert guard.exceeds
    assert guard.exceed_kw == Decimal("0.200")
    # Under the same assumption (2.7 kW since the quarter began): (2.5 x 900 - 2.7 x 450) / 450 = 2.3 kW.
    assert guard.allowed_power_kw == Decimal("2.300")


def test_it_does_not_count_last_month_in_the_first_quarter_of_a_month(alice, alice_meter):
    _store_quarter(alice, datetime(2026, 11, 30, 18, 0, tzinfo=BRUSSELS), kwh="1.250")  # 5 kW in November
    first = datetime(2026, 12, 1, 0, 0, tzinfo=BRUSSELS)
    # Just after midnight the meter still sends November's 1.6.0, stamped in November: not this month's.
    guard = _guard(
        alice,
        alice_meter,
        _at(300, first),
        avg_demand_kw="3.000",
        power_import_kw="3.000",
        month_peak_kw="5.000",
        month_peak_at="2026-11-30T18:00:00+01:00",
    )
    assert guard.month_peak_kw is None
    assert guard.threshold_kw == Decimal("2.500")
    assert guard.exceeds
    assert guard.exceed_kw == Decimal("0.500")


def test_it_uses_the_users_capacity_price(alice, alice_meter):
    Profile.objects.create(user=alice, price_capacity=Decimal("60.00"))
    guard = _guard(alice, alice_meter, _at(450), avg_demand_kw="3.500", power_import_kw="3.500")
    assert guard.cost_per_kw_eur == Decimal("5.00")
    assert guard.extra_cost_eur == Decimal("5.00")  # 1 kW over the minimum x 60 / 12


@pytest.mark.parametrize(
    ("region", "area", "per_kw"),
    [("VL", "West", Decimal("5.04")), ("BR", "Sibelga", Decimal("0.00"))],  # 57.10 x 1.06 / 12; no capacity tariff
    ids=["flemish-area", "brussels"],
)
def test_it_prices_the_headroom_with_the_contracts_capacity_tariff(alice, alice_meter, region, area, per_kw):
    from meters.models import Contract

    Profile.objects.create(user=alice, price_capacity=Decimal("60.00"))  # not used: the contract says where
    Contract.objects.create(meter=alice_meter, name="C", valid_from=date(2026, 1, 1), region=region, area=area,
                            energy_kind="single", price_single_eur_kwh=Decimal("0.1"))  # fmt: skip
    _post(alice, _at(450), avg_demand_kw="3.500", power_import_kw="3.500")
    with time_machine.travel(_at(451), tick=False):
        state = live.live_status(alice_meter, prices_for(alice))
    assert state.guard is not None
    assert state.guard.cost_per_kw_eur == per_kw


def test_it_finds_the_quarter_in_the_repeated_autumn_hour(alice, alice_meter):
    # 25 October 2026, 02:07 winter time (the second 02:07): its quarter started at 02:00+01:00 = 01:00 UTC.
    second = datetime(2026, 10, 25, 2, 7, tzinfo=BRUSSELS, fold=1)
    guard = _guard(alice, alice_meter, second, avg_demand_kw="1", power_import_kw="1")
    assert guard.quarter_start == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert guard.elapsed_seconds == 420


def test_it_keeps_snapshots_out_of_the_readings_and_keeps_the_newest(alice, alice_meter, settings):
    settings.LIVE_MIN_INTERVAL = 0
    _post(alice, _at(450), power_import_kw="1.000")
    late = _post(alice, _at(440), power_import_kw="9.000")  # an older packet arriving late
    assert late.measured_at == _at(450).astimezone(UTC)
    kept = live.latest_snapshot(alice_meter.pk)
    assert kept is not None
    assert kept.kw("power_import_kw") == Decimal("1.000")
    assert not Reading.objects.exists()


def test_it_refuses_a_second_snapshot_within_the_minimum_interval(alice, alice_meter, settings):
    settings.LIVE_MIN_INTERVAL = 2
    data = {"serial": ALICE_SERIAL, "measured_at": _at(1).isoformat(), "power_import_kw": "1", "power_export_kw": "0"}
    live.receive_snapshot(alice, data, now=_at(1))
    with pytest.raises(live.TooSoon) as raised:
        live.receive_snapshot(alice, {**data, "measured_at": _at(2).isoformat()}, now=_at(2))
    assert raised.value.retry_after == pytest.approx(1.0)


def test_it_reports_every_bad_field_by_name(alice, alice_meter):
    data = {"serial": "nope", "measured_at": "yesterday", "power_import_kw": "-1", "tariff": 7}
    with pytest.raises(IngestRejected) as raised:
        live.receive_snapshot(alice, data, now=_at(1))
    fields = {(e.index, e.field) for e in raised.value.errors}
    assert fields == {(0, "serial"), (0, "measured_at"), (0, "power_import_kw"), (0, "power_export_kw"), (0, "tariff")}


def test_it_takes_no_snapshot_for_another_accounts_or_an_unclaimed_meter(alice, bob, alice_meter):
    data = {"serial": ALICE_SERIAL, "measured_at": _at(1).isoformat(), "power_import_kw": "1", "power_export_kw": "0"}
    with pytest.raises(live.UnknownMeter):
        live.receive_snapshot(bob, data, now=_at(1))
    alice_meter.owner = None
    alice_meter.save()
    with pytest.raises(live.UnknownMeter):
        live.receive_snapshot(alice, data, now=_at(1))
    assert live.latest_snapshot(alice_meter.pk) is None
