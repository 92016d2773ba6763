"""manage.py load_demo: the demo account and meter with realistic, consistent, idempotent readings.

Time is frozen in every test: the demo fills the window ending "now", so nothing here depends on today's date.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from meters.management.commands.load_demo import DemoHouse
from meters.models import READING_FIELDS, Meter, Reading
from meters.series import build_series
from users.models import prices_for

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
SERIAL = "1SAG3100000001"
QUARTER = timedelta(minutes=15)
AFTER_AUTUMN_DST = datetime(2026, 10, 27, 11, 5, tzinfo=UTC)  # Tuesday after the 25 October 2026 change


def _load(days: int) -> None:
    call_command("load_demo", days=days, verbosity=0, allow_public_password=True)


def _readings() -> list[Reading]:
    return list(Reading.objects.filter(meter__serial=SERIAL).order_by("timestamp"))


def _total_import(r: Reading) -> Decimal:
    return r.import_t1_kwh + r.import_t2_kwh


def _total_export(r: Reading) -> Decimal:
    return r.export_t1_kwh + r.export_t2_kwh


def _slots(start: datetime, end: datetime) -> list[datetime]:
    return [start + QUARTER * k for k in range(int((end - start) / QUARTER))]


def _sent(start: datetime, end: datetime) -> list[datetime]:
    """The slots of [start, end) the demo Pi uploads: all but its (seeded) outages."""
    house = DemoHouse(SERIAL)
    return [slot for slot in _slots(start, end) if not house.is_gap(slot)]


def _quarters(readings: list[Reading]) -> dict[datetime, Decimal]:
    """Average import kW of every quarter bounded by two stored readings, by the quarter's start."""
    return {
        a.timestamp: (_total_import(b) - _total_import(a)) * 4
        for a, b in itertools.pairwise(readings)
        if b.timestamp - a.timestamp == QUARTER
    }


def _local_month(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(BRUSSELS)
    return local.year, local.month


def _at(moment: datetime) -> datetime:
    """Freeze-able UTC instant of a local wall time."""
    return moment.replace(tzinfo=BRUSSELS).astimezone(UTC)


def test_it_creates_the_demo_account_and_meter_once(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)

    _load(days=3)
    _load(days=3)

    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo-password-123")
    meter = Meter.objects.get(serial=SERIAL)
    assert (meter.owner, meter.name) == (user, "Home")
    end = datetime(2026, 10, 27, 11, 15, tzinfo=UTC)
    assert meter.readings.count() == len(_sent(end - timedelta(days=3), end))


def test_it_fills_every_uploaded_quarter_up_to_now_across_the_autumn_change(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)

    _load(days=3)

    slots = [r.timestamp for r in _readings()]
    end = datetime(2026, 10, 27, 11, 15, tzinfo=UTC)
    assert slots == _sent(end - timedelta(days=3), end)
    assert slots[-1] == datetime(2026, 10, 27, 11, 0, tzinfo=UTC)
    window = _slots(end - timedelta(days=3), end)
    assert len([s for s in window if s.astimezone(BRUSSELS).date() == date(2026, 10, 25)]) == 100


def test_it_adds_only_the_missing_quarters_when_run_again_later(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)
    _load(days=1)
    first_run = {r.timestamp: r.import_t1_kwh for r in _readings()}

    time_machine.move_to(AFTER_AUTUMN_DST + timedelta(hours=6), tick=False)
    _load(days=1)
    _load(days=2)  # and a longer window fills the older day in front

    readings = _readings()
    end = datetime(2026, 10, 27, 17, 15, tzinfo=UTC)
    assert [r.timestamp for r in readings] == _sent(end - timedelta(days=2), end)
    assert {r.timestamp: r.import_t1_kwh for r in readings if r.timestamp in first_run} == first_run
    for field in ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "gas_m3"):
        values = [getattr(r, field) for r in readings]
        assert values == sorted(values), f"{field} went down"


