"""Household sharing (meters/sharing.py) and the three roles of meters/access.py on every owned-data page and endpoint.

alice owns the meter; carol manages it and dave views it through accepted shares; bob is a stranger.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from meters.models import AuditEvent, Meter, MeterShare, ShareRole
from tests.api.conftest import jwt_client
from tests.meters.series_truth import build, local

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def household(alice, alice_meter, django_user_model, password):
    build(alice_meter, local(2026, 11, 18), local(2026, 11, 19), gas=False)
    carol = django_user_model.objects.create_user("carol", "carol@example.org", password)
    dave = django_user_model.objects.create_user("dave", "dave@example.org", password)
    for user, role in ((carol, ShareRole.MANAGER), (dave, ShareRole.VIEWER)):
        MeterShare.objects.create(meter=alice_meter, email=user.email, role=role, user=user, token_hash=user.username,
                                  accepted_at=NOW)  # fmt: skip
    return {"owner": alice, "manager": carol, "viewer": dave}


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


READ_PAGES = ["dashboard:day", "dashboard:week", "dashboard:month", "dashboard:now", "dashboard:now-panel",
              "dashboard:bill"]  # fmt: skip
READ_API = ["api:meter-series", "api:meter-readings", "api:meter-live", "api:meter-bill", "api:meter-bill-compare"]
ROLES = ["owner", "manager", "viewer", "stranger", "anonymous"]


def _user(household, bob, role):
    if role == "anonymous":
        return None
    return bob if role == "stranger" else household[role]


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_meters_pages_to_its_owner_manager_and_viewer_only(household, alice_meter, bob, role):
    client = _client(_user(household, bob, role))
    with time_machine.travel(NOW, tick=False):
        for name in READ_PAGES:
            response = client.get(f"{reverse(name)}?meter={alice_meter.code}")
            expected = {"stranger": 404, "anonymous": 302}.get(role, 200)
            assert response.status_code == expected, (name, role)
        csv = client.get(reverse("dashboard:export-csv", args=[alice_meter.code]))
        assert csv.status_code == {"stranger": 404, "anonymous": 302}.get(role, 200)


@pytest.mark.parametrize("role", ROLES)
def test_it_serves_the_meters_api_to_its_owner_manager_and_viewer_only(household, alice_meter, bob, role):
    user = _user(household, bob, role)
    with time_machine.travel(NOW, tick=False):
        client = jwt_client(user) if user is not None else Client()  # a token issued on the frozen clock
        for name in READ_API:
            response = client.get(reverse(name, args=[alice_meter.code]))
            assert response.status_code == {"stranger": 404, "anonymous": 401}.get(role, 200), (name, role)
        listed = client.get(reverse("api:meters"))
    if user is not None:
        roles = {m["code"]: m["role"] for m in listed.json()}
        assert roles.get(str(alice_meter.code)) == {"stranger": None, "owner": "owner"}.get(role, role)


@pytest.mark.parametrize("role", ROLES)
def test_it_lets_only_the_owner_and_manager_rename_and_keep_contracts(household, alice_meter, bob, role):
    client = _client(_user(household, bob, role))
    allowed = role in ("owner", "manager")
    with time_machine.travel(NOW, tick=False):
        contracts = client.get(reverse("meters:contracts", args=[alice_meter.code]))
        rename = client.post(reverse("meters:rename", args=[alice_meter.code]), {"name": f"By {role}"})
    refused = 302 if role == "anonymous" else 404
    assert contracts.status_code == (200 if allowed else refused)
    assert rename.status_code == (302 if allowed else refused)
    alice_meter.refresh_from_db()
    assert (alice_meter.name == f"By {role}") is allowed


@pytest.mark.parametrize("role", ROLES)
def test_it_lets_only_the_owner_share_release_or_delete(household, alice_meter, bob, role):
    client = _client(_user(household, bob, role))
    share = MeterShare.objects.get(user=household["viewer"])
    with time_machine.travel(NOW, tick=False):
        pages = [
            client.get(reverse("meters:sharing", args=[alice_meter.code])),
            client.get(reverse("meters:release", args=[alice_meter.code])),
        ]
        revoke = client.post(reverse("meters:share-revoke", args=[alice_meter.code, share.pk]))
        delete = client.post(reverse("meters:delete-with-data", args=[alice_meter.code]), {"confirm": "nope"})
    refused = 302 if role == "anonymous" else 404
    for page in pages:
        assert page.status_code == (200 if role == "owner" else refused)
    assert revoke.status_code == (302 if role == "owner" else refused)
    assert delete.status_code == (302 if role == "owner" else refused)  # the owner's wrong confirmation deletes nothing
    assert Meter.objects.filter(pk=alice_meter.pk).exists()
    assert MeterShare.objects.filter(pk=share.pk).exists() is (role != "owner")


def test_it_invites_by_e_mail_and_the_invitee_accepts_after_logging_in(alice, alice_meter, bob, password):
    owner = _client(alice)
    with time_machine.travel(NOW, tick=False):
        response = owner.post(reverse("meters:sharing", args=[alice_meter.code]),
                              {"email": "bob@example.org", "role": "viewer"})  # fmt: skip
    assert response.status_code == 302
    assert mail.outbox[0].to == ["bob@example.org"]
    link = re.search(r"https?://\S+/shares/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    with time_machine.travel(NOW, tick=False):
        anonymous = Client().get(path)
    assert anonymous.status_code == 200
    assert f"{reverse('users:login')}?next={path}" in anonymous.content.decode()
    invitee = _client(bob)
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert invitee.get(f"{reverse('dashboard:day')}?meter={alice_meter.code}").status_code == 404
        accepted = invitee.post(path)
        assert accepted.status_code == 302
        assert invitee.get(f"{reverse('dashboard:day')}?meter={alice_meter.code}").status_code == 200
        listed = invitee.get(reverse("meters:list")).content.decode()
    assert 'data-testid="shared-list"' in listed
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert invitee.post(path).status_code == 404  # the link works once
    share = MeterShare.objects.get(meter=alice_meter)
    assert share.user == bob
    assert share.token_hash not in mail.outbox[0].body  # only the token's hash is stored


def test_it_refuses_an_expired_link_the_owners_own_acceptance_and_a_second_invitation(alice, alice_meter, bob):
    owner = _client(alice)
    sharing_url = reverse("meters:sharing", args=[alice_meter.code])
    with time_machine.travel(NOW, tick=False):
        owner.post(sharing_url, {"email": "bob@example.org", "role": "manager"})
        again = owner.post(sharing_url, {"email": "BOB@example.org", "role": "viewer"})
        own = owner.post(sharing_url, {"email": "alice@example.org", "role": "viewer"})
    assert again.status_code == 400
    assert "invited already" in again.content.decode()
    assert own.status_code == 400
    path = re.search(r"/shares/\S+/", mail.outbox[0].body).group(0)
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert owner.post(path).status_code == 400  # the owner cannot accept their own invitation
    with time_machine.travel(NOW + timedelta(days=8), tick=False):
        assert _client(bob).post(path).status_code == 404
    assert MeterShare.objects.get(meter=alice_meter).user is None


def test_it_stops_showing_the_meter_at_once_when_the_owner_revokes_or_the_viewer_leaves(household, alice_meter):
    viewer, manager = _client(household["viewer"]), _client(household["manager"])
    day = f"{reverse('dashboard:day')}?meter={alice_meter.code}"
    with time_machine.travel(NOW, tick=False):
        share = MeterShare.objects.get(user=household["viewer"])
        _client(household["owner"]).post(reverse("meters:share-revoke", args=[alice_meter.code, share.pk]))
        assert viewer.get(day).status_code == 404
        manager.post(reverse("meters:share-leave", args=[alice_meter.code]))
        assert manager.get(day).status_code == 404


def test_it_audits_sharing_without_the_e_mail_address(alice, alice_meter, bob):
    owner = _client(alice)
    with time_machine.travel(NOW, tick=False):
        owner.post(reverse("meters:sharing", args=[alice_meter.code]), {"email": "bob@example.org", "role": "viewer"})
        path = re.search(r"/shares/\S+/", mail.outbox[0].body).group(0)
        _client(bob).post(path)
    kinds = list(AuditEvent.objects.order_by("at", "pk").values_list("kind", flat=True))
    assert kinds == ["share_invited", "share_accepted"]
    for event in AuditEvent.objects.all():
        assert "bob" not in f"{event.subject} {event.detail}"


def test_it_ends_the_shares_and_contracts_when_the_owner_releases_the_meter(household, alice_meter):
    from meters.models import Contract, FluviusImport, FluviusInterval, FluviusPeak, FluviusRegister

    Contract.objects.create(meter=alice_meter, name="Mine", valid_from=NOW.date(), energy_kind="single",
                            all_in=True, price_single_eur_kwh="0.3")  # fmt: skip
    # History the owner imported from their own Mijn Fluvius account goes with them too.
    FluviusInterval.objects.create(meter=alice_meter, start=NOW - timedelta(days=400), value=120,
                                   register=FluviusRegister.IMPORT_T1, status="validated")  # fmt: skip
    FluviusPeak.objects.create(meter=alice_meter, month=date(2025, 1, 1), peak_w=4_100, status="read")
    FluviusImport.objects.create(meter=alice_meter, file_name="Verbruikshistoriek.csv", rows=1, stored=1)
    viewer = _client(household["viewer"])
    day = f"{reverse('dashboard:day')}?meter={alice_meter.code}"
    with time_machine.travel(NOW, tick=False):
        assert viewer.get(day).status_code == 200
        _client(household["owner"]).post(reverse("meters:release", args=[alice_meter.code]))
        assert viewer.get(day).status_code == 404
    alice_meter.refresh_from_db()
    assert alice_meter.owner is None
    assert alice_meter.readings.exists()  # the data stays with the meter
    assert not MeterShare.objects.filter(meter=alice_meter).exists()
    assert not Contract.objects.filter(meter=alice_meter).exists()
    for model in (FluviusInterval, FluviusPeak, FluviusImport):
        assert not model.objects.filter(meter=alice_meter).exists()


def test_it_brings_a_newcomer_back_to_the_invitation_after_registering(alice, alice_meter, settings):
    settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR = 10
    with time_machine.travel(NOW, tick=False):
        _client(alice).post(reverse("meters:sharing", args=[alice_meter.code]),
                            {"email": "erin@example.org", "role": "viewer"})  # fmt: skip
        path = re.search(r"/shares/\S+/", mail.outbox[0].body).group(0)
        newcomer = Client()
        form = newcomer.get(f"{reverse('users:register')}?next={path}").content.decode()
        assert f'name="next" value="{path}"' in form
        registered = newcomer.post(
            reverse("users:register"),
            {"username": "erin", "email": "erin@example.org", "password1": "a-long-pass-phrase-42",
             "password2": "a-long-pass-phrase-42", "next": path},
        )  # fmt: skip
        assert registered.status_code == 302
        assert registered["Location"] == path
        assert newcomer.post(path).status_code == 302
        assert newcomer.get(f"{reverse('dashboard:day')}?meter={alice_meter.code}").status_code == 200
