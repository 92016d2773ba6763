"""Migration 0006: meters added on the website before any data arrived become pending entries (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
from django.apps import apps

from meters.ingest import ingest_readings
from meters.models import Meter, PendingMeter
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
migration = import_module("meters.migrations.0006_pending_from_empty_meters")


def test_it_turns_an_owned_meter_without_data_into_a_pending_entry_of_its_owner(alice, bob, time_machine):
    time_machine.move_to(NOW, tick=False)
    Meter.objects.create(serial="1SAG4400000044", name="Squatted", owner=bob)
    with_data = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    ingest_readings(alice, [reading_item(with_data.serial, NOW - timedelta(minutes=15))])
    unclaimed = Meter.objects.create(serial="1SAG5500000055")

    migration.empty_meters_to_pending(apps, None)

    assert sorted(Meter.objects.values_list("serial", flat=True)) == [with_data.serial, unclaimed.serial]
    assert list(PendingMeter.objects.values_list("user__username", "serial", "name")) == [
        ("bob", "1SAG4400000044", "Squatted")
    ]

    # Now the household's device, not bob's typing, decides.
    ingest_readings(alice, [reading_item("1SAG4400000044", NOW - timedelta(minutes=15))])
    assert Meter.objects.get(serial="1SAG4400000044").owner == alice


def test_it_gives_the_oldest_pending_entry_its_meter_back_when_reversed(alice, bob):
    PendingMeter.objects.create(user=bob, serial="1SAG4400000044", name="First", created_at=NOW)
    PendingMeter.objects.create(user=alice, serial="1SAG4400000044", created_at=NOW + timedelta(hours=1))

    migration.pending_to_empty_meters(apps, None)

    meter = Meter.objects.get()
    assert (meter.serial, meter.owner, meter.name) == ("1SAG4400000044", bob, "First")
