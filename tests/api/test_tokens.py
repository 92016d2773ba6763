"""JWT tokens at the prototype's /api-auth/ paths and under /api/v1/, lifetimes and brute-force throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tests.api.conftest import NOW
from tests.factories import reading_item

TOKEN_PATHS = [("/api-auth/token/", "/api-auth/token/refresh/"), ("/api/v1/token/", "/api/v1/token/refresh/")]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("token_path", "refresh_path"), TOKEN_PATHS)
def test_it_issues_tokens_that_authorise_ingest(anon_api, alice, password, token_path, refresh_path):
    response = anon_api.post(token_path, {"username": "alice", "password": password}, format="json")
    assert response.status_code == 200, response.content
    tokens = response.json()

    refreshed = anon_api.post(refresh_path, {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    stored = anon_api.post(
        "/api/v1/readings", {"readings": [reading_item("1SAG1", "2024-03-01T10:00:00+01:00")]}, format="json"
    )
    assert stored.status_code == 200
    assert stored.json()["created"] == 1


@pytest.mark.parametrize(("token_path", "refresh_path"), TOKEN_PATHS)
def test_it_refuses_a_wrong_password(anon_api, alice, token_path, refresh_path):
    response = anon_api.post(token_path, {"username": "alice", "password": "wrong-guess"}, format="json")
    assert response.status_code == 401
    assert "access" not in response.json()


def test_it_expires_access_tokens_after_five_minutes(anon_api, alice, password):
    with time_machine.travel(NOW, tick=False) as clock:
        tokens = anon_api.post("/api-auth/token/", {"username": "alice", "password": password}, format="json").json()
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert anon_api.get("/api/v1/meters/").status_code == 200

        clock.shift(timedelta(minutes=5, seconds=1))
        expired = anon_api.get("/api/v1/meters/")
        assert expired.status_code == 401
        assert expired.json()["code"] == "token_not_valid"

        # The refresh token (1 day) still gets a new access token.
        refreshed = anon_api.post("/api-auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
        assert refreshed.status_code == 200
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
        assert anon_api.get("/api/v1/meters/").status_code == 200


def test_it_expires_refresh_tokens_after_one_day(anon_api, alice, password):
    with time_machine.travel(NOW, tick=False) as clock:
        tokens = anon_api.post("/api/v1/token/", {"username": "alice", "password": password}, format="json").json()
        clock.shift(timedelta(days=1, seconds=1))
        response = anon_api.post("/api/v1/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401


def test_it_throttles_token_requests_per_client_ip(anon_api, alice, password, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "3/min"},
    }
    statuses = [
        anon_api.post("/api-auth/token/", {"username": "alice", "password": f"guess-{n}"}, format="json").status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 401]

    # Even the right password waits now, and a spoofed X-Forwarded-For does not reset the counter.
    throttled = anon_api.post(
        "/api/v1/token/",
        {"username": "alice", "password": password},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0

    other_ip = anon_api.post(
        "/api/v1/token/", {"username": "alice", "password": password}, format="json", REMOTE_ADDR="198.51.100.7"
    )
    assert other_ip.status_code == 200


# --- lockout shared with the login page (issue 12) ---------------------------------------------------------


def _guess(api, path="/api/v1/token/", username="alice", password="wrong-guess", ip="203.0.113.7"):  # noqa: S107
    return api.post(path, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


def test_it_tells_a_locked_account_when_it_unlocks(anon_api, alice, password, settings):
    with time_machine.travel(NOW, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _guess(anon_api)
        response = _guess(anon_api, password=password)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "account_locked"
    # NOW is 13:00 in Brussels; the lock lasts 15 minutes from the last failure.
    assert "locked" in body["detail"]
    assert "2024-03-01T13:15:00+01:00" in body["detail"]
    assert "access" not in body
    assert int(response["Retry-After"]) == 15 * 60


@pytest.mark.parametrize(("token_path", "refresh_path"), TOKEN_PATHS)
def test_it_shares_the_lockout_with_the_login_page(
    client, anon_api, alice, password, settings, token_path, refresh_path
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "alice", "password": "wrong-guess"}, REMOTE_ADDR="203.0.113.7")
    response = _guess(anon_api, path=token_path, password=password)
    assert response.status_code == 429
    assert response.json()["code"] == "account_locked"


def test_it_locks_the_token_endpoint_by_socket_address_without_a_proxy(anon_api, alice, password, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        anon_api.post(
            "/api/v1/token/",
            {"username": "alice", "password": "wrong-guess"},
            format="json",
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"198.18.0.{n}",
        )
    assert _guess(anon_api, password=password).status_code == 429


def test_it_refuses_an_overlong_username_without_a_server_error(anon_api, alice):
    # Longer than any username or e-mail; on PostgreSQL it used to overflow django-axes' varchar(255) (500).
    response = _guess(anon_api, username="a" * 300)
    assert response.status_code == 400
    assert "username" in response.json()


# --- rotation and revocation -------------------------------------------------------------------------------


def _tokens(api, password: str, username: str = "alice") -> dict:
    response = api.post("/api/v1/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(api, refresh: str):
    return api.post("/api/v1/token/refresh/", {"refresh": refresh}, format="json")


def _meters_with(access: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/meters/")


def test_it_keeps_the_token_settings_explicit(settings):
    jwt = settings.SIMPLE_JWT
    assert jwt["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=5)
    assert jwt["REFRESH_TOKEN_LIFETIME"] == timedelta(days=1)
    assert jwt["ROTATE_REFRESH_TOKENS"] is True
    assert jwt["BLACKLIST_AFTER_ROTATION"] is True
    assert "rest_framework_simplejwt.token_blacklist" in settings.INSTALLED_APPS


@pytest.mark.parametrize(("token_path", "refresh_path"), TOKEN_PATHS)
def test_it_rotates_refresh_tokens_and_refuses_a_used_one(anon_api, alice, password, token_path, refresh_path):
    tokens = anon_api.post(token_path, {"username": "alice", "password": password}, format="json").json()
    first = anon_api.post(refresh_path, {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    rotated = first.json()["refresh"]
    assert rotated != tokens["refresh"]

    replayed = anon_api.post(refresh_path, {"refresh": tokens["refresh"]}, format="json")
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "token_not_valid"
    assert anon_api.post(refresh_path, {"refresh": rotated}, format="json").status_code == 200


def test_it_gives_a_rotated_refresh_token_a_fresh_lifetime(anon_api, alice, password):
    with time_machine.travel(NOW, tick=False) as clock:
        tokens = _tokens(anon_api, password)
        clock.shift(timedelta(hours=20))
        rotated = _refresh(anon_api, tokens["refresh"]).json()["refresh"]
        clock.shift(timedelta(hours=20))
        assert _refresh(anon_api, rotated).status_code == 200


def _change_password_on_the_site(client, alice, password):
    client.force_login(alice)
    response = client.post(
        "/password-change/",
        {
            "old_password": password,
            "new_password1": "quarter-hour-peak-2025",
            "new_password2": "quarter-hour-peak-2025",
        },
    )
    assert response.status_code == 302, response.content


def _reset_password_by_link(client, alice, password):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    form = client.get(f"/password-reset-confirm/{uid}/{default_token_generator.make_token(alice)}/", follow=True)
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "quarter-hour-peak-2025", "new_password2": "quarter-hour-peak-2025"},
    )
    assert response["Location"] == "/password-reset-complete/"


def _set_password_in_code(client, alice, password):
    alice.set_password("quarter-hour-peak-2025")
    alice.save()


def _deactivate(client, alice, password):
    alice.is_active = False
    alice.save()


def _delete(client, alice, password):
    alice.delete()


@pytest.mark.parametrize(
    "event",
    [_change_password_on_the_site, _reset_password_by_link, _set_password_in_code, _deactivate, _delete],
    ids=["password change", "password reset", "set_password", "deactivation", "deletion"],
)
def test_it_revokes_access_and_refresh_tokens(client, anon_api, alice, password, event):
    tokens = _tokens(anon_api, password)
    assert _meters_with(tokens["access"]).status_code == 200

    event(client, alice, password)

    access = _meters_with(tokens["access"])
    assert access.status_code == 401
    assert access.json()["detail"]
    refresh = _refresh(anon_api, tokens["refresh"])
    assert refresh.status_code == 401
    assert "access" not in refresh.json()


def test_it_issues_working_tokens_after_a_password_change(client, anon_api, alice, password):
    _tokens(anon_api, password)
    _change_password_on_the_site(client, alice, password)
    tokens = _tokens(anon_api, "quarter-hour-peak-2025")
    assert _meters_with(tokens["access"]).status_code == 200
    assert _refresh(anon_api, tokens["refresh"]).status_code == 200


def test_it_keeps_tokens_valid_across_a_login_and_a_profile_edit(client, anon_api, alice, password):
    tokens = _tokens(anon_api, password)
    assert client.post("/login/", {"username": "alice", "password": password}).status_code == 302
    edited = client.post(
        "/profile/",
        {
            "section": "account",
            "account-username": "alice",
            "account-email": "alice@example.org",
            "account-first_name": "Alice",
        },
    )
    assert edited.status_code == 302
    assert _meters_with(tokens["access"]).status_code == 200
    assert _refresh(anon_api, tokens["refresh"]).status_code == 200


def test_it_keeps_tokens_valid_when_a_login_upgrades_the_password_hash(client, anon_api, alice, password, settings):
    tokens = _tokens(anon_api, password)
    # A stronger preferred hasher: Django re-hashes the stored (MD5) password at the next login.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert client.post("/login/", {"username": "alice", "password": password}).status_code == 302
    alice.refresh_from_db()
    assert alice.password.startswith("scrypt$")
    assert _meters_with(tokens["access"]).status_code == 200


def test_it_keeps_a_reactivated_account_s_old_tokens_revoked(anon_api, alice, password):
    tokens = _tokens(anon_api, password)
    alice.is_active = False
    alice.save()
    alice.is_active = True
    alice.save()
    assert _meters_with(tokens["access"]).status_code == 401
    assert _refresh(anon_api, tokens["refresh"]).status_code == 401


def test_it_refuses_a_deleted_user_s_rotated_refresh_token(anon_api, alice, password):
    tokens = _tokens(anon_api, password)
    rotated = _refresh(anon_api, tokens["refresh"]).json()["refresh"]
    alice.delete()
    response = _refresh(anon_api, rotated)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
