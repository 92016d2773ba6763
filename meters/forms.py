"""Forms of the meter pages; field names follow the prototype (``serialNumber``, ``name``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from meters.billing import contracts
from meters.models import Contract, NetworkTariff, Region, ShareRole
from theme.forms import DecimalCommaField, StyledFormMixin


class AddMeterForm(StyledFormMixin, forms.Form):
    serialNumber = forms.CharField(  # the prototype's field name, kept for old scripts
        label=_("Serial number"),
        max_length=64,
        help_text=_("The meter's equipment id (0-0:96.1.1), e.g. 1SAG1100000292. Your P1 device shows it."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label=_("Name"), max_length=100, required=False, help_text=_("For example: Home, Garage."))
    # A value that is not a number fails here, in the form, so it never reaches claim_meter and never counts
    # as a wrong claim attempt.
    register = DecimalCommaField(
        label=_("Day register 1.8.1 (kWh)"),
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=3,
        example="1019,100",
        help_text=_(
            "Only asked when the meter already sends data: the value after 1.8.1 on the meter's display, "
            "with a comma or a dot, e.g. 1019,100."
        ),
    )


class RenameMeterForm(StyledFormMixin, forms.Form):
    name = forms.CharField(label=_("New name"), max_length=100, required=False)


class DeleteWithDataForm(forms.Form):
    confirm = forms.CharField(label=_("Type the serial number to confirm"), max_length=64)


class DeviceCodeForm(StyledFormMixin, forms.Form):
    user_code = forms.CharField(
        label=_("Code shown by the device"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false"}
        ),
        help_text=_("Eight letters, e.g. WDJB-MJHT. Dashes, spaces and case do not matter."),
    )


_CONTRACT_DECIMALS = (
    "price_single_eur_kwh",
    "price_day_eur_kwh",
    "price_night_eur_kwh",
    "price_peak_eur_kwh",
    "price_offpeak_eur_kwh",
    "price_pic_eur_kwh",
    "price_medium_eur_kwh",
    "price_eco_eur_kwh",
    "spot_factor",
    "spot_offset_ct",
    "export_eur_kwh",
    "export_spot_factor",
    "export_spot_offset_ct",
    "fixed_eur_year",
    "gas_eur_kwh",
    "gas_kwh_per_m3",
)


class ContractForm(StyledFormMixin, forms.ModelForm):
    """A contract of the meter (meters.billing.contracts checks that it can price every quarter)."""

    class Meta:
        model = Contract
        fields = (
            "name",
            "valid_from",
            "valid_to",
            "region",
            "area",
            "domiciled",
            "energy_kind",
            *_CONTRACT_DECIMALS[:11],
            "export_kind",
            *_CONTRACT_DECIMALS[11:],
        )
        field_classes = dict.fromkeys(_CONTRACT_DECIMALS, DecimalCommaField)
        widgets = {
            "valid_from": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "valid_to": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        help_texts = {
            "valid_to": _("The first day it no longer applies; empty while it runs."),
            "price_single_eur_kwh": _("The energy component without VAT, as on the tariff card, e.g. 0,1100."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups: dict[str, list[tuple[str, str]]] = {}
        for region, area in NetworkTariff.objects.order_by("region", "area").values_list("region", "area").distinct():
            groups.setdefault(str(Region(region).label), []).append((area, area))
        self.fields["area"] = forms.ChoiceField(
            label=_("Distribution area"),
            choices=[("", "---------"), *groups.items()],
            required=False,
            help_text=_("Your Fluvius area or network operator: it is on your bill."),
        )
        self.fields["region"].required = True

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # ModelForm's, behind the mixin
        try:
            contracts.check_terms(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]


class ShareForm(StyledFormMixin, forms.Form):
    email = forms.EmailField(label=_("E-mail address"), help_text=_("The person gets a link to accept, valid 7 days."))
    role = forms.ChoiceField(
        label=_("Role"),
        choices=ShareRole.choices,
        initial=ShareRole.VIEWER,
        help_text=_(
            "A viewer sees the dashboards, live data and bills; a manager also renames the meter and keeps "
            "its contracts. Only you can share, remove or delete it."
        ),
    )


class FluviusImportForm(StyledFormMixin, forms.Form):
    """The upload on "Import history from Mijn Fluvius" (meters.fluvius.imports.import_file)."""

    file = forms.FileField(
        label=_("Mijn Fluvius export (CSV)"),
        help_text=_(
            "Quarter-hour totals, day totals, monthly peaks or gas, as downloaded from Mijn Fluvius; up to three "
            "years. Importing a file again changes nothing."
        ),
    )
    skip_errors = forms.BooleanField(
        label=_("Skip bad rows"),
        required=False,
        help_text=_("Store the good rows of a file with bad ones; the bad rows are listed."),
    )
