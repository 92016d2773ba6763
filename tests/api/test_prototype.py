"""The prototype's /api-auth/setData and /api-auth/getData/<id>: its JSON keeps working, nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meters.models import Meter, Reading
from tests.api.conftest import ALICE_SERIAL, prototype_reading

pytestmark = pytest.mark.django_db


def test_it_stores_the_prototype_json_as_its_reader_produced_it(alice_api, alice_meter):
    response = alice_api.post("/api-auth/setData", prototype_reading(), format="json")

    assert response.status_code == 201, response.content
    reading = Reading.objects.get(meter=alice_meter)
    assert response.json() == {"id": reading.pk, "created": True, "duplicate": False}
    # 10:15:00 in Brussels winter time is 09:15 UTC.
    assert reading.timestamp == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert reading.import_t1_kwh == Decimal("12345.678")
    assert reading.import_t2_kwh == Decimal("9876.543")
    assert reading.export_t1_kwh == Decimal("1234.500")
    assert reading.tariff == 1
    assert reading.breaker_state == 1
    assert reading.l1_import_kw == Decimal("0.123")
    assert reading.l3_voltage_v == Decimal("229.9")
    assert reading.l2_current_a == Decimal("2.00")
    # "Gas consumption" is not a field of the prototype's API: ignored, not invented into gas_m3.
    assert reading.gas_m3 is None


@pytest.mark.parametrize(
    "tijdstip",
    ["2024-03-01 10:15:00", "20240301101500", "2024-03-01T10:15:00+01:00", "2024-03-01T09:15:00Z"],
)
def test_it_reads_tijdstip_in_every_documented_form(alice_api, alice_meter, tijdstip):
    response = alice_api.post("/api-auth/setData", prototype_reading(tijdstip=tijdstip), format="json")
    assert response.status_code == 201
    assert Reading.objects.get().timestamp == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)


def test_it_reads_summer_time_tijdstip_as_brussels_local_time(alice_api, alice_meter):
    alice_api.post("/api-auth/setData", prototype_reading(tijdstip="20240701101500"), format="json")
    assert Reading.objects.get().timestamp == datetime(2024, 7, 1, 8, 15, tzinfo=UTC)


@pytest.mark.parametrize(("tijdstip", "utc_hour"), [("20231029023000S", 0), ("20231029023000W", 1)])
def test_it_tells_the_repeated_autumn_hour_apart_by_the_meters_letter(alice_api, alice_meter, tijdstip, utc_hour):
    assert alice_api.post("/api-auth/setData", prototype_reading(tijdstip=tijdstip), format="json").status_code == 201
    assert Reading.objects.get().timestamp == datetime(2023, 10, 29, utc_hour, 30, tzinfo=UTC)


def test_it_accepts_json_numbers_too(alice_api, alice_meter):
    data = prototype_reading(switch=1, currentrate=2, totaldayconsumption=12345.678, l1current=1.5)
    assert alice_api.post("/api-auth/setData", data, format="json").status_code == 201
    reading = Reading.objects.get()
    assert (reading.tariff, reading.import_t1_kwh, reading.l1_current_a) == (2, Decimal("12345.678"), Decimal("1.50"))


def test_it_answers_a_replayed_reading_as_duplicate(alice_api, alice_meter):
    first = alice_api.post("/api-auth/setData", prototype_reading(), format="json")
    # The device resends after a crash, with a later second within the same quarter-hour.
    replay = alice_api.post("/api-auth/setData", prototype_reading(tijdstip="20240301101501"), format="json")

    assert replay.status_code == 200
    assert replay.json() == {"id": first.json()["id"], "created": False, "duplicate": True}
    assert Reading.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"totaldayconsumption": None}, "totaldayconsumption"),
        ({"currentconsumption": "abc"}, "currentconsumption"),
        ({"l1voltage": "-1"}, "l1voltage"),
        ({"currentrate": "0003"}, "currentrate"),
        ({"switch": "7.0"}, "switch"),
        ({"tijdstip": "yesterday"}, "tijdstip"),
        ({"serialmeter": "bad serial!"}, "serialmeter"),
        # A valid compact clock whose UTC time falls before the year 1 (it was an OverflowError, a 500).
        ({"tijdstip": "00010101000000"}, "tijdstip"),
        ({"tijdstip": "00010101000000S"}, "tijdstip"),
        ({"tijdstip": "99991231235959"}, "tijdstip"),
        # What Decimal() reads but no meter writes: full-width digits, digit-group underscores, a negative zero.
        ({"currentrate": "\uff10\uff10\uff10\uff11"}, "currentrate"),
        ({"switch": "0_1"}, "switch"),
        ({"switch": "-0"}, "switch"),
        ({"switch": "-0.0"}, "switch"),
        ({"totaldayconsumption": "\uff11\uff12\uff13\uff14\uff15.\uff16\uff17\uff18"}, "totaldayconsumption"),
        ({"l1current": "1_0"}, "l1current"),
        ({"currentproduction": "-0.0"}, "currentproduction"),
    ],
)
def test_it_names_the_prototype_field_of_an_invalid_value(alice_api, alice_meter, overrides, field):
    response = alice_api.post("/api-auth/setData", prototype_reading(**overrides), format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(error["index"], error["field"]) for error in errors] == [(0, field)]
    assert errors[0]["message"]
    assert not Reading.objects.exists()


def test_it_reports_every_missing_prototype_field(alice_api):
    response = alice_api.post("/api-auth/setData", {"Gas consumption": "1.0"}, format="json")
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"tijdstip", "serialmeter", "totaldayconsumption", "currentproduction"} <= fields


def test_it_rejects_a_body_that_is_not_one_object(alice_api):
    response = alice_api.post("/api-auth/setData", [prototype_reading()], format="json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_it_requires_a_token(anon_api, alice_meter):
    response = anon_api.post("/api-auth/setData", prototype_reading(), format="json")
    assert response.status_code == 401
    assert not Reading.objects.exists()


def test_it_refuses_bob_writing_for_alices_meter(bob_api, alice_meter):
    response = bob_api.post("/api-auth/setData", prototype_reading(), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "serialmeter"
    assert not Reading.objects.exists()


def test_it_lets_the_operator_account_write_any_serial(staff_api, alice_meter):
    """The prototype's Pi posted with an admin account; such devices keep working."""
    response = staff_api.post("/api-auth/setData", prototype_reading(), format="json")
    assert response.status_code == 201
    assert Reading.objects.get().meter == alice_meter
    alice_meter.refresh_from_db()
    assert alice_meter.owner.username == "alice"


