"""POST /api/v1/telegrams: raw P1 telegrams parsed with the edge's parser; the first of each quarter-hour kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meters.models import Meter, Reading
from tests.api.conftest import make_telegram

pytestmark = pytest.mark.django_db
URL = "/api/v1/telegrams"


def _post(client, text: str):
    return client.generic("POST", URL, text.encode("latin-1"), content_type="text/plain")


def test_it_keeps_the_first_telegram_of_each_quarter_hour(alice_api, alice_meter):
    # 10:14:59 belongs to the previous quarter; the :15:00 telegram was lost, so :15:01 opens the slot.
    text = "".join(
        [
            make_telegram("240301101459W", import_t1="012345.100"),
            make_telegram("240301101501W", import_t1="012345.200"),
            make_telegram("240301101502W", import_t1="012345.300"),
            make_telegram("240301103000W", import_t1="012345.400"),
        ]
    )

    response = _post(alice_api, text)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 3,
        "duplicates": 0,
        "registered_serials": [],
        "telegrams": 4,
        "readings": 3,
    }
    stored = {r.timestamp: r for r in Reading.objects.filter(meter=alice_meter)}
    slot = datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert sorted(stored) == [datetime(2024, 3, 1, 9, 0, tzinfo=UTC), slot, datetime(2024, 3, 1, 9, 30, tzinfo=UTC)]
    assert stored[slot].import_t1_kwh == Decimal("12345.200")
    assert stored[slot].measured_at == datetime(2024, 3, 1, 9, 15, 1, tzinfo=UTC)
    assert stored[slot].month_peak_kw == Decimal("2.345")
    assert stored[slot].l2_voltage_v == Decimal("0.0")


def test_it_counts_a_resent_telegram_as_duplicate(alice_api, alice_meter):
    text = make_telegram("240301101500W")
    assert _post(alice_api, text).json()["created"] == 1
    assert _post(alice_api, text).json()["duplicates"] == 1
    assert Reading.objects.count() == 1


def test_it_accepts_telegrams_whose_crlf_became_lf(alice_api, alice_meter):
    response = _post(alice_api, make_telegram("240301101500W").replace("\r\n", "\n"))
    assert response.status_code == 200
    assert response.json()["created"] == 1


def test_it_reports_a_bad_crc_by_position_and_stores_nothing(alice_api, alice_meter):
    text = "".join(
        [
            make_telegram("240301101500W"),
            make_telegram("240301103000W", corrupt=True),
            make_telegram("240301104500W"),
        ]
    )

    response = _post(alice_api, text)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(error["index"], error["field"]) for error in errors] == [(1, "telegram")]
    assert "CRC" in errors[0]["message"]
    assert not Reading.objects.exists()


def test_it_reports_a_telegram_without_equipment_id(alice_api, alice_meter):
    text = make_telegram("240301101500W") + make_telegram("240301103000W", serial=None)
    response = _post(alice_api, text)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "telegram")]
    assert "equipment id" in response.json()["errors"][0]["message"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize("text", ["", "hello", "1-0:1.8.1(000001.000*kWh)\r\n"])
def test_it_rejects_a_body_without_a_telegram(alice_api, text):
    response = _post(alice_api, text)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "telegram"


def test_it_maps_a_refused_serial_back_to_its_telegram(bob_api, alice_meter):
    text = make_telegram("240301101500W", serial="1SAG9900000001") + make_telegram("240301101500W")
    response = _post(bob_api, text)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "serial")]
    assert not Reading.objects.exists()


def test_it_registers_the_meter_of_an_unknown_telegram(bob_api, bob):
    response = _post(bob_api, make_telegram("240301101500W", serial="1SAG9900000001"))
    assert response.json()["registered_serials"] == ["1SAG9900000001"]
    assert Meter.objects.get(serial="1SAG9900000001").owner == bob


def test_it_requires_a_token(anon_api, alice_meter):
    assert _post(anon_api, make_telegram("240301101500W")).status_code == 401
    assert not Reading.objects.exists()


def test_it_wants_text_plain(alice_api):
    response = alice_api.post(URL, {"telegram": make_telegram("240301101500W")}, format="json")
    assert response.status_code == 415


def test_it_refuses_a_body_over_the_size_limit(alice_api, alice_meter, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024
    response = _post(alice_api, make_telegram("240301101500W") * 2)
    assert response.status_code == 413
    assert not Reading.objects.exists()


def test_it_refuses_more_quarter_hours_than_the_batch_limit(alice_api, alice_meter, settings):
    settings.INGEST_MAX_BATCH = 2
    text = "".join(make_telegram(f"2403011{hour}0000W") for hour in (0, 1, 2))
    response = _post(alice_api, text)
    assert response.status_code == 413
    assert "limit is 2" in response.json()["detail"]
    assert not Reading.objects.exists()
