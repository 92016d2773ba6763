"""Forms of the meter pages; field names follow the prototype (``serialNumber``, ``name``)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

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
