"""The meter pages under /serialNumbers/: list, add, rename, remove, delete with data; access control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from meters.ingest import ingest_readings
from meters.models import Meter, PendingMeter, Reading
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SERIAL = "1SAG1100000292"


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def alice_meter_with_data(alice, alice_meter):
    ingest_readings(alice, [reading_item(SERIAL, NOW - timedelta(minutes=15 * n)) for n in range(1, 4)])
    return alice_meter


def _paths(meter: Meter) -> dict[str, str]:
    return {
        "rename": f"/serialNumbers/updateMeterName/{meter.code}",
        "release": f"/serialNumbers/Delete/{meter.code}",
        "delete": f"/serialNumbers/DeleteWithData/{meter.code}",
    }


def test_it_lists_own_meters_with_reading_count_and_last_reading(alice_client, alice_meter_with_data, bob):
    Meter.objects.create(serial="1SAG5500000055", name="Bob's shed", owner=bob)

    response = alice_client.get("/serialNumbers/")

    assert response.status_code == 200
    page = response.content.decode()
    assert SERIAL in page
    assert "Home" in page
    assert ">3<" in page  # readings
    assert "20 Nov 2026 12:45" in page  # last slot 11:45 UTC shown in Brussels time
    assert "1SAG5500000055" not in page
    assert 'name="serialNumber"' in page
    assert 'name="name"' in page
    assert 'name="register"' not in page


def test_it_sends_visitors_who_are_not_logged_in_to_the_login_page(client, alice_meter):
    for path in ["/serialNumbers/", *_paths(alice_meter).values()]:
        response = client.post(path) if path != "/serialNumbers/" else client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next=/serialNumbers/"), path
    assert Meter.objects.get(pk=alice_meter.pk).owner is not None


def test_it_opens_the_day_dashboard_after_claiming_a_first_meter_with_data(alice_client, staff):
    ingest_readings(staff, [reading_item("1SAG2200000022", NOW - timedelta(minutes=15), import_t1_kwh="500.000")])

    response = alice_client.post(
        "/serialNumbers/", {"serialNumber": " 1SAG2200000022 ", "name": "Home", "register": "500"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/day/"
    meter = Meter.objects.get(serial="1SAG2200000022")
    assert (meter.name, meter.owner.username) == ("Home", "alice")


def test_it_keeps_a_first_serial_without_data_on_the_meters_page_as_waiting(alice_client, alice):
    # The dashboards would have nothing to show (and send the user back here), so the user stays on this page.
    response = alice_client.post("/serialNumbers/", {"serialNumber": " 1SAG2200000022 ", "name": "Home"}, follow=True)

    assert response.redirect_chain == [("/serialNumbers/", 302)]
    assert not Meter.objects.exists()
    assert list(PendingMeter.objects.values_list("user__username", "serial", "name")) == [
        ("alice", "1SAG2200000022", "Home")
    ]
    assert "waiting for the first reading from your device" in response.content.decode().lower()


def test_it_warns_when_an_added_meter_has_no_data_yet(alice_client, alice_meter):
    response = alice_client.post("/serialNumbers/", {"serialNumber": "1SAG2200000022", "name": "Garage"}, follow=True)

    assert response.redirect_chain[-1][0] == "/serialNumbers/"
    assert "added, but no data yet — check that the device is connected" in response.content.decode()


def test_it_refuses_a_meter_owned_by_another_account_without_naming_it(bob_client, alice_meter):
    response = bob_client.post("/serialNumbers/", {"serialNumber": SERIAL, "name": "Mine"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "registered to another account" in page
    assert "alice" not in page.lower()
    assert Meter.objects.get(serial=SERIAL).owner.username == "alice"


WHERE_THE_SERIAL_IS = "It is printed on the label on the front of your digital meter"


@pytest.mark.parametrize("serial", ["abc", "1SAG 11-00", "ABCDEFGHIJKLMN", "1SAG", "1" * 33, "1ßAG1100000292"])
def test_it_refuses_a_malformed_serial_and_says_where_the_number_is_printed(alice_client, serial):
    response = alice_client.post("/serialNumbers/", {"serialNumber": serial, "name": ""})

    assert response.status_code == 200
    page = response.content.decode()
    assert "This is not a meter serial number" in page
    assert "e.g. 1SAG1100000292: 5 to 32 letters and digits, with at least one digit" in page
    assert WHERE_THE_SERIAL_IS in page
    assert not Meter.objects.exists()


def test_it_stores_a_serial_typed_in_lower_case_in_capitals(alice_client):
    alice_client.post("/serialNumbers/", {"serialNumber": " 1sag3100000099 ", "name": "Home"})

    assert list(PendingMeter.objects.values_list("serial", flat=True)) == ["1SAG3100000099"]


def test_it_knows_my_meter_when_i_type_its_serial_in_lower_case(alice_client, alice_meter):
    response = alice_client.post("/serialNumbers/", {"serialNumber": SERIAL.lower(), "name": "Again"})

    assert "This meter is already in your list." in response.content.decode()
    assert Meter.objects.count() == 1


def test_it_refuses_another_accounts_meter_typed_in_lower_case(bob_client, alice_meter):
    response = bob_client.post("/serialNumbers/", {"serialNumber": SERIAL.lower(), "name": "Mine"})

    assert "registered to another account" in response.content.decode()
    assert list(Meter.objects.values_list("serial", "owner__username")) == [(SERIAL, "alice")]


def test_it_files_an_upload_in_lower_case_under_the_same_meter(alice_client, alice, alice_meter):
    ingest_readings(alice, [reading_item(SERIAL.lower(), NOW - timedelta(minutes=15))])

    page = alice_client.get("/serialNumbers/").content.decode()

    assert Meter.objects.count() == 1
    assert ">1<" in page  # readings of the one meter on the list
    assert SERIAL.lower() not in page


def test_it_renames_a_meter(alice_client, alice_meter):
    response = alice_client.post(_paths(alice_meter)["rename"], {"name": "  Attic  "})

    assert response.status_code == 302
    alice_meter.refresh_from_db()
    assert alice_meter.name == "Attic"


def test_it_links_remove_from_my_account_to_a_confirmation_page(alice_client, alice_meter):
    page = alice_client.get(reverse("meters:list")).content.decode()

    release = reverse("meters:release", args=[alice_meter.code])
    assert f'<a href="{release}" class="btn-secondary">Remove from my account</a>' in page
    assert f'action="{release}"' not in page  # one click on the list no longer removes the meter
    # No inline script: the site gets a strict CSP.
    assert "onclick" not in page
    assert "confirm(" not in page


def test_it_asks_before_removing_a_meter_from_the_account(alice_client, alice, alice_meter_with_data):
    release = reverse("meters:release", args=[alice_meter_with_data.code])

    response = alice_client.get(release)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Remove Home from your account?" in page
    assert "Its data is kept." in page
    assert "type the day register 1.8.1" in page  # it has data: getting it back takes proof
    assert f'<form method="post" action="{release}"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert f'<a href="{reverse("meters:list")}" class="link">Cancel, keep the meter</a>' in page
    assert Meter.objects.get(pk=alice_meter_with_data.pk).owner == alice


def test_it_removes_the_meter_once_confirmed_and_says_so(alice_client, alice_meter_with_data):
    release = reverse("meters:release", args=[alice_meter_with_data.code])
    alice_client.get(release)

    response = alice_client.post(release, follow=True)

    assert response.redirect_chain == [(reverse("meters:list"), 302)]
    assert "Meter Home removed from your account. Its data is kept" in response.content.decode()
    assert Meter.objects.get(pk=alice_meter_with_data.pk).owner is None


def test_it_shows_bob_no_confirmation_page_for_alices_meter(bob_client, alice_meter):
    response = bob_client.get(reverse("meters:release", args=[alice_meter.code]))

    assert response.status_code == 404
    assert "from your account?" not in response.content.decode()
    assert SERIAL not in response.content.decode()


def test_it_sends_a_visitor_who_opens_the_confirmation_page_to_the_login_page(client, alice_meter):
    release = reverse("meters:release", args=[alice_meter.code])

    response = client.get(release)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('users:login')}?next={release}"


def test_it_removes_a_meter_from_the_account_and_keeps_its_data(alice_client, alice_meter_with_data):
    response = alice_client.post(_paths(alice_meter_with_data)["release"])

    assert response.status_code == 302
    meter = Meter.objects.get(serial=SERIAL)
    assert meter.owner is None
    assert meter.readings.count() == 3


def test_it_deletes_a_meter_with_its_data_only_after_the_serial_is_typed(alice_client, alice_meter_with_data):
    path = _paths(alice_meter_with_data)["delete"]

    for wrong in ({}, {"confirm": "yes"}, {"confirm": "1SAG1100000293"}):
        response = alice_client.post(path, wrong, follow=True)
        assert "Nothing was deleted" in response.content.decode()
        assert Reading.objects.count() == 3

    response = alice_client.post(path, {"confirm": SERIAL})

    assert response.status_code == 302
    assert not Meter.objects.filter(serial=SERIAL).exists()
    assert Reading.objects.count() == 0


@pytest.mark.parametrize("action", ["rename", "release", "delete"])
def test_it_answers_404_when_bob_acts_on_alices_meter(bob_client, alice_meter_with_data, action):
    response = bob_client.post(_paths(alice_meter_with_data)[action], {"name": "pwned", "confirm": SERIAL})

    assert response.status_code == 404
    meter = Meter.objects.get(serial=SERIAL)
    assert (meter.name, meter.owner.username, meter.readings.count()) == ("Home", "alice", 3)


@pytest.mark.parametrize("action", ["updateMeterName", "Delete", "DeleteWithData"])
@pytest.mark.parametrize("code", ["6f1c7f9e-3b0a-4c35-9a55-2f4e8f1d9b21", "42", "not-a-uuid", "%00"])
def test_it_answers_404_for_unknown_or_malformed_ids(alice_client, alice_meter, action, code):
    response = alice_client.post(f"/serialNumbers/{action}/{code}", {"name": "x", "confirm": "x"})

    assert response.status_code == 404


@pytest.mark.parametrize("action", ["rename", "delete"])
def test_it_answers_405_to_get_on_post_only_paths(alice_client, alice_meter, action):
    response = alice_client.get(_paths(alice_meter)[action])

    assert response.status_code == 405
    assert Meter.objects.get(pk=alice_meter.pk).owner is not None


def test_it_requires_the_csrf_token(alice, alice_meter):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(_paths(alice_meter)["release"])

    assert response.status_code == 403
    assert Meter.objects.get(pk=alice_meter.pk).owner == alice


# --- serials without data are pending entries that reserve nothing (issue 12, serial squatting) ----------------

NEW_SERIAL = "1SAG4400000044"


def _add(client, serial=NEW_SERIAL, name="Garage", **extra):
    return client.post("/serialNumbers/", {"serialNumber": serial, "name": name, **extra})


def _pending_rows(page: str) -> str:
    return page.split('data-testid="pending-list"', 1)[1] if 'data-testid="pending-list"' in page else ""


def test_it_shows_a_pending_serial_only_to_the_user_who_added_it(alice_client, alice, bob):
    _add(alice_client)

    page = alice_client.get("/serialNumbers/").content.decode()
    assert NEW_SERIAL in _pending_rows(page)
    assert "Garage" in _pending_rows(page)
    assert "Waiting for the first reading from your device." in page

    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    assert NEW_SERIAL not in bob_client.get("/serialNumbers/").content.decode()


def test_it_lets_several_accounts_wait_for_the_same_serial(alice_client, bob):
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    assert _add(alice_client).status_code == 302
    assert _add(bob_client, name="Mine").status_code == 302

    assert sorted(PendingMeter.objects.values_list("user__username", flat=True)) == ["alice", "bob"]
    assert not Meter.objects.exists()


def test_it_gives_the_meter_to_the_account_whose_device_uploads_first(alice, bob, alice_client):
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    _add(bob_client, name="Squatted")  # bob typed the serial first, but has no device on the meter
    _add(alice_client, name="Garage")

    ingest_readings(alice, [reading_item(NEW_SERIAL, NOW - timedelta(minutes=15))])

    meter = Meter.objects.get(serial=NEW_SERIAL)
    assert (meter.owner, meter.name) == (alice, "Garage")  # the name alice typed while waiting
    assert not PendingMeter.objects.filter(user=alice).exists()
    alice_page = alice_client.get("/serialNumbers/").content.decode()
    assert f'data-meter="{meter.code}"' in alice_page
    assert NEW_SERIAL not in _pending_rows(alice_page)

    bob_page = bob_client.get("/serialNumbers/").content.decode()
    assert "This meter is now registered to another account" in _pending_rows(bob_page)
    assert "alice" not in bob_page.lower()
    assert f'data-meter="{meter.code}"' not in bob_page


def test_it_asks_for_the_register_proof_once_someone_elses_upload_brought_data(alice_client, alice, staff):
    _add(alice_client)
    ingest_readings(staff, [reading_item(NEW_SERIAL, NOW - timedelta(minutes=15), import_t1_kwh="800.000")])

    assert Meter.objects.get(serial=NEW_SERIAL).owner is None  # the operator's upload makes no one the owner
    rows = _pending_rows(alice_client.get("/serialNumbers/").content.decode())
    assert "enter the day register 1.8.1" in rows
    assert 'name="register"' in rows

    response = _add(alice_client, register="800,2")

    assert response.status_code == 302
    assert Meter.objects.get(serial=NEW_SERIAL).owner == alice
    assert not PendingMeter.objects.exists()


def test_it_says_a_serial_is_already_waiting_when_it_is_added_twice(alice_client):
    _add(alice_client)

    response = _add(alice_client, name="Again")

    assert response.status_code == 200
    assert "already in your list, waiting for the first reading" in response.content.decode()
    assert PendingMeter.objects.get().name == "Garage"


def test_it_removes_a_pending_serial_of_the_user_only(alice_client, alice, bob):
    _add(alice_client)
    entry = PendingMeter.objects.get()
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)

    bob_client.post("/serialNumbers/", {"forget": str(entry.code)})
    assert PendingMeter.objects.filter(pk=entry.pk).exists()

    response = alice_client.post("/serialNumbers/", {"forget": str(entry.code)}, follow=True)

    assert "The serial number was removed from your list." in response.content.decode()
    assert not PendingMeter.objects.exists()


@pytest.mark.parametrize("code", ["not-a-uuid", "6f1c7f9e-3b0a-4c35-9a55-2f4e8f1d9b21", ""])
def test_it_removes_nothing_for_an_unknown_pending_code(alice_client, code):
    _add(alice_client)

    response = alice_client.post("/serialNumbers/", {"forget": code}, follow=True)

    assert "Nothing was removed" in response.content.decode()
    assert PendingMeter.objects.count() == 1


def test_it_sends_a_user_with_only_pending_serials_from_the_dashboard_to_the_meters_page(alice_client):
    _add(alice_client)

    response = alice_client.get("/day/")

    assert response.status_code == 302
    assert response["Location"] == "/serialNumbers/"


def test_it_limits_how_many_serials_one_account_may_keep_waiting(alice_client):
    from meters.claims import PENDING_MAX_PER_ACCOUNT

    for n in range(PENDING_MAX_PER_ACCOUNT):
        assert _add(alice_client, serial=f"1SAG77000000{n:02d}").status_code == 302

    response = _add(alice_client, serial="1SAG7800000000")

    assert "waiting for their first reading" in response.content.decode()
    assert PendingMeter.objects.count() == PENDING_MAX_PER_ACCOUNT
