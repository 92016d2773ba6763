"""Retention of raw quarter-hours (meters/retention.py, ``manage.py apply_retention``, docs/operations.md "Retention").

The promise: on a year of data, dropping the quarter-hours older than ``RETENTION_RAW_DAYS`` keeps every day total
and monthly peak exactly as it was, and nothing later (a late upload, a refresh, a rebuild) changes them. Time is
frozen in 2016, years before the month partitions the PostgreSQL test database made with the real clock, so every
partition these tests drop is one they made (and DDL rolls back with the test).
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from p1edge import wire
from rest_framework.test import APIClient

from energy_app.settings import env_days_or_forever
from meters import partitions, retention
from meters.billing.bill import month_bill
from meters.ingest import IngestRejected, ingest_readings
from meters.models import (
    READING_FIELDS,
    AuditEvent,
    DayEnergy,
    FluviusDay,
    FluviusInterval,
    FluviusRegister,
    Meter,
    MonthEnergy,
    QuarterEnergy,
    Reading,
)
from meters.series import build_series, rollups
from tests.conftest import wait_for
from tests.factories import reading_item
from tests.meters.series_truth import build, local
from users.models import prices_for

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")

# A year and a month of quarter-hours, ending the day "now" begins; 90 days kept from 3 November 2015 00:00 local.
YEAR_START = local(2015, 1, 1)
YEAR_END = local(2016, 2, 1)
NOW = datetime(2016, 2, 1, 11, 0, tzinfo=UTC)  # 12:00 in Brussels
CUTOFF = local(2015, 11, 3)
SLOT = timedelta(minutes=15)

# 19 days (from a Monday) for the behaviours that need less; 5 days kept from 7 June 00:00 local.
SHORT_START = local(2015, 5, 25)
SHORT_END = local(2015, 6, 12, 11, 45)
SHORT_NOW = local(2015, 6, 12, 12, 5).astimezone(UTC)
SHORT_CUTOFF = local(2015, 6, 7)


def _day_month_rows() -> dict[str, list[tuple]]:
    """Every DayEnergy and MonthEnergy row, all columns, in key order."""
    out = {}
    for model in (DayEnergy, MonthEnergy):
        names = [f.attname for f in model._meta.concrete_fields]
        out[model.__name__] = list(model.objects.order_by(names[0], names[1]).values_list(*names))
    return out


def _quarters(**where) -> list[tuple]:
    names = [f.attname for f in QuarterEnergy._meta.concrete_fields]
    return list(QuarterEnergy.objects.filter(**where).order_by("meter_id", "slot").values_list(*names))


def _readings(**where) -> list[tuple]:
    names = [f.attname for f in Reading._meta.concrete_fields]
    return list(Reading.objects.filter(**where).order_by("meter_id", "timestamp").values_list(*names))


def _item(reading: Reading) -> dict:
    """A stored reading as an upload item again."""
    return {
        "serial": reading.meter.serial,
        "timestamp": reading.timestamp,
        **{name: getattr(reading, name) for name in READING_FIELDS},
    }


def _month_view(meter: Meter, day: date):
    return build_series(meter, "month", day, prices=prices_for(meter.owner))


def _rebuild_check() -> str:
    out = StringIO()
    call_command("rebuild_rollups", "--check", stdout=out)
    return out.getvalue()


@pytest.fixture
def year(alice_meter, bob, time_machine):
    """Alice's meter and Bob's with 13 months of quarter-hours; Bob's misses the reading at the cutoff itself, so
    the start of his first kept day is interpolated from the reading before it."""
    time_machine.move_to(NOW, tick=False)
    bobs = Meter.objects.create(serial="1SAG1100000777", name="Bob", owner=bob)
    build(alice_meter, YEAR_START, YEAR_END)
    build(bobs, YEAR_START, YEAR_END, skip={int(CUTOFF.timestamp())}, base_wh=(10, 20, 30, 40))
    if partitions.is_partitioned():
        partitions.ensure_partitions(NOW)  # every month of the data gets its partition (they waited in DEFAULT)
    return alice_meter, bobs


@pytest.fixture
def short(alice, alice_meter, settings, time_machine):
    """Alice's meter with 19 days of quarter-hours; 5 days are kept: 13 go."""
    time_machine.move_to(SHORT_NOW, tick=False)
    build(alice_meter, SHORT_START, SHORT_END)
    settings.RETENTION_RAW_DAYS = 5
    return alice_meter


