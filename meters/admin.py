"""Django admin for operators: meters with their data volume, readings (read-only registers), claim attempts,
serials users wait for, paired devices, alerts (read-only), and the tariff data and contracts (meters/billing/)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from meters import devices
from meters.claims import InvalidSerial, normalise_serial
from meters.models import (
    POWER_FIELDS,
    READING_FIELDS,
    REGISTER_FIELDS,
    Alert,
    AuditEvent,
    ClaimAttempt,
    Contract,
    ContractPreset,
    Device,
    FluviusImport,
    Levy,
    Meter,
    MeterShare,
    NetworkTariff,
    PendingMeter,
    Reading,
    SpotPrice,
    VatRate,
)
from meters.series import rollups

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Volume(TypedDict):
    """What ``MeterAdmin.get_queryset`` annotates."""

    _reading_count: int
    _last_reading_at: datetime | None


class MeterAdminForm(forms.ModelForm):
    class Meta:
        model = Meter
        fields = ("serial", "name", "owner")

    def clean_serial(self) -> str:
        # The same rule as the Meters page and ingest, so an operator cannot add a second, lower-case meter.
        try:
            return normalise_serial(self.cleaned_data["serial"])
        except InvalidSerial as exc:
            raise forms.ValidationError(str(exc)) from None


class ContractInline(admin.StackedInline):
    model = Contract
    extra = 0
    fields = ("name", "valid_from", "valid_to", "region", "area", "energy_kind", "all_in")
    show_change_link = True


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    form = MeterAdminForm
    list_display = ("serial", "name", "owner", "reading_count", "last_reading_at", "created_at")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("owner",)
    search_fields = ("serial", "name", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("code", "created_at", "updated_at", "reading_count", "last_reading_at")
    fields = ("serial", "name", "owner", "code", "reading_count", "last_reading_at", "created_at", "updated_at")

    def get_inlines(self, request: HttpRequest, obj: Meter | None) -> list[type[admin.options.InlineModelAdmin]]:
        # A new meter has no contracts yet; its page gets them once it exists.
        return [] if obj is None else [ContractInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Meter]:
        return (
            super()
            .get_queryset(request)
            .annotate(_reading_count=Count("readings"), _last_reading_at=Max("readings__timestamp"))
        )

    @admin.display(description=_("readings"), ordering="_reading_count")
    def reading_count(self, meter: WithAnnotations[Meter, _Volume]) -> int:
        return meter._reading_count

    @admin.display(description=_("last reading"), ordering="_last_reading_at")
    def last_reading_at(self, meter: WithAnnotations[Meter, _Volume]) -> datetime | None:
        return meter._last_reading_at


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    date_hierarchy = "timestamp"
    list_display = ("meter", "timestamp", *REGISTER_FIELDS, "tariff", *POWER_FIELDS)
    list_filter = (("meter", admin.RelatedOnlyFieldListFilter), "tariff")
    list_select_related = ("meter",)
    search_fields = ("meter__serial",)
    # Readings are measurements: they arrive through the ingest service only and are never edited by hand.
    readonly_fields = ("meter", "timestamp", "measured_at", *READING_FIELDS, "received_at")
    show_full_result_count = False  # COUNT(*) over millions of readings on every page is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Deleting a reading changes the quarters, days and months around it: through the rollups' service.
    def delete_model(self, request: HttpRequest, obj: Reading) -> None:
        rollups.delete_readings(Reading.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Reading]) -> None:
        rollups.delete_readings(queryset)


@admin.register(ClaimAttempt)
class ClaimAttemptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "serial", "address", "succeeded")
    list_filter = ("succeeded",)
    list_select_related = ("user",)
    search_fields = ("serial", "user__username", "address")
    readonly_fields = ("user", "serial", "address", "succeeded", "created_at")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PendingMeter)
class PendingMeterAdmin(admin.ModelAdmin):
    """Serials users typed before any data arrived. They give no right to the meter, so there is nothing to edit;
    an operator may delete one (or assign the meter itself under Meters)."""

    list_display = ("serial", "name", "user", "created_at")
    list_select_related = ("user",)
    search_fields = ("serial", "user__username", "user__email")
    readonly_fields = ("user", "serial", "name", "code", "created_at")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PendingMeter | None = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """Paired devices; the token itself is never stored, so there is nothing secret to show. Revoke, never edit."""

    list_display = ("display_name", "owner", "created_at", "last_seen_at", "last_address", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "owner__username", "owner__email", "last_address")
    readonly_fields = (
        "owner",
        "created_at",
        "created_from",
        "last_seen_at",
        "last_address",
        "revoked_at",
        "meters",
    )
    fields = ("name", *readonly_fields)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # devices come from pairing only

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, device: Device) -> str:
        return device.display_name

    @admin.action(description=_("Revoke the selected devices"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        for device in queryset:
            devices.revoke_device(device)
        count = queryset.count()
        self.message_user(
            request, ngettext("%(count)d device revoked.", "%(count)d devices revoked.", count) % {"count": count}
        )


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """What was sent to whom and how each channel took it: a record, never edited (meters.alerts writes it)."""

    list_display = ("created_at", "owner", "meter", "kind", "email_status", "webhook_status", "attempts", "last_error")
    list_filter = ("kind", "email_status", "webhook_status")
    list_select_related = ("owner", "meter")
    search_fields = ("meter__serial", "owner__username", "owner__email")
    readonly_fields = (
        "owner",
        "meter",
        "kind",
        "key",
        "created_at",
        "payload",
        "email_status",
        "webhook_status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False


# --- tariff data and contracts (meters/billing/): rows are versioned by valid_from; add a row for a new year --------


@admin.register(VatRate)
class VatRateAdmin(admin.ModelAdmin):
    list_display = ("valid_from", "rate", "source")


@admin.register(NetworkTariff)
class NetworkTariffAdmin(admin.ModelAdmin):
    list_display = ("area", "region", "valid_from", "kwh_eur", "capacity_eur_kw_year", "vat_included")
    list_filter = ("region", "valid_from")
    search_fields = ("area",)


@admin.register(Levy)
class LevyAdmin(admin.ModelAdmin):
    list_display = ("code", "region", "household", "unit", "amount_eur", "vat_applies", "valid_from")
    list_filter = ("region", "code")


@admin.register(ContractPreset)
class ContractPresetAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "region", "energy_kind", "valid_from")
    list_filter = ("region", "energy_kind")


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ("name", "meter", "valid_from", "valid_to", "region", "area", "energy_kind")
    list_filter = ("region", "energy_kind")
    search_fields = ("name", "meter__serial")
    raw_id_fields = ("meter",)


@admin.register(SpotPrice)
class SpotPriceAdmin(admin.ModelAdmin):
    """Imported with ``manage.py import_prices`` or ``POST /api/v1/prices``; corrected here when needed."""

    list_display = ("slot", "price_eur_mwh", "imported_at")
    date_hierarchy = "slot"


@admin.register(MeterShare)
class MeterShareAdmin(admin.ModelAdmin):
    """Household shares; the invitation token is stored only as a hash and cannot be read back."""

    list_display = ("meter", "role", "email", "user", "invited_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("meter__serial", "email", "user__username")
    raw_id_fields = ("meter", "user")
    readonly_fields = ("token_hash", "invited_at", "accepted_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: read-only, kept without personal data."""

    list_display = ("at", "kind", "subject", "detail")
    list_filter = ("kind",)
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Imported data: corrected by importing a better file, not by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(FluviusImport)
class FluviusImportAdmin(_ReadOnlyAdmin):
    """The log of Mijn Fluvius imports (meters.fluvius), refused ones included. The imported values themselves are
    not here: their tables have composite keys, which admin cannot show (as the rollups')."""

    list_display = ("created_at", "meter", "user", "file_name", "kinds", "rows", "stored", "unchanged", "refused")
    list_filter = ("refused",)
    search_fields = ("meter__serial", "file_name")
    raw_id_fields = ("meter", "user")
