"""Dashboard pages (/day/, /week/, /month/) and the CSV export of a meter's readings.

Each page computes its series once (``meters.series``); ``meters.presenters`` turns it into the cards and into the
JSON the charts draw, embedded in the page with ``json_script`` — the same JSON ``/api/v1/meters/<code>/series/``
serves, so page and API can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from meters import exports, presenters
from meters.access import meter_for, owned_meters
from meters.models import Meter
from meters.series import InvalidDate, build_series, parse_day
from users.models import prices_for, profile_for

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Latest(TypedDict):
    latest: datetime | None  # the meter's last reading


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:day")


@login_required
@require_GET
def day(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "day")


@login_required
@require_GET
def week(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "week")


@login_required
@require_GET
def month(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "month")


def _dashboard(request: HttpRequest, view: str) -> HttpResponse:
    assert request.user.is_authenticated  # the login_required views call this
    code = request.GET.get("meter")
    chosen = meter_for(request.user, code) if code else None  # a foreign or unknown code is a 404
    meters = list(owned_meters(request.user).annotate(latest=Max("readings__timestamp")).order_by("name", "serial"))
    if not meters:
        if request.user.pending_meters.exists():
            messages.info(request, _("Your meter is waiting for the first reading from your device."))
        else:
            messages.info(request, _("Add your meter's serial number to see its dashboard."))
        return redirect("meters:list")
    chosen = _remembered(request.user, meters, chosen)
    try:
        selected = parse_day(request.GET.get("date"))
    except InvalidDate as exc:
        messages.error(request, str(exc))
        selected = parse_day(None)
    series = build_series(chosen, view, selected, prices=prices_for(request.user))
    context = presenters.dashboard(series, meters, today=parse_day(None), now=timezone.now())
    return render(request, "meters/dashboard/dashboard.html", {**context, "qlik": _qlik_config()})


def _remembered(user: Any, meters: Sequence[WithAnnotations[Meter, _Latest]], chosen: Meter | None) -> Meter:
    """The meter to show, remembered for the next visit: the chosen one, else the one the user last looked at,
    else the one that sent the most recent reading."""
    profile = profile_for(user)
    if chosen is None:
        never = datetime.min.replace(tzinfo=UTC)  # a meter without readings sorts before every real reading
        latest = max(meters, key=lambda m: m.latest or never)
        chosen = next((m for m in meters if m.code == profile.last_meter_code), latest)
    if profile.last_meter_code != chosen.code:
        profile.last_meter_code = chosen.code
        profile.save(update_fields=["last_meter_code"])
    return chosen


def _qlik_config() -> dict[str, Any] | None:
    if not settings.QLIK_ENABLED:
        return None
    return {
        "host": settings.QLIK_TENANT_HOST,
        "webIntegrationId": settings.QLIK_WEB_INTEGRATION_ID,
        "appId": settings.QLIK_APP_ID,
        "objectIds": list(settings.QLIK_OBJECT_IDS),
    }


# --- CSV export ---------------------------------------------------------------------------------------------------


@login_required
@require_GET
def export_csv(request: HttpRequest, code: str) -> HttpResponseBase:
    meter = meter_for(request.user, code)
    try:
        wanted = exports.parse_request(request.GET.get("from"), request.GET.get("to"), request.GET.get("format"))
    except exports.ExportError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(exports.lines(meter, wanted), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(meter, wanted)}"'
    return response
