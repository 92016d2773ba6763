"""Model constraints the database enforces whatever the entry point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from meters.models import Meter, Reading

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
REQUIRED = {
    "import_t1_kwh": Decimal("1.000"),
    "import_t2_kwh": Decimal("2.000"),
    "export_t1_kwh": Decimal("0"),
    "export_t2_kwh": Decimal("0"),
    "power_import_kw": Decimal("0.5"),
    "power_export_kw": Decimal("0"),
}


def test_it_allows_one_reading_per_meter_and_slot():
    meter, other = Meter.objects.create(serial="1SAG0000000001"), Meter.objects.create(serial="1SAG0000000002")
    Reading.objects.create(meter=meter, timestamp=SLOT, measured_at=SLOT, **REQUIRED)
    Reading.objects.create(meter=other, timestamp=SLOT, measured_at=SLOT, **REQUIRED)

    with pytest.raises(IntegrityError), transaction.atomic():
        Reading.objects.create(meter=meter, timestamp=SLOT, measured_at=SLOT, **REQUIRED)
    assert Reading.objects.count() == 2


def test_it_keeps_serials_unique_and_gives_each_meter_a_random_public_code():
    first = Meter.objects.create(serial="1SAG0000000001")
    second = Meter.objects.create(serial="1SAG0000000002")

    assert isinstance(first.code, uuid.UUID)
    assert first.code != second.code
    with pytest.raises(IntegrityError), transaction.atomic():
        Meter.objects.create(serial="1SAG0000000001")


def test_it_deletes_readings_with_their_meter_and_keeps_meters_when_the_owner_leaves(alice):
    meter = Meter.objects.create(serial="1SAG0000000001", owner=alice)
    Reading.objects.create(meter=meter, timestamp=SLOT, measured_at=SLOT, **REQUIRED)

    alice.delete()
    meter.refresh_from_db()
    assert meter.owner is None
    assert meter.readings.count() == 1

    meter.delete()
    assert Reading.objects.count() == 0


def test_it_stores_exactly_the_reading_fields_the_edge_and_the_api_use():
    from meters.models import READING_FIELDS

    bookkeeping = {"id", "meter", "timestamp", "measured_at", "received_at"}
    stored = {field.name for field in Reading._meta.concrete_fields} - bookkeeping
    assert stored == set(READING_FIELDS)
