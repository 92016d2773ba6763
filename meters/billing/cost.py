"""The cost of every quarter-hour: the one pricing rule (docs/design.md, "Contracts and the bill").

A quarter is priced with the contract in force on its local day (``Contract.valid_from`` <= day < ``valid_to``) and
the tariffs in force that day (:class:`~meters.billing.tariffs.TariffBook`); before a meter's first contract, with
the owner's profile prices as an all-in contract (:func:`fallback_terms`). The energies are the stored quarter
rollups (``QuarterEnergy``: every quarter between the first and the latest reading, gaps interpolated).

Components, all without VAT (an ``all_in`` contract has no network, levies or VAT of its own):

* energy: the register or time band price, or the day-ahead formula ``(a x spot + b) / 100`` EUR/kWh with the
  quarter's price or the hour's (the mean of its four quarters). A quarter without a price is priced ``None``:
  the cost is *incomplete*, never 0.
* network: distribution + transmission per kWh taken, by register or time band; published figures that include
  VAT are divided by (1 + VAT) so that VAT is added once.
* levies per kWh taken (excise, energy contribution); export credit (fixed or day-ahead, no VAT); gas
  (m³ x kWh/m³ x EUR/kWh).

Capacity, fixed fees and monthly levies are per month or day, not per quarter: ``meters.billing.bill``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import FloatField, OuterRef, Subquery
from django.db.models.functions import Cast

from meters.billing.tariffs import TariffBook
from meters.models import (
    Contract,
    ContractTerms,
    EnergyKind,
    ExportKind,
    Levy,
    NetworkTariff,
    QuarterEnergy,
    Region,
    SpotPrice,
)
from meters.series.queries import Epoch, RangeQuery

if TYPE_CHECKING:
    from users.models import Prices

_KWH = Decimal(1000)
_CT = Decimal(100)
_LITRES = Decimal(1000)
_ZERO = Decimal(0)


class Band:
    """What a kWh is priced as: a register or a time band."""

    SINGLE = "single"
    DAY = "day"
    NIGHT = "night"
    PEAK = "peak"
    OFFPEAK = "offpeak"
    PIC = "pic"
    MEDIUM = "medium"
    ECO = "eco"
    SPOT = "spot"


def wallonia_dual_band(hour: int) -> str:
    """Wallonia's dual rate from 2026: peak 07-11 h and 17-22 h, every day; off-peak the rest."""
    return Band.PEAK if 7 <= hour < 11 or 17 <= hour < 22 else Band.OFFPEAK


def impact_band(hour: int) -> str:
    """Wallonia's Impact bands: PIC 17-22 h, MEDIUM 07-11 h and 22-01 h, ECO 01-07 h and 11-17 h, every day."""
    if 17 <= hour < 22:
        return Band.PIC
    if 7 <= hour < 11 or hour >= 22 or hour < 1:
        return Band.MEDIUM
    return Band.ECO


def fallback_terms(prices: Prices) -> ContractTerms:
    """The owner's profile prices (or the site defaults) as an all-in day/night contract, for days without one."""
    return Contract(
        name="",
        energy_kind=EnergyKind.DAY_NIGHT,
        price_day_eur_kwh=prices.import_day_eur_kwh,
        price_night_eur_kwh=prices.import_night_eur_kwh,
        export_kind=ExportKind.FIXED,
        export_eur_kwh=prices.export_eur_kwh,
        gas_eur_kwh=prices.gas_eur_m3,
        gas_kwh_per_m3=Decimal(1),
        all_in=True,
        capacity_eur_kw_year=prices.capacity_eur_kw_year,
    )


