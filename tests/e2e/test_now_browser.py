"""The Now page in a real browser: it lands there while the meter is live, takes a new snapshot within one poll,
speaks the four languages, says when the Pi went offline and polls nothing in a hidden tab."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from meters import live
from meters.models import Meter
from tests.e2e.conftest import login, new_page
from tests.factories import ALICE_SERIAL
from tests.meters.series_truth import BRUSSELS

pytestmark = pytest.mark.django_db(transaction=True)

# The words of the page in each language (the catalogues' translations) and the number as the glossary writes it.
LANGUAGES = {
    "en": {"accept": "en-GB", "nav": "Now", "title": "Power now", "import": "3.41\u00a0kW", "after": "5.00\u00a0kW"},
    "nl": {"accept": "nl-BE", "nav": "Nu", "title": "Vermogen nu", "import": "3,41\u00a0kW", "after": "5,00\u00a0kW"},
    "fr": {
        "accept": "fr-BE",
        "nav": "Maintenant",
        "title": "Puissance actuelle",
        "import": "3,41\u00a0kW",
        "after": "5,00\u00a0kW",
    },
    "de": {
        "accept": "de-BE",
        "nav": "Jetzt",
        "title": "Leistung jetzt",
        "import": "3,41\u00a0kW",
        "after": "5,00\u00a0kW",
    },
}


@pytest.fixture
def frozen_now() -> datetime:
    return datetime(2026, 12, 1, 18, 7, 30, tzinfo=BRUSSELS)


@pytest.fixture
def live_meter(alice, settings):
    settings.LIVE_MIN_INTERVAL = 0
    return Meter.objects.create(serial=ALICE_SERIAL, name="Home", owner=alice)


def _send(user, power: str) -> None:
    live.receive_snapshot(
        user,
        {
            "serial": ALICE_SERIAL,
            "measured_at": timezone.now().isoformat(),
            "power_import_kw": power,
            "power_export_kw": "0",
            "l1_import_kw": power,
            "l1_voltage_v": "231.4",
            "l1_current_a": "14.8",
            "tariff": 1,
            "avg_demand_kw": "2.904",
        },
    )


def _settle(page) -> None:
    """Stop the page's polling and let a request in flight finish: the live server must be idle when the test's
    database is flushed (SQLite in memory refuses with "table is locked" while a request still reads it)."""
    page.evaluate(
        "() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.wait_for_load_state("networkidle")


def _until(page, condition, timeout_ms: int = 10_000) -> None:
    """Wait for ``condition`` while Playwright delivers its events (they arrive only inside its own calls)."""
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("timed out waiting for the page")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_it_updates_the_now_page_when_a_snapshot_arrives(
    browser, live_server, frozen_now, alice, password, live_meter, language
):
    want = LANGUAGES[language]
    page = new_page(browser, frozen_now, locale=want["accept"])
    try:
        _send(alice, "3.412")
        login(page, live_server.url, "alice", password, landing="/now/")
        assert page.get_attribute("html", "lang") == language
        assert page.inner_text("h1") == want["title"]
        assert page.get_by_role("link", name=want["nav"], exact=True).get_attribute("aria-current") == "page"
        assert page.inner_text('[data-value="import"]') == want["import"]

        _send(alice, "5.000")
        page.clock.run_for(6_000)  # past the 5 s poll
        page.wait_for_function(
            "want => document.querySelector('[data-value=\"import\"]').textContent === want", arg=want["after"]
        )
        assert page.locator("[data-warning]").is_visible()  # 5 kW heads for a new peak over the 2.5 kW minimum
        assert page.locator("[data-offline]").is_hidden()
        _settle(page)
    finally:
        page.context.close()


def test_it_says_the_pi_is_offline_once_the_snapshot_is_old(page, live_server, alice, password, live_meter):
    _send(alice, "1.000")
    login(page, live_server.url, "alice", password, landing="/now/")
    assert page.locator("[data-offline]").is_hidden()
    # No new snapshot for over a minute, on both clocks: the page counts the age on, and the server's polled answers
    # (X-Live-Age) agree with it.
    with time_machine.travel(timezone.now() + timedelta(seconds=75), tick=True):
        page.clock.run_for(75_000)
        page.wait_for_selector("[data-offline]", state="visible")
        page.clock.run_for(5_000)  # one more poll: still offline
        page.wait_for_timeout(300)
        assert page.locator("[data-offline]").is_visible()
    assert re.search(r"Pi offline since 18:07", page.inner_text("[data-offline]"))
    _settle(page)


def test_it_polls_nothing_in_a_hidden_tab(page, live_server, alice, password, live_meter):
    _send(alice, "1.000")
    login(page, live_server.url, "alice", password, landing="/now/")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/now/panel/" in request.url else None)
    page.clock.run_for(5_500)
    _until(page, lambda: len(polls) == 1)

    page.evaluate(
        "() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)  # Playwright hands over its events while it waits
    assert len(polls) == 1

    page.evaluate(
        "() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    _until(page, lambda: len(polls) == 2)  # asked at once when shown again, without waiting for the 5 s
    _settle(page)
