"""Claiming an unclaimed meter that already has data: proof by its day register, rate-limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meters.ingest import ingest_readings
from meters.models import ClaimAttempt, Meter, PendingMeter
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


def test_it_leaves_an_unclaimed_meter_without_data_to_the_first_upload_of_a_device(bob_client, bob, alice):
    # Typing a serial proves nothing: the meter goes to the account whose device uploads first (issue 12).
    Meter.objects.create(serial=SERIAL)

    response = _claim(bob_client)

    assert response.status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner is None
    assert PendingMeter.objects.filter(user=bob, serial=SERIAL).exists()

    ingest_readings(alice, [reading_item(SERIAL, NOW - timedelta(minutes=15))])

    assert Meter.objects.get(serial=SERIAL).owner == alice


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


# --- limits across accounts and addresses (issue 12: 470 accounts took a released meter by guessing) ---------


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Many accounts are built here; password hashing strength is the users suite's concern."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _account(django_user_model, n: int):
    return django_user_model.objects.create_user(f"guesser{n}", f"guesser{n}@example.org", "x-guess-password-9")


def _client_for(user, address: str):
    from django.test import Client

    client = Client(REMOTE_ADDR=address)
    client.force_login(user)
    return client


def test_it_limits_wrong_proofs_per_meter_across_accounts_and_addresses(
    django_user_model, bob, unclaimed_meter_with_data, time_machine
):
    for n in range(10):
        time_machine.move_to(NOW + timedelta(minutes=n), tick=False)
        client = _client_for(_account(django_user_model, n), f"198.51.100.{n + 1}")
        assert "does not match" in _claim(client, "1").content.decode()

    time_machine.move_to(NOW + timedelta(hours=2), tick=False)
    response = _claim(_client_for(bob, "203.0.113.9"), "1000.000")

    page = response.content.decode()
    assert "Too many wrong register entries for this meter" in page
    # The first wrong attempt (13:00 Brussels time) leaves the 24-hour window a day later.
    assert "Try again after 21 Nov 2026 13:00" in page
    assert Meter.objects.get(serial=SERIAL).owner is None
    assert ClaimAttempt.objects.filter(serial=SERIAL, succeeded=False).count() == 10

    time_machine.move_to(NOW + timedelta(days=1, minutes=1), tick=False)
    assert _claim(_client_for(bob, "203.0.113.9"), "1000.000").status_code == 302
    assert Meter.objects.get(serial=SERIAL).owner == bob


def test_it_limits_wrong_proofs_per_address_across_accounts(
    django_user_model, bob, unclaimed_meter_with_data, settings
):
    settings.CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR = 3
    for n in range(3):
        _claim(_client_for(_account(django_user_model, n), "198.51.100.7"), "1")

    refused = _claim(_client_for(bob, "198.51.100.7"), "1000.000").content.decode()
    assert "Too many wrong register entries from your network" in refused
    assert "Try again after 20 Nov 2026 14:00" in refused
    assert Meter.objects.get(serial=SERIAL).owner is None

    assert _claim(_client_for(bob, "203.0.113.9"), "1000.000").status_code == 302


def test_it_counts_the_ipv6_network_of_a_client_not_its_single_address(
    django_user_model, bob, unclaimed_meter_with_data, settings
):
    # An IPv6 household or host has a whole /64 to pick addresses from.
    settings.CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR = 2
    for n in range(2):
        _claim(_client_for(_account(django_user_model, n), f"2001:db8:1:2::{n + 1}"), "1")

    refused = _claim(_client_for(bob, "2001:db8:1:2:ffff::77"), "1000.000").content.decode()

    assert "from your network" in refused
    assert Meter.objects.get(serial=SERIAL).owner is None


def test_it_says_which_limit_and_when_the_account_may_try_again(bob_client, unclaimed_meter_with_data, time_machine):
    for n in range(5):
        time_machine.move_to(NOW + timedelta(minutes=5 * n), tick=False)
        _claim(bob_client, "1")

    page = _claim(bob_client, "1000.000").content.decode()

    assert "Too many wrong attempts from your account" in page
    assert "Try again after 20 Nov 2026 14:00" in page  # first attempt at 13:00 Brussels time, plus an hour


def test_it_refuses_an_attempt_over_the_limit_without_recording_it(bob, bob_client, unclaimed_meter_with_data):
    for _ in range(8):
        _claim(bob_client, "1")

    assert ClaimAttempt.objects.filter(user=bob).count() == 5


def test_it_records_the_client_address_of_each_attempt(bob, unclaimed_meter_with_data):
    _claim(_client_for(bob, "2001:db8:1:2::99"), "1")
    _claim(_client_for(bob, "198.51.100.7"), "1")

    assert sorted(ClaimAttempt.objects.values_list("address", flat=True)) == ["198.51.100.7", "2001:db8:1:2::/64"]


def _post_at_once(clients, register: str) -> list[int]:
    """Each client posts its proof in its own thread, all released together; returns the status codes."""
    import threading

    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "in-memory SQLite shares one cache between threads and raises 'table is locked' instead of waiting, "
            "so parallel requests cannot run on it; this race runs on PostgreSQL (make test-postgres)"
        )

    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post(client):
        try:
            barrier.wait()
            statuses.append(_claim(client, register).status_code)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


@pytest.mark.django_db(transaction=True)
def test_it_records_no_more_than_the_account_limit_when_wrong_proofs_arrive_at_once(bob, unclaimed_meter_with_data):
    clients = [_client_for(bob, f"198.51.100.{n + 1}") for n in range(30)]

    statuses = _post_at_once(clients, "1")

    # Before the fix 60 parallel wrong proofs recorded 7 against a limit of 5. Refused tries answer 429.
    recorded = ClaimAttempt.objects.filter(user=bob).count()
    assert recorded <= 5
    assert sorted(statuses) == [200] * recorded + [429] * (30 - recorded)
    assert Meter.objects.get(serial=SERIAL).owner is None


@pytest.mark.django_db(transaction=True)
def test_it_records_no_more_than_the_meter_limit_when_many_accounts_guess_at_once(
    django_user_model, unclaimed_meter_with_data
):
    clients = [_client_for(_account(django_user_model, n), f"198.51.100.{n + 1}") for n in range(30)]

    statuses = _post_at_once(clients, "1")

    recorded = ClaimAttempt.objects.filter(serial=SERIAL).count()
    assert recorded <= 10
    assert sorted(statuses) == [200] * recorded + [429] * (30 - recorded)
    assert Meter.objects.get(serial=SERIAL).owner is None
