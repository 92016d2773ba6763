"""The dashboard in the header's languages, in headless Chromium: the switcher reloads the page in Dutch, French and
German, and the charts' legends, tooltips and axes follow (theme/static/js/dashboard.js, Django's JavaScriptCatalog)
with the same number and date rules as the cards (meters/presenters.py; docs/glossary.md "Numbers, dates and money").

LANGUAGE_SCREENSHOTS=/tmp saves week-<language>.png (last week's dashboard with a tooltip open) there.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation

from meters import presenters
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NB, TH, MINUS = "\u00a0", "\u202f", "\u2212"

# The texts one language shows: legend words, the import tooltip, the day/night tooltip row, the euro rule.
LANGUAGES = {
    "en": {
        "legend": ("Import", "Average ", "Maximum "),
        "daynight": ("Day tariff", "Night tariff"),
        "import_tip": rf"Import: [\d{TH}.]+{NB}k?W average · \d+\.\d{{3}}{NB}kWh",
        "day_row": rf"Day tariff: \d+\.\d{{3}}{NB}kWh",
        "tick": rf"[\d{TH}]+\.\d{{3}}{NB}kWh",
        "eur": [f"€{NB}1.38", f"{MINUS}€{NB}0.40", f"€{NB}1{TH}234.50"],
        "card_eur": rf"€{NB}\d+\.\d\d",
        "week_title": r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d\d:\d\d\u2013\d\d:\d\d",
    },
    "nl": {
        "legend": ("Afname", "Gemiddeld ", "Maximum "),
        "daynight": ("Dagtarief", "Nachttarief"),
        "import_tip": rf"Afname: gemiddeld [\d{TH},]+{NB}k?W · \d+,\d{{3}}{NB}kWh",
        "day_row": rf"Dagtarief: \d+,\d{{3}}{NB}kWh",
        "tick": rf"[\d{TH}]+,\d{{3}}{NB}kWh",
        "eur": [f"€{NB}1,38", f"{MINUS}€{NB}0,40", f"€{NB}1{TH}234,50"],
        "card_eur": rf"€{NB}\d+,\d\d",
        "week_title": r"(ma|di|wo|do|vr|za|zo) \d{1,2} [a-z]{3}, \d\d:\d\d\u2013\d\d:\d\d",
    },
    "fr": {
        "legend": ("Prélèvement", "Moyenne ", "Maximum "),
        "daynight": ("Heures pleines", "Heures creuses"),
        "import_tip": rf"Prélèvement{NB}: [\d{TH},]+{NB}k?W en moyenne · \d+,\d{{3}}{NB}kWh",
        "day_row": rf"Heures pleines{NB}: \d+,\d{{3}}{NB}kWh",
        "tick": rf"[\d{TH}]+,\d{{3}}{NB}kWh",
        "eur": [f"1,38{NB}€", f"{MINUS}0,40{NB}€", f"1{TH}234,50{NB}€"],
        "card_eur": rf"\d+,\d\d{NB}€",
        "week_title": r"(lun|mar|mer|jeu|ven|sam|dim)\. \d{1,2} \S+, \d\d:\d\d\u2013\d\d:\d\d",
    },
    "de": {
        "legend": ("Bezug", "Durchschnitt ", "Maximum "),
        "daynight": ("Tagtarif", "Nachttarif"),
        "import_tip": rf"Bezug: durchschnittlich [\d{TH},]+{NB}k?W · \d+,\d{{3}}{NB}kWh",
        "day_row": rf"Tagtarif: \d+,\d{{3}}{NB}kWh",
        "tick": rf"[\d{TH}]+,\d{{3}}{NB}kWh",
        "eur": [f"1,38{NB}€", f"{MINUS}0,40{NB}€", f"1{TH}234,50{NB}€"],
        "card_eur": rf"\d+,\d\d{NB}€",
        "week_title": r"(Mo|Di|Mi|Do|Fr|Sa|So)\., \d{1,2}\. \S+, \d\d:\d\d\u2013\d\d:\d\d",
    },
}

FORMATS = "() => [P1Format.lang, P1Format.eur(1.375), P1Format.eur(-0.4), P1Format.eur(1234.5)]"


def _ready(page) -> None:
    page.wait_for_selector("#dashboard[data-charts-ready]")
    assert page.get_attribute("#dashboard", "data-charts-ready") == "true", page.inner_text("#chart-error")


def _tip(page, name: str) -> str:
    tip = page.locator(f'[data-chart="{name}"] [data-chart-tip]')
    tip.wait_for(state="visible")
    return tip.inner_text()


def _switch(page, language: str) -> None:
    with page.expect_navigation():
        page.select_option("#language-select", language)
    _ready(page)
    assert page.get_attribute("html", "lang") == language


def _check_day(page, language: str, day) -> None:
    want = LANGUAGES[language]
    with translation.override(language):
        assert page.inner_text("#period-label") == presenters.period_label("day", day, day + timedelta(days=1))

    legend = page.inner_text('[data-chart="import"] .u-legend')
    for word in want["legend"]:
        assert word in legend, (language, legend)
    daynight = page.inner_text('[data-chart="daynight"] .u-legend')
    for word in want["daynight"]:
        assert word in daynight, (language, daynight)

    box = page.locator('[data-chart="import"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5)
    tip = _tip(page, "import")
    assert re.search(r"\d\d:\d\d\u2013\d\d:\d\d", tip), tip
    assert re.search(want["import_tip"], tip), (language, tip)

    page.focus('[data-chart="daynight"]')
    page.keyboard.press("ArrowRight")
    first = _tip(page, "daynight")
    assert first.startswith("00:00\u201300:15"), first
    assert re.search(want["day_row"], first), (language, first)

    ticks = page.get_attribute('[data-chart="daynight"]', "data-y-ticks").split("|")
    assert all(re.fullmatch(want["tick"], t) for t in ticks), (language, ticks)
    assert page.evaluate(FORMATS) == [language, *want["eur"]]
    assert re.search(want["card_eur"], page.inner_text('[data-card="cost"]')), page.inner_text('[data-card="cost"]')


def test_switching_language_changes_chart_texts_and_numbers(page, live_server, alice, password, alice_meters):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    yesterday = timezone.localdate() - timedelta(days=1)  # a complete day: every quarter-hour has a bar
    page.goto(f"{live_server.url}/day/?meter={home.code}&date={yesterday.isoformat()}")
    _ready(page)
    assert page.get_attribute("html", "lang") == "en"
    _check_day(page, "en", yesterday)

    _switch(page, "nl")
    assert f"date={yesterday.isoformat()}" in page.url  # the switcher comes back to the same period
    _check_day(page, "nl", yesterday)

    _switch(page, "fr")
    _check_day(page, "fr", yesterday)

    _switch(page, "de")
    _check_day(page, "de", yesterday)


@pytest.mark.parametrize("language", ["en", "nl", "fr", "de"])
def test_week_tooltips_name_the_day_in_the_language(page, live_server, alice, password, alice_meters, language):
    home, _ = alice_meters
    login(page, live_server.url, "alice", password)
    last_week = timezone.localdate() - timedelta(days=7)
    page.goto(f"{live_server.url}/week/?meter={home.code}&date={last_week.isoformat()}")
    _ready(page)
    if language != "en":
        _switch(page, language)
    page.focus('[data-chart="import"]')
    page.keyboard.press("ArrowRight")
    title = _tip(page, "import").splitlines()[0]
    assert re.fullmatch(LANGUAGES[language]["week_title"], title), (language, title)
    with translation.override(language):
        first = timezone.localdate() - timedelta(days=7)
        first -= timedelta(days=first.weekday())
        assert page.inner_text("#period-label") == presenters.period_label("week", first, first + timedelta(days=7))

    target = os.environ.get("LANGUAGE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"week-{language}.png"), full_page=True)
