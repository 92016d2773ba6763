"""A month's bill and its comparison with other contracts (docs/design.md, "Contracts and the bill").

:func:`month_bill` prices the month's stored quarters (``meters.billing.cost``) and adds what is charged per month
or per day: the Flemish capacity charge (the 12-month mean, :func:`~meters.series.capacity.billed_mean_kw`, x the
area's EUR/kW/year / 12), fixed fees and data management prorated per day, monthly levies, and VAT once on what
carries it. Every line is rounded to the cent and the total is the sum of the rounded lines, so they add up.
The ``energy`` line's quantity is the month's import as the month view shows it (the day rollups).

:func:`compare` prices the same month with the user's other contracts and the presets of the meter's region.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from meters.billing.cost import REGISTER_KINDS, Pricing, QuarterCost
from meters.billing.tariffs import TariffBook
from meters.models import (
    Contract,
    ContractPreset,
    ContractTerms,
    DayEnergy,
    EnergyKind,
    ExportKind,
    Levy,
    Meter,
    Region,
)
from meters.series.capacity import billed_mean_kw, stored_peaks
from meters.series.windows import _add_months

if TYPE_CHECKING:
    from users.models import Prices

CENT = Decimal("0.01")
_KWH = Decimal(1000)
_ZERO = Decimal(0)
KINDS = ("energy", "network", "capacity", "fixed", "levies", "vat", "export", "gas")


class InvalidMonth(ValueError):
    """A ``month`` parameter that is not YYYY-MM."""


def parse_month(value: str | None, today: date) -> date:
    """``YYYY-MM`` to the month's first day; empty means the current month. Raises InvalidMonth."""
    if not value:
        return today.replace(day=1)
    try:
        year, month = value.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidMonth(_("Use a month as YYYY-MM, for example 2026-11.")) from None


def step_month(month: date, by: int) -> date:
    return _add_months(month, by)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BillLine:
    kind: str  # one of KINDS
    label: str
    quantity: Decimal
    unit: str  # kWh, kW, day, month, EUR (VAT: the base), m³
    unit_price_eur: Decimal
    amount_eur: Decimal  # rounded to the cent; negative for the export credit


@dataclass(frozen=True)
class HourCost:
    start: datetime  # UTC
    import_kwh: Decimal
    energy_eur: Decimal
    spot_eur_mwh: Decimal | None  # the hour's mean day-ahead price


@dataclass(frozen=True)
class Bill:
    meter: Meter
    month: date
    contracts: tuple[str, ...]  # names of the contracts that priced it
    complete: bool
    notes: tuple[str, ...]  # why it is not complete, in the active language
    lines: tuple[BillLine, ...]
    total_eur: Decimal
    import_kwh: Decimal
    export_kwh: Decimal
    missing_prices: int  # quarters without a day-ahead price (their energy is not counted)
    dynamic: bool  # a day-ahead price priced some of it

    def line_total(self, kind: str) -> Decimal:
        return sum((line.amount_eur for line in self.lines if line.kind == kind), _ZERO)


