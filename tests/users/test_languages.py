"""The account pages, the theme's pages and the API's errors in Dutch, French and German (issue 15).

Every users/theme page is rendered in nl, fr and de: the ``lang`` attribute, a few key translated strings, a decimal
comma where the page shows numbers, and no English sentence of the English page left (every visible text node of four
words or more). Then the order that picks the language (profile > cookie > Accept-Language), the profile's language
choice, ``/i18n/setlang/``, the reset e-mail and API error details.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.core import mail
from rest_framework.test import APIClient

from users.models import Profile, profile_for
from users.tokens import VersionedRefreshToken

pytestmark = pytest.mark.django_db

LANGUAGES = ("nl", "fr", "de")

# Text that stays the same in every language: names and technical tokens, never a sentence to translate.
ALLOWED_ENGLISH = frozenset(
    {
        "P1 Energy",
        "Raspberry Pi OS (Bookworm, Python 3.11).",
    }
)

# (path, {language: strings that must be on the page}); the pages a visitor sees logged out.
PUBLIC_PAGES = {
    "/login/": {
        "nl": ["Aanmelden", "Wachtwoord vergeten?", "Nog geen account?", "Gebruikersnaam of e-mailadres"],
        "fr": ["Connexion", "Mot de passe oublié\u202f?", "Pas encore de compte\u202f?"],
        "de": ["Anmelden", "Passwort vergessen?", "Noch kein Konto?", "Benutzername oder E-Mail-Adresse"],
    },
    "/register/": {
        "nl": ["Account aanmaken", "je verbruik per dag, week en maand volgen", "Al geregistreerd?"],
        "fr": ["Créer un compte", "suivre votre consommation par jour", "Déjà un compte\u202f?"],
        "de": ["Konto erstellen", "Ihren Verbrauch pro Tag, Woche und Monat", "Schon registriert?"],
    },
    "/password-reset/": {
        "nl": ["Je wachtwoord opnieuw instellen", "Herstellink versturen"],
        "fr": ["Réinitialiser votre mot de passe", "Envoyer le lien de réinitialisation"],
        "de": ["Passwort zurücksetzen", "Link zum Zurücksetzen senden"],
    },
    "/help/": {
        "nl": ["Hulp", "digitale meter", "capaciteitstarief", "dagregister voor afname, 1.8.1", "maandpieken"],
        "fr": ["Aide", "compteur numérique", "tarif capacitaire", "index heures pleines du prélèvement, 1.8.1"],
        "de": ["Hilfe", "digitaler Zähler", "Kapazitätstarif", "Tagesregister für den Bezug, 1.8.1"],
    },
    "/no-such-page/": {
        "nl": ["Pagina niet gevonden", "Op dit adres staat niets"],
        "fr": ["Page non trouvée", "Il n\u2019y a rien à cette adresse"],
        "de": ["Seite nicht gefunden", "Unter dieser Adresse gibt es nichts"],
    },
}
# The pages of a logged-in account.
ACCOUNT_PAGES = {
    "/profile/": {
        "nl": ["Je profiel", "Prijzen opslaan", "Afname, dagtarief", "Mijn browser volgen", "Aangemeld als"],
        "fr": ["Votre profil", "Enregistrer les prix", "Prélèvement, heures pleines", "Suivre mon navigateur"],
        "de": ["Ihr Profil", "Preise speichern", "Bezug, Tagtarif", "Meinem Browser folgen", "Abmelden"],
    },
    "/password-change/": {
        "nl": ["Wachtwoord wijzigen", "Annuleren"],
        "fr": ["Modifier le mot de passe", "Annuler"],
        "de": ["Passwort ändern", "Abbrechen"],
    },
}
# Numbers on the page, written with the language's decimal mark (the prices in use, the capacity minimum).
DECIMALS = {
    "/help/": {"en": "2.5 kW", "nl": "2,5 kW", "fr": "2,5 kW", "de": "2,5 kW"},
    "/profile/": {"en": "€ 0.30 /kWh", "nl": "€ 0,30 /kWh", "fr": "0,30\u00a0€ /kWh", "de": "0,30\u00a0€ /kWh"},
}


_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


class _TextNodes(HTMLParser):
    """The page's text nodes (whitespace collapsed), without scripts, styles and code, which are not prose."""

    SKIPPED = frozenset({"script", "style", "pre", "code"})

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIPPED:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        # Only the HTML's own whitespace: the no-break spaces of French typography are part of the text.
        text = _HTML_SPACE.sub(" ", data).strip(" ")
        if text and not self._skipping:
            self.nodes.append(text)


def text_nodes(html: str) -> list[str]:
    parser = _TextNodes()
    parser.feed(html)
    return parser.nodes


def english_sentences(html: str) -> set[str]:
    """The English page's text nodes of four words or more: what a translation must not leave as it is."""
    return {node for node in text_nodes(html) if len(node.split()) >= 4 and node not in ALLOWED_ENGLISH}