def test_it_yields_the_same_readings_when_run_again_or_from_scratch(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)

    def snapshot() -> list[tuple]:
        return list(
            Reading.objects.filter(meter__serial=SERIAL)
            .order_by("timestamp")
            .values_list("timestamp", "measured_at", *READING_FIELDS)
        )

    _load(days=2)
    first = snapshot()
    _load(days=2)
    assert snapshot() == first

    Reading.objects.all().delete()
    _load(days=2)
    assert snapshot() == first


def test_it_uses_the_night_tariff_at_night_and_in_weekends(time_machine):
    time_machine.move_to(datetime(2026, 6, 22, 6, 0, tzinfo=UTC), tick=False)  # Monday 08:00 local
    _load(days=4)

    by_local = {r.timestamp.astimezone(BRUSSELS).replace(tzinfo=None): r for r in _readings()}
    assert by_local[datetime(2026, 6, 19, 12, 0)].tariff == 1  # Friday noon
    assert by_local[datetime(2026, 6, 19, 22, 0)].tariff == 2  # Friday night
    assert by_local[datetime(2026, 6, 20, 12, 0)].tariff == 2  # Saturday noon
    assert by_local[datetime(2026, 6, 22, 7, 0)].tariff == 1  # Monday morning
    friday_22, saturday_22 = by_local[datetime(2026, 6, 19, 22, 0)], by_local[datetime(2026, 6, 20, 22, 0)]
    assert saturday_22.import_t1_kwh == friday_22.import_t1_kwh
    assert saturday_22.import_t2_kwh > friday_22.import_t2_kwh
    # A June weekend exports solar energy at midday.
    assert by_local[datetime(2026, 6, 21, 15, 0)].export_t2_kwh > by_local[datetime(2026, 6, 21, 9, 0)].export_t2_kwh


def test_its_month_peak_is_the_highest_quarter_hour_average_of_the_month(time_machine):
    time_machine.move_to(datetime(2026, 1, 10, 18, 0, tzinfo=UTC), tick=False)
    _load(days=12)

    readings = [r for r in _readings() if r.timestamp.astimezone(BRUSSELS).month == 1]
    averages = _quarters(readings)
    last = readings[-1]
    # The meter saw the quarters of an upload gap too, so its own peak may lie there: never below what we can see.
    assert last.month_peak_kw >= max(averages.values())
    if last.month_peak_at in averages:
        assert last.month_peak_kw == averages[last.month_peak_at]
    for before, after in itertools.pairwise(readings):
        if after.timestamp - before.timestamp == QUARTER:
            assert after.avg_demand_kw == averages[before.timestamp]
    for r in readings:
        assert r.l1_voltage_v is not None
        assert 215 < r.l1_voltage_v < 250
        assert r.gas_m3 is not None
        assert r.water_m3 is None  # the demo home has no water meter: nothing invented


def test_it_leaves_a_few_upload_gaps_that_the_day_view_shows_as_estimated(time_machine):
    time_machine.move_to(_at(datetime(2026, 3, 1)), tick=False)
    _load(days=28)  # February 2026

    readings = _readings()
    stored = {r.timestamp for r in readings}
    missing = [s for s in _slots(readings[0].timestamp, readings[-1].timestamp) if s not in stored]
    runs: list[list[datetime]] = []
    for slot in missing:
        if runs and slot - runs[-1][-1] == QUARTER:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    assert 1 <= len(runs) <= 6, "a few gaps a month"
    assert all(len(run) <= 32 for run in runs), "none longer than 8 hours"
    assert len(missing) < 0.02 * 28 * 96

    # The meter counted on while the Pi was off: the registers after a gap include the lost quarters.
    by_slot = {r.timestamp: r for r in readings}
    run = max(runs, key=len)
    before, after = by_slot[run[0] - QUARTER], by_slot[run[-1] + QUARTER]
    assert _total_import(after) > _total_import(before)

    meter = Meter.objects.get(serial=SERIAL)
    series = build_series(meter, "day", run[0].astimezone(BRUSSELS).date(), prices=prices_for(meter.owner))
    assert any(b.estimated for b in series.buckets)


