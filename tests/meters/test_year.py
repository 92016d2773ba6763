"""Year view (issue 20): one bucket per local month from the stored day rollups, adding up to the Wh."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from meters.models import Meter
from meters.series import boundaries, build_series
from meters.series import build as build_mod
from tests.meters.series_truth import SLOT, build, epoch, local
from users.models import prices_for

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
_ENERGY = ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


def _energies(x) -> tuple:
    return tuple(getattr(x, a) for a in _ENERGY)


def test_it_sums_a_leap_years_months_and_days_to_the_wh(meter):
    truth = build(meter, local(2023, 12, 31, 22), local(2024, 12, 31, 23, 45) + timedelta(hours=3))
    prices = prices_for(meter.owner)

    year = build_series(meter, "year", date(2024, 7, 4), prices=prices)

    assert len(year.buckets) == 12
    assert [b.start.astimezone(year.start.tzinfo).month for b in year.buckets] == list(range(1, 13))
    assert year.buckets[1].slots == 29 * 96  # a leap February
    assert year.buckets[2].slots == 31 * 96 - 4  # March loses an hour
    assert year.buckets[9].slots == 31 * 96 + 4  # October has one twice
    for k, bucket in enumerate(year.buckets):
        month = build_series(meter, "month", date(2024, k + 1, 1), prices=prices)
        assert _energies(bucket) == _energies(month.totals)
        assert bucket.gas_l == month.totals.gas_l
        assert bucket.import_cost_eur == month.totals.import_cost_eur
        assert not bucket.estimated
        assert bucket.missing_days == 0
        assert bucket.source == "p1"
    assert _energies(year.totals) == tuple(sum(getattr(b, a) for b in year.buckets) for a in _ENERGY)
    assert _energies(year.totals) == truth.wh(local(2024, 1, 1), local(2025, 1, 1))
    days = [build_series(meter, "day", date(2024, 2, 1) + timedelta(days=k), prices=prices).totals for k in range(29)]
    assert _energies(year.buckets[1]) == tuple(sum(getattr(d, a) for d in days) for a in _ENERGY)
    assert year.completeness_pct == 100.0
    assert (year.prev_day, year.next_day) == (date(2023, 1, 1), date(2025, 1, 1))


def test_it_counts_the_running_month_so_far_and_leaves_the_months_to_come_empty(meter):
    latest = datetime(2025, 3, 15, 11, 45, tzinfo=UTC)
    truth = build(meter, local(2025, 1, 20), latest)

    year = build_series(meter, "year", date(2025, 6, 1), prices=prices_for(meter.owner))

    jan, feb, march, *rest = year.buckets
    assert jan.missing_days == 19  # 1 to 19 January: before the first reading, left out and counted
    assert _energies(jan) == truth.wh(local(2025, 1, 20), local(2025, 2, 1))
    assert feb.missing_days == 0
    assert not feb.so_far
    assert march.so_far
    assert march.so_far_until == latest
    assert _energies(march) == truth.wh(local(2025, 3, 1), latest)
    assert all(b.import_wh is None and b.source is None for b in rest)
    # The running year's total: the latest register minus the register at the first reading, to the Wh.
    assert _energies(year.totals) == truth.wh(local(2025, 1, 20), latest)


def test_it_flags_the_month_of_a_meter_replacement_and_counts_the_new_registers_rise(meter):
    drop = epoch(local(2024, 6, 12, 15))
    truth = build(meter, local(2024, 5, 31, 22), local(2024, 7, 1, 2), reset_at=drop)

    year = build_series(meter, "year", date(2024, 1, 1), prices=prices_for(meter.owner))

    june = year.buckets[5]
    assert june.reset
    assert [b.reset for b in year.buckets].count(True) == 1
    assert _energies(june) == truth.wh(local(2024, 6, 1), local(2024, 7, 1))
    assert (
        june.import_wh
        == build_series(meter, "month", date(2024, 6, 1), prices=prices_for(meter.owner)).totals.import_wh
    )


def test_it_draws_every_months_peak_with_the_twelve_month_mean_up_to_it(meter):
    peaks_wh = {date(2023, 11, 1): 2_000, date(2024, 2, 1): 900, date(2024, 3, 1): 1_500}  # 8.0, 3.6, 6.0 kW
    for first, peak in peaks_wh.items():
        start = local(first.year, first.month, 10, 12)
        build(
            meter,
            start,
            start + timedelta(hours=1),
            energy=lambda ep, p=peak, s=start: (0, p if ep == epoch(s) + SLOT else 50, 0, 0),
        )

    year = build_series(meter, "year", date(2024, 5, 5), prices=prices_for(meter.owner))

    cards = year.capacity_months
    assert [c.months[-1].month for c in cards] == [date(2024, m, 1) for m in range(1, 13)]
    assert [c.months[-1].peak_w for c in cards][:4] == [None, 3_600, 6_000, None]
    assert cards[0].mean_kw == Decimal(8)  # January: only last November within its 12 months
    assert cards[1].mean_kw == Decimal("11.6") / 2
    assert cards[2].mean_kw == Decimal("17.6") / 3
    assert cards[9].mean_kw == Decimal("17.6") / 3  # October 2024: November 2023 is 11 months back
    assert cards[10].mean_kw == Decimal("9.6") / 2  # November 2024: it has dropped out
    peak_month = year.buckets[2]
    assert peak_month.import_wh is not None


def test_it_gives_the_same_months_from_the_rollups_and_from_the_readings(meter):
    build(meter, local(2024, 2, 27), local(2024, 3, 5), skip={epoch(local(2024, 3, 1, h)) for h in range(0, 5)})

    stored = build_series(meter, "year", date(2024, 3, 1), prices=prices_for(meter.owner))
    raw = build_series(meter, "year", date(2024, 3, 1), prices=prices_for(meter.owner), source="readings")

    assert [_energies(b) for b in stored.buckets] == [_energies(b) for b in raw.buckets]
    assert [b.estimated for b in stored.buckets] == [b.estimated for b in raw.buckets]
    assert stored.buckets[2].estimated  # 1 March starts across the gap


def test_it_serves_the_year_page_and_api_to_the_owner_only(client, alice, bob, meter):
    build(meter, local(2024, 12, 30), local(2025, 1, 2))
    alice_client = client
    client.force_login(alice)

    page = alice_client.get("/year/", {"meter": str(meter.code), "date": "2025-01-01"})
    assert page.status_code == 200
    html = page.content.decode()
    assert ">2025</h1>" in html
    assert 'aria-current="page">Year</a>' in html
    api = alice_client.get(f"/api/v1/meters/{meter.code}/series/", {"view": "year", "date": "2025-01-01"})
    body = api.json()
    assert api.status_code == 200
    assert body["view"] == "year"
    assert len(body["buckets"]) == 12
    assert [m["month"] for m in body["capacity_months"]][:2] == ["2025-01", "2025-02"]
    assert body["buckets"][0]["start"] == "2025-01-01T00:00:00+01:00"
    assert body["previous_date"] == "2024-01-01"

    client.force_login(bob)
    assert client.get("/year/", {"meter": str(meter.code)}).status_code == 404
    assert client.get(f"/api/v1/meters/{meter.code}/series/", {"view": "year"}).status_code == 404
    client.logout()
    assert client.get("/year/").url.startswith("/login/")
    assert client.get(f"/api/v1/meters/{meter.code}/series/", {"view": "year"}).status_code == 401


def _same(a, b) -> None:
    """Two buckets (or totals) alike: integers, money and flags exactly, averages to a millionth."""

    def alike(x, y) -> bool:
        if isinstance(x, tuple):
            return len(x) == len(y) and all(alike(p, q) for p, q in zip(x, y, strict=True))
        if isinstance(x, float) and isinstance(y, float):
            return x == pytest.approx(y, rel=1e-9)
        return x == y

    for field in fields(a):
        assert alike(getattr(a, field.name), getattr(b, field.name)), field.name


@pytest.mark.parametrize(
    ("frozen", "first"),
    [(NOW, 0), (datetime(2025, 10, 26, 1, 30, tzinfo=UTC), 8)],
    ids=["march", "autumn DST day"],
)
def test_it_sums_the_months_in_sql_as_it_sums_them_day_by_day(meter, frozen, first):
    # The data start at 09:00 on the 20th of month ``first`` (0-based); the next month has a gap over midnight
    # and a replaced meter; the data run up to ``frozen`` (the running day, here and on the autumn DST day).
    start, later = local(2025, first + 1, 20, 9), local(2025, first + 2, 10, 20)
    gap = {epoch(later) + k * SLOT for k in range(40)}  # 10 hours without readings
    with time_machine.travel(frozen, tick=False):
        build(meter, start, frozen - timedelta(minutes=15), skip=gap, reset_at=epoch(later + timedelta(days=5)))
        prices = prices_for(meter.owner)
        zone = ZoneInfo("Europe/Brussels")
        bounds = boundaries("year", date(2025, 1, 1))

        in_sql = build_mod._year_in_sql(meter, date(2025, 5, 1), zone, bounds, prices)
        by_days = build_mod._year_by_days(meter, date(2025, 5, 1), zone, bounds, prices)
        default = build_series(meter, "year", date(2025, 5, 1), prices=prices)

    assert default.buckets == in_sql.buckets
    for a, b in zip(in_sql.buckets, by_days.buckets, strict=True):
        _same(a, b)
    _same(in_sql.totals, by_days.totals)
    _same(in_sql.power, by_days.power)
    assert (in_sql.readings, in_sql.completeness_pct, in_sql.phases) == (
        by_days.readings,
        by_days.completeness_pct,
        by_days.phases,
    )
    assert in_sql.buckets[first].missing_days == 20  # the first reading came at 09:00 on the 20th
    assert in_sql.buckets[first + 1].estimated
    assert in_sql.buckets[first + 1].reset
    running = [b for b in in_sql.buckets if b.so_far]
    assert len(running) == 1
