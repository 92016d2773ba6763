"""Meter pages (prototype paths under /serialNumbers/)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from meters import claims, devices
from meters import sharing as meters_sharing
from meters.access import Need, contract_for, device_for, meter_for, owned_devices, owned_meters, share_for, shared_with
from meters.billing import contracts as billing_contracts
from meters.fluvius import imports as fluvius_imports
from meters.forms import (
    AddMeterForm,
    ContractForm,
    DeleteWithDataForm,
    DeviceCodeForm,
    FluviusImportForm,
    RenameMeterForm,
    ShareForm,
)
from meters.models import Contract, FluviusImport
from users.lockout import client_ip

# URL names (redirect() reverses them): /serialNumbers/ and /day/.
LIST_URL = "meters:list"
FIRST_METER_URL = "dashboard:day"


@login_required
def meter_list(request: HttpRequest) -> HttpResponse:
    """Own meters with their reading count and last reading, serials waiting for their first reading, and the
    form that adds or claims a meter. A POST with ``forget`` removes a waiting serial."""
    if request.method == "POST" and "forget" in request.POST:
        if claims.forget_pending_meter(request.user, request.POST["forget"]):
            messages.success(request, _("The serial number was removed from your list."))
        else:
            messages.error(request, _("Nothing was removed: that serial number is not waiting in your list."))
        return redirect(LIST_URL)

    form = AddMeterForm(request.POST or None)
    show_register = False
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = claims.claim_meter(
                request.user, data["serialNumber"], data["name"], data["register"], address=client_ip(request)
            )
        except (claims.ProofRequired, claims.WrongProof) as exc:
            show_register = True
            form.add_error("register", str(exc))
        except claims.TooManyAttempts as exc:
            show_register = True
            form.add_error(None, str(exc))
            status = 429
        except claims.MeterError as exc:
            form.add_error("serialNumber", str(exc))
        else:
            if added.meter is None:
                messages.warning(
                    request,
                    _(
                        "Meter %(name)s added, but no data yet — check that the device is connected. It becomes yours "
                        "with the first reading your device uploads."
                    )
                    % {"name": added.display_name},
                )
                return redirect(LIST_URL)  # the dashboards have nothing to show until that reading arrives
            messages.success(request, _("Meter %(name)s added.") % {"name": added.display_name})
            return redirect(FIRST_METER_URL if added.first_meter else LIST_URL)
    elif request.method == "POST":
        show_register = bool(request.POST.get("register"))

    meters = (
        owned_meters(request.user)
        .annotate(reading_count=Count("readings"), last_reading_at=Max("readings__timestamp"))
        .order_by("name", "serial")
    )
    context = {
        "form": form,
        "meters": meters,
        "pending": claims.pending_meters(request.user),
        "shared": shared_with(request.user),
        "show_register": show_register,
    }
    return render(request, "meters/meter_list.html", context, status=status)


@login_required
@require_POST
def rename(request: HttpRequest, code: str) -> HttpResponse:
    meter = meter_for(request.user, code, Need.MANAGE)
    form = RenameMeterForm(request.POST)
    if form.is_valid():
        claims.rename_meter(meter, form.cleaned_data["name"])
        messages.success(request, _("Meter renamed to %(name)s.") % {"name": meter.display_name})
    else:
        reasons = " ".join(map(str, form.errors.get("name", [])))
        messages.error(request, _("The name was not changed: %(reasons)s") % {"reasons": reasons})
    return redirect(LIST_URL)


@login_required
@require_http_methods(["GET", "POST"])
def release(request: HttpRequest, code: str) -> HttpResponse:
    """GET asks for confirmation (the list links here; no script needed, so it works under a strict CSP).
    POST takes the meter out of this account, as scripts have always done; its readings are kept and it becomes
    unclaimed."""
    meter = meter_for(request.user, code)
    if request.method == "GET":
        return render(
            request,
            "meters/release_confirm.html",
            {"meter": meter, "has_data": meter.readings.exists(), "cancel_url": reverse("meters:list")},
        )
    claims.release_meter(meter)
    messages.success(
        request,
        _("Meter %(name)s removed from your account. Its data is kept; add the serial again to get it back.")
        % {"name": meter.display_name},
    )
    return redirect("meters:list")


@login_required
@require_POST
def delete_with_data(request: HttpRequest, code: str) -> HttpResponse:
    """Deletes the meter and all its readings, only when ``confirm`` repeats the meter's serial."""
    meter = meter_for(request.user, code)
    form = DeleteWithDataForm(request.POST)
    if not form.is_valid() or form.cleaned_data["confirm"].strip() != meter.serial:
        messages.error(
            request,
            _("Nothing was deleted: type the serial number %(serial)s to confirm deleting the meter and its data.")
            % {"serial": meter.serial},
        )
        return redirect(LIST_URL)
    deleted = claims.delete_meter_with_data(meter)
    messages.success(
        request,
        ngettext(
            "Meter %(serial)s and its %(count)d reading were deleted.",
            "Meter %(serial)s and its %(count)d readings were deleted.",
            deleted.readings_deleted,
        )
        % {"serial": deleted.serial, "count": deleted.readings_deleted},
    )
    return redirect(LIST_URL)


