"""Fixtures for the BI suite: an unclaimed meter and a reader that returns view rows in one shape on every vendor
(alice and ``alice_meter`` come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from meters.models import Meter

BI_VIEWS = ("bi_quarter_hour", "bi_day", "bi_month_peak")
_TIME_COLUMNS = ("slot_start_utc", "slot_start_local", "peak_slot_start_utc", "peak_slot_start_local")
_DATE_COLUMNS = ("local_date", "month_start")


def _normalise(column: str, value: Any) -> Any:
    """SQLite hands back floats and ISO text; PostgreSQL Decimals and datetimes. Tests compare one shape."""
    if value is None:
        return None
    if column in _TIME_COLUMNS or column == "month_peak_at_utc":
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if column in _DATE_COLUMNS:
        return date.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal("0.001"))
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.001"))
    return value


def view_rows(view: str, meter: Meter, order_by: str) -> list[dict[str, Any]]:
    assert view in BI_VIEWS
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {view} WHERE meter_id = %s ORDER BY {order_by}", [meter.pk])  # noqa: S608
        names = [c[0] for c in cursor.description]
        return [{n: _normalise(n, v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


@pytest.fixture
def rows() -> Callable[[str, Meter, str], list[dict[str, Any]]]:
    return view_rows


@pytest.fixture
def unclaimed_meter() -> Meter:
    return Meter.objects.create(serial="1SAG3100716957", name="")
