"""Accessibility in Chromium: axe-core's WCAG 2.0/2.1/2.2 A and AA rules on every page, logged out and in, at desktop
width and at 390 px, light and dark; the charts' text alternative and keyboard access; the colour-scheme switch;
the focus on a form's first error.

Each page is loaded once and checked in its four states by changing the viewport and the emulated colour scheme
(the pages are in the automatic scheme, so prefers-color-scheme decides), which keeps the module fast.

A11Y_SCREENSHOTS=docs/screenshots saves dashboard-dark-desktop.png and dashboard-dark-390.png (the day with the
upload gap, in the dark scheme) there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from meters import live, sharing
from meters.models import Meter
from tests.e2e import axe
from tests.e2e.conftest import login, new_page
from users.models import Profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STATES = [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light"), (PHONE, "dark")]

Step = Callable[..., None]


@pytest.fixture(autouse=True)
def _server_error_url(settings):
    settings.ROOT_URLCONF = "tests.e2e.error_urls"  # the site's URLs and /test-server-error/


@pytest.fixture
def a11y_page(browser, frozen_now):
    # axe is injected as a script tag; the site's Content-Security-Policy (scripts from the site only) would block it.
    page = new_page(browser, frozen_now, viewport=DESKTOP, bypass_csp=True, reduced_motion="reduce")
    yield page
    page.context.close()


def _ready(page) -> None:
    if page.locator("#dashboard").count():
        page.wait_for_selector("#dashboard[data-charts-ready]")
        assert page.get_attribute("#dashboard", "data-charts-ready") == "true", page.inner_text("#chart-error")


def _check_states(page, name: str) -> list[str]:
    """axe's violations of the page in each state of STATES, as "page @ state: rule ..." lines."""
    problems = []
    for viewport, scheme in STATES:
        page.set_viewport_size(viewport)
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        _ready(page)
        for line in axe.violations(page):
            problems.append(f"{name} @ {viewport['width']} px {scheme}: {line}")
    return problems


def _check(page, base_url: str, pages: list[tuple[str, str | Step]]) -> tuple[list[str], int]:
    problems, states = [], 0
    for name, target in pages:
        if callable(target):
            target(page, base_url)
        else:
            response = page.goto(base_url + target)
            assert response is not None
        _ready(page)
        problems += _check_states(page, name)
        states += len(STATES)
    return problems, states


