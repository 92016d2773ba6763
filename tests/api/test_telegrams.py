"""POST /api/v1/telegrams: raw P1 telegrams parsed with the edge's parser; the first of each quarter-hour kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from p1edge.crc import seal
from p1edge.framing import MAX_TELEGRAM_CHARS

from meters.models import Meter, Reading
from tests.api.conftest import make_telegram
from tests.edge.test_telegram_fuzz import PROGRAM, mutate

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


# --- hardening (issue 12): malformed lines, garbage, oversized frames ---------------------------------------


def _with_line(telegram: str, old: str | None, new: str) -> str:
    """``telegram`` with the line starting with ``old`` replaced by ``new`` (appended if None), resealed."""
    body = telegram[: telegram.rindex("!")]
    lines = body.split("\r\n")
    if old is None:
        lines.insert(-1, new)
    else:
        lines = [new if line.startswith(old) else line for line in lines]
    return seal("\r\n".join(lines))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (None, "0-0:98.1.0(12)(1-0:1.6.0)(1-0:1.6.0)"),
        (None, "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(240201000000W)(240115183000W)(06.100*kW)"),
        ("1-0:32.7.0", "1-0:32.7.0(*V)"),
    ],
)
def test_it_stores_a_telegram_whose_optional_line_is_malformed_without_that_field(alice_api, alice_meter, old, new):
    response = _post(alice_api, _with_line(make_telegram("240301101500W"), old, new))

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    reading = Reading.objects.get(meter=alice_meter)
    assert reading.import_t1_kwh == Decimal("12345.678")
    assert reading.l1_voltage_v is None if old else reading.l1_voltage_v == Decimal("231.4")


def test_it_answers_400_for_a_telegram_whose_required_register_is_malformed(alice_api, alice_meter):
    text = make_telegram("240301101500W") + _with_line(make_telegram("240301103000W"), "1-0:1.8.1", "1-0:1.8.1(*kWh)")

    response = _post(alice_api, text)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, "telegram")
    assert error["message"].startswith("bad required field 1-0:1.8.1: ")
    assert not Reading.objects.exists()


def test_it_shows_a_crc_mismatch_in_hex(alice_api, alice_meter):
    good = make_telegram("240301101500W")
    said = int(good[-6:-2], 16)
    response = _post(alice_api, good[:-6] + f"{said ^ 1:04X}\r\n")
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert message == f"CRC mismatch: telegram says 0x{said ^ 1:04X}, computed 0x{said:04X}"


def test_it_accepts_a_crc_line_ending_in_a_bare_lf(alice_api, alice_meter):
    response = _post(alice_api, make_telegram("240301101500W")[:-2] + "\n")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1


@pytest.mark.parametrize("garbage", ["/", "\x00/~!"])
def test_it_finds_the_telegram_after_4_mb_of_garbage(alice_api, alice_meter, garbage):
    body = garbage * (4 * 1024 * 1024 // len(garbage)) + make_telegram("240301101500W")
    response = _post(alice_api, body)
    assert response.status_code == 200, response.content
    assert response.json()["telegrams"] == 1


def test_it_answers_400_for_4_mb_of_slashes(alice_api, alice_meter):
    response = _post(alice_api, "/" * (4 * 1024 * 1024))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "telegram"


def test_it_says_why_an_oversized_frame_found_no_telegram(alice_api, alice_meter):
    huge = _with_line(make_telegram("240301101500W"), None, "0-0:96.13.0(" + "41" * 9000 + ")")
    response = _post(alice_api, huge)
    assert response.status_code == 400
    assert f"frame over {MAX_TELEGRAM_CHARS} bytes" in response.json()["errors"][0]["message"]


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=PROGRAM)
def test_it_never_answers_500_for_a_crc_valid_mutated_telegram(alice_api, alice_meter, program):
    text = mutate(make_telegram("240301101500W"), program)
    # UTF-8 on the wire so that every mutation (\xff included) reaches the parser, not the charset check
    response = alice_api.generic("POST", URL, text.encode("utf-8"), content_type="text/plain; charset=utf-8")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["errors"], response.content