# --- the year -------------------------------------------------------------------------------------------------


def test_it_keeps_every_day_total_and_monthly_peak_exact_on_a_year_of_data_in_any_batch_size(year, settings):
    home, bobs = year
    before = _day_month_rows()
    kept_readings = _readings(timestamp__gte=CUTOFF)
    kept_quarters = _quarters(slot__gte=CUTOFF)
    march, november = _month_view(home, date(2015, 3, 10)), _month_view(home, date(2015, 11, 10))
    running = _month_view(home, date(2016, 2, 1))
    bill = month_bill(home, date(2015, 3, 1), prices_for(home.owner))
    settings.RETENTION_RAW_DAYS = 90

    assert retention.cutoff(NOW) == CUTOFF
    with transaction.atomic():  # the default batch size, rolled back: small batches must leave the same
        whole = retention.apply_retention()
        left = (_readings(), _quarters(), _day_month_rows())
        transaction.set_rollback(True)
    report = retention.apply_retention(batch=7_000)

    assert report.cutoff == CUTOFF
    # Bob's reading just before the cutoff stays: his first kept day starts between it and the next one.
    assert _readings(timestamp__lt=CUTOFF) == _readings(meter=bobs, timestamp=CUTOFF - SLOT)
    assert report.neighbours_kept == 1
    assert _readings(timestamp__gte=CUTOFF) == kept_readings
    assert _quarters(slot__lt=CUTOFF) == []
    assert _quarters(slot__gte=CUTOFF) == kept_quarters
    # Day totals and monthly peaks and sums: every row, every column, as before.
    assert _day_month_rows() == before
    # What people see of an old month, a month the cutoff falls in, and the capacity mean of the last 12 months.
    assert _month_view(home, date(2015, 3, 10)) == march
    assert _month_view(home, date(2015, 11, 10)) == november
    after = _month_view(home, date(2016, 2, 1))
    assert after.capacity_year == running.capacity_year
    assert after.capacity_year.mean_kw is not None
    # The bill of a dropped month keeps its quantities and its capacity line (its per-quarter prices are gone).
    again = month_bill(home, date(2015, 3, 1), prices_for(home.owner))
    assert (again.import_kwh, again.export_kwh) == (bill.import_kwh, bill.export_kwh)
    assert [line for line in again.lines if line.kind == "capacity"] == [
        line for line in bill.lines if line.kind == "capacity"
    ]

    # 306 days from 1 January to 3 November per meter (the spring DST day's four lost quarters, the autumn one's
    # four more, cancel out); Bob's neighbour stays.
    assert (report.readings_deleted, report.quarters_deleted) == (2 * 306 * 96 - 1, 2 * 306 * 96)
    if partitions.is_partitioned():
        assert report.partitions_dropped == tuple(f"meters_reading_p2015{m:02}" for m in range(1, 11))
        assert report.batches == 2 * 1 + 2 * 5  # per meter: 1-2 November's readings, then 29,376 quarters by 7,000
    else:
        assert report.partitions_dropped == ()
        assert report.batches == 2 * 5 + 2 * 5  # per meter: 29,376 readings and as many quarters by 7,000
    assert (_readings(), _quarters(), _day_month_rows()) == left
    assert (report.readings_deleted, report.quarters_deleted) == (whole.readings_deleted, whole.quarters_deleted)
    assert report.batches > whole.batches
    checked = _rebuild_check()
    assert "retention: the rollups before 2015-11-02T23:00:00+00:00 stay as stored (90 days kept)" in checked
    assert "2 meter(s): rollups match the readings" in checked
    # A second run the same day finds nothing left to delete.
    second = retention.apply_retention()
    assert (second.readings_deleted, second.quarters_deleted, second.batches) == (0, 0, 0)
    assert second.partitions_dropped == ()
    assert AuditEvent.objects.filter(kind="retention").count() == 2


