"""Domain model: a Fluvius meter and its quarter-hour readings (docs/design.md, "Data model")."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from p1edge import wire

# Field names shared by the model, the /api/v1/ JSON, the CSV export and the edge's spool records: one definition,
# in the edge package (the model's fields below must match it; tests/meters/test_models.py checks).
READING_FIELDS = wire.READING_FIELDS
REGISTER_FIELDS = wire.REGISTER_FIELDS
POWER_FIELDS = wire.POWER_FIELDS
PHASE_FIELDS = wire.PHASE_FIELDS


def _kwh(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=3, **kwargs)


def _kw(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=8, decimal_places=3, **kwargs)


class Meter(models.Model):
    serial = models.CharField(
        _("serial number"),
        max_length=32,
        unique=True,
        help_text=_("Decoded equipment id (0-0:96.1.1), e.g. 1SAG1100000292."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="meters",
        verbose_name=_("owner"),
        help_text=_("Empty means unclaimed."),
    )
    code = models.UUIDField(
        _("code"), default=uuid.uuid4, unique=True, editable=False, help_text=_("Public id used in URLs.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name", "serial"]
        verbose_name = _("meter")
        verbose_name_plural = _("meters")

    def __str__(self) -> str:
        return f"{self.name} ({self.serial})" if self.name else self.serial

    @property
    def display_name(self) -> str:
        return self.name or self.serial


class Reading(models.Model):
    """The meter's state at the start of one quarter-hour slot."""

    class Tariff(models.IntegerChoices):
        DAY = 1, _("day")
        NIGHT = 2, _("night")

    # No index of its own: the unique (meter, timestamp) below (the primary key on PostgreSQL) starts with meter_id
    # and serves every lookup by meter; a second index would only slow every insert.
    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="readings", verbose_name=_("meter"), db_index=False
    )
    timestamp = models.DateTimeField(_("slot start"), help_text=_("Start of the quarter-hour slot (UTC)."))
    measured_at = models.DateTimeField(_("measured at"), help_text=_("Meter clock time of the telegram used."))

    import_t1_kwh = _kwh(verbose_name=_("import, day tariff (kWh)"), help_text=_("1-0:1.8.1 import, day tariff"))
    import_t2_kwh = _kwh(verbose_name=_("import, night tariff (kWh)"), help_text=_("1-0:1.8.2 import, night tariff"))
    export_t1_kwh = _kwh(verbose_name=_("export, day tariff (kWh)"), help_text=_("1-0:2.8.1 export, day tariff"))
    export_t2_kwh = _kwh(verbose_name=_("export, night tariff (kWh)"), help_text=_("1-0:2.8.2 export, night tariff"))
    tariff = models.PositiveSmallIntegerField(_("tariff"), choices=Tariff.choices, null=True, blank=True)
    power_import_kw = _kw(verbose_name=_("import power (kW)"), help_text="1-0:1.7.0")
    power_export_kw = _kw(verbose_name=_("export power (kW)"), help_text="1-0:2.7.0")

    l1_import_kw = _kw(null=True, blank=True, verbose_name=_("L1 import (kW)"))
    l2_import_kw = _kw(null=True, blank=True, verbose_name=_("L2 import (kW)"))
    l3_import_kw = _kw(null=True, blank=True, verbose_name=_("L3 import (kW)"))
    l1_export_kw = _kw(null=True, blank=True, verbose_name=_("L1 export (kW)"))
    l2_export_kw = _kw(null=True, blank=True, verbose_name=_("L2 export (kW)"))
    l3_export_kw = _kw(null=True, blank=True, verbose_name=_("L3 export (kW)"))
    l1_voltage_v = models.DecimalField(_("L1 voltage (V)"), max_digits=5, decimal_places=1, null=True, blank=True)
    l2_voltage_v = models.DecimalField(_("L2 voltage (V)"), max_digits=5, decimal_places=1, null=True, blank=True)
    l3_voltage_v = models.DecimalField(_("L3 voltage (V)"), max_digits=5, decimal_places=1, null=True, blank=True)
    l1_current_a = models.DecimalField(_("L1 current (A)"), max_digits=6, decimal_places=2, null=True, blank=True)
    l2_current_a = models.DecimalField(_("L2 current (A)"), max_digits=6, decimal_places=2, null=True, blank=True)
    l3_current_a = models.DecimalField(_("L3 current (A)"), max_digits=6, decimal_places=2, null=True, blank=True)

    breaker_state = models.PositiveSmallIntegerField(_("breaker state"), null=True, blank=True, help_text="0-0:96.3.10")
    avg_demand_kw = _kw(
        null=True,
        blank=True,
        verbose_name=_("average demand (kW)"),
        help_text=_("1-0:1.4.0 average import of the running quarter"),
    )
    month_peak_kw = _kw(
        null=True,
        blank=True,
        verbose_name=_("month peak (kW)"),
        help_text=_("1-0:1.6.0 peak quarter of the running month"),
    )
    month_peak_at = models.DateTimeField(_("month peak at"), null=True, blank=True)
    gas_m3 = models.DecimalField(_("gas (m³)"), max_digits=12, decimal_places=3, null=True, blank=True)
    gas_at = models.DateTimeField(_("gas read at"), null=True, blank=True)
    water_m3 = models.DecimalField(_("water (m³)"), max_digits=12, decimal_places=3, null=True, blank=True)
    water_at = models.DateTimeField(_("water read at"), null=True, blank=True)

    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        ordering = ["meter", "timestamp"]
        verbose_name = _("reading")
        verbose_name_plural = _("readings")
        constraints = [
            # Also the index that serves "readings of one meter in a time range".
            models.UniqueConstraint(fields=["meter", "timestamp"], name="reading_unique_meter_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.meter.serial} @ {self.timestamp.isoformat()}"


class ClaimAttempt(models.Model):
    """One try at claiming an unclaimed meter with data by typing its day register; wrong ones are rate-limited
    per meter, per client network and per account (meters.claims.claim_meter). A row is written before the
    value is checked and counts as wrong until it is found right, so parallel tries are counted too."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claim_attempts", verbose_name=_("user")
    )
    serial = models.CharField(_("serial number"), max_length=32)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    # The client's IPv4 address or the /64 network of an IPv6 client (meters.claims.client_network): an IPv6
    # host picks from 2^64 addresses, so single addresses would not limit anyone. Empty when unknown.
    address = models.CharField(_("network"), max_length=64, blank=True, default="")
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("claim attempt")
        verbose_name_plural = _("claim attempts")
        indexes = [
            models.Index(fields=["user", "created_at"], name="claimattempt_user_time"),
            models.Index(fields=["serial", "created_at"], name="claimattempt_serial_time"),
            models.Index(fields=["address", "created_at"], name="claimattempt_address_time"),
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.serial} ({'ok' if self.succeeded else 'wrong'})"


class PendingMeter(models.Model):
    """A serial a user added on the Meters page while no data of it existed: a note, not a reservation.

    It is visible to that user only and gives no right to the meter, so several accounts may hold the same serial.
    The meter becomes an account's through the first upload by that account's device, which also takes the name
    typed here (meters.ingest.ingest_readings), or, once data exist, through the register proof.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_meters", verbose_name=_("user")
    )
    serial = models.CharField(_("serial number"), max_length=32, db_index=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    code = models.UUIDField(
        _("code"), default=uuid.uuid4, unique=True, editable=False, help_text=_("Public id used in forms.")
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "serial"]
        verbose_name = _("serial waiting for data")
        verbose_name_plural = _("serials waiting for data")
        constraints = [models.UniqueConstraint(fields=["user", "serial"], name="pendingmeter_unique_user_serial")]

    def __str__(self) -> str:
        return f"{self.user} waits for {self.serial}"

    @property
    def display_name(self) -> str:
        return self.name or self.serial


class Device(models.Model):
    """A Pi paired with an account (meters.devices): it uploads readings for its owner with a token of its own.

    Only a hash of the token is stored. A revoked device keeps its row, so its next request is told "device
    revoked" rather than "unknown token", and its history stays on the Devices page.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)  # SHA-256 hex of the token
    created_at = models.DateTimeField(_("paired"), default=timezone.now)
    created_from = models.CharField(
        _("paired from"), max_length=45, blank=True, default="", help_text=_("Address that asked for the code.")
    )
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_address = models.CharField(_("last address"), max_length=45, blank=True, default="")
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    meters = models.ManyToManyField(
        Meter, blank=True, related_name="devices", verbose_name=_("meters"), help_text=_("Meters it uploaded for.")
    )

    class Meta:
        ordering = ["-created_at", "pk"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.owner})"

    @property
    def display_name(self) -> str:
        return self.name or gettext("Device %(number)s") % {"number": self.pk}

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class DeviceAuthorization(models.Model):
    """One pairing request (RFC 8628): a device code the Pi polls with and a user code its owner types.

    Both codes are short-lived; the device code is stored as a hash. Once the Pi has fetched its token the row is
    ``issued`` and the device code is spent.
    """

    PENDING, APPROVED, DENIED, ISSUED = "pending", "approved", "denied", "issued"
    STATES = [(PENDING, "pending"), (APPROVED, "approved"), (DENIED, "denied"), (ISSUED, "issued")]

    device_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    user_code = models.CharField(max_length=8, unique=True)  # stored without the dash
    name = models.CharField(max_length=100, blank=True)
    address = models.CharField(max_length=45, blank=True, default="")
    state = models.CharField(max_length=8, choices=STATES, default=PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField(default=5, help_text="Seconds the device must wait between polls.")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    device = models.OneToOneField(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="deviceauth_expires")]

    def __str__(self) -> str:
        return f"{self.user_code[:4]}-{self.user_code[4:]} ({self.state})"


class Alert(models.Model):
    """One alert to a meter's owner (meters.alerts) and how each channel took it.

    ``key`` makes an alert happen once: the quarter's start for ``peak``, the meter's last sign of life before it
    went silent for ``offline`` and for the ``back`` that ends that silence. The unique (meter, kind, key) holds
    across workers and instances: the second insert fails, and its sender knows the alert went out already.
    """

    class Kind(models.TextChoices):
        PEAK = "peak", _("new month peak ahead")
        OFFLINE = "offline", _("Pi offline")
        BACK = "back", _("Pi back")

    class Status(models.TextChoices):
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        RETRYING = "retrying", _("retrying")
        SKIPPED = "skipped", _("skipped")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("owner")
    )
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("meter"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    key = models.DateTimeField(
        _("dedupe key"), help_text=_("Peak: the quarter's start. Offline and back: the last sign of life (UTC).")
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    payload = models.JSONField(_("payload"), default=dict, help_text=_("What was sent (the webhook's JSON body)."))
    email_status = models.CharField(_("e-mail"), max_length=8, choices=Status.choices, default=Status.SKIPPED)
    webhook_status = models.CharField(_("webhook"), max_length=8, choices=Status.choices, default=Status.SKIPPED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(fields=["meter", "kind", "key"], name="alert_unique_meter_kind_key"),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="alert_owner_time"),  # the profile's list
            models.Index(fields=["next_attempt_at"], name="alert_next_attempt"),  # run_alerts' retries
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.meter_id} @ {self.key.isoformat()}"


# --- Derived numbers, stored once (docs/design.md, "Stored rollups") ---------------------------------------------
# Maintained by meters.series.rollups in the transaction that stores or removes readings, rebuilt from the readings
# by ``manage.py rebuild_rollups``. Readings stay the source of truth. Every key starts with meter_id, so the
# tables can be distributed by meter (docs/scaling.md). Not in admin: they are not edited, only recomputed.


def _wh(**kwargs: Any) -> models.BigIntegerField:
    return models.BigIntegerField(null=True, **kwargs)


class QuarterEnergy(models.Model):
    """The energy of one quarter-hour [slot, slot + 15 min) per register, in Wh (gas in litres).

    A row for every quarter between a meter's first and latest reading: the register at the quarter's end minus the
    register at its start, a boundary without a reading interpolated (``estimated``); a register that went down
    inside it counts nothing (``reset``). Measured = neither flag: the quarter the BI views and maxima use.
    """

    pk = models.CompositePrimaryKey("meter_id", "slot")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    slot = models.DateTimeField()
    import_t1_wh = models.BigIntegerField()
    import_t2_wh = models.BigIntegerField()
    export_t1_wh = models.BigIntegerField()
    export_t2_wh = models.BigIntegerField()
    gas_l = _wh()
    estimated = models.BooleanField(default=False)
    reset = models.BooleanField(default=False)
    gas_estimated = models.BooleanField(default=False)
    gas_reset = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.meter_id} @ {self.slot.isoformat()}"


class DayEnergy(models.Model):
    """One meter's local day (settings.TIME_ZONE): the numbers the month view, the bills and ``bi_day`` show.

    Energies are boundary deltas (the register at the next local midnight minus at this one, a missing boundary
    interpolated): NULL when a boundary cannot be known. ``partial`` days have no end yet; their energies run to
    the latest reading (``last_slot``), which the running day shows "so far". ``measured_*`` sum only the day's
    measured quarters (the BI rule). Peaks are the highest measured quarter (``capacity.is_measured_quarter``).
    """

    pk = models.CompositePrimaryKey("meter_id", "day")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    import_t1_wh = _wh()
    import_t2_wh = _wh()
    export_t1_wh = _wh()
    export_t2_wh = _wh()
    gas_l = _wh()
    partial = models.BooleanField(default=False)
    gas_partial = models.BooleanField(default=False)
    start_estimated = models.BooleanField(default=False)
    end_estimated = models.BooleanField(default=False)
    gas_start_estimated = models.BooleanField(default=False)
    gas_end_estimated = models.BooleanField(default=False)
    reset = models.BooleanField(default=False)
    gas_reset = models.BooleanField(default=False)
    has_gas = models.BooleanField(default=False)
    readings = models.PositiveIntegerField(default=0)
    first_slot = models.DateTimeField(null=True)
    last_slot = models.DateTimeField(null=True)
    quarters_measured = models.PositiveIntegerField(default=0)
    register_drops = models.PositiveIntegerField(default=0)
    measured_import_t1_wh = models.BigIntegerField(default=0)
    measured_import_t2_wh = models.BigIntegerField(default=0)
    measured_export_t1_wh = models.BigIntegerField(default=0)
    measured_export_t2_wh = models.BigIntegerField(default=0)
    measured_gas_l = _wh()
    peak_import_w = _wh()
    peak_import_at = models.DateTimeField(null=True)
    peak_export_w = _wh()
    peak_export_at = models.DateTimeField(null=True)
    meter_peak_w = _wh()  # the meter's 1-0:1.6.0, stamped in the day's month (capacity._meter_month_peak)
    meter_peak_at = models.DateTimeField(null=True)
    l1_kw_sum = models.FloatField(default=0.0)  # per-phase net load samples, for the bucket's mean
    l2_kw_sum = models.FloatField(default=0.0)
    l3_kw_sum = models.FloatField(default=0.0)
    l1_samples = models.PositiveIntegerField(default=0)
    l2_samples = models.PositiveIntegerField(default=0)
    l3_samples = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.meter_id} @ {self.day.isoformat()}"


class MonthEnergy(models.Model):
    """One meter's local month: the capacity peak (the one rule of meters.series.capacity) and the month's sums.

    Aggregated from the month's DayEnergy rows. ``peak_w`` is the highest measured quarter starting in the month;
    ``meter_peak_w`` the meter's own 1-0:1.6.0. Energies are the sums of the days' (``partial`` when the month's last
    day with data has no end yet).
    """

    pk = models.CompositePrimaryKey("meter_id", "month")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day
    import_t1_wh = _wh()
    import_t2_wh = _wh()
    export_t1_wh = _wh()
    export_t2_wh = _wh()
    gas_l = _wh()
    partial = models.BooleanField(default=False)
    estimated = models.BooleanField(default=False)
    reset = models.BooleanField(default=False)
    has_gas = models.BooleanField(default=False)
    days = models.PositiveIntegerField(default=0)
    readings = models.PositiveIntegerField(default=0)
    quarters_measured = models.PositiveIntegerField(default=0)
    peak_w = _wh()
    peak_at = models.DateTimeField(null=True)
    meter_peak_w = _wh()
    meter_peak_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.meter_id} @ {self.month.isoformat()[:7]}"


# --- Contracts, tariffs and day-ahead prices (meters/billing/, docs/design.md "Contracts and the bill") -------------
# Tariff data is versioned: a row holds from ``valid_from`` until the next row of the same key. The shipped figures
# (meters/billing/data/tariffs.json) are loaded by a migration and by ``manage.py load_tariffs``; admins edit them.


class Region(models.TextChoices):
    FLANDERS = "VL", _("Flanders")
    WALLONIA = "WA", _("Wallonia")
    BRUSSELS = "BR", _("Brussels")


def _eur(**kwargs: Any) -> models.DecimalField:
    """A price in euro with room for tariff cards' seven decimals (0.0505027 EUR/kWh)."""
    return models.DecimalField(max_digits=12, decimal_places=7, **kwargs)


class VatRate(models.Model):
    valid_from = models.DateField(_("valid from"), unique=True)
    rate = models.DecimalField(_("rate"), max_digits=5, decimal_places=4, help_text=_("0.06 for 6 %."))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        ordering = ["valid_from"]
        verbose_name = _("VAT rate")
        verbose_name_plural = _("VAT rates")

    def __str__(self) -> str:
        return f"{self.rate:%} ({self.valid_from.isoformat()})"


class NetworkTariff(models.Model):
    """One distribution area's network tariffs from ``valid_from``: per kWh by time band, capacity, fixed terms.

    Stored as published: Flemish figures exclude VAT, Walloon and Brussels ones include it (``vat_included``); the
    bill shows them without VAT and adds VAT once.
    """

    region = models.CharField(_("region"), max_length=2, choices=Region.choices)
    area = models.CharField(
        _("distribution area"), max_length=60, help_text=_("Fluvius area or distribution system operator.")
    )
    valid_from = models.DateField(_("valid from"))
    source = models.CharField(_("source"), max_length=300)
    vat_included = models.BooleanField(_("VAT included"), default=False)
    kwh_eur = _eur(verbose_name=_("per kWh, single rate"))
    exclusive_night_eur = _eur(verbose_name=_("per kWh, exclusive night"), null=True, blank=True)
    peak_eur = _eur(verbose_name=_("per kWh, peak"), null=True, blank=True)
    offpeak_eur = _eur(verbose_name=_("per kWh, off-peak"), null=True, blank=True)
    pic_eur = _eur(verbose_name=_("per kWh, Impact PIC"), null=True, blank=True)
    medium_eur = _eur(verbose_name=_("per kWh, Impact MEDIUM"), null=True, blank=True)
    eco_eur = _eur(verbose_name=_("per kWh, Impact ECO"), null=True, blank=True)
    transmission_eur = _eur(verbose_name=_("transmission per kWh"), default=0)
    capacity_eur_kw_year = _eur(
        verbose_name=_("capacity per kW per year"), null=True, blank=True, help_text=_("Flanders only.")
    )
    data_management_eur_year = _eur(verbose_name=_("data management or metering per year"), default=0)
    fixed_eur_year = _eur(
        verbose_name=_("fixed term per year"), default=0, help_text=_("Not charged with the Impact bands.")
    )

    class Meta:
        ordering = ["region", "area", "valid_from"]
        constraints = [models.UniqueConstraint(fields=["area", "valid_from"], name="networktariff_area_from")]
        verbose_name = _("network tariff")
        verbose_name_plural = _("network tariffs")

    def __str__(self) -> str:
        return f"{self.area} ({self.valid_from.isoformat()})"


class Levy(models.Model):
    class Unit(models.TextChoices):
        PER_KWH = "kwh", _("per kWh taken")
        PER_MONTH = "month", _("per month")

    class Household(models.TextChoices):
        ANY = "any", _("every household")
        DOMICILED = "domiciled", _("domiciled household")
        OTHER = "other", _("not domiciled")

    code = models.SlugField(_("code"), max_length=40, help_text=_("excise, contribution, energiefonds, ..."))
    region = models.CharField(
        _("region"), max_length=2, choices=Region.choices, blank=True, help_text=_("Empty: all of Belgium.")
    )
    household = models.CharField(_("applies to"), max_length=10, choices=Household.choices, default=Household.ANY)
    unit = models.CharField(_("unit"), max_length=5, choices=Unit.choices)
    amount_eur = _eur(verbose_name=_("amount"), help_text=_("Without VAT."))
    vat_applies = models.BooleanField(_("VAT applies"), default=True)
    valid_from = models.DateField(_("valid from"))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        ordering = ["region", "code", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["code", "region", "household", "valid_from"], name="levy_key_from")
        ]
        verbose_name = _("levy")
        verbose_name_plural = _("levies")

    def __str__(self) -> str:
        return f"{self.code} {self.region or 'BE'} ({self.valid_from.isoformat()})"


class SpotPrice(models.Model):
    """The Belgian day-ahead price of one quarter-hour (EUR/MWh, may be negative); before 1 Oct 2025 the hour's
    price, repeated in its four quarters."""

    slot = models.DateTimeField(_("quarter start"), primary_key=True, help_text=_("UTC."))
    price_eur_mwh = models.DecimalField(_("price (EUR/MWh)"), max_digits=10, decimal_places=3)
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)

    class Meta:
        ordering = ["slot"]
        verbose_name = _("day-ahead price")
        verbose_name_plural = _("day-ahead prices")

    def __str__(self) -> str:
        return f"{self.slot.isoformat()}: {self.price_eur_mwh} EUR/MWh"