@dataclass(frozen=True)
class DayRates:
    """What prices the quarters of one local day."""

    terms: ContractTerms
    contract_id: int | None  # None: the profile prices (fallback_terms) or a compared preset
    network: NetworkTariff | None  # None for an all-in contract, or an area without tariffs that day
    vat: Decimal  # 0 for an all-in contract
    levies: tuple[Levy, ...]  # in force that day, per kWh and per month

    @cached_property
    def kwh_levy_eur(self) -> Decimal:
        return sum((lv.amount_eur for lv in self.levies if lv.unit == Levy.Unit.PER_KWH), _ZERO)

    # Per band, worked out once per day rather than for each of its 96 quarters.
    @cached_property
    def energy_prices(self) -> dict[str, Decimal]:
        return {band: _energy_price(self.terms, band) for band in _ALL_BANDS}

    @cached_property
    def network_prices(self) -> dict[str, Decimal]:
        if self.network is None:
            return dict.fromkeys(_ALL_BANDS, _ZERO)
        return {band: _network_price(self, self.terms.energy_kind, band) for band in _ALL_BANDS}

    def net(self, value: Decimal | None) -> Decimal:
        """A network figure without VAT (published with VAT in Wallonia and Brussels)."""
        if value is None:
            return _ZERO
        if self.network is not None and self.network.vat_included:
            return value / (1 + self.vat)
        return value


@dataclass(frozen=True)
class QuarterCost:
    ep: int  # the quarter's start, UTC epoch seconds
    day: date  # local
    import_t1_wh: int
    import_t2_wh: int
    export_wh: int
    gas_l: int | None
    bands: tuple[tuple[str, int], ...]  # (band, Wh) of the import
    energy_eur: Decimal | None  # None: no day-ahead price for this quarter
    network_eur: Decimal
    levies_eur: Decimal  # per-kWh levies
    export_eur: Decimal | None  # the credit, no VAT; None: no day-ahead price
    gas_eur: Decimal
    vat: Decimal
    spot_eur_mwh: Decimal | None

    @property
    def slot(self) -> datetime:
        return datetime.fromtimestamp(self.ep, UTC)

    @property
    def import_wh(self) -> int:
        return self.import_t1_wh + self.import_t2_wh

    @property
    def consumer_import_eur(self) -> Decimal | None:
        """What the kWh taken cost with network, levies and VAT: the dashboard's import cost."""
        if self.energy_eur is None:
            return None
        return (self.energy_eur + self.network_eur + self.levies_eur) * (1 + self.vat)


