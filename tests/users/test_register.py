"""Registration at /register/: validators, case-insensitive uniqueness, logged in afterwards."""

from __future__ import annotations

import pytest

from users.models import Profile

pytestmark = pytest.mark.django_db


def _register(client, **overrides):
    data = {
        "username": "carol",
        "email": "carol@example.org",
        "password1": "sunny-rooftop-kwh-77",
        "password2": "sunny-rooftop-kwh-77",
    }
    data.update(overrides)
    return client.post("/register/", data)


def test_it_shows_the_form_with_labelled_fields(client):
    response = client.get("/register/")
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("id_username", "id_email", "id_password1", "id_password2"):
        assert f'<label for="{field}"' in html


def test_it_creates_the_account_logs_in_and_goes_to_the_meters_page(client, django_user_model):
    response = _register(client)
    assert response.status_code == 302
    assert response["Location"] == "/serialNumbers/"
    user = django_user_model.objects.get(username="carol")
    assert user.email == "carol@example.org"
    assert user.check_password("sunny-rooftop-kwh-77")
    assert Profile.objects.filter(user=user).exists()
    assert client.get("/profile/").status_code == 200


def test_it_refuses_a_username_taken_in_another_case(client, alice, django_user_model):
    response = _register(client, username="ALICE")
    assert response.status_code == 200
    assert "This username is already taken" in response.content.decode()
    assert not django_user_model.objects.filter(username="ALICE").exists()


def test_it_refuses_an_email_taken_in_another_case(client, alice, django_user_model):
    response = _register(client, email="Alice@Example.ORG")
    assert response.status_code == 200
    assert "An account with this e-mail address already exists" in response.content.decode()
    assert not django_user_model.objects.filter(username="carol").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "This password is too short"),
        ("password123", "This password is too common"),
        ("83920174659301", "This password is entirely numeric"),
        ("carol123!", "The password is too similar to the username"),
    ],
)
def test_it_refuses_a_weak_password_with_the_validator_message(client, django_user_model, password, message):
    response = _register(client, password1=password, password2=password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not django_user_model.objects.filter(username="carol").exists()


def test_it_refuses_mismatched_passwords(client, django_user_model):
    response = _register(client, password2="something-else-entirely-9")
    assert "The two password fields didn" in response.content.decode()
    assert not django_user_model.objects.exists()


def test_it_requires_an_email(client, django_user_model):
    response = _register(client, email="")
    assert response.status_code == 200
    assert not django_user_model.objects.exists()


def test_it_links_the_error_to_the_input_for_screen_readers(client, alice):
    html = _register(client, username="alice").content.decode()
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_username_error' in html
    assert 'id="id_username_error"' in html


def test_it_sends_a_logged_in_user_to_the_dashboard(alice_client):
    response = alice_client.get("/register/")
    assert response.status_code == 302
    assert response["Location"] == "/day/"
