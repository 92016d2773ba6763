"""Fixtures for the API suite: JWT clients, reading items as devices send them, telegrams with real CRCs.

Shared with the other suites (tests/conftest.py): the users alice, bob and staff, ``alice_meter`` (serial
``ALICE_SERIAL``) and the fast password hashing this suite runs with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from p1edge.crc import build_telegram
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import ALICE_SERIAL

__all__ = ["ALICE_SERIAL", "NOW", "access_token", "jwt_client", "make_telegram", "prototype_reading"]

# A moment well in the past, so the ingest future-limit never depends on the wall clock.
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def access_token(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def jwt_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_api(alice) -> APIClient:
    return jwt_client(alice)


@pytest.fixture
def bob_api(bob) -> APIClient:
    return jwt_client(bob)


@pytest.fixture
def staff_api(staff) -> APIClient:
    return jwt_client(staff)


def prototype_reading(**overrides: Any) -> dict[str, Any]:
    """One line of the prototype's buffer as its writer posted it: str(float) values, the raw meter clock."""
    data: dict[str, Any] = {
        "tijdstip": "20240301101500",
        "switch": "1.0",
        "serialmeter": ALICE_SERIAL,
        "currentrate": "0001",
        "totaldayconsumption": "12345.678",
        "totalnightconsumption": "9876.543",
        "totaldayproduction": "1234.5",
        "totalnightproduction": "321.0",
        "l1consumption": "0.123",
        "l2consumption": "0.0",
        "l3consumption": "0.389",
        "currentconsumption": "0.512",
        "l1production": "0.0",
        "l2production": "0.0",
        "l3production": "0.0",
        "currentproduction": "0.0",
        "l1voltage": "231.4",
        "l2voltage": "0.0",
        "l3voltage": "229.9",
        "l1current": "1.0",
        "l2current": "2.0",
        "l3current": "2.0",
        "Switch gas": "1.0",
        "Meter serial gas": "1SAG4100001234",
        "Gas consumption": "2345.678",
    }
    data.update(overrides)
    return data


def _hex(text: str) -> str:
    return text.encode("ascii").hex().upper()


def make_telegram(
    clock: str, *, serial: str | None = ALICE_SERIAL, import_t1: str = "012345.678", corrupt: bool = False
) -> str:
    """A Fluvius three-phase telegram with a valid CRC; ``clock`` is the meter clock ``YYMMDDhhmmssX``."""
    lines = ["0-0:96.1.4(50217)"]
    if serial is not None:
        lines.append(f"0-0:96.1.1({_hex(serial)})")
    lines += [
        f"0-0:1.0.0({clock})",
        f"1-0:1.8.1({import_t1}*kWh)",
        "1-0:1.8.2(009876.543*kWh)",
        "1-0:2.8.1(001234.500*kWh)",
        "1-0:2.8.2(000321.000*kWh)",
        "0-0:96.14.0(0001)",
        "1-0:1.4.0(00.480*kW)",
        "1-0:1.6.0(240301081500W)(02.345*kW)",
        "1-0:1.7.0(00.512*kW)",
        "1-0:2.7.0(00.000*kW)",
        "1-0:21.7.0(00.123*kW)",
        "1-0:41.7.0(00.000*kW)",
        "1-0:61.7.0(00.389*kW)",
        "1-0:22.7.0(00.000*kW)",
        "1-0:42.7.0(00.000*kW)",
        "1-0:62.7.0(00.000*kW)",
        "1-0:32.7.0(231.4*V)",
        "1-0:52.7.0(000.0*V)",
        "1-0:72.7.0(229.9*V)",
        "1-0:31.7.0(001.02*A)",
        "1-0:51.7.0(002.10*A)",
        "1-0:71.7.0(001.95*A)",
        "0-0:96.3.10(1)",
    ]
    telegram = build_telegram(lines)
    if corrupt:
        # A changed digit after sealing: what a noisy line or a pasted bug report produces.
        telegram = telegram.replace("1-0:1.7.0(00.512", "1-0:1.7.0(00.513")
    return telegram