class EnergyKind(models.TextChoices):
    SINGLE = "single", _("single rate")
    DAY_NIGHT = "day_night", _("day / night")
    EXCLUSIVE_NIGHT = "exclusive_night", _("day / exclusive night")
    DUAL = "dual", _("Wallonia peak / off-peak hours")
    IMPACT = "impact", _("Wallonia Impact (PIC / MEDIUM / ECO)")
    DYNAMIC = "dynamic", _("dynamic (day-ahead price)")


class ExportKind(models.TextChoices):
    FIXED = "fixed", _("fixed price")
    DYNAMIC = "dynamic", _("day-ahead price")


def _ct(verbose_name: Any, **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=10, decimal_places=5, **kwargs)


class ContractTerms(models.Model):
    """What a contract charges: the energy component, export, fixed fees, gas, and where the meter is.

    Energy prices exclude VAT, network costs and levies (they come from the tariff data), unless ``all_in``: a
    contract migrated from the old profile prices, whose prices include everything. Dynamic prices follow the
    suppliers' cards: c€/kWh = ``spot_factor`` x day-ahead EUR/MWh + ``spot_offset_ct``.
    """

    name = models.CharField(_("name"), max_length=100)
    region = models.CharField(_("region"), max_length=2, choices=Region.choices, blank=True)
    area = models.CharField(_("distribution area"), max_length=60, blank=True)
    energy_kind = models.CharField(_("energy price"), max_length=16, choices=EnergyKind.choices)
    price_single_eur_kwh = _eur(verbose_name=_("single rate (EUR/kWh)"), null=True, blank=True)
    price_day_eur_kwh = _eur(verbose_name=_("day (EUR/kWh)"), null=True, blank=True)
    price_night_eur_kwh = _eur(verbose_name=_("night or exclusive night (EUR/kWh)"), null=True, blank=True)
    price_peak_eur_kwh = _eur(verbose_name=_("peak hours (EUR/kWh)"), null=True, blank=True)
    price_offpeak_eur_kwh = _eur(verbose_name=_("off-peak hours (EUR/kWh)"), null=True, blank=True)
    price_pic_eur_kwh = _eur(verbose_name=_("PIC (EUR/kWh)"), null=True, blank=True)
    price_medium_eur_kwh = _eur(verbose_name=_("MEDIUM (EUR/kWh)"), null=True, blank=True)
    price_eco_eur_kwh = _eur(verbose_name=_("ECO (EUR/kWh)"), null=True, blank=True)
    spot_factor = _ct(_("day-ahead factor a"), null=True, blank=True, help_text=_("c€/kWh per EUR/MWh, e.g. 0.1039."))
    spot_offset_ct = _ct(_("day-ahead offset b (c€/kWh)"), null=True, blank=True)
    spot_minutes = models.PositiveSmallIntegerField(
        _("day-ahead price of"),
        choices=[(15, _("the quarter-hour")), (60, _("the hour"))],
        default=15,
    )
    export_kind = models.CharField(_("export price"), max_length=8, choices=ExportKind.choices, default="fixed")
    export_eur_kwh = _eur(verbose_name=_("export (EUR/kWh)"), default=0)
    export_spot_factor = _ct(_("export day-ahead factor a"), null=True, blank=True)
    export_spot_offset_ct = _ct(_("export day-ahead offset b (c€/kWh)"), null=True, blank=True)
    fixed_eur_year = _eur(verbose_name=_("supplier's fixed fee per year"), default=0)
    gas_eur_kwh = _eur(verbose_name=_("gas (EUR/kWh)"), default=0)
    gas_kwh_per_m3 = models.DecimalField(
        _("gas kWh per m³"), max_digits=6, decimal_places=3, default=Decimal("11.500"), help_text=_("H-gas about 11.5.")
    )
    domiciled = models.BooleanField(_("domiciled here"), default=True, help_text=_("Flemish Energiefonds rate."))
    all_in = models.BooleanField(
        _("prices include everything"),
        default=False,
        help_text=_("Network costs, levies and VAT are in the prices above (the old profile prices)."),
    )
    capacity_eur_kw_year = _eur(
        verbose_name=_("capacity price per kW per year"),
        null=True,
        blank=True,
        help_text=_("Only for prices that include everything; otherwise the area's tariff."),
    )

    class Meta:
        abstract = True


