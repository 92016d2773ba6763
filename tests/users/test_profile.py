"""/profile/: account details with uniqueness checks, and the per-user prices used for costs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from users.models import profile_for

pytestmark = pytest.mark.django_db


def _account(client, **overrides):
    data = {
        "section": "account",
        "account-username": "alice",
        "account-email": "alice@example.org",
        "account-first_name": "",
        "account-last_name": "",
    }
    data.update({f"account-{k}": v for k, v in overrides.items()})
    return client.post("/profile/", data)


def _prices(client, **values):
    data = {"section": "prices"}
    for name in ("price_import_day", "price_import_night", "price_export", "price_capacity", "price_gas"):
        data[f"prices-{name}"] = values.get(name, "")
    return client.post("/profile/", data)


def test_it_shows_the_current_details(alice_client):
    html = alice_client.get("/profile/").content.decode()
    assert 'value="alice@example.org"' in html
    assert "Prices" in html


def test_it_saves_username_email_and_names(alice_client, alice):
    response = _account(
        alice_client, username="alice2", email="a2@example.org", first_name="Alice", last_name="Peeters"
    )
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    alice.refresh_from_db()
    assert (alice.username, alice.email, alice.first_name, alice.last_name) == (
        "alice2",
        "a2@example.org",
        "Alice",
        "Peeters",
    )
    assert "Your profile is updated." in alice_client.get("/profile/").content.decode()


def test_it_keeps_my_own_email_in_another_case(alice_client, alice):
    assert _account(alice_client, email="Alice@Example.org").status_code == 302


def test_it_refuses_another_users_username(alice_client, alice, bob):
    response = _account(alice_client, username="BOB")
    assert response.status_code == 200
    assert "This username is already taken" in response.content.decode()
    alice.refresh_from_db()
    assert alice.username == "alice"


def test_it_refuses_another_users_email(alice_client, alice, bob):
    response = _account(alice_client, email="bob@EXAMPLE.org")
    assert response.status_code == 200
    assert "Another account already uses this e-mail address." in response.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_it_shows_site_defaults_as_placeholders(alice_client):
    html = alice_client.get("/profile/").content.decode()
    assert f'placeholder="{settings.PRICE_IMPORT_DAY_EUR_KWH}"' in html
    assert f'placeholder="{settings.PRICE_CAPACITY_EUR_KW_YEAR}"' in html


def test_it_saves_prices_that_then_take_effect(alice_client, alice):
    response = _prices(alice_client, price_import_day="0.3412", price_capacity="47.10")
    assert response.status_code == 302
    prices = profile_for(alice).prices()
    assert prices.import_day_eur_kwh == Decimal("0.3412")
    assert prices.capacity_eur_kw_year == Decimal("47.10")
    # Fields left empty keep following the site default.
    assert prices.import_night_eur_kwh == settings.PRICE_IMPORT_NIGHT_EUR_KWH
    assert prices.gas_eur_m3 == settings.PRICE_GAS_EUR_M3


def test_it_returns_to_the_default_when_a_price_is_cleared(alice_client, alice):
    _prices(alice_client, price_export="0.05")
    _prices(alice_client)
    assert profile_for(alice).prices().export_eur_kwh == settings.PRICE_EXPORT_EUR_KWH


def test_it_refuses_negative_prices(alice_client, alice):
    response = _prices(alice_client, price_gas="-1")
    assert response.status_code == 200
    assert "greater than or equal to 0" in response.content.decode()
    assert profile_for(alice).price_gas is None


def test_it_edits_only_my_own_prices(alice_client, alice, bob):
    _prices(alice_client, price_import_day="0.50")
    assert profile_for(bob).price_import_day is None


def test_it_does_not_touch_the_account_when_saving_prices(alice_client, alice):
    _prices(alice_client, price_gas="1.25")
    alice.refresh_from_db()
    assert alice.username == "alice"
    assert alice.email == "alice@example.org"


def test_it_keeps_showing_the_saved_prices_after_a_rejected_edit(alice_client, alice):
    _prices(alice_client, price_gas="1.40")
    html = _prices(alice_client, price_gas="-3").content.decode()
    assert "€ 1.4000 /m³" in html
    assert "€ -3" not in html


def test_it_keeps_the_header_on_the_saved_username_after_a_rejected_edit(alice_client, alice, bob):
    html = _account(alice_client, username="bob").content.decode()
    assert "Signed in as <strong>alice</strong>" in html


def test_it_saves_prices_written_with_a_decimal_comma(alice_client, alice):
    response = _prices(
        alice_client,
        price_import_day="0,3412",
        price_import_night=" 0,25 ",
        price_export="0.04",
        price_capacity="47,10",
        price_gas=",95",
    )

    assert response.status_code == 302
    prices = profile_for(alice).prices()
    assert (
        prices.import_day_eur_kwh,
        prices.import_night_eur_kwh,
        prices.export_eur_kwh,
        prices.capacity_eur_kw_year,
        prices.gas_eur_m3,
    ) == (Decimal("0.3412"), Decimal("0.25"), Decimal("0.04"), Decimal("47.10"), Decimal("0.95"))


@pytest.mark.parametrize("entry", ["abc", "0,30 EUR", "1.234,5", "1e2", "0,3,4"])
def test_it_refuses_a_price_that_is_not_a_number_and_says_how_to_write_it(alice_client, alice, entry):
    response = _prices(alice_client, price_import_day=entry, price_gas="1,25")

    assert response.status_code == 200
    default = str(settings.PRICE_IMPORT_DAY_EUR_KWH)
    expected = f"Import, day tariff (EUR/kWh): enter a number such as {default.replace('.', ',')} or {default}."
    assert expected in response.content.decode()
    profile = profile_for(alice)
    assert (profile.price_import_day, profile.price_gas) == (None, None)  # nothing of the form is saved


def test_it_lets_a_phone_type_a_comma_in_every_price(alice_client):
    html = alice_client.get("/profile/").content.decode()

    # type=number would refuse "0,3412" in many browsers; a text input with the decimal keypad takes it.
    for name in ("price_import_day", "price_import_night", "price_export", "price_capacity", "price_gas"):
        assert f'<input type="text" name="prices-{name}" inputmode="decimal"' in html
    assert 'type="number"' not in html
