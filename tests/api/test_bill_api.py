"""GET /api/v1/meters/<code>/bill and /bill/compare: the contract's JSON shape, owner scoping, bad months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from meters.models import Contract
from tests.api.conftest import jwt_client
from tests.meters.series_truth import build, local

pytestmark = pytest.mark.django_db

AFTER = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def november(alice_meter):
    build(alice_meter, local(2026, 11, 1), local(2026, 12, 1), energy=lambda ep: (100, 0, 20, 0), gas=False)
    Contract.objects.create(
        meter=alice_meter, name="Fixed", valid_from=date(2026, 1, 1), region="VL", area="Antwerpen",
        energy_kind="single", price_single_eur_kwh=Decimal("0.10"), export_eur_kwh=Decimal("0.03"),
    )  # fmt: skip
    return alice_meter


def _url(meter, suffix: str = "") -> str:
    return f"/api/v1/meters/{meter.code}/bill{suffix}"


def test_it_serves_the_bill_in_the_contract_shape_with_lines_adding_up_to_the_total(november, alice):
    with time_machine.travel(AFTER, tick=False):
        body = jwt_client(alice).get(_url(november), {"month": "2026-11"}).json()
    assert set(body) >= {"month", "complete", "total_eur", "lines"}
    assert body["month"] == "2026-11"
    assert body["complete"] is True
    kinds = [line["kind"] for line in body["lines"]]
    assert kinds[0] == "energy"
    assert set(kinds) <= {"energy", "network", "capacity", "fixed", "levies", "vat", "export", "gas"}
    assert {"network", "capacity", "fixed", "levies", "vat", "export"} <= set(kinds)
    for line in body["lines"]:
        assert set(line) == {"kind", "label", "quantity", "unit", "unit_price_eur", "amount_eur"}
    assert body["lines"][0]["quantity"] == 288.0  # the month's import in kWh
    assert body["lines"][0]["unit"] == "kWh"
    export = next(line for line in body["lines"] if line["kind"] == "export")
    assert export["amount_eur"] == -1.73  # 57.6 kWh x 0.03, a credit
    cents = sum(round(line["amount_eur"] * 100) for line in body["lines"])
    assert cents == round(body["total_eur"] * 100)


def test_it_compares_with_the_regions_presets(november, alice):
    with time_machine.travel(AFTER, tick=False):
        body = jwt_client(alice).get(_url(november, "/compare"), {"month": "2026-11"}).json()
    names = {a["name"] for a in body["alternatives"]}
    assert {"Engie Dynamic", "Luminus Dynamic", "Fixed price (reference)"} <= names
    assert "TotalEnergies myDynamic" not in names  # a Walloon card, and this meter is in Antwerp
    for a in body["alternatives"]:
        assert a["difference_eur"] == pytest.approx(a["total_eur"] - body["bill"]["total_eur"], abs=0.005)
    # No day-ahead prices were imported: the dynamic ones say they are incomplete rather than cost nothing.
    engie = next(a for a in body["alternatives"] if a["name"] == "Engie Dynamic")
    assert engie["complete"] is False


def test_it_refuses_a_malformed_month_with_a_clear_error(november, alice):
    with time_machine.travel(AFTER, tick=False):
        response = jwt_client(alice).get(_url(november), {"month": "11-2026"})
    assert response.status_code == 400
    assert "YYYY-MM" in response.json()["detail"]


@pytest.mark.parametrize("suffix", ["", "/compare"])
def test_it_hides_another_accounts_meter_and_asks_for_login(november, bob, anon_api, suffix):
    with time_machine.travel(AFTER, tick=False):
        assert jwt_client(bob).get(_url(november, suffix), {"month": "2026-11"}).status_code == 404
        assert anon_api.get(_url(november, suffix), {"month": "2026-11"}).status_code == 401