def test_it_exports_far_more_in_june_than_in_december_and_only_in_daylight(time_machine):
    def month_of_readings(first: datetime, after: datetime) -> list[Reading]:
        Reading.objects.all().delete()
        time_machine.move_to(_at(after), tick=False)
        _load(days=(after - first).days)
        return _readings()

    december = month_of_readings(datetime(2025, 12, 1), datetime(2026, 1, 1))
    june = month_of_readings(datetime(2026, 6, 1), datetime(2026, 7, 1))

    december_kwh = _total_export(december[-1]) - _total_export(december[0])
    june_kwh = _total_export(june[-1]) - _total_export(june[0])
    assert june_kwh > 5 * december_kwh
    assert december_kwh < 60  # short, low, grey days: next to nothing left over for the grid

    def exporting_hours(readings: list[Reading]) -> set[float]:
        return {
            a.timestamp.astimezone(BRUSSELS).hour + a.timestamp.astimezone(BRUSSELS).minute / 60
            for a, b in itertools.pairwise(readings)
            if b.timestamp - a.timestamp == QUARTER and _total_export(b) > _total_export(a)
        }

    in_june, in_december = exporting_hours(june), exporting_hours(december)
    # Long summer days (sunrise ~05:30, sunset ~22:00), short winter ones (~08:40 to ~16:40).
    assert min(in_june) < 8
    assert max(in_june) >= 19
    assert min(in_december) >= 8.5
    assert max(in_december) < 16.5


def test_it_has_one_month_whose_capacity_peak_stands_out(time_machine):
    time_machine.move_to(_at(datetime(2026, 2, 1)), tick=False)
    _load(days=62)  # December 2025 and January 2026

    readings = _readings()
    peaks: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for start, kw in _quarters(readings).items():
        month = _local_month(start)
        peaks[month] = max(peaks[month], kw)
    meter_peaks = {_local_month(r.timestamp): r.month_peak_kw for r in readings}  # the month's last 1-0:1.6.0

    assert set(peaks) == {(2025, 12), (2026, 1)}
    assert peaks[(2026, 1)] > Decimal("1.4") * peaks[(2025, 12)]  # the January cold snap's heaters
    assert meter_peaks[(2026, 1)] > Decimal("1.4") * meter_peaks[(2025, 12)]


def test_it_has_a_morning_and_an_evening_peak_above_the_night_load(time_machine):
    time_machine.move_to(_at(datetime(2026, 4, 27)), tick=False)  # a Monday
    _load(days=21)

    by_hour: dict[str, list[Decimal]] = defaultdict(list)
    for start, kw in _quarters(_readings()).items():
        local = start.astimezone(BRUSSELS)
        weekday, hour = local.weekday() < 5, local.hour + local.minute / 60
        if 1 <= hour < 5:
            by_hour["night"].append(kw)
        elif weekday and 6.5 <= hour < 7.5:
            by_hour["morning"].append(kw)
        elif weekday and 10 <= hour < 16:
            by_hour["weekday daytime"].append(kw)
        elif 18 <= hour < 19:
            by_hour["evening"].append(kw)
    mean = {name: sum(values) / len(values) for name, values in by_hour.items()}

    assert mean["evening"] > 4 * mean["night"]
    assert mean["morning"] > 2 * mean["night"]
    assert mean["evening"] > mean["morning"] > mean["weekday daytime"]


def test_it_refuses_to_create_the_public_demo_account_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("load_demo", days=1, verbosity=0)
    assert not get_user_model().objects.filter(username="demo").exists()


def test_it_gives_the_demo_a_contract_and_made_up_day_ahead_prices_so_the_bill_compares(time_machine, settings):
    from meters.billing.bill import compare
    from meters.models import SpotPrice

    settings.DEBUG = True
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)
    _load(days=40)
    meter = Meter.objects.get(serial=SERIAL)
    assert meter.contracts.get().area == "Imewo"
    assert SpotPrice.objects.count() == 40 * 96  # a price for every demo quarter (40 x 24 hours)
    result = compare(meter, date(2026, 10, 1), prices_for(meter.owner))
    kinds = {line.kind for line in result.bill.lines}
    assert {"energy", "network", "capacity", "fixed", "levies", "vat", "export", "gas"} <= kinds
    engie = next(a for a in result.alternatives if a.name == "Engie Dynamic")
    assert engie.bill.missing_prices == 0
    assert result.costly_hours
