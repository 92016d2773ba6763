"""Per-user settings kept beside Django's User: energy prices used for cost figures, language, alert settings."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

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


ALERT_OFFLINE_MINUTES_DEFAULT = 60
ALERT_OFFLINE_MINUTES_MIN = 5
ALERT_OFFLINE_MINUTES_MAX = 1440
_ALERT_SETTINGS_SECONDS = 60  # how long meters.alerts may act on settings the owner has just changed elsewhere


def new_webhook_secret() -> str:
    """A fresh signing secret for the alert webhook (256 random bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_webhook_url(value: str) -> None:
    """An alert webhook must be https: the body names the meter, and the receiver trusts what the signature covers.

    Plain http is accepted with ``DEBUG`` on and for a loopback host (a receiver on the server itself, and the
    tests' local receiver). Raises ``ValidationError`` (code ``webhook_https``).
    """
    parts = urlsplit(value)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and (settings.DEBUG or _is_loopback((parts.hostname or "").lower())):
        return
    raise ValidationError(
        _("Use an https:// address: alerts name your meter and must not travel unencrypted."), code="webhook_https"
    )


@dataclass(frozen=True)
class AlertSettings:
    """What ``meters.alerts`` needs of an account on every snapshot; the webhook secret is never part of it."""

    peak: bool
    peak_threshold_kw: Decimal | None
    offline: bool
    offline_minutes: int
    email: bool
    webhook_url: str
    prices: Prices


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
    # Light or dark pages; "auto" follows the device (prefers-color-scheme). Logged out, a cookie keeps the choice
    # (theme.preferences).
    theme = models.CharField(
        _("colour scheme"),
        max_length=8,
        default="auto",
        choices=[("auto", _("Automatic (as the device)")), ("light", _("Light")), ("dark", _("Dark"))],
        help_text=_("Light or dark pages for this account; automatic follows the device's setting."),
    )
    token_version = models.PositiveIntegerField(
        _("token version"),
        default=0,
        editable=False,
        help_text=_("Put into every API token; raised on a password change or deactivation, which revokes them."),
    )
    # Alerts (meters.alerts): a quarter heading for a new month peak, a Pi that went silent and came back.
    alert_peak = models.BooleanField(
        _("peak alert"), default=False, help_text=_("Warn when this quarter-hour is heading for a new month peak.")
    )
    alert_peak_threshold_kw = models.DecimalField(
        _("peak alert threshold (kW)"),
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Warn only when the quarter heads above this too. Empty: above the month peak (at least 2.5 kW)."),
    )
    alert_offline = models.BooleanField(
        _("offline alert"), default=False, help_text=_("Tell me when my Pi stops sending data, and when it is back.")
    )
    alert_offline_minutes = models.PositiveIntegerField(
        _("offline after (minutes)"),
        default=ALERT_OFFLINE_MINUTES_DEFAULT,
        validators=[MinValueValidator(ALERT_OFFLINE_MINUTES_MIN), MaxValueValidator(ALERT_OFFLINE_MINUTES_MAX)],
        help_text=_("Minutes without data before the alert (5 to 1440)."),
    )
    alert_email = models.BooleanField(
        _("alerts by e-mail"), default=True, help_text=_("Send alerts to the account's e-mail address.")
    )
    alert_webhook_url = models.URLField(
        _("alert webhook"),
        max_length=500,
        blank=True,
        default="",
        validators=[validate_webhook_url],
        help_text=_("Alerts are also posted as signed JSON to this https:// address. Empty: no webhook."),
    )
    alert_webhook_secret = models.CharField(
        _("webhook signing secret"),
        max_length=64,
        default=new_webhook_secret,
        editable=False,
        help_text=_("Key of the X-P1-Signature header (HMAC-SHA256); made by the server, never logged."),
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

    def alert_settings(self) -> AlertSettings:
        return AlertSettings(
            peak=self.alert_peak,
            peak_threshold_kw=self.alert_peak_threshold_kw,
            offline=self.alert_offline,
            offline_minutes=self.alert_offline_minutes,
            email=self.alert_email,
            webhook_url=self.alert_webhook_url,
            prices=self.prices(),
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


def renew_webhook_secret(profile: Profile) -> None:
    """Give ``profile`` a new webhook signing secret; the old one signs nothing from now on."""
    profile.alert_webhook_secret = new_webhook_secret()
    profile.save(update_fields=["alert_webhook_secret"])
    logger.info("profile: new webhook secret for user %s", profile.user_id)  # never the secret itself


def _alert_settings_key(user_id: int) -> str:
    return f"alerts:settings:{user_id}"


def alert_settings_for(user_id: int) -> AlertSettings:
    """The account's alert settings and prices, read without creating a profile and kept in the shared cache for
    a minute: ``meters.alerts`` asks on every snapshot that could raise a peak (many per second across meters).

    The defaults for a user without a profile row. ``forget_alert_settings`` after a change makes it count at once.
    """
    key = _alert_settings_key(user_id)
    found = _loaded_settings(cache.get(key))
    if found is not None:
        return found
    found = (Profile.objects.filter(user_id=user_id).first() or Profile()).alert_settings()
    # Plain types only (as meters.live keeps snapshots): both caches pickle, and a dataclass ties them to the code.
    cache.set(key, asdict(found), timeout=_ALERT_SETTINGS_SECONDS)
    return found


def _loaded_settings(data: Any) -> AlertSettings | None:
    try:
        return AlertSettings(**{**data, "prices": Prices(**data["prices"])})
    except (KeyError, TypeError):
        return None  # nothing cached, or an entry written by another version: read the profile again


def forget_alert_settings(user_id: int) -> None:
    cache.delete(_alert_settings_key(user_id))
