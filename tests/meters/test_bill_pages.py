"""The bill page (/bill/) and the contracts page of a meter: what alice sees, what bob and strangers do not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from meters.models import Contract
from tests.meters.series_truth import build, local

pytestmark = pytest.mark.django_db

AFTER = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def november(alice_meter):
    build(alice_meter, local(2026, 11, 1), local(2026, 12, 1), energy=lambda ep: (100, 0, 0, 0), gas=False)
    return alice_meter


def _contract(meter, name: str, start: date, price: str, **fields) -> Contract:
    return Contract.objects.create(meter=meter, name=name, valid_from=start, region="VL", area="Antwerpen",
                                   energy_kind="single", price_single_eur_kwh=Decimal(price), **fields)  # fmt: skip


def _contract_post(**overrides) -> dict[str, str]:
    data = {
        "name": "Engie fixed",
        "valid_from": "2026-11-16",
        "valid_to": "",
        "region": "VL",
        "area": "Antwerpen",
        "domiciled": "on",
        "energy_kind": "single",
        "price_single_eur_kwh": "0,1200",
        "export_kind": "fixed",
        "export_eur_kwh": "0,03",
        "fixed_eur_year": "0",
        "gas_eur_kwh": "0",
        "gas_kwh_per_m3": "11,5",
    }
    return {**data, **overrides}


def test_it_shows_the_months_bill_lines_and_the_comparison(november, alice_client):
    with time_machine.travel(AFTER, tick=False):
        page = alice_client.get(reverse("dashboard:bill"), {"meter": str(november.code), "month": "2026-11"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="bill-lines"' in html
    assert 'data-kind="energy"' in html
    assert "Bill for November 2026" in html
    assert 'data-testid="bill-total"' in html


def test_it_says_why_the_bill_is_incomplete_and_steps_to_the_neighbouring_months(november, alice_client):
    with time_machine.travel(local(2026, 11, 20, 12), tick=False):
        page = alice_client.get(reverse("dashboard:bill"), {"meter": str(november.code)})
    html = page.content.decode()
    assert "The month is still running" in html
    assert "month=2026-10" in html
    assert "month=2026-12" in html


def test_it_tells_a_malformed_month_and_shows_the_current_one(november, alice_client):
    with time_machine.travel(AFTER, tick=False):
        page = alice_client.get(reverse("dashboard:bill"), {"meter": str(november.code), "month": "nov"}, follow=True)
    assert page.status_code == 200
    assert "YYYY-MM" in page.content.decode()
    assert "Bill for December 2026" in page.content.decode()


def test_it_hides_alices_bill_and_contracts_from_bob_and_strangers(november, bob_client):
    contract = _contract(november, "Mine", date(2026, 1, 1), "0.1")
    urls = [
        f"{reverse('dashboard:bill')}?meter={november.code}",
        reverse("meters:contracts", args=[november.code]),
    ]
    with time_machine.travel(AFTER, tick=False):
        for url in urls:
            assert bob_client.get(url).status_code == 404
            anonymous = Client().get(url)  # bob_client is the test client, logged in
            assert anonymous.status_code == 302
            assert reverse("users:login") in anonymous["Location"]
        delete = reverse("meters:contract-delete", args=[november.code, contract.pk])
        assert bob_client.post(delete).status_code == 404
        assert bob_client.post(reverse("meters:contracts", args=[november.code]), _contract_post()).status_code == 404
    assert Contract.objects.filter(meter=november).count() == 1


def test_it_adds_a_contract_that_ends_the_running_one_and_prices_from_its_first_day(november, alice_client):
    old = _contract(november, "Old", date(2026, 1, 1), "0.10")
    url = reverse("meters:contracts", args=[november.code])
    with time_machine.travel(AFTER, tick=False):
        response = alice_client.post(url, _contract_post())
        assert response.status_code == 302
        page = alice_client.get(url)
        bill = alice_client.get(
            reverse("api:meter-bill", args=[november.code]), {"month": "2026-11"}, HTTP_ACCEPT="application/json"
        )
    old.refresh_from_db()
    assert old.valid_to == date(2026, 11, 16)
    new = Contract.objects.get(meter=november, name="Engie fixed")
    assert new.price_single_eur_kwh == Decimal("0.12")  # the decimal comma
    assert new.valid_to is None
    assert "1 January 2026 to 15 November 2026" in page.content.decode()
    energy = bill.json()["lines"][0]
    assert energy["amount_eur"] == pytest.approx(
        float(Decimal("144") * Decimal("0.10") + Decimal("144") * Decimal("0.12"))
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"price_single_eur_kwh": ""}, "price_single_eur_kwh", "Needed for this kind of energy price."),
        ({"area": "ORES"}, "area", "Choose one of the distribution areas of Flanders."),
        ({"energy_kind": "impact"}, "energy_kind", "exist in Wallonia only"),
        ({"energy_kind": "dynamic"}, "spot_factor", "Needed for this kind of energy price."),
        ({"price_single_eur_kwh": "abc"}, "price_single_eur_kwh", "enter a number such as"),
    ],
)
def test_it_refuses_a_contract_that_cannot_price_a_quarter_naming_the_field(
    november, alice_client, overrides, field, message
):
    url = reverse("meters:contracts", args=[november.code])
    with time_machine.travel(AFTER, tick=False):
        response = alice_client.post(url, _contract_post(**overrides))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Contract.objects.filter(meter=november).exists()


def test_it_deletes_a_contract_and_the_one_before_runs_on(november, alice_client):
    first = _contract(november, "A", date(2026, 1, 1), "0.1", valid_to=date(2026, 6, 1))
    second = _contract(november, "B", date(2026, 6, 1), "0.2")
    with time_machine.travel(AFTER, tick=False):
        response = alice_client.post(reverse("meters:contract-delete", args=[november.code, second.pk]))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.valid_to is None
    assert not Contract.objects.filter(pk=second.pk).exists()
