"""Every endpoint that touches data refuses requests without a token, or with an expired or forged one."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from meters.models import Reading
from tests.api.conftest import NOW, access_token, make_telegram, prototype_reading
from tests.factories import reading_item

pytestmark = pytest.mark.django_db


def _requests(meter_code: str) -> list[tuple[str, str, dict]]:
    return [
        ("post", "/api-auth/setData", {"data": prototype_reading(), "format": "json"}),
        ("get", "/api-auth/getData/1", {}),
        (
            "post",
            "/api/v1/readings",
            {"data": {"readings": [reading_item("1SAG1", "2024-03-01T10:00:00Z")]}, "format": "json"},
        ),
        ("post", "/api/v1/telegrams", {"data": make_telegram("240301101500W"), "content_type": "text/plain"}),
        ("get", "/api/v1/meters/", {}),
        ("get", f"/api/v1/meters/{meter_code}/readings/", {}),
    ]


ENDPOINTS = ["setData", "getData", "readings", "telegrams", "meters", "meter readings"]


@pytest.mark.parametrize("position", range(len(ENDPOINTS)), ids=ENDPOINTS)
@pytest.mark.parametrize("credentials", ["none", "expired", "forged"])
def test_it_refuses_a_missing_expired_or_forged_token(alice, alice_meter, position, credentials):
    with time_machine.travel(NOW, tick=False) as clock:
        client = APIClient()
        if credentials == "expired":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(alice)}")
            clock.shift(timedelta(minutes=5, seconds=1))
        elif credentials == "forged":
            header, payload, _signature = access_token(alice).split(".")
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.AAAA")
        method, url, kwargs = _requests(str(alice_meter.code))[position]
        response = getattr(client, method)(url, **kwargs)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert not Reading.objects.exists()
