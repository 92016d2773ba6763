"""The BI views read the stored rollups; they give exactly the rows the raw views computed before, on hostile data.

``meters.bi.reference_views_sql`` is the old SQL (window functions over the raw readings), created here as
``ref_bi_*``. The data has a meter replacement, a gap over a month edge, gas that pauses, a 1-0:1.6.0 stamped
last month and the autumn DST day, and arrives late and out of order.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from meters import bi
from meters.ingest import ingest_readings
from tests.bi.conftest import _normalise
from tests.meters.test_rollups import LONG_GAP, NO_GAS, NOW, REPLACED, _items

pytestmark = pytest.mark.django_db

RANGES = [
    (datetime(2025, 6, 8, 22, 0, tzinfo=UTC), datetime(2025, 6, 12, 22, 0, tzinfo=UTC)),  # the meter replaced
    (datetime(2025, 7, 29, 22, 0, tzinfo=UTC), datetime(2025, 8, 4, 22, 0, tzinfo=UTC)),  # a gap over a month edge
    (datetime(2025, 9, 1, 22, 0, tzinfo=UTC), datetime(2025, 9, 6, 22, 0, tzinfo=UTC)),  # gas pauses
    (datetime(2025, 10, 24, 22, 0, tzinfo=UTC), datetime(2025, 10, 28, 23, 0, tzinfo=UTC)),  # autumn DST
]
KEYS = {"bi_quarter_hour": "slot_start_utc", "bi_day": "local_date", "bi_month_peak": "month_start"}


def _rows(view: str, meter_id: int) -> list[dict]:
    with connection.cursor() as cursor:
        order = KEYS[view.removeprefix("ref_")]
        cursor.execute(f"SELECT * FROM {view} WHERE meter_id = %s ORDER BY {order}", [meter_id])  # noqa: S608
        names = [c[0] for c in cursor.description]
        return [{n: _normalise(n, v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


@pytest.fixture
def hostile(alice, alice_meter):
    assert RANGES[0][0] < REPLACED < RANGES[0][1]
    assert RANGES[1][0] < LONG_GAP[0]
    assert NO_GAS[0] < RANGES[2][1]
    items = [item for start, end in RANGES for item in _items(alice_meter.serial, start, end)]
    random.Random(3).shuffle(items)
    with time_machine.travel(NOW, tick=False):
        for offset in range(0, len(items), 500):
            ingest_readings(alice, items[offset : offset + 500])
    with connection.cursor() as cursor:
        for sql in bi.reference_views_sql(connection.vendor, "meters_reading", "meters_meter", "auth_user"):
            cursor.execute(sql)
    yield alice_meter
    with connection.cursor() as cursor:
        for name in ("ref_bi_month_peak", "ref_bi_day", "ref_bi_quarter_hour"):
            cursor.execute(f"DROP VIEW IF EXISTS {name}")


@pytest.mark.parametrize("view", ["bi_quarter_hour", "bi_day", "bi_month_peak"])
def test_it_gives_the_rows_the_raw_views_computed(hostile, view):
    stored = _rows(view, hostile.pk)
    raw = _rows(f"ref_{view}", hostile.pk)
    assert [r[KEYS[view]] for r in stored] == [r[KEYS[view]] for r in raw]
    assert stored == raw
    assert len(stored) == {"bi_quarter_hour": 1688, "bi_day": 22, "bi_month_peak": 5}[view]


def test_it_filters_one_serial_without_a_window_function(hostile):
    for sql in bi.create_views_sql(connection.vendor):
        assert " OVER " not in sql