def _get(client, path: str, language: str | None):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = client.get(path, **headers)
    assert response.status_code == (404 if path == "/no-such-page/" else 200), path
    return response


def _assert_translated(client, path: str, language: str, expected: list[str]) -> None:
    english = _get(client, path, None).content.decode()
    assert '<html lang="en"' in english
    page = _get(client, path, language)
    html = page.content.decode()
    assert f'<html lang="{language}"' in html
    assert page["Content-Language"] == language
    visible = " ".join(text_nodes(html))
    for needle in expected:
        assert needle in visible, (path, language, needle)
    # No sentence of the English page is left verbatim.
    left = sorted(sentence for sentence in english_sentences(english) if sentence in visible)
    assert not left, (path, language, left)
    if path in DECIMALS:
        assert DECIMALS[path]["en"] in english
        assert DECIMALS[path][language] in html, (path, language)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", list(PUBLIC_PAGES))
def test_it_translates_the_public_pages(client, path, language):
    _assert_translated(client, path, language, PUBLIC_PAGES[path][language])


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", list(ACCOUNT_PAGES))
def test_it_translates_the_account_pages(alice_client, path, language):
    _assert_translated(alice_client, path, language, ACCOUNT_PAGES[path][language])


def test_the_english_pages_have_sentences_to_compare(client, alice):
    """The check above means something: each English page has several sentences of four words or more."""
    for path in PUBLIC_PAGES:
        assert len(english_sentences(_get(client, path, None).content.decode())) >= 2, path
    client.force_login(alice)
    for path in ACCOUNT_PAGES:
        assert len(english_sentences(_get(client, path, None).content.decode())) >= 2, path


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "Verkeerde gebruikersnaam/e-mailadres of verkeerd wachtwoord."),
        ("fr", "Nom d\u2019utilisateur/adresse e-mail ou mot de passe incorrect."),
        ("de", "Falscher Benutzername/falsche E-Mail-Adresse oder falsches Passwort."),
    ],
)
def test_it_translates_form_errors(client, alice, language, expected):
    response = client.post("/login/", {"username": "alice", "password": "wrong"}, HTTP_ACCEPT_LANGUAGE=language)
    assert expected in response.content.decode()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "Afname, dagtarief (EUR/kWh): vul een getal in, zoals 0,30 of 0.30."),
        ("fr", "Prélèvement, heures pleines (EUR/kWh)\u00a0: saisissez un nombre, par exemple 0,30 ou 0.30."),
        ("de", "Bezug, Tagtarif (EUR/kWh): Geben Sie eine Zahl ein, etwa 0,30 oder 0.30."),
    ],
)
def test_it_translates_the_decimal_field_error(alice_client, language, expected):
    data = {"section": "prices", "prices-price_import_day": "abc"}
    html = alice_client.post("/profile/", data, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert expected in html


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("nl", "Je wachtwoord voor P1 Energy opnieuw instellen", "Kies hier een nieuw wachtwoord:"),
        ("fr", "Réinitialiser votre mot de passe P1 Energy", "Choisissez un nouveau mot de passe ici\u00a0:"),
        ("de", "Ihr Passwort für P1 Energy zurücksetzen", "Wählen Sie hier ein neues Passwort:"),
    ],
)
def test_it_sends_the_reset_e_mail_in_the_page_s_language(client, alice, language, subject, sentence):
    client.post("/password-reset/", {"email": "alice@example.org"}, HTTP_ACCEPT_LANGUAGE=language)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == subject
    assert sentence in message.body
    assert "Someone (hopefully you)" not in message.body


def test_the_lockout_page_speaks_the_visitor_s_language(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            "/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="203.0.113.7", HTTP_ACCEPT_LANGUAGE="fr"
        )
    assert response.status_code == 429
    html = response.content.decode()
    assert "Trop de tentatives échouées" in html
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Réessayez dans {minutes} minutes" in html


# --- which language: the profile, then the cookie, then Accept-Language ---------------------------------------


def _lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, response.content[:200]
    return match.group(1)


def test_it_follows_accept_language_then_the_cookie(client):
    assert _lang(client.get("/login/")) == "en"
    assert _lang(client.get("/login/", HTTP_ACCEPT_LANGUAGE="de-BE,de;q=0.9,en;q=0.5")) == "de"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert _lang(client.get("/login/", HTTP_ACCEPT_LANGUAGE="de")) == "fr"


def test_the_profile_s_language_wins_over_the_cookie_and_the_browser(alice_client, alice):
    profile = profile_for(alice)
    profile.language = "de"
    profile.save()
    alice_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    response = alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="nl")
    assert _lang(response) == "de"
    assert response["Content-Language"] == "de"
    assert "Ihr Profil" in response.content.decode()


def test_an_empty_profile_language_follows_the_cookie_and_the_browser(alice_client, alice):
    profile_for(alice)  # language "" (Follow my browser)
    assert _lang(alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="nl")) == "nl"
    alice_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert _lang(alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="nl")) == "fr"


