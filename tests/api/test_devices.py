"""Pairing a Pi (RFC 8628) and its device token: code -> approve on /device/ -> token -> upload -> revoke -> 401."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from p1edge import wire
from rest_framework.test import APIClient

from meters.models import Device, DeviceAuthorization, Meter, Reading
from tests.api.conftest import ALICE_SERIAL, jwt_client, make_telegram
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _code(client: APIClient | None = None, name: str = "raspberrypi", address: str = "192.0.2.10") -> dict:
    response = (client or APIClient()).post(wire.DEVICE_CODE_PATH, {"name": name}, format="json", REMOTE_ADDR=address)
    assert response.status_code == 200, response.content
    return response.json()


def _poll(device_code: str, grant_type: str = wire.DEVICE_GRANT_TYPE):
    return APIClient().post(wire.DEVICE_TOKEN_PATH, {"grant_type": grant_type, "device_code": device_code})


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _approve(user, user_code: str, decision: str = "approve"):
    return _web(user).post("/device/", {"user_code": user_code, "decision": decision})


def _device_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _paired(user, frozen, name: str = "raspberrypi") -> str:
    code = _code(name=name)
    _approve(user, code["user_code"])
    frozen.shift(code["interval"])
    response = _poll(code["device_code"])
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def _upload(client: APIClient, serial: str = ALICE_SERIAL, at: datetime = T0 - timedelta(hours=1)):
    return client.post(wire.READINGS_PATH, {"readings": [reading_item(serial, at.isoformat())]}, format="json")


def test_it_pairs_uploads_lists_and_revokes_a_device_end_to_end(alice, clock):
    code = _code(name="pi-kelder", address="192.0.2.10")
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", code["user_code"])
    assert code["verification_uri"] == "http://testserver/device/"
    assert code["verification_uri_complete"] == f"http://testserver/device/?user_code={code['user_code']}"
    assert (code["expires_in"], code["interval"]) == (600, 5)

    # The owner opens the complete URI, sees the device, and approves.
    web = _web(alice)
    page = web.get(code["verification_uri_complete"]).content.decode()
    assert f'value="{code["user_code"]}"' in page
    looked_up = web.post("/device/", {"user_code": code["user_code"].lower().replace("-", " ")}).content.decode()
    assert "pi-kelder" in looked_up
    assert "192.0.2.10" in looked_up
    assert web.post("/device/", {"user_code": code["user_code"], "decision": "approve"}).status_code == 302

    clock.shift(5)
    token_response = _poll(code["device_code"])
    assert token_response.status_code == 200
    body = token_response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith(wire.DEVICE_TOKEN_PREFIX)
    assert token_response["Cache-Control"] == "no-store"
    device = Device.objects.get()
    assert (device.owner, device.name, device.created_from) == (alice, "pi-kelder", "192.0.2.10")
    assert body["access_token"] not in device.token_hash  # only a hash is kept

    # The device uploads for a serial nobody had: the meter becomes the approver's.
    pi = _device_client(body["access_token"])
    uploaded = _upload(pi)
    assert uploaded.status_code == 200, uploaded.content
    assert uploaded.json()["registered_serials"] == [ALICE_SERIAL]
    assert Meter.objects.get(serial=ALICE_SERIAL).owner == alice
    telegrams = pi.post(wire.TELEGRAMS_PATH, make_telegram("260302084503W"), content_type="text/plain")
    assert telegrams.status_code == 200, telegrams.content

    listed = jwt_client(alice).get("/api/v1/devices/").json()
    assert [(d["name"], d["meters"], d["last_address"], d["revoked_at"]) for d in listed] == [
        ("pi-kelder", [ALICE_SERIAL], "127.0.0.1", None)
    ]
    devices_page = web.get("/devices/").content.decode()
    assert "pi-kelder" in devices_page
    assert ALICE_SERIAL in devices_page

    assert jwt_client(alice).delete(f"/api/v1/devices/{device.pk}/").status_code == 204
    refused = _upload(pi, at=T0 - timedelta(minutes=30))
    assert refused.status_code == 401
    assert refused.json() == {"detail": wire.DEVICE_REVOKED}
    assert Reading.objects.filter(meter__serial=ALICE_SERIAL).count() == 2  # nothing lost, nothing added


def test_it_answers_pending_then_slow_down_with_a_longer_interval_then_the_token(alice, clock):
    code = _code()

    assert _poll(code["device_code"]).json()["error"] == wire.AUTHORIZATION_PENDING
    clock.shift(2)
    slow = _poll(code["device_code"])
    assert slow.status_code == 400
    assert slow.json()["error"] == wire.SLOW_DOWN
    assert DeviceAuthorization.objects.get().interval == 10
    clock.shift(6)  # 6 s: enough for the old interval, not for the new one
    assert _poll(code["device_code"]).json()["error"] == wire.SLOW_DOWN
    clock.shift(15)
    assert _poll(code["device_code"]).json()["error"] == wire.AUTHORIZATION_PENDING

    _approve(alice, code["user_code"])
    clock.shift(15)
    assert _poll(code["device_code"]).status_code == 200
    clock.shift(15)
    spent = _poll(code["device_code"])
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")


def test_it_tells_a_refused_device_access_denied_and_gives_it_nothing(alice, clock):
    code = _code()

    assert _approve(alice, code["user_code"], "deny").status_code == 302
    clock.shift(5)

    denied = _poll(code["device_code"])
    assert (denied.status_code, denied.json()["error"]) == (400, wire.ACCESS_DENIED)
    assert not Device.objects.exists()


def test_it_expires_codes_after_ten_minutes_for_the_device_and_the_owner(alice, clock):
    code = _code()
    clock.shift(timedelta(minutes=10, seconds=1))

    assert _poll(code["device_code"]).json()["error"] == wire.EXPIRED_TOKEN
    page = _web(alice).post("/device/", {"user_code": code["user_code"], "decision": "approve"})
    assert page.status_code == 200
    assert "No device is waiting with this code" in page.content.decode()
    assert _poll(code["device_code"]).json()["error"] == wire.EXPIRED_TOKEN


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"grant_type": "password", "device_code": "x"}, "unsupported_grant_type"),
        ({"grant_type": wire.DEVICE_GRANT_TYPE}, "invalid_request"),
        ({"grant_type": wire.DEVICE_GRANT_TYPE, "device_code": "made-up"}, "invalid_grant"),
    ],
)
def test_it_answers_malformed_token_requests_with_the_rfc_error(body, error):
    response = APIClient().post(wire.DEVICE_TOKEN_PATH, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_it_throttles_code_requests_per_address(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "device_code": "3/hour"},
    }
    for _ in range(3):
        _code(address="198.51.100.1")

    refused = APIClient().post(wire.DEVICE_CODE_PATH, {}, format="json", REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 429
    assert "Retry-After" in refused
    _code(address="198.51.100.2")  # another household is not affected


def test_it_gives_the_device_to_whoever_approves_the_code(alice, bob, clock):
    token = _paired(bob, clock, name="bobs-pi")

    assert Device.objects.get().owner == bob
    assert _upload(_device_client(token)).json()["registered_serials"] == [ALICE_SERIAL]
    assert Meter.objects.get(serial=ALICE_SERIAL).owner == bob
    assert jwt_client(alice).get("/api/v1/devices/").json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/meters/"),
        ("get", "/api/v1/devices/"),
        ("delete", "/api/v1/devices/{device}/"),
        ("get", "/api/v1/meters/{meter}/readings/"),
        ("get", "/api/v1/meters/{meter}/series/"),
        ("get", "/api-auth/getData/{reading}"),
    ],
)
def test_it_forbids_a_device_token_everything_but_uploads(alice, clock, method, path):
    token = _paired(alice, clock)
    pi = _device_client(token)
    _upload(pi)
    meter, device = Meter.objects.get(), Device.objects.get()
    url = path.format(meter=meter.code, device=device.pk, reading=Reading.objects.get().pk)

    response = getattr(pi, method)(url)

    assert response.status_code == 403, response.content
    assert "device token may only upload" in response.json()["detail"]
    assert Device.objects.get().revoked_at is None


def test_it_does_not_log_a_device_token_in_to_the_website(alice, clock):
    token = _paired(alice, clock)

    response = Client().get("/day/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_refuses_an_unknown_token_and_the_token_of_a_disabled_account(alice, clock):
    token = _paired(alice, clock)

    unknown = _upload(_device_client(wire.DEVICE_TOKEN_PREFIX + "not-a-real-token"))
    assert (unknown.status_code, unknown.json()) == (401, {"detail": "invalid device token"})
    alice.is_active = False
    alice.save()
    assert _upload(_device_client(token)).status_code == 401


def test_it_keeps_a_device_to_its_owners_meters(alice, bob, clock):
    Meter.objects.create(serial=ALICE_SERIAL, owner=alice)
    token = _paired(bob, clock)

    refused = _upload(_device_client(token))

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "serial"
    assert not Reading.objects.exists()


def test_it_hides_another_accounts_devices_on_every_page_and_endpoint(alice, bob, clock):
    _paired(alice, clock)
    device = Device.objects.get()
    bob_web, bob_api = _web(bob), jwt_client(bob)

    assert "raspberrypi" not in bob_web.get("/devices/").content.decode()
    assert bob_web.post(f"/devices/{device.pk}/rename", {"name": "mine now"}).status_code == 404
    assert bob_web.post(f"/devices/{device.pk}/revoke").status_code == 404
    assert bob_api.delete(f"/api/v1/devices/{device.pk}/").status_code == 404
    assert bob_api.delete("/api/v1/devices/not-a-number/").status_code == 404
    device.refresh_from_db()
    assert (device.name, device.revoked_at) == ("raspberrypi", None)

    anonymous = Client()
    for path in ("/device/", "/devices/"):
        assert anonymous.get(path)["Location"].startswith("/login/")
    assert anonymous.post(f"/devices/{device.pk}/revoke")["Location"].startswith("/login/")
    assert APIClient().get("/api/v1/devices/").status_code == 401
    assert APIClient().delete(f"/api/v1/devices/{device.pk}/").status_code == 401


def test_it_renames_and_revokes_on_the_devices_page(alice, clock):
    token = _paired(alice, clock)
    device = Device.objects.get()
    web = _web(alice)

    web.post(f"/devices/{device.pk}/rename", {"name": "  Zolder\u202e  "})
    web.post(f"/devices/{device.pk}/revoke")

    device.refresh_from_db()
    assert device.name == "Zolder"
    assert device.revoked_at == T0 + timedelta(seconds=5)
    assert 'data-status="revoked"' in web.get("/devices/").content.decode()
    assert _upload(_device_client(token)).json() == {"detail": wire.DEVICE_REVOKED}


def test_it_limits_wrong_codes_typed_on_the_device_page(alice):
    web = _web(alice)
    for _ in range(10):
        assert web.post("/device/", {"user_code": "BBBB-BBBB"}).status_code == 200

    code = _code()
    blocked = web.post("/device/", {"user_code": code["user_code"], "decision": "approve"})
    assert blocked.status_code == 429
    assert DeviceAuthorization.objects.get().state == DeviceAuthorization.PENDING
