"""POST /api/v1/live and GET /api/v1/meters/<code>/live: who may send and read, what is kept where, the ETag, a
stale snapshot, and the same on the database cache and on a real Redis."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from p1edge import wire
from rest_framework.test import APIClient

from energy_app.settings import cache_from_url
from meters.devices import _hash
from meters.models import Device, Meter, Reading
from tests.api.conftest import jwt_client
from tests.factories import ALICE_SERIAL, reading_item

pytestmark = pytest.mark.django_db

# Tuesday 1 December 2026, 18:07:30 in Brussels.
T0 = datetime(2026, 12, 1, 17, 7, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _snapshot(measured_at: datetime = T0, **values) -> dict:
    return {
        "serial": ALICE_SERIAL,
        "measured_at": measured_at.isoformat(),
        "power_import_kw": "3.412",
        "power_export_kw": "0.000",
        "l1_import_kw": "1.210",
        "l2_import_kw": "1.100",
        "l3_import_kw": "1.102",
        "l1_voltage_v": "231.4",
        "l1_current_a": "5.30",
        "tariff": 1,
        "avg_demand_kw": "2.904",
        "month_peak_kw": "4.120",
        "month_peak_at": "2026-12-01T08:15:00+01:00",
        **values,
    }


def _live_url(meter: Meter) -> str:
    return f"/api/v1/meters/{meter.code}/live"


def _device_client(owner) -> APIClient:
    token = wire.DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(16)
    Device.objects.create(owner=owner, name="pi", token_hash=_hash(token))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_it_keeps_a_snapshot_and_shows_it_with_the_peak_guard(alice_api, alice_meter):
    response = alice_api.post(wire.LIVE_PATH, _snapshot(), format="json")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] is True

    body = alice_api.get(_live_url(alice_meter)).json()
    assert body["meter"] == {"code": str(alice_meter.code), "serial": ALICE_SERIAL, "name": "Home"}
    snapshot = body["snapshot"]
    assert snapshot["measured_at"] == "2026-12-01T18:07:30+01:00"
    assert snapshot["power_import_kw"] == 3.412
    assert snapshot["l1_voltage_v"] == 231.4
    assert snapshot["tariff"] == 1
    assert snapshot["month_peak_at"] == "2026-12-01T08:15:00+01:00"
    assert body["age_seconds"] == 0
    assert body["stale"] is False
    guard = body["peak_guard"]
    # 450 s at 2.904 kW, then 3.412 kW for 450 s: 3.158 kW, under the meter's 4.12 kW month peak.
    assert guard["quarter_start"] == "2026-12-01T18:00:00+01:00"
    assert guard["projected_kw"] == 3.158
    assert guard["month_peak_kw"] == 4.12
    assert guard["month_peak_source"] == "meter"
    assert guard["headroom_kw"] == 0.962
    assert guard["exceeds"] is False
    # Nothing of it is a reading.
    assert not Reading.objects.exists()


def test_it_takes_snapshots_from_the_owners_paired_device(alice, alice_api, alice_meter):
    pi = _device_client(alice)
    assert pi.post(wire.LIVE_PATH, _snapshot(), format="json").status_code == 202
    assert alice_api.get(_live_url(alice_meter)).json()["snapshot"]["power_import_kw"] == 3.412
    # A device token uploads; it does not read (the default NotADevice permission).
    assert pi.get(_live_url(alice_meter)).status_code == 403


def test_it_shows_another_account_nothing(alice_api, bob_api, alice_meter):
    alice_api.post(wire.LIVE_PATH, _snapshot(), format="json")
    response = bob_api.get(_live_url(alice_meter))
    assert response.status_code == 404
    assert "detail" in response.json()
    assert "3.412" not in response.content.decode()
    assert bob_api.get("/api/v1/meters/not-a-code/live").status_code == 404


def test_it_refuses_anonymous_requests(anon_api, alice_meter):
    assert anon_api.get(_live_url(alice_meter)).status_code == 401
    assert anon_api.post(wire.LIVE_PATH, _snapshot(), format="json").status_code == 401


def test_it_refuses_a_snapshot_for_someone_elses_meter(alice_api, bob, alice_meter):
    for client in (jwt_client(bob), _device_client(bob)):
        response = client.post(wire.LIVE_PATH, _snapshot(), format="json")
        assert response.status_code == 404
        assert ALICE_SERIAL in response.json()["detail"]
    assert alice_api.get(_live_url(alice_meter)).json()["snapshot"] is None


def test_it_refuses_a_snapshot_for_an_unknown_or_unclaimed_serial(alice_api, alice_meter):
    Meter.objects.create(serial="1SAG3100000099")
    for serial in ("1SAG3100000099", "1SAG3100000042"):
        response = alice_api.post(wire.LIVE_PATH, _snapshot(serial=serial), format="json")
        assert response.status_code == 404
    # A snapshot registers nothing: only a quarter-hour upload does.
    assert not Meter.objects.filter(serial="1SAG3100000042").exists()
    assert Meter.objects.get(serial="1SAG3100000099").owner is None


def test_it_reports_bad_fields_by_index_and_field(alice_api, alice_meter):
    response = alice_api.post(wire.LIVE_PATH, _snapshot(power_import_kw="lots", l1_voltage_v=-3), format="json")
    assert response.status_code == 400
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(0, "power_import_kw"), (0, "l1_voltage_v")}
    # A list is no snapshot.
    response = alice_api.post(wire.LIVE_PATH, [_snapshot()], format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "non_field_errors"
    assert alice_api.post(wire.LIVE_PATH, "{", content_type="application/json").status_code == 400


def test_it_refuses_snapshots_of_one_meter_faster_than_the_minimum_interval(alice_api, alice_meter, clock):
    assert alice_api.post(wire.LIVE_PATH, _snapshot(), format="json").status_code == 202
    clock.shift(1)
    response = alice_api.post(wire.LIVE_PATH, _snapshot(T0 + timedelta(seconds=1)), format="json")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    clock.shift(9)
    assert alice_api.post(wire.LIVE_PATH, _snapshot(T0 + timedelta(seconds=10)), format="json").status_code == 202


def test_it_answers_304_until_a_new_snapshot_arrives(alice_api, alice_meter, clock):
    alice_api.post(wire.LIVE_PATH, _snapshot(), format="json")
    first = alice_api.get(_live_url(alice_meter))
    etag = first.headers["ETag"]
    clock.shift(5)
    again = alice_api.get(_live_url(alice_meter), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.content == b""
    clock.shift(5)
    alice_api.post(wire.LIVE_PATH, _snapshot(T0 + timedelta(seconds=10), power_import_kw="5.000"), format="json")
    changed = alice_api.get(_live_url(alice_meter), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["snapshot"]["power_import_kw"] == 5.0


def test_it_calls_an_old_snapshot_stale(alice_api, alice_meter, clock):
    alice_api.post(wire.LIVE_PATH, _snapshot(), format="json")
    clock.shift(120)
    body = alice_api.get(_live_url(alice_meter)).json()
    assert body["age_seconds"] == 120
    assert body["stale"] is True
    assert body["last_seen_at"] == "2026-12-01T18:07:30+01:00"


def test_it_tells_when_the_meter_was_last_heard_of_without_a_snapshot(alice, alice_api, alice_meter):
    from meters.ingest import ingest_readings

    ingest_readings(alice, [reading_item(ALICE_SERIAL, "2026-12-01T17:45:00+01:00")])
    body = alice_api.get(_live_url(alice_meter)).json()
    assert body["snapshot"] is None
    assert body["peak_guard"] is None
    assert body["stale"] is True
    assert body["last_reading_at"] == body["last_seen_at"] == "2026-12-01T17:45:00+01:00"


def test_it_keeps_snapshots_in_redis_when_redis_is_the_cache(alice_api, alice_meter, settings, redis_url):
    import redis

    prefix = f"test-live-{secrets.token_hex(4)}"
    settings.CACHES = {"default": {**cache_from_url(redis_url), "KEY_PREFIX": prefix}}
    try:
        assert alice_api.post(wire.LIVE_PATH, _snapshot(), format="json").status_code == 202
        keys = list(redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}:*live:{alice_meter.pk}"))
        assert len(keys) == 1
        assert alice_api.get(_live_url(alice_meter)).json()["snapshot"]["power_import_kw"] == 3.412
    finally:
        connection = redis.Redis.from_url(redis_url)
        for key in connection.scan_iter(match=f"{prefix}:*"):
            connection.delete(key)
