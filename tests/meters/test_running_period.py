"""The running period: the bucket that contains "now" counts the energy so far, on every view, at awkward instants.

The clock is frozen at each instant of the matrix (month starts, a year start, both DST days, the last minutes of a
month); readings exist for every quarter-hour slot up to the one that has begun.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from meters.models import Meter
from meters.series import SLOT_SECONDS, build_series, parse_day
from tests.meters.series_truth import BRUSSELS, build, epoch
from users.models import prices_for

pytestmark = pytest.mark.django_db

NOWS = {
    "first quarter of a month": datetime(2026, 12, 1, 0, 5, tzinfo=BRUSSELS),
    "00:20 on the 1st": datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS),
    "1 January": datetime(2027, 1, 1, 0, 20, tzinfo=BRUSSELS),
    "spring DST day": datetime(2026, 3, 29, 3, 10, tzinfo=BRUSSELS),
    "autumn DST day, second 02:20": datetime(2026, 10, 25, 2, 20, fold=1, tzinfo=BRUSSELS),
    "23:50 on the last day of a month": datetime(2026, 11, 30, 23, 50, tzinfo=BRUSSELS),
}


def _latest_slot(now: datetime) -> datetime:
    ep = epoch(now)
    return datetime.fromtimestamp(ep - ep % SLOT_SECONDS, UTC)


@pytest.fixture(params=list(NOWS), ids=list(NOWS))
def now(request):
    with time_machine.travel(NOWS[request.param], tick=False):
        yield NOWS[request.param]


@pytest.fixture
def meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


@pytest.mark.parametrize("view", ["day", "week", "month"])
def test_it_counts_the_running_bucket_so_far_and_the_period_to_the_wh(meter, now, view):
    latest = _latest_slot(now)
    truth = build(meter, latest - timedelta(days=32), latest)

    series = build_series(meter, view, parse_day(None), prices=prices_for(meter.owner))

    running = [b for b in series.buckets if b.start <= now < b.end]
    assert len(running) == 1
    bucket = running[0]
    assert bucket.so_far
    assert bucket.so_far_until == latest
    elapsed = (latest - bucket.start).total_seconds()
    assert bucket.import_w == (bucket.import_wh * 3600 / elapsed if elapsed else None)
    assert not bucket.estimated
    assert bucket.import_wh is not None
    assert (bucket.import_t1_wh, bucket.import_t2_wh, bucket.export_t1_wh, bucket.export_t2_wh) == truth.wh(
        bucket.start, latest
    )
    # The running period's total is the latest register minus the register at its start.
    t = series.totals
    assert (t.import_t1_wh, t.import_t2_wh, t.export_t1_wh, t.export_t2_wh) == truth.wh(series.start, latest)
    assert not series.is_empty
    assert [b.so_far for b in series.buckets].count(True) == 1
    before = [b for b in series.buckets if b.end <= bucket.start]
    assert all(b.import_wh is not None and not b.estimated for b in before)
    assert all(b.import_wh is None for b in series.buckets if b.start > now)


def test_it_keeps_past_periods_free_of_so_far_buckets(meter, now):
    latest = _latest_slot(now)
    build(meter, latest - timedelta(days=15), latest)
    today = parse_day(None)
    for view, day in (("day", today - timedelta(days=1)), ("week", today - timedelta(days=7))):
        past = build_series(meter, view, day, prices=prices_for(meter.owner))
        assert not any(b.so_far for b in past.buckets), view
        assert all(b.import_wh is not None for b in past.buckets), view


def test_it_leaves_the_running_bucket_empty_when_the_latest_reading_is_older(meter):
    # The Pi has been offline since 23:00: today's bucket has no reading, so nothing is claimed "so far".
    with time_machine.travel(datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS), tick=False):
        build(meter, datetime(2026, 11, 29, 23, tzinfo=BRUSSELS), datetime(2026, 11, 30, 23, tzinfo=BRUSSELS))
        month = build_series(meter, "month", parse_day(None), prices=prices_for(meter.owner))
    assert month.is_empty
    assert not any(b.so_far for b in month.buckets)


def test_it_shows_the_running_month_on_the_1st_instead_of_no_data(alice_client, meter):
    with time_machine.travel(datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS), tick=False):
        latest = _latest_slot(datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS))
        truth = build(meter, latest - timedelta(days=3), latest)
        page = alice_client.get(reverse("dashboard:month"), {"meter": meter.code})
        api = alice_client.get(reverse("api:meter-series", args=[meter.code]), {"view": "month"})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-status="empty"' not in html
    imported = sum(truth.wh(datetime(2026, 12, 1, tzinfo=BRUSSELS), latest)[:2])
    assert f"{imported / 1000:.3f}\u00a0kWh so far" in html
    buckets = api.json()["buckets"]
    assert buckets[0]["so_far"] is True
    assert buckets[0]["so_far_until"] == "2026-12-01T00:15:00+01:00"
    assert buckets[0]["import_kwh"] == round(imported / 1000, 3)
    assert not any(b["so_far"] for b in buckets[1:])
