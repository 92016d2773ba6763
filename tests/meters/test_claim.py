"""Claiming an unclaimed meter that already has data: proof by its day register, rate-limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meters.models import ClaimAttempt, Meter
from meters.services import ingest_readings
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SERIAL = "1SAG3300000033"


@pytest.fixture
def unclaimed_meter_with_data(staff, time_machine):
    # Latest reading two days before NOW with day register 1000.000 kWh: accepted 999.000 .. 1060.000.
    time_machine.move_to(NOW - timedelta(days=2), tick=False)
    ingest_readings(staff, [reading_item(SERIAL, NOW - timedelta(days=2, hours=1), import_t1_kwh="990.000")])
    ingest_readings(staff, [reading_item(SERIAL, NOW - timedelta(days=2), import_t1_kwh="1000.000")])
    time_machine.move_to(NOW, tick=False)
    return Meter.objects.get(serial=SERIAL)


def _claim(client, register=None, serial=SERIAL):
    data = {"serialNumber": serial, "name": "Cellar"}
    if register is not None:
        data["register"] = register
    return client.post("/serialNumbers/", data)


def test_it_asks_for_the_day_register_before_claiming_a_meter_with_data(bob_client, unclaimed_meter_with_data):
    response = _claim(bob_client)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="register"' in page
    assert "1.8.1" in page
    assert Meter.objects.get(serial=SERIAL).owner is None


@pytest.mark.parametrize("register", ["999.000", "1000.000", "1042.5", "1060.000"])
def test_it_gives_the_meter_to_whoever_types_a_plausible_register(bob_client, bob, unclaimed_meter_with_data, register):
    response = _claim(bob_client, register)

    assert response.status_code == 302
    meter = Meter.objects.get(serial=SERIAL)
    assert (meter.owner, meter.name) == (bob, "Cellar")


@pytest.mark.parametrize("register", ["998.999", "990.000", "1060.001", "5000"])
def test_it_refuses_an_implausible_register_and_counts_the_attempt(
    bob_client, bob, unclaimed_meter_with_data, register
):
    response = _claim(bob_client, register)

    assert response.status_code == 200
    assert "does not match" in response.content.decode()
    assert "4 attempt(s) left" in response.content.decode()
    assert Meter.objects.get(serial=SERIAL).owner is None
    assert ClaimAttempt.objects.filter(user=bob, succeeded=False).count() == 1


def test_it_refuses_a_sixth_attempt_within_the_hour_even_with_the_right_value(
    bob_client, unclaimed_meter_with_data, time_machine
):
    for n in range(5):
        time_machine.move_to(NOW + timedelta(minutes=5 * n), tick=False)
        assert "does not match" in _claim(bob_client, "1").content.decode()

    time_machine.move_to(NOW + timedelta(minutes=30), tick=False)
    response = _claim(bob_client, "1000.000")

    assert "Too many wrong attempts" in response.content.decode()
    assert Meter.objects.get(serial=SERIAL).owner is None

    # An hour after the first wrong attempt one slot frees up again.
    time_machine.move_to(NOW + timedelta(minutes=61), tick=False)
    assert _claim(bob_client, "1000.000").status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner.username == "bob"


def test_it_counts_wrong_attempts_per_user(bob, alice, unclaimed_meter_with_data):
    from django.test import Client

    bob_client, alice_client = Client(), Client()
    bob_client.force_login(bob)
    alice_client.force_login(alice)
    for _ in range(5):
        _claim(bob_client, "1")

    assert _claim(alice_client, "1001").status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner == alice


def test_it_claims_an_unclaimed_meter_without_data_directly(bob_client, bob):
    Meter.objects.create(serial=SERIAL)

    response = _claim(bob_client)

    assert response.status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner == bob


NOT_A_NUMBER = "Day register 1.8.1 (kWh): enter a number such as 1019,100 or 1019.100."


@pytest.mark.parametrize("register", ["1019,100", "1019,1", " 999,000 ", "1060,000"])
def test_it_takes_the_day_register_with_a_decimal_comma(bob_client, bob, unclaimed_meter_with_data, register):
    response = _claim(bob_client, register)

    assert response.status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner == bob


def test_it_counts_a_wrong_register_typed_with_a_comma_like_one_typed_with_a_dot(bob_client, unclaimed_meter_with_data):
    response = _claim(bob_client, "1060,001")

    assert "does not match" in response.content.decode()
    assert Meter.objects.get(serial=SERIAL).owner is None


@pytest.mark.parametrize("register", ["abc", "1.019,100", "1019,100 kWh", "1e3", "NaN", "10,19,1"])
def test_it_refuses_a_register_that_is_not_a_number_without_using_an_attempt(
    bob_client, bob, unclaimed_meter_with_data, register
):
    response = _claim(bob_client, register)

    assert response.status_code == 200
    page = response.content.decode()
    assert NOT_A_NUMBER in page
    assert "attempt(s) left" not in page
    assert not ClaimAttempt.objects.filter(user=bob).exists()
    assert Meter.objects.get(serial=SERIAL).owner is None


def test_it_still_accepts_the_right_register_after_many_entries_that_were_not_numbers(
    bob_client, bob, unclaimed_meter_with_data
):
    for _ in range(6):
        assert NOT_A_NUMBER in _claim(bob_client, "one thousand").content.decode()

    response = _claim(bob_client, "1000,000")

    assert response.status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner == bob


def test_it_offers_a_register_input_a_phone_can_type_a_comma_into(bob_client, unclaimed_meter_with_data):
    page = _claim(bob_client).content.decode()

    # type=number would refuse "1019,100" in many browsers; a text input with the decimal keypad takes it.
    assert '<input type="text" name="register" inputmode="decimal"' in page


def test_it_finds_the_existing_meter_when_the_serial_is_typed_in_lower_case(bob_client, bob, unclaimed_meter_with_data):
    response = _claim(bob_client, "1000,000", serial=f"  {SERIAL.lower()} ")

    assert response.status_code == 302
    assert list(Meter.objects.values_list("serial", "owner")) == [(SERIAL, bob.pk)]
    assert ClaimAttempt.objects.get(user=bob).serial == SERIAL


def test_it_asks_for_the_register_when_the_serial_of_a_meter_with_data_is_typed_in_lower_case(
    bob_client, unclaimed_meter_with_data
):
    response = _claim(bob_client, serial=SERIAL.lower())

    assert "enter the day register 1.8.1" in response.content.decode()
    assert Meter.objects.count() == 1
    assert Meter.objects.get(serial=SERIAL).owner is None
