"""Dashboard pages (/day/, /week/, /month/) and the CSV export of a meter's readings.

The cards are rendered here from ``meters.series``; the charts are drawn in the browser from the JSON of
``/api/v1/meters/<code>/series/`` (the same service), so page and API can never disagree.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from meters import export
from meters.models import Meter
from meters.series import InvalidDate, Series, build_series, parse_day, window_days
from meters.views import _get_meter_for_user
from users.models import profile_for

logger = logging.getLogger(__name__)

VIEW_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
TODAY_LABELS = {"day": "Today", "week": "This week", "month": "This month"}
BUCKET_LABELS = {"day": "quarter-hour", "week": "4 hours", "month": "day"}


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
    code = request.GET.get("meter")
    chosen = _get_meter_for_user(request, code) if code else None  # a foreign or unknown code is a 404
    meters = list(
        Meter.objects.filter(owner=request.user).annotate(latest=Max("readings__timestamp")).order_by("name", "serial")
    )
    if not meters:
        if request.user.pending_meters.exists():
            messages.info(request, "Your meter is waiting for the first reading from your device.")
        else:
            messages.info(request, "Add your meter's serial number to see its dashboard.")
        return redirect("meters:list")
    profile = profile_for(request.user)
    if chosen is None:
        # The meter the user last looked at, else the one that sent the most recent reading.
        never = datetime.min.replace(tzinfo=UTC)  # a meter without readings sorts before every real reading
        latest = max(meters, key=lambda m: m.latest or never)
        chosen = next((m for m in meters if m.code == profile.last_meter_code), latest)
    if profile.last_meter_code != chosen.code:
        profile.last_meter_code = chosen.code
        profile.save(update_fields=["last_meter_code"])

    try:
        selected = parse_day(request.GET.get("date"))
    except InvalidDate as exc:
        messages.error(request, str(exc))
        selected = parse_day(None)
    series = build_series(chosen, view, selected)
    today = parse_day(None)
    first, after = window_days(view, selected)
    context = {
        "view": view,
        "view_label": VIEW_LABELS[view],
        "today_label": TODAY_LABELS[view],
        "meters": meters,
        "meter": chosen,
        "series": series,
        "period_label": _period_label(view, first, after),
        "selected": selected,
        "today": today,
        "is_current": first <= today < after,
        "is_future": first > today,
        "links": {
            "prev": _url(view, chosen, series.prev_day),
            "next": _url(view, chosen, series.next_day),
            "today": _url(view, chosen, None),
            **{v: _url(v, chosen, selected) for v in VIEW_LABELS},
        },
        "series_url": reverse("api:meter-series", args=[chosen.code]) + f"?view={view}&date={selected.isoformat()}",
        "export_url": reverse("dashboard:export-csv", args=[chosen.code])
        + f"?from={first.isoformat()}&to={(after - timedelta(days=1)).isoformat()}",
        # Buckets already over yet without data (today's running and future buckets are not "missing").
        "missing_buckets": sum(1 for b in series.buckets if b.import_wh is None and b.end <= timezone.now()),
        "cards": _cards(series),
        "capacity": _capacity(series),
        "capacity_months": _capacity_months(series),
        "bucket_label": BUCKET_LABELS[view],
        "qlik": _qlik_config(),
    }
    return render(request, "meters/dashboard/dashboard.html", context)


def _url(view: str, meter: Meter, day: date | None) -> str:
    query = f"?meter={meter.code}" + (f"&date={day.isoformat()}" if day else "")
    return reverse(f"dashboard:{view}") + query


def _period_label(view: str, first: date, after: date) -> str:
    if view == "day":
        return first.strftime("%A %-d %B %Y")
    if view == "week":
        last = after - timedelta(days=1)
        return f"Week {first.isocalendar().week}: {first.strftime('%-d %b')} \u2013 {last.strftime('%-d %b %Y')}"
    return first.strftime("%B %Y")


# --- number formatting: one rule per unit (dashboard.js mirrors it) -------------------------------------------
# W: whole watts below 1 kW, else kW with 2 decimals; kW (capacity) 2 decimals; kWh and m³ 3 decimals; € 2.
# Thousands are grouped with a narrow no-break space; the unit follows after a no-break space.

DASH = "\u2013"


def _number(value: float | Decimal | int, decimals: int) -> str:
    # Half away from zero, as Intl.NumberFormat in dashboard.js rounds; a true minus sign (U+2212).
    exact = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = f"{abs(exact):,.{decimals}f}".replace(",", "\u202f")
    return f"\u2212{text}" if exact < 0 else text


def fmt(value: float | Decimal | int | None, decimals: int = 0, unit: str = "") -> str:
    if value is None:
        return DASH
    text = _number(value, decimals)
    return f"{text}\u00a0{unit}" if unit else text


def power(w: float | int | None) -> str:
    if w is None:
        return DASH
    return fmt(w, 0, "W") if abs(w) < 999.5 else fmt(w / 1000, 2, "kW")


def kw(value: float | Decimal | None) -> str:
    return fmt(value, 2, "kW")


def money(value: Decimal | None) -> str:
    if value is None:
        return DASH
    sign = "\u2212" if value < 0 else ""
    return f"{sign}€\u00a0{_number(abs(value), 2)}"


def _kwh(wh: int | None) -> str:
    return fmt(None if wh is None else wh / 1000, 3, "kWh")


def _m3(litres: int | None) -> str:
    return fmt(None if litres is None else litres / 1000, 3, "m³")


_TIME_FORMATS = {"day": "%H:%M", "week": "%a %-d %b %H:%M", "month": "%a %-d %b", "peak": "%a %-d %b %H:%M"}


def _local(value: datetime | None, tz: str, view: str = "week") -> str:
    """A bucket start as the user reads it: the time on a day page, the date on a month page."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(_TIME_FORMATS[view])


