"""POST /api/v1/readings: atomic, idempotent batches with every bad item reported by index and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from meters.models import Meter, Reading
from tests.api.conftest import ALICE_SERIAL, NOW, access_token, jwt_client
from tests.factories import reading_item

pytestmark = pytest.mark.django_db
URL = "/api/v1/readings"


def _day(serial: str, count: int, start: datetime = datetime(2024, 3, 1, tzinfo=UTC)) -> list[dict]:
    return [
        reading_item(serial, (start + timedelta(minutes=15 * n)).isoformat(), import_t1_kwh=f"{1000 + n}.125")
        for n in range(count)
    ]


def test_it_stores_a_batch_and_counts_replays_as_duplicates(alice_api, alice_meter):
    batch = _day(ALICE_SERIAL, 96)
    first = alice_api.post(URL, {"readings": batch}, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 96, "duplicates": 0, "registered_serials": []}

    # The uploader crashed before the acknowledgement and resends, overlapping with new readings.
    more = _day(ALICE_SERIAL, 4, start=datetime(2024, 3, 2, tzinfo=UTC))
    replay = alice_api.post(URL, {"readings": batch[-10:] + more}, format="json")
    assert replay.json() == {"created": 4, "duplicates": 10, "registered_serials": []}
    assert Reading.objects.filter(meter=alice_meter).count() == 100


def test_it_keeps_json_numbers_exact(alice_api, alice_meter):
    """Numbers are parsed as decimals; through a float 12345.6784999999999999 would become 12345.6785 -> .679."""
    item = json.dumps(reading_item(ALICE_SERIAL, "2024-03-01T10:00:00+01:00"))
    body = '{"readings": [' + item.replace('"1234.567"', "12345.6784999999999999") + "]}"
    response = alice_api.post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Reading.objects.get().import_t1_kwh == Decimal("12345.678")


def test_it_stores_what_the_edge_uploader_sends(alice_api, alice_meter):
    from p1edge.records import to_wire

    reading = {
        "serial": ALICE_SERIAL,
        "timestamp": datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        "measured_at": datetime(2024, 3, 1, 9, 0, 1, tzinfo=UTC),
        "import_t1_kwh": Decimal("12.345"),
        "import_t2_kwh": Decimal("6.789"),
        "export_t1_kwh": Decimal("0.000"),
        "export_t2_kwh": Decimal("0.000"),
        "power_import_kw": Decimal("0.512"),
        "power_export_kw": Decimal("0.000"),
        "tariff": 2,
    }
    response = alice_api.post(URL, {"readings": [to_wire(reading)]}, format="json")
    assert response.status_code == 200, response.content
    stored = Reading.objects.get()
    assert stored.measured_at == datetime(2024, 3, 1, 9, 0, 1, tzinfo=UTC)
    assert stored.l1_voltage_v is None  # not sent, not invented


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"import_t1_kwh": None}, "import_t1_kwh"),
        ({"power_import_kw": "lots"}, "power_import_kw"),
        ({"l2_voltage_v": -3}, "l2_voltage_v"),
        ({"tariff": 3}, "tariff"),
        ({"breaker_state": True}, "breaker_state"),
        ({"timestamp": "01/03/2024 10:00"}, "timestamp"),
        ({"measured_at": "soon"}, "measured_at"),
        ({"serial": ""}, "serial"),
        ({"gas_at": 12}, "gas_at"),
    ],
)
def test_it_reports_a_bad_item_by_index_and_field_and_stores_nothing(alice_api, alice_meter, bad, field):
    batch = _day(ALICE_SERIAL, 5)
    batch[3].update(bad)

    response = alice_api.post(URL, {"readings": batch}, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(error["index"], error["field"]) for error in errors] == [(3, field)]
    assert errors[0]["message"]
    assert not Reading.objects.exists()


def test_it_lists_every_bad_item_at_once(alice_api, alice_meter):
    batch = _day(ALICE_SERIAL, 6)
    batch[1].pop("export_t2_kwh")
    batch[4]["import_t1_kwh"] = "-1"
    batch[4]["tariff"] = 0
    batch[5] = "not an object"

    response = alice_api.post(URL, {"readings": batch}, format="json")

    assert response.status_code == 400
    found = {(error["index"], error["field"]) for error in response.json()["errors"]}
    assert found == {(1, "export_t2_kwh"), (4, "import_t1_kwh"), (4, "tariff"), (5, "non_field_errors")}
    assert not Reading.objects.exists()


def test_it_refuses_readings_from_the_future(alice, alice_meter):
    with time_machine.travel(NOW, tick=False):
        alice_api = jwt_client(alice)
        batch = [
            reading_item(ALICE_SERIAL, (NOW + timedelta(hours=1)).isoformat()),
            reading_item(ALICE_SERIAL, (NOW + timedelta(days=2)).isoformat()),
        ]
        response = alice_api.post(URL, {"readings": batch}, format="json")
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "timestamp")]
    assert not Reading.objects.exists()


@pytest.mark.parametrize("body", ['{"items": []}', "[]", '"readings"', '{"readings": {"a": 1}}'])
def test_it_explains_a_wrong_envelope(alice_api, body):
    response = alice_api.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "readings" in response.json()["detail"]


def test_it_rejects_malformed_json_and_nan(alice_api):
    assert alice_api.post(URL, '{"readings": [', content_type="application/json").status_code == 400
    nan = '{"readings": [{"serial": "1SAG1", "import_t1_kwh": NaN}]}'
    assert alice_api.post(URL, nan, content_type="application/json").status_code == 400


def test_it_accepts_json_only(alice_api):
    response = alice_api.post(URL, "readings=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_it_requires_a_token(anon_api, alice_meter):
    response = anon_api.post(URL, {"readings": _day(ALICE_SERIAL, 2)}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Reading.objects.exists()


def test_it_refuses_an_expired_token(alice, anon_api, alice_meter):
    with time_machine.travel(NOW, tick=False) as clock:
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(alice)}")
        clock.shift(timedelta(minutes=6))
        response = anon_api.post(URL, {"readings": _day(ALICE_SERIAL, 2)}, format="json")
    assert response.status_code == 401
    assert not Reading.objects.exists()


def test_it_refuses_bob_writing_for_alices_meter_and_stores_none_of_his_batch(bob_api, alice_meter):
    batch = _day("1SAG9900000001", 2) + _day(ALICE_SERIAL, 1)
    response = bob_api.post(URL, {"readings": batch}, format="json")

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(2, "serial")]
    assert not Reading.objects.exists()
    assert not Meter.objects.filter(serial="1SAG9900000001").exists()


def test_it_registers_unknown_serials_to_the_sender(bob_api, bob):
    response = bob_api.post(URL, {"readings": _day("1SAG9900000001", 3)}, format="json")
    assert response.json() == {"created": 3, "duplicates": 0, "registered_serials": ["1SAG9900000001"]}
    assert Meter.objects.get(serial="1SAG9900000001").owner == bob


def test_it_takes_the_households_upload_after_another_account_typed_its_serial_on_the_website(
    alice, bob, alice_api, staff_api, client
):
    # Serial squatting (issue 12): before, bob's typed serial reserved the meter, the operator's upload landed in
    # bob's account and the household's own device got 400.
    client.force_login(bob)
    assert client.post("/serialNumbers/", {"serialNumber": "1SAG9900000003", "name": "Squat"}).status_code == 302

    operator = staff_api.post(URL, {"readings": _day("1SAG9900000003", 1)}, format="json")
    assert operator.status_code == 200
    assert Meter.objects.get(serial="1SAG9900000003").owner is None

    Meter.objects.filter(serial="1SAG9900000003").delete()  # and again without the operator's data
    device = alice_api.post(URL, {"readings": _day("1SAG9900000003", 2)}, format="json")

    assert device.status_code == 200, device.content
    assert device.json() == {"created": 2, "duplicates": 0, "registered_serials": ["1SAG9900000003"]}
    assert Meter.objects.get(serial="1SAG9900000003").owner == alice
    assert "now registered to another account" in client.get("/serialNumbers/").content.decode()


def test_it_lets_staff_write_any_serial_without_taking_it_over(staff_api, alice, alice_meter):
    response = staff_api.post(URL, {"readings": _day(ALICE_SERIAL, 2) + _day("1SAG9900000002", 1)}, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == 3
    assert Meter.objects.get(serial=ALICE_SERIAL).owner == alice
    assert Meter.objects.get(serial="1SAG9900000002").owner is None


def test_it_refuses_more_items_than_the_batch_limit(alice_api, alice_meter, settings):
    settings.INGEST_MAX_BATCH = 10
    assert alice_api.post(URL, {"readings": _day(ALICE_SERIAL, 10)}, format="json").status_code == 200
    too_many = _day(ALICE_SERIAL, 11, datetime(2024, 4, 1, tzinfo=UTC))
    response = alice_api.post(URL, {"readings": too_many}, format="json")
    assert response.status_code == 413
    assert "10" in response.json()["detail"]
    assert Reading.objects.count() == 10


def test_it_refuses_a_body_over_the_size_limit_before_parsing_it(alice_api, alice_meter, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = json.dumps({"readings": _day(ALICE_SERIAL, 8)})
    assert len(body) > 2048
    response = alice_api.post(URL, body, content_type="application/json")
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]
    assert not Reading.objects.exists()

    # The same limit guards the prototype endpoint.
    padded = {"tijdstip": "20240301101500", "padding": "x" * 3000}
    assert alice_api.post("/api-auth/setData", padded, format="json").status_code == 413


def test_it_throttles_ingest_per_user_with_retry_after(alice_api, bob_api, alice_meter, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": "2/min"},
    }
    batches = [_day(ALICE_SERIAL, 1, datetime(2024, 3, day, tzinfo=UTC)) for day in (1, 2, 3)]
    statuses = [alice_api.post(URL, {"readings": batch}, format="json").status_code for batch in batches]
    assert statuses == [200, 200, 429]
    throttled = alice_api.post("/api-auth/setData", {}, format="json")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert Reading.objects.count() == 2

    # Another account has its own budget.
    assert bob_api.post(URL, {"readings": _day("1SAG9900000003", 1)}, format="json").status_code == 200


def test_it_answers_400_by_index_and_field_for_times_beyond_the_calendar_and_odd_numbers(alice_api, alice_meter):
    """Each of these was a 500 (OverflowError) or was stored as if it were a plain number."""
    batch = _day(ALICE_SERIAL, 6)
    batch[0]["timestamp"] = "9999-12-31T23:59:59-23:59"
    batch[1]["timestamp"] = "0001-01-01T00:00:00"
    batch[2]["gas_at"] = "0001-01-01T00:00:00+01:00"
    batch[3]["import_t1_kwh"] = "\uff11\uff12\uff13"  # full-width 123
    batch[4]["power_import_kw"] = "1_000"
    batch[5]["l1_voltage_v"] = "-0"

    response = alice_api.post(URL, {"readings": batch}, format="json")

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "timestamp"),
        (1, "timestamp"),
        (2, "gas_at"),
        (3, "import_t1_kwh"),
        (4, "power_import_kw"),
        (5, "l1_voltage_v"),
    ]
    assert not Reading.objects.exists()
