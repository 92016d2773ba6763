"""What the dashboards show, as text and as JSON: one formatting rule per unit, the cards, the capacity panel and
the series JSON the charts draw (embedded in the page and served by ``/api/v1/meters/<code>/series/``).

The numbers come from ``meters.series``; nothing is computed here, only rounded and labelled.
"""

from __future__ import annotations

import hashlib
import json
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

from meters.billing.bill import Bill, Comparison
from meters.live import LiveStatus
from meters.models import Meter
from meters.series import COMPARE_MODES, Difference, PeriodComparison, Series, window_days

VIEW_LABELS = {
    "day": gettext_lazy("Day"),
    "week": gettext_lazy("Week"),
    "month": gettext_lazy("Month"),
    "year": gettext_lazy("Year"),
}
# A context of their own: the admin's catalogue, which wins over ours, has "This month" for its date filter.
TODAY_LABELS = {
    "day": pgettext_lazy("dashboard period", "Today"),
    "week": pgettext_lazy("dashboard period", "This week"),
    "month": pgettext_lazy("dashboard period", "This month"),
    "year": pgettext_lazy("dashboard period", "This year"),
}
# What one bar of a chart covers, after "per" ("average power per quarter-hour").
BUCKET_LABELS = {
    "day": pgettext_lazy("a chart bar covers", "quarter-hour"),
    "week": pgettext_lazy("a chart bar covers", "4 hours"),
    "month": pgettext_lazy("a chart bar covers", "day"),
    "year": pgettext_lazy("a chart bar covers", "month"),
}
# The other period a comparison shows (meters.series.compare), for the toggle and the cards.
COMPARE_LABELS = {
    "previous": gettext_lazy("the previous period"),
    "year": gettext_lazy("the same period a year ago"),
}
# What one position of a comparison is, counted: "over 12 of 14 days".
# A context of their own: "day" alone is also the day tariff.
POSITION_LABELS = {
    "day": (pgettext_lazy("compared over", "quarter-hour"), pgettext_lazy("compared over", "quarter-hours")),
    "week": (pgettext_lazy("compared over", "4-hour block"), pgettext_lazy("compared over", "4-hour blocks")),
    "month": (pgettext_lazy("compared over", "day"), pgettext_lazy("compared over", "days")),
    "year": (pgettext_lazy("compared over", "month"), pgettext_lazy("compared over", "months")),
}


def dashboard(
    series: Series, meters: Sequence[Meter], today: date, now: datetime, comparison: PeriodComparison | None = None
) -> dict[str, Any]:
    """The template context of a dashboard page: headings, navigation links, cards, capacity and the chart JSON."""
    view, meter, selected = series.view, series.meter, series.day
    first, after = window_days(view, selected)
    mode = comparison.mode if comparison else None
    return {
        "view": view,
        "view_label": VIEW_LABELS[view],
        "today_label": TODAY_LABELS[view],
        "meters": meters,
        "meter": meter,
        "series": series,
        "series_json": series_json(series, comparison),
        "period_label": period_label(view, first, after),
        "selected": selected,
        "today": today,
        "is_current": first <= today < after,
        "is_future": first > today,
        "links": {
            "prev": dashboard_url(view, meter, series.prev_day, mode),
            "next": dashboard_url(view, meter, series.next_day, mode),
            "today": dashboard_url(view, meter, None, mode),
            **{v: dashboard_url(v, meter, selected, mode) for v in VIEW_LABELS},
        },
        "compare": compare_context(comparison) if comparison else None,
        "compare_modes": [(m, COMPARE_LABELS[m]) for m in COMPARE_MODES],
        "compare_mode": mode or "",
        "capacity_by_month": capacity_by_month(series),
        "months_missing_days": sum(1 for b in series.buckets if b.missing_days),
        "imported_buckets": sum(1 for b in series.buckets if b.source in ("fluvius", "mixed")),
        # One period, one meaning (meters.exports.parse_range): "to" as a date includes that whole day.
        "export_url": reverse("dashboard:export-csv", args=[meter.code])
        + "?"
        + urlencode({"from": first.isoformat(), "to": (after - timedelta(days=1)).isoformat()}),
        # Buckets already over yet without data (the running bucket and future ones are not "missing").
        "missing_buckets": sum(1 for b in series.buckets if b.import_wh is None and b.end <= now),
        "cards": cards(series, comparison),
        "capacity": capacity(series),
        "capacity_months": capacity_months(series),
        "bucket_label": BUCKET_LABELS[view],
    }


