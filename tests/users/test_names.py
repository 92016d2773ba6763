"""Names people pick (issue 12): an e-mail as username must be one's own, NFKC and one script per username,
no bidirectional controls in meter names."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user

from meters.claims import rename_meter
from meters.models import Meter

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "sunny-rooftop-kwh-77"


def _register(client, username: str, email: str):
    data = {"username": username, "email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    return client.post("/register/", data)


def _rename_account(client, username: str, email: str):
    data = {"section": "account", "account-username": username, "account-email": email}
    return client.post("/profile/", data)


# --- an e-mail address as username -------------------------------------------------------------------------


def test_it_refuses_someone_else_s_email_as_username(client, alice, password, django_user_model):
    response = _register(client, "alice@example.org", "mallory@example.org")
    assert response.status_code == 200
    assert "A username that is an e-mail address must be your own e-mail" in response.content.decode()
    assert not django_user_model.objects.filter(email="mallory@example.org").exists()
    # Alice still logs in with her e-mail.
    client.post("/login/", {"username": "alice@example.org", "password": password})
    assert get_user(client).username == "alice"


def test_it_refuses_an_email_username_that_is_not_the_account_s_email(client, django_user_model):
    response = _register(client, "dave@example.org", "carol@example.org")
    assert response.status_code == 200
    assert "must be your own e-mail" in response.content.decode()
    assert not django_user_model.objects.exists()


def test_it_accepts_one_s_own_email_as_username(client, django_user_model):
    response = _register(client, "Carol@Example.org", "carol@example.org")
    assert response.status_code == 302
    assert django_user_model.objects.get(email="carol@example.org").username == "Carol@Example.org"


def test_it_refuses_another_account_s_email_on_the_profile(alice_client, bob):
    response = _rename_account(alice_client, "bob@example.org", "alice@example.org")
    assert response.status_code == 200
    assert "must be your own e-mail" in response.content.decode()


def test_it_refuses_to_move_the_email_away_from_an_email_username(client, django_user_model, password):
    carol = django_user_model.objects.create_user("carol@example.org", "carol@example.org", password)
    client.force_login(carol)
    response = _rename_account(client, "carol@example.org", "carol@elsewhere.example")
    assert response.status_code == 200
    assert "must be your own e-mail" in response.content.decode()
    carol.refresh_from_db()
    assert carol.email == "carol@example.org"


# --- Unicode look-alikes -----------------------------------------------------------------------------------


# Full-width forms of ASCII letters and digits (U+FF01-FF5E); NFKC maps them to ASCII.


def test_it_normalises_a_full_width_username_on_registration(client, django_user_model):
    assert _register(client, "\uff43\uff41\uff52\uff4f\uff4c", "carol@example.org").status_code == 302
    assert django_user_model.objects.get(email="carol@example.org").username == "carol"


def test_it_normalises_a_username_on_the_profile_before_the_uniqueness_check(alice_client, bob, alice):
    # Full-width capitals: NFKC makes "BOB", which is bob's name in another case.
    response = _rename_account(alice_client, "\uff22\uff2f\uff22", "alice@example.org")
    assert response.status_code == 200
    assert "This username is already taken" in response.content.decode()
    alice.refresh_from_db()
    assert alice.username == "alice"


def test_it_stores_a_normalised_username_from_the_profile(alice_client, alice):
    assert _rename_account(alice_client, "\uff41\uff4c\uff49\uff43\uff45\uff12", "alice@example.org").status_code == 302
    alice.refresh_from_db()
    assert alice.username == "alice2"


@pytest.mark.parametrize(
    "username",
    [
        "\u0430lice",  # Cyrillic a, then Latin
        "b\u043eb",  # Latin b, Cyrillic o, Latin b
        "\u03bfscar",  # Greek omicron, then Latin
        "pay\u0440al",  # Cyrillic er (looks like p)
    ],
)
def test_it_refuses_a_username_mixing_scripts(client, django_user_model, username):
    response = _register(client, username, "carol@example.org")
    assert response.status_code == 200
    assert "letters of one script" in response.content.decode()
    assert not django_user_model.objects.exists()


@pytest.mark.parametrize("username", ["Аня", "Ελένη", "山田たろう", "김민준", "jan.peeters-2", "Zoë_ß"])
def test_it_accepts_a_username_in_one_script(client, django_user_model, username):
    assert _register(client, username, "carol@example.org").status_code == 302


def test_it_refuses_a_mixed_script_username_on_the_profile(alice_client, alice):
    response = _rename_account(alice_client, "\u0430lice", "alice@example.org")
    assert response.status_code == 200
    assert "letters of one script" in response.content.decode()


def test_it_counts_a_full_width_login_against_the_same_account(client, alice, password):
    client.post("/login/", {"username": "\uff41\uff4c\uff49\uff43\uff45", "password": password})
    assert get_user(client).username == "alice"


# --- meter names -------------------------------------------------------------------------------------------

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_it_strips_bidirectional_controls_from_a_meter_name(alice):
    meter = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    rename_meter(meter, f"  Garage\u202e3pm.exe{BIDI} ")
    meter.refresh_from_db()
    assert meter.name == "Garage3pm.exe"


def test_it_strips_bidirectional_controls_on_the_rename_page(alice_client, alice):
    meter = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    alice_client.post(f"/serialNumbers/updateMeterName/{meter.code}", {"name": "\u2067Zolder\u2069"})
    meter.refresh_from_db()
    assert meter.name == "Zolder"


def test_it_keeps_other_characters_of_a_meter_name(alice):
    meter = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    rename_meter(meter, "Caf\u00e9 \u2013 zolder 2 \U0001f31e \u0628\u064a\u062a")
    meter.refresh_from_db()
    assert meter.name == "Caf\u00e9 \u2013 zolder 2 \U0001f31e \u0628\u064a\u062a"
