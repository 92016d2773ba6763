"""The meters pages in Dutch, French and German: the lang attribute, the glossary's terms, a decimal comma, and no
English sentence of the English page left in the translated one.

Each page is rendered in English first (no Accept-Language) and then with ``Accept-Language: nl|fr|de``; every text
node of four words or more in the English page's ``<main>`` must be gone from the translated ``<main>``. The header
and footer belong to the theme's catalogue and are checked there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
import time_machine

from meters import devices
from meters.models import Device, Meter, PendingMeter
from tests.meters.series_truth import SLOT, build, epoch, local

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 12, 14, 7, tzinfo=UTC)  # 16:07 in Brussels
LANGUAGES = ("nl", "fr", "de")
# Text nodes that read the same in every language: commands and addresses (technical tokens).
SAME_IN_EVERY_LANGUAGE = {"p1edge pair --server http://testserver"}


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def home(alice) -> Meter:
    """Alice's meter with readings from 1 May to now, a three-hour gap on 11 June (partial and estimated bars)."""
    meter = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    gap = set(range(epoch(local(2024, 6, 11, 10)), epoch(local(2024, 6, 11, 13)), SLOT))
    build(meter, local(2024, 5, 1), local(2024, 6, 12, 16), skip=gap)
    return meter


@pytest.fixture
def pending(alice) -> PendingMeter:
    return PendingMeter.objects.create(user=alice, serial="1SAG2200000022", name="Garage")


@pytest.fixture
def paired(alice, home) -> list[Device]:
    """One active device seen from an address, one without a name or address, one revoked."""
    seen = Device.objects.create(
        owner=alice,
        name="pi-kelder",
        token_hash="a" * 64,
        created_at=NOW - timedelta(days=30),
        last_seen_at=NOW - timedelta(minutes=3),
        last_address="192.0.2.10",
    )
    seen.meters.add(home)
    unnamed = Device.objects.create(
        owner=alice, token_hash="b" * 64, created_at=NOW - timedelta(days=2), last_seen_at=NOW - timedelta(hours=1)
    )
    revoked = Device.objects.create(
        owner=alice, name="old-pi", token_hash="c" * 64, created_at=NOW - timedelta(days=90), revoked_at=NOW
    )
    return [seen, unnamed, revoked]


