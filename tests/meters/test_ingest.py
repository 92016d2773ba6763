"""The one ingest service: validation, write rules, slots, duplicates, atomicity (docs/design.md "Ingest rules")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meters.claims import claim_meter
from meters.ingest import BatchTooLarge, IngestRejected, ingest_readings, slot_start
from meters.models import Meter, PendingMeter, Reading
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SERIAL = "1SAG1100000292"


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def _quarters(serial: str, start: datetime, count: int, **overrides) -> list[dict]:
    return [reading_item(serial, start + timedelta(minutes=15 * n), **overrides) for n in range(count)]


def _errors(exc_info) -> set[tuple[int, str]]:
    return {(e.index, e.field) for e in exc_info.value.errors}


# --- write rules -------------------------------------------------------------------------------------------------


def test_it_stores_a_batch_for_the_users_own_meter(alice, alice_meter):
    result = ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=2), 4))

    assert (result.created, result.duplicates, result.registered_serials) == (4, 0, ())
    stored = list(alice_meter.readings.order_by("timestamp"))
    assert [r.timestamp for r in stored] == [NOW - timedelta(hours=2) + timedelta(minutes=15 * n) for n in range(4)]
    assert stored[0].import_t1_kwh == Decimal("1234.567")
    assert stored[0].l2_voltage_v == Decimal("229.8")


def test_it_registers_an_unknown_serial_to_a_plain_user(alice):
    result = ingest_readings(alice, _quarters("1SAG9900000001", NOW - timedelta(hours=1), 2))

    assert result.registered_serials == ("1SAG9900000001",)
    meter = Meter.objects.get(serial="1SAG9900000001")
    assert meter.owner == alice
    assert meter.readings.count() == 2


def test_it_refuses_someone_elses_meter_without_revealing_the_owner(bob, alice_meter):
    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(bob, _quarters(SERIAL, NOW - timedelta(hours=1), 2))

    assert _errors(exc_info) == {(0, "serial"), (1, "serial")}
    for error in exc_info.value.errors:
        assert "alice" not in error.message.lower()
    assert Reading.objects.count() == 0
    alice_meter.refresh_from_db()
    assert alice_meter.owner.username == "alice"


def test_it_refuses_an_unclaimed_meter_that_already_has_data(staff, bob):
    ingest_readings(staff, _quarters(SERIAL, NOW - timedelta(hours=3), 1))
    assert Meter.objects.get(serial=SERIAL).owner is None

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(bob, _quarters(SERIAL, NOW - timedelta(hours=1), 1))

    assert _errors(exc_info) == {(0, "serial")}
    assert Meter.objects.get(serial=SERIAL).owner is None
    assert Reading.objects.count() == 1


def test_it_gives_an_unclaimed_meter_without_data_to_the_first_writer(bob):
    Meter.objects.create(serial=SERIAL)

    result = ingest_readings(bob, _quarters(SERIAL, NOW - timedelta(hours=1), 1))

    assert result.registered_serials == (SERIAL,)
    assert Meter.objects.get(serial=SERIAL).owner == bob


def test_it_gives_a_serial_someone_only_typed_on_the_website_to_the_first_device_that_uploads(alice, bob):
    # Serial squatting (issue 12): bob typed the household's serial first; alice's device has the meter.
    claim_meter(bob, SERIAL, "Not mine")
    claim_meter(alice, SERIAL, "Home")

    result = ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=1), 2))

    assert result.registered_serials == (SERIAL,)
    meter = Meter.objects.get(serial=SERIAL)
    assert (meter.owner, meter.name, meter.readings.count()) == (alice, "Home", 2)
    assert list(PendingMeter.objects.values_list("user__username", flat=True)) == ["bob"]
    with pytest.raises(IngestRejected):
        ingest_readings(bob, _quarters(SERIAL, NOW - timedelta(minutes=15), 1))


def test_it_keeps_an_operator_upload_out_of_an_account_that_only_typed_the_serial(staff, bob):
    claim_meter(bob, SERIAL, "Squat")

    result = ingest_readings(staff, _quarters(SERIAL, NOW - timedelta(hours=1), 2))

    assert result.registered_serials == ()
    assert Meter.objects.get(serial=SERIAL).owner is None
    assert PendingMeter.objects.filter(user=bob).exists()  # bob now needs the register proof


def test_it_keeps_the_meter_name_given_by_the_device_owner_over_a_pending_one(alice):
    Meter.objects.create(serial=SERIAL, name="Cellar")
    claim_meter(alice, SERIAL, "Home")

    ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=1), 1))

    assert Meter.objects.get(serial=SERIAL).name == "Cellar"
    assert not PendingMeter.objects.exists()


def test_it_reads_pending_entries_only_when_a_batch_registers_a_meter(alice, alice_meter):
    ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=2), 1))

    with CaptureQueriesContext(connection) as queries:
        ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=1), 1))

    assert not [q for q in queries.captured_queries if PendingMeter._meta.db_table in q["sql"]]


def test_it_lets_staff_write_any_serial_and_leaves_new_serials_unclaimed(staff, alice_meter):
    result = ingest_readings(
        staff,
        [reading_item(SERIAL, NOW - timedelta(hours=1)), reading_item("1SAG7700000007", NOW - timedelta(hours=1))],
    )

    assert (result.created, result.registered_serials) == (2, ())
    assert Meter.objects.get(serial="1SAG7700000007").owner is None
    assert alice_meter.readings.count() == 1


def test_it_lets_a_holder_of_the_add_reading_permission_write_any_serial(bob, alice_meter):
    bob.user_permissions.add(Permission.objects.get(codename="add_reading", content_type__app_label="meters"))
    bob = type(bob).objects.get(pk=bob.pk)  # drop the cached permissions

    result = ingest_readings(bob, _quarters(SERIAL, NOW - timedelta(hours=1), 2))

    assert result.created == 2
    assert Meter.objects.get(serial=SERIAL).owner.username == "alice"


def test_it_refuses_every_write_from_an_anonymous_user():
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(IngestRejected):
        ingest_readings(AnonymousUser(), _quarters("1SAG9900000001", NOW - timedelta(hours=1), 1))
    assert not Meter.objects.exists()


# --- slots and duplicates ----------------------------------------------------------------------------------------


def test_it_snaps_the_timestamp_to_its_quarter_hour_and_keeps_the_measured_time(alice, alice_meter):
    ingest_readings(alice, [reading_item(SERIAL, "2026-11-20T10:07:59+01:00")])

    reading = alice_meter.readings.get()
    assert reading.timestamp == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert reading.measured_at == datetime(2026, 11, 20, 9, 7, 59, tzinfo=UTC)


def test_it_counts_slots_already_stored_as_duplicates(alice, alice_meter):
    batch = _quarters(SERIAL, NOW - timedelta(hours=2), 4)
    ingest_readings(alice, batch[:2])

    result = ingest_readings(alice, batch)

    assert (result.created, result.duplicates) == (2, 2)
    assert alice_meter.readings.count() == 4


def test_it_keeps_the_first_reading_of_a_slot_within_one_batch(alice, alice_meter):
    slot = NOW - timedelta(hours=1)
    batch = [
        reading_item(SERIAL, slot + timedelta(minutes=1), import_t1_kwh="100.000"),
        reading_item(SERIAL, slot + timedelta(minutes=9), import_t1_kwh="200.000"),
    ]

    result = ingest_readings(alice, batch)

    assert (result.created, result.duplicates) == (1, 1)
    assert alice_meter.readings.get().import_t1_kwh == Decimal("100.000")


def test_it_stores_the_repeated_autumn_hour_as_eight_distinct_slots(alice, alice_meter):
    # 25 October 2026: 02:00-03:00 local happens twice, first as CEST (+02:00), then as CET (+01:00).
    batch = [
        reading_item(SERIAL, f"2026-10-25T02:{minute:02d}:00{offset}")
        for offset in ("+02:00", "+01:00")
        for minute in (0, 15, 30, 45)
    ]

    result = ingest_readings(alice, batch)

    assert (result.created, result.duplicates) == (8, 0)
    slots = list(alice_meter.readings.order_by("timestamp").values_list("timestamp", flat=True))
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert slots == [start + timedelta(minutes=15 * n) for n in range(8)]


def test_it_reads_a_naive_time_in_the_repeated_hour_as_its_first_occurrence(alice, alice_meter):
    ingest_readings(alice, [reading_item(SERIAL, "2026-10-25T02:30:00")])

    assert alice_meter.readings.get().timestamp == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_it_reads_naive_times_as_brussels_time(alice, alice_meter):
    ingest_readings(alice, [reading_item(SERIAL, datetime(2026, 7, 1, 12, 0))])

    assert alice_meter.readings.get().timestamp == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_it_floors_slots_to_the_utc_quarter_hour():
    moment = datetime.fromisoformat("2026-03-29T03:44:59.999+02:00")
    assert slot_start(moment) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


# --- validation and atomicity -----------------------------------------------------------------------------------


def test_it_stores_nothing_and_lists_every_bad_item_by_index_and_field(alice, alice_meter):
    batch = _quarters(SERIAL, NOW - timedelta(hours=3), 6)
    batch[1]["import_t1_kwh"] = "abc"
    batch[3]["power_import_kw"] = -1
    batch[3]["tariff"] = 3
    del batch[4]["export_t2_kwh"]
    batch[5] = "not an object"

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, batch)

    assert _errors(exc_info) == {
        (1, "import_t1_kwh"),
        (3, "power_import_kw"),
        (3, "tariff"),
        (4, "export_t2_kwh"),
        (5, "non_field_errors"),
    }
    assert Reading.objects.count() == 0


@pytest.mark.parametrize(
    "value", ["NaN", float("nan"), float("inf"), "-Infinity", "abc", "", True, [1], {"v": 1}], ids=repr
)
def test_it_refuses_values_that_are_not_finite_numbers(alice, alice_meter, value):
    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, [reading_item(SERIAL, NOW, import_t1_kwh=value)])
    assert _errors(exc_info) == {(0, "import_t1_kwh")}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("import_t1_kwh", "1000000000"),
        ("export_t1_kwh", "-0.001"),
        ("power_import_kw", "1000.001"),
        ("l1_import_kw", -2),
        ("l1_voltage_v", 1001),
        ("l3_current_a", "1000.5"),
        ("tariff", 0),
        ("tariff", "1.5"),
        ("breaker_state", 3),
        ("gas_m3", -1),
    ],
)
def test_it_refuses_values_out_of_range(alice, alice_meter, field, value):
    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, [reading_item(SERIAL, NOW, **{field: value})])
    assert _errors(exc_info) == {(0, field)}


@pytest.mark.parametrize(
    "field",
    ["import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "power_import_kw", "power_export_kw"],
)
def test_it_requires_registers_and_power(alice, alice_meter, field):
    item = reading_item(SERIAL, NOW)
    del item[field]
    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, [item])
    assert _errors(exc_info) == {(0, field)}
    assert exc_info.value.errors[0].message == "this field is required"


def test_it_requires_a_timestamp_and_a_valid_serial(alice):
    items = [reading_item("1SAG-11 000", NOW), reading_item("X" * 33, NOW), reading_item(SERIAL, None)]
    items.append({"timestamp": NOW.isoformat(), **{k: v for k, v in items[2].items() if k != "serial"}})
    items[3]["timestamp"] = NOW.isoformat()
    items.append(reading_item(SERIAL, "yesterday"))

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)

    assert _errors(exc_info) == {(0, "serial"), (1, "serial"), (2, "timestamp"), (3, "serial"), (4, "timestamp")}


def test_it_quantizes_values_to_the_stored_precision(alice, alice_meter):
    ingest_readings(
        alice,
        [
            reading_item(
                SERIAL,
                NOW,
                import_t1_kwh=1234.5675,
                import_t2_kwh=Decimal("7.1"),
                export_t1_kwh=3,
                power_import_kw="1e-1",
                l1_voltage_v=230.06,
                l1_current_a="1.005",
            )
        ],
    )

    reading = alice_meter.readings.get()
    assert reading.import_t1_kwh == Decimal("1234.568")
    assert reading.import_t2_kwh == Decimal("7.100")
    assert reading.export_t1_kwh == Decimal("3.000")
    assert reading.power_import_kw == Decimal("0.100")
    assert reading.l1_voltage_v == Decimal("230.1")
    assert reading.l1_current_a == Decimal("1.01")


def test_it_leaves_phases_and_meters_that_were_not_sent_empty(alice, alice_meter):
    single_phase = {
        k: v for k, v in reading_item(SERIAL, NOW).items() if not k.startswith(("l2_", "l3_")) and k != "tariff"
    }
    single_phase["unknown_key"] = "ignored"

    ingest_readings(alice, [single_phase])

    reading = alice_meter.readings.get()
    assert reading.l1_voltage_v == Decimal("231.4")
    for field in ("l2_import_kw", "l3_voltage_v", "l2_current_a", "tariff", "gas_m3", "gas_at", "month_peak_kw"):
        assert getattr(reading, field) is None, field


def test_it_stores_gas_and_the_month_peak_with_their_times(alice, alice_meter):
    ingest_readings(
        alice,
        [
            reading_item(
                SERIAL,
                NOW,
                gas_m3="1502.123",
                gas_at="2026-11-20T12:55:00+01:00",
                month_peak_kw="4.321",
                month_peak_at="2026-11-03T18:15:00Z",
                breaker_state=1,
            )
        ],
    )

    reading = alice_meter.readings.get()
    assert reading.gas_at == datetime(2026, 11, 20, 11, 55, tzinfo=UTC)
    assert reading.month_peak_at == datetime(2026, 11, 3, 18, 15, tzinfo=UTC)
    assert (reading.gas_m3, reading.month_peak_kw, reading.breaker_state) == (Decimal("1502.123"), Decimal("4.321"), 1)


def test_it_refuses_timestamps_more_than_a_day_in_the_future(alice, alice_meter):
    items = [
        reading_item(SERIAL, NOW + timedelta(hours=23, minutes=59)),
        reading_item(SERIAL, NOW + timedelta(days=1, minutes=1)),
    ]

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)
    assert _errors(exc_info) == {(1, "timestamp")}

    assert ingest_readings(alice, items[:1]).created == 1


def test_it_refuses_a_factory_clock_as_the_time_of_a_reading(alice, alice_meter):
    items = [
        reading_item(SERIAL, "2000-01-01T00:15:00+01:00"),
        reading_item(SERIAL, NOW, measured_at="1970-01-01T01:00:00+01:00"),
        reading_item(SERIAL, "2010-01-01T00:00:00+00:00"),
    ]

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)
    assert _errors(exc_info) == {(0, "timestamp"), (1, "measured_at")}
    assert Reading.objects.count() == 0


def test_it_refuses_a_batch_larger_than_the_limit(alice, alice_meter, settings):
    settings.INGEST_MAX_BATCH = 3

    with pytest.raises(BatchTooLarge, match="4 readings in one request; the limit is 3"):
        ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=2), 4))
    assert Reading.objects.count() == 0


def _reading_selects(user, batch) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        ingest_readings(user, batch)
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "meters_reading" in q["sql"]
    ]


def test_it_reads_existing_slots_with_one_query_per_meter(staff):
    start = NOW - timedelta(days=6)
    batch = _quarters("1SAG0000000001", start, 500) + _quarters("1SAG0000000002", start, 500)
    ingest_readings(staff, batch[:10])

    with CaptureQueriesContext(connection) as queries:
        result = ingest_readings(staff, batch)

    assert (result.created, result.duplicates) == (990, 10)
    slot_reads = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "meters_reading"."timestamp"')
    ]
    assert len(slot_reads) == 2


def test_it_maintains_the_rollups_with_the_same_few_reads_however_many_readings_a_meter_sends(staff):
    start = NOW - timedelta(days=8)
    small = _reading_selects(staff, _quarters("1SAG0000000001", start, 8) + _quarters("1SAG0000000002", start, 8))
    large = _reading_selects(staff, _quarters("1SAG0000000003", start, 500) + _quarters("1SAG0000000004", start, 500))
    assert len(large) == len(small) <= 2 * 6


def test_it_retries_the_batch_once_when_the_insert_hits_the_unique_slot_constraint(alice, alice_meter, monkeypatch):
    # A concurrent upload that commits the same slot between our read and our insert makes the database raise
    # its unique-constraint error; the driver's real error is produced here by inserting the rows twice.
    from meters import ingest

    real_insert = ingest._insert
    calls = []

    def insert_racing_a_concurrent_writer(rows, connection):
        calls.append(len(rows))
        if len(calls) == 1:
            real_insert(rows, connection)
        real_insert(rows, connection)

    monkeypatch.setattr(ingest, "_insert", insert_racing_a_concurrent_writer)

    result = ingest_readings(alice, _quarters(SERIAL, NOW - timedelta(hours=1), 3))

    assert calls == [3, 3]
    assert (result.created, result.duplicates) == (3, 0)
    assert alice_meter.readings.count() == 3


# --- input from the edge of the calendar and of Unicode ------------------------------------------------------

_TIME_FIELDS = ("timestamp", "measured_at", "month_peak_at", "gas_at", "water_at")
_BEYOND_THE_CALENDAR = [
    "9999-12-31T23:59:59-23:59",  # UTC would be in the year 10000
    "0001-01-01T00:00:00",  # naive, so Brussels time: UTC would be in the year 0
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59",
    datetime(1, 1, 1, tzinfo=ZoneInfo("Europe/Brussels")),
]


def test_it_reports_a_time_beyond_the_calendar_as_a_field_error(alice, alice_meter):
    """One item per (field, value), so the one batch also shows that each is reported by its own index."""
    cases = [(field, value) for field in _TIME_FIELDS for value in _BEYOND_THE_CALENDAR]
    items = []
    for n, (field, value) in enumerate(cases):
        item = reading_item(SERIAL, NOW - timedelta(minutes=15 * n))
        item[field] = value
        items.append(item)

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)

    assert _errors(exc_info) == {(n, field) for n, (field, _value) in enumerate(cases)}
    assert all(error.message for error in exc_info.value.errors)
    assert Reading.objects.count() == 0


@pytest.mark.parametrize("field", ["month_peak_at", "gas_at", "water_at"])
def test_it_range_checks_the_peak_gas_and_water_times_like_the_timestamp(alice, alice_meter, field):
    items = [
        reading_item(SERIAL, NOW, **{field: "2000-01-01T00:00:00+01:00"}),  # factory clock
        reading_item(SERIAL, NOW - timedelta(minutes=15), **{field: (NOW + timedelta(days=2)).isoformat()}),
        reading_item(SERIAL, NOW - timedelta(minutes=30), **{field: (NOW - timedelta(hours=1)).isoformat()}),
    ]

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)
    assert _errors(exc_info) == {(0, field), (1, field)}

    assert ingest_readings(alice, items[2:]).created == 1


_DECIMAL_FIELDS = [
    "import_t1_kwh",
    "import_t2_kwh",
    "export_t1_kwh",
    "export_t2_kwh",
    "power_import_kw",
    "power_export_kw",
    *(f"l{n}_{d}_kw" for n in (1, 2, 3) for d in ("import", "export")),
    *(f"l{n}_voltage_v" for n in (1, 2, 3)),
    *(f"l{n}_current_a" for n in (1, 2, 3)),
    "avg_demand_kw",
    "month_peak_kw",
    "gas_m3",
    "water_m3",
]


# Full-width and Arabic-Indic 123, digit-group underscores, a no-break space, negative zeros.
_NOT_NUMBERS = ["\uff11\uff12\uff13", "\u0661\u0662\u0663", "1_000", "\u00a012", "-0", "-0.000", Decimal("-0.0"), -0.0]


def test_it_refuses_what_python_reads_as_a_number_but_a_meter_never_writes(alice, alice_meter):
    """Full-width or Arabic-Indic digits, digit-group underscores, Unicode spaces and a negative zero are not
    register values; each (field, value) is one item of the batch, reported by its index and field."""
    cases = [(field, value) for field in _DECIMAL_FIELDS for value in _NOT_NUMBERS]
    items = [reading_item(SERIAL, NOW - timedelta(minutes=15 * n), **{f: v}) for n, (f, v) in enumerate(cases)]

    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, items)

    assert _errors(exc_info) == {(n, field) for n, (field, _value) in enumerate(cases)}
    assert Reading.objects.count() == 0


@pytest.mark.parametrize(("field", "value"), [("tariff", "\uff11"), ("tariff", "0_1"), ("breaker_state", "-0")])
def test_it_refuses_odd_spellings_of_the_whole_number_fields(alice, alice_meter, field, value):
    with pytest.raises(IngestRejected) as exc_info:
        ingest_readings(alice, [reading_item(SERIAL, NOW, **{field: value})])
    assert _errors(exc_info) == {(0, field)}


def test_it_still_reads_plain_ascii_spellings_of_numbers(alice, alice_meter):
    ingest_readings(
        alice,
        [
            reading_item(
                SERIAL, NOW, import_t1_kwh=" 1234.5 ", import_t2_kwh="+7", export_t1_kwh="0", power_import_kw="1E-1"
            )
        ],
    )
    reading = alice_meter.readings.get()
    assert (reading.import_t1_kwh, reading.import_t2_kwh, reading.export_t1_kwh, reading.power_import_kw) == (
        Decimal("1234.500"),
        Decimal("7.000"),
        Decimal("0.000"),
        Decimal("0.100"),
    )