# --- later writes ---------------------------------------------------------------------------------------------


def test_it_refuses_a_late_upload_older_than_the_cutoff_naming_the_field_and_changes_nothing(short, alice):
    retention.apply_retention()
    before = (_readings(), _quarters(), _day_month_rows())
    late = reading_item(short.serial, SHORT_CUTOFF - SLOT)
    fresh = reading_item(short.serial, SHORT_NOW, import_t1_kwh="99999.000", import_t2_kwh="99999.000")

    with pytest.raises(IngestRejected) as refused:
        ingest_readings(alice, [fresh, late])

    [error] = refused.value.errors
    assert (error.index, error.field) == (1, "timestamp")
    assert error.message == (
        "is older than the 5 days this server keeps quarter-hours: it accepts none before 2015-06-07T00:00:00+02:00"
    )
    assert (_readings(), _quarters(), _day_month_rows()) == before
    # Over the API the refusal names the item, which the Pi dead-letters for good before resending the rest.
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post("/api/v1/readings", {"readings": [fresh, late]}, format="json")
    assert response.status_code == 400
    assert list(wire.item_errors(response.json(), 2)) == [1]
    assert api.post("/api/v1/readings", {"readings": [fresh]}, format="json").json()["created"] == 1
    assert Reading.objects.filter(timestamp__lt=SHORT_CUTOFF).count() == 0


def test_it_recomputes_an_upload_just_after_the_cutoff_without_touching_the_day_before(short, alice, settings):
    settings.RETENTION_RAW_DAYS = None
    full = rollups.snapshot(short.pk)
    gap = Reading.objects.filter(timestamp__gt=SHORT_CUTOFF, timestamp__lte=SHORT_CUTOFF + timedelta(hours=2))
    items = [_item(r) for r in gap.select_related("meter")]
    gap.delete()
    rollups.rebuild(short.pk)  # the data as it was with the two hours missing
    settings.RETENTION_RAW_DAYS = 5
    retention.apply_retention()
    day_before = list(DayEnergy.objects.filter(day=date(2015, 6, 6)).values())

    assert ingest_readings(alice, items).created == 8

    kept = rollups.snapshot(short.pk)
    first = SHORT_CUTOFF.date()
    assert [d for d in kept["DayEnergy"] if d[1] >= first] == [d for d in full["DayEnergy"] if d[1] >= first]
    assert kept["MonthEnergy"] == full["MonthEnergy"]
    assert kept["QuarterEnergy"] == [q for q in full["QuarterEnergy"] if q[1] >= SHORT_CUTOFF]
    assert list(DayEnergy.objects.filter(day=date(2015, 6, 6)).values()) == day_before
    assert "rollups match the readings" in _rebuild_check()


def test_it_rebuilds_only_from_the_cutoff_on_and_keeps_the_days_before(short):
    retention.apply_retention()
    stored = rollups.snapshot(short.pk)

    report = rollups.rebuild(short.pk)

    assert rollups.snapshot(short.pk) == stored
    assert (report.days, report.months) == (19, 2)
    assert DayEnergy.objects.filter(day__lt=SHORT_CUTOFF.date()).count() == 13


# --- what people see of a dropped day ---------------------------------------------------------------------------


