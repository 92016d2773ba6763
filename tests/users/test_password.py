"""Password reset by e-mail with a working link, and password change while logged in."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user
from django.core import mail

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quarter-hour-peak-2025"


def _reset_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/password-reset-confirm/[^/\s]+/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_it_shows_the_reset_form(client):
    response = client.get("/password-reset/")
    assert response.status_code == 200
    assert '<label for="id_email"' in response.content.decode()


def test_it_emails_a_link_that_sets_a_new_password(client, alice, password):
    response = client.post("/password-reset/", {"email": "ALICE@example.org"})
    assert response["Location"] == "/password-reset/done/"
    assert client.get("/password-reset/done/").status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "Reset your P1 Energy password"
    assert "alice" in message.body

    link = _reset_link(message)
    # Django swaps the token for a session marker and redirects to the set-password form.
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/password-reset-complete/"
    assert client.get("/password-reset-complete/").status_code == 200

    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert not alice.check_password(password)
    login = client.post("/login/", {"username": "alice", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_it_does_not_reuse_a_reset_link(client, alice):
    client.post("/password-reset/", {"email": "alice@example.org"})
    link = _reset_link(mail.outbox[0])
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = client.get(link, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_it_applies_the_validators_to_the_new_password(client, alice, password):
    client.post("/password-reset/", {"email": "alice@example.org"})
    set_url = client.get(_reset_link(mail.outbox[0]), follow=True).redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    assert "This password is too common" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(password)


def test_it_does_not_reveal_unknown_addresses(client, alice):
    response = client.post("/password-reset/", {"email": "nobody@example.org"})
    assert response["Location"] == "/password-reset/done/"
    assert mail.outbox == []


def test_it_changes_the_password_and_keeps_the_session(alice_client, alice, password):
    response = alice_client.post(
        "/password-change/",
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/password-change/done/"
    assert alice_client.get("/password-change/done/").status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert get_user(alice_client).is_authenticated


def test_it_refuses_a_change_with_the_wrong_old_password(alice_client, alice, password):
    response = alice_client.post(
        "/password-change/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(password)
