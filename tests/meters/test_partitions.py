"""Monthly partitions of meters_reading on PostgreSQL (meters/partitions.py, docs/scaling.md): the migrated shape,
where rows land, creating months ahead and moving rows out of the DEFAULT partition, retention by dropping whole
months, the keys Citus needs, and ``manage.py partition_readings``. One table, and a clear message, elsewhere.

Time is frozen in 2015, years before any month the test database's migration made partitions for (it runs with the
real clock and an empty table), so every month partition these tests look at is one they made. DDL is
transactional on PostgreSQL: each test's partitions vanish with its rollback.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from meters import bi, partitions
from meters.ingest import ingest_readings
from meters.models import DayEnergy, Reading
from meters.series.build import build_series
from tests.conftest import wait_for
from tests.factories import ALICE_SERIAL, reading_item
from users.models import prices_for

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="partitions are PostgreSQL's; run with DATABASE_URL=postgres://... (make test does)",
)
off_postgresql = pytest.mark.skipif(connection.vendor == "postgresql", reason="the one-table databases' behaviour")

BRUSSELS = ZoneInfo("Europe/Brussels")
NOW = datetime(2015, 4, 20, 12, 0, tzinfo=UTC)
# Local midnight of 1 March 2015 (CET, UTC+1): the first reading of the local month, in UTC still in February.
MARCH_START = datetime(2015, 3, 1, tzinfo=BRUSSELS).astimezone(UTC)
AHEAD = ["p201504", "p201505", "p201506", "p201507"]  # the running month of NOW and the three after it

# Tables that Citus would distribute by meter (docs/scaling.md): meter_id in every key, foreign keys only to the
# meters (a reference table there). Tables not created yet are not checked.
DISTRIBUTED_BY_METER = (
    "meters_reading",
    "meters_quarterenergy",
    "meters_dayenergy",
    "meters_monthenergy",
    "meters_fluviusinterval",
    "meters_fluviusday",
    "meters_fluviuspeak",
)
# Small per-meter tables that stay on the coordinator (docs/scaling.md, "What stays local"); a new table with a
# meter_id column must be put in one of the two lists.
NOT_DISTRIBUTED = (
    "meters_alert",
    "meters_device_meters",
    "meters_contract",
    "meters_metershare",
    "meters_fluviusimport",
)


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def _quarters(start: datetime, count: int, first_kwh: int = 1000) -> list[dict]:
    """``count`` readings of alice's meter from ``start``, the day register rising 0.25 kWh a quarter."""
    return [
        reading_item(
            ALICE_SERIAL,
            start + timedelta(minutes=15 * n),
            import_t1_kwh=f"{first_kwh + n / 4:.3f}",
            import_t2_kwh="2000.000",
        )
        for n in range(count)
    ]


def _homes() -> dict[datetime, str]:
    """Each stored slot and the partition its row is in."""
    with connection.cursor() as cursor:
        cursor.execute('SELECT "timestamp", tableoid::regclass::text FROM meters_reading')
        return dict(cursor.fetchall())


def _rows() -> dict[int, tuple]:
    return {r[0]: r[1:] for r in Reading.objects.values_list("pk", "meter_id", "timestamp", "import_t1_kwh")}


def _names(report: partitions.PartitionReport) -> list[str]:
    return [p.name.removeprefix("meters_reading_") for p in report.created]


def _constraints(table: str) -> dict[str, list]:
    """Name -> [kind, definition, deferrable, initially deferred] of the keys and foreign keys of ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conname, contype, pg_get_constraintdef(oid), condeferrable, condeferred FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')""",
            [table],
        )
        return {name: rest for name, *rest in cursor.fetchall()}


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


# --- the migrated table ----------------------------------------------------------------------------------------