def test_it_shows_no_readings_for_a_dropped_day_and_week_and_exports_no_rows_for_them(short, alice_client):
    retention.apply_retention()
    code = short.code

    for view, day in (("day", "2015-06-03"), ("week", "2015-05-27")):
        response = alice_client.get(f"/{view}/?meter={code}&date={day}")
        assert response.status_code == 200
        assert 'data-status="empty"' in response.content.decode()
    month = alice_client.get(f"/month/?meter={code}&date=2015-06-03")
    assert month.status_code == 200
    assert 'data-status="empty"' not in month.content.decode()
    dropped = alice_client.get(f"/meters/{code}/export.csv?from=2015-06-01&to=2015-06-06")
    assert dropped.status_code == 200
    assert len(b"".join(dropped.streaming_content).decode().strip().splitlines()) == 1  # the header only
    kept = alice_client.get(f"/meters/{code}/export.csv?from=2015-06-07&to=2015-06-07")
    assert len(b"".join(kept.streaming_content).decode().strip().splitlines()) == 1 + 96


# --- the setting, the default, the command ---------------------------------------------------------------------


def test_it_keeps_everything_by_default(alice_meter, time_machine):
    time_machine.move_to(SHORT_NOW, tick=False)
    build(alice_meter, SHORT_START, SHORT_END)
    readings, quarters = Reading.objects.count(), QuarterEnergy.objects.count()

    report = retention.apply_retention()

    assert retention.cutoff(SHORT_NOW) is None
    assert (report.cutoff, report.readings_deleted, report.quarters_deleted, report.batches) == (None, 0, 0, 0)
    assert (Reading.objects.count(), QuarterEnergy.objects.count()) == (readings, quarters)
    assert not AuditEvent.objects.filter(kind="retention").exists()
    out = StringIO()
    call_command("apply_retention", stdout=out)
    assert "kept forever" in out.getvalue()


@pytest.mark.parametrize("raw", ["0", "-3", "ninety", "1.5", "90d"])
def test_it_names_the_setting_and_its_form_for_a_bad_value(monkeypatch, raw):
    monkeypatch.setenv("RETENTION_RAW_DAYS", raw)

    with pytest.raises(ImproperlyConfigured, match=r"RETENTION_RAW_DAYS must be a whole number of days .*forever"):
        env_days_or_forever("RETENTION_RAW_DAYS")


@pytest.mark.parametrize(
    ("raw", "days"), [(None, None), ("", None), ("forever", None), (" Forever ", None), ("90", 90), (" 7 ", 7)]
)
def test_it_reads_a_number_of_days_or_forever(monkeypatch, raw, days):
    if raw is None:
        monkeypatch.delenv("RETENTION_RAW_DAYS", raising=False)
    else:
        monkeypatch.setenv("RETENTION_RAW_DAYS", raw)

    assert env_days_or_forever("RETENTION_RAW_DAYS") == days


