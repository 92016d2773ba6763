"""Trends (issue 20, meters.series.trends): the average day profile, the base load on hand-computed quarters, the
highest quarter-hours, the day/night split against the month views, gaps and coverage, the range and the page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from meters.models import Meter
from meters.series import InvalidDate, InvalidRange, build_series, parse_range
from meters.series.trends import POSITIONS, default_range, trends
from tests.meters.series_truth import BRUSSELS, SLOT, build, epoch, local
from users.models import prices_for

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


def _wall(ep: int) -> datetime:
    return datetime.fromtimestamp(ep, BRUSSELS)


def _day_range(first: date, days: int = 1) -> tuple[date, date]:
    return first, first + timedelta(days=days)


# --- base load ------------------------------------------------------------------------------------------------------


def _base_load_day(ep: int) -> tuple[int, int, int, int]:
    """Tuesday 12 March 2024 by hand: 100 Wh a quarter (400 W), but
    03:00-04:00: 30 + 31 + 29 + 30 = 120 Wh, the lowest complete hour (120 W);
    05:00-06:00: 25 Wh each (100 W), but the 05:30 reading is missing, so the hour is not whole;
    13:00-14:00: 10 Wh each (40 W) while exporting 50 Wh a quarter: solar covers the house, not its base load."""
    t = _wall(ep)
    if t.hour == 3:
        return ((30, 31, 29, 30)[t.minute // 15], 0, 0, 0)
    if t.hour == 5:
        return (25, 0, 0, 0)
    if t.hour == 13:
        return (10, 0, 50, 0)
    return (100, 0, 0, 0)


def test_it_finds_the_base_load_in_the_lowest_complete_clock_hour(meter):
    day = date(2024, 3, 12)
    build(meter, local(2024, 3, 12), local(2024, 3, 13), energy=_base_load_day, skip={epoch(local(2024, 3, 12, 5, 30))})

    result = trends(meter, *_day_range(day))

    (base,) = result.base_load.days
    assert base.day == day
    assert base.watts == 120.0
    assert base.hour == local(2024, 3, 12, 3)
    (month,) = result.base_load.months
    assert (month.month, month.mean_w, month.days) == (date(2024, 3, 1), 120.0, 1)
    assert result.base_load.slope_w_per_month is None  # one day is no trend


def test_it_leaves_a_day_without_a_complete_hour_without_base_load(meter):
    # Every full hour's reading is missing on 13 March: no hour of that day has four measured quarters.
    holes = {epoch(local(2024, 3, 13, h)) for h in range(24)}
    build(meter, local(2024, 3, 12), local(2024, 3, 15), skip=holes)

    result = trends(meter, *_day_range(date(2024, 3, 12), 3))

    assert [d.day for d in result.base_load.days] == [date(2024, 3, 12), date(2024, 3, 14)]
    c = result.coverage
    assert (c.days, c.days_with_data) == (3, 3)
    # 12 March loses its last quarter (it ends at the missing 00:00), 13 March keeps the two middle quarters of each
    # hour and three of its last (it ends at 14 March 00:00, which is there), 14 March is whole.
    assert c.quarters_measured == 95 + 23 * 2 + 3 + 96
    assert c.quarters_expected == 3 * 96
    assert c.has_gaps
    assert c.pct == round(100 * 240 / 288, 1)


def test_it_reports_the_days_without_data_of_a_range(meter):
    build(meter, local(2024, 3, 12), local(2024, 3, 13))

    result = trends(meter, *_day_range(date(2024, 3, 10), 5))

    c = result.coverage
    assert (c.days, c.days_with_data, c.quarters_measured, c.quarters_expected) == (5, 1, 96, 5 * 96)
    assert c.has_gaps
    assert [d.day for d in result.base_load.days] == [date(2024, 3, 12)]


def test_it_expects_only_the_quarters_that_have_ended(meter):
    with time_machine.travel(local(2024, 3, 12, 10, 7), tick=False):
        build(meter, local(2024, 3, 12), local(2024, 3, 12, 10))
        result = trends(meter, *_day_range(date(2024, 3, 12)))

    assert result.coverage.quarters_expected == 40  # 00:00 to 10:00; the running quarter has not ended
    assert result.coverage.quarters_measured == 40
    assert not result.coverage.has_gaps


def test_it_fits_a_trend_through_the_daily_base_loads(meter):
    # The night rises by 1 Wh a quarter every day: the base load (the lowest hour) rises 4 W a day.
    start = local(2024, 1, 1)

    def rising(ep: int) -> tuple[int, int, int, int]:
        t = _wall(ep)
        days = (t.date() - start.date()).days
        return (50 + days, 0, 0, 0) if t.hour == 3 else (200, 0, 0, 0)

    build(meter, start, local(2024, 3, 1), energy=rising)

    result = trends(meter, date(2024, 1, 1), date(2024, 3, 1))

    assert len(result.base_load.days) == 60
    assert result.base_load.days[0].watts == 200.0
    assert result.base_load.days[-1].watts == 200.0 + 4 * 59
    assert result.base_load.slope_w_per_month == pytest.approx(4 * 365.25 / 12)
    assert [m.month for m in result.base_load.months] == [date(2024, 1, 1), date(2024, 2, 1)]
    assert result.base_load.months[0].mean_w == pytest.approx(200 + 4 * 15)  # mean of days 0..30
    assert result.base_load.latest_month is result.base_load.months[-1]


# --- the average day ---------------------------------------------------------------------------------------------


def test_it_splits_the_average_day_into_weekdays_and_weekends(meter):
    # Monday 11 to Sunday 17 March 2024: weekdays 50 Wh a quarter, weekends 80 Wh, and 08:00-08:15 of each weekday
    # 200 Wh with 20 Wh export.
    def energy(ep: int) -> tuple[int, int, int, int]:
        t = _wall(ep)
        if t.weekday() >= 5:
            return (0, 80, 0, 0)
        if (t.hour, t.minute) == (8, 0):
            return (200, 0, 20, 0)
        return (50, 0, 0, 0)

    build(meter, local(2024, 3, 11), local(2024, 3, 18), energy=energy)

    profile = trends(meter, date(2024, 3, 11), date(2024, 3, 18)).profile

    assert len(profile.weekday) == len(profile.weekend) == POSITIONS
    at_eight = profile.weekday[32]
    assert (at_eight.minute, at_eight.import_w, at_eight.export_w, at_eight.quarters) == (480, 800.0, 80.0, 5)
    assert (profile.weekday[0].import_w, profile.weekday[0].quarters) == (200.0, 5)
    assert {(p.import_w, p.export_w, p.quarters) for p in profile.weekend} == {(320.0, 0.0, 2)}


def test_it_counts_both_autumn_dst_quarters_at_their_wall_clock_position(meter):
    # Sunday 27 October 2024 has 100 quarters: 02:00-03:00 twice. The first 02:xx quarters 10 Wh, the second 30 Wh.
    repeated = epoch(datetime(2024, 10, 27, 2, 0, fold=1, tzinfo=BRUSSELS))

    def energy(ep: int) -> tuple[int, int, int, int]:
        if _wall(ep).hour == 2:
            return (0, 30 if ep >= repeated else 10, 0, 0)
        return (0, 100, 0, 0)

    build(meter, local(2024, 10, 27), local(2024, 10, 28), energy=energy)

    result = trends(meter, *_day_range(date(2024, 10, 27)))

    weekend = result.profile.weekend
    assert sum(p.quarters for p in weekend) == 100
    assert [p.quarters for p in weekend[8:12]] == [2, 2, 2, 2]
    assert weekend[8].import_w == (10 + 30) / 2 * 4
    assert weekend[7].quarters == weekend[12].quarters == 1
    assert result.coverage.quarters_expected == result.coverage.quarters_measured == 100
    # 25 clock hours; the lowest is the first 02:00 (40 W), the earlier of the two 02:00 hours.
    assert result.base_load.days[0].watts == 40.0
    assert result.base_load.days[0].hour == local(2024, 10, 27, 2)
    assert result.base_load.days[0].hour.utcoffset() == timedelta(hours=2)


def test_it_gives_the_spring_dst_day_no_two_oclock(meter):
    build(meter, local(2024, 3, 31), local(2024, 4, 1))  # Sunday, 92 quarters

    result = trends(meter, *_day_range(date(2024, 3, 31)))

    weekend = result.profile.weekend
    assert sum(p.quarters for p in weekend) == 92
    assert [(p.import_w, p.quarters) for p in weekend[8:12]] == [(None, 0)] * 4
    assert all(p.quarters == 1 for p in weekend[:8] + weekend[12:])
    assert result.coverage.quarters_expected == 92
    assert all(p.quarters == 0 for p in result.profile.weekday)


def test_it_leaves_estimated_and_reset_quarters_out(meter):
    reset_at = epoch(local(2024, 3, 12, 12))
    truth = build(meter, local(2024, 3, 12), local(2024, 3, 13), skip={epoch(local(2024, 3, 12, 9))}, reset_at=reset_at)

    result = trends(meter, *_day_range(date(2024, 3, 12)))

    # 08:45 and 09:00 estimated (the 09:00 reading is missing), 11:45 reset (the registers went down at 12:00).
    assert result.coverage.quarters_measured == 96 - 3
    skipped = {epoch(local(2024, 3, 12, 8, 45)), epoch(local(2024, 3, 12, 9)), reset_at - SLOT}
    measured = {ep: e for ep, e in truth.energy.items() if ep not in skipped}
    best = sorted(measured.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))[:10]
    assert [(int(q.start.timestamp()), q.import_wh) for q in result.top] == [(ep, e[0] + e[1]) for ep, e in best]


# --- the highest quarter-hours ----------------------------------------------------------------------------------


def test_it_lists_the_ten_highest_quarters_earliest_first_on_ties(meter):
    # 300 Wh at 20:00, twelve quarters of 200 Wh from 10:00 on, 50 Wh else.
    def energy(ep: int) -> tuple[int, int, int, int]:
        t = _wall(ep)
        if (t.hour, t.minute) == (20, 0):
            return (300, 0, 0, 0)
        if 10 <= t.hour < 13:
            return (200, 0, 0, 0)
        return (50, 0, 0, 0)

    build(meter, local(2024, 3, 12), local(2024, 3, 13), energy=energy)

    top = trends(meter, *_day_range(date(2024, 3, 12))).top

    assert len(top) == 10
    assert (top[0].start, top[0].import_wh, top[0].import_w) == (local(2024, 3, 12, 20), 300, 1200)
    assert [q.start for q in top[1:]] == [local(2024, 3, 12, 10) + timedelta(minutes=15 * k) for k in range(9)]
    assert {q.import_w for q in top[1:]} == {800}
    assert top[0].start.utcoffset() == timedelta(hours=1)  # aware, in Brussels


# --- the day/night split -----------------------------------------------------------------------------------------


def test_it_splits_day_and_night_exactly_as_the_month_views_total(meter):
    gap = set(range(epoch(local(2024, 2, 10, 6)), epoch(local(2024, 2, 10, 9)), SLOT))  # estimated days count too
    build(meter, local(2024, 1, 1), local(2024, 3, 1, 0), skip=gap)
    prices = prices_for(meter.owner)

    t = trends(meter, date(2024, 1, 1), date(2024, 3, 1)).tariffs

    months = [build_series(meter, "month", date(2024, m, 1), prices=prices).totals for m in (1, 2)]
    assert t.import_t1_wh == sum(m.import_t1_wh for m in months)
    assert t.import_t2_wh == sum(m.import_t2_wh for m in months)
    assert t.export_t1_wh == sum(m.export_t1_wh for m in months)
    assert t.export_t2_wh == sum(m.export_t2_wh for m in months)
    assert min(t.import_t1_wh, t.import_t2_wh) > 0
    assert t.import_day_pct == round(100 * t.import_t1_wh / t.import_wh, 1)
    assert t.import_day_pct + t.import_night_pct == pytest.approx(100, abs=0.1)
    assert t.days_known == 31 + 29


def test_it_counts_the_running_day_so_far_as_the_month_view_does(meter):
    with time_machine.travel(local(2024, 3, 12, 10, 7), tick=False):
        build(meter, local(2024, 3, 1), local(2024, 3, 12, 10))
        t = trends(meter, *default_range(date(2024, 3, 12))).tariffs
        month = build_series(meter, "month", date(2024, 3, 12), prices=prices_for(meter.owner)).totals

    assert (t.import_t1_wh, t.import_t2_wh, t.export_wh) == (month.import_t1_wh, month.import_t2_wh, month.export_wh)
    assert t.days_known == 12


def test_it_reads_the_quarters_and_the_days_in_one_query_each(meter):
    build(meter, local(2024, 3, 1), local(2024, 3, 8))
    with CaptureQueriesContext(connection) as queries:
        trends(meter, date(2024, 3, 1), date(2024, 3, 8))
    sqls = [q["sql"].replace('"', "") for q in queries.captured_queries]
    assert len(sqls) == 2, sqls
    assert sorted(next(t for t in ("dayenergy", "quarterenergy") if f"FROM meters_{t}" in sql) for sql in sqls) == [
        "dayenergy",
        "quarterenergy",
    ]


def test_it_gives_an_empty_range_nothing_to_show(meter):
    result = trends(meter, *_day_range(date(2024, 3, 12), 2))
    assert result.is_empty
    assert result.top == ()
    assert result.base_load.days == ()
    assert (result.tariffs.import_wh, result.tariffs.import_day_pct) == (0, None)
    assert all(p.import_w is None for p in result.profile.weekday)


# --- the range ------------------------------------------------------------------------------------------------------


def test_it_defaults_to_the_last_12_months_up_to_today():
    assert parse_range(None, None, date(2024, 6, 12)) == (date(2023, 6, 13), date(2024, 6, 13))
    assert parse_range("", "", date(2024, 2, 29)) == (date(2023, 3, 1), date(2024, 3, 1))
    assert parse_range(None, "2024-01-31", date(2024, 6, 12)) == (date(2023, 2, 1), date(2024, 2, 1))
    assert parse_range("2024-05-01", None, date(2024, 6, 12)) == (date(2024, 5, 1), date(2024, 6, 13))
    assert parse_range("2024-05-01", "2024-05-01", date(2024, 6, 12)) == (date(2024, 5, 1), date(2024, 5, 2))


def test_it_refuses_a_bad_range_with_a_message():
    today = date(2024, 6, 12)
    with pytest.raises(InvalidDate, match="Invalid date '2024-13-01': use the form YYYY-MM-DD"):
        parse_range("2024-13-01", None, today)
    with pytest.raises(InvalidRange, match="The start date 2024-05-02 is after the end date 2024-05-01"):
        parse_range("2024-05-02", "2024-05-01", today)
    with pytest.raises(InvalidRange, match="at most three years"):
        parse_range("2020-01-01", "2024-01-01", today)
    assert parse_range("2021-06-13", "2024-06-12", today)[0] == date(2021, 6, 13)  # three years is fine


# --- the page -------------------------------------------------------------------------------------------------------


@pytest.fixture
def page_meter(meter) -> Meter:
    """Alice's meter with 10 days of quarters up to 25 November 2024 and a gap on the 20th."""
    gap = set(range(epoch(local(2024, 11, 20, 10)), epoch(local(2024, 11, 20, 13)), SLOT))
    build(meter, local(2024, 11, 15), local(2024, 11, 25), skip=gap)
    return meter


