"""The dashboards' numbers and dates in each language (docs/glossary.md "Numbers, dates and money"): meters.presenters
with the formats of energy_app/formats/<language>/formats.py, and the JavaScript catalogue the charts read."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import translation

from meters import presenters
from meters.series import window_days

NB, TH, MINUS = "\u00a0", "\u202f", "\u2212"
TUESDAY = date(2024, 6, 11)
# 08:15 in Brussels (summer time) on Tuesday 3 December 2024 is 07:15 UTC (winter time).
PEAK = datetime(2024, 12, 3, 7, 15, tzinfo=UTC)


def _labels(day: date) -> list[str]:
    return [presenters.period_label(view, *window_days(view, day)) for view in ("day", "week", "month")]


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("en", ["Tuesday 11 June 2024", "Week 24: 10 Jun \u2013 16 Jun 2024", "June 2024"]),
        ("nl", ["dinsdag 11 juni 2024", "Week 24: 10 jun \u2013 16 jun 2024", "juni 2024"]),
        ("fr", ["mardi 11 juin 2024", f"Semaine 24{NB}: 10 juin \u2013 16 juin 2024", "juin 2024"]),
        ("de", ["Dienstag, 11. Juni 2024", "Woche 24: 10. Juni \u2013 16. Juni 2024", "Juni 2024"]),
    ],
)
def test_period_labels_use_the_languages_day_and_month_names(language, labels):
    with translation.override(language):
        assert _labels(TUESDAY) == labels


def test_a_week_across_two_months_and_years_names_both():
    with translation.override("en"):
        assert _labels(date(2024, 12, 31))[1] == "Week 1: 30 Dec \u2013 5 Jan 2025"
    with translation.override("nl"):
        assert _labels(date(2024, 12, 31))[1] == "Week 1: 30 dec \u2013 5 jan 2025"
    with translation.override("fr"):
        assert _labels(date(2024, 12, 31))[1] == f"Semaine 1{NB}: 30 déc. \u2013 5 jan. 2025"
    with translation.override("de"):
        assert _labels(date(2024, 12, 31))[1] == "Woche 1: 30. Dez. \u2013 5. Jan. 2025"


@pytest.mark.parametrize(
    ("language", "times"),
    [
        ("en", ["08:15", "Tue 3 Dec 08:15", "Tue 3 Dec", "Tue 3 Dec 08:15"]),
        ("nl", ["08:15", "di 3 dec 08:15", "di 3 dec", "di 3 dec 08:15"]),
        ("fr", ["08:15", "mar. 3 déc. 08:15", "mar. 3 déc.", "mar. 3 déc. 08:15"]),
        ("de", ["08:15", "Di., 3. Dez. 08:15", "Di., 3. Dez.", "Di., 3. Dez. 08:15"]),
    ],
)
def test_bucket_times_are_local_and_in_the_language(language, times):
    with translation.override(language):
        assert [presenters._local(PEAK, "Europe/Brussels", view) for view in ("day", "week", "month", "peak")] == times
        assert presenters._local(None, "Europe/Brussels") == ""


NUMBERS = {
    # fmt(12345.678, 3, "kWh"), fmt(-0.5, 0), power(944.4), power(999.6), power(-2124), kw(1.234)
    "en": [f"12{TH}345.678{NB}kWh", f"{MINUS}1", f"944{NB}W", f"1.00{NB}kW", f"{MINUS}2.12{NB}kW", f"1.23{NB}kW"],
    "nl": [f"12{TH}345,678{NB}kWh", f"{MINUS}1", f"944{NB}W", f"1,00{NB}kW", f"{MINUS}2,12{NB}kW", f"1,23{NB}kW"],
    "fr": [f"12{TH}345,678{NB}kWh", f"{MINUS}1", f"944{NB}W", f"1,00{NB}kW", f"{MINUS}2,12{NB}kW", f"1,23{NB}kW"],
    "de": [f"12{TH}345,678{NB}kWh", f"{MINUS}1", f"944{NB}W", f"1,00{NB}kW", f"{MINUS}2,12{NB}kW", f"1,23{NB}kW"],
}
ENERGY = {  # _kwh(1234567), _m3(1234), _kwh(-0.1)
    "en": [f"1{TH}234.567{NB}kWh", f"1.234{NB}m³", f"0.000{NB}kWh"],
    "nl": [f"1{TH}234,567{NB}kWh", f"1,234{NB}m³", f"0,000{NB}kWh"],
    "fr": [f"1{TH}234,567{NB}kWh", f"1,234{NB}m³", f"0,000{NB}kWh"],
    "de": [f"1{TH}234,567{NB}kWh", f"1,234{NB}m³", f"0,000{NB}kWh"],
}


@pytest.mark.parametrize("language", ["en", "nl", "fr", "de"])
def test_numbers_have_the_languages_decimal_mark_and_narrow_space_groups(language):
    with translation.override(language):
        got = [
            presenters.fmt(12345.678, 3, "kWh"),
            presenters.fmt(-0.5, 0),  # half away from zero, as Intl.NumberFormat in dashboard.js
            presenters.power(944.4),
            presenters.power(999.6),
            presenters.power(-2124),
            presenters.kw(Decimal("1.234")),
        ]
        assert got == NUMBERS[language]
        assert [presenters._kwh(1234567), presenters._m3(1234), presenters._kwh(-0.1)] == ENERGY[language]
        assert [presenters.fmt(None), presenters.power(None), presenters.kw(None), presenters._kwh(None)] == [
            "\u2013"
        ] * 4


MONEY = {
    # 1.375, -0.40, -1234.5, 0, -0.001 (rounds to zero: no minus)
    "en": [f"€{NB}1.38", f"{MINUS}€{NB}0.40", f"{MINUS}€{NB}1{TH}234.50", f"€{NB}0.00", f"€{NB}0.00"],
    "nl": [f"€{NB}1,38", f"{MINUS}€{NB}0,40", f"{MINUS}€{NB}1{TH}234,50", f"€{NB}0,00", f"€{NB}0,00"],
    "fr": [f"1,38{NB}€", f"{MINUS}0,40{NB}€", f"{MINUS}1{TH}234,50{NB}€", f"0,00{NB}€", f"0,00{NB}€"],
    "de": [f"1,38{NB}€", f"{MINUS}0,40{NB}€", f"{MINUS}1{TH}234,50{NB}€", f"0,00{NB}€", f"0,00{NB}€"],
}


@pytest.mark.parametrize("language", ["en", "nl", "fr", "de"])
def test_money_puts_the_euro_sign_where_the_language_writes_it(language):
    with translation.override(language):
        amounts = ["1.375", "-0.40", "-1234.5", "0", "-0.001"]
        assert [presenters.money(Decimal(a)) for a in amounts] == MONEY[language]
        assert presenters.money(None) == "\u2013"


def test_without_an_active_language_the_formats_are_english():
    with translation.override(None):
        assert presenters.money(Decimal("1.375")) == f"€{NB}1.38"
        assert presenters.fmt(1234.5, 1) == f"1{TH}234.5"
        assert _labels(TUESDAY)[0] == "Tuesday 11 June 2024"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("nl", ["Afname", "Dagtarief", "tot nu toe"]),
        ("fr", ["Pr\\u00e9l\\u00e8vement", "Heures pleines"]),
        ("de", ["Bezug", "Tagtarif", "bisher"]),
    ],
)
def test_the_javascript_catalogue_serves_the_chart_texts_in_the_language(client, language, words):
    response = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    for word in words:
        assert f'"{word}"' in body, word
