"""manage.py load_demo: the demo account and meter with realistic, consistent, idempotent readings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from meters.models import Meter, Reading

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
SERIAL = "1SAG3100000001"
AFTER_AUTUMN_DST = datetime(2026, 10, 27, 11, 5, tzinfo=UTC)  # Tuesday after the 25 October 2026 change


def _load(days: int) -> None:
    call_command("load_demo", days=days, verbosity=0, allow_public_password=True)


def _readings() -> list[Reading]:
    return list(Reading.objects.filter(meter__serial=SERIAL).order_by("timestamp"))


def _total_import(r: Reading):
    return r.import_t1_kwh + r.import_t2_kwh


def test_it_creates_the_demo_account_and_meter_once(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)

    _load(days=3)
    _load(days=3)

    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo-password-123")
    meter = Meter.objects.get(serial=SERIAL)
    assert (meter.owner, meter.name) == (user, "Home")
    assert meter.readings.count() == 3 * 96


def test_it_fills_every_quarter_up_to_now_across_the_autumn_change(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)

    _load(days=3)

    slots = [r.timestamp for r in _readings()]
    assert slots[-1] == datetime(2026, 10, 27, 11, 0, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(slots))
    on_change_day = [s for s in slots if s.astimezone(BRUSSELS).date().isoformat() == "2026-10-25"]
    assert len(on_change_day) == 100


def test_it_adds_only_the_missing_quarters_when_run_again_later(time_machine):
    time_machine.move_to(AFTER_AUTUMN_DST, tick=False)
    _load(days=1)
    first_run = {r.timestamp: r.import_t1_kwh for r in _readings()}

    time_machine.move_to(AFTER_AUTUMN_DST + timedelta(hours=6), tick=False)
    _load(days=1)
    _load(days=2)  # and a longer window fills the older day in front

    readings = _readings()
    assert len(readings) == 2 * 96  # the 2-day window now ends 6 h later
    assert readings[-1].timestamp == datetime(2026, 10, 27, 17, 0, tzinfo=UTC)
    assert {r.timestamp: r.import_t1_kwh for r in readings if r.timestamp in first_run} == first_run
    for field in ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "gas_m3"):
        values = [getattr(r, field) for r in readings]
        assert values == sorted(values), f"{field} went down"


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
    averages = {a.timestamp: (_total_import(b) - _total_import(a)) * 4 for a, b in itertools.pairwise(readings)}
    last = readings[-1]
    peak_slot = max(averages, key=averages.get)
    assert last.month_peak_kw == averages[peak_slot]
    assert last.month_peak_at == peak_slot
    assert last.avg_demand_kw == averages[readings[-2].timestamp]
    for r in readings:
        assert r.l1_voltage_v is not None
        assert 215 < r.l1_voltage_v < 250
        assert r.gas_m3 is not None
        assert r.water_m3 is None  # the demo home has no water meter: nothing invented


def test_it_refuses_to_create_the_public_demo_account_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("load_demo", days=1, verbosity=0)
    assert not get_user_model().objects.filter(username="demo").exists()