class _Text(HTMLParser):
    """The text nodes inside ``<main>``, without scripts and styles, each with its blanks collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._main = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "main":
            self._main += 1
        elif tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self._main -= 1
        elif tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if self._main and not self._hidden and text:
            self.nodes.append(text)


def _main_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.nodes


def _render(client, url: str, language: str | None) -> str:
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = client.get(url, **headers)
    assert response.status_code == 200, (url, language, response.status_code)
    return response.content.decode()


def _check(client, url: str, language: str, expected: list[str]) -> str:
    """Render ``url`` in English and in ``language``; assert the lang attribute, the ``expected`` strings and that no
    English sentence is left. Returns the translated page."""
    english = _render(client, url, None)
    assert '<html lang="en"' in english
    page = _render(client, url, language)
    assert f'<html lang="{language}"' in page
    for text in expected:
        assert text in unescape(page), (url, language, text)
    translated = " ".join(_main_text(page))
    sentences = [node for node in _main_text(english) if len(node.split()) >= 4]
    assert sentences, url  # the English page has sentences to compare
    left = [node for node in sentences if node in translated and node not in SAME_IN_EVERY_LANGUAGE]
    assert not left, (url, language, left)
    return page


# The key strings per page and language (docs/glossary.md's terms where the page uses them).
METER_LIST = {
    "nl": ["Je meters", "Serienummer", "Laatste meting", "Wacht op gegevens", "digitale meter"],
    "fr": ["Vos compteurs", "Numéro de série", "Dernier relevé", "En attente de données"],
    "de": ["Ihre Zähler", "Seriennummer", "Letzter Messwert", "Warten auf Daten"],
}
RELEASE = {
    "nl": ["Home uit je account verwijderen?", "dagregister 1.8.1", "Annuleren, meter behouden"],
    "fr": ["Retirer Home de votre compte ?", "index heures pleines 1.8.1", "Annuler, garder le compteur"],
    "de": ["Home aus Ihrem Konto entfernen?", "Tagesregister 1.8.1", "Abbrechen, Zähler behalten"],
}
DEVICE_FORM = {
    "nl": ["Een toestel koppelen", "Code die het toestel toont", "Doorgaan"],
    "fr": ["Connecter un appareil", "Code affiché par l'appareil", "Continuer"],
    "de": ["Gerät koppeln", "Vom Gerät angezeigter Code", "Weiter"],
}
DEVICE_PAIRING = {
    "nl": ["Dit toestel goedkeuren", "Weigeren", "Aangevraagd vanaf adres", "12/06/2024 16:07"],
    "fr": ["Approuver cet appareil", "Refuser", "Demandé depuis l'adresse", "12/06/2024 16:07"],
    "de": ["Dieses Gerät genehmigen", "Ablehnen", "Angefragt von Adresse", "12.06.2024 16:07"],
}
DEVICE_LIST = {
    "nl": ["Je toestellen", "Gekoppelde toestellen", "Actief", "Ingetrokken op 12/06/2024 16:07", "een onbekend adres"],
    "fr": ["Vos appareils", "Appareils connectés", "Actif", "Révoqué le 12/06/2024 16:07", "une adresse inconnue"],
    "de": ["Ihre Geräte", "Gekoppelte Geräte", "Aktiv", "Widerrufen am 12.06.2024 16:07", "einer unbekannten Adresse"],
}
# The dashboards: the glossary's import/export, day/night tariff and capacity terms.
DASHBOARD = {
    "nl": ["Afname", "Injectie", "Dagtarief", "Nachttarief", "gemiddeld vermogen per"],
    "fr": ["Prélèvement", "Injection", "Heures pleines", "Heures creuses", "puissance moyenne par"],
    "de": ["Bezug", "Einspeisung", "Tagtarif", "Nachttarif", "durchschnittliche Leistung pro"],
}
DAY = {
    "nl": ["Onvolledige gegevens:", "balken geschat", "hoogste kwartier", "per kwartier"],
    "fr": ["Données incomplètes :", "barres estimées", "quart d'heure le plus élevé", "par quart d'heure"],
    "de": ["Unvollständige Daten:", "Balken aus den Messwerten", "höchste Viertelstunde", "pro Viertelstunde"],
}
WEEK = {
    "nl": ["Deze week", "per 4 uur", "tot nu toe"],
    "fr": ["Cette semaine", "par 4 heures", "jusqu'à présent"],
    "de": ["Diese Woche", "pro 4 Stunden", "bisher"],
}
MONTH = {
    "nl": ["Capaciteitstarief · maandpiek", "gemiddelde maandpiek", "Vergoeding voor injectie"],
    "fr": ["Tarif capacitaire · pointe mensuelle", "moyenne des pointes mensuelles", "Rémunération de l'injection"],
    "de": ["Kapazitätstarif · Monatsspitze", "Durchschnitt der Monatsspitzen", "Vergütung der Einspeisung"],
}
# A number with three decimals and a decimal comma, then the unit after a no-break space ("12,345 kWh").
DECIMAL_COMMA_KWH = re.compile(r"\d,\d{3}\u00a0kWh")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_meters_page_is_translated(alice_client, home, pending, language):
    page = _check(alice_client, "/serialNumbers/", language, METER_LIST[language])
    assert 'data-pending="' in page  # the pending serial is listed
    assert "1SAG2200000022" in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_release_confirmation_is_translated(alice_client, home, language):
    _check(alice_client, f"/serialNumbers/Delete/{home.code}", language, RELEASE[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_device_page_is_translated_without_and_with_a_code(alice_client, language):
    _check(alice_client, "/device/", language, DEVICE_FORM[language])

    code = devices.start_pairing("pi-kelder", "192.0.2.10")
    english = alice_client.post("/device/", {"user_code": code.user_code}).content.decode()
    page = alice_client.post("/device/", {"user_code": code.user_code}, HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'<html lang="{language}"' in html
    assert "pi-kelder" in html
    for text in DEVICE_PAIRING[language]:
        assert text in unescape(html), text
    translated = " ".join(_main_text(html))
    left = [n for n in _main_text(english) if len(n.split()) >= 4 and n in translated]
    assert not left, left


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_devices_page_is_translated(alice_client, paired, language):
    page = _check(alice_client, "/devices/", language, DEVICE_LIST[language])
    unnamed = paired[1]
    assert {"nl": "Toestel", "fr": "Appareil", "de": "Gerät"}[language] + f" {unnamed.pk}" in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_day_page_is_translated_with_a_decimal_comma(alice_client, home, language):
    page = _check(
        alice_client, f"/day/?meter={home.code}&date=2024-06-11", language, DASHBOARD[language] + DAY[language]
    )
    assert DECIMAL_COMMA_KWH.search(page)
    assert not re.search(r"\d\.\d{3}\u00a0kWh", page)  # no decimal point left in the cards


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_week_page_is_translated_with_a_decimal_comma(alice_client, home, language):
    page = _check(alice_client, f"/week/?meter={home.code}", language, DASHBOARD[language] + WEEK[language])
    assert DECIMAL_COMMA_KWH.search(page)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_month_page_is_translated_with_a_decimal_comma(alice_client, home, language):
    page = _check(
        alice_client, f"/month/?meter={home.code}&date=2024-06-03", language, DASHBOARD[language] + MONTH[language]
    )
    assert DECIMAL_COMMA_KWH.search(page)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_empty_period_says_so_in_the_language(alice_client, home, language):
    expected = {"nl": "Geen metingen", "fr": "Aucun relevé", "de": "Keine Messwerte"}[language]
    _check(alice_client, f"/week/?meter={home.code}&date=2024-01-10", language, [expected])


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_meters_messages_follow_the_language(alice_client, home, language):
    """A refused claim and a flash message come from the meters catalogue too."""
    response = alice_client.post("/serialNumbers/", {"serialNumber": "abc", "name": ""}, HTTP_ACCEPT_LANGUAGE=language)
    expected = {
        "nl": "Dit is geen serienummer van een meter.",
        "fr": "Ce n'est pas un numéro de série de compteur.",
        "de": "Das ist keine Seriennummer eines Zählers.",
    }[language]
    assert expected in unescape(response.content.decode())

    response = alice_client.post(
        f"/serialNumbers/updateMeterName/{home.code}", {"name": "Thuis"}, HTTP_ACCEPT_LANGUAGE=language, follow=True
    )
    renamed = {
        "nl": "Meter hernoemd naar Thuis.",
        "fr": "Compteur renommé en Thuis.",
        "de": "Zähler umbenannt in Thuis.",
    }
    assert renamed[language] in response.content.decode()
