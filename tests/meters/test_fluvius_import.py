"""Mijn Fluvius import (meters/fluvius/): the parser, the import service, the series fill, the capacity mean, the
reconciliation with the Pi and the management command. Sample files are written here, in every header variant."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command

from meters.fluvius import imports, parse
from meters.fluvius.imports import ImportRefused, import_file
from meters.fluvius.reconcile import differences, flagged
from meters.models import FluviusDay, FluviusImport, FluviusInterval, FluviusPeak, Meter
from meters.series import build_series
from tests.factories import ALICE_SERIAL
from tests.meters.series_truth import build
from users.models import prices_for

BRUSSELS = ZoneInfo("Europe/Brussels")
EAN = '="541448820000000000"'
M = f"{EAN};{ALICE_SERIAL};Digitale Meter"  # the EAN, Meter and Metertype cells
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

NL_2021 = "Van Datum;Van Tijdstip;Tot Datum;Tot Tijdstip;EAN;Meter;Metertype;Register;Volume;Eenheid;Validatiestatus"
NL_2025 = (
    "Van datum;Van tijdstip;Tot datum;Tot tijdstip;EAN-code;Meter;Metertype;Register;Volume;Eenheid;"
    "Validatiestatus;Omschrijving"
)
NL_NEWER = (
    "Van (datum);Van (tijdstip);Tot (datum);Tot (tijdstip);EAN-code;Meter;Metertype;Register;Volume;Eenheid;"
    "Validatiestatus;Omschrijving"
)
EN = (
    "From (date);From (time);Until (date);Until (time);EAN code;Meter;Meter type;Register;Volume;Unit;"
    "Validation status;Description"
)
GAS_NL = (
    "Van datum;Van tijdstip;Tot datum;Tot tijdstip;EAN-code;Meter;Metertype;Register;Volume;Eenheid;"
    "Validatiestatus;Calorische Bovenwaarde;Omschrijving"
)
NL_REGISTERS = ("Afname Dag", "Afname Nacht", "Injectie Dag", "Injectie Nacht")
EN_REGISTERS = ("Offtake Day", "Offtake Night", "Injection Day", "Injection Night")
FIELDS = ("import_t1", "import_t2", "export_t1", "export_t2")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _kwh(wh: int) -> str:
    return f"{wh // 1000},{wh % 1000:03d}"


def _wall(moment: datetime, english: bool) -> tuple[str, str]:
    local = moment.astimezone(BRUSSELS)
    return local.strftime("%d/%m/%Y" if english else "%d-%m-%Y"), local.strftime("%H:%M:%S")


def quarter_energy(start: datetime, k: int) -> int:
    """Known Wh of register ``k`` in the quarter from ``start``."""
    i = int(start.timestamp()) // 900
    return (40 + (i * 37 + k * 11) % 211) if k < 2 else (i * 13 + k) % 97


def quarter_file(
    first: date,
    days: int = 1,
    *,
    header: str = NL_2025,
    serial: str = ALICE_SERIAL,
    energy=quarter_energy,
    status=lambda start, k: "Gevalideerd",
    crlf: bool = False,
    bom: bool = True,
) -> bytes:
    """A quarter-hour totals export: every quarter of the local days from ``first``, four registers a quarter, in
    the row order of Mijn Fluvius (time, then register). The autumn repeat and the spring gap come from UTC."""
    english = header == EN
    registers = EN_REGISTERS if english else NL_REGISTERS
    extra = header.count(";") - NL_2021.count(";")
    start = datetime(first.year, first.month, first.day, tzinfo=BRUSSELS).astimezone(UTC)
    after = first + timedelta(days=days)
    end = datetime(after.year, after.month, after.day, tzinfo=BRUSSELS).astimezone(UTC)
    lines = [header]
    t = start
    while t < end:
        fd, ft = _wall(t, english)
        td, tt = _wall(t + timedelta(minutes=15), english)
        for k, name in enumerate(registers):
            wh = energy(t, k)
            st = status(t, k)
            volume = "" if wh == 0 and st in ("Geen verbruik", "No consumption") else _kwh(wh)
            meter_type = "Digital meter" if english else "Digitale Meter"
            lines.append(";".join([fd, ft, td, tt, EAN, serial, meter_type, name, volume, "kWh", st] + [""] * extra))
        t += timedelta(minutes=15)
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def rows(data: bytes, serial: str | None = None) -> list:
    return list(parse.read(io.BytesIO(data), serial=serial))


# --- the parser -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "crlf"), [(NL_2021, False), (NL_2025, False), (NL_NEWER, False), (EN, True)], ids=["nl2021", "nl2025",
                                                                                                  "nl-newer", "en"]
)  # fmt: skip
def test_it_reads_every_header_variant(header, crlf):
    data = quarter_file(date(2023, 10, 12), header=header, crlf=crlf)

    records = rows(data)

    assert len(records) == 96 * 4
    assert all(isinstance(r, parse.Interval) for r in records)
    first = records[0]
    assert first.start == datetime(2023, 10, 11, 22, 0, tzinfo=UTC)
    assert first.register == "import_t1"
    assert first.value == quarter_energy(first.start, 0)
    assert first.line == 2
    assert {r.register for r in records} == set(FIELDS)


def test_it_maps_the_repeated_autumn_hour_to_summer_then_winter_time():
    data = quarter_file(date(2025, 10, 26))

    records = rows(data)

    assert len(records) == 100 * 4
    starts = sorted({r.start for r in records})
    assert len(starts) == 100
    assert starts[0] == datetime(2025, 10, 25, 22, 0, tzinfo=UTC)
    assert starts[-1] == datetime(2025, 10, 26, 22, 45, tzinfo=UTC)
    # The file's two 02:00 runs: the first is 00:00 UTC (summer), the second 01:00 UTC (winter).
    text = data.decode("utf-8-sig").splitlines()
    twos = [i + 1 for i, line in enumerate(text) if line.startswith("26-10-2025;02:00:00") and "Afname Dag" in line]
    by_line = {r.line: r.start for r in records}
    assert [by_line[n] for n in twos] == [
        datetime(2025, 10, 26, 0, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 0, tzinfo=UTC),
    ]
    assert "26-10-2025;02:45:00;26-10-2025;02:00:00" in data.decode("utf-8-sig")


def test_it_reads_the_spring_day_with_92_quarters_and_refuses_a_time_that_does_not_exist():
    data = quarter_file(date(2026, 3, 29))
    assert len({r.start for r in rows(data)}) == 92

    bad = NL_2025 + f"\n29-03-2026;02:15:00;29-03-2026;02:30:00;{M};Afname Dag;0,100;kWh;Gevalideerd;\n"
    (error,) = rows(bad.encode())
    assert isinstance(error, parse.RowError)
    assert (error.line, error.column) == (2, "Van tijdstip")
    assert "does not exist" in error.message


@pytest.mark.parametrize("first", [date(2025, 3, 29), date(2025, 10, 25), date(2025, 12, 30)])
def test_it_gives_every_quarter_its_utc_start_around_the_clock_changes(first):
    start = datetime(first.year, first.month, first.day, tzinfo=BRUSSELS).astimezone(UTC)
    after = first + timedelta(days=3)
    end = datetime(after.year, after.month, after.day, tzinfo=BRUSSELS).astimezone(UTC)
    expected = [start + timedelta(minutes=15 * q) for q in range(int((end - start).total_seconds()) // 900)]

    records = rows(quarter_file(first, days=3))

    assert [r.start for r in records[::4]] == expected
    assert [r.day for r in records[::4]] == [t.astimezone(BRUSSELS).date() for t in expected]


def test_it_counts_an_empty_volume_with_no_consumption_as_zero():
    data = quarter_file(
        date(2021, 10, 12), header=NL_2021,
        energy=lambda t, k: 0 if k >= 2 else quarter_energy(t, k),
        status=lambda t, k: "Geen verbruik" if k >= 2 else "Gevalideerd",
    )  # fmt: skip
    assert ";Injectie Nacht;;kWh;Geen verbruik" in data.decode("utf-8-sig")

    records = rows(data)

    exports = [r for r in records if r.register.startswith("export")]
    assert len(exports) == 192
    assert {(r.value, r.status) for r in exports} == {(0, "none")}


def test_it_names_the_line_and_column_of_every_bad_row():
    data = (
        NL_2025
        + "\n"
        + "\n".join(
            [
                f"12-10-2025;07:30:00;12-10-2025;07:45:00;{M};Afname Dag;0,0x7;kWh;Gevalideerd;",
                f"12-10-2025;07:30:00;12-10-2025;07:45:00;{M};Afname Dag;0,067;kWh;Gevalideerd;",
                f"32-10-2025;07:30:00;12-10-2025;07:45:00;{M};Afname Dag;0,067;kWh;Gevalideerd;",
                f"12-10-2025;07:30:00;12-10-2025;07:45:00;{M};Afname Dag;;kWh;Gevalideerd;",
                f"12-10-2025;07:30:00;12-10-2025;07:50:00;{M};Afname Dag;0,067;kWh;Gevalideerd;",
                f"12-10-2025;07:30:00;12-10-2025;07:45:00;{M};Afname Dag;0,067;kWh;Vals;",
            ]
        )
    )

    found = [r for r in rows(data.encode()) if isinstance(r, parse.RowError)]

    assert [(e.line, e.column) for e in found] == [
        (2, "Volume"), (4, "Van datum"), (5, "Volume"), (6, "Tot tijdstip"), (7, "Validatiestatus"),
    ]  # fmt: skip
    assert str(found[0]) == "line 2, column Volume: '0,0x7' is not a number"


def test_it_refuses_an_unknown_header_naming_the_expected_ones():
    with pytest.raises(parse.FluviusFileError) as caught:
        rows(b"date,kwh\n2025-01-01,3\n")
    assert "Van Datum;Van Tijdstip" in str(caught.value)
    assert "From (date);From (time)" in str(caught.value)


GAS_M = '="541448820000000001";7FLO1234567;Digitale Meter'


def test_it_reads_gas_hours_in_litres_and_leaves_their_kwh_rows_out():
    data = (
        GAS_NL
        + "\n"
        + "\n".join(
            [
                f"10-01-2022;07:00:00;10-01-2022;08:00:00;{GAS_M};Afname;5,445;kWh;Gevalideerd;10,9;Voorlopig",
                f"10-01-2022;07:00:00;10-01-2022;08:00:00;{GAS_M};Afname;0,495;m³;Gevalideerd;;",
            ]
        )
    )

    ignored, gas = rows(data.encode())

    assert isinstance(ignored, parse.Ignored)
    assert gas == parse.Interval(
        3, datetime(2022, 1, 10, 6, 0, tzinfo=UTC), date(2022, 1, 10), 60, "gas", 495, "validated"
    )


def test_it_reads_day_totals_and_monthly_peaks():
    data = (
        NL_2025
        + "\n"
        + "\n".join(
            [
                f"01-04-2023;00:00:00;02-04-2023;00:00:00;{M};Afname Dag;12,345;kWh;Gevalideerd;",
                f"01-04-2023;00:00:00;01-05-2023;00:00:00;{M};Piekvermogen;1,713;kW;Uitgelezen;",
            ]
        )
    )

    day, peak = rows(data.encode())

    assert day == parse.DayTotal(2, date(2023, 4, 1), "import_t1", 12345, "validated")
    assert peak == parse.Peak(3, date(2023, 4, 1), 1713, "read")


# --- the import service -----------------------------------------------------------------------------------------


def _import(meter, data: bytes, **kwargs):
    return import_file(meter, io.BytesIO(data), file_name="export.csv", **kwargs)


def test_it_stores_a_file_and_nothing_twice_on_a_reimport(alice_meter, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 7)  # many batches, also across registers and days
    data = quarter_file(date(2025, 10, 25), days=2)

    first = _import(alice_meter, data)
    again = _import(alice_meter, data)

    assert (first.rows, first.stored, first.unchanged, first.kinds) == (196 * 4, 196 * 4, 0, {"quarter": 784})
    assert (again.stored, again.unchanged) == (0, 784)
    assert FluviusInterval.objects.filter(meter=alice_meter).count() == 784
    assert first.first == datetime(2025, 10, 24, 22, 0, tzinfo=UTC)
    assert first.last == datetime(2025, 10, 26, 22, 45, tzinfo=UTC)
    assert FluviusImport.objects.filter(meter=alice_meter, refused=False).count() == 2


def test_it_updates_only_what_changed_in_an_overlapping_file(alice_meter):
    _import(alice_meter, quarter_file(date(2025, 6, 1), status=lambda t, k: "Geschat"))
    overlap = quarter_file(date(2025, 6, 1), days=2)

    report = _import(alice_meter, overlap)

    assert (report.created, report.updated, report.unchanged) == (384, 384, 0)
    assert FluviusInterval.objects.filter(meter=alice_meter).count() == 768
    assert not FluviusInterval.objects.filter(meter=alice_meter, status="estimated").exists()


def test_it_refuses_another_meters_file_naming_both_serials(alice_meter):
    data = quarter_file(date(2025, 6, 1), serial="1SAG9999999999")

    with pytest.raises(ImportRefused) as caught:
        _import(alice_meter, data)

    assert "1SAG9999999999" in str(caught.value)
    assert ALICE_SERIAL in str(caught.value)
    assert not FluviusInterval.objects.exists()
    assert FluviusImport.objects.get().refused


def test_it_stores_nothing_from_a_file_with_a_bad_row_unless_asked_to_skip_it(alice_meter):
    data = quarter_file(date(2025, 6, 1)).replace(b";0,", b";0,0x", 1)

    with pytest.raises(ImportRefused) as caught:
        _import(alice_meter, data)
    assert not FluviusInterval.objects.exists()
    (error,) = caught.value.report.errors
    assert (error.line, error.column) == (2, "Volume")

    report = _import(alice_meter, data, skip_errors=True)
    assert (report.stored, report.skipped, report.error_count) == (383, 1, 1)


def test_it_stores_day_totals_and_monthly_peaks(alice_meter):
    data = (
        NL_NEWER
        + "\n"
        + "\n".join(
            [f"01-04-2023;00:00:00;02-04-2023;00:00:00;{M};{name};1,500;kWh;Gevalideerd;" for name in NL_REGISTERS]
            + [f"01-04-2023;00:00:00;01-05-2023;00:00:00;{M};Piekvermogen;4,2;kW;Uitgelezen;"]
        )
    )

    report = _import(alice_meter, data.encode())

    assert report.kinds == {"day": 4, "peak": 1}
    assert FluviusDay.objects.filter(meter=alice_meter, day=date(2023, 4, 1)).count() == 4
    assert FluviusPeak.objects.get(meter=alice_meter).peak_w == 4200


def test_it_sums_a_day_split_over_two_files_once_both_are_in(alice_meter):
    lines = quarter_file(date(2025, 6, 1), days=2).splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    first, second = header + b"".join(body[:192]), header + b"".join(body[192:])  # 1 June 00:00-12:00, the rest

    _import(alice_meter, first)
    assert not FluviusDay.objects.filter(meter=alice_meter, day=date(2025, 6, 1)).exists()
    _import(alice_meter, second)

    days = {(d.day, d.register): d for d in FluviusDay.objects.filter(meter=alice_meter)}
    assert len(days) == 8
    june1 = days[(date(2025, 6, 1), "import_t1")]
    start = datetime(2025, 5, 31, 22, 0, tzinfo=UTC)
    assert june1.value == sum(quarter_energy(start + timedelta(minutes=15 * q), 0) for q in range(96))
    assert june1.quarters == 96


# --- the series --------------------------------------------------------------------------------------------------


def test_it_fills_the_day_view_from_fluvius_where_the_pi_has_no_readings(alice_meter):
    day = date(2026, 11, 10)
    midday = datetime(2026, 11, 10, 12, 0, tzinfo=BRUSSELS)
    build(alice_meter, midday, datetime(2026, 11, 11, 0, 0, tzinfo=BRUSSELS))  # the Pi from 12:00
    _import(alice_meter, quarter_file(day, status=lambda t, k: "Geschat" if t.hour == 6 else "Gevalideerd"))

    series = build_series(alice_meter, "day", day, prices=prices_for(alice_meter.owner))

    morning = [b for b in series.buckets if b.start < midday]
    afternoon = [b for b in series.buckets if b.start >= midday]
    assert {b.source for b in morning} == {"fluvius"}
    assert {b.source for b in afternoon} == {"p1"}
    b = morning[0]
    assert b.import_t1_wh == quarter_energy(b.start, 0)
    assert b.import_w == (quarter_energy(b.start, 0) + quarter_energy(b.start, 1)) * 4
    assert [x.estimated for x in morning] == [x.start.hour == 6 for x in morning]  # 06:xx UTC is Geschat
    assert all(not x.estimated for x in afternoon)


def test_it_fills_the_month_view_from_day_totals(alice_meter):
    data = (
        NL_2025
        + "\n"
        + "\n".join(
            f"{d:02d}-04-2023;00:00:00;{d + 1:02d}-04-2023;00:00:00;{M};{name};2,000;kWh;Geschat;"
            for d in (3, 4)
            for name in NL_REGISTERS
        )
    )
    _import(alice_meter, data.encode())

    series = build_series(alice_meter, "month", date(2023, 4, 15), prices=prices_for(alice_meter.owner))

    filled = [b for b in series.buckets if b.source == "fluvius"]
    assert [b.start.astimezone(BRUSSELS).day for b in filled] == [3, 4]
    assert all(b.estimated and b.import_wh == 4000 for b in filled)
    assert series.totals.import_wh == 8000


def test_it_feeds_a_monthly_peak_file_into_the_twelve_month_mean(alice_meter):
    prices = prices_for(alice_meter.owner)
    build(alice_meter, datetime(2026, 11, 1, tzinfo=BRUSSELS), datetime(2026, 11, 20, tzinfo=BRUSSELS))
    before = build_series(alice_meter, "month", date(2026, 11, 15), prices=prices).capacity_year
    data = (
        NL_2025
        + "\n"
        + "\n".join(
            f"01-{m:02d}-2026;00:00:00;01-{m + 1:02d}-2026;00:00:00;{M};Piekvermogen;6,000;kW;Uitgelezen;"
            for m in (8, 9, 10)
        )
    )
    _import(alice_meter, data.encode())

    after = build_series(alice_meter, "month", date(2026, 11, 15), prices=prices).capacity_year

    assert before.months_with_data == 1
    assert after.months_with_data == 4
    own = before.mean_kw
    assert after.mean_kw == (own + 3 * Decimal(6)) / 4


def test_it_fills_a_gap_the_pi_only_interpolated_and_keeps_the_pi_around_it(alice_meter):
    day = date(2026, 11, 10)
    gap = {int(datetime(2026, 11, 10, h, m, tzinfo=BRUSSELS).timestamp()) for h in (9, 10) for m in (0, 15, 30, 45)}
    build(alice_meter, datetime(2026, 11, 10, tzinfo=BRUSSELS), datetime(2026, 11, 11, tzinfo=BRUSSELS), skip=gap)
    _import(alice_meter, quarter_file(day))

    series = build_series(alice_meter, "day", day, prices=prices_for(alice_meter.owner))

    local = {b.start.astimezone(BRUSSELS).strftime("%H:%M"): b for b in series.buckets}
    assert local["08:45"].source == "p1"  # its start has a reading: interpolated to 09:00 but not a gap of its own
    assert [local[f"{h}:{m}"].source for h in ("09", "10") for m in ("00", "15", "30", "45")] == ["fluvius"] * 8
    assert local["11:00"].source == "p1"
    filled = local["09:30"]
    assert (filled.import_t1_wh, filled.estimated) == (quarter_energy(filled.start, 0), False)


def test_it_takes_the_month_views_days_from_the_pi_where_it_has_them(alice_meter):
    build(alice_meter, datetime(2026, 11, 20, tzinfo=BRUSSELS), datetime(2026, 11, 30, tzinfo=BRUSSELS))
    _import(alice_meter, quarter_file(date(2026, 11, 1), days=30))

    series = build_series(alice_meter, "month", date(2026, 11, 15), prices=prices_for(alice_meter.owner))

    sources = [b.source for b in series.buckets]
    assert sources == ["fluvius"] * 19 + ["p1"] * 10 + ["fluvius"]
    first = series.buckets[0]
    assert first.import_t1_wh == sum(quarter_energy(first.start + timedelta(minutes=15 * q), 0) for q in range(96))


@pytest.mark.parametrize("month", [date(2026, 3, 1), date(2025, 10, 1)], ids=["spring", "autumn"])
def test_it_fills_the_month_view_on_the_days_the_clocks_change(alice_meter, month):
    days = 31
    _import(alice_meter, quarter_file(month, days=days))

    series = build_series(alice_meter, "month", month, prices=prices_for(alice_meter.owner))

    assert [b.source for b in series.buckets] == ["fluvius"] * days
    start = datetime(month.year, month.month, 1, tzinfo=BRUSSELS).astimezone(UTC)
    quarters = sum(b.slots for b in series.buckets)
    assert quarters == days * 96 + (-4 if month.month == 3 else 4)
    expected = sum(quarter_energy(start + timedelta(minutes=15 * q), 0) for q in range(quarters))
    assert series.totals.import_t1_wh == expected


def test_it_fills_a_series_with_at_most_two_queries(alice_meter):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from meters.fluvius.series import fill

    _import(alice_meter, quarter_file(date(2026, 11, 1), days=30))
    buckets = list(build_series(alice_meter, "month", date(2026, 10, 15), prices=prices_for(None)).buckets)
    nov = build_series(alice_meter, "month", date(2026, 11, 15), prices=prices_for(None))
    empty = [b.__class__(**{**b.__dict__, "import_t1_wh": None, "source": None}) for b in nov.buckets]

    with CaptureQueriesContext(connection) as queries:
        filled = fill(alice_meter, empty, BRUSSELS)
    assert len(queries) <= 2
    assert {b.source for b in filled} == {"fluvius"}
    with CaptureQueriesContext(connection) as none:
        fill(alice_meter, [b for b in nov.buckets if b.source == "fluvius"], BRUSSELS)
    assert len(none) == 0
    assert all(b.source is None for b in buckets)


# --- reconciliation -----------------------------------------------------------------------------------------------


def test_it_flags_over_a_tenth_of_a_kwh_and_over_one_percent():
    assert not flagged(10_080, 10_000)  # 80 Wh
    assert not flagged(30_150, 30_000)  # 150 Wh but 0.5 %
    assert flagged(10_150, 10_000)
    assert not flagged(50, 0)


def test_it_lists_the_days_where_the_pi_and_fluvius_disagree(alice_meter):
    build(alice_meter, datetime(2026, 11, 9, tzinfo=BRUSSELS), datetime(2026, 11, 12, tzinfo=BRUSSELS))

    def energy(t, k):
        from tests.meters.series_truth import quarter_energy as truth

        wh = truth(int(t.timestamp()))[k]
        return wh + 5 if k == 0 and t.astimezone(BRUSSELS).day == 10 else wh  # +480 Wh of day import on the 10th

    report = _import(alice_meter, quarter_file(date(2026, 11, 9), days=3, energy=energy))

    assert [(d.day, d.register) for d in report.differences] == [(date(2026, 11, 10), "import_t1")]
    (d,) = differences(alice_meter, date(2026, 11, 10), date(2026, 11, 11))
    assert d.fluvius_wh - d.p1_wh == 5 * 96
    assert d.percent is not None
    assert d.percent < 0


# --- the command --------------------------------------------------------------------------------------------------


def test_it_imports_with_the_command_and_prints_progress(alice_meter, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 100)
    path = tmp_path / "Verbruikshistoriek.csv"
    path.write_bytes(quarter_file(date(2025, 6, 1), header=EN, crlf=True))
    out = io.StringIO()

    call_command("import_fluvius", ALICE_SERIAL.lower(), str(path), stdout=out)

    assert "300 rows read" in out.getvalue()
    assert "384 rows read (quarter 384): 384 stored" in out.getvalue()
    assert FluviusInterval.objects.filter(meter=alice_meter).count() == 384


def test_it_exits_non_zero_when_the_command_refuses_a_file(alice_meter, tmp_path):
    path = tmp_path / "other.csv"
    path.write_bytes(quarter_file(date(2025, 6, 1), serial="1SAG9999999999"))
    err = io.StringIO()

    with pytest.raises(CommandError, match="1SAG9999999999"):
        call_command("import_fluvius", str(alice_meter.code), str(path), stderr=err)
    assert "line 2, column Meter" in err.getvalue()
    assert not Meter.objects.exclude(pk=alice_meter.pk).exists()


def test_it_fills_the_year_view_and_prices_the_imported_days_with_the_owners_prices(alice_meter, alice_client):
    data = (
        NL_2025
        + "\n"
        + "\n".join(
            f"{d:02d}-04-2023;00:00:00;{d + 1:02d}-04-2023;00:00:00;{M};{name};2,000;kWh;Gevalideerd;"
            for d in (3, 4)
            for name in NL_REGISTERS
        )
    )
    _import(alice_meter, data.encode())
    prices = prices_for(alice_meter.owner)

    year = build_series(alice_meter, "year", date(2023, 6, 1), prices=prices)

    april = year.buckets[3]
    assert april.source == "fluvius"
    assert april.import_wh == 8000
    assert april.import_cost_eur == Decimal(4) * (prices.import_day_eur_kwh + prices.import_night_eur_kwh)
    assert year.totals.cost_complete
    assert {b.source for k, b in enumerate(year.buckets) if k != 3} == {None}
    page = alice_client.get("/month/", {"meter": str(alice_meter.code), "date": "2023-04-10"}).content.decode()
    assert 'data-status="imported"' in page
