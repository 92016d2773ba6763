"""What the dashboards show, as text and as JSON: one formatting rule per unit, the cards, the capacity panel and
the series JSON the charts draw (embedded in the page and served by ``/api/v1/meters/<code>/series/``).

The numbers come from ``meters.series``; nothing is computed here, only rounded and labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode

from meters.models import Meter
from meters.series import Series, window_days

VIEW_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
TODAY_LABELS = {"day": "Today", "week": "This week", "month": "This month"}
BUCKET_LABELS = {"day": "quarter-hour", "week": "4 hours", "month": "day"}


def dashboard(series: Series, meters: Sequence[Meter], today: date, now: datetime) -> dict[str, Any]:
    """The template context of a dashboard page: headings, navigation links, cards, capacity and the chart JSON."""
    view, meter, selected = series.view, series.meter, series.day
    first, after = window_days(view, selected)
    return {
        "view": view,
        "view_label": VIEW_LABELS[view],
        "today_label": TODAY_LABELS[view],
        "meters": meters,
        "meter": meter,
        "series": series,
        "series_json": series_json(series),
        "period_label": period_label(view, first, after),
        "selected": selected,
        "today": today,
        "is_current": first <= today < after,
        "is_future": first > today,
        "links": {
            "prev": dashboard_url(view, meter, series.prev_day),
            "next": dashboard_url(view, meter, series.next_day),
            "today": dashboard_url(view, meter, None),
            **{v: dashboard_url(v, meter, selected) for v in VIEW_LABELS},
        },
        # One period, one meaning (meters.exports.parse_range): "to" as a date includes that whole day.
        "export_url": reverse("dashboard:export-csv", args=[meter.code])
        + "?"
        + urlencode({"from": first.isoformat(), "to": (after - timedelta(days=1)).isoformat()}),
        # Buckets already over yet without data (the running bucket and future ones are not "missing").
        "missing_buckets": sum(1 for b in series.buckets if b.import_wh is None and b.end <= now),
        "cards": cards(series),
        "capacity": capacity(series),
        "capacity_months": capacity_months(series),
        "bucket_label": BUCKET_LABELS[view],
    }


def dashboard_url(view: str, meter: Meter, day: date | None) -> str:
    query = {"meter": str(meter.code), **({"date": day.isoformat()} if day else {})}
    return reverse(f"dashboard:{view}") + "?" + urlencode(query)


def period_label(view: str, first: date, after: date) -> str:
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


def cards(series: Series) -> list[dict[str, Any]]:
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


def capacity(series: Series) -> dict[str, str] | None:
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


def capacity_months(series: Series) -> list[dict[str, Any]]:
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


# --- the series JSON (units: energy kWh, power W, money EUR, times ISO 8601 in the series' zone) ----------------------


def _kwh_n(wh: int | None) -> float | None:
    return None if wh is None else round(wh / 1000, 3)


def _eur_n(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _w_n(value: float | None) -> float | None:
    # Milliwatts: the browser rounds for display with the same rule as the cards, so it must not round twice.
    return None if value is None else round(value, 3)


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat()


def _kw_n(w: int | None) -> float | None:
    return None if w is None else round(w / 1000, 3)


def series_json(series: Series) -> dict[str, Any]:
    """The series as JSON: the body of ``GET /api/v1/meters/<code>/series/`` and the dashboard's embedded data."""
    zone = ZoneInfo(series.tz)
    t, p = series.totals, series.power
    data: dict[str, Any] = {
        "meter": {"code": str(series.meter.code), "name": series.meter.display_name, "serial": series.meter.serial},
        "view": series.view,
        "date": series.day.isoformat(),
        "timezone": series.tz,
        "start": series.start.isoformat(),
        "end": series.end.isoformat(),
        "previous_date": series.prev_day.isoformat(),
        "next_date": series.next_day.isoformat(),
        "completeness_pct": series.completeness_pct,
        "readings": series.readings,
        "expected_readings": series.expected_readings,
        "estimated_buckets": series.estimated_buckets,
        "empty_buckets": series.empty_buckets,
        "reset_buckets": series.reset_buckets,
        "has_gas": series.has_gas,
        "phases": series.phases,
        "totals": {
            "import_kwh": _kwh_n(t.import_wh),
            "import_day_kwh": _kwh_n(t.import_t1_wh),
            "import_night_kwh": _kwh_n(t.import_t2_wh),
            "export_kwh": _kwh_n(t.export_wh),
            "export_day_kwh": _kwh_n(t.export_t1_wh),
            "export_night_kwh": _kwh_n(t.export_t2_wh),
            "gas_m3": _kwh_n(t.gas_l),
            "import_cost_eur": _eur_n(t.import_cost_eur),
            "export_credit_eur": _eur_n(t.export_credit_eur),
            "electricity_cost_eur": _eur_n(t.electricity_cost_eur),
            "gas_cost_eur": _eur_n(t.gas_cost_eur),
        },
        "power": {
            "import_avg_w": _w_n(p.import_avg_w),
            "import_max_w": _w_n(p.import_max_w),
            "import_max_at": _iso(p.import_max_at, zone),
            "export_avg_w": _w_n(p.export_avg_w),
            "export_max_w": _w_n(p.export_max_w),
            "export_max_at": _iso(p.export_max_at, zone),
        },
        "buckets": [
            {
                "start": _iso(b.start, zone),
                "end": _iso(b.end, zone),
                "import_kwh": _kwh_n(b.import_wh),
                "import_day_kwh": _kwh_n(b.import_t1_wh),
                "import_night_kwh": _kwh_n(b.import_t2_wh),
                "export_kwh": _kwh_n(b.export_wh),
                "export_day_kwh": _kwh_n(b.export_t1_wh),
                "export_night_kwh": _kwh_n(b.export_t2_wh),
                "import_w": _w_n(b.import_w),
                "export_w": _w_n(b.export_w),
                "load_w": [_w_n(v) for v in b.phase_w],
                "gas_m3": _kwh_n(b.gas_l),
                "import_cost_eur": _eur_n(b.import_cost_eur),
                "export_credit_eur": _eur_n(b.export_credit_eur),
                "gas_cost_eur": _eur_n(b.gas_cost_eur),
                "samples": b.samples,
                "slots": b.slots,
                "estimated": b.estimated,
                "gas_estimated": b.gas_estimated,
                "reset": b.reset,
                "so_far": b.so_far,
                "so_far_until": _iso(b.so_far_until, zone),
            }
            for b in series.buckets
        ],
        "capacity": None,
        "capacity_12m": None,
    }
    if series.capacity is not None:
        c = series.capacity
        data["capacity"] = {
            "peak_kw": _kw_n(c.peak_w),
            "peak_at": _iso(c.peak_at, zone),
            "meter_peak_kw": _kw_n(c.meter_peak_w),
            "meter_peak_at": _iso(c.meter_peak_at, zone),
            "mismatch": c.mismatch,
            "minimum_kw": float(settings.CAPACITY_MINIMUM_KW),
            "billed_kw": None if c.billed_kw is None else float(c.billed_kw),
            "month_cost_eur": _eur_n(c.cost_eur),
        }
    if series.capacity_year is not None:
        y = series.capacity_year
        data["capacity_12m"] = {
            "months": [
                {
                    "month": m.month.strftime("%Y-%m"),
                    "peak_kw": _kw_n(m.peak_w),
                    "billed_kw": None if m.billed_kw is None else float(m.billed_kw),
                }
                for m in y.months
            ],
            "months_with_data": y.months_with_data,
            "mean_kw": None if y.mean_kw is None else round(float(y.mean_kw), 3),
            "yearly_cost_eur": _eur_n(y.yearly_cost_eur),
        }
    return data