def dashboard_url(view: str, meter: Meter, day: date | None, compare: str | None = None) -> str:
    query = {"meter": str(meter.code), **({"date": day.isoformat()} if day else {})}
    if compare:
        query["compare"] = compare
    return reverse(f"dashboard:{view}") + "?" + urlencode(query)


def period_label(view: str, first: date, after: date) -> str:
    # Formats of energy_app/formats/<language>/formats.py with Django's translated day and month names: in English
    # "Tuesday 11 June 2024", "Week 24: 10 Jun \u2013 16 Jun 2024" (an en dash) and "June 2024".
    if view == "day":
        return _date(first, "LONG_WEEKDAY_DATE_FORMAT")
    if view == "week":
        last = after - timedelta(days=1)
        return f"{_date(first, 'WEEK_START_FORMAT')} \u2013 {_date(last, 'WEEK_END_FORMAT')}"
    if view == "year":
        return str(first.year)
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


def money(value: Decimal | None, decimals: int = 2) -> str:
    if value is None:
        return DASH
    # The minus sign (U+2212) before it all, euro sign included; an amount that rounds to zero has none ("€ 0.00").
    text = _number(value, decimals)
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
    "year": "MONTH_SHORT_FORMAT",
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
    "year": gettext_lazy("average of the year"),
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


def cards(series: Series, comparison: PeriodComparison | None = None) -> list[dict[str, Any]]:
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
                *([] if t.cost_complete else [gettext("Incomplete: some quarter-hours have no day-ahead price yet.")]),
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
    if comparison is not None:
        cards[0]["lines"].append(_change_line(comparison.imports, comparison))
        cards[1]["lines"].append(_change_line(comparison.exports, comparison))
    if series.has_gas:
        cards.append(
            {
                "title": gettext("Gas"),
                "value": _m3(t.gas_l) + suffix,
                "lines": [
                    gettext("Cost %(amount)s") % {"amount": money(t.gas_cost_eur)},
                    *([_change_line(comparison.gas, comparison, "m³")] if comparison and comparison.gas else []),
                ],
                "id": "gas",
            }
        )
    return cards


def _signed(value: float | Decimal, decimals: int, unit: str) -> str:
    """A change with its sign: "+1.234 kWh", "\u22120.500 kWh", "+3.2 %"."""
    text = fmt(value, decimals, unit)
    return text if text.startswith("\u2212") else "+" + text


def _change(diff: Difference, unit: str = "kWh") -> str:
    """ "+1.234 kWh (+3.2 %)"; without the % when the other period had none of it."""
    amount = _signed(diff.change_wh / 1000, 3, unit)
    pct = diff.change_pct
    return amount if pct is None else f"{amount} ({_signed(pct, 1, '%')})"


def _change_line(diff: Difference, comparison: PeriodComparison, unit: str = "kWh") -> str:
    """The card's line for a comparison: the change against the other period over the positions both have."""
    values = {"change": _change(diff, unit), "other": COMPARE_LABELS[comparison.mode]}
    return gettext("%(change)s against %(other)s") % values


def compare_context(comparison: PeriodComparison) -> dict[str, Any]:
    """The comparison's note above the cards: which period, over how much of it, and how complete both are."""
    other = comparison.other
    first, after = window_days(other.view, other.day)
    singular, plural = POSITION_LABELS[other.view]
    matched, known = comparison.positions_matched, comparison.positions_known
    return {
        "mode": comparison.mode,
        "label": COMPARE_LABELS[comparison.mode],
        "period": period_label(other.view, first, after),
        "url": dashboard_url(other.view, other.meter, other.day),
        "matched": matched,
        "known": known,
        "unit": singular if known == 1 else plural,
        "complete": comparison.complete,
        "other_completeness": other.completeness_pct,
        "other_empty": other.is_empty,
    }


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


