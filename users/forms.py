"""Account forms: registration, login by username or e-mail, profile, language, colour scheme, price and alert
settings, account deletion."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    UserCreationForm,
    UsernameField,
)
from django.http import HttpRequest
from django.utils.formats import localize
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from theme.forms import DecimalCommaField, StyledFormMixin
from users.account import MeterChoice
from users.models import Profile
from users.text import mixes_scripts

User = get_user_model()

DUPLICATE_USERNAME = _("This username is already taken. Choose another one.")
DUPLICATE_EMAIL = _("An account with this e-mail address already exists. Log in or reset your password instead.")
MIXED_SCRIPTS = _(
    "Use letters of one script in a username (not, for example, Latin and Cyrillic together): "
    "such names can look exactly like someone else's."
)
FOREIGN_EMAIL_USERNAME = _(
    "A username that is an e-mail address must be your own e-mail, the one in the E-mail field. "
    "Choose a username without @, or use your e-mail address."
)


def _username_taken(username: str, exclude_pk: int | None = None) -> bool:
    users = User._default_manager.filter(username__iexact=username)
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    return users.exists()


def _email_taken(email: str, exclude_pk: int | None = None) -> bool:
    users = User._default_manager.filter(email__iexact=email)
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    return users.exists()


def check_username(username: str, exclude_pk: int | None = None) -> str:
    """``username`` (already NFKC-normalised by ``UsernameField``) if it may be chosen.

    Raises ``forms.ValidationError`` for letters of several scripts or a name taken in any case.
    """
    if mixes_scripts(username):
        raise forms.ValidationError(MIXED_SCRIPTS, code="mixed_scripts")
    if _username_taken(username, exclude_pk=exclude_pk):
        raise forms.ValidationError(DUPLICATE_USERNAME, code="duplicate_username")
    return username


def username_fits_email(username: str, email: str) -> bool:
    """A username with an @ must be the account's own e-mail: login accepts either, and a username that is
    another person's e-mail would take over their e-mail login (usernames are matched first)."""
    return "@" not in username or username.casefold() == email.casefold()