AVERAGE_LABELS = {"day": "average of the day", "week": "average of the week", "month": "average of the month"}


def _cards(series: Series) -> list[dict]:
    t, p = series.totals, series.power
    so_far = any(b.so_far for b in series.buckets)
    suffix = " so far" if so_far else ""
    cards = [
        {
            "title": "Import",
            "value": _kwh(t.import_wh) + suffix,
            "lines": [f"Day tariff {_kwh(t.import_t1_wh)}", f"Night tariff {_kwh(t.import_t2_wh)}"],
            "id": "import",
        },
        {
            "title": "Export",
            "value": _kwh(t.export_wh) + suffix,
            "lines": [f"Day tariff {_kwh(t.export_t1_wh)}", f"Night tariff {_kwh(t.export_t2_wh)}"],
            "id": "export",
        },
        {
            "title": "Electricity cost",
            "value": money(t.electricity_cost_eur) + suffix,
            "lines": [f"Import {money(t.import_cost_eur)}", f"Export credit {money(t.export_credit_eur)}"],
            "id": "cost",
        },
        {
            "title": "Import power",
            "value": power(p.import_avg_w),
            "lines": [
                AVERAGE_LABELS[series.view],
                f"highest quarter-hour {power(p.import_max_w)} {_local(p.import_max_at, series.tz, 'peak')}".strip(),
            ],
            "id": "power",
        },
    ]
    if series.has_gas:
        cards.append(
            {
                "title": "Gas",
                "value": _m3(t.gas_l) + suffix,
                "lines": [f"Cost {money(t.gas_cost_eur)}"],
                "id": "gas",
            }
        )
    return cards


def _capacity(series: Series) -> dict | None:
    c, year = series.capacity, series.capacity_year
    if c is None or year is None:
        return None
    return {
        "peak": kw(None if c.peak_w is None else c.peak_w / 1000),
        "peak_at": _local(c.peak_at, series.tz, "week"),
        "meter_peak": kw(None if c.meter_peak_w is None else c.meter_peak_w / 1000),
        "billed": kw(c.billed_kw),
        "minimum": fmt(settings.CAPACITY_MINIMUM_KW, 1, "kW"),
        "cost": money(c.cost_eur),
        "mean": kw(year.mean_kw),
        "yearly": money(year.yearly_cost_eur),
    }


def _capacity_months(series: Series) -> list[dict]:
    year = series.capacity_year
    if year is None:
        return []
    return [
        {
            "label": m.month.strftime("%b %y"),
            "peak": fmt(None if m.peak_w is None else m.peak_w / 1000, 2),
            "billed": fmt(m.billed_kw, 2),
            "has_data": m.billed_kw is not None,
        }
        for m in year.months
    ]


def _qlik_config() -> dict | None:
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
def export_csv(request: HttpRequest, code: str) -> HttpResponse:
    meter = _get_meter_for_user(request, code)
    try:
        wanted = export.parse_request(request.GET.get("from"), request.GET.get("to"), request.GET.get("format"))
    except export.ExportError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(export.lines(meter, wanted), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename(meter, wanted)}"'
    return response