def test_it_cuts_at_local_midnight_across_daylight_saving_time(settings):
    settings.RETENTION_RAW_DAYS = 1
    # 26 October 2015 01:30 local (CET) - 1 day: 25 October, the autumn DST day, whose midnight is still CEST.
    assert retention.cutoff(local(2015, 10, 26, 1, 30).astimezone(UTC)) == datetime(2015, 10, 24, 22, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        retention.cutoff(datetime(2015, 10, 26))  # naive: refused


def test_it_prints_what_a_dry_run_would_delete_and_changes_nothing_then_deletes_it(short):
    before = (_readings(), _quarters())
    out = StringIO()

    call_command("apply_retention", "--dry-run", stdout=out)

    assert (_readings(), _quarters()) == before
    assert out.getvalue().splitlines() == [
        "cutoff 2015-06-06T22:00:00+00:00 (5 days): raw quarter-hours before it go",
        "would delete 1248 reading(s), 1248 quarter rollup(s) and 0 imported Mijn Fluvius interval(s)",
        "day totals and monthly peaks are kept",
    ]
    assert not AuditEvent.objects.filter(kind="retention").exists()
    out = StringIO()
    call_command("apply_retention", "--batch", "200", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith(
        "deleted 1248 reading(s), 1248 quarter rollup(s) and 0 imported Mijn Fluvius interval(s) in 14 batch(es)"
    )
    [event] = AuditEvent.objects.filter(kind="retention")
    assert event.subject == ""
    assert {k: event.detail[k] for k in ("cutoff", "days", "readings_deleted", "quarters_deleted", "batches")} == {
        "cutoff": "2015-06-06T22:00:00+00:00",
        "days": 5,
        "readings_deleted": 1248,
        "quarters_deleted": 1248,
        "batches": 14,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "0"], "--batch needs a number of rows above 0"),
        (["--loop", "-1"], "--loop needs a number of seconds above 0"),
        (["--dry-run", "--loop", "60"], "--dry-run changes nothing"),
    ],
)
def test_it_refuses_options_that_do_not_go_together(args, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("apply_retention", *args)


def test_it_loops_until_sigterm(short):
    out = StringIO()

    def stop_after_first_pass() -> None:
        wait_for(lambda: "day totals and monthly peaks are kept" in out.getvalue(), message="the first pass")
        # To the main thread: a process-wide kill may land on this thread, and the main thread, asleep in the
        # loop's wait, would then never run the handler.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_after_first_pass, daemon=True)
    stopper.start()
    call_command("apply_retention", "--loop", "86400", stdout=out)
    stopper.join(timeout=5)

    assert signal.getsignal(signal.SIGTERM) is previous
    assert out.getvalue().splitlines()[-1] == "apply_retention: stopped"
    assert Reading.objects.filter(timestamp__lt=SHORT_CUTOFF).count() == 0


# --- PostgreSQL -----------------------------------------------------------------------------------------------


@on_postgresql
def test_it_drops_whole_months_before_the_cutoff_as_partitions_and_deletes_the_rest_in_batches(
    alice_meter, settings, time_machine
):
    now = local(2015, 3, 10, 12).astimezone(UTC)
    time_machine.move_to(now, tick=False)
    build(alice_meter, local(2015, 1, 28), local(2015, 3, 10))
    partitions.ensure_partitions(now)
    before = _day_month_rows()
    settings.RETENTION_RAW_DAYS = 30  # from 8 February: January goes whole, 1-7 February row by row

    report = retention.apply_retention()

    assert report.partitions_dropped == ("meters_reading_p201501",)
    assert report.readings_deleted == 4 * 96 + 7 * 96  # the rows of the partition are counted before it goes
    assert [p.name for p in partitions.partitions() if p.month and p.month < date(2015, 3, 1)] == [
        "meters_reading_p201502"
    ]
    assert Reading.objects.filter(timestamp__lt=local(2015, 2, 8)).count() == 0
    assert _day_month_rows() == before


def test_it_deletes_imported_mijn_fluvius_quarter_hours_before_the_cutoff_and_keeps_their_day_totals(
    alice_meter, settings, time_machine
):
    time_machine.move_to(SHORT_NOW, tick=False)
    settings.RETENTION_RAW_DAYS = 2
    cut = retention.cutoff(SHORT_NOW)
    starts = [cut - timedelta(minutes=30), cut - timedelta(minutes=15), cut, cut + timedelta(minutes=15)]
    FluviusInterval.objects.bulk_create(
        FluviusInterval(meter=alice_meter, start=t, register=FluviusRegister.IMPORT_T1, value=100, status="read")
        for t in starts
    )
    old_day = timezone.localtime(cut).date() - timedelta(days=1)
    FluviusDay.objects.create(
        meter=alice_meter, day=old_day, register=FluviusRegister.IMPORT_T1, value=9_600, status="read"
    )

    dry = retention.apply_retention(dry_run=True)
    assert dry.intervals_deleted == 2
    assert FluviusInterval.objects.count() == 4
    report = retention.apply_retention()

    assert report.intervals_deleted == 2
    assert sorted(FluviusInterval.objects.values_list("start", flat=True)) == starts[2:]
    assert FluviusDay.objects.filter(meter=alice_meter, day=old_day).exists()
    event = AuditEvent.objects.get(kind="retention")
    assert event.detail["imported_intervals_deleted"] == 2