class Contract(ContractTerms):
    """A meter's contract from ``valid_from`` (a local day) to ``valid_to`` (exclusive; empty = still running).

    A quarter is priced with the contract in force on its local day, so a new contract never changes past costs.
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="contracts", verbose_name=_("meter"))
    valid_from = models.DateField(_("from"))
    valid_to = models.DateField(_("until (exclusive)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["meter", "valid_from"]
        constraints = [models.UniqueConstraint(fields=["meter", "valid_from"], name="contract_meter_from")]
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from.isoformat()})"


class ContractPreset(ContractTerms):
    """A market contract to compare with (a supplier's card), for one region or all (``region`` empty)."""

    key = models.SlugField(_("key"), max_length=60)
    valid_from = models.DateField(_("valid from"))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        ordering = ["key", "valid_from"]
        constraints = [models.UniqueConstraint(fields=["key", "valid_from"], name="preset_key_from")]
        verbose_name = _("contract preset")
        verbose_name_plural = _("contract presets")

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from.isoformat()})"


# --- Household sharing and the audit log (meters/sharing.py, meters/access.py; docs/your-data.md) ------------------


class ShareRole(models.TextChoices):
    VIEWER = "viewer", _("viewer")  # dashboards, live data and bills
    MANAGER = "manager", _("manager")  # also renames the meter and keeps its contracts


