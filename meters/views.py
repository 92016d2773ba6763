"""Meter pages (prototype paths under /serialNumbers/)."""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from meters import services
from meters.forms import AddMeterForm, DeleteWithDataForm, RenameMeterForm
from meters.models import Meter
from users.lockout import client_ip

logger = logging.getLogger(__name__)

LIST_URL = "/serialNumbers/"
FIRST_METER_URL = "/day/"
NO_DATA_WARNING = "added, but no data yet — check that the device is connected"
PENDING_NOTE = "It becomes yours with the first reading your device uploads."


def _get_meter_for_user(request: HttpRequest, code: str | uuid.UUID) -> Meter:
    """The request user's meter with this public code; 404 for unknown codes and for other users' meters."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such meter") from None
    return get_object_or_404(Meter, code=code, owner=request.user)


@login_required
def meter_list(request: HttpRequest) -> HttpResponse:
    """Own meters with their reading count and last reading, serials waiting for their first reading, and the
    form that adds or claims a meter. A POST with ``forget`` removes a waiting serial."""
    if request.method == "POST" and "forget" in request.POST:
        if services.forget_pending_meter(request.user, request.POST["forget"]):
            messages.success(request, "The serial number was removed from your list.")
        else:
            messages.error(request, "Nothing was removed: that serial number is not waiting in your list.")
        return redirect(LIST_URL)

    form = AddMeterForm(request.POST or None)
    show_register = False
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = services.claim_meter(
                request.user, data["serialNumber"], data["name"], data["register"], address=client_ip(request)
            )
        except (services.ProofRequired, services.WrongProof) as exc:
            show_register = True
            form.add_error("register", str(exc))
        except services.TooManyAttempts as exc:
            show_register = True
            form.add_error(None, str(exc))
            status = 429
        except services.MeterError as exc:
            form.add_error("serialNumber", str(exc))
        else:
            if added.meter is None:
                messages.warning(request, f"Meter {added.display_name} {NO_DATA_WARNING}. {PENDING_NOTE}")
                return redirect(LIST_URL)  # the dashboards have nothing to show until that reading arrives
            messages.success(request, f"Meter {added.display_name} added.")
            return redirect(FIRST_METER_URL if added.first_meter else LIST_URL)
    elif request.method == "POST":
        show_register = bool(request.POST.get("register"))

    meters = (
        Meter.objects.filter(owner=request.user)
        .annotate(reading_count=Count("readings"), last_reading_at=Max("readings__timestamp"))
        .order_by("name", "serial")
    )
    context = {
        "form": form,
        "meters": meters,
        "pending": services.pending_meters(request.user),
        "show_register": show_register,
    }
    return render(request, "meters/meter_list.html", context, status=status)


@login_required
@require_POST
def rename(request: HttpRequest, code: str) -> HttpResponse:
    meter = _get_meter_for_user(request, code)
    form = RenameMeterForm(request.POST)
    if form.is_valid():
        services.rename_meter(meter, form.cleaned_data["name"])
        messages.success(request, f"Meter renamed to {meter.display_name}.")
    else:
        messages.error(request, "The name was not changed: " + " ".join(form.errors.get("name", [])))
    return redirect(LIST_URL)


@login_required
@require_http_methods(["GET", "POST"])
def release(request: HttpRequest, code: str) -> HttpResponse:
    """GET asks for confirmation (the list links here; no script needed, so it works under a strict CSP).
    POST takes the meter out of this account, as scripts have always done; its readings are kept and it becomes
    unclaimed."""
    meter = _get_meter_for_user(request, code)
    if request.method == "GET":
        return render(
            request,
            "meters/release_confirm.html",
            {"meter": meter, "has_data": meter.readings.exists(), "cancel_url": reverse("meters:list")},
        )
    services.release_meter(meter)
    messages.success(
        request,
        f"Meter {meter.display_name} removed from your account. Its data is kept; add the serial again to get it back.",
    )
    return redirect("meters:list")


@login_required
@require_POST
def delete_with_data(request: HttpRequest, code: str) -> HttpResponse:
    """Deletes the meter and all its readings, only when ``confirm`` repeats the meter's serial."""
    meter = _get_meter_for_user(request, code)
    form = DeleteWithDataForm(request.POST)
    if not form.is_valid() or form.cleaned_data["confirm"].strip() != meter.serial:
        messages.error(
            request,
            f"Nothing was deleted: type the serial number {meter.serial} to confirm deleting the meter and its data.",
        )
        return redirect(LIST_URL)
    deleted = services.delete_meter_with_data(meter)
    messages.success(request, f"Meter {deleted.serial} and its {deleted.readings_deleted} readings were deleted.")
    return redirect(LIST_URL)