def capacity_by_month(series: Series) -> list[dict[str, Any]]:
    """The year view's capacity table: each month's peak and the 12-month mean up to that month."""
    if series.capacity_months is None:
        return []
    rows = []
    for card in series.capacity_months:
        m = card.months[-1]
        rows.append(
            {
                "label": _date(m.month, "MONTH_SHORT_FORMAT"),
                "peak": kw(None if m.peak_w is None else m.peak_w / 1000),
                "peak_at": _local(m.peak_at, series.tz, "peak"),
                "billed": kw(m.billed_kw),
                "mean": kw(card.mean_kw),
                "months": card.months_with_data,
                "has_data": m.peak_w is not None,
            }
        )
    return rows


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


def series_json(series: Series, comparison: PeriodComparison | None = None) -> dict[str, Any]:
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
            "cost_complete": t.cost_complete,
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
                "source": b.source,
                "missing_days": b.missing_days,
            }
            for b in series.buckets
        ],
        "capacity": None,
        "capacity_12m": None,
        "capacity_months": None,
        "compare": None,
    }
    if series.capacity_months is not None:
        data["capacity_months"] = [
            {
                "month": card.months[-1].month.strftime("%Y-%m"),
                "peak_kw": _kw_n(card.months[-1].peak_w),
                "peak_at": _iso(card.months[-1].peak_at, zone),
                "billed_kw": None if card.months[-1].billed_kw is None else float(card.months[-1].billed_kw),
                "mean_12m_kw": None if card.mean_kw is None else round(float(card.mean_kw), 3),
                "months_with_data": card.months_with_data,
            }
            for card in series.capacity_months
        ]
    if comparison is not None:
        data["compare"] = compare_json(comparison, zone)
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


def _difference_json(diff: Difference | None) -> dict[str, Any] | None:
    if diff is None:
        return None
    pct = diff.change_pct
    return {
        "this_kwh": _kwh_n(diff.this_wh),
        "other_kwh": _kwh_n(diff.other_wh),
        "change_kwh": _kwh_n(diff.change_wh),
        "change_pct": None if pct is None else round(float(pct), 1),
    }


def compare_json(comparison: PeriodComparison, zone: ZoneInfo) -> dict[str, Any]:
    """The other period of a comparison: its window and completeness, its buckets lined up with the shown ones
    (null where it has no counterpart) and the differences over the positions both have."""
    other = comparison.other
    return {
        "mode": comparison.mode,
        "date": other.day.isoformat(),
        "start": other.start.isoformat(),
        "end": other.end.isoformat(),
        "completeness_pct": other.completeness_pct,
        "readings": other.readings,
        "expected_readings": other.expected_readings,
        "positions_matched": comparison.positions_matched,
        "positions_known": comparison.positions_known,
        "complete": comparison.complete,
        "import": _difference_json(comparison.imports),
        "export": _difference_json(comparison.exports),
        "gas": _difference_json(comparison.gas),
        "buckets": [
            None
            if o is None
            else {
                "start": _iso(o.start, zone),
                "end": _iso(o.end, zone),
                "import_kwh": _kwh_n(o.import_wh),
                "export_kwh": _kwh_n(o.export_wh),
                "import_w": _w_n(o.import_w),
                "export_w": _w_n(o.export_w),
                "gas_m3": _kwh_n(o.gas_l),
                "estimated": o.estimated,
                "so_far": o.so_far,
                "matched": m,
            }
            for o, m in zip(comparison.aligned, comparison.matched, strict=True)
        ],
    }


