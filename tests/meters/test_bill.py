"""The bill of a month, hand-computed for every contract type (meters/billing/).

Every month here is built from readings with a known, constant energy per quarter, so the expected amounts are
written out as arithmetic on the 2026 tariff figures (docs/tariffs.md): quarters x Wh x EUR/kWh. Time is frozen
after the month, except where the running month is the point.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from meters.billing.bill import compare, month_bill
from meters.models import Contract, DayEnergy, SpotPrice
from meters.series import build_series
from tests.meters.series_truth import BRUSSELS, build, is_day_tariff, local
from users.models import prices_for

pytestmark = pytest.mark.django_db

D = Decimal
VAT = D("0.06")
AFTER_NOVEMBER = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
NOV = date(2026, 11, 1)


def cents(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def flat(wh: int = 100):
    """Every quarter takes ``wh`` on the register of its tariff (day 07-22 h on weekdays), exports nothing."""

    def energy(ep: int) -> tuple[int, int, int, int]:
        return (wh, 0, 0, 0) if is_day_tariff(ep) else (0, wh, 0, 0)

    return energy


def single_register(wh: int = 100):
    def energy(ep: int) -> tuple[int, int, int, int]:
        return (wh, 0, 0, 0)

    return energy


def november(meter, energy=None, *, gas: bool = False) -> None:
    build(meter, local(2026, 11, 1), local(2026, 12, 1), energy=energy or single_register(), gas=gas)


def contract(meter, **fields) -> Contract:
    defaults = {"name": "Mine", "valid_from": date(2026, 1, 1), "region": "VL", "area": "Antwerpen"}
    return Contract.objects.create(meter=meter, **{**defaults, **fields})


def line(bill, kind: str, label_part: str = ""):
    found = [x for x in bill.lines if x.kind == kind and label_part in x.label]
    assert len(found) == 1, [(x.kind, x.label) for x in bill.lines]
    return found[0]


def bill_of(meter, month: date = NOV):
    with time_machine.travel(AFTER_NOVEMBER if month == NOV else month.replace(year=month.year + 1), tick=False):
        bill = month_bill(meter, month, prices_for(meter.owner))
    assert bill.total_eur == sum(x.amount_eur for x in bill.lines)  # the lines add up, to the cent
    return bill


def test_it_bills_a_flemish_fixed_single_rate_month_line_by_line(alice_meter):
    november(alice_meter)
    contract(alice_meter, energy_kind="single", price_single_eur_kwh=D("0.10"), fixed_eur_year=D("36.50"))
    bill = bill_of(alice_meter)

    kwh = D(2880) * 100 / 1000  # 30 days x 96 quarters x 100 Wh = 288 kWh
    energy = kwh * D("0.10")
    network = kwh * D("0.0505027")
    capacity = D("2.5") * D("49.40") / 12  # a 0.4 kW month, no months before: 12 x the 2.5 kW floor
    supplier = D("36.50") / 365 * 30
    data = D("17.85") / 365 * 30
    excise, contribution = kwh * D("0.04748"), kwh * D("0.0019261")
    fund = D("0.006")  # Energiefonds, a domiciled household, no VAT
    vat = (energy + network + capacity + supplier + data + excise + contribution) * VAT

    assert line(bill, "energy").quantity == kwh == D("288")
    assert line(bill, "energy").amount_eur == cents(energy) == D("28.80")
    assert line(bill, "network").amount_eur == cents(network) == D("14.54")
    assert line(bill, "capacity").quantity == D("2.5")
    assert line(bill, "capacity").amount_eur == cents(capacity) == D("10.29")
    assert line(bill, "fixed", "Mine").amount_eur == cents(supplier) == D("3.00")
    assert line(bill, "fixed", "Data management").amount_eur == cents(data) == D("1.47")
    assert line(bill, "levies", "excise").amount_eur == cents(excise) == D("13.67")
    assert line(bill, "levies", "contribution").amount_eur == cents(contribution) == D("0.55")
    assert line(bill, "levies", "Energiefonds").amount_eur == cents(fund) == D("0.01")
    assert line(bill, "vat").amount_eur == cents(vat) == D("4.34")
    assert line(bill, "vat").label == "VAT 6 %"
    assert bill.total_eur == D("76.67")
    assert bill.complete, bill.notes


def test_it_prices_day_and_night_registers_and_the_energy_line_is_the_dashboards_import(alice_meter):
    november(alice_meter, flat())
    contract(alice_meter, energy_kind="day_night", price_day_eur_kwh=D("0.12"), price_night_eur_kwh=D("0.09"))
    bill = bill_of(alice_meter)
    # November 2026: 21 weekdays x 15 day hours x 4 quarters = 1,260 day quarters; the other 1,620 are night.
    day_kwh, night_kwh = D(1260) / 10, D(1620) / 10
    assert line(bill, "energy").amount_eur == cents(day_kwh * D("0.12") + night_kwh * D("0.09")) == D("29.70")
    # Flanders charges the same network rate by day and by night.
    assert line(bill, "network").amount_eur == cents((day_kwh + night_kwh) * D("0.0505027"))
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        series = build_series(alice_meter, "month", NOV, prices=prices_for(alice_meter.owner))
    assert line(bill, "energy").quantity * 1000 == series.totals.import_wh


def test_it_prices_the_exclusive_night_register_at_its_own_energy_and_network_rate(alice_meter):
    november(alice_meter, flat())
    contract(alice_meter, energy_kind="exclusive_night", price_day_eur_kwh=D("0.12"), price_night_eur_kwh=D("0.07"))
    bill = bill_of(alice_meter)
    day_kwh, night_kwh = D("126"), D("162")
    assert line(bill, "energy").amount_eur == cents(day_kwh * D("0.12") + night_kwh * D("0.07"))
    assert line(bill, "network").amount_eur == cents(day_kwh * D("0.0505027") + night_kwh * D("0.0454058"))


def test_it_prices_wallonia_peak_and_off_peak_hours_by_the_clock_with_network_costs_without_vat(alice_meter):
    november(alice_meter)  # all on the day register: the Walloon bands go by the hour, not the register
    contract(
        alice_meter,
        region="WA",
        area="ORES",
        energy_kind="dual",
        price_peak_eur_kwh=D("0.13"),
        price_offpeak_eur_kwh=D("0.08"),
    )
    bill = bill_of(alice_meter)
    # Peak 07-11 h and 17-22 h: 9 hours = 36 quarters a day; off-peak 60.
    peak, off = D(36 * 30) / 10, D(60 * 30) / 10
    assert line(bill, "energy").amount_eur == cents(peak * D("0.13") + off * D("0.08")) == D("28.44")
    ores_network = (peak * D("0.1327") + off * D("0.0739") + (peak + off) * D("0.0274")) / D("1.06")
    assert line(bill, "network").amount_eur == cents(ores_network)
    assert line(bill, "fixed", "Network fixed term").amount_eur == cents(D("14.10") / D("1.06") / 365 * 30)
    assert not [x for x in bill.lines if x.kind == "capacity"]  # no measured capacity tariff in Wallonia
    assert not [x for x in bill.lines if "Energiefonds" in x.label]


def test_it_prices_the_impact_bands_and_charges_no_fixed_network_term(alice_meter):
    november(alice_meter)
    contract(
        alice_meter,
        region="WA",
        area="ORES",
        energy_kind="impact",
        price_pic_eur_kwh=D("0.20"),
        price_medium_eur_kwh=D("0.12"),
        price_eco_eur_kwh=D("0.05"),
    )
    bill = bill_of(alice_meter)
    # PIC 17-22 h (20 quarters a day), MEDIUM 07-11 h and 22-01 h (28), ECO 01-07 h and 11-17 h (48).
    pic, medium, eco = D(20 * 30) / 10, D(28 * 30) / 10, D(48 * 30) / 10
    assert line(bill, "energy").amount_eur == cents(pic * D("0.20") + medium * D("0.12") + eco * D("0.05"))
    network = (pic * D("0.1657") + medium * D("0.1083") + eco * D("0.0509") + D(288) * D("0.0274")) / D("1.06")
    assert line(bill, "network").amount_eur == cents(network)
    assert not [x for x in bill.lines if "Network fixed term" in x.label]


def _spot(start: datetime, end: datetime, price) -> None:
    """Day-ahead prices for every quarter in [start, end): ``price(slot)``, or None for no price."""
    slot = start.astimezone(UTC)
    rows = []
    while slot < end:
        p = price(slot)
        if p is not None:
            rows.append(SpotPrice(slot=slot, price_eur_mwh=D(p)))
        slot += timedelta(minutes=15)
    SpotPrice.objects.bulk_create(rows)


def test_it_prices_a_dynamic_contract_per_quarter_with_negative_prices(alice_meter):
    november(alice_meter)
    # Quarters alternate 100 and -20 EUR/MWh: (0.1 x 100 + 1) = 11 c€/kWh and (0.1 x -20 + 1) = -1 c€/kWh.
    _spot(local(2026, 11, 1), local(2026, 12, 1), lambda s: "100" if (s.minute // 15) % 2 == 0 else "-20")
    contract(alice_meter, energy_kind="dynamic", spot_factor=D("0.1"), spot_offset_ct=D("1"), spot_minutes=15)
    bill = bill_of(alice_meter)
    assert line(bill, "energy").amount_eur == cents(D(1440) / 10 * D("0.11") + D(1440) / 10 * D("-0.01"))
    assert line(bill, "energy").amount_eur == D("14.40")
    assert bill.complete
    assert bill.dynamic


def test_it_prices_an_hourly_dynamic_contract_at_the_mean_of_the_hours_quarters(alice_meter):
    november(alice_meter)
    # Quarters of each hour: 40, 80, 120, 160 EUR/MWh: the hourly index is 100, so every quarter costs 11 c€/kWh
    # (a 15-minute contract would pay 5, 9, 13 and 17 c€ and the same 11 c€ on average: flat use hides it).
    _spot(local(2026, 11, 1), local(2026, 12, 1), lambda s: str(40 * (s.minute // 15 + 1)))
    contract(alice_meter, energy_kind="dynamic", spot_factor=D("0.1"), spot_offset_ct=D("1"), spot_minutes=60)
    bill = bill_of(alice_meter)
    assert line(bill, "energy").amount_eur == cents(D(288) * D("0.11")) == D("31.68")


def test_it_marks_a_quarter_without_a_price_incomplete_never_zero(alice_meter):
    november(alice_meter)
    missing = local(2026, 11, 10, 18, 15).astimezone(UTC)
    _spot(local(2026, 11, 1), local(2026, 12, 1), lambda s: None if s == missing else "100")
    contract(alice_meter, energy_kind="dynamic", spot_factor=D("0.1"), spot_offset_ct=D("1"))
    bill = bill_of(alice_meter)
    assert not bill.complete
    assert bill.missing_prices == 1
    assert any("1 quarter-hour has no day-ahead price" in n for n in bill.notes)
    assert line(bill, "energy").amount_eur == cents(D(2879) / 10 * D("0.11"))
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        day = build_series(alice_meter, "day", date(2026, 11, 10), prices=prices_for(alice_meter.owner))
    priced = [b for b in day.buckets if b.import_cost_eur is None and b.import_wh]
    assert [b.start for b in priced] == [missing]  # that quarter only: the others are priced
    assert not day.totals.cost_complete


def test_it_prices_each_day_with_the_contract_in_force_and_a_new_contract_keeps_past_costs(alice_meter):
    november(alice_meter)
    old = contract(alice_meter, name="Old", energy_kind="single", price_single_eur_kwh=D("0.10"))

    def day_cost(day: date) -> Decimal:
        with time_machine.travel(AFTER_NOVEMBER, tick=False):
            series = build_series(alice_meter, "day", day, prices=prices_for(alice_meter.owner))
        return series.totals.import_cost_eur

    fifth = day_cost(date(2026, 11, 5))
    old.valid_to = date(2026, 11, 16)
    old.save()
    contract(alice_meter, name="New", valid_from=date(2026, 11, 16), energy_kind="single",
             price_single_eur_kwh=D("0.20"), fixed_eur_year=D("73"))  # fmt: skip
    bill = bill_of(alice_meter)
    assert bill.contracts == ("Old", "New")
    assert line(bill, "energy").amount_eur == cents(D("144") * D("0.10") + D("144") * D("0.20")) == D("43.20")
    assert line(bill, "fixed", "New").quantity == 15
    assert line(bill, "fixed", "New").amount_eur == cents(D(73) / 365 * 15) == D("3.00")
    assert day_cost(date(2026, 11, 5)) == fifth  # the days before the change cost what they did
    assert day_cost(date(2026, 11, 20)) > fifth


def test_it_counts_months_under_the_floor_and_without_data_at_2_5_kw_in_the_capacity_mean(alice_meter):
    # Three earlier months with one day of data each: a 6 kW quarter (June), 4 kW (August), 1.2 kW (September).
    base = [1_000_000, 0, 0, 0]
    for month, wh in ((6, 1500), (8, 1000), (9, 300)):

        def spike(ep: int, wh=wh, month=month) -> tuple[int, int, int, int]:
            t = datetime.fromtimestamp(ep, BRUSSELS)
            return (wh if t.hour == 19 and t.minute == 0 else 10, 0, 0, 0)

        build(alice_meter, local(2026, month, 3), local(2026, month, 4), energy=spike, base_wh=tuple(base), gas=False)
        base[0] += 200_000
    build(alice_meter, local(2026, 11, 1), local(2026, 12, 1), energy=single_register(), base_wh=tuple(base),
          gas=False)  # fmt: skip
    contract(alice_meter, energy_kind="single", price_single_eur_kwh=D("0.10"))
    bill = bill_of(alice_meter)
    # Dec 2025 .. Nov 2026: June 6, August 4, September 2.5 (1.2 under the floor), November 2.5 (0.4), and the 8
    # months without data at the 2.5 kW floor: (6 + 4 + 10 x 2.5) / 12.
    mean = (D(6) + D(4) + 10 * D("2.5")) / 12
    assert line(bill, "capacity").quantity == mean
    assert line(bill, "capacity").amount_eur == cents(mean * D("49.40") / 12) == D("12.01")


@pytest.mark.parametrize(
    ("month", "quarters"),
    [(date(2026, 3, 1), 31 * 96 - 4), (date(2026, 10, 1), 31 * 96 + 4)],
    ids=["spring-forward", "fall-back"],
)
def test_it_bills_both_dst_months_with_their_92_and_100_quarter_days(alice_meter, month, quarters):
    nxt = date(month.year, month.month + 1, 1)
    build(alice_meter, local(month.year, month.month, 1), local(nxt.year, nxt.month, 1), energy=single_register(),
          gas=False)  # fmt: skip
    _spot(local(month.year, month.month, 1), local(nxt.year, nxt.month, 1), lambda s: "100")
    contract(alice_meter, energy_kind="dynamic", spot_factor=D("0.1"), spot_offset_ct=D("1"))
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False):
        bill = month_bill(alice_meter, month, prices_for(alice_meter.owner))
    kwh = D(quarters) / 10
    assert line(bill, "energy").quantity == kwh
    assert line(bill, "energy").amount_eur == cents(kwh * D("0.11"))
    assert bill.complete, bill.notes
    assert bill.total_eur == sum(x.amount_eur for x in bill.lines)


def test_it_falls_back_to_the_profile_prices_as_all_in_without_a_contract(alice_meter):
    november(alice_meter, flat(), gas=True)
    bill = bill_of(alice_meter)
    # The site defaults: day 0.30, night 0.25, capacity 53.26 EUR/kW/year, all taxes included: no VAT line.
    assert line(bill, "energy").amount_eur == cents(D("126") * D("0.30") + D("162") * D("0.25"))
    assert line(bill, "capacity").amount_eur == cents(D("2.5") * D("53.26") / 12)
    assert not [x for x in bill.lines if x.kind in ("vat", "network", "levies")]
    gas_m3 = D(sum(d.gas_l for d in DayEnergy.objects.filter(meter=alice_meter, day__month=11))) / 1000
    assert line(bill, "gas").quantity == gas_m3
    assert line(bill, "gas").amount_eur == cents(gas_m3 * D("1.00"))


def test_it_says_the_running_month_is_not_complete(alice_meter):
    build(alice_meter, local(2026, 11, 1), local(2026, 11, 20, 12), energy=single_register(), gas=False)
    contract(alice_meter, energy_kind="single", price_single_eur_kwh=D("0.10"), fixed_eur_year=D("36.50"))
    with time_machine.travel(local(2026, 11, 20, 12, 5), tick=False):
        bill = month_bill(alice_meter, NOV, prices_for(alice_meter.owner))
    assert not bill.complete
    assert line(bill, "fixed", "Mine").quantity == 20  # fees accrue on the days that have begun
    assert line(bill, "energy").quantity == D(19 * 96 + 48) / 10


def test_it_compares_the_month_with_other_contracts_presets_and_the_impact_bands(alice_meter):
    november(alice_meter)
    _spot(local(2026, 11, 1), local(2026, 12, 1), lambda s: "300" if 17 <= s.astimezone(BRUSSELS).hour < 20 else "50")
    contract(alice_meter, name="Walloon fixed", region="WA", area="ORES", energy_kind="single",
             price_single_eur_kwh=D("0.12"))  # fmt: skip
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        result = compare(alice_meter, NOV, prices_for(alice_meter.owner))
    names = [a.name for a in result.alternatives]
    assert "Engie Dynamic" in names
    assert "TotalEnergies myDynamic" in names
    assert "Luminus Dynamic" in names  # its Walloon card
    assert "Walloon fixed on the Impact bands" in names
    for a in result.alternatives:
        assert a.difference_eur == a.bill.total_eur - result.bill.total_eur
        assert a.bill.total_eur == sum(x.amount_eur for x in a.bill.lines)
    impact = next(a for a in result.alternatives if a.origin == "impact")
    # Same energy price, the Impact network bands and no fixed network term.
    assert line(impact.bill, "energy").amount_eur == line(result.bill, "energy").amount_eur
    assert result.dynamic_name
    assert len(result.costly_hours) == 10
    assert all(17 <= h.start.astimezone(BRUSSELS).hour < 20 for h in result.costly_hours)


@pytest.mark.parametrize(
    ("region", "area", "yearly"),
    [("VL", "Imewo", D("54.20") * D("1.06")), ("WA", "ORES", D(0))],
    ids=["flemish-area", "wallonia-no-capacity-tariff"],
)
def test_it_prices_the_capacity_card_with_the_contracts_area(alice_meter, region, area, yearly):
    november(alice_meter)
    contract(alice_meter, region=region, area=area, energy_kind="single", price_single_eur_kwh=D("0.10"))
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        series = build_series(alice_meter, "month", NOV, prices=prices_for(alice_meter.owner))
    assert series.capacity.billed_kw == D("2.5")
    assert series.capacity.cost_eur == D("2.5") * yearly / 12


def test_it_costs_a_register_priced_bucket_as_the_sum_of_its_quarters(alice_meter):
    from meters.billing.cost import Pricing, by_registers

    november(alice_meter, flat(), gas=True)
    contract(alice_meter, energy_kind="day_night", price_day_eur_kwh=D("0.12"), price_night_eur_kwh=D("0.09"),
             gas_eur_kwh=D("0.06"))  # fmt: skip
    pricing = Pricing(alice_meter.pk, prices_for(alice_meter.owner))
    assert by_registers(pricing)  # the month view prices its days from their totals, without the quarters
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        series = build_series(alice_meter, "month", NOV, prices=prices_for(alice_meter.owner))
    for bucket in series.buckets[:3]:
        quarters = pricing.quarters(bucket.start, bucket.end)
        assert len(quarters) == 96
        assert bucket.import_cost_eur == sum(q.consumer_import_eur for q in quarters)
        assert bucket.gas_cost_eur == sum(q.gas_eur * (1 + q.vat) for q in quarters)


def test_it_bills_days_whose_quarters_retention_dropped_from_their_day_totals(alice_meter, settings):
    from meters.retention import apply_retention

    november(alice_meter, flat())
    contract(alice_meter, energy_kind="day_night", price_day_eur_kwh=D("0.12"), price_night_eur_kwh=D("0.09"))
    before = bill_of(alice_meter)
    settings.RETENTION_RAW_DAYS = 29  # on 10 December: quarter-hours before 11 November go
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        report = apply_retention()
    assert report.quarters_deleted == 10 * 96
    after = bill_of(alice_meter)
    assert after.lines == before.lines
    assert after.complete


def test_it_says_a_dynamic_contract_cannot_price_days_retention_dropped(alice_meter, settings):
    from meters.retention import apply_retention

    november(alice_meter)
    _spot(local(2026, 11, 1), local(2026, 12, 1), lambda s: "100")
    contract(alice_meter, energy_kind="dynamic", spot_factor=D("0.1"), spot_offset_ct=D("1"))
    settings.RETENTION_RAW_DAYS = 29
    with time_machine.travel(AFTER_NOVEMBER, tick=False):
        apply_retention()
    bill = bill_of(alice_meter)
    assert not bill.complete
    assert any("10 days are no longer kept" in n for n in bill.notes)
    assert line(bill, "energy").quantity == D(288)  # the month's import still counts whole
    assert line(bill, "energy").amount_eur == cents(D(20 * 96) / 10 * D("0.11"))
