"""The site on a phone (390 by 844 px, touch) in headless Chromium: nothing scrolls sideways, a tap on a bar shows its
value, one number format, sane axes for all-zero series, one empty-chart text, no gas chart without gas.

PHONE_SCREENSHOTS=/tmp saves phone-month.png (the month dashboard at 390 px) there.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.conftest import login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LOGGED_OUT = ["/login/", "/register/", "/password-reset/", "/help/", "/no-such-page/"]
LOGGED_IN = ["/serialNumbers/", "/day/", "/week/", "/month/", "/profile/", "/help/", "/no-such-page/"]
CHARTS = ("import", "export", "phases", "daynight")

# Widest element edge too, so a failure says what sticks out.
OVERFLOW = """() => {
  const width = innerWidth, out = [];
  document.querySelectorAll("body *").forEach((el) => {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 0.5 && !el.closest("pre")) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} to ${Math.round(r.right)} px`);
    }
  });
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide: out.slice(0, 5) };
}"""


@pytest.fixture
def phone(browser, frozen_now):
    # is_mobile: the layout viewport widens to the content (as on a real phone) instead of clipping it, so a page
    # that is too wide shows as innerWidth > 390 as well as scrollWidth > innerWidth.
    page = new_page(browser, frozen_now, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield page
    page.context.close()


def _complete(view: str) -> str:
    """A past period of ``view`` that has readings all through (the fixture holds 35 days)."""
    return (timezone.localdate() - timedelta(days={"day": 1, "week": 7, "month": 1}[view])).isoformat()


def _ready(page) -> None:
    if page.locator("#dashboard").count():
        page.wait_for_selector("#dashboard[data-charts-ready]")
        assert page.get_attribute("#dashboard", "data-charts-ready") == "true", page.inner_text("#chart-error")


def _overflow(page, base_url: str, paths: list[str]) -> list[str]:
    problems = []
    for path in paths:
        page.goto(base_url + path)
        _ready(page)
        page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        m = page.evaluate(OVERFLOW)
        if m["scrollWidth"] > m["innerWidth"] or m["innerWidth"] != PHONE["width"]:
            problems.append(f"{path}: {m['scrollWidth']} px wide in a {m['innerWidth']} px viewport {m['wide']}")
    return problems


def test_no_page_scrolls_sideways_on_a_phone(phone, live_server, alice, password, alice_meters):
    problems = _overflow(phone, live_server.url, LOGGED_OUT)
    login(phone, live_server.url, "alice", password)
    home, _ = alice_meters
    past = [f"/{view}/?meter={home.code}&date={_complete(view)}" for view in ("day", "week", "month")]
    problems += _overflow(phone, live_server.url, LOGGED_IN + past)
    assert not problems, "\n".join(problems)


def test_chart_legends_stay_inside_their_card(phone, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(phone, live_server.url, "alice", password)
    urls = [
        f"/{view}/?meter={home.code}{date}"
        for view in ("day", "week", "month")
        for date in ("", f"&date={_complete(view)}")
    ]
    for url in urls:
        phone.goto(live_server.url + url)
        _ready(phone)
        for name in (*CHARTS, "gas"):
            card = phone.locator(f'[data-chart-card="{name}"]').bounding_box()
            legend = phone.locator(f'[data-chart="{name}"] .u-legend')
            if legend.count():
                box = legend.bounding_box()
                assert box["y"] + box["height"] <= card["y"] + card["height"], f"{name} legend leaves its card on {url}"
                assert box["x"] + box["width"] <= card["x"] + card["width"], f"{name} legend leaves its card on {url}"

    target = os.environ.get("PHONE_SCREENSHOTS")
    if target:
        phone.goto(f"{live_server.url}/month/?meter={home.code}&date={_complete('month')}")
        _ready(phone)
        Path(target).mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(Path(target) / "phone-month.png"), full_page=True, scale="css")


def _tip(page, name: str) -> str:
    tip = page.locator(f'[data-chart="{name}"] [data-chart-tip]')
    tip.wait_for(state="visible")
    return tip.inner_text()


def test_a_tap_on_a_bar_shows_its_value(phone, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(phone, live_server.url, "alice", password)
    phone.goto(f"{live_server.url}/day/?meter={home.code}&date={_complete('day')}")  # every quarter has a bar
    _ready(phone)

    box = phone.locator('[data-chart="import"] .u-over').bounding_box()
    phone.tap('[data-chart="import"] .u-over', position={"x": box["width"] * 0.6, "y": box["height"] * 0.5})
    text = _tip(phone, "import")
    assert re.search(r"\d\d:\d\d\u2013\d\d:\d\d", text), text
    assert re.search(r"Import: [\d.]+\u00a0k?W average · \d+\.\d{3}\u00a0kWh", text), text

    # Keyboard: focus a chart, the arrow keys step through the bars.
    phone.focus('[data-chart="daynight"]')
    phone.keyboard.press("ArrowRight")
    first = _tip(phone, "daynight")
    assert first.startswith("00:00\u201300:15"), first
    assert re.search(r"Day tariff: \d+\.\d{3}\u00a0kWh", first), first
    assert re.search(r"Night tariff: \d+\.\d{3}\u00a0kWh", first), first
    phone.keyboard.press("ArrowRight")
    assert _tip(phone, "daynight").startswith("00:15\u201300:30")


def test_the_running_bucket_is_drawn_apart_and_called_so_far(phone, live_server, alice, password, alice_meters):
    # The clock is frozen at Tue 1 Dec 2026 00:20: on the week view the bucket Tue 00:00-04:00 is running.
    home, _ = alice_meters
    login(phone, live_server.url, "alice", password)
    phone.goto(f"{live_server.url}/week/?meter={home.code}")
    _ready(phone)
    assert "So far" in phone.inner_text('[data-chart="import"] .u-legend')
    phone.focus('[data-chart="import"]')
    phone.keyboard.press("Home")
    for _ in range(6):  # Monday's six 4-hour buckets
        phone.keyboard.press("ArrowRight")
    assert "so far" in _tip(phone, "import")
    phone.keyboard.press("ArrowLeft")
    assert "so far" not in _tip(phone, "import")


def test_one_number_format_in_the_browser(phone, live_server):
    phone.goto(f"{live_server.url}/login/")
    phone.add_script_tag(url="/static/js/dashboard.js")
    got = phone.evaluate(
        """() => {
      const f = window.P1Format;
      return [f.power(0), f.power(944.4), f.power(999.6), f.power(2124), f.power(-350), f.power(1234567),
              f.power(null), f.kwh(14.2), f.kwh(2.2574), f.kwh(0), f.kwh(1234.5), f.kwh(-0.0001), f.m3(1.2345),
              f.eur(1.375), f.eur(-0.4), f.eur(-0.001)];
    }"""
    )
    nb, th = "\u00a0", "\u202f"
    assert got == [
        f"0{nb}W",
        f"944{nb}W",
        f"1.00{nb}kW",
        f"2.12{nb}kW",
        f"\u2212350{nb}W",
        f"1{th}234.57{nb}kW",
        "\u2013",
        f"14.200{nb}kWh",
        f"2.257{nb}kWh",
        f"0.000{nb}kWh",
        f"1{th}234.500{nb}kWh",
        f"0.000{nb}kWh",
        f"1.235{nb}m³",
        f"€{nb}1.38",
        f"\u2212€{nb}0.40",
        f"€{nb}0.00",
    ]


def test_an_all_zero_export_has_a_sane_axis(phone, live_server, alice, password, alice_meters):
    _, cabin = alice_meters  # no solar panels: export is zero all along
    login(phone, live_server.url, "alice", password)
    for view in ("day", "week", "month"):
        phone.goto(f"{live_server.url}/{view}/?meter={cabin.code}&date={_complete(view)}")
        _ready(phone)
        ticks = phone.get_attribute('[data-chart="export"]', "data-y-ticks").split("|")
        assert len(ticks) == len(set(ticks)) >= 3, ticks
        assert ticks[0] == "0\u00a0W", ticks
        assert ticks[-1] == "100\u00a0W", ticks
        for name in CHARTS:  # no chart repeats a tick label
            labels = phone.get_attribute(f'[data-chart="{name}"]', "data-y-ticks").split("|")
            assert len(labels) == len(set(labels)), (view, name, labels)


def test_every_empty_chart_says_the_same(phone, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(phone, live_server.url, "alice", password)
    long_ago = timezone.localdate() - timedelta(days=100)  # before the first reading, on every view
    texts = set()
    for view in ("day", "week", "month"):
        phone.goto(f"{live_server.url}/{view}/?meter={home.code}&date={long_ago.isoformat()}")
        _ready(phone)
        for name in CHARTS:
            empty = phone.locator(f'[data-chart="{name}"] [data-empty-chart]')
            assert empty.count() == 1, f"{name} on /{view}/ is not shown as empty"
            texts.add(empty.inner_text().strip())
        assert phone.locator('[data-chart-card="gas"]').count() == 0
    assert texts == {"No data for this period"}


def test_no_gas_chart_for_a_meter_without_gas(phone, live_server, alice, password, alice_meters):
    home, cabin = alice_meters
    login(phone, live_server.url, "alice", password)
    for view in ("day", "week", "month"):
        phone.goto(f"{live_server.url}/{view}/?meter={cabin.code}&date={_complete(view)}")
        _ready(phone)
        assert phone.locator('[data-chart-card="gas"], [data-chart="gas"]').count() == 0, f"gas chart on /{view}/"
        phone.goto(f"{live_server.url}/{view}/?meter={home.code}&date={_complete(view)}")  # the house with gas has one
        _ready(phone)
        assert phone.locator('[data-chart="gas"] canvas').count() == 1, f"no gas chart on /{view}/ of a gas meter"