def _login_with_errors(page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-the-password")
    page.click("form[action='/login/'] [type=submit]")
    page.wait_for_selector("main [role=alert]")


def _register_with_errors(page, base_url: str) -> None:
    page.goto(f"{base_url}/register/")
    page.fill("input[name=username]", "alice")  # taken
    page.fill("input[name=email]", "not-an-address")
    page.click("main form [type=submit]")
    page.wait_for_selector("main [aria-invalid=true]")


def _profile_with_errors(page, base_url: str) -> None:
    page.goto(f"{base_url}/profile/")
    page.fill("input[name=prices-price_gas]", "abc")
    page.click("form:has(input[name=prices-price_gas]) [type=submit]")
    page.wait_for_selector("main [aria-invalid=true]")


def _reset_link(alice) -> str:
    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    return f"/password-reset-confirm/{uid}/{default_token_generator.make_token(alice)}/"


def test_it_finds_no_wcag_violation_on_the_logged_out_pages(a11y_page, live_server, alice):
    pages: list[tuple[str, str | Step]] = [
        ("login", "/login/"),
        ("login with an error", _login_with_errors),
        ("register", "/register/"),
        ("register with errors", _register_with_errors),
        ("password reset", "/password-reset/"),
        ("password reset sent", "/password-reset/done/"),
        ("new password", _reset_link(alice)),
        ("password reset link used", "/password-reset-confirm/MQ/0-invalid/"),
        ("password reset complete", "/password-reset-complete/"),
        ("help", "/help/"),
        ("privacy", "/privacy/"),
        ("invitation link not valid", "/shares/not-a-token/"),
        ("404", "/no-such-page/"),
        ("500", "/test-server-error/"),
    ]
    problems, states = _check(a11y_page, live_server.url, pages)
    assert states == len(pages) * 4
    assert not problems, "\n".join(problems)


def test_it_finds_no_wcag_violation_on_the_logged_in_pages(
    a11y_page, frozen_now, live_server, alice, bob, password, alice_meters
):
    home, _ = alice_meters
    login(a11y_page, live_server.url, "alice", password)
    live.receive_snapshot(  # after the login, which would land on the Now page of a live meter
        alice,
        {
            "serial": home.serial,
            "measured_at": frozen_now.isoformat(),
            "power_import_kw": "3.41",
            "power_export_kw": "0",
            "l1_import_kw": "3.41",
            "l1_voltage_v": "231.4",
            "l1_current_a": "14.8",
            "tariff": 1,
            "avg_demand_kw": "2.904",
        },
    )
    gap_day = (timezone.localtime(frozen_now).date() - timedelta(days=3)).isoformat()
    # A share of alice's meter to list, and an invitation to a meter of bob's for her to open.
    sharing.invite(home, "carol@example.org", "manager", lambda token: f"/shares/{token}/")
    bobs = Meter.objects.create(serial="1SAG9900000001", name="Bob's flat", owner=bob)
    invitation = sharing.invite(bobs, "alice@example.org", "viewer", lambda token: f"/shares/{token}/")
    pages: list[tuple[str, str | Step]] = [
        ("day", f"/day/?meter={home.code}&date={gap_day}"),
        ("week", f"/week/?meter={home.code}"),
        ("month", f"/month/?meter={home.code}"),
        ("now", f"/now/?meter={home.code}"),
        ("bill", f"/bill/?meter={home.code}"),
        ("trends", f"/trends/?meter={home.code}"),
        ("meters", "/serialNumbers/"),
        ("contracts", f"/meters/{home.code}/contracts/"),
        ("sharing", f"/meters/{home.code}/sharing/"),
        ("Mijn Fluvius import", f"/meters/{home.code}/imports/fluvius/"),
        ("invitation", invitation.url),
        ("delete account", "/account/delete/"),
        ("privacy", "/privacy/"),
        ("devices", "/devices/"),
        ("connect a device", "/device/"),
        ("profile", "/profile/"),
        ("profile with an error", _profile_with_errors),
        ("password change", "/password-change/"),
        ("help", "/help/"),
        ("404", "/no-such-page/"),
        ("500", "/test-server-error/"),
    ]
    problems, states = _check(a11y_page, live_server.url, pages)
    assert states == len(pages) * 4
    assert not problems, "\n".join(problems)


def _bucket_count(page) -> int:
    return page.evaluate("() => JSON.parse(document.getElementById('series-data').textContent).buckets.length")


def test_it_gives_every_chart_a_summary_a_table_and_keyboard_steps(
    a11y_page, frozen_now, live_server, alice, password, alice_meters
):
    home, _ = alice_meters
    login(a11y_page, live_server.url, "alice", password)
    day = (timezone.localtime(frozen_now).date() - timedelta(days=1)).isoformat()
    a11y_page.goto(f"{live_server.url}/day/?meter={home.code}&date={day}")
    _ready(a11y_page)

    summary = a11y_page.inner_text("#chart-import-summary")
    assert re.fullmatch(r"Highest quarter-hour [0-9.]+\u00a0k?W on Mon 30 Nov at [0-2][0-9]:[0-5][0-9]", summary), (
        summary
    )
    assert a11y_page.inner_text("#chart-daynight-summary").startswith("In all: day tariff ")
    for name in ("import", "export", "phases", "daynight", "gas"):
        table = a11y_page.locator(f'[data-chart-card="{name}"] [data-chart-table] table')
        assert table.locator("tbody tr").count() == _bucket_count(a11y_page), name
    first = a11y_page.locator('[data-chart-card="import"] [data-chart-table] tbody tr').first.text_content() or ""
    assert first.startswith("00:00\u201300:15")
    assert "kWh" in first

    # The table opens from its toggle, by keyboard too.
    a11y_page.locator('[data-chart-card="import"] [data-chart-table] summary').focus()
    a11y_page.keyboard.press("Enter")
    assert a11y_page.locator('[data-chart-card="import"] [data-chart-table] table').is_visible()

    chart = a11y_page.locator('[data-chart="import"]')
    chart.focus()
    a11y_page.keyboard.press("Home")
    live_line = a11y_page.locator('[data-chart-card="import"] [data-chart-live]')
    assert live_line.get_attribute("aria-live") == "polite"
    assert live_line.inner_text().startswith("00:00\u201300:15. Import: ")
    a11y_page.keyboard.press("ArrowRight")
    assert live_line.inner_text().startswith("00:15\u201300:30. Import: ")
    a11y_page.keyboard.press("End")
    assert live_line.inner_text().startswith("23:45\u201300:00. Import: ")


def test_it_keeps_the_colour_scheme_in_a_cookie_and_in_the_profile(a11y_page, live_server, alice, password):
    page = a11y_page
    page.goto(f"{live_server.url}/login/")
    assert page.get_attribute("html", "data-theme") == "auto"
    with page.expect_navigation():
        page.select_option("#theme-select", "dark")
    assert page.get_attribute("html", "data-theme") == "dark"
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    page.goto(f"{live_server.url}/help/")
    assert page.get_attribute("html", "data-theme") == "dark"  # the cookie, without an account

    login(page, live_server.url, "alice", password, landing="/serialNumbers/")
    assert page.get_attribute("html", "data-theme") == "dark"  # the account has not chosen: this browser's choice
    page.goto(f"{live_server.url}/profile/")
    page.select_option("#id_theme-theme", "light")
    page.click("form:has(#id_theme-theme) [type=submit]")
    page.wait_for_url("**/profile/")
    assert page.get_attribute("html", "data-theme") == "light"
    assert Profile.objects.get(user=alice).theme == "light"
    with page.expect_navigation():
        page.select_option("#theme-select", "dark")
    assert Profile.objects.get(user=alice).theme == "dark"


def test_it_moves_the_focus_to_the_first_error(a11y_page, live_server, alice):
    _register_with_errors(a11y_page, live_server.url)
    # site.js moves the focus once it has run (a deferred script): expect() waits for it, polling from outside the
    # page, whose clock is frozen.
    expect(a11y_page.locator("input[name=username]")).to_be_focused()
    described = a11y_page.get_attribute("input[name=username]", "aria-describedby")
    assert a11y_page.inner_text(f"#{described.split()[0]}")  # the error text it points at

    _login_with_errors(a11y_page, live_server.url)
    expect(a11y_page.locator(":focus")).to_have_attribute("role", "alert")


def test_it_saves_dark_dashboard_screenshots(browser, frozen_now, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    gap_day = (timezone.localtime(frozen_now).date() - timedelta(days=3)).isoformat()
    target = os.environ.get("A11Y_SCREENSHOTS")
    for name, viewport in (("desktop", DESKTOP), ("390", PHONE)):
        page = new_page(browser, frozen_now, viewport=viewport, color_scheme="dark", reduced_motion="reduce")
        try:
            login(page, live_server.url, "alice", password)
            page.goto(f"{live_server.url}/day/?meter={home.code}&date={gap_day}")
            _ready(page)
            axis = page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--chart-axis')")
            assert axis.strip() == "#bac5d4"  # the dark scheme's chart colours
            if target:
                Path(target).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(target) / f"dashboard-dark-{name}.png"), full_page=True)
        finally:
            page.context.close()