class MeterShare(models.Model):
    """An invitation to another person to see (viewer) or also manage (manager) a meter; ``user`` is set when they
    accept it. Only the owner invites and revokes; a share never makes anyone the owner."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="shares", verbose_name=_("meter"))
    email = models.EmailField(_("invited e-mail address"))
    role = models.CharField(_("role"), max_length=8, choices=ShareRole.choices, default=ShareRole.VIEWER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="meter_shares",
        verbose_name=_("shared with"),
    )
    token_hash = models.CharField(_("invitation token (hash)"), max_length=64, unique=True, editable=False)
    invited_at = models.DateTimeField(_("invited"), default=timezone.now)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)

    class Meta:
        ordering = ["meter", "invited_at"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "user"], name="share_meter_user"),
        ]
        verbose_name = _("meter share")
        verbose_name_plural = _("meter shares")

    def __str__(self) -> str:
        return f"{self.meter} -> {self.email} ({self.role})"


class AuditEvent(models.Model):
    """What was done to whose data, without the personal data itself: an account or meter deletion, a share, an
    export, a retention run. ``subject`` is an opaque id (the user's or meter's primary key), never a name."""

    kind = models.CharField(_("event"), max_length=40)
    subject = models.CharField(_("subject"), max_length=40, blank=True, help_text=_("An id, never a name."))
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    detail = models.JSONField(
        _("detail"), default=dict, blank=True, help_text=_("Counts and choices, no personal data.")
    )

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at.isoformat()} {self.kind} {self.subject}"


def audit(kind: str, subject: object = "", **detail: Any) -> AuditEvent:
    """Record an audit event; ``detail`` holds counts and choices only (never names, e-mail addresses, serials)."""
    return AuditEvent.objects.create(kind=kind, subject=str(subject), detail=detail)


# --- Mijn Fluvius history (meters/fluvius/, docs/design.md "Mijn Fluvius import") ----------------------------------
# What the grid operator measured, imported from the files a homeowner downloads: a source of its own beside the
# Pi's readings, never turned into fake register readings. Energies are integer Wh (the files have 3 decimals of
# kWh), gas volumes litres (3 decimals of m³). Every key starts with meter_id, like the rollups'.


class FluviusRegister(models.TextChoices):
    IMPORT_T1 = "import_t1", _("import, day tariff")
    IMPORT_T2 = "import_t2", _("import, night tariff")
    EXPORT_T1 = "export_t1", _("export, day tariff")
    EXPORT_T2 = "export_t2", _("export, night tariff")
    GAS = "gas", _("gas")


class FluviusStatus(models.TextChoices):
    """The file's validation status, kept with each value: ``estimated`` values are shown as estimated."""

    VALIDATED = "validated", _("validated")  # Gevalideerd
    READ = "read", _("read")  # Uitgelezen / Read
    ESTIMATED = "estimated", _("estimated")  # Geschat / Estimated
    NO_CONSUMPTION = "none", _("no consumption")  # Geen verbruik / No consumption: an empty volume, 0


