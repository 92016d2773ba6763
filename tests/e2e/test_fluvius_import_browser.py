"""The Mijn Fluvius upload as a homeowner sees it, in Chromium: the script posts the form with a progress bar and
shows the report it gets back, in the same page."""

from __future__ import annotations

from datetime import date

import pytest

from meters.models import FluviusInterval, Meter
from tests.e2e.conftest import login, new_page
from tests.factories import ALICE_SERIAL
from tests.meters.test_fluvius_import import quarter_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_uploads_a_file_in_the_page_and_shows_the_report(
    browser, frozen_now, live_server, alice, password, tmp_path
):
    meter = Meter.objects.create(serial=ALICE_SERIAL, name="Home", owner=alice)
    path = tmp_path / "Verbruikshistoriek_kwartiertotalen.csv"
    path.write_bytes(quarter_file(date(2025, 6, 1), days=3))
    page = new_page(browser, frozen_now)
    login(page, live_server.url, "alice", password)
    page.goto(f"{live_server.url}/serialNumbers/")
    page.get_by_role("link", name="Import history from Mijn Fluvius").click()
    page.wait_for_url(f"**/meters/{meter.code}/imports/fluvius/")
    page.evaluate("() => { window.__samePage = true; }")  # gone if the page were loaded anew

    page.get_by_label("Mijn Fluvius export (CSV)").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()

    page.locator("[data-testid=fluvius-history]").wait_for()
    assert "1152 rows read: 1152 stored" in page.inner_text("[role=status]")
    assert page.evaluate("() => window.__samePage === true")
    assert FluviusInterval.objects.filter(meter=meter).count() == 1152
