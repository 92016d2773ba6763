"""Stored rollups (meters/series/rollups.py): what ingest maintains equals a rebuild from the raw readings.

The data is hostile on purpose: both DST days, a gap of an hour and one of a day and a half, a meter replaced
(registers restart near zero), gas that stops and comes back, a 1-0:1.6.0 stamped last month, and readings that
arrive late and out of order, in batches that straddle days and months.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meters.ingest import ingest_readings
from meters.models import DayEnergy, MonthEnergy, QuarterEnergy, Reading
from meters.series import build_series, rollups
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
SLOT = timedelta(minutes=15)
START = datetime(2025, 3, 28, 23, 0, tzinfo=UTC)  # 29 March 00:00 in Brussels; spring DST on the 30th
END = datetime(2025, 11, 2, 23, 0, tzinfo=UTC)  # 3 November 00:00; autumn DST on 26 October
REPLACED = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # the meter is swapped here: registers restart
HOUR_GAP = (datetime(2025, 4, 2, 10, 0, tzinfo=UTC), datetime(2025, 4, 2, 11, 0, tzinfo=UTC))
LONG_GAP = (datetime(2025, 7, 31, 12, 0, tzinfo=UTC), datetime(2025, 8, 2, 0, 0, tzinfo=UTC))  # over a month edge
NO_GAS = (datetime(2025, 9, 3, 0, 0, tzinfo=UTC), datetime(2025, 9, 5, 6, 0, tzinfo=UTC))
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


def _missing(slot: datetime) -> bool:
    return any(a <= slot < b for a, b in (HOUR_GAP, LONG_GAP))


def _items(serial: str, start: datetime = START, end: datetime = END) -> list[dict]:
    """Readings every quarter from ``start`` to ``end`` (inclusive) with a varied household profile."""
    rng = random.Random(42)
    registers = [1_000_000, 2_000_000, 300_000, 40_000]
    gas = 5_000_000
    items = []
    slot = start
    while slot <= end:
        if slot == REPLACED:
            registers = [12, 7, 0, 0]  # the new meter starts near zero
        local = slot.astimezone(BRUSSELS)
        if not _missing(slot):
            extra = {}
            if not NO_GAS[0] <= slot < NO_GAS[1]:
                extra["gas_m3"] = f"{Decimal(gas) / 1000:.3f}"
            # 1.6.0: early in a month the meter still shows last month's peak, stamped last month.
            stamp = local.replace(day=1, hour=18, minute=0) - timedelta(days=3 if local.day == 1 else 0)
            extra["month_peak_kw"] = f"{2 + (local.day % 7) / 10:.3f}"
            extra["month_peak_at"] = stamp.isoformat()
            items.append(
                reading_item(
                    serial,
                    slot.isoformat(),
                    import_t1_kwh=f"{Decimal(registers[0]) / 1000:.3f}",
                    import_t2_kwh=f"{Decimal(registers[1]) / 1000:.3f}",
                    export_t1_kwh=f"{Decimal(registers[2]) / 1000:.3f}",
                    export_t2_kwh=f"{Decimal(registers[3]) / 1000:.3f}",
                    tariff=1 if 7 <= local.hour < 22 else 2,
                    **extra,
                )
            )
        day_tariff = 7 <= local.hour < 22
        use = rng.choice((40, 80, 120, 300, 900)) + (600 if local.hour in (7, 18) else 0)
        solar = max(0, 400 - abs(local.hour - 13) * 80) if 6 <= local.hour <= 20 else 0
        registers[0 if day_tariff else 1] += use
        registers[2 if day_tariff else 3] += solar
        gas += rng.choice((0, 0, 10, 25))
        slot += SLOT
    return items


def _snapshot() -> dict[str, list[tuple]]:
    """Every rollup row, with every column, in key order."""
    out = {}
    for model in (QuarterEnergy, DayEnergy, MonthEnergy):
        names = [f.attname for f in model._meta.concrete_fields]
        order = [names[0], names[1]]
        out[model.__name__] = list(model.objects.order_by(*order).values_list(*names))
    return out


def _ingest_late_and_shuffled(user, items: list[dict]) -> None:
    """Most readings in order in daily batches, then the rest late: random single slots and whole missing weeks."""
    rng = random.Random(7)
    late = set(rng.sample(range(len(items)), 400))
    late.update(range(9_000, 9_700))  # a week of May comes in after everything else
    on_time = [item for n, item in enumerate(items) if n not in late]
    for offset in range(0, len(on_time), 96 + 5):  # batches that do not line up with days
        ingest_readings(user, on_time[offset : offset + 101])
    rest = [items[n] for n in sorted(late)]
    rng.shuffle(rest)
    for offset in range(0, len(rest), 37):
        ingest_readings(user, rest[offset : offset + 37])


@pytest.fixture
def hostile(alice, alice_meter):
    items = _items(alice_meter.serial)
    with time_machine.travel(NOW, tick=False):
        _ingest_late_and_shuffled(alice, items)
    return alice_meter


def test_it_maintains_on_ingest_exactly_what_a_rebuild_from_raw_readings_gives(hostile):
    maintained = _snapshot()
    assert len(maintained["MonthEnergy"]) == 9  # March to November 2025
    assert len(maintained["DayEnergy"]) == (date(2025, 11, 3) - date(2025, 3, 29)).days + 1

    report = rollups.rebuild(hostile.pk)

    assert _snapshot() == maintained
    assert report.days == len(maintained["DayEnergy"])
    assert report.quarters == len(maintained["QuarterEnergy"])


def test_it_stores_a_quarter_for_every_slot_between_the_first_and_the_latest_reading(hostile):
    slots = QuarterEnergy.objects.filter(meter=hostile).count()
    assert slots == (END - START) // SLOT
    gap = QuarterEnergy.objects.filter(meter=hostile, slot__gte=LONG_GAP[0] - SLOT, slot__lt=LONG_GAP[1])
    assert all(q.estimated for q in gap)
    assert gap.count() == (LONG_GAP[1] - LONG_GAP[0]) // SLOT + 1
    swap = QuarterEnergy.objects.get(meter=hostile, slot=REPLACED - SLOT)
    assert swap.reset
    assert (swap.import_t1_wh, swap.import_t2_wh) == (0, 0)  # a drop counts nothing, never a negative energy


def test_it_gives_the_dst_days_their_92_and_100_quarters(hostile):
    spring = DayEnergy.objects.get(meter=hostile, day=date(2025, 3, 30))
    autumn = DayEnergy.objects.get(meter=hostile, day=date(2025, 10, 26))
    assert (spring.readings, spring.quarters_measured) == (92, 92)
    assert (autumn.readings, autumn.quarters_measured) == (100, 100)


def test_it_keeps_the_month_view_identical_to_the_series_computed_from_raw_readings(hostile, settings):
    prices = _prices(hostile)
    with time_machine.travel(NOW, tick=False):
        for month in (date(2025, 3, 1), date(2025, 6, 1), date(2025, 8, 1), date(2025, 10, 1), date(2025, 11, 1)):
            stored = build_series(hostile, "month", month, prices=prices)
            raw = build_series(hostile, "month", month, prices=prices, source="readings")
            for field in stored.__dataclass_fields__:
                if field != "buckets":
                    assert getattr(stored, field) == getattr(raw, field), (month, field)
            for a, b in zip(stored.buckets, raw.buckets, strict=True):
                assert a == b
            assert stored == raw, month


def test_it_shows_the_running_day_so_far_from_the_rollups(alice, alice_meter):
    items = _items(alice_meter.serial, START, START + timedelta(days=2, hours=5))
    with time_machine.travel(START + timedelta(days=2, hours=5, minutes=7), tick=False):
        for offset in range(0, len(items), 1000):
            ingest_readings(alice, items[offset : offset + 1000])
        prices = _prices(alice_meter)
        stored = build_series(alice_meter, "month", date(2025, 3, 31), prices=prices)
        raw = build_series(alice_meter, "month", date(2025, 3, 31), prices=prices, source="readings")
    assert stored == raw
    running = [b for b in stored.buckets if b.so_far]
    assert len(running) == 1
    assert running[0].start.astimezone(BRUSSELS).date() == date(2025, 3, 31)


def test_it_reads_the_month_view_from_a_few_stored_rows(hostile):
    prices = _prices(hostile)
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        build_series(hostile, "month", date(2025, 10, 1), prices=prices)
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_it_fixes_exactly_the_quarters_day_and_month_a_late_reading_touches(alice, alice_meter):
    items = _items(
        alice_meter.serial, datetime(2025, 5, 20, 22, 0, tzinfo=UTC), datetime(2025, 6, 5, 22, 0, tzinfo=UTC)
    )
    late_slot = datetime(2025, 5, 31, 21, 30, tzinfo=UTC)  # 23:30 on 31 May in Brussels: the month's last hour
    late = next(i for i in items if i["timestamp"] == late_slot.isoformat())
    with time_machine.travel(NOW, tick=False):
        rest = [i for i in items if i is not late]
        for offset in range(0, len(rest), 1000):
            ingest_readings(alice, rest[offset : offset + 1000])
        before = _snapshot()
        ingest_readings(alice, [late])
    after = _snapshot()

    def changed(name: str) -> set:
        return {row[1] for row in set(after[name]) ^ set(before[name])}

    assert changed("QuarterEnergy") == {late_slot - SLOT, late_slot}
    assert changed("DayEnergy") == {date(2025, 5, 31)}
    assert changed("MonthEnergy") == {date(2025, 5, 1)}
    rollups.rebuild(alice_meter.pk)
    assert _snapshot() == after


def test_it_removes_what_a_deleted_reading_contributed(admin_client, alice, alice_meter):
    items = _items(alice_meter.serial, START, START + timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        ingest_readings(alice, items[:1000])
        reading = Reading.objects.get(meter=alice_meter, timestamp=START + timedelta(hours=5))
        admin_client.post(
            f"/admin/meters/reading/{reading.pk}/delete/", {"post": "yes"}, follow=True
        )  # the admin's own delete page
    assert not Reading.objects.filter(pk=reading.pk).exists()
    around = QuarterEnergy.objects.filter(meter=alice_meter, slot__in=[reading.timestamp - SLOT, reading.timestamp])
    assert all(q.estimated for q in around)
    maintained = _snapshot()
    rollups.rebuild(alice_meter.pk)
    assert _snapshot() == maintained


def test_it_rebuilds_from_the_command_with_progress(hostile, capsys):
    QuarterEnergy.objects.all().delete()
    DayEnergy.objects.filter(day__gte=date(2025, 5, 1)).delete()
    call_command("rebuild_rollups", hostile.serial)
    out = capsys.readouterr().out
    assert "2025-05" in out
    assert hostile.serial in out
    assert QuarterEnergy.objects.count() == (END - START) // SLOT


def test_it_names_an_unknown_meter_in_the_command(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="1NOSUCHMETER"):
        call_command("rebuild_rollups", "1NOSUCHMETER")


def _prices(meter):
    from users.models import prices_for

    return prices_for(meter.owner)