def _url(meter: Meter, **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/trends/?meter={meter.code}{extra}"


def test_it_shows_alice_her_trends(page_meter, alice):
    client = Client()
    client.force_login(alice)
    response = client.get(_url(page_meter, **{"from": "2024-11-15", "to": "2024-11-24"}))

    assert response.status_code == 200
    html = response.content.decode()
    result = trends(page_meter, date(2024, 11, 15), date(2024, 11, 25))
    assert 'id="trends-data"' in html
    assert "15 November 2024 \u2013 24 November 2024" in html
    assert f"{result.tariffs.import_wh / 1000:.3f}".replace(",", "") in html.replace("\u202f", "")
    assert 'data-status="gaps"' in html
    assert 'data-testid="top-quarters"' in html
    assert html.count("<time datetime=") == 10
    assert 'js/trends.js"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids them


def test_it_shows_the_default_range_and_a_message_for_a_bad_one(page_meter, alice):
    client = Client()
    client.force_login(alice)
    response = client.get(_url(page_meter, **{"from": "2024-11-20", "to": "2024-11-01"}))

    assert response.status_code == 200
    html = response.content.decode()
    assert "The start date 2024-11-20 is after the end date 2024-11-01" in html
    assert 'value="2023-12-03"' in html  # the last 12 months up to today (2 December 2024)
    assert 'value="2024-12-02"' in html


def test_it_hides_alices_trends_from_bob_and_strangers(page_meter, bob):
    client = Client()
    client.force_login(bob)
    assert client.get(_url(page_meter)).status_code == 404
    anonymous = Client().get(_url(page_meter))
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


def test_it_renders_the_page_in_dutch(page_meter, alice):
    client = Client()
    client.force_login(alice)
    response = client.get(_url(page_meter, **{"from": "2024-11-15", "to": "2024-11-24"}), HTTP_ACCEPT_LANGUAGE="nl")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="nl"' in html
    assert "15 november 2024" in html  # Django's Dutch month names
    result = trends(page_meter, date(2024, 11, 15), date(2024, 11, 25))
    assert f"{result.tariffs.import_wh / 1000:.3f}".replace(".", ",") in html.replace("\u202f", "")


def test_it_serves_the_pages_figures_as_json(page_meter, alice, bob):
    client = Client()
    client.force_login(alice)
    url = f"/api/v1/meters/{page_meter.code}/trends?from=2024-11-15&to=2024-11-24"
    body = client.get(url).json()

    result = trends(page_meter, date(2024, 11, 15), date(2024, 11, 25))
    assert (body["from"], body["to"], body["tz"]) == ("2024-11-15", "2024-11-24", "Europe/Brussels")
    assert len(body["profile"]["minutes"]) == len(body["profile"]["weekday"]["import_w"]) == POSITIONS
    assert body["tariffs"]["import_day_kwh"] == result.tariffs.import_t1_wh / 1000
    assert len(body["base_load"]["days"]) == len(result.base_load.days)
    assert [q["import_w"] for q in body["top"]] == [q.import_w for q in result.top]
    assert body["coverage"]["quarters_measured"] == result.coverage.quarters_measured

    bad = client.get(f"/api/v1/meters/{page_meter.code}/trends?from=2024-11-24&to=2024-11-15")
    assert bad.status_code == 400
    assert "after the end date" in bad.json()["detail"]
    client.force_login(bob)
    assert client.get(url).status_code == 404
