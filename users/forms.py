"""Account forms: registration, login by username or e-mail, profile and price settings."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    UserCreationForm,
)

from theme.forms import DecimalCommaField, StyledFormMixin
from users.models import Profile

User = get_user_model()

DUPLICATE_USERNAME = "This username is already taken. Choose another one."
DUPLICATE_EMAIL = "An account with this e-mail address already exists. Log in or reset your password instead."


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


class RegisterForm(StyledFormMixin, UserCreationForm):
    email = forms.EmailField(
        label="E-mail",
        help_text="Used to reset your password. Never shown to other users.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if _username_taken(username):
            raise forms.ValidationError(DUPLICATE_USERNAME, code="duplicate_username")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if _email_taken(email):
            raise forms.ValidationError(DUPLICATE_EMAIL, code="duplicate_email")
        return email


class LoginForm(StyledFormMixin, AuthenticationForm):
    """Django's form (it passes the request to authenticate(), which django-axes needs)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Wrong username/e-mail or password. Both are case-sensitive except the e-mail.",
    }

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Username or e-mail"
        self.fields["username"].widget.attrs["autocomplete"] = "username"


class AccountForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name")
        labels = {"email": "E-mail"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if _username_taken(username, exclude_pk=self.instance.pk):
            raise forms.ValidationError(DUPLICATE_USERNAME, code="duplicate_username")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if _email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError("Another account already uses this e-mail address.", code="duplicate_email")
        return email


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
            "price_import_day": "Import, day tariff (EUR/kWh)",
            "price_import_night": "Import, night tariff (EUR/kWh)",
            "price_export": "Export compensation (EUR/kWh)",
            "price_capacity": "Capacity tariff (EUR per kW per year)",
            "price_gas": "Gas (EUR/m³)",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, setting in PRICE_DEFAULTS.items():
            field = self.fields[name]
            default = getattr(settings, setting)
            field.example = str(default).replace(".", ",")
            field.widget.attrs["placeholder"] = str(default)
            field.help_text = f"Leave empty to use the site default ({default})."


class StyledPasswordChangeForm(StyledFormMixin, PasswordChangeForm):
    pass


class StyledPasswordResetForm(StyledFormMixin, PasswordResetForm):
    pass


class StyledSetPasswordForm(StyledFormMixin, SetPasswordForm):
    pass