@on_postgresql
def test_it_is_a_table_partitioned_by_timestamp_with_the_natural_key_as_primary_key():
    assert partitions.is_partitioned()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('meters_reading'::regclass)")
        assert cursor.fetchone() == ('RANGE ("timestamp")',)
        cursor.execute(
            "SELECT attidentity FROM pg_attribute WHERE attrelid = 'meters_reading'::regclass AND attname = 'id'"
        )
        assert cursor.fetchone() == ("d",)  # Django's BigAutoField: GENERATED BY DEFAULT AS IDENTITY, kept
        cursor.execute("SELECT pg_get_serial_sequence('meters_reading', 'id')")
        assert cursor.fetchone() == ("public.meters_reading_id_seq",)

    constraints = _constraints("meters_reading")
    # A RemoveConstraint of Django's reading_unique_meter_slot would still find it by that name.
    assert constraints["reading_unique_meter_slot"][:2] == ["p", 'PRIMARY KEY (meter_id, "timestamp")']
    [(_, fk, deferrable, deferred)] = [c for c in constraints.values() if c[0] == "f"]
    assert fk == "FOREIGN KEY (meter_id) REFERENCES meters_meter(id) DEFERRABLE INITIALLY DEFERRED"
    assert (deferrable, deferred) == (True, True)  # as Django makes them (it emulates ON DELETE CASCADE itself)
    indexes = _indexes("meters_reading")
    assert indexes["meters_reading_id_idx"].endswith("USING btree (id)")  # pk lookups; not unique
    # No index on meter_id alone (migration 0012): the primary key starts with it and serves lookups by meter.
    assert not any(sql.endswith("USING btree (meter_id)") for sql in indexes.values())
    assert partitions.partitions()[-1].name == "meters_reading_default"
    assert partitions.partitions()[-1].is_default


@on_postgresql
def test_it_puts_a_reading_in_its_months_partition_and_one_of_a_month_without_in_the_default(alice, alice_meter):
    partitions.ensure_partitions(NOW)

    ingest_readings(alice, [*_quarters(datetime(2015, 4, 10, tzinfo=UTC), 1), *_quarters(MARCH_START, 1)])

    assert _homes() == {
        datetime(2015, 4, 10, tzinfo=UTC): "meters_reading_p201504",
        MARCH_START: "meters_reading_default",
    }


@on_postgresql
def test_it_splits_the_months_at_local_midnight(alice, alice_meter):
    ingest_readings(alice, _quarters(MARCH_START - timedelta(minutes=15), 2))

    partitions.ensure_partitions(NOW)

    # 23:45 on 28 February in Brussels is February's; midnight is March's, though it is still February in UTC.
    assert _homes() == {
        MARCH_START - timedelta(minutes=15): "meters_reading_p201502",
        MARCH_START: "meters_reading_p201503",
    }
    [march] = [p for p in partitions.partitions() if p.name == "meters_reading_p201503"]
    assert (march.start, march.end, march.month) == (
        datetime(2015, 2, 28, 23, tzinfo=UTC),
        datetime(2015, 3, 31, 22, tzinfo=UTC),  # summer time began on 29 March
        date(2015, 3, 1),
    )


# --- ensure_partitions -----------------------------------------------------------------------------------------


@on_postgresql
def test_it_creates_the_months_ahead_and_moves_the_default_partitions_rows_without_losing_any(alice, alice_meter):
    batch = _quarters(MARCH_START - timedelta(hours=1), 12) + _quarters(datetime(2015, 4, 2, tzinfo=UTC), 3, 2000)
    ingest_readings(alice, batch)
    assert set(_homes().values()) == {"meters_reading_default"}
    stored = _rows()
    day = build_series(alice_meter, "day", date(2015, 3, 1), prices=prices_for(alice))

    report = partitions.ensure_partitions(NOW)

    assert report.partitioned
    assert _names(report) == ["p201502", "p201503", *AHEAD]
    assert [p.moved_rows for p in report.created] == [4, 8, 3, 0, 0, 0]
    assert report.moved_rows == len(batch)
    assert _rows() == stored  # the same rows, ids and values: nothing lost, nothing twice
    assert "meters_reading_default" not in _homes().values()
    again = build_series(alice_meter, "day", date(2015, 3, 1), prices=prices_for(alice))
    assert (again.readings, again.totals) == (day.readings, day.totals)
    replay = ingest_readings(alice, batch)
    assert (replay.created, replay.duplicates) == (0, len(batch))