def test_setlang_sets_the_cookie_for_a_visitor(client):
    response = client.post("/i18n/setlang/", {"language": "nl", "next": "/help/"})
    assert response.status_code == 302
    assert response["Location"] == "/help/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    assert _lang(client.get("/help/")) == "nl"


def test_setlang_saves_the_language_in_a_signed_in_user_s_profile(alice_client, alice):
    response = alice_client.post("/i18n/setlang/", {"language": "fr", "next": "/profile/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert Profile.objects.get(user=alice).language == "fr"
    # The profile decides from now on, also where the cookie or the browser say otherwise.
    alice_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    assert _lang(alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="nl")) == "fr"


def test_setlang_ignores_an_unknown_language(alice_client, alice):
    response = alice_client.post("/i18n/setlang/", {"language": "xx", "next": "/profile/"})
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert not Profile.objects.filter(user=alice).exclude(language="").exists()


# --- the profile page's language choice --------------------------------------------------------------------------


def _choose(client, language: str, **headers):
    return client.post("/profile/", {"section": "language", "language-language": language}, **headers)


def test_the_profile_offers_every_language_and_follow_my_browser(alice_client):
    html = alice_client.get("/profile/").content.decode()
    assert 'name="language-language"' in html
    assert '<option value="" selected>Follow my browser</option>' in html
    for code, name in settings.LANGUAGES:
        assert f'<option value="{code}" lang="{code}">{name}</option>' in html


def test_it_saves_the_chosen_language_and_answers_in_it(alice_client, alice):
    response = _choose(alice_client, "nl", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    assert Profile.objects.get(user=alice).language == "nl"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    page = alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert _lang(page) == "nl"
    assert "Je taal is opgeslagen." in html
    assert '<option value="nl" lang="nl" selected>Nederlands</option>' in html


def test_it_keeps_the_prices_and_the_account_when_saving_the_language(alice_client, alice):
    profile = profile_for(alice)
    profile.price_gas = Decimal("1.25")
    profile.save()
    _choose(alice_client, "de")
    profile.refresh_from_db()
    assert (profile.language, profile.price_gas) == ("de", Decimal("1.25"))
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_follow_my_browser_clears_the_choice_and_the_cookie(alice_client, alice):
    _choose(alice_client, "fr")
    response = _choose(alice_client, "", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 302
    assert Profile.objects.get(user=alice).language == ""
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == ""
    assert cookie["max-age"] == 0
    page = alice_client.get("/profile/", HTTP_ACCEPT_LANGUAGE="de")
    assert _lang(page) == "de"
    # The confirmation is in the language that now applies: the browser's.
    assert "Ihre Sprache wurde gespeichert." in page.content.decode()


def test_it_refuses_a_language_that_is_not_offered(alice_client, alice):
    response = _choose(alice_client, "xx")
    assert response.status_code == 200
    assert Profile.objects.get(user=alice).language == ""
    assert 'id="id_language-language_error"' in response.content.decode()


# --- API error details follow Accept-Language -----------------------------------------------------------------------


def _api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {VersionedRefreshToken.for_user(user).access_token}")
    return client


def test_an_api_parse_error_is_in_french_with_accept_language_fr(alice):
    response = _api(alice).post(
        "/api/v1/readings", data="{not json", content_type="application/json", HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Erreur d\u2019analyse du JSON - ")
    assert response["Content-Language"] == "fr"


def test_an_api_shape_error_is_in_dutch_and_english_by_default(alice):
    body = {"readings": "none"}
    dutch = _api(alice).post("/api/v1/readings", body, format="json", HTTP_ACCEPT_LANGUAGE="nl")
    assert dutch.status_code == 400
    assert dutch.json() == {"detail": 'Verwacht: een JSON-object {"readings": [...]}.'}
    english = _api(alice).post("/api/v1/readings", body, format="json")
    assert english.json() == {"detail": 'Expected a JSON object {"readings": [...]}.'}


def test_an_api_401_is_in_french_with_accept_language_fr(db):
    response = _api().get("/api/v1/meters/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "authentification" in detail
    assert detail != "Authentication credentials were not provided."


def test_a_revoked_token_is_explained_in_german(alice):
    client = _api(alice)
    alice.set_password("another-long-password-1")
    alice.save()
    response = client.get("/api/v1/meters/", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 401
    assert "Dieses Token wurde widerrufen" in str(response.json())


def test_the_token_endpoint_s_lockout_is_explained_in_french(client, alice, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "alice", "password": "wrong-guess"}, REMOTE_ADDR="203.0.113.7")
    response = _api().post(
        "/api/v1/token/",
        {"username": "alice", "password": password},
        format="json",
        REMOTE_ADDR="203.0.113.7",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "account_locked"
    limit = settings.AXES_FAILURE_LIMIT
    assert body["detail"].startswith(f"Ce compte est bloqué après {limit} échecs de connexion depuis votre adresse.")
    assert "minutes)\u202f; d\u2019ici là, même le bon mot de passe est refusé." in body["detail"]
