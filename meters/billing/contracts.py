"""A meter's contract history: adding a contract closes the running one, and periods never overlap.

Views, the API and admin call these; the rules of what a contract must hold live in :func:`check_terms`.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from meters.models import Contract, ContractTerms, EnergyKind, ExportKind, Meter, NetworkTariff, Region

logger = logging.getLogger(__name__)

# Which price fields each kind of energy price needs.
REQUIRED_PRICES: dict[str, tuple[str, ...]] = {
    EnergyKind.SINGLE: ("price_single_eur_kwh",),
    EnergyKind.DAY_NIGHT: ("price_day_eur_kwh", "price_night_eur_kwh"),
    EnergyKind.EXCLUSIVE_NIGHT: ("price_day_eur_kwh", "price_night_eur_kwh"),
    EnergyKind.DUAL: ("price_peak_eur_kwh", "price_offpeak_eur_kwh"),
    EnergyKind.IMPACT: ("price_pic_eur_kwh", "price_medium_eur_kwh", "price_eco_eur_kwh"),
    EnergyKind.DYNAMIC: ("spot_factor", "spot_offset_ct"),
}


def check_terms(terms: ContractTerms) -> None:
    """Raises ValidationError (by field) when ``terms`` cannot price a quarter: a price its kind needs is
    missing, the area is not one of its region's, or a Walloon time band is asked for outside Wallonia."""
    errors: dict[str, str] = {}
    for name in REQUIRED_PRICES[terms.energy_kind]:
        if getattr(terms, name) is None:
            errors[name] = _("Needed for this kind of energy price.")
    if terms.export_kind == ExportKind.DYNAMIC:
        for name in ("export_spot_factor", "export_spot_offset_ct"):
            if getattr(terms, name) is None:
                errors[name] = _("Needed for a day-ahead export price.")
    if not terms.all_in:
        if not terms.region:
            errors["region"] = _("Choose the region: network tariffs and levies depend on it.")
        elif not NetworkTariff.objects.filter(region=terms.region, area=terms.area).exists():
            errors["area"] = _("Choose one of the distribution areas of %(region)s.") % {
                "region": Region(terms.region).label
            }
        if terms.energy_kind in (EnergyKind.DUAL, EnergyKind.IMPACT) and terms.region != Region.WALLONIA:
            errors["energy_kind"] = _("Peak / off-peak hours and the Impact bands exist in Wallonia only.")
    if errors:
        raise ValidationError(errors)


def add_contract(meter: Meter, contract: Contract) -> Contract:
    """Store ``contract`` (unsaved, fields filled) for ``meter`` from its ``valid_from``.

    The contract running on that day ends the day before (its ``valid_to`` becomes the new ``valid_from``); a
    contract starting later bounds the new one. Raises ValidationError when the new one starts on the day another
    starts, or when its own ``valid_to`` runs into a later contract.
    """
    check_terms(contract)
    contract.meter = meter
    with transaction.atomic():
        others = list(Contract.objects.select_for_update().filter(meter=meter).order_by("valid_from"))
        for other in others:
            if other.valid_from == contract.valid_from:
                raise ValidationError(
                    {"valid_from": _("Another contract starts on %(day)s.") % {"day": _day(other.valid_from)}}
                )
        later = [o for o in others if o.valid_from > contract.valid_from]
        if later:
            bound = later[0].valid_from
            if contract.valid_to is None or contract.valid_to > bound:
                if contract.valid_to is not None:
                    raise ValidationError(
                        {"valid_to": _("The next contract starts on %(day)s.") % {"day": _day(bound)}}
                    )
                contract.valid_to = bound
        if contract.valid_to is not None and contract.valid_to <= contract.valid_from:
            raise ValidationError({"valid_to": _("The end must come after the start.")})
        running = [o for o in others if o.valid_from < contract.valid_from and _runs_on(o, contract.valid_from)]
        for other in running:
            other.valid_to = contract.valid_from
            other.save(update_fields=["valid_to"])
        contract.save()
    logger.info("contracts: meter %s has contract %s from %s", meter.pk, contract.pk, contract.valid_from)
    return contract


def delete_contract(contract: Contract) -> None:
    """Delete ``contract``; its days are priced by the contract before it if that one ran up to it, else by the
    profile prices."""
    with transaction.atomic():
        before = (
            Contract.objects.filter(meter_id=contract.meter_id, valid_to=contract.valid_from)
            .order_by("-valid_from")
            .first()
        )
        if before is not None:
            before.valid_to = contract.valid_to
            before.save(update_fields=["valid_to"])
        contract.delete()


def _runs_on(contract: Contract, day: date) -> bool:
    return contract.valid_from <= day and (contract.valid_to is None or day < contract.valid_to)


def _day(day: date) -> str:
    return date_format(day, "j F Y")


def last_day(contract: Contract) -> date | None:
    """The contract's last day (``valid_to`` is exclusive), for display."""
    return None if contract.valid_to is None else contract.valid_to - timedelta(days=1)