@on_postgresql
def test_it_does_nothing_the_second_time(alice, alice_meter):
    ingest_readings(alice, _quarters(MARCH_START, 2))
    partitions.ensure_partitions(NOW)
    before = partitions.partitions()

    report = partitions.ensure_partitions(NOW)

    assert report == partitions.PartitionReport(partitioned=True, created=())
    assert partitions.partitions() == before


@on_postgresql
def test_it_keeps_what_a_month_partition_holds_when_it_creates_more(alice, alice_meter):
    partitions.ensure_partitions(NOW, months_ahead=0)
    ingest_readings(alice, _quarters(datetime(2015, 4, 5, tzinfo=UTC), 2))

    report = partitions.ensure_partitions(NOW + timedelta(days=40), months_ahead=1)

    assert _names(report) == ["p201505", "p201506"]
    assert set(_homes().values()) == {"meters_reading_p201504"}


@on_postgresql
def test_it_refuses_a_naive_now_and_a_negative_number_of_months():
    with pytest.raises(ValueError, match="aware"):
        partitions.ensure_partitions(datetime(2015, 4, 20))
    with pytest.raises(ValueError, match="0 or more"):
        partitions.ensure_partitions(NOW, months_ahead=-1)


# --- keys, lookups, deletes ------------------------------------------------------------------------------------


@on_postgresql
@pytest.mark.parametrize(
    ("slot", "partition"),
    [(datetime(2015, 4, 10, tzinfo=UTC), "meters_reading_p201504"), (MARCH_START, "meters_reading_default")],
    ids=["month", "default"],
)
def test_it_refuses_a_second_row_for_a_slot_in_a_month_partition_and_in_the_default(
    alice, alice_meter, slot, partition
):
    partitions.ensure_partitions(NOW)
    ingest_readings(alice, _quarters(slot, 1))
    first = Reading.objects.get()
    copy = {f.attname: getattr(first, f.attname) for f in Reading._meta.concrete_fields if not f.primary_key}

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Reading.objects.create(**copy)

    # The partition's share of the primary key reading_unique_meter_slot refuses it, and names itself.
    assert refused.value.__cause__.sqlstate == "23505"  # unique_violation, as before partitioning
    assert refused.value.__cause__.diag.constraint_name == f"{partition}_pkey"
    replay = ingest_readings(alice, _quarters(slot, 1))
    assert (replay.created, replay.duplicates) == (0, 1)


@on_postgresql
def test_it_finds_readings_by_pk_and_deletes_them_by_filter_across_partitions(alice, alice_meter):
    partitions.ensure_partitions(NOW)
    ingest_readings(alice, _quarters(datetime(2015, 4, 10, tzinfo=UTC), 2) + _quarters(MARCH_START, 2))
    april = Reading.objects.get(timestamp=datetime(2015, 4, 10, tzinfo=UTC))
    march = Reading.objects.get(timestamp=MARCH_START)

    assert Reading.objects.get(pk=april.pk).import_t1_kwh == april.import_t1_kwh
    assert Reading.objects.get(pk=march.pk).timestamp == MARCH_START
    deleted, _ = Reading.objects.filter(timestamp__lt=datetime(2015, 4, 1, tzinfo=UTC)).delete()

    assert deleted == 2
    assert set(_homes().values()) == {"meters_reading_p201504"}
    alice_meter.delete()  # Django's emulated cascade deletes the rest
    assert not Reading.objects.exists()


# --- drop_partitions -------------------------------------------------------------------------------------------


