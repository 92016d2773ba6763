"""Dashboard pages (/day/, /week/, /month/, /year/, /now/) and the CSV export of a meter's readings.

Each page computes its series once (``meters.series``); ``meters.presenters`` turns it into the cards and into the
JSON the charts draw, embedded in the page with ``json_script`` — the same JSON ``/api/v1/meters/<code>/series/``
serves, so page and API can never disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_etags, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from energy_app.routers import replica_reads
from meters import exports, live, presenters
from meters.access import Need, meter_for, readable_meters
from meters.billing import bill as billing
from meters.fluvius import reconcile
from meters.models import Meter
from meters.series import InvalidDate, UnknownComparison, build_series, compare, parse_day, window_days
from users.models import prices_for, profile_for

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Latest(TypedDict):
    latest: datetime | None  # the meter's last reading


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The landing page: Now when one of the user's meters sent a live snapshot within the last minute, else Day."""
    fresh = live.has_fresh_snapshot(readable_meters(request.user).order_by("name", "serial"))
    if fresh is not None:
        return redirect(f"{reverse('dashboard:now')}?{urlencode({'meter': str(fresh.code)})}")
    return redirect("dashboard:day")


@login_required
@require_GET
@replica_reads
def day(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "day")


@login_required
@require_GET
@replica_reads
def week(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "week")


@login_required
@require_GET
@replica_reads
def month(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "month")


@login_required
@require_GET
@replica_reads
def year(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "year")


def _dashboard(request: HttpRequest, view: str) -> HttpResponse:
    chosen, meters = _chosen_meter(request)
    if chosen is None:
        return redirect("meters:list")
    try:
        selected = parse_day(request.GET.get("date"))
    except InvalidDate as exc:
        messages.error(request, str(exc))
        selected = parse_day(None)
    prices = prices_for(request.user)
    series = build_series(chosen, view, selected, prices=prices)
    comparison = None
    if mode := request.GET.get("compare"):
        try:
            comparison = compare(series, mode, prices=prices)
        except UnknownComparison as exc:
            messages.error(request, str(exc))
    context = presenters.dashboard(series, meters, today=parse_day(None), now=timezone.now(), comparison=comparison)
    if view != "year":  # the days where Mijn Fluvius and the Pi disagree (a year lists them on the import page)
        context["differences"] = reconcile.differences(chosen, *window_days(view, selected))
    return render(request, "meters/dashboard/dashboard.html", {**context, "qlik": _qlik_config()})


# --- Now: live power and the peak guard ----------------------------------------------------------------------------


@login_required
@require_GET
@replica_reads
def now(request: HttpRequest) -> HttpResponse:
    meter, meters = _chosen_meter(request)
    if meter is None:
        return redirect("meters:list")
    state = live.live_status(meter, prices_for(request.user))
    context = {
        "meter": meter,
        "meters": meters,
        "panel": presenters.now_panel(state),
        "age": "" if state.age_seconds is None else state.age_seconds,
        "panel_url": f"{reverse('dashboard:now-panel')}?{urlencode({'meter': str(meter.code)})}",
        "api_url": reverse("api:meter-live", args=[meter.code]),
    }
    return render(request, "meters/dashboard/now.html", context)


@login_required
@require_GET
@replica_reads
def now_panel(request: HttpRequest) -> HttpResponse:
    """The Now page's figures as an HTML fragment, polled by now.js with If-None-Match: 304 while nothing changed.

    The snapshot's age is no part of the fragment (it changes every second): it travels in ``X-Live-Age``, on the
    304 as well, and the page counts on from it."""
    meter = meter_for(request.user, request.GET.get("meter", ""), Need.READ)
    state = live.live_status(meter, prices_for(request.user))
    html = render_to_string("meters/dashboard/_now_panel.html", {"panel": presenters.now_panel(state)}, request)
    etag = f'"{hashlib.sha256(html.encode()).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-Live-Age": "" if state.age_seconds is None else str(state.age_seconds),
        "Vary": "Cookie, Accept-Language",
    }
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        return HttpResponseNotModified(headers=headers)
    return HttpResponse(html, headers=headers)


