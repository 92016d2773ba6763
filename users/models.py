"""Per-user settings kept beside Django's User: energy prices used for cost figures."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django_stubs_ext import StrOrPromise


def _price(verbose_name: StrOrPromise, help_text: StrOrPromise) -> models.DecimalField:
    return models.DecimalField(
        verbose_name,
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=help_text,
    )


@dataclass(frozen=True)
class Prices:
    import_day_eur_kwh: Decimal
    import_night_eur_kwh: Decimal
    export_eur_kwh: Decimal
    capacity_eur_kw_year: Decimal
    gas_eur_m3: Decimal


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile", verbose_name=_("user")
    )
    price_import_day = _price(
        _("import price, day tariff"), _("Import, day tariff (EUR/kWh). Empty uses the site default.")
    )
    price_import_night = _price(
        _("import price, night tariff"), _("Import, night tariff (EUR/kWh). Empty uses the site default.")
    )
    price_export = _price(_("export compensation"), _("Export compensation (EUR/kWh). Empty uses the site default."))
    price_capacity = _price(
        _("capacity tariff"), _("Capacity tariff (EUR per kW per year). Empty uses the site default.")
    )
    price_gas = _price(_("gas price"), _("Gas (EUR/m³). Empty uses the site default."))
    last_meter_code = models.UUIDField(
        _("last shown meter"), null=True, blank=True, help_text=_("Meter last shown on the dashboard.")
    )
    # The choices are the languages' own names (settings.LANGUAGES), never translated: a reader finds their own.
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        default="",
        choices=settings.LANGUAGES,
        help_text=_("Language of the site for this account; empty follows the browser."),
    )
    token_version = models.PositiveIntegerField(
        _("token version"),
        default=0,
        editable=False,
        help_text=_("Put into every API token; raised on a password change or deactivation, which revokes them."),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return gettext("Profile of %(user)s") % {"user": self.user}

    def prices(self) -> Prices:
        """Effective prices: the user's own where set, the site defaults (settings.PRICE_*) elsewhere."""
        return Prices(
            import_day_eur_kwh=_or(self.price_import_day, settings.PRICE_IMPORT_DAY_EUR_KWH),
            import_night_eur_kwh=_or(self.price_import_night, settings.PRICE_IMPORT_NIGHT_EUR_KWH),
            export_eur_kwh=_or(self.price_export, settings.PRICE_EXPORT_EUR_KWH),
            capacity_eur_kw_year=_or(self.price_capacity, settings.PRICE_CAPACITY_EUR_KW_YEAR),
            gas_eur_m3=_or(self.price_gas, settings.PRICE_GAS_EUR_M3),
        )


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def profile_for(user: User) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def prices_for(user: User | AnonymousUser | None) -> Prices:
    """The user's effective prices, read without creating a profile (safe in a GET).

    Site defaults for None (an unclaimed meter's owner), an anonymous user and a user without a profile row.
    """
    if user is None or not user.is_authenticated:
        return Profile().prices()
    return (Profile.objects.filter(user=user).first() or Profile()).prices()