def _month_span(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    nxt = _add_months(month, 1)
    return start, datetime(nxt.year, nxt.month, 1, tzinfo=zone)


def month_bill(meter: Meter, month: date, prices: Prices, *, terms: ContractTerms | None = None) -> Bill:
    """The bill of ``meter`` for the local month starting ``month``, priced with its contracts (or all with
    ``terms``). ``prices`` are the owner's profile prices, for days without a contract."""
    return _priced_month(meter, month, Pricing(meter.pk, prices, terms=terms))[0]


class _Lines:
    """The bill's lines as they are added, and the VAT base per rate."""

    def __init__(self) -> None:
        self.lines: list[BillLine] = []
        self.vat_base: dict[Decimal, Decimal] = defaultdict(lambda: _ZERO)

    def add(self, kind: str, label: str, qty: Decimal, unit: str, amounts: dict[Decimal, Decimal]) -> None:
        """A line whose ``amounts`` are keyed by the VAT rate they carry (0: none)."""
        amount = sum(amounts.values(), _ZERO)
        self.lines.append(BillLine(kind, label, qty, unit, amount / qty if qty else _ZERO, _cents(amount)))
        for rate, part in amounts.items():
            if rate:
                self.vat_base[rate] += part

    def finished(self) -> list[BillLine]:
        for rate, base in sorted(self.vat_base.items()):
            label = _("VAT %(rate)s %%") % {"rate": f"{(rate * 100).normalize():f}"}
            self.lines.append(BillLine("vat", label, _cents(base), "EUR", rate, _cents(base * rate)))
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(self.lines, key=lambda line: order[line.kind])


def _sum_by_vat(quarters: list[QuarterCost], part: str) -> dict[Decimal, Decimal]:
    out: dict[Decimal, Decimal] = defaultdict(lambda: _ZERO)
    for q in quarters:
        value = getattr(q, part)
        if value is not None:
            out[q.vat] += value
    return out


def _billed_days(month: date, start: datetime, end: datetime, now: datetime, first_data: date | None) -> list[date]:
    """The local days fees accrue on: from the meter's first data (or the month's start) to the month's end, or to
    today while the month runs."""
    if first_data is None or now < start:
        return []
    last = (min(now, end - timedelta(seconds=1))).astimezone(start.tzinfo).date()
    first = max(month, first_data)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _priced_month(meter: Meter, month: date, pricing: Pricing) -> tuple[Bill, list[QuarterCost]]:
    start, end = _month_span(month, pricing.zone)
    quarters = pricing.quarters(start, end)
    days = list(DayEnergy.objects.filter(meter=meter, day__gte=month, day__lt=_add_months(month, 1)))
    now = timezone.now()
    first_data = min((d.day for d in days), default=None)
    billed = _billed_days(month, start, end, now, first_data)
    quarters, unpriced = _with_dropped_days(pricing, quarters, days)

    notes: list[str] = []
    if unpriced:
        notes.append(
            ngettext(
                "The quarter-hours of %(count)d day are no longer kept (retention): this contract cannot price it.",
                "The quarter-hours of %(count)d days are no longer kept (retention): this contract cannot price them.",
                unpriced,
            )
            % {"count": unpriced}
        )
    if now < end:
        notes.append(_("The month is still running: the figures so far."))
    if first_data is None:
        notes.append(_("No data for this month."))
    elif first_data > month:
        notes.append(_("No data before %(day)s.") % {"day": date_format(first_data, "j F")})
    missing = sum(1 for q in quarters if q.energy_eur is None or q.export_eur is None)
    if missing:
        notes.append(
            ngettext(
                "%(count)d quarter-hour has no day-ahead price: it is not counted.",
                "%(count)d quarter-hours have no day-ahead price: they are not counted.",
                missing,
            )
            % {"count": missing}
        )
    no_tariff = sorted({q.day for q in quarters if _lacks_tariff(pricing, q.day)})
    if no_tariff:
        area = pricing.place_on(no_tariff[0])[1]
        notes.append(
            _("No network tariff for %(area)s on %(day)s: network costs are missing.")
            % {"area": area, "day": date_format(no_tariff[0], "j F Y")}
        )

    imp_wh = sum((d.import_t1_wh or 0) + (d.import_t2_wh or 0) for d in days)
    exp_wh = sum((d.export_t1_wh or 0) + (d.export_t2_wh or 0) for d in days)
    gas_l = sum(d.gas_l or 0 for d in days if d.has_gas)
    kwh = Decimal(imp_wh) / _KWH
    names = list(dict.fromkeys(pricing.rates(q.day).terms.name or _("Profile prices") for q in quarters))
    lines = _Lines()
    label = _("Electricity: %(contract)s") % {"contract": ", ".join(names) or "-"}
    lines.add("energy", label, kwh, "kWh", _sum_by_vat(quarters, "energy_eur"))
    networked = [q for q in quarters if pricing.rates(q.day).network is not None]
    if networked:
        networked_kwh = Decimal(sum(q.import_wh for q in networked)) / _KWH
        label = _("Network: distribution and transmission")
        lines.add("network", label, networked_kwh, "kWh", _sum_by_vat(networked, "network_eur"))
    _capacity_line(meter, month, pricing, billed, lines)
    _fixed_lines(pricing, billed, lines)
    _kwh_levies(pricing, quarters, lines)
    _monthly_levies(pricing, month, billed, lines)
    export = _sum_by_vat(quarters, "export_eur")
    if exp_wh or any(export.values()):
        lines.add("export", _("Export credit"), Decimal(exp_wh) / _KWH, "kWh", {_ZERO: -sum(export.values(), _ZERO)})
    if any(d.has_gas for d in days):
        terms = pricing.rates(first_data or month).terms
        gas_kwh = Decimal(gas_l) / 1000 * terms.gas_kwh_per_m3
        lines.add("gas", _("Gas"), gas_kwh, "m³" if terms.all_in else "kWh", _sum_by_vat(quarters, "gas_eur"))
    finished = lines.finished()
    bill = Bill(
        meter=meter,
        month=month,
        contracts=tuple(names),
        complete=not notes,
        notes=tuple(notes),
        lines=tuple(finished),
        total_eur=sum((line.amount_eur for line in finished), _ZERO),
        import_kwh=kwh,
        export_kwh=Decimal(exp_wh) / _KWH,
        missing_prices=missing,
        dynamic=any(q.spot_eur_mwh is not None for q in quarters),
    )
    return bill, quarters


def _with_dropped_days(
    pricing: Pricing, quarters: list[QuarterCost], days: list[DayEnergy]
) -> tuple[list[QuarterCost], int]:
    """The month's quarters, plus one priced "quarter" holding the day's totals for each day whose quarter-hours
    retention (meters/retention.py) deleted while its day rollup stays: a contract priced by register only costs a
    day from its totals exactly. The number of such days a time band or day-ahead contract cannot price."""
    covered = {q.day for q in quarters}
    unpriced = 0
    for d in days:
        imp = (d.import_t1_wh or 0) + (d.import_t2_wh or 0)
        if d.day in covered or d.partial or (not imp and not d.export_t1_wh and not d.export_t2_wh):
            continue
        rates = pricing.rates(d.day)
        t = rates.terms
        if t.energy_kind not in REGISTER_KINDS or t.export_kind != ExportKind.FIXED:
            unpriced += 1
            continue
        midnight = int(datetime(d.day.year, d.day.month, d.day.day, tzinfo=pricing.zone).timestamp())
        exp = (d.export_t1_wh or 0) + (d.export_t2_wh or 0)
        quarters.append(pricing._price(midnight, d.import_t1_wh or 0, d.import_t2_wh or 0, exp, 0, d.gas_l))
    return sorted(quarters, key=lambda q: q.ep), unpriced


def _lacks_tariff(pricing: Pricing, day: date) -> bool:
    rates = pricing.rates(day)
    return not rates.terms.all_in and rates.network is None and bool(pricing.place_on(day)[1])


def _capacity_line(meter: Meter, month: date, pricing: Pricing, billed: list[date], lines: _Lines) -> None:
    """Flanders: the mean of the last 12 monthly peaks (each at least 2.5 kW, a month without data at 2.5 kW) x the
    area's EUR/kW/year / 12; an all-in contract's own capacity price instead, when it has one."""
    if not billed:
        return
    rates = pricing.rates(billed[0])
    if rates.terms.all_in:
        yearly, vat = rates.terms.capacity_eur_kw_year, _ZERO
    elif rates.network is not None and pricing.place_on(billed[0])[0] == Region.FLANDERS:
        yearly, vat = rates.network.capacity_eur_kw_year, rates.vat
    else:
        return
    if not yearly:
        return
    firsts = [_add_months(month, -i) for i in range(11, -1, -1)]
    mean = billed_mean_kw(stored_peaks(meter.pk, firsts))
    share = Decimal(len(billed)) / calendar.monthrange(month.year, month.month)[1]
    label = _("Capacity: mean of the last 12 monthly peaks")
    lines.add("capacity", label, mean, "kW", {vat: mean * yearly / 12 * share})


def _fixed_lines(pricing: Pricing, billed: list[date], lines: _Lines) -> None:
    """Yearly fees prorated per day: the supplier's fee, data management (metering) and the network's fixed term
    (none with the Impact bands)."""
    found: dict[tuple[str, str], list] = {}

    def accrue(key: tuple[str, str], yearly: Decimal, day: date, vat: Decimal) -> None:
        entry = found.setdefault(key, [0, defaultdict(lambda: _ZERO)])
        entry[0] += 1
        entry[1][vat] += yearly / (366 if calendar.isleap(day.year) else 365)

    for day in billed:
        rates = pricing.rates(day)
        t, n = rates.terms, rates.network
        if t.fixed_eur_year and not t.all_in:
            accrue(("supplier", t.name), t.fixed_eur_year, day, rates.vat)
        if n is not None and n.data_management_eur_year:
            accrue(("data", n.area), rates.net(n.data_management_eur_year), day, rates.vat)
        if n is not None and n.fixed_eur_year and t.energy_kind != EnergyKind.IMPACT:
            accrue(("network", n.area), rates.net(n.fixed_eur_year), day, rates.vat)
    labels = {
        "supplier": _("Fixed fee: %(name)s"),
        "data": _("Data management (%(name)s)"),
        "network": _("Network fixed term (%(name)s)"),
    }
    for (what, name), (count, amounts) in found.items():
        lines.add("fixed", labels[what] % {"name": name}, Decimal(count), "day", dict(amounts))


def _kwh_levies(pricing: Pricing, quarters: list[QuarterCost], lines: _Lines) -> None:
    day_wh: dict[date, int] = defaultdict(int)
    for q in quarters:
        day_wh[q.day] += q.import_wh
    found: dict[str, list] = {}
    for day, wh in sorted(day_wh.items()):
        rates = pricing.rates(day)
        for levy in rates.levies:
            if levy.unit == Levy.Unit.PER_KWH:
                entry = found.setdefault(levy.code, [_ZERO, defaultdict(lambda: _ZERO)])
                entry[0] += Decimal(wh) / _KWH
                entry[1][rates.vat if levy.vat_applies else _ZERO] += wh * levy.amount_eur / _KWH
    for code, (qty, amounts) in sorted(found.items()):
        lines.add("levies", _levy_label(code), qty, "kWh", dict(amounts))


def _monthly_levies(pricing: Pricing, month: date, billed: list[date], lines: _Lines) -> None:
    month_days = Decimal(calendar.monthrange(month.year, month.month)[1])
    found: dict[str, list] = {}
    for day in billed:
        rates = pricing.rates(day)
        for levy in rates.levies:
            if levy.unit == Levy.Unit.PER_MONTH:
                entry = found.setdefault(levy.code, [_ZERO, defaultdict(lambda: _ZERO)])
                entry[0] += 1 / month_days
                entry[1][rates.vat if levy.vat_applies else _ZERO] += levy.amount_eur / month_days
    for code, (qty, amounts) in sorted(found.items()):
        lines.add("levies", _levy_label(code), qty, "month", dict(amounts))


def _levy_label(code: str) -> str:
    labels = {
        "excise": _("Special excise duty"),
        "contribution": _("Energy contribution"),
        "energiefonds": _("Energiefonds (Flanders)"),
    }
    return labels.get(code, code)


# --- compare ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alternative:
    name: str
    origin: str  # "contract" (one of the user's), "preset", "impact" (the own contract on Impact bands)
    bill: Bill
    difference_eur: Decimal  # this bill's total minus the actual bill's: negative is cheaper


@dataclass(frozen=True)
class Comparison:
    bill: Bill
    alternatives: tuple[Alternative, ...]
    dynamic_name: str  # the dynamic contract whose most expensive hours are listed; "" for none
    costly_hours: tuple[HourCost, ...]  # the 10 hours that cost the most under it, costliest first


def compare(meter: Meter, month: date, prices: Prices) -> Comparison:
    """The month's bill beside the same month priced with each of the owner's other contracts, the presets of the
    meter's region and, for a Walloon meter, its own contract on the Impact bands."""
    book = TariffBook()
    own = Pricing(meter.pk, prices, book=book)
    bill, quarters = _priced_month(meter, month, own)
    start, end = _month_span(month, own.zone)
    in_force = {c.pk for c in own.contracts if _overlaps(c, start.date(), end.date())}
    candidates: list[tuple[str, str, ContractTerms]] = []
    others = Contract.objects.filter(meter__owner_id=meter.owner_id).exclude(pk__in=in_force).order_by("valid_from")
    for c in others:
        candidates.append((c.name, "contract", c))
    region, _area = own.place_on(month)
    if region:
        for preset in book.presets(region, month):
            candidates.append((_preset_name(preset), "preset", preset))
        current = own.contract_on(month)
        if region == Region.WALLONIA and current is not None and current.energy_kind != EnergyKind.IMPACT:
            candidates.append((_("%(contract)s on the Impact bands") % {"contract": current.name}, "impact",
                               _on_impact(current)))  # fmt: skip
    alternatives = []
    dynamic_name, dynamic_quarters = "", quarters if bill.dynamic else []
    if bill.dynamic:
        dynamic_name = ", ".join(bill.contracts)
    for name, origin, terms in candidates:
        priced, their = _priced_month(meter, month, Pricing(meter.pk, prices, terms=terms, book=book))
        alternatives.append(Alternative(name, origin, priced, priced.total_eur - bill.total_eur))
        if not dynamic_name and terms.energy_kind == EnergyKind.DYNAMIC:
            dynamic_name, dynamic_quarters = name, their
    return Comparison(bill, tuple(alternatives), dynamic_name, _costly_hours(dynamic_quarters))


def _preset_name(preset: ContractPreset) -> str:
    """Suppliers' products keep their names; the project's own reference preset is named in the reader's language."""
    return _("Fixed price (reference)") if preset.key == "fixed-reference" else preset.name


def _overlaps(c: Contract, start: date, end: date) -> bool:
    return c.valid_from < end and (c.valid_to is None or c.valid_to > start)


def _on_impact(contract: Contract) -> Contract:
    """``contract`` with Impact bands: the same energy price in every band (the supplier's component does not change
    with the network option), the network's Impact rates and no fixed network term."""
    price = contract.price_single_eur_kwh or contract.price_day_eur_kwh or contract.price_peak_eur_kwh
    return replace_terms(
        contract,
        energy_kind=EnergyKind.IMPACT,
        price_pic_eur_kwh=price,
        price_medium_eur_kwh=price,
        price_eco_eur_kwh=price,
    )


def replace_terms(contract: Contract, **changes: object) -> Contract:
    """An unsaved copy of ``contract`` with ``changes``."""
    copy = Contract(**{f.attname: getattr(contract, f.attname) for f in Contract._meta.concrete_fields})
    copy.pk = None
    for key, value in changes.items():
        setattr(copy, key, value)
    return copy


def _costly_hours(quarters: list[QuarterCost], top: int = 10) -> tuple[HourCost, ...]:
    hours: dict[datetime, list] = {}
    for q in quarters:
        if q.energy_eur is None:
            continue
        hour = q.slot.replace(minute=0, second=0, microsecond=0)
        entry = hours.setdefault(hour, [_ZERO, _ZERO, []])
        entry[0] += Decimal(q.import_wh) / _KWH
        entry[1] += q.energy_eur
        if q.spot_eur_mwh is not None:
            entry[2].append(q.spot_eur_mwh)
    ranked = sorted(hours.items(), key=lambda item: (-item[1][1], item[0]))[:top]
    return tuple(
        HourCost(start, kwh, eur, sum(spots, _ZERO) / len(spots) if spots else None)
        for start, (kwh, eur, spots) in ranked
    )
