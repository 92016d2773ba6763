"""The dashboards in real headless Chromium: charts drawn, meter switch and stepping back change the data."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.conftest import login
from tests.meters.series_truth import BRUSSELS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ("import", "export", "phases", "daynight")

# Counts non-transparent pixels of a chart's canvas: an empty or failed chart has none.
PAINTED = """(name) => {
  const canvas = document.querySelector(`[data-chart="${name}"] canvas`);
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


def _wait_for_charts(page) -> None:
    page.wait_for_selector("#dashboard[data-charts-ready]")
    assert page.get_attribute("#dashboard", "data-charts-ready") == "true", page.inner_text("#chart-error")


def _card(page, name: str) -> str:
    return page.inner_text(f'[data-card="{name}"]')


@pytest.mark.parametrize("view", ["day", "week", "month"])
def test_it_draws_every_chart_of_the_view(page, live_server, alice, password, alice_meters, view):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    # Screenshot-friendly periods: the day with the upload gap, last week (complete), this month (with the peak).
    back = {"day": 3, "week": 7, "month": 0}[view]
    when = timezone.localdate() - timedelta(days=back)
    page.goto(f"{live_server.url}/{view}/?meter={home.code}&date={when.isoformat()}")
    _wait_for_charts(page)

    for name in (*CHARTS, "gas"):
        assert page.evaluate(PAINTED, name) > 500, f"{name} chart is empty on /{view}/"
    assert page.locator(".u-legend").first.is_visible()

    target = os.environ.get("DASHBOARD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{view}.png"), full_page=True)


RUNNING = {
    "00:20 on the 1st": datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS),
    "1 January": datetime(2027, 1, 1, 0, 20, tzinfo=BRUSSELS),
    "spring DST day": datetime(2026, 3, 29, 3, 10, tzinfo=BRUSSELS),
    "autumn DST day": datetime(2026, 10, 25, 2, 20, fold=1, tzinfo=BRUSSELS),
    "23:50 on the last day": datetime(2026, 11, 30, 23, 50, tzinfo=BRUSSELS),
}


@pytest.mark.parametrize("frozen_now", list(RUNNING.values()), ids=list(RUNNING))
def test_it_shows_the_running_month_so_far(page, live_server, alice, password, alice_meters, frozen_now):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/month/?meter={home.code}")
    _wait_for_charts(page)

    assert "so far" in _card(page, "import")
    assert page.locator('[data-status="empty"]').count() == 0
    assert page.evaluate(PAINTED, "import") > 500


def test_it_changes_the_data_when_switching_meter_and_stepping_back(page, live_server, alice, password, alice_meters):
    home, cabin = alice_meters
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/day/?meter={home.code}")
    page.click("#prev-link")  # yesterday: a complete day
    _wait_for_charts(page)
    home_yesterday = _card(page, "import")
    label_yesterday = page.inner_text("#period-label")

    with page.expect_navigation():
        page.select_option("#meter-select", str(cabin.code))
    _wait_for_charts(page)
    assert f"meter={cabin.code}" in page.url
    cabin_yesterday = _card(page, "import")
    assert cabin_yesterday != home_yesterday
    assert page.locator('[data-chart="gas"]').count() == 0  # the cabin has no gas meter

    page.click("#prev-link")
    _wait_for_charts(page)
    assert page.inner_text("#period-label") != label_yesterday
    assert _card(page, "import") != cabin_yesterday
    assert page.evaluate(PAINTED, "import") > 500


def test_it_answers_404_when_bob_opens_alices_series(page, live_server, bob, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "bob", password, landing="/serialNumbers/")  # bob has no meter yet

    api = page.goto(f"{live_server.url}/api/v1/meters/{home.code}/series/?view=day")
    assert api.status == 404
    assert page.goto(f"{live_server.url}/day/?meter={home.code}").status == 404
    assert page.goto(f"{live_server.url}/meters/{home.code}/export.csv").status == 404


def test_it_draws_the_year_with_each_months_capacity_peak(page, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/year/?meter={home.code}")
    _wait_for_charts(page)

    assert page.inner_text("#period-label") == str(timezone.localdate().year)
    for name in (*CHARTS, "gas", "capacity"):
        assert page.evaluate(PAINTED, name) > 500, f"{name} chart is empty on /year/"
    assert "12-month mean" in page.inner_text('[data-chart-card="capacity"]')
    page.click("#prev-link")
    _wait_for_charts(page)
    assert page.inner_text("#period-label") == str(timezone.localdate().year - 1)


def test_it_draws_the_other_period_when_comparing(page, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    last_week = timezone.localdate() - timedelta(days=7)
    page.goto(f"{live_server.url}/week/?meter={home.code}&date={last_week.isoformat()}")
    _wait_for_charts(page)
    before = page.evaluate(PAINTED, "import")

    with page.expect_navigation():
        page.select_option("#compare-select", "previous")
    _wait_for_charts(page)

    assert "compare=previous" in page.url
    assert page.locator('[data-status="compare"]').count() == 1
    assert "against the previous period" in _card(page, "import")
    assert "Previous period" in page.inner_text('[data-chart-card="import"] .u-legend')
    assert page.evaluate(PAINTED, "import") > before  # the other week's line drawn over the bars
    page.click("#prev-link")  # stepping keeps the comparison
    _wait_for_charts(page)
    assert "compare=previous" in page.url