@on_postgresql
def test_it_drops_the_whole_months_before_the_cutoff_and_nothing_else(alice, alice_meter):
    ingest_readings(
        alice,
        _quarters(datetime(2015, 1, 20, tzinfo=UTC), 2)
        + _quarters(datetime(2015, 2, 20, tzinfo=UTC), 2, 1100)
        + _quarters(MARCH_START, 4, 1200),
    )
    partitions.ensure_partitions(NOW)
    days_before = DayEnergy.objects.filter(meter=alice_meter).count()

    # 15 March falls inside March: the months that end before it go, March stays whole.
    dropped = partitions.drop_partitions(before=date(2015, 3, 15))

    assert dropped == ["meters_reading_p201501", "meters_reading_p201502"]
    assert set(_homes()) == {MARCH_START + timedelta(minutes=15 * n) for n in range(4)}
    assert [p.name for p in partitions.partitions() if p.month and p.month < date(2015, 4, 1)] == [
        "meters_reading_p201503"
    ]
    # The day rollups outlive the readings (docs/scaling.md, "Retention").
    assert DayEnergy.objects.filter(meter=alice_meter).count() == days_before
    assert partitions.drop_partitions(before=date(2015, 3, 15)) == []


# --- migration 0010 both ways ----------------------------------------------------------------------------------


@on_postgresql
def test_it_converts_to_one_table_and_back_keeping_every_reading_and_the_id_sequence(alice, alice_meter):
    partitions.ensure_partitions(NOW)
    ingest_readings(alice, _quarters(MARCH_START - timedelta(minutes=30), 4) + _quarters(NOW - timedelta(days=1), 2))
    stored = _rows()

    with connection.schema_editor() as editor:
        bi.drop_views(apps, editor)  # as pre_migrate does
        partitions.unpartition_table(apps, editor)

    assert not partitions.is_partitioned()
    constraints = _constraints("meters_reading")
    assert constraints["meters_reading_pkey"][:2] == ["p", "PRIMARY KEY (id)"]
    assert constraints["reading_unique_meter_slot"][:2] == ["u", 'UNIQUE (meter_id, "timestamp")']
    assert "meters_reading_id_idx" not in _indexes("meters_reading")
    assert _rows() == stored

    with connection.schema_editor() as editor:
        partitions.partition_table(apps, editor)
        bi.create_views(apps, editor)  # as post_migrate does

    assert partitions.is_partitioned()
    assert _rows() == stored
    # From the earliest reading's month to three after the running one (migration 0010's range).
    months = [p.name.removeprefix("meters_reading_") for p in partitions.partitions()]
    assert months == ["p201502", "p201503", *AHEAD, "default"]
    ingest_readings(alice, _quarters(NOW, 1))
    assert Reading.objects.get(timestamp=NOW).pk > max(stored)  # the sequence went on where it was


# --- the keys Citus needs --------------------------------------------------------------------------------------


