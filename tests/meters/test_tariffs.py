"""Versioned tariff data (meters/billing/tariffs.py) and the migration of profile prices into a first contract."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import import_module

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command

from meters.billing import tariffs
from meters.billing.bill import month_bill
from meters.models import Contract, Levy, NetworkTariff, VatRate
from meters.series import build_series
from tests.meters.series_truth import build, local
from users.models import Profile, prices_for

pytestmark = pytest.mark.django_db
migration = import_module("meters.migrations.0013_contracts")


def test_it_ships_the_2026_figures_with_their_sources():
    antwerpen = NetworkTariff.objects.get(area="Antwerpen", valid_from=date(2026, 1, 1))
    assert antwerpen.capacity_eur_kw_year == Decimal("49.40")
    assert antwerpen.kwh_eur == Decimal("0.0505027")
    assert "VREG" in antwerpen.source
    assert NetworkTariff.objects.filter(region="VL").count() == 8
    assert set(NetworkTariff.objects.filter(region="WA").values_list("area", flat=True)) == {
        "ORES", "RESA", "AIEG", "AIESH", "REW"
    }  # fmt: skip
    assert NetworkTariff.objects.get(area="ORES").vat_included
    assert VatRate.objects.get().rate == Decimal("0.06")
    assert Levy.objects.get(code="excise").amount_eur == Decimal("0.04748")


def test_it_adds_next_years_tariffs_as_data_and_prices_quarters_from_that_day(tmp_path, alice_meter):
    data = {
        "network": [
            {"region": "VL", "area": "Antwerpen", "valid_from": "2027-01-01", "source": "VREG 2027 (test)",
             "kwh_eur": "0.06", "capacity_eur_kw_year": "60.00", "data_management_eur_year": "18.00"}
        ]
    }  # fmt: skip
    path = tmp_path / "2027.json"
    path.write_text(json.dumps(data))
    call_command("load_tariffs", str(path))
    call_command("load_tariffs", str(path))  # again: updated, not doubled
    assert NetworkTariff.objects.filter(area="Antwerpen").count() == 2
    book = tariffs.TariffBook()
    assert book.network("Antwerpen", date(2026, 12, 31)).kwh_eur == Decimal("0.0505027")
    assert book.network("Antwerpen", date(2027, 1, 1)).kwh_eur == Decimal("0.06")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"region": "VL", "area": "X", "valid_from": "2027-01-01", "source": "s", "kwh_eur": "abc"},
         "network row 2, field 'kwh_eur'"),
        ({"region": "VL", "valid_from": "2027-01-01", "source": "s", "kwh_eur": "0.1"},
         "network row 2: missing field 'area'"),
        ({"region": "VL", "area": "X", "valid_from": "2027-01-01", "colour": "red"},
         "network row 2: unknown field 'colour'"),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_tariff_row_naming_it_and_stores_nothing(tmp_path, row, message):
    good = {"region": "VL", "area": "New area", "valid_from": "2027-01-01", "source": "s", "kwh_eur": "0.1"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"network": [good, row]}))
    with pytest.raises(CommandError, match=message):
        call_command("load_tariffs", str(path))
    assert not NetworkTariff.objects.filter(valid_from=date(2027, 1, 1)).exists()


def test_it_turns_profile_prices_into_a_first_all_in_contract_without_changing_past_costs(alice, bob, alice_meter):
    build(alice_meter, local(2026, 11, 1), local(2026, 11, 3), gas=True)
    Profile.objects.create(user=alice, price_import_day=Decimal("0.35"), price_gas=Decimal("1.20"))
    Profile.objects.create(user=bob)  # the site defaults: nothing to migrate
    with time_machine.travel(datetime(2026, 12, 1, tzinfo=UTC), tick=False):
        before = build_series(alice_meter, "day", date(2026, 11, 2), prices=prices_for(alice))
        migration.contracts_from_profiles(apps, None)
        after = build_series(alice_meter, "day", date(2026, 11, 2), prices=prices_for(alice))
        bill = month_bill(alice_meter, date(2026, 11, 1), prices_for(alice))
    contract = Contract.objects.get(meter=alice_meter)
    assert contract.all_in
    assert contract.valid_from == date(2026, 11, 1)  # the meter's first reading
    assert contract.price_day_eur_kwh == Decimal("0.35")
    assert contract.price_night_eur_kwh == Decimal("0.25")  # the site default for what the profile left empty
    assert after.totals.import_cost_eur == before.totals.import_cost_eur
    assert after.totals.gas_cost_eur == before.totals.gas_cost_eur
    assert [b.import_cost_eur for b in after.buckets] == [b.import_cost_eur for b in before.buckets]
    assert bill.contracts == ("Profile prices",)
    assert Contract.objects.count() == 1
