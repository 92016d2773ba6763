"""django-axes: five failed logins for one username from one address lock it with a clear page."""

from __future__ import annotations

import re

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


# --- the client address (issue 12: a new X-Forwarded-For per request was a new client) -------------------


def test_it_ignores_forwarded_for_without_a_configured_proxy(client, alice, password):
    # Each guess claims another client in X-Forwarded-For; with TRUSTED_PROXY_COUNT=0 only the socket counts.
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/login/",
            {"username": "alice", "password": "wrong-guess"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"198.18.0.{n}",
        )
    response = client.post(
        "/login/",
        {"username": "alice", "password": password},
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.18.0.99",
    )
    assert response.status_code == 429
    assert not get_user(client).is_authenticated


def test_it_does_not_let_a_forged_forwarded_for_lock_out_someone_else(client, alice, password):
    victim = "198.51.100.9"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/login/",
            {"username": "alice", "password": "wrong-guess"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=victim,
        )
    response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR=victim)
    assert response.status_code == 302


def test_it_trusts_only_the_hop_the_proxy_adds(client, alice, password):
    # The proxy appends the address it saw; whatever the client wrote before that is not evidence of anything.
    with _behind_one_proxy():
        for n in range(settings.AXES_FAILURE_LIMIT):
            client.post(
                "/login/",
                {"username": "alice", "password": "wrong-guess"},
                REMOTE_ADDR="10.0.0.2",
                HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, 203.0.113.7",
            )
        response = client.post(
            "/login/",
            {"username": "alice", "password": password},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="198.18.0.99, 203.0.113.7",
        )
    assert response.status_code == 429


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "10.0.0.2"),
        (0, "203.0.113.7", "10.0.0.2"),
        (1, None, "10.0.0.2"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.18.0.1, 203.0.113.7", "203.0.113.7"),
        (2, "198.18.0.1, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        # Fewer hops than proxies: the request skipped the outer proxy, the inner one saw the client itself.
        (2, "203.0.113.7", "203.0.113.7"),
        # Azure App Service's front ends write the client's port as well.
        (1, "203.0.113.7:52114", "203.0.113.7"),
        (1, "[2001:db8::7]:52114", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
        # Garbage never reaches the lockout table (an inet column on PostgreSQL): the socket address counts.
        (1, "not-an-address", "10.0.0.2"),
        (1, "", "10.0.0.2"),
    ],
)
def test_it_takes_the_client_address_from_the_hops_the_proxies_add(rf, settings, proxies, forwarded, expected):
    from users.lockout import client_ip

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = rf.post("/login/", REMOTE_ADDR="10.0.0.2", **headers)
    assert client_ip(request) == expected


def test_it_uses_the_same_client_address_for_the_token_throttle(rf, settings):
    from api.throttling import TokenRateThrottle
    from users.lockout import client_ip

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = rf.post("/api/v1/token/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.18.0.1, 203.0.113.7:4431")
    assert TokenRateThrottle().get_ident(request) == client_ip(request) == "203.0.113.7"


def test_it_maps_the_proxy_count_setting_to_the_api_throttles(monkeypatch):
    import runpy

    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "0")
    assert runpy.run_module("energy_app.settings")["REST_FRAMEWORK"]["NUM_PROXIES"] == 0
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "2")
    assert runpy.run_module("energy_app.settings")["REST_FRAMEWORK"]["NUM_PROXIES"] == 2


# --- when the lock lifts -----------------------------------------------------------------------------------


def _text(response) -> str:
    return re.sub(r"<[^>]+>", "", response.content.decode())


def test_it_says_when_the_lock_lifts(client, alice):
    with time_machine.travel("2024-05-01 10:00:00+00:00", tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            response = _fail(client)
    assert response.status_code == 429
    # Local time (Europe/Brussels, summer time), fifteen minutes after the last failure.
    assert "Try again in 15 minutes, at 12:15." in _text(response)


def test_it_keeps_the_announced_unlock_time_when_the_user_tries_again(client, alice, password):
    with time_machine.travel("2024-05-01 10:00:00+00:00", tick=False) as traveller:
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            _fail(client)
        traveller.shift(10 * 60)
        assert "at 12:25." in _text(_fail(client))
        # A refused attempt during the lock does not push the announced time back.
        traveller.shift(5 * 60)
        refused = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
        assert refused.status_code == 429
        assert "Try again in 10 minutes, at 12:25." in _text(refused)
        traveller.shift(10 * 60 + 1)
        response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302


def test_it_counts_token_endpoint_failures_against_the_login_page(client, alice, password):
    from rest_framework.test import APIClient

    api = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api.post(
            "/api/v1/token/", {"username": "alice", "password": "wrong-guess"}, format="json", REMOTE_ADDR="203.0.113.7"
        )
    response = client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429
    assert not get_user(client).is_authenticated