# --- the bill ------------------------------------------------------------------------------------------------------


@login_required
@require_GET
@replica_reads
def bill(request: HttpRequest) -> HttpResponse:
    """A month's bill line by line, beside the same month under the user's other contracts and the presets."""
    meter, meters = _chosen_meter(request)
    if meter is None:
        return redirect("meters:list")
    today = timezone.localdate()
    try:
        month = billing.parse_month(request.GET.get("month"), today)
    except billing.InvalidMonth as exc:
        messages.error(request, str(exc))
        month = today.replace(day=1)
    result = billing.compare(meter, month, prices_for(request.user))
    context = {
        "meter": meter,
        "meters": meters,
        "month": month,
        "bill": result.bill,
        "rows": presenters.bill_rows(result.bill),
        "total": presenters.money(result.bill.total_eur),
        "compare": presenters.comparison_rows(result, timezone.get_current_timezone()),
        "links": {
            "prev": _bill_link(meter, billing.step_month(month, -1)),
            "next": _bill_link(meter, billing.step_month(month, 1)),
            "contracts": reverse("meters:contracts", args=[meter.code]),
            "api": f"{reverse('api:meter-bill', args=[meter.code])}?{urlencode({'month': month.strftime('%Y-%m')})}",
        },
    }
    return render(request, "meters/dashboard/bill.html", context)


def _bill_link(meter: Meter, month: Any) -> str:
    return f"{reverse('dashboard:bill')}?{urlencode({'meter': str(meter.code), 'month': month.strftime('%Y-%m')})}"


def _chosen_meter(request: HttpRequest) -> tuple[Meter | None, Sequence[Meter]]:
    """The meter the page shows (``?meter=``, else the remembered one) and all of the user's meters; a foreign or
    unknown code is a 404. None without meters (after telling the user why)."""
    assert request.user.is_authenticated  # the login_required views call this
    code = request.GET.get("meter")
    chosen = meter_for(request.user, code, Need.READ) if code else None
    meters = list(readable_meters(request.user).annotate(latest=Max("readings__timestamp")).order_by("name", "serial"))
    if not meters:
        if request.user.pending_meters.exists():
            messages.info(request, _("Your meter is waiting for the first reading from your device."))
        else:
            messages.info(request, _("Add your meter's serial number to see its dashboard."))
        return None, []
    return _remembered(request.user, meters, chosen), meters


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
    meter = meter_for(request.user, code, Need.READ)
    try:
        wanted = exports.parse_request(request.GET.get("from"), request.GET.get("to"), request.GET.get("format"))
    except exports.ExportError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(exports.lines(meter, wanted), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(meter, wanted)}"'
    return response


# --- Trends: the typical day, the base load and the highest quarter-hours over a range ------------------------------


@login_required
@require_GET
@replica_reads
def trends(request: HttpRequest) -> HttpResponse:
    """``/trends/?meter=&from=YYYY-MM-DD&to=YYYY-MM-DD``: the range's trends (meters.series.trends), default the
    last 12 months; a bad range shows the default with a message."""
    # Imported here: this section is appended to the module (issue 20); the function is imported from its module by
    # name, as ``meters.series.trends`` in the package's namespace is the function, not the module.
    from meters.series import SeriesError
    from meters.series.trends import default_range, parse_range
    from meters.series.trends import trends as trends_of

    meter, meters = _chosen_meter(request)
    if meter is None:
        return redirect("meters:list")
    today = timezone.localdate()
    try:
        first, after = parse_range(request.GET.get("from"), request.GET.get("to"), today)
    except SeriesError as exc:
        messages.error(request, str(exc))
        first, after = default_range(today)
    context = presenters.trends_context(trends_of(meter, first, after), meters)
    return render(request, "meters/dashboard/trends.html", context)
