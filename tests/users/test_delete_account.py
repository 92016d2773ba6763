"""Deleting an account (users.account, /account/delete/): each meter deleted with its data or released, the password
asked first, nobody else's data touched, devices revoked, and an audit log without personal data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from p1edge import wire
from rest_framework.test import APIClient

from meters import claims, devices
from meters.models import Alert, AuditEvent, Contract, Device, Meter, MeterShare, Reading, ShareRole
from tests.factories import ALICE_SERIAL, reading_item
from tests.meters.series_truth import build, local
from users.account import MeterChoice, delete_account
from users.models import Profile, profile_for

pytestmark = pytest.mark.django_db

GARDEN_SERIAL = "1SAG4400000333"
BOB_SERIAL = "1SAG2200000111"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
User = get_user_model()


@pytest.fixture
def home(alice):
    meter = Meter.objects.create(serial=ALICE_SERIAL, name="Home", owner=alice)
    build(meter, local(2026, 11, 28), local(2026, 11, 28, 6))  # 25 readings
    Contract.objects.create(meter=meter, name="Engie", energy_kind="single", valid_from=local(2026, 1, 1).date())
    MeterShare.objects.create(meter=meter, email="dana@example.org", role=ShareRole.VIEWER, token_hash="a" * 64)
    return meter


@pytest.fixture
def garden(alice):
    meter = Meter.objects.create(serial=GARDEN_SERIAL, name="Garden", owner=alice)
    build(meter, local(2026, 11, 28), local(2026, 11, 28, 3))  # 13 readings
    return meter


@pytest.fixture
def bobs(alice, bob):
    """Bob's meter with readings, shared with alice (accepted)."""
    meter = Meter.objects.create(serial=BOB_SERIAL, name="Flat", owner=bob)
    build(meter, local(2026, 11, 28), local(2026, 11, 28, 2))
    MeterShare.objects.create(
        meter=meter, email=alice.email, role=ShareRole.VIEWER, user=alice, token_hash="b" * 64, accepted_at=NOW
    )
    return meter


def _pair(user, name: str = "pi-kelder") -> tuple[str, Device]:
    code = devices.start_pairing(name, "192.0.2.10", now=NOW)
    devices.approve(user, code.user_code, now=NOW)
    return devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code, now=NOW)


def _post(client, password: str, **choices: str):
    data = {"password": password}
    for serial, choice in choices.items():
        data[f"meter-{Meter.objects.get(serial=serial).code}"] = choice
    return client.post("/account/delete/", data)


def test_it_deletes_the_account_and_each_meter_with_its_data(alice_client, alice, password, home, garden):
    response = _post(alice_client, password, **{ALICE_SERIAL: "delete", GARDEN_SERIAL: "delete"})

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not User.objects.filter(username="alice").exists()
    assert not Profile.objects.filter(user_id=alice.pk).exists()
    assert not Meter.objects.filter(serial__in=[ALICE_SERIAL, GARDEN_SERIAL]).exists()
    assert not Reading.objects.exists()
    assert not Contract.objects.exists()
    assert not MeterShare.objects.exists()
    assert "Your account is deleted." in [str(m) for m in get_messages(response.wsgi_request)]
    # Logged out: the next page asks to log in.
    assert alice_client.get("/profile/")["Location"].startswith("/login/")


def test_it_releases_a_meter_with_its_readings_kept_and_nobody_left_seeing_it(alice_client, password, home):
    readings = Reading.objects.filter(meter=home).count()

    response = _post(alice_client, password, **{ALICE_SERIAL: "release"})

    assert response.status_code == 302
    meter = Meter.objects.get(serial=ALICE_SERIAL)
    assert meter.owner is None
    assert Reading.objects.filter(meter=meter).count() == readings
    assert not MeterShare.objects.filter(meter=meter).exists()  # the owner's shares went with the owner
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "1 meter was removed from the account and keeps its data, without an owner." in messages


def test_it_deletes_one_meter_and_releases_another(alice_client, password, home, garden):
    garden_readings = Reading.objects.filter(meter=garden).count()

    _post(alice_client, password, **{ALICE_SERIAL: "delete", GARDEN_SERIAL: "release"})

    assert not Meter.objects.filter(serial=ALICE_SERIAL).exists()
    assert Meter.objects.get(serial=GARDEN_SERIAL).owner_id is None
    assert Reading.objects.count() == garden_readings


def test_it_deletes_nothing_on_a_wrong_password_and_says_so_at_the_field(alice_client, alice, home, garden):
    readings = Reading.objects.count()

    response = _post(alice_client, "not-my-password", **{ALICE_SERIAL: "delete", GARDEN_SERIAL: "delete"})

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["password"] == ["This is not your current password. Nothing was deleted."]
    assert 'aria-invalid="true"' in response.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()
    assert Meter.objects.filter(owner=alice).count() == 2
    assert Reading.objects.count() == readings
    assert not AuditEvent.objects.exists()


def test_it_leaves_other_accounts_data_alone(alice_client, password, bob, home, bobs):
    bob_readings = Reading.objects.filter(meter=bobs).count()
    _token, bob_device = _pair(bob, "bobs-pi")

    _post(alice_client, password, **{ALICE_SERIAL: "delete"})

    meter = Meter.objects.get(serial=BOB_SERIAL)
    assert meter.owner == bob
    assert Reading.objects.filter(meter=meter).count() == bob_readings
    assert not MeterShare.objects.filter(meter=meter).exists()  # only the share alice had received
    bob_device.refresh_from_db()
    assert bob_device.revoked_at is None
    assert User.objects.filter(pk=bob.pk).exists()