# --- live power (meters.live): the Now page and GET /api/v1/meters/<code>/live -----------------------------------


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def live_json(status: LiveStatus) -> dict[str, Any]:
    """The JSON of ``GET /api/v1/meters/<code>/live``, also embedded in the Now page (times in local time).

    ``age_seconds`` is left out: it changes every second, and the body must stay the same while the snapshot does,
    so that the page's conditional requests get 304. Clients add the seconds since ``generated_at`` to
    ``generated_age_seconds`` (the age when the body was made; see ``live_etag``).
    """
    zone = ZoneInfo(settings.TIME_ZONE)
    s, g, m = status.snapshot, status.guard, status.meter
    data: dict[str, Any] = {
        "meter": {"code": str(m.code), "serial": m.serial, "name": m.display_name},
        "stale_after_seconds": settings.LIVE_STALE_SECONDS,
        "last_reading_at": _iso(status.last_reading_at, zone),
        "last_seen_at": _iso(status.last_seen_at, zone),
        "snapshot": None,
        "peak_guard": None,
    }
    if s is not None:
        values: dict[str, Any] = {}
        for name, value in s.values.items():
            if isinstance(value, Decimal):
                values[name] = float(value)
            elif isinstance(value, datetime):
                values[name] = _iso(value, zone)
            else:
                values[name] = value
        data["snapshot"] = {
            "measured_at": _iso(s.measured_at, zone),
            "received_at": _iso(s.received_at, zone),
            **values,
        }
    if g is not None:
        data["peak_guard"] = {
            "quarter_start": _iso(g.quarter_start, zone),
            "quarter_end": _iso(g.quarter_end, zone),
            "elapsed_seconds": g.elapsed_seconds,
            "remaining_seconds": g.remaining_seconds,
            "current_import_kw": _num(g.current_import_kw),
            "so_far_kw": _num(g.so_far_kw),
            "so_far_source": g.so_far_source,
            "projected_kw": _num(g.projected_kw),
            "month_peak_kw": _num(g.month_peak_kw),
            "month_peak_at": _iso(g.month_peak_at, zone),
            "month_peak_source": g.month_peak_source,
            "minimum_kw": _num(g.minimum_kw),
            "threshold_kw": _num(g.threshold_kw),
            "headroom_kw": _num(g.headroom_kw),
            "allowed_power_kw": _num(g.allowed_power_kw),
            "exceeds": g.exceeds,
            "exceed_kw": _num(g.exceed_kw),
            "capacity_eur_kw_year": _num(g.capacity_eur_kw_year),
            "cost_per_kw_eur": _num(g.cost_per_kw_eur),
            "extra_cost_eur": _num(g.extra_cost_eur),
        }
    return data


def live_etag(body: dict[str, Any]) -> str:
    """A strong ETag of the live body: equal bodies, equal tags (keys sorted, so dict order does not matter)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:32]}"'


def live_response(status: LiveStatus) -> dict[str, Any]:
    """``live_json`` plus the moment it was made and the snapshot's age then (not part of the ETag)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return {
        **live_json(status),
        "generated_at": _iso(status.now, zone),
        "age_seconds": status.age_seconds,
        "stale": status.stale,
    }


# --- the Now page ----------------------------------------------------------------------------------------------------

_GAUGE_HEADROOM = Decimal("1.2")  # the gauge's scale reaches 20 % past its largest value


