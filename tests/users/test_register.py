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
    assert response["Location"] == "/"


# --- throttle per client network (issue 12: 470 scripted accounts took over a meter) ---------------------------


def _register_from(address: str, n: int, **extra):
    from django.test import Client

    return _register(Client(REMOTE_ADDR=address, **extra), username=f"carol{n}", email=f"carol{n}@example.org")


@pytest.fixture
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.usefixtures("_fast_password_hashing")
def test_it_throttles_registration_per_address_and_says_when_to_try_again(django_user_model, time_machine):
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for n in range(5):
        time_machine.move_to(start + timedelta(minutes=n), tick=False)
        assert _register_from("198.51.100.7", n).status_code == 302

    time_machine.move_to(start + timedelta(minutes=30), tick=False)
    refused = _register_from("198.51.100.7", 5)

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many accounts were created from your network" in page
    assert "Try again after 20 Nov 2026 14:00" in page  # the first of the five (13:00 Brussels time) plus an hour
    assert not django_user_model.objects.filter(username="carol5").exists()

    # Another network is not affected, and an hour after the first account one more may be created.
    assert _register_from("203.0.113.9", 6).status_code == 302
    time_machine.move_to(start + timedelta(hours=1, seconds=1), tick=False)
    assert _register_from("198.51.100.7", 7).status_code == 302


@pytest.mark.usefixtures("_fast_password_hashing")
def test_it_takes_the_limit_from_the_settings(settings, django_user_model):
    settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR = 2
    assert [_register_from("198.51.100.7", n).status_code for n in range(3)] == [302, 302, 429]


@pytest.mark.usefixtures("_fast_password_hashing")
def test_it_counts_an_ipv6_client_by_its_64_network(settings, django_user_model):
    settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR = 2
    statuses = [_register_from(f"2001:db8:7:8::{n + 1}", n).status_code for n in range(3)]
    assert statuses == [302, 302, 429]


@pytest.mark.usefixtures("_fast_password_hashing")
def test_it_counts_only_accounts_created_not_forms_with_errors(settings, django_user_model):
    from django.test import Client

    settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR = 1
    for _ in range(3):
        assert _register(Client(REMOTE_ADDR="198.51.100.7"), password2="something-else-9").status_code == 200

    assert _register_from("198.51.100.7", 1).status_code == 302


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_fast_password_hashing")
def test_it_creates_no_more_accounts_than_the_limit_when_registrations_arrive_at_once(django_user_model):
    import threading

    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "in-memory SQLite shares one cache between threads and raises 'table is locked' instead of waiting, "
            "so parallel requests cannot run on it; this race runs on PostgreSQL (make test-postgres)"
        )
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def register(n: int) -> None:
        try:
            barrier.wait()
            statuses.append(_register_from("198.51.100.7", n).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    created = django_user_model.objects.count()
    assert created <= 5
    assert sorted(statuses) == [302] * created + [429] * (12 - created)