@on_postgresql
def test_it_keeps_meter_id_first_in_the_primary_key_of_every_table_distributed_by_meter():
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE a.attname = 'meter_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND pg_table_is_visible(c.oid)"""
        )
        with_meter_id = {row[0] for row in cursor.fetchall()}
    assert "meters_reading" in with_meter_id
    assert with_meter_id <= {*DISTRIBUTED_BY_METER, *NOT_DISTRIBUTED}, "classify the new table in docs/scaling.md"

    for table in sorted(with_meter_id & set(DISTRIBUTED_BY_METER)):
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT i.indisprimary, array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
                FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique""",
                [table],
            )
            keys = cursor.fetchall()
            cursor.execute(
                "SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            referenced = {row[0] for row in cursor.fetchall()}
        [primary] = [columns for is_primary, columns in keys if is_primary]
        assert primary[0] == "meter_id", table
        assert all("meter_id" in columns for _, columns in keys), table  # Citus: every unique key holds it
        assert referenced == {"meters_meter"}, table  # a reference table under Citus


# --- manage.py partition_readings ------------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    out = StringIO()
    call_command("partition_readings", *args, stdout=out)
    return out.getvalue().splitlines()


@on_postgresql
def test_it_prints_what_the_command_created_moved_and_dropped(alice, alice_meter):
    ingest_readings(alice, _quarters(MARCH_START, 3))

    assert _command() == [
        "created meters_reading_p201503 (2015-03, 3 reading(s) moved from the default partition)",
        *[f"created meters_reading_{p} (2015-{p[-2:]}, 0 reading(s) moved from the default partition)" for p in AHEAD],
    ]
    assert _command() == ["partitions up to 2015-07 exist; nothing created"]
    assert _command("--ahead", "4") == [
        "created meters_reading_p201508 (2015-08, 0 reading(s) moved from the default partition)"
    ]
    assert _command("--drop-before", "2015-04") == [
        "partitions up to 2015-07 exist; nothing created",
        "dropped meters_reading_p201503",
    ]
    assert _command("--drop-before", "2015-04")[-1] == "no partition ends before 2015-04; nothing dropped"
    assert not Reading.objects.exists()


@on_postgresql
def test_it_lists_the_partitions_without_changing_any(alice, alice_meter):
    partitions.ensure_partitions(NOW)
    before = partitions.partitions()

    lines = _command("--list")

    assert "meters_reading_p201504  2015-04  [2015-03-31T22:00:00+00:00, 2015-04-30T22:00:00+00:00)" in "\n".join(lines)
    assert lines[-1].startswith("meters_reading_default  default  ")
    assert partitions.partitions() == before


@on_postgresql
@pytest.mark.parametrize("value", ["2015-13", "2015-00", "2015/04", "15-04", "2015-4", "April"])
def test_it_names_the_option_and_its_form_for_a_bad_drop_before(value):
    with pytest.raises(CommandError, match=r"--drop-before must be a month written YYYY-MM, e\.g\. 2024-01; got"):
        call_command("partition_readings", "--drop-before", value)


@on_postgresql
def test_it_refuses_to_drop_the_months_still_being_written(alice, alice_meter):
    ingest_readings(alice, _quarters(NOW - timedelta(hours=1), 2))
    partitions.ensure_partitions(NOW)

    with pytest.raises(CommandError, match="--drop-before 2015-05 is after the running month; nothing was dropped"):
        call_command("partition_readings", "--drop-before", "2015-05")

    assert Reading.objects.count() == 2


@on_postgresql
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--list", "--drop-before", "2015-01"], "--list changes nothing: leave out --drop-before and --loop"),
        (["--loop", "60", "--drop-before", "2015-01"], "--drop-before is a one-off: leave out --loop"),
        (["--ahead", "-1"], "--ahead must be 0 or more"),
    ],
)
def test_it_refuses_options_that_do_not_go_together(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("partition_readings", *args)


def _loop_until_sigterm(after: str) -> list[str]:
    """``partition_readings --loop 86400``, stopped by SIGTERM once ``after`` was printed; its output."""
    out = StringIO()

    def stop_after_first_pass() -> None:
        wait_for(lambda: after in out.getvalue(), timeout=30, message="the first pass")
        # To the main thread: a process-wide kill may land on this thread, and the main thread, asleep in the
        # loop's wait, would then never run the handler.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_after_first_pass, daemon=True)
    stopper.start()
    call_command("partition_readings", "--loop", "86400", stdout=out)
    stopper.join(timeout=5)
    assert signal.getsignal(signal.SIGTERM) is previous
    return out.getvalue().splitlines()


@on_postgresql
def test_it_loops_until_sigterm():
    lines = _loop_until_sigterm("created meters_reading_p201507")

    assert lines[-1] == "partition_readings: stopped"


@off_postgresql
def test_it_says_partitioning_is_postgresql_only_on_sqlite():
    assert _command() == [
        "partition_readings: partitioning is PostgreSQL-only; on sqlite the readings stay in one table, nothing to do"
    ]
    assert _command("--drop-before", "2015-01") == _command()


@off_postgresql
def test_it_waits_in_its_loop_on_sqlite_rather_than_exit_into_a_restart_loop():
    lines = _loop_until_sigterm("PostgreSQL-only")

    assert lines[-1] == "partition_readings: stopped"


@off_postgresql
def test_it_keeps_one_table_on_sqlite():
    assert not partitions.is_partitioned()
    assert partitions.partitions() == []
    assert partitions.ensure_partitions(NOW) == partitions.PartitionReport(partitioned=False)
    with pytest.raises(partitions.PartitioningUnsupported, match="not partitioned on this database"):
        partitions.drop_partitions(before=date(2015, 1, 1))