def _minutes_seconds(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    return gettext("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}


def _pct(value: Decimal | None, scale: Decimal) -> str:
    """A position on the gauge as an SVG percentage ("37.5%"); attributes, not style="", so CSP allows them."""
    share = Decimal(0) if value is None or scale <= 0 else min(max(value / scale, Decimal(0)), Decimal(1))
    return f"{(share * 100).quantize(Decimal('0.1'))}%"


def _phases(values: Any) -> list[dict[str, Any]]:
    """Per-phase import/export power, voltage and current of a snapshot; phases the meter does not send are left
    out (a single-phase meter shows L1 only)."""
    rows = []
    peak = max(
        [v for n in range(1, 4) for v in (values.get(f"l{n}_import_kw"), values.get(f"l{n}_export_kw")) if v] or [0]
    )
    scale = max(Decimal(peak), Decimal("1"))
    for n in range(1, 4):
        imp, exp = values.get(f"l{n}_import_kw"), values.get(f"l{n}_export_kw")
        volt, amp = values.get(f"l{n}_voltage_v"), values.get(f"l{n}_current_a")
        if imp is None and exp is None and volt is None and amp is None:
            continue
        rows.append(
            {
                "name": f"L{n}",
                "import": kw(imp),
                "export": kw(exp),
                "voltage": fmt(volt, 1, "V"),
                "current": fmt(amp, 1, "A"),
                "import_pct": _pct(imp, scale),
                "export_pct": _pct(exp, scale),
                "exporting": bool(exp) and not imp,
            }
        )
    return rows


def now_panel(status: LiveStatus) -> dict[str, Any]:
    """The Now page's figures as the user reads them (cards, gauge, phases, the euro sentence)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    s, g = status.snapshot, status.guard
    panel: dict[str, Any] = {
        "has_snapshot": s is not None,
        "stale": status.stale,
        "stale_after": settings.LIVE_STALE_SECONDS,
        "age": status.age_seconds,
        "last_seen": _date(status.last_seen_at.astimezone(zone), "WEEKDAY_DATETIME_FORMAT")
        if status.last_seen_at
        else None,
        "last_seen_time": _date(status.last_seen_at.astimezone(zone), "TIME_FORMAT") if status.last_seen_at else None,
        "last_seen_today": bool(
            status.last_seen_at and status.last_seen_at.astimezone(zone).date() == status.now.astimezone(zone).date()
        ),
    }
    if s is None or g is None:
        return panel
    tariff = s.values.get("tariff")
    scale = max(g.threshold_kw, g.projected_kw, g.so_far_kw or Decimal(0), Decimal("0.1")) * _GAUGE_HEADROOM
    panel.update(
        measured_at=_date(s.measured_at.astimezone(zone), "TIME_FORMAT"),
        measured_iso=s.measured_at.isoformat(),
        import_now=kw(s.kw("power_import_kw")),
        export_now=kw(s.kw("power_export_kw")),
        exporting=bool(s.kw("power_export_kw")) and not s.kw("power_import_kw"),
        tariff={1: pgettext("tariff", "day"), 2: pgettext("tariff", "night")}.get(tariff) if tariff else None,
        phases=_phases(s.values),
        quarter=f"{_date(g.quarter_start.astimezone(zone), 'TIME_FORMAT')}{DASH}"
        f"{_date(g.quarter_end.astimezone(zone), 'TIME_FORMAT')}",
        remaining=_minutes_seconds(g.remaining_seconds),
        so_far=kw(g.so_far_kw),
        so_far_source=g.so_far_source,
        projected=kw(g.projected_kw),
        month_peak=kw(g.month_peak_kw),
        month_peak_at=_date(g.month_peak_at.astimezone(zone), "WEEKDAY_DATETIME_FORMAT") if g.month_peak_at else None,
        month_peak_source=g.month_peak_source,
        minimum=kw(g.minimum_kw),
        threshold=kw(g.threshold_kw),
        threshold_is_minimum=g.month_peak_kw is None or g.month_peak_kw < g.minimum_kw,
        headroom=kw(g.headroom_kw),
        allowed=kw(g.allowed_power_kw),
        exceeds=g.exceeds,
        exceed=kw(g.exceed_kw),
        extra_cost=money(g.extra_cost_eur),
        cost_per_kw=money(g.cost_per_kw_eur),
        gauge={
            "so_far": _pct(g.so_far_kw, scale),
            "projected": _pct(g.projected_kw, scale),
            "threshold": _pct(g.threshold_kw, scale),
        },
    )
    return panel


# --- the bill (meters.billing.bill): the API's JSON and the page's rows --------------------------------------------


def _qty_n(value: Decimal) -> float:
    return round(float(value), 3)


def bill_json(bill: Bill) -> dict[str, Any]:
    """``GET /api/v1/meters/<code>/bill`` (a contract: keep its shape). Amounts in EUR to the cent; they add up to
    ``total_eur``."""
    return {
        "meter": str(bill.meter.code),
        "month": bill.month.strftime("%Y-%m"),
        "complete": bill.complete,
        "notes": list(bill.notes),
        "contracts": list(bill.contracts),
        "total_eur": float(bill.total_eur),
        "lines": [
            {
                "kind": line.kind,
                "label": line.label,
                "quantity": _qty_n(line.quantity),
                "unit": line.unit,
                "unit_price_eur": round(float(line.unit_price_eur), 6),
                "amount_eur": float(line.amount_eur),
            }
            for line in bill.lines
        ],
    }


def comparison_json(result: Comparison) -> dict[str, Any]:
    return {
        "bill": bill_json(result.bill),
        "alternatives": [
            {
                "name": a.name,
                "origin": a.origin,
                "total_eur": float(a.bill.total_eur),
                "difference_eur": float(a.difference_eur),
                "complete": a.bill.complete,
                "notes": list(a.bill.notes),
            }
            for a in result.alternatives
        ],
        "dynamic_contract": result.dynamic_name,
        "costly_hours": [
            {
                "start": h.start.isoformat(),
                "import_kwh": _qty_n(h.import_kwh),
                "energy_eur": round(float(h.energy_eur), 4),
                "spot_eur_mwh": None if h.spot_eur_mwh is None else round(float(h.spot_eur_mwh), 3),
            }
            for h in result.costly_hours
        ],
    }


_UNIT_LABELS = {
    "kWh": "kWh",
    "kW": "kW",
    "m³": "m³",
    "day": pgettext_lazy("bill unit", "days"),
    "month": pgettext_lazy("bill unit", "month"),
    "EUR": "€",
}


def bill_rows(bill: Bill) -> list[dict[str, str]]:
    """The bill's lines as the page shows them, in the active language."""
    rows = []
    for line in bill.lines:
        if line.unit == "EUR":
            unit_price = fmt(line.unit_price_eur * 100, 0, "%")
            quantity = money(line.quantity)
        else:
            decimals = 0 if line.unit == "day" else 3 if line.unit in ("kW", "month") else 1
            quantity = fmt(line.quantity, decimals, str(_UNIT_LABELS.get(line.unit, line.unit)))
            unit_price = money(line.unit_price_eur, 4 if line.unit != "kW" else 2)
        rows.append(
            {
                "kind": line.kind,
                "label": line.label,
                "quantity": quantity,
                "unit_price": unit_price,
                "amount": money(line.amount_eur),
            }
        )
    return rows


def comparison_rows(result: Comparison, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "alternatives": [
            {
                "name": a.name,
                "origin": a.origin,
                "total": money(a.bill.total_eur),
                "difference": money(a.difference_eur),
                "cheaper": a.difference_eur < 0,
                "complete": a.bill.complete,
            }
            for a in result.alternatives
        ],
        "dynamic_name": result.dynamic_name,
        "hours": [
            {
                "start": _date(h.start.astimezone(zone), "D j M H:i"),
                "iso": h.start.isoformat(),
                "kwh": fmt(h.import_kwh, 2, "kWh"),
                "cost": money(h.energy_eur),
                "spot": fmt(h.spot_eur_mwh, 1, "€/MWh"),
            }
            for h in result.costly_hours
        ],
    }


# --- the Trends page (meters.series.trends): cards, the top quarter-hours and the charts' JSON -----------------------

from meters.series.trends import Trends  # noqa: E402 - appended with its section (issue 20); may move to the top


def trends_range_label(first: date, last: date) -> str:
    """The range as "4 December 2025 - 3 December 2026" (an en dash) in the active language, both days included."""
    return f"{_date(first, 'DATE_FORMAT')} {DASH} {_date(last, 'DATE_FORMAT')}"


def _share(wh: int, pct: float | None) -> str:
    # "1 234.567 kWh (62.5 %)": the energy, then its share of the register pair.
    return f"{_kwh(wh)} ({fmt(pct, 1, '%')})" if pct is not None else _kwh(wh)


def _signed_w(value: float) -> str:
    # A trend reads with its sign: "+3.5 W", "-1.2 W" (fmt writes a true minus, U+2212), "0.0 W".
    text = fmt(value, 1, "W")
    return f"+{text}" if value > 0 and text != fmt(0, 1, "W") else text


def trends_cards(result: Trends) -> list[dict[str, Any]]:
    """The day/night split and the base load as cards (the dashboard's card shape: title, value, lines, id)."""
    t, base = result.tariffs, result.base_load
    latest = base.latest_month
    if base.slope_w_per_month is None:
        trend = gettext("Not enough days for a trend yet.")
    else:
        trend = gettext("Trend %(change)s per month") % {"change": _signed_w(base.slope_w_per_month)}
    return [
        {
            "id": "import-split",
            "title": gettext("Import"),
            "value": _kwh(t.import_wh),
            "lines": [
                gettext("Day tariff %(energy)s") % {"energy": _share(t.import_t1_wh, t.import_day_pct)},
                gettext("Night tariff %(energy)s") % {"energy": _share(t.import_t2_wh, t.import_night_pct)},
            ],
        },
        {
            "id": "export-split",
            "title": gettext("Export"),
            "value": _kwh(t.export_wh),
            "lines": [
                gettext("Day tariff %(energy)s") % {"energy": _share(t.export_t1_wh, t.export_day_pct)},
                gettext("Night tariff %(energy)s") % {"energy": _share(t.export_t2_wh, t.export_night_pct)},
            ],
        },
        {
            "id": "base-load",
            "title": gettext("Base load"),
            "value": power(None if latest is None else latest.mean_w),
            "lines": [
                (
                    gettext("mean of %(month)s") % {"month": _date(latest.month, "YEAR_MONTH_FORMAT")}
                    if latest is not None
                    else gettext("No hour with four measured quarter-hours in this range.")
                ),
                trend,
            ],
        },
    ]


def trends_top_rows(result: Trends) -> list[dict[str, str]]:
    """The highest quarter-hours as table rows: the local day, "18:30-18:45" (an en dash), the average power, the
    energy."""
    zone = ZoneInfo(result.tz)
    rows = []
    for q in result.top:
        start = q.start.astimezone(zone)
        end = (q.start + timedelta(minutes=15)).astimezone(zone)
        rows.append(
            {
                "day": _date(start, "LONG_WEEKDAY_DATE_FORMAT"),
                "time": f"{_date(start, 'TIME_FORMAT')}{DASH}{_date(end, 'TIME_FORMAT')}",
                "iso": start.isoformat(),
                "power": power(q.import_w),
                "energy": _kwh(q.import_wh),
            }
        )
    return rows


def trends_json(result: Trends) -> dict[str, Any]:
    """What the Trends page's charts draw (units: power W, energy kWh, days ISO dates, times ISO 8601 in the zone)."""
    zone = ZoneInfo(result.tz)
    t, base, c = result.tariffs, result.base_load, result.coverage

    def profile(points: Sequence[Any]) -> dict[str, list[Any]]:
        return {
            "import_w": [_w_n(p.import_w) for p in points],
            "export_w": [_w_n(p.export_w) for p in points],
            "quarters": [p.quarters for p in points],
        }

    return {
        "meter": {"code": str(result.meter.code), "name": result.meter.display_name, "serial": result.meter.serial},
        "tz": result.tz,
        "from": result.first.isoformat(),
        "to": result.last.isoformat(),
        "profile": {
            "minutes": [p.minute for p in result.profile.weekday],
            "weekday": profile(result.profile.weekday),
            "weekend": profile(result.profile.weekend),
        },
        "tariffs": {
            "import_day_kwh": _kwh_n(t.import_t1_wh),
            "import_night_kwh": _kwh_n(t.import_t2_wh),
            "export_day_kwh": _kwh_n(t.export_t1_wh),
            "export_night_kwh": _kwh_n(t.export_t2_wh),
            "import_day_pct": t.import_day_pct,
            "import_night_pct": t.import_night_pct,
            "export_day_pct": t.export_day_pct,
            "export_night_pct": t.export_night_pct,
            "days_known": t.days_known,
        },
        "base_load": {
            "days": [{"day": d.day.isoformat(), "w": _w_n(d.watts), "hour": _iso(d.hour, zone)} for d in base.days],
            "months": [{"month": m.month.isoformat(), "mean_w": _w_n(m.mean_w), "days": m.days} for m in base.months],
            "slope_w_per_month": None if base.slope_w_per_month is None else round(base.slope_w_per_month, 3),
        },
        "top": [
            {"start": _iso(q.start, zone), "import_w": q.import_w, "import_kwh": _kwh_n(q.import_wh)}
            for q in result.top
        ],
        "coverage": {
            "days": c.days,
            "days_with_data": c.days_with_data,
            "quarters_measured": c.quarters_measured,
            "quarters_expected": c.quarters_expected,
            "pct": c.pct,
        },
    }


def trends_context(result: Trends, meters: Sequence[Meter]) -> dict[str, Any]:
    """The template context of the Trends page."""
    return {
        "meter": result.meter,
        "meters": meters,
        "trends": result,
        "range_label": trends_range_label(result.first, result.last),
        "cards": trends_cards(result),
        "top": trends_top_rows(result),
        "coverage": result.coverage,
        "coverage_pct": fmt(result.coverage.pct, 1, "%"),
        "trends_json": trends_json(result),
    }