# --- contracts ------------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def contracts(request: HttpRequest, code: str) -> HttpResponse:
    """The meter's contract history and the form that adds one (the running one then ends the day before)."""
    meter = meter_for(request.user, code, Need.MANAGE)
    first = meter.readings.order_by("timestamp").values_list("timestamp", flat=True).first()
    initial = {"valid_from": timezone.localdate(first) if first else timezone.localdate()}
    form = ContractForm(request.POST or None, initial=initial, instance=Contract(meter=meter))
    if request.method == "POST" and form.is_valid():
        try:
            added = billing_contracts.add_contract(meter, form.instance)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Contract %(name)s saved.") % {"name": added.name})
            return redirect("meters:contracts", code=meter.code)
    history = [
        {"contract": c, "last_day": billing_contracts.last_day(c)}
        for c in Contract.objects.filter(meter=meter).order_by("-valid_from")
    ]
    context = {
        "meter": meter,
        "form": form,
        "history": history,
        "bill_url": f"{reverse('dashboard:bill')}?meter={meter.code}",
    }
    return render(request, "meters/contracts.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def contract_delete(request: HttpRequest, code: str, contract_id: str) -> HttpResponse:
    contract = contract_for(request.user, code, contract_id)
    billing_contracts.delete_contract(contract)
    messages.success(request, _("Contract %(name)s deleted.") % {"name": contract.name})
    return redirect("meters:contracts", code=code)


# --- household sharing ---------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sharing(request: HttpRequest, code: str) -> HttpResponse:
    """The owner's list of the meter's shares and the form that invites someone."""
    meter = meter_for(request.user, code)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = meters_sharing.invite(
                meter,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                lambda token: request.build_absolute_uri(reverse("meters:share-accept", args=[token])),
            )
        except meters_sharing.SharingError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": made.share.email})
            return redirect("meters:sharing", code=meter.code)
    context = {"meter": meter, "form": form, "shares": meter.shares.select_related("user").order_by("invited_at")}
    return render(request, "meters/sharing.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def share_revoke(request: HttpRequest, code: str, share_id: str) -> HttpResponse:
    share = share_for(request.user, code, share_id)
    meters_sharing.revoke(share)
    messages.success(request, _("%(email)s no longer sees this meter.") % {"email": share.email})
    return redirect("meters:sharing", code=code)


@require_http_methods(["GET", "POST"])
def share_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: shows whose meter it is; a logged-in user accepts it with a POST. Anonymous visitors
    are asked to log in or register first (both come back here)."""
    try:
        share = meters_sharing.invitation(token)
    except meters_sharing.SharingError as exc:
        return render(request, "meters/share_accept.html", {"error": str(exc)}, status=404)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            meters_sharing.accept(request.user, token)
        except meters_sharing.SharingError as exc:
            return render(request, "meters/share_accept.html", {"error": str(exc), "share": share}, status=400)
        messages.success(request, _("%(name)s is now on your dashboards.") % {"name": share.meter.display_name})
        return redirect(f"{reverse('dashboard:day')}?meter={share.meter.code}")
    here = reverse("meters:share-accept", args=[token])
    context = {"share": share, "login_url": f"{reverse('users:login')}?next={here}",
               "register_url": f"{reverse('users:register')}?next={here}"}  # fmt: skip
    return render(request, "meters/share_accept.html", context)


@login_required
@require_POST
def share_leave(request: HttpRequest, code: str) -> HttpResponse:
    """A viewer or manager stops seeing a meter shared with them."""
    meter = meter_for(request.user, code, Need.READ)
    meters_sharing.leave(request.user, meter)
    messages.success(request, _("%(name)s is no longer on your dashboards.") % {"name": meter.display_name})
    return redirect(LIST_URL)


# --- pairing a Pi and the account's devices ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def device(request: HttpRequest) -> HttpResponse:
    """/device/ (RFC 8628's verification URI): type the code the Pi shows, see which device asks, approve or deny.

    GET ``?user_code=`` pre-fills the code; a POST without ``decision`` looks the code up, one with
    ``decision=approve|deny`` decides.
    """
    form = DeviceCodeForm(request.POST or None, initial={"user_code": request.GET.get("user_code", "")})
    pairing = None
    status = 200
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["user_code"]
        decision = request.POST.get("decision")
        try:
            if decision == "approve":
                devices.approve(request.user, text)
                messages.success(request, _("Device approved. It starts uploading within a minute."))
                return redirect("meters:devices")
            if decision == "deny":
                devices.deny(request.user, text)
                messages.info(request, _("The device was refused; it has no access to your account."))
                return redirect("meters:devices")
            pairing = devices.pending_pairing(request.user, text)
        except devices.UnknownUserCode:
            form.add_error("user_code", str(UNKNOWN_CODE))
        except devices.TooManyCodeAttempts:
            form.add_error(None, _("Too many wrong codes in the past hour. Try again later."))
            status = 429
    context = {
        "form": form,
        "pairing": pairing,
        "user_code": None if pairing is None else devices.format_user_code(pairing.user_code),
    }
    return render(request, "meters/device.html", context, status=status)


UNKNOWN_CODE = gettext_lazy(
    "No device is waiting with this code. Check the code on the device (it is valid for 10 minutes), or run "
    "p1edge pair again for a new one."
)


@login_required
def device_list(request: HttpRequest) -> HttpResponse:
    paired = owned_devices(request.user).prefetch_related("meters")
    return render(request, "meters/devices.html", {"devices": paired})


@login_required
@require_POST
def device_rename(request: HttpRequest, device_id: str) -> HttpResponse:
    found = device_for(request.user, device_id)
    devices.rename_device(found, request.POST.get("name", ""))
    messages.success(request, _("Device renamed to %(name)s.") % {"name": found.display_name})
    return redirect("meters:devices")


@login_required
@require_POST
def device_revoke(request: HttpRequest, device_id: str) -> HttpResponse:
    found = device_for(request.user, device_id)
    devices.revoke_device(found)
    messages.success(
        request,
        _("%(name)s is revoked: its uploads are refused from now on. Its readings are kept.")
        % {"name": found.display_name},
    )
    return redirect("meters:devices")


# --- history from Mijn Fluvius ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def fluvius_import(request: HttpRequest, code: str) -> HttpResponse:
    """The page "Import history from Mijn Fluvius": the upload form, the past imports and the last one's report (its
    errors by line and column, the days on which the Pi and Fluvius disagree). A POST imports and comes back here
    (the page's script posts the same form with upload progress, and shows the page it gets back)."""
    meter = meter_for(request.user, code)
    # Bound on every POST, an empty one included: a POST without a file is a form error, not a blank page.
    form = FluviusImportForm(request.POST, request.FILES) if request.method == "POST" else FluviusImportForm()
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = fluvius_imports.import_file(
                meter, upload, skip_errors=form.cleaned_data["skip_errors"], user=request.user,
                file_name=upload.name or "",
            )  # fmt: skip
        except fluvius_imports.ImportRefused as exc:
            messages.error(request, _("Nothing was imported: %(reason)s") % {"reason": exc})
        else:
            messages.success(
                request,
                ngettext(
                    "%(rows)d row read: %(stored)d stored, %(unchanged)d unchanged, %(skipped)d skipped.",
                    "%(rows)d rows read: %(stored)d stored, %(unchanged)d unchanged, %(skipped)d skipped.",
                    report.rows,
                )
                % {"rows": report.rows, "stored": report.stored, "unchanged": report.unchanged,
                   "skipped": report.skipped},
            )  # fmt: skip
        return redirect("meters:fluvius-import", code=meter.code)
    history = list(FluviusImport.objects.filter(meter=meter).select_related("user")[:20])
    last = history[0] if history else None
    context = {
        "meter": meter,
        "form": form,
        "history": history,
        "last": last,
        "last_report": last.report if last else None,
        "day_url": reverse("dashboard:day"),
    }
    return render(request, "meters/fluvius_import.html", context, status=400 if form.errors else 200)