class Pricing:
    """Prices a meter's quarters: its contracts, the tariff book and the day-ahead prices, loaded once."""

    def __init__(
        self,
        meter_id: int,
        prices: Prices,
        *,
        terms: ContractTerms | None = None,
        book: TariffBook | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        """``terms`` prices every day with one contract (a comparison); region and area then come from the meter's
        own contract of that day when ``terms`` has none (a preset)."""
        self.meter_id = meter_id
        self.zone = zone or ZoneInfo(settings.TIME_ZONE)
        self.book = book or TariffBook()
        self.contracts = list(Contract.objects.filter(meter_id=meter_id).order_by("valid_from"))
        self.fallback = fallback_terms(prices)
        self.terms = terms
        self._days: dict[date, DayRates] = {}
        self._spot: dict[int, Decimal] = {}  # UTC epoch of the quarter -> EUR/MWh
        self._spot_hours: set[int] = set()
        self._hours: dict[int, tuple[date, int]] = {}

    # --- contracts and tariffs by day -----------------------------------------------------------------------------

    def contract_on(self, day: date) -> Contract | None:
        for c in reversed(self.contracts):
            if c.valid_from <= day and (c.valid_to is None or day < c.valid_to):
                return c
        return None

    def rates(self, day: date) -> DayRates:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = self._rates(day)
        return found

    def _rates(self, day: date) -> DayRates:
        own = self.contract_on(day)
        base: ContractTerms = own or self.fallback
        terms = self.terms or base
        contract_id = own.pk if own is not None and self.terms is None else None
        # A preset names no place: the meter's own contract of the day does.
        where = terms if terms.region and terms.area else base
        if terms.all_in or not where.area:
            return DayRates(terms, contract_id, None, _ZERO, ())
        return DayRates(
            terms=terms,
            contract_id=contract_id,
            network=self.book.network(where.area, day),
            vat=self.book.vat(day),
            levies=tuple(self.book.levies(where.region, where.domiciled, day)),
        )

    def place_on(self, day: date) -> tuple[str, str]:
        """(region, area) of the meter on ``day``, from its contract; empty strings when none says."""
        own = self.contract_on(day)
        terms = self.terms if self.terms is not None and self.terms.area else own
        return (terms.region, terms.area) if terms is not None else ("", "")

    # --- day-ahead prices -----------------------------------------------------------------------------------------

    def spot(self, ep: int, minutes: int) -> Decimal | None:
        """The day-ahead price of the quarter starting at ``ep``, or of its hour (the mean of its four quarters)."""
        if minutes == 15:
            return self._spot.get(ep)
        hour = ep - ep % 3600
        quarters = [self._spot.get(hour + 900 * i) for i in range(4)]
        if any(q is None for q in quarters) and hour not in self._spot_hours:
            self._spot_hours.add(hour)  # a quarter of the hour lies outside the stored data: ask for the hour
            self._spot.update(
                (int(slot.timestamp()), price)
                for slot, price in SpotPrice.objects.filter(
                    slot__gte=datetime.fromtimestamp(hour, UTC), slot__lt=datetime.fromtimestamp(hour + 3600, UTC)
                ).values_list("slot", "price_eur_mwh")
            )
            quarters = [self._spot.get(hour + 900 * i) for i in range(4)]
        known = [q for q in quarters if q is not None]
        return sum(known, _ZERO) / 4 if len(known) == 4 else None

    # --- quarters -------------------------------------------------------------------------------------------------

    def quarters(self, start: datetime, end: datetime) -> list[QuarterCost]:
        """Every stored quarter of the meter in [start, end), priced (its day-ahead price read in the same query)."""
        rows = _QUARTERS.fetch(self.meter_id, int(start.timestamp()), int(end.timestamp()))
        for row in rows:
            if row[6] is not None:
                self._spot[row[0]] = Decimal(repr(row[6]))  # 3 decimals in the table: the float's repr is exact
        return [self._price(*row[:6]) for row in rows]

    def _local(self, ep: int) -> tuple[date, int]:
        """The local day and hour of a UTC epoch, per UTC hour (Belgian offsets are whole hours)."""
        hour = ep // 3600
        found = self._hours.get(hour)
        if found is None:
            local = datetime.fromtimestamp(ep, self.zone)
            found = self._hours[hour] = (local.date(), local.hour)
        return found

    def _price(self, ep: int, i1: int, i2: int, e1: int, e2: int, gas_l: int | None) -> QuarterCost:
        day, hour = self._local(ep)
        rates = self.rates(day)
        t = rates.terms
        kind = t.energy_kind
        spot = None
        if kind == EnergyKind.DYNAMIC or t.export_kind == ExportKind.DYNAMIC:
            spot = self.spot(ep, t.spot_minutes)
        imp = i1 + i2
        bands = _bands(kind, hour, i1, i2)
        energy: Decimal | None
        if kind == EnergyKind.DYNAMIC:
            energy = None if spot is None else imp * _formula(t.spot_factor, t.spot_offset_ct, spot) / _KWH
        else:
            prices = rates.energy_prices
            energy = sum((wh * prices[band] for band, wh in bands if wh), _ZERO) / _KWH
        network = levies = _ZERO
        if rates.network is not None:
            prices = rates.network_prices
            network = sum((wh * prices[band] for band, wh in bands if wh), _ZERO) / _KWH
            levies = imp * rates.kwh_levy_eur / _KWH
        exp = e1 + e2
        export: Decimal | None
        if t.export_kind == ExportKind.DYNAMIC:
            export = (
                None if spot is None else exp * _formula(t.export_spot_factor, t.export_spot_offset_ct, spot) / _KWH
            )
        else:
            export = exp * t.export_eur_kwh / _KWH
        gas = _ZERO if not gas_l else gas_l * t.gas_kwh_per_m3 * t.gas_eur_kwh / _LITRES
        return QuarterCost(ep, day, i1, i2, exp, gas_l, bands, energy, network, levies, export, gas, rates.vat, spot)


_QUARTERS = RangeQuery(
    lambda meter_id, start, end: (
        QuarterEnergy.objects.filter(meter_id=meter_id, slot__gte=start, slot__lt=end)
        .order_by("slot")
        .annotate(
            ep=Epoch("slot"),
            spot=Cast(
                Subquery(SpotPrice.objects.filter(slot=OuterRef("slot")).values("price_eur_mwh")[:1]), FloatField()
            ),
        )
        .values_list("ep", "import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh", "gas_l", "spot")
    )
)


def _formula(a: Decimal | None, b: Decimal | None, spot: Decimal) -> Decimal:
    """A supplier's day-ahead formula in EUR/kWh: (a x EUR/MWh + b) c€/kWh."""
    return ((a or _ZERO) * spot + (b or _ZERO)) / _CT


_ALL_BANDS = (
    Band.SINGLE, Band.DAY, Band.NIGHT, Band.PEAK, Band.OFFPEAK, Band.PIC, Band.MEDIUM, Band.ECO, Band.SPOT
)  # fmt: skip


def _bands(kind: str, hour: int, i1: int, i2: int) -> tuple[tuple[str, int], ...]:
    if kind in (EnergyKind.DAY_NIGHT, EnergyKind.EXCLUSIVE_NIGHT):
        return ((Band.DAY, i1), (Band.NIGHT, i2))
    if kind == EnergyKind.DUAL:
        return ((wallonia_dual_band(hour), i1 + i2),)
    if kind == EnergyKind.IMPACT:
        return ((impact_band(hour), i1 + i2),)
    if kind == EnergyKind.DYNAMIC:
        return ((Band.SPOT, i1 + i2),)
    return ((Band.SINGLE, i1 + i2),)


def _energy_price(t: ContractTerms, band: str) -> Decimal:
    price = {
        Band.SINGLE: t.price_single_eur_kwh,
        Band.DAY: t.price_day_eur_kwh,
        Band.NIGHT: t.price_night_eur_kwh,
        Band.PEAK: t.price_peak_eur_kwh,
        Band.OFFPEAK: t.price_offpeak_eur_kwh,
        Band.PIC: t.price_pic_eur_kwh,
        Band.MEDIUM: t.price_medium_eur_kwh,
        Band.ECO: t.price_eco_eur_kwh,
    }.get(band)
    return _ZERO if price is None else price


def _network_price(rates: DayRates, kind: str, band: str) -> Decimal:
    """Distribution + transmission per kWh (without VAT) for a kWh of ``band`` under a contract of ``kind``.

    Flanders has one kWh rate for day and night, and its own for exclusive night; Wallonia charges by time band
    (dual or Impact) and Brussels by register (peak / off-peak); a band the area does not publish falls back to the
    single rate.
    """
    n = rates.network
    assert n is not None
    by_band: dict[str, Decimal | None] = {
        Band.PEAK: n.peak_eur,
        Band.OFFPEAK: n.offpeak_eur,
        Band.PIC: n.pic_eur,
        Band.MEDIUM: n.medium_eur,
        Band.ECO: n.eco_eur,
    }
    price: Decimal | None = by_band.get(band)
    if band == Band.NIGHT:
        price = n.exclusive_night_eur if kind == EnergyKind.EXCLUSIVE_NIGHT else n.offpeak_eur
    elif band == Band.DAY:
        price = n.peak_eur
    if price is None:
        price = n.kwh_eur
    return rates.net(price) + rates.net(n.transmission_eur)


# --- dashboard buckets -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketCost:
    import_eur: Decimal | None  # energy + network + levies, with VAT; None when a quarter has no price
    export_eur: Decimal | None
    gas_eur: Decimal | None


# Energy prices that depend on neither the clock nor the day-ahead price: a bucket's cost follows from its register
# totals, without reading its quarters (the sum of the quarters' costs, by linearity).
REGISTER_KINDS = frozenset({EnergyKind.SINGLE, EnergyKind.DAY_NIGHT, EnergyKind.EXCLUSIVE_NIGHT})


def by_registers(pricing: Pricing) -> bool:
    """Whether every contract ``pricing`` may apply prices by register only (and a fixed export price)."""
    candidates = [pricing.terms] if pricing.terms is not None else [*pricing.contracts, pricing.fallback]
    return all(t.energy_kind in REGISTER_KINDS and t.export_kind == ExportKind.FIXED for t in candidates)


def bucket_costs(
    pricing: Pricing, bounds: Sequence[datetime], has_gas: bool, totals: Sequence[tuple[int, int, int, int | None]]
) -> list[BucketCost]:
    """The consumer cost of each bucket [bounds[k], bounds[k+1]): the sum of its quarters' costs.

    ``totals`` are the buckets' (import 1.8.1, import 1.8.2, export, gas litres): with prices by register only
    (:func:`by_registers`) they are priced as one quarter of the bucket's day would be, which is the same sum (a
    bucket never spans two local days, the day contracts and tariffs change on); else the quarters are read.
    """
    if by_registers(pricing):
        out = []
        for start, (i1, i2, exp_wh, gas_l) in zip(bounds, totals, strict=False):
            q = pricing._price(int(start.timestamp()), i1, i2, exp_wh, 0, gas_l)
            out.append(BucketCost(q.consumer_import_eur, q.export_eur, q.gas_eur * (1 + q.vat) if has_gas else None))
        return out
    quarters = pricing.quarters(bounds[0], bounds[-1])
    out = []
    i = 0
    for k in range(len(bounds) - 1):
        end = int(bounds[k + 1].timestamp())
        imp: Decimal | None = _ZERO
        exp: Decimal | None = _ZERO
        gas = _ZERO
        seen = False
        while i < len(quarters) and quarters[i].ep < end:
            q = quarters[i]
            seen = True
            c = q.consumer_import_eur
            imp = None if imp is None or c is None else imp + c
            exp = None if exp is None or q.export_eur is None else exp + q.export_eur
            gas += q.gas_eur * (1 + q.vat)
            i += 1
        if not seen:
            out.append(BucketCost(None, None, None))
        else:
            out.append(BucketCost(imp, exp, gas if has_gas else None))
    return out


def effective_prices(meter_id: int, prices: Prices, day: date, book: TariffBook | None = None) -> Prices:
    """``prices`` (the owner's profile) with the capacity price of the meter's contract on ``day``: its Flemish
    area's EUR/kW/year with VAT (what a household pays for a kW, like the dashboard's import cost), none outside
    Flanders (no measured capacity tariff there), an all-in contract's own. Unchanged for a meter without a
    contract that day: the capacity card and the live peak guard then price peaks as before contracts existed."""
    contract = (
        Contract.objects.filter(meter_id=meter_id, valid_from__lte=day)
        .exclude(valid_to__lte=day)
        .order_by("-valid_from")
        .first()
    )
    if contract is None:
        return prices
    if contract.all_in:
        yearly = contract.capacity_eur_kw_year
        return prices if yearly is None else replace(prices, capacity_eur_kw_year=yearly)
    book = book or TariffBook()
    tariff = book.network(contract.area, day) if contract.region == Region.FLANDERS else None
    capacity = tariff.capacity_eur_kw_year if tariff is not None else None
    with_vat = (capacity or _ZERO) * (1 + book.vat(day))
    return replace(prices, capacity_eur_kw_year=with_vat)