def test_it_registers_an_unknown_serial_to_the_sender(bob_api, bob):
    response = bob_api.post("/api-auth/setData", prototype_reading(serialmeter="1SAG3100716957"), format="json")
    assert response.status_code == 201
    assert Meter.objects.get(serial="1SAG3100716957").owner == bob


# --- getData ----------------------------------------------------------------------------------------


def _stored_id(client) -> int:
    response = client.post("/api-auth/setData", prototype_reading(), format="json")
    assert response.status_code == 201
    return response.json()["id"]


def test_it_returns_a_reading_in_the_prototype_field_names(alice_api, alice_meter):
    reading_id = _stored_id(alice_api)

    response = alice_api.get(f"/api-auth/getData/{reading_id}")

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == reading_id
    assert data["serialmeter"] == ALICE_SERIAL
    assert data["tijdstip"] == "2024-03-01T10:15:00+01:00"
    assert data["totaldayconsumption"] == 12345.678
    assert data["currentrate"] == 1
    assert data["switch"] == 1
    assert data["l2voltage"] == 0.0
    assert "Gas consumption" not in data


def test_it_hides_alices_reading_from_bob(alice_api, bob_api, alice_meter):
    reading_id = _stored_id(alice_api)
    assert bob_api.get(f"/api-auth/getData/{reading_id}").status_code == 404


def test_it_shows_any_reading_to_staff(alice_api, staff_api, alice_meter):
    reading_id = _stored_id(alice_api)
    assert staff_api.get(f"/api-auth/getData/{reading_id}").json()["serialmeter"] == ALICE_SERIAL


def test_it_requires_a_token_for_get_data(alice_api, anon_api, alice_meter):
    reading_id = _stored_id(alice_api)
    assert anon_api.get(f"/api-auth/getData/{reading_id}").status_code == 401


@pytest.mark.parametrize("reading_id", ["999999", "abc", "99999999999999999999999", "١٢"])
def test_it_answers_404_for_ids_that_do_not_exist(staff_api, reading_id):
    response = staff_api.get(f"/api-auth/getData/{reading_id}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_it_returns_the_reading_id_for_a_serial_sent_in_lower_case(alice_api, alice_meter):
    response = alice_api.post("/api-auth/setData", prototype_reading(serialmeter=ALICE_SERIAL.lower()), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["id"] == Reading.objects.get(meter=alice_meter).pk
