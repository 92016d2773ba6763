"""meters.access: the owner rules every page and endpoint asks (owner, another account, operator, anonymous)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.http import Http404

from meters import access
from meters.ingest import ingest_readings
from meters.models import Meter, Reading
from tests.factories import reading_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(alice, bob):
    mine = Meter.objects.create(serial="1SAG1100000001", owner=alice)
    theirs = Meter.objects.create(serial="1SAG1100000002", owner=bob)
    ingest_readings(alice, [reading_item(mine.serial, "2026-03-01T12:00:00+01:00")])
    ingest_readings(bob, [reading_item(theirs.serial, "2026-03-01T12:00:00+01:00")])
    return mine, theirs


def test_it_finds_only_the_users_own_meter_by_code(alice, homes):
    mine, theirs = homes

    assert access.meter_for(alice, mine.code) == mine
    assert access.meter_for(alice, str(mine.code).upper()) == mine
    for code in (theirs.code, uuid.uuid4(), "not-a-code", ""):
        with pytest.raises(Http404):
            access.meter_for(alice, code)
    with pytest.raises(Http404):
        access.meter_for(AnonymousUser(), mine.code)


def test_it_lists_own_meters_and_readings_and_nothing_for_anonymous(alice, homes):
    mine, _ = homes

    assert list(access.owned_meters(alice)) == [mine]
    assert list(access.readings_visible_to(alice).values_list("meter", flat=True)) == [mine.pk]
    assert not access.owned_meters(AnonymousUser()).exists()
    assert not access.readings_visible_to(AnonymousUser()).exists()


def test_it_lets_the_operator_read_every_reading_but_not_an_inactive_one(staff, bob, homes):
    assert access.readings_visible_to(staff).count() == Reading.objects.count() == 2

    bob.user_permissions.add(Permission.objects.get(codename="view_reading"))
    bob = type(bob).objects.get(pk=bob.pk)  # permissions are cached per instance
    assert access.may_read_any(bob)
    assert not access.may_write_any(bob)

    staff.is_active = False
    assert not access.may_read_any(staff)
    assert not access.may_write_any(staff)


def test_it_lets_an_account_write_only_its_own_meter_or_an_unclaimed_one_without_data(alice, bob, staff, homes):
    mine, theirs = homes
    empty = Meter.objects.create(serial="1SAG1100000003")
    with_data = Meter.objects.create(serial="1SAG1100000004")

    assert access.may_write(alice, mine, has_readings=True)
    assert not access.may_write(alice, theirs, has_readings=True)
    assert access.may_write(alice, empty, has_readings=False)
    assert not access.may_write(alice, with_data, has_readings=True)
    assert not access.may_write(AnonymousUser(), empty, has_readings=False)
    assert all(access.may_write(staff, meter, has_readings=True) for meter in (mine, theirs, with_data))
