"""Comparing a period with the previous one or the same period a year before (issue 20): alignment by position
in the period on the local clock, differences over the positions both have, completeness of both."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from meters.models import Meter
from meters.series import UnknownComparison, build_series, compare, year_ago
from tests.meters.series_truth import build, epoch, local
from users.models import prices_for

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


def _series(meter, view, day):
    return build_series(meter, view, day, prices=prices_for(meter.owner))


def test_it_steps_back_a_year_keeping_weekdays_and_the_end_of_february():
    assert year_ago("day", date(2024, 2, 29)) == date(2023, 2, 28)
    assert year_ago("day", date(2025, 3, 30)) == date(2024, 3, 30)
    assert year_ago("week", date(2025, 3, 12)) == date(2024, 3, 13)  # Wednesday to Wednesday
    assert year_ago("month", date(2024, 2, 29)) == date(2023, 2, 1)
    assert year_ago("year", date(2024, 7, 4)) == date(2023, 1, 1)


def test_it_lines_up_the_autumn_day_by_the_clock_and_leaves_the_repeated_hour_alone(meter):
    truth = build(meter, local(2024, 10, 25, 23), local(2024, 10, 28, 1))
    autumn = _series(meter, "day", date(2024, 10, 27))  # 100 quarters

    cmp = compare(autumn, "previous", prices=prices_for(meter.owner))

    assert cmp.other.day == date(2024, 10, 26)
    assert len(cmp.aligned) == 100
    missing = [
        b.start.astimezone(autumn.start.tzinfo) for b, o in zip(autumn.buckets, cmp.aligned, strict=True) if o is None
    ]
    assert [(t.hour, t.minute, t.fold) for t in missing] == [(2, m, 1) for m in (0, 15, 30, 45)]
    for b, o in zip(autumn.buckets, cmp.aligned, strict=True):
        if o is not None:
            t, u = b.start.astimezone(autumn.start.tzinfo), o.start.astimezone(autumn.start.tzinfo)
            assert (t.hour, t.minute) == (u.hour, u.minute)
    assert cmp.positions_matched == 96
    assert cmp.positions_known == 100
    assert not cmp.complete
    # Over the 96 quarters both days have: the winter-time 02:xx run is left out of this day's side.
    winter_two = epoch(local(2024, 10, 27, 2)) + 3600  # 02:00 the second time, in winter time
    repeated = truth.import_wh(winter_two, winter_two + 3600)
    assert cmp.imports.this_wh == autumn.totals.import_wh - repeated
    assert cmp.imports.other_wh == truth.import_wh(local(2024, 10, 26), local(2024, 10, 27))


def test_it_lines_up_a_spring_week_by_weekday_and_hour(meter):
    build(meter, local(2025, 3, 16, 23), local(2025, 3, 31, 1))
    spring = _series(meter, "week", date(2025, 3, 27))  # Sunday 30 March loses an hour

    cmp = compare(spring, "previous", prices=prices_for(meter.owner))

    assert cmp.other.day == date(2025, 3, 20)
    assert all(o is not None for o in cmp.aligned)
    tz = spring.start.tzinfo
    for b, o in zip(spring.buckets, cmp.aligned, strict=True):
        t, u = b.start.astimezone(tz), o.start.astimezone(tz)
        assert (t.weekday(), t.hour) == (u.weekday(), u.hour)
    assert cmp.complete
    assert cmp.imports.this_wh == spring.totals.import_wh
    assert cmp.imports.other_wh == cmp.other.totals.import_wh


def test_it_has_no_counterpart_for_the_29th_of_february(meter):
    build(meter, local(2023, 1, 31, 23), local(2023, 3, 1, 1))
    build(meter, local(2024, 1, 31, 23), local(2024, 3, 1, 1), base_wh=(9_000_000, 9_000_000, 900_000, 90_000))
    leap = _series(meter, "month", date(2024, 2, 10))

    cmp = compare(leap, "year", prices=prices_for(meter.owner))

    assert cmp.other.day == date(2023, 2, 1)
    assert len(cmp.aligned) == 29
    assert cmp.aligned[-1] is None
    assert cmp.positions_matched == 28
    assert cmp.positions_known == 29
    assert cmp.imports.this_wh == leap.totals.import_wh - leap.buckets[-1].import_wh
    assert cmp.imports.other_wh == cmp.other.totals.import_wh
    assert float(cmp.imports.change_pct) == pytest.approx(
        100 * (cmp.imports.this_wh - cmp.imports.other_wh) / cmp.imports.other_wh
    )


def test_it_compares_the_running_month_with_the_same_days_never_with_zeros(meter):
    build(meter, local(2025, 1, 31, 23), local(2025, 3, 15, 12, 45))  # now is 13:00 in Brussels
    march = _series(meter, "month", date(2025, 3, 15))

    cmp = compare(march, "previous", prices=prices_for(meter.owner))

    # 1 to 14 March against 1 to 14 February: the running day and the days to come are not compared.
    assert cmp.positions_known == 14
    assert cmp.positions_matched == 14
    assert cmp.complete
    assert cmp.imports.this_wh == sum(b.import_wh for b in march.buckets[:14])
    assert cmp.imports.other_wh == sum(b.import_wh for b in cmp.other.buckets[:14])


def test_it_says_how_little_of_the_other_period_it_could_compare(meter):
    build(meter, local(2025, 2, 20), local(2025, 3, 8))
    march = _series(meter, "year", date(2025, 3, 1))

    cmp = compare(march, "year", prices=prices_for(meter.owner))

    assert cmp.other.is_empty
    assert cmp.positions_matched == 0
    assert (cmp.imports.this_wh, cmp.imports.other_wh, cmp.imports.change_pct) == (0, 0, None)


def test_it_rejects_an_unknown_comparison(meter):
    with pytest.raises(UnknownComparison, match="previous, year"):
        compare(_series(meter, "day", date(2025, 3, 1)), "last-tuesday", prices=prices_for(meter.owner))


def test_it_shows_the_comparison_on_the_page_and_in_the_api(client, alice, bob, meter):
    build(meter, local(2025, 3, 1), local(2025, 3, 3))
    client.force_login(alice)

    page = client.get("/day/", {"meter": str(meter.code), "date": "2025-03-02", "compare": "previous"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-status="compare"' in html
    assert "the previous period" in html
    assert "against the previous period" in html  # the cards' change line
    assert 'href="/week/?meter=' in html
    assert "compare=previous" in html
    body = client.get(f"/api/v1/meters/{meter.code}/series/", {"date": "2025-03-02", "compare": "previous"}).json()
    assert body["compare"]["date"] == "2025-03-01"
    assert body["compare"]["complete"]
    assert len(body["compare"]["buckets"]) == len(body["buckets"]) == 96
    day2 = _series(meter, "day", date(2025, 3, 2)).totals.import_wh
    day1 = _series(meter, "day", date(2025, 3, 1)).totals.import_wh
    assert body["compare"]["import"]["change_kwh"] == round((day2 - day1) / 1000, 3)

    bad = client.get(f"/api/v1/meters/{meter.code}/series/", {"compare": "someday"})
    assert bad.status_code == 400
    assert "someday" in bad.json()["detail"]
    page = client.get("/day/", {"meter": str(meter.code), "compare": "someday"})
    assert page.status_code == 200
    assert "Unknown comparison" in page.content.decode()

    client.force_login(bob)
    assert client.get("/day/", {"meter": str(meter.code), "compare": "year"}).status_code == 404
