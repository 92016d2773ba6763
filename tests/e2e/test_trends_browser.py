"""The Trends page in real headless Chromium: the average day and the base load drawn, with their text alternative."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import login
from tests.e2e.test_dashboard_browser import PAINTED

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _wait_for_charts(page) -> None:
    page.wait_for_selector("#trends[data-charts-ready]")
    assert page.get_attribute("#trends", "data-charts-ready") == "true", page.inner_text("#chart-error")


def test_it_draws_the_average_day_and_the_base_load(page, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/trends/?meter={home.code}")
    _wait_for_charts(page)

    for name in ("profile", "base-load"):
        assert page.evaluate(PAINTED, name) > 500, f"the {name} chart is empty"
    assert page.inner_text("#chart-profile-summary").startswith("Weekdays: highest ")
    assert page.inner_text("#chart-base-load-summary").startswith("Base load on 3")  # 34 or 35 days of readings
    # The last 12 months hold 35 days of readings: the page says there are gaps.
    assert page.locator('[data-status="gaps"]').is_visible()
    assert page.locator('[data-testid="top-quarters"] tbody tr').count() == 10

    profile_rows = page.locator('[data-chart-card="profile"] [data-chart-table] tbody tr')
    assert profile_rows.count() == 96
    assert (profile_rows.first.text_content() or "").startswith("00:00\u201300:15")

    chart = page.locator('[data-chart="base-load"]')
    chart.focus()
    page.keyboard.press("Home")
    live_line = page.locator('[data-chart-card="base-load"] [data-chart-live]')
    assert "Base load: " in live_line.inner_text()
    page.keyboard.press("ArrowRight")
    assert "Monthly mean: " in live_line.inner_text()

    target = os.environ.get("DASHBOARD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / "trends.png"), full_page=True)


def test_it_shows_another_range_from_the_form(page, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/trends/?meter={home.code}")
    _wait_for_charts(page)
    page.fill("#from-input", "2026-11-20")
    page.fill("#to-input", "2026-11-26")
    with page.expect_navigation():
        page.click("#range-form [type=submit]")
    _wait_for_charts(page)

    assert "from=2026-11-20" in page.url
    assert page.inner_text("#range-label") == "20 November 2026 \u2013 26 November 2026"
    assert page.locator('[data-chart-card="base-load"] [data-chart-table] tbody tr').count() == 7
    assert page.evaluate(PAINTED, "base-load") > 500
