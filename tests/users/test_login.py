"""Login by username or e-mail, redirects and `next`, logout by POST only."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _logged_in_as(client) -> str | None:
    from django.contrib.auth import get_user

    user = get_user(client)
    return user.username if user.is_authenticated else None


def test_it_shows_the_login_form(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Username or e-mail" in html
    assert 'href="/password-reset/"' in html


def test_it_logs_in_by_username(client, alice, password):
    response = client.post("/login/", {"username": "alice", "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _logged_in_as(client) == "alice"


def test_it_logs_in_by_email_in_any_case(client, alice, password):
    response = client.post("/login/", {"username": "ALICE@example.org", "password": password})
    assert response.status_code == 302
    assert _logged_in_as(client) == "alice"


def test_it_refuses_a_wrong_password_with_a_clear_message(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "not-the-password"})
    assert response.status_code == 200
    assert "Wrong username/e-mail or password" in response.content.decode()
    assert _logged_in_as(client) is None


def test_it_refuses_an_inactive_account(client, alice, password):
    alice.is_active = False
    alice.save()
    client.post("/login/", {"username": "alice", "password": password})
    assert _logged_in_as(client) is None


def test_it_honours_a_local_next(client, alice, password):
    response = client.post("/login/", {"username": "alice", "password": password, "next": "/week/?date=2024-03-04"})
    assert response["Location"] == "/week/?date=2024-03-04"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_it_ignores_an_external_next(client, alice, password, target):
    response = client.post("/login/", {"username": "alice", "password": password, "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_keeps_next_in_the_form_after_a_failure(client, alice):
    html = client.post("/login/?next=/month/", {"username": "alice", "password": "nope"}).content.decode()
    assert 'name="next" value="/month/"' in html


def test_it_redirects_a_logged_in_user_to_the_dashboard(alice_client):
    response = alice_client.get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_redirects_a_logged_in_user_to_next(alice_client):
    assert alice_client.get("/login/?next=/month/")["Location"] == "/month/"
    assert alice_client.get("/login/?next=https://evil.example/")["Location"] == "/"


def test_it_logs_out_on_post(alice_client):
    response = alice_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert _logged_in_as(alice_client) is None


def test_it_refuses_logout_by_get(alice_client):
    response = alice_client.get("/logout/")
    assert response.status_code == 405
    assert _logged_in_as(alice_client) == "alice"


def test_it_checks_csrf_on_login(alice, password):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": password})
    assert response.status_code == 403
