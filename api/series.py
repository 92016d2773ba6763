"""JSON of a meter's series for ``GET /api/v1/meters/<code>/series/`` (the dashboards draw from it).

Units on the wire: energy in kWh, power in W, money in EUR, times as ISO 8601 in the series' local zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from meters.series import Series


def _kwh(wh: int | None) -> float | None:
    return None if wh is None else round(wh / 1000, 3)


def _eur(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _w(value: float | None) -> float | None:
    # Milliwatts: the browser rounds for display with the same rule as the cards, so it must not round twice.
    return None if value is None else round(value, 3)


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat()


def _kw(w: int | None) -> float | None:
    return None if w is None else round(w / 1000, 3)


def series_to_dict(series: Series) -> dict:
    """The JSON shape of ``GET /api/v1/meters/<code>/series/``: energy in kWh, power in W, money in EUR, local times."""
    zone = ZoneInfo(series.tz)
    t, p = series.totals, series.power
    data = {
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
            "import_kwh": _kwh(t.import_wh),
            "import_day_kwh": _kwh(t.import_t1_wh),
            "import_night_kwh": _kwh(t.import_t2_wh),
            "export_kwh": _kwh(t.export_wh),
            "export_day_kwh": _kwh(t.export_t1_wh),
            "export_night_kwh": _kwh(t.export_t2_wh),
            "gas_m3": _kwh(t.gas_l),
            "import_cost_eur": _eur(t.import_cost_eur),
            "export_credit_eur": _eur(t.export_credit_eur),
            "electricity_cost_eur": _eur(t.electricity_cost_eur),
            "gas_cost_eur": _eur(t.gas_cost_eur),
        },
        "power": {
            "import_avg_w": _w(p.import_avg_w),
            "import_max_w": _w(p.import_max_w),
            "import_max_at": _iso(p.import_max_at, zone),
            "export_avg_w": _w(p.export_avg_w),
            "export_max_w": _w(p.export_max_w),
            "export_max_at": _iso(p.export_max_at, zone),
        },
        "buckets": [
            {
                "start": _iso(b.start, zone),
                "end": _iso(b.end, zone),
                "import_kwh": _kwh(b.import_wh),
                "import_day_kwh": _kwh(b.import_t1_wh),
                "import_night_kwh": _kwh(b.import_t2_wh),
                "export_kwh": _kwh(b.export_wh),
                "export_day_kwh": _kwh(b.export_t1_wh),
                "export_night_kwh": _kwh(b.export_t2_wh),
                "import_w": _w(b.import_w),
                "export_w": _w(b.export_w),
                "load_w": [_w(v) for v in b.phase_w],
                "gas_m3": _kwh(b.gas_l),
                "import_cost_eur": _eur(b.import_cost_eur),
                "export_credit_eur": _eur(b.export_credit_eur),
                "gas_cost_eur": _eur(b.gas_cost_eur),
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
            "peak_kw": _kw(c.peak_w),
            "peak_at": _iso(c.peak_at, zone),
            "meter_peak_kw": _kw(c.meter_peak_w),
            "meter_peak_at": _iso(c.meter_peak_at, zone),
            "mismatch": c.mismatch,
            "minimum_kw": float(settings.CAPACITY_MINIMUM_KW),
            "billed_kw": None if c.billed_kw is None else float(c.billed_kw),
            "month_cost_eur": _eur(c.cost_eur),
        }
    if series.capacity_year is not None:
        y = series.capacity_year
        data["capacity_12m"] = {
            "months": [
                {
                    "month": m.month.strftime("%Y-%m"),
                    "peak_kw": _kw(m.peak_w),
                    "billed_kw": None if m.billed_kw is None else float(m.billed_kw),
                }
                for m in y.months
            ],
            "months_with_data": y.months_with_data,
            "mean_kw": None if y.mean_kw is None else round(float(y.mean_kw), 3),
            "yearly_cost_eur": _eur(y.yearly_cost_eur),
        }
    return data


# An abridged day (two of its 96 buckets) for the OpenAPI documentation.
SERIES_EXAMPLE = {
    "meter": {"code": "6f1c7f9e-3b0a-4c35-9a55-2f4e8f1d9b21", "name": "Home", "serial": "1SAG1100000292"},
    "view": "day",
    "date": "2024-06-12",
    "timezone": "Europe/Brussels",
    "start": "2024-06-12T00:00:00+02:00",
    "end": "2024-06-13T00:00:00+02:00",
    "previous_date": "2024-06-11",
    "next_date": "2024-06-13",
    "completeness_pct": 87.5,
    "readings": 84,
    "expected_readings": 96,
    "estimated_buckets": 13,
    "empty_buckets": 0,
    "reset_buckets": 0,
    "has_gas": True,
    "phases": 3,
    "totals": {
        "import_kwh": 12.345,
        "import_day_kwh": 8.2,
        "import_night_kwh": 4.145,
        "export_kwh": 3.1,
        "export_day_kwh": 3.1,
        "export_night_kwh": 0.0,
        "gas_m3": 2.456,
        "import_cost_eur": 3.4963,
        "export_credit_eur": 0.124,
        "electricity_cost_eur": 3.3723,
        "gas_cost_eur": 2.456,
    },
    "power": {
        "import_avg_w": 514.4,
        "import_max_w": 3120.0,
        "import_max_at": "2024-06-12T18:30:00+02:00",
        "export_avg_w": 129.2,
        "export_max_w": 1480.0,
        "export_max_at": "2024-06-12T13:15:00+02:00",
    },
    "buckets": [
        {
            "start": "2024-06-12T00:00:00+02:00",
            "end": "2024-06-12T00:15:00+02:00",
            "import_kwh": 0.061,
            "import_day_kwh": 0.0,
            "import_night_kwh": 0.061,
            "export_kwh": 0.0,
            "export_day_kwh": 0.0,
            "export_night_kwh": 0.0,
            "import_w": 244.0,
            "export_w": 0.0,
            "load_w": [120.0, 60.0, 64.0],
            "gas_m3": 0.004,
            "import_cost_eur": 0.0153,
            "export_credit_eur": 0.0,
            "gas_cost_eur": 0.004,
            "samples": 1,
            "slots": 1,
            "estimated": False,
            "gas_estimated": False,
            "reset": False,
            "so_far": False,
            "so_far_until": None,
        },
        {
            "start": "2024-06-12T10:00:00+02:00",
            "end": "2024-06-12T10:15:00+02:00",
            "import_kwh": 0.15,
            "import_day_kwh": 0.15,
            "import_night_kwh": 0.0,
            "export_kwh": 0.0,
            "export_day_kwh": 0.0,
            "export_night_kwh": 0.0,
            "import_w": 600.0,
            "export_w": 0.0,
            "load_w": [None, None, None],
            "gas_m3": 0.002,
            "import_cost_eur": 0.045,
            "export_credit_eur": 0.0,
            "gas_cost_eur": 0.002,
            "samples": 0,
            "slots": 1,
            "estimated": True,
            "gas_estimated": True,
            "reset": False,
            "so_far": False,
            "so_far_until": None,
        },
    ],
    "capacity": None,
    "capacity_12m": None,
}
