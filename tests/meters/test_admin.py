"""Django admin for operators: meter search/filter with data volume, read-only readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meters.ingest import ingest_readings
from meters.models import Meter
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin_client_with_data(client, django_user_model, alice, bob, time_machine):
    time_machine.move_to(NOW, tick=False)
    Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    Meter.objects.create(serial="1SAG2200000022", name="Shed", owner=bob)
    ingest_readings(alice, [reading_item("1SAG1100000292", NOW - timedelta(minutes=15 * n)) for n in range(5)])
    root = django_user_model.objects.create_superuser("root", "root@example.org", "x-admin-password-9")
    client.force_login(root)
    return client


def test_it_lists_meters_with_reading_count_and_searches_by_owner(admin_client_with_data):
    page = admin_client_with_data.get("/admin/meters/meter/", {"q": "alice"}).content.decode()

    assert "1SAG1100000292" in page
    assert "1SAG2200000022" not in page
    assert '<td class="field-reading_count">5</td>' in page


def test_it_filters_meters_by_owner(admin_client_with_data, bob):
    page = admin_client_with_data.get("/admin/meters/meter/", {"owner__id__exact": bob.pk}).content.decode()

    assert "1SAG2200000022" in page
    assert "1SAG1100000292" not in page


def test_it_shows_readings_by_date_without_editable_registers(admin_client_with_data):
    listing = admin_client_with_data.get("/admin/meters/reading/", {"timestamp__year": 2026})
    assert listing.status_code == 200
    assert "1SAG1100000292" in listing.content.decode()

    reading_id = Meter.objects.get(serial="1SAG1100000292").readings.first().pk
    change = admin_client_with_data.get(f"/admin/meters/reading/{reading_id}/change/").content.decode()
    assert "1234.567" in change
    assert 'name="import_t1_kwh"' not in change
    assert admin_client_with_data.get("/admin/meters/reading/add/").status_code == 403


def test_it_stores_a_serial_added_in_the_admin_as_every_other_path_does(admin_client_with_data):
    response = admin_client_with_data.post("/admin/meters/meter/add/", {"serial": " 1sag3100000099 ", "name": "Barn"})
    assert response.status_code == 302
    assert Meter.objects.filter(serial="1SAG3100000099", name="Barn").exists()

    again = admin_client_with_data.post("/admin/meters/meter/add/", {"serial": "1Sag3100000099"})
    assert "already exists" in again.content.decode()
    refused = admin_client_with_data.post("/admin/meters/meter/add/", {"serial": "abc"})
    assert "printed on the label" in refused.content.decode()


def test_it_upper_cases_older_lower_case_serials_once_when_migrating(alice, bob):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("meters.migrations.0004_uppercase_serials")
    Meter.objects.create(serial="1sag3100000099", owner=alice)
    Meter.objects.create(serial="1sag2200000022", owner=bob)
    Meter.objects.create(serial="1SAG2200000022")  # the upper-case twin exists: left for an operator to merge

    migration.uppercase_serials(apps, None)

    assert sorted(Meter.objects.values_list("serial", flat=True)) == [
        "1SAG2200000022",
        "1SAG3100000099",
        "1sag2200000022",
    ]
