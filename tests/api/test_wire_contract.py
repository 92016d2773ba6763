"""The wire contract (``p1edge.wire``) holds on both sides: what the Pi's parser and spool produce, the server
stores; what the server answers for a bad item, the Pi's uploader pins to the right item."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import resolve
from p1edge import wire
from p1edge.crc import build_telegram
from p1edge.records import decode_record, encode_record
from p1edge.telegram import parse_telegram

from api import views
from meters.models import Reading
from tests.api.conftest import NOW
from tests.edge.telegrams import SERIAL, base_lines
from tests.factories import reading_item

pytestmark = pytest.mark.django_db


def _spooled_item(clock: str = "240301120003W") -> dict:
    """A reading as the uploader posts it: a real telegram parsed, slotted and read back from its spool line."""
    reading = parse_telegram(build_telegram(base_lines(clock=clock)))
    reading["timestamp"] = wire.slot_start(reading["measured_at"])
    return decode_record(encode_record(reading))


def test_it_stores_every_field_the_pi_sends_under_the_same_name(alice, alice_api):
    item = _spooled_item()

    response = alice_api.post(wire.READINGS_PATH, {"readings": [item]}, format="json")

    assert response.status_code == 200, response.content
    stored = Reading.objects.get(meter__serial=SERIAL)
    assert stored.timestamp == datetime(2024, 3, 1, 11, 0, tzinfo=UTC)  # 12:00:03 winter time, its slot start
    sent = {name: item[name] for name in wire.READING_FIELDS if item.get(name) is not None}
    assert set(sent) >= set(wire.REQUIRED_FIELDS)
    for name, value in sent.items():
        kept = getattr(stored, name)
        if name in wire.DATETIME_FIELDS:
            assert kept == datetime.fromisoformat(value), name
        elif name in wire.INT_FIELDS:
            assert kept == value, name
        else:
            assert kept == Decimal(value), name


def test_it_answers_a_bad_item_in_the_shape_the_uploader_pins_to_that_item(alice, alice_api):
    good = _spooled_item("240301120003W")
    bad = _spooled_item("240301121503W")
    del bad[wire.REQUIRED_FIELDS[0]]
    bad["tariff"] = 3

    response = alice_api.post(wire.READINGS_PATH, {"readings": [good, bad]}, format="json")

    assert response.status_code == 400
    pinned = wire.item_errors(response.json(), count=2)
    assert set(pinned) == {1}
    assert {error["field"] for error in pinned[1]} == {wire.REQUIRED_FIELDS[0], "tariff"}
    assert all(error["message"] for error in pinned[1])
    assert not Reading.objects.exists()


def test_it_refuses_each_required_field_missing_and_accepts_each_optional_one_missing(alice, alice_api):
    start = NOW - timedelta(days=1)
    for n, name in enumerate(wire.READING_FIELDS):
        item = reading_item("1SAG1100000292", (start + timedelta(minutes=15 * n)).isoformat())
        item.pop(name, None)
        body = alice_api.post(wire.READINGS_PATH, {"readings": [item]}, format="json")
        if name in wire.REQUIRED_FIELDS:
            pinned = wire.item_errors(body.json(), 1)
            assert [error["field"] for error in pinned[0]] == [name]
        else:
            assert body.status_code == 200, (name, body.content)


def test_it_refuses_the_times_the_parser_calls_no_value_and_the_integers_no_meter_sends(alice, alice_api):
    before = (wire.EARLIEST_READING - timedelta(seconds=1)).isoformat()
    items = [
        reading_item("1SAG1100000292", before),
        reading_item("1SAG1100000292", NOW.isoformat(), gas_at=before, gas_m3="1.000"),
        *(
            reading_item("1SAG1100000292", (NOW + timedelta(minutes=15 * (2 + value))).isoformat(), **{name: value})
            for name, allowed in wire.INT_VALUES.items()
            for value in (max(allowed) + 1,)
        ),
    ]

    body = alice_api.post(wire.READINGS_PATH, {"readings": items}, format="json").json()

    pinned = wire.item_errors(body, len(items))
    assert {(i, e["field"]) for i, errors in pinned.items() for e in errors} == {
        (0, "timestamp"),
        (1, "gas_at"),
        *((2 + k, name) for k, name in enumerate(wire.INT_VALUES)),
    }


def test_it_serves_the_paths_the_uploader_calls():
    assert resolve(wire.READINGS_PATH).func is views.post_readings
    assert resolve(wire.TOKEN_PATH).func.view_class is views.TokenObtainPairView
    assert resolve(wire.TOKEN_REFRESH_PATH).func.view_class is views.TokenRefreshView


def test_it_pins_nothing_when_an_error_names_no_item_of_the_batch():
    assert wire.item_errors({"detail": "Expected a JSON object"}, 2) == {}
    assert wire.item_errors(wire.error_body([(0, "serial", "x"), (5, "serial", "y")]), 2) == {}
    assert wire.item_errors(json.loads("[1, 2]"), 2) == {}
