"""django-axes: five failed logins for one username from one address lock it with a clear page."""

from __future__ import annotations

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user

pytestmark = pytest.mark.django_db


def _fail(client, username="alice", ip="203.0.113.7"):
    return client.post("/login/", {"username": username, "password": "wrong-guess"}, REMOTE_ADDR=ip)


def test_it_is_configured_for_five_failures():
    assert settings.AXES_FAILURE_LIMIT == 5


def test_it_still_answers_normally_before_the_limit(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _fail(client)
        assert response.status_code == 200
        assert "Wrong username/e-mail or password" in response.content.decode()


def test_it_locks_after_five_failures_with_a_clear_message(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _fail(client)
    response = _fail(client)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed attempts" in html
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Try again in {minutes} minutes" in html
    assert "users/locked_out.html" in [t.name for t in response.templates]


def test_it_refuses_the_right_password_while_locked(client, alice, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client)
    response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429
    assert not get_user(client).is_authenticated


def test_it_does_not_lock_the_same_username_from_another_address(client, alice, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client)
    # The lock is per username and IP: alice on another network still gets in.
    response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 302
    assert get_user(client).is_authenticated


def test_it_lifts_the_lock_after_the_cool_off(client, alice, password):
    with time_machine.travel("2024-05-01 10:00:00+00:00", tick=False) as traveller:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _fail(client)
        traveller.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 60)
        response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
        assert response.status_code == 302
        assert get_user(client).is_authenticated


def test_it_resets_the_count_after_a_success(client, alice, password):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _fail(client)
    client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _fail(client).status_code == 200


def test_it_counts_every_spelling_of_the_account_together(client, alice, password):
    # Username in another case and the e-mail reach the same account, so they share one counter.
    for typed in ("alice", "ALICE", "Alice", "alice@example.org", "ALICE@EXAMPLE.ORG"):
        _fail(client, username=typed)
    for typed in ("alice", "aLiCe", "alice@example.org"):
        response = client.post("/login/", {"username": typed, "password": password}, REMOTE_ADDR="203.0.113.7")
        assert response.status_code == 429, typed
    assert not get_user(client).is_authenticated


def test_it_does_not_reveal_the_username_behind_an_email_on_the_lock_page(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _fail(client, username="alice@example.org")
    assert response.status_code == 429
    assert "alice</strong>" not in response.content.decode()


def _behind_one_proxy():
    from django.test import override_settings

    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1})


def test_it_locks_the_client_behind_a_proxy_not_the_proxy_itself(client, alice, password):
    proxy = "10.0.0.2"
    with _behind_one_proxy():
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(
                "/login/",
                {"username": "alice", "password": "wrong-guess"},
                REMOTE_ADDR=proxy,
                HTTP_X_FORWARDED_FOR="203.0.113.7",
            )
        locked = client.post(
            "/login/",
            {"username": "alice", "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )
        assert locked.status_code == 429
        # Another household behind the same proxy is not locked out by the attacker's failures.
        other = client.post(
            "/login/",
            {"username": "alice", "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="198.51.100.9",
        )
        assert other.status_code == 302