def test_it_revokes_and_removes_the_accounts_devices(alice, home):
    token, device = _pair(alice)
    device.meters.add(home)
    _second_token, revoked_before = _pair(alice, "old-pi")
    devices.revoke_device(revoked_before, now=NOW)

    deleted = delete_account(alice, {home.pk: MeterChoice.RELEASE})

    assert deleted.devices_revoked == 1  # the one still active
    assert not Device.objects.filter(pk__in=[device.pk, revoked_before.pk]).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    upload = client.post(wire.READINGS_PATH, {"readings": [reading_item(ALICE_SERIAL, NOW.isoformat())]}, format="json")
    assert upload.status_code == 401


def test_it_counts_what_went_and_what_stayed(alice, home, garden, bobs):
    profile_for(alice)
    Alert.objects.create(owner=alice, meter=garden, kind=Alert.Kind.OFFLINE, key=NOW)
    home_readings, garden_readings = (Reading.objects.filter(meter=m).count() for m in (home, garden))

    deleted = delete_account(alice, {home.pk: "delete", garden.pk: "release"})

    assert (deleted.meters_deleted, deleted.meters_released) == (1, 1)
    assert (deleted.readings_deleted, deleted.readings_kept) == (home_readings, garden_readings)
    assert deleted.shares_removed == 1  # the share alice had received (dana's went with the deleted meter)
    assert not Alert.objects.exists()  # alerts are the account's, even of a meter that stays


def test_it_deletes_a_meter_the_form_did_not_know_with_its_data(alice, home, garden):
    delete_account(alice, {home.pk: "release"})  # garden became alice's after the form was shown

    assert not Meter.objects.filter(pk=garden.pk).exists()
    assert Meter.objects.get(pk=home.pk).owner_id is None


def test_it_refuses_an_unknown_choice_and_changes_nothing(alice, home):
    with pytest.raises(ValueError, match="keep"):
        delete_account(alice, {home.pk: "keep"})

    assert User.objects.filter(pk=alice.pk).exists()
    assert Meter.objects.get(pk=home.pk).owner == alice


def test_it_logs_both_deletions_for_audit_without_personal_data(alice_client, alice, password, home, garden):
    user_id, home_id = alice.pk, home.pk
    home_readings, garden_readings = (Reading.objects.filter(meter=m).count() for m in (home, garden))

    _post(alice_client, password, **{ALICE_SERIAL: "delete", GARDEN_SERIAL: "release"})

    account = AuditEvent.objects.get(kind="account_deleted")
    assert account.subject == str(user_id)
    assert account.detail == {
        "meters_deleted": 1,
        "meters_released": 1,
        "readings_deleted": home_readings,
        "readings_kept": garden_readings,
        "devices_revoked": 0,
    }
    meter = AuditEvent.objects.get(kind="meter_deleted")
    assert (meter.subject, meter.detail) == (str(home_id), {"readings_deleted": home_readings})
    logged = json.dumps(list(AuditEvent.objects.values("kind", "subject", "detail")))
    for personal in ("alice", "alice@example.org", ALICE_SERIAL, GARDEN_SERIAL, "Home", "Garden", "dana@"):
        assert personal not in logged


def test_it_logs_a_single_meter_deletion_too(alice, home):
    readings = Reading.objects.filter(meter=home).count()
    meter_id = home.pk

    claims.delete_meter_with_data(home)

    [event] = AuditEvent.objects.all()
    assert (event.kind, event.subject, event.detail) == ("meter_deleted", str(meter_id), {"readings_deleted": readings})


def test_it_asks_for_the_password_and_offers_each_meter_with_delete_chosen(alice_client, home, garden):
    response = alice_client.get("/account/delete/")

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<input type="password" name="password" autocomplete="current-password" class="form-input"', html)
    for meter in (home, garden):
        radios = re.findall(rf'<input type="radio" name="meter-{meter.code}" value="(\w+)"[^>]*?( checked)?>', html)
        assert radios == [("delete", " checked"), ("release", "")]
    assert "Each meter is deleted with all its data unless you choose otherwise." in html


def test_it_confirms_an_account_without_a_password_by_its_username(client, alice, home):
    alice.set_unusable_password()
    alice.save()
    client.force_login(alice)

    wrong = client.post("/account/delete/", {"username": "bob", f"meter-{home.code}": "delete"})
    assert wrong.context["form"].errors["username"] == ["This is not your username. Nothing was deleted."]
    assert User.objects.filter(pk=alice.pk).exists()

    client.post("/account/delete/", {"username": "alice", f"meter-{home.code}": "delete"})
    assert not User.objects.filter(pk=alice.pk).exists()


def test_it_links_download_and_deletion_from_the_profile(alice_client):
    html = alice_client.get("/profile/").content.decode()

    assert 'href="/data/export.zip"' in html
    assert 'href="/account/delete/"' in html


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    for response in (client.get("/account/delete/"), client.post("/account/delete/", {"password": "x"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