class RegisterForm(StyledFormMixin, UserCreationForm):
    email = forms.EmailField(
        label=_("E-mail"),
        help_text=_("Used to reset your password. Never shown to other users."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    # The stubs declare no Meta on UserCreationForm (Django defines it on BaseUserCreationForm).
    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]
        model = User
        fields = ("username", "email")

    def clean_username(self) -> str:
        return check_username(self.cleaned_data["username"])

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if _email_taken(email):
            raise forms.ValidationError(DUPLICATE_EMAIL, code="duplicate_email")
        return email

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (the stubs allow None, as for any form's clean())
        _check_email_username(self, self.cleaned_data)
        return self.cleaned_data


class LoginForm(StyledFormMixin, AuthenticationForm):
    """Django's form (it passes the request to authenticate(), which django-axes needs)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Wrong username/e-mail or password. Both are case-sensitive except the e-mail."),
    }

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = gettext("Username or e-mail")
        self.fields["username"].widget.attrs["autocomplete"] = "username"


class AccountForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name")
        labels = {"email": _("E-mail")}
        # Django's username field NFKC-normalises, so a full-width "BOB" is checked (and stored) as "BOB".
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_username(self) -> str:
        return check_username(self.cleaned_data["username"], exclude_pk=self.instance.pk)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if _email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError(
                gettext("Another account already uses this e-mail address."), code="duplicate_email"
            )
        return email

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (the stubs allow None, as for any form's clean())
        _check_email_username(self, self.cleaned_data)
        return self.cleaned_data


def _check_email_username(form: forms.BaseForm, cleaned: Mapping[str, Any]) -> None:
    username, email = cleaned.get("username"), cleaned.get("email")
    if username and email and not username_fits_email(username, email):
        form.add_error("username", forms.ValidationError(FOREIGN_EMAIL_USERNAME, code="foreign_email_username"))


# Field name -> the site-wide default it overrides.
PRICE_DEFAULTS = {
    "price_import_day": "PRICE_IMPORT_DAY_EUR_KWH",
    "price_import_night": "PRICE_IMPORT_NIGHT_EUR_KWH",
    "price_export": "PRICE_EXPORT_EUR_KWH",
    "price_capacity": "PRICE_CAPACITY_EUR_KW_YEAR",
    "price_gas": "PRICE_GAS_EUR_M3",
}


class PricesForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Profile
        fields = tuple(PRICE_DEFAULTS)
        # Belgian tariff sheets write 0,3412: every price takes a comma as well as a dot.
        field_classes = dict.fromkeys(PRICE_DEFAULTS, DecimalCommaField)
        labels = {
            "price_import_day": _("Import, day tariff (EUR/kWh)"),
            "price_import_night": _("Import, night tariff (EUR/kWh)"),
            "price_export": _("Export compensation (EUR/kWh)"),
            "price_capacity": _("Capacity tariff (EUR per kW per year)"),
            "price_gas": _("Gas (EUR/m³)"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, setting in PRICE_DEFAULTS.items():
            field = cast(DecimalCommaField, self.fields[name])  # Meta.field_classes
            default = getattr(settings, setting)
            field.example = str(default).replace(".", ",")
            # The page's decimal mark: 0.30 in English, 0,30 in nl/fr/de (both are accepted).
            field.widget.attrs["placeholder"] = localize(default)
            field.help_text = gettext("Leave empty to use the site default (%(default)s).") % {
                "default": localize(default)
            }


class LanguageSelect(forms.Select):
    """A select whose options name their language in it (``lang="nl"``), as the header's switcher does."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["lang"] = value
        return option


class LanguageForm(StyledFormMixin, forms.ModelForm):
    """The account's language (``Profile.language``), which outranks the cookie and the browser
    (``users.middleware``); empty follows the browser."""

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Follow my browser")), *settings.LANGUAGES],
        widget=LanguageSelect,
    )

    class Meta:
        model = Profile
        fields = ("language",)


class ThemeForm(StyledFormMixin, forms.ModelForm):
    """The account's colour scheme (``Profile.theme``): light, dark, or as the device (theme.preferences)."""

    class Meta:
        model = Profile
        fields = ("theme",)
        labels = {"theme": _("Colour scheme")}


class AlertsForm(StyledFormMixin, forms.ModelForm):
    """The account's alerts (``meters.alerts``): what triggers them and where they go. The limits are the model's
    validators, so each error stands beside its field."""

    alert_webhook_url = forms.URLField(
        label=_("Webhook URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("Alerts are also posted here as signed JSON (see the help below). Empty: no webhook."),
        widget=forms.URLInput(attrs={"autocomplete": "off", "placeholder": "https://"}),
    )

    class Meta:
        model = Profile
        fields = (
            "alert_peak",
            "alert_peak_threshold_kw",
            "alert_offline",
            "alert_offline_minutes",
            "alert_email",
            "alert_webhook_url",
        )
        field_classes = {"alert_peak_threshold_kw": DecimalCommaField}
        # Text, not type=number: the page's inputs stay alike on phones (see DecimalCommaField); the keypad stays.
        widgets = {"alert_offline_minutes": forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})}
        labels = {
            "alert_peak": _("Warn me before a new month peak"),
            "alert_peak_threshold_kw": _("Only above (kW)"),
            "alert_offline": _("Warn me when my Pi stops sending data"),
            "alert_offline_minutes": _("After how many minutes without data"),
            "alert_email": _("By e-mail"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        threshold = cast(DecimalCommaField, self.fields["alert_peak_threshold_kw"])  # Meta.field_classes
        threshold.example = "5,5"
        threshold.help_text = gettext(
            "Optional. You are warned when the quarter-hour heads above your month peak, at least %(minimum)s kW; "
            "a value here warns only above it."
        ) % {"minimum": localize(settings.CAPACITY_MINIMUM_KW)}
        if self.instance.user_id is not None:
            self.fields["alert_email"].help_text = gettext("To %(address)s.") % {
                "address": self.instance.user.email or gettext("(no e-mail address)")
            }


class StyledPasswordChangeForm(StyledFormMixin, PasswordChangeForm):
    pass


class StyledPasswordResetForm(StyledFormMixin, PasswordResetForm):
    pass


class StyledSetPasswordForm(StyledFormMixin, SetPasswordForm):
    pass


class DeleteAccountForm(StyledFormMixin, forms.Form):
    """The account deletion's confirmation: the current password (or, for an account that logs in only through
    a social provider and has none, the username typed again) and, per owned meter, delete its data or release it.
    Every meter starts on "delete", the choice that keeps nothing of the account."""

    def __init__(self, user: Any, meters: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        self.user = user
        self.meters = list(meters)
        fields: dict[str, forms.Field] = {}
        if user.has_usable_password():
            fields["password"] = forms.CharField(
                label=_("Your current password"),
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
            )
        else:
            fields["username"] = forms.CharField(
                label=_("Your username"),
                help_text=_("Your account has no password: type your username to confirm."),
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )
        for meter in self.meters:
            fields[self.meter_field(meter)] = forms.ChoiceField(
                label=meter.display_name,
                choices=[
                    (MeterChoice.DELETE.value, _("Delete the meter and all its data")),
                    (MeterChoice.RELEASE.value, _("Remove it from my account; its data stays with the meter")),
                ],
                initial=MeterChoice.DELETE.value,
                widget=forms.RadioSelect,
            )
        # Per instance and before the base class copies them, so StyledFormMixin styles these fields too.
        self.base_fields = fields  # type: ignore[misc]  # shadows the class's (empty) base_fields, never changes it
        super().__init__(*args, **kwargs)

    @property
    def asks_password(self) -> bool:
        return "password" in self.fields

    @staticmethod
    def meter_field(meter: Any) -> str:
        return f"meter-{meter.code}"  # the public code: primary keys stay out of pages

    def meter_fields(self) -> list[tuple[Any, forms.BoundField]]:
        """(meter, its bound choice field), for the template."""
        return [(meter, self[self.meter_field(meter)]) for meter in self.meters]

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(
                _("This is not your current password. Nothing was deleted."), code="wrong_password"
            )
        return password

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if username != self.user.get_username():
            raise forms.ValidationError(_("This is not your username. Nothing was deleted."), code="wrong_username")
        return username

    def meter_choices(self) -> dict[int, MeterChoice]:
        """The choices of a valid form, by meter primary key (``users.account.delete_account``'s input)."""
        return {meter.pk: MeterChoice(self.cleaned_data[self.meter_field(meter)]) for meter in self.meters}
