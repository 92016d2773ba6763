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
from django.utils import formats, translation
from django.utils.http import urlencode
from django.utils.translation import gettext, gettext_lazy, pgettext, pgettext_lazy

from meters.models import Meter
from meters.series import Series, window_days

VIEW_LABELS = {"day": gettext_lazy("Day"), "week": gettext_lazy("Week"), "month": gettext_lazy("Month")}
# A context of their own: the admin's catalogue, which wins over ours, has "This month" for its date filter.
TODAY_LABELS = {
    "day": pgettext_lazy("dashboard period", "Today"),
    "week": pgettext_lazy("dashboard period", "This week"),
    "month": pgettext_lazy("dashboard period", "This month"),
}
# What one bar of a chart covers, after "per" ("average power per quarter-hour").
BUCKET_LABELS = {
    "day": pgettext_lazy("a chart bar covers", "quarter-hour"),
    "week": pgettext_lazy("a chart bar covers", "4 hours"),
    "month": pgettext_lazy("a chart bar covers", "day"),
}


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
    # Formats of energy_app/formats/<language>/formats.py with Django's translated day and month names: in English
    # "Tuesday 11 June 2024", "Week 24: 10 Jun \u2013 16 Jun 2024" (an en dash) and "June 2024".
    if view == "day":
        return _date(first, "LONG_WEEKDAY_DATE_FORMAT")
    if view == "week":
        last = after - timedelta(days=1)
        return f"{_date(first, 'WEEK_START_FORMAT')} \u2013 {_date(last, 'WEEK_END_FORMAT')}"
    return _date(first, "YEAR_MONTH_FORMAT")


# --- number formatting: one rule per unit (dashboard.js mirrors it) -------------------------------------------
# W: whole watts below 1 kW, else kW with 2 decimals; kW (capacity) 2 decimals; kWh and m³ 3 decimals; € 2.
# Thousands are grouped with a narrow no-break space; the unit follows after a no-break space.
# In the active language (docs/glossary.md, "Numbers, dates and money"; energy_app/formats/<language>/formats.py):
# a decimal comma in nl, fr and de, a point in English; "€ 1,38" (nl), "1,38 €" (fr, de), "€ 1.38" (en).

DASH = "\u2013"


def _l10n(name: str) -> Any:
    """A format of the active language (English when translations are off or the language has none)."""
    value = formats.get_format(name, lang=translation.get_language() or settings.LANGUAGE_CODE)
    return formats.get_format(name, lang="en") if value == name else value


def _date(value: date, name: str) -> str:
    # Django's dateformat with the language's translated day and month names; aware datetimes keep their zone.
    return formats.date_format(value, _l10n(name))


def _number(value: float | Decimal | int, decimals: int) -> str:
    # Half away from zero, as Intl.NumberFormat in dashboard.js rounds; a true minus sign (U+2212).
    exact = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    marks = {ord(","): _l10n("THOUSAND_SEPARATOR"), ord("."): _l10n("DECIMAL_SEPARATOR")}
    text = f"{abs(exact):,.{decimals}f}".translate(marks)
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
    # The minus sign (U+2212) before it all, euro sign included; an amount that rounds to zero has none ("€ 0.00").
    text = _number(value, 2)
    sign, digits = ("\u2212", text[1:]) if text.startswith("\u2212") else ("", text)
    return sign + _l10n("CURRENCY_FORMAT").format(digits)


def _kwh(wh: int | None) -> str:
    return fmt(None if wh is None else wh / 1000, 3, "kWh")


def _m3(litres: int | None) -> str:
    return fmt(None if litres is None else litres / 1000, 3, "m³")


# Format names (energy_app/formats/<language>/formats.py): "08:15", "Tue 1 Dec 08:15", "Tue 1 Dec" in English.
_TIME_FORMATS = {
    "day": "TIME_FORMAT",
    "week": "WEEKDAY_DATETIME_FORMAT",
    "month": "WEEKDAY_DATE_FORMAT",
    "peak": "WEEKDAY_DATETIME_FORMAT",
}


def _local(value: datetime | None, tz: str, view: str = "week") -> str:
    """A bucket start as the user reads it: the time on a day page, the date on a month page."""
    if value is None:
        return ""
    return _date(value.astimezone(ZoneInfo(tz)), _TIME_FORMATS[view])


AVERAGE_LABELS = {
    "day": gettext_lazy("average of the day"),
    "week": gettext_lazy("average of the week"),
    "month": gettext_lazy("average of the month"),
}


def _energy_card(
    card_id: str, title: str, wh: tuple[int | None, int | None, int | None], suffix: str
) -> dict[str, Any]:
    """An import or export card: the total, then the day and night tariff parts."""
    total, day, night = wh
    return {
        "title": title,
        "value": _kwh(total) + suffix,
        "lines": [
            gettext("Day tariff %(energy)s") % {"energy": _kwh(day)},
            gettext("Night tariff %(energy)s") % {"energy": _kwh(night)},
        ],
        "id": card_id,
    }


def cards(series: Series) -> list[dict[str, Any]]:
    t, p = series.totals, series.power
    so_far = any(b.so_far for b in series.buckets)
    suffix = " " + pgettext("after the total of the running period", "so far") if so_far else ""
    cards = [
        _energy_card("import", gettext("Import"), (t.import_wh, t.import_t1_wh, t.import_t2_wh), suffix),
        _energy_card("export", gettext("Export"), (t.export_wh, t.export_t1_wh, t.export_t2_wh), suffix),
        {
            "title": gettext("Electricity cost"),
            "value": money(t.electricity_cost_eur) + suffix,
            "lines": [
                pgettext("cost of the imported energy", "Import %(amount)s") % {"amount": money(t.import_cost_eur)},
                gettext("Export credit %(amount)s") % {"amount": money(t.export_credit_eur)},
            ],
            "id": "cost",
        },
        {
            "title": gettext("Import power"),
            "value": power(p.import_avg_w),
            "lines": [
                str(AVERAGE_LABELS[series.view]),
                (
                    gettext("highest quarter-hour %(power)s %(time)s")
                    % {"power": power(p.import_max_w), "time": _local(p.import_max_at, series.tz, "peak")}
                ).strip(),
            ],
            "id": "power",
        },
    ]
    if series.has_gas:
        cards.append(
            {
                "title": gettext("Gas"),
                "value": _m3(t.gas_l) + suffix,
                "lines": [gettext("Cost %(amount)s") % {"amount": money(t.gas_cost_eur)}],
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
            "label": _date(m.month, "MONTH_SHORT_FORMAT"),
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