class FluviusInterval(models.Model):
    """The energy of one interval of one register as Mijn Fluvius reports it: a quarter-hour of electricity (Wh) or
    an hour of gas (litres), from ``start`` (UTC) for ``minutes``."""

    pk = models.CompositePrimaryKey("meter_id", "start", "register")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    register = models.CharField(max_length=9, choices=FluviusRegister.choices)
    minutes = models.PositiveSmallIntegerField(default=15)
    value = models.BigIntegerField(help_text="Wh; litres for gas.")
    status = models.CharField(max_length=9, choices=FluviusStatus.choices)

    class Meta:
        verbose_name = _("Mijn Fluvius interval")
        verbose_name_plural = _("Mijn Fluvius intervals")

    def __str__(self) -> str:
        return f"{self.meter_id} {self.register} @ {self.start.isoformat()}"


class FluviusDay(models.Model):
    """One register's total of one local day: from a Mijn Fluvius day totals file (``dagtotalen``, ``quarters`` 0),
    or the sum of that day's imported intervals, written by the import when all of them are there (``quarters``:
    how many were summed; an hour of gas counts as one). The month and year views and the reconciliation read these
    rows, not the intervals. A later import of either kind replaces the row."""

    pk = models.CompositePrimaryKey("meter_id", "day", "register")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    register = models.CharField(max_length=9, choices=FluviusRegister.choices)
    value = models.BigIntegerField(help_text="Wh; litres for gas.")
    status = models.CharField(max_length=9, choices=FluviusStatus.choices)
    quarters = models.PositiveSmallIntegerField(default=0, help_text="Intervals summed; 0: a day totals file.")

    class Meta:
        verbose_name = _("Mijn Fluvius day total")
        verbose_name_plural = _("Mijn Fluvius day totals")

    def __str__(self) -> str:
        return f"{self.meter_id} {self.register} @ {self.day.isoformat()}"


