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