class FluviusPeak(models.Model):
    """A local month's capacity peak (``Piekvermogen``, kW) from a Mijn Fluvius monthly peaks file, in W."""

    pk = models.CompositePrimaryKey("meter_id", "month")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day
    peak_w = models.BigIntegerField()
    status = models.CharField(max_length=9, choices=FluviusStatus.choices)

    class Meta:
        verbose_name = _("Mijn Fluvius monthly peak")
        verbose_name_plural = _("Mijn Fluvius monthly peaks")

    def __str__(self) -> str:
        return f"{self.meter_id} @ {self.month.isoformat()[:7]}: {self.peak_w} W"


class FluviusImport(models.Model):
    """One import of a Mijn Fluvius file (meters.fluvius.imports.import_file), stored or refused: the log the import
    page lists, with the report (counts, errors by line and column, the days on which P1 and Fluvius disagree)."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="fluvius_imports", verbose_name=_("meter"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("imported by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("imported"), default=timezone.now)
    file_name = models.CharField(_("file"), max_length=255, blank=True)
    kinds = models.CharField(_("kinds"), max_length=60, blank=True, help_text=_("quarter, day, peak, gas"))
    refused = models.BooleanField(_("refused"), default=False, help_text=_("Nothing was stored."))
    rows = models.PositiveIntegerField(_("rows read"), default=0)
    stored = models.PositiveIntegerField(_("stored"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)
    first = models.DateTimeField(_("first interval"), null=True, blank=True)
    last = models.DateTimeField(_("last interval"), null=True, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("Mijn Fluvius import")
        verbose_name_plural = _("Mijn Fluvius imports")
        indexes = [models.Index(fields=["meter", "-created_at"], name="fluviusimport_meter_time")]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.file_name} @ {self.created_at.isoformat()}"
