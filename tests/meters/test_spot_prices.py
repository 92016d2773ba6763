"""Day-ahead price files (meters.billing.spot): the ENTSO-E export with its DST rows, hourly MTUs, the plain CSV,
bad rows by line and column with nothing stored, re-imports, and ``manage.py import_prices``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from meters.billing import spot
from meters.billing.spot import BRUSSELS, PriceFileError, PriceRow, import_prices, parse_prices
from meters.models import SpotPrice

pytestmark = pytest.mark.django_db

HEADER = (
    '"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)","Intraday Period (CET/CEST)",'
    '"Intraday Price (EUR/MWh)"'
)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
T_IMPORT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _wall(instant: datetime) -> str:
    """An instant as ENTSO-E writes it: Brussels wall time, with (CET)/(CEST) where that wall time comes twice."""
    local = instant.astimezone(BRUSSELS)
    text = local.strftime("%d/%m/%Y %H:%M:%S")
    naive = local.replace(tzinfo=None)
    other = naive.replace(tzinfo=BRUSSELS, fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        text += f" ({local.tzname()})"
    return text


def mtu(start: datetime, length: timedelta = QUARTER) -> str:
    return f"{_wall(start)} - {_wall(start + length)}"


def entsoe_row(period: str, price: str, area: str = "BZN|BE") -> str:
    return f'"{period}","{area}","Without Sequence","{price}","",""'


def local_day(day: date) -> tuple[datetime, datetime]:
    """UTC start and end of a Brussels day."""
    start = datetime(day.year, day.month, day.day, tzinfo=BRUSSELS)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=BRUSSELS)
    return start.astimezone(UTC), end.astimezone(UTC)


def instants(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out = []
    while start < end:
        out.append(start)
        start += step
    return out


def price_of(n: int) -> str:
    """A distinct price per position, some negative: the quarter-hours of a sunny noon."""
    return f"{(n * 7) % 230 - 30}.{n % 100:02d}"


def entsoe_file(
    starts: Iterable[datetime], length: timedelta = QUARTER, price: Callable[[int], str] = price_of
) -> list[str]:
    return [HEADER] + [entsoe_row(mtu(start, length), price(n)) for n, start in enumerate(starts)]


def entsoe_day(day: date, length: timedelta = QUARTER) -> list[str]:
    return entsoe_file(instants(*local_day(day), length), length)


def plain_file(rows: Iterable[tuple[str, str]]) -> list[str]:
    return ["start,price_eur_mwh"] + [f"{start},{price}" for start, price in rows]


def text(lines: list[str], end: str = "\n") -> str:
    return end.join(lines) + end


def stored() -> dict[datetime, Decimal]:
    return dict(SpotPrice.objects.values_list("slot", "price_eur_mwh"))


def file_error(lines: Iterable[str] | Iterable[bytes]) -> PriceFileError:
    with pytest.raises(PriceFileError) as caught:
        parse_prices(lines)
    return caught.value


def errors(lines: Iterable[str] | Iterable[bytes]) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.column, e.message) for e in file_error(lines).errors]


# --- the ENTSO-E export ------------------------------------------------------------------------------------------


def test_it_reads_an_entsoe_day_of_quarter_hours():
    rows = parse_prices(entsoe_day(date(2025, 12, 28)))

    assert len(rows) == 96
    assert rows[0] == PriceRow(utc(2025, 12, 27, 23, 0), Decimal(price_of(0)))
    assert rows[-1] == PriceRow(utc(2025, 12, 28, 22, 45), Decimal(price_of(95)))
    assert [r.slot for r in rows] == instants(utc(2025, 12, 27, 23), utc(2025, 12, 28, 23), QUARTER)


def test_it_reads_the_rows_of_the_notes():
    lines = [
        HEADER,
        '"28/12/2025 00:00:00 - 28/12/2025 00:15:00","BZN|BE","Without Sequence","92.68","",""',
        '"26/10/2025 02:45:00 (CEST) - 26/10/2025 02:00:00 (CET)","BZN|BE","Without Sequence","1.20","",""',
        '"26/10/2025 02:00:00 (CET) - 26/10/2025 02:15:00 (CET)","BZN|BE","Without Sequence","22.11","",""',
    ]

    assert parse_prices(lines) == [
        PriceRow(utc(2025, 12, 27, 23, 0), Decimal("92.68")),
        PriceRow(utc(2025, 10, 26, 0, 45), Decimal("1.20")),
        PriceRow(utc(2025, 10, 26, 1, 0), Decimal("22.11")),
    ]


def test_it_reads_the_autumn_day_with_its_repeated_hour():
    lines = entsoe_day(date(2025, 10, 26))
    assert '"26/10/2025 02:45:00 (CEST) - 26/10/2025 02:00:00 (CET)"' in lines[12]

    result = import_prices(text(lines))

    assert result.rows == result.created == 100
    slots = sorted(stored())
    assert len(slots) == 100
    assert (result.first, result.last) == (utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 22, 45))
    # The two 02:xx runs: CEST is UTC 00:xx, CET is UTC 01:xx, in file order.
    rows = parse_prices(lines)
    assert [r.slot for r in rows[8:16]] == instants(utc(2025, 10, 26, 0), utc(2025, 10, 26, 2), QUARTER)
    assert [r.price for r in rows[8:16]] == [Decimal(price_of(n)) for n in range(8, 16)]


def test_it_reads_the_repeated_hour_in_file_order_without_cet_or_cest():
    lines = [line.replace(" (CEST)", "").replace(" (CET)", "") for line in entsoe_day(date(2025, 10, 26))]
    assert not any("CET)" in line for line in lines[1:])

    assert parse_prices(lines) == parse_prices(entsoe_day(date(2025, 10, 26)))


def test_it_reads_the_spring_day_without_its_missing_hour():
    lines = entsoe_day(date(2026, 3, 29))
    assert '"29/03/2026 01:45:00 - 29/03/2026 03:00:00"' in lines[8]
    assert not any("29/03/2026 02:" in line for line in lines)

    rows = parse_prices(lines)

    assert len(rows) == 92
    assert [r.slot for r in rows[6:9]] == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 0)]
    assert rows[-1].slot == utc(2026, 3, 29, 21, 45)


def test_it_refuses_a_wall_time_that_the_spring_day_skips():
    lines = [HEADER, entsoe_row("29/03/2026 02:15:00 - 29/03/2026 02:30:00", "10")]

    assert errors(lines) == [
        (2, "MTU (CET/CEST)", "29/03/2026 02:15:00 does not exist in Brussels time (the clocks go forward)")
    ]


def test_it_refuses_a_cet_or_cest_that_does_not_apply():
    lines = [HEADER, entsoe_row("28/12/2025 10:00:00 (CEST) - 28/12/2025 10:15:00 (CEST)", "10")]

    assert errors(lines) == [(2, "MTU (CET/CEST)", "28/12/2025 10:00:00 is not CEST time")]


def test_it_expands_an_hourly_mtu_into_four_quarters():
    rows = parse_prices(entsoe_day(date(2025, 12, 28), length=HOUR))

    assert len(rows) == 96
    assert rows[:5] == [
        PriceRow(utc(2025, 12, 27, 23, 0), Decimal(price_of(0))),
        PriceRow(utc(2025, 12, 27, 23, 15), Decimal(price_of(0))),
        PriceRow(utc(2025, 12, 27, 23, 30), Decimal(price_of(0))),
        PriceRow(utc(2025, 12, 27, 23, 45), Decimal(price_of(0))),
        PriceRow(utc(2025, 12, 28, 0, 0), Decimal(price_of(1))),
    ]


def test_it_expands_the_hourly_autumn_day_into_100_quarters():
    lines = entsoe_day(date(2024, 10, 27), length=HOUR)
    assert len(lines) == 1 + 25

    rows = parse_prices(lines)

    assert [r.slot for r in rows] == instants(*local_day(date(2024, 10, 27)), QUARTER)
    assert {r.price for r in rows[8:12]} == {Decimal(price_of(2))}  # 02:00 CEST
    assert {r.price for r in rows[12:16]} == {Decimal(price_of(3))}  # 02:00 CET


def test_it_reads_the_hourly_price_repeated_per_quarter_before_october_2025():
    day = date(2025, 9, 30)
    lines = entsoe_file(instants(*local_day(day), QUARTER), price=lambda n: price_of(n // 4))

    import_prices(lines)

    prices = stored()
    assert len(prices) == 96
    hour = local_day(day)[0] + 5 * HOUR
    quarters = [prices[hour + QUARTER * i] for i in range(4)]
    # What an hourly contract is priced with, cost.Pricing.spot: the hour's mean is the hourly price itself.
    assert quarters == [Decimal(price_of(5))] * 4
    assert sum(quarters) / 4 == Decimal(price_of(5))


def test_it_stores_negative_prices():
    starts = instants(utc(2026, 5, 10, 10), utc(2026, 5, 10, 11), QUARTER)
    lines = entsoe_file(starts, price=lambda n: ["-0.01", "-125.50", "-500", "0"][n])

    import_prices(lines)

    assert [stored()[s] for s in starts] == [Decimal("-0.010"), Decimal("-125.500"), Decimal("-500.000"), 0]


@pytest.mark.parametrize("missing", ["", "-", "n/e", "N/E"])
def test_it_stores_nothing_for_an_mtu_without_a_price(missing):
    starts = instants(utc(2026, 1, 1, 10), utc(2026, 1, 1, 11), QUARTER)
    lines = entsoe_file(starts, price=lambda n: missing if n == 2 else "50")

    result = import_prices(lines)

    assert result.rows == 3
    assert sorted(stored()) == [starts[0], starts[1], starts[3]]


def test_it_reads_a_file_with_a_bom_and_crlf_as_text_and_as_bytes():
    lines = entsoe_day(date(2025, 12, 28))
    body = "\ufeff" + text(lines, end="\r\n")

    assert parse_prices(body) == parse_prices(lines)
    assert parse_prices(io.BytesIO(body.encode("utf-8"))) == parse_prices(lines)
    assert parse_prices(io.StringIO(body, newline="")) == parse_prices(lines)


def test_it_reads_the_columns_by_name_and_the_export_in_utc():
    lines = [
        '"Day-ahead Price (EUR/MWh)","Area","MTU (UTC)"',
        '"12.5","BZN|BE","28/12/2025 00:00:00 - 28/12/2025 00:15:00"',
    ]

    assert parse_prices(lines) == [PriceRow(utc(2025, 12, 28, 0, 0), Decimal("12.5"))]


# --- the plain CSV -------------------------------------------------------------------------------------------------


def test_it_reads_a_plain_csv_with_offsets():
    lines = plain_file(
        [
            ("2026-01-01T00:00:00+01:00", "92.68"),
            ("2026-01-01T00:15:00+01:00", "-3.5"),
            ("2025-12-31T23:30:00Z", "0.1234"),
            ("2026-07-01T00:00:00+02:00", "10"),
        ]
    )

    assert parse_prices(lines) == [
        PriceRow(utc(2025, 12, 31, 23, 0), Decimal("92.68")),
        PriceRow(utc(2025, 12, 31, 23, 15), Decimal("-3.5")),
        PriceRow(utc(2025, 12, 31, 23, 30), Decimal("0.123")),  # three decimals, as stored
        PriceRow(utc(2026, 6, 30, 22, 0), Decimal(10)),
    ]


def test_it_reads_a_plain_csv_in_brussels_local_time():
    lines = plain_file(
        [
            ("2026-01-01T00:00:00", "1"),
            ("2025-10-26 02:45", "2"),  # the first 02:45 is summer time ...
            ("2025-10-26 02:45", "3"),  # ... the second winter time
            ("2026-03-29T03:00", "4"),
        ]
    )

    assert [r.slot for r in parse_prices(lines)] == [
        utc(2025, 12, 31, 23, 0),
        utc(2025, 10, 26, 0, 45),
        utc(2025, 10, 26, 1, 45),
        utc(2026, 3, 29, 1, 0),
    ]


def test_it_refuses_plain_starts_off_the_quarter_or_in_the_spring_gap():
    lines = plain_file(
        [
            ("2026-01-01T00:10:00+01:00", "1"),
            ("2026-03-29T02:30:00", "1"),
            ("yesterday", "1"),
            ("2026-01-01T01:00:00+01:00", "1,5"),
            ("2026-01-01T01:15:00+01:00", "10000000"),
        ]
    )

    assert errors(lines) == [
        (2, "start", "2026-01-01T00:10:00+01:00 is not the start of a quarter-hour"),
        (3, "start", "2026-03-29T02:30:00 does not exist in Brussels time (the clocks go forward)"),
        (4, "start", "'yesterday' is not an ISO 8601 date-time such as 2026-01-01T00:15:00+01:00"),
        (5, None, "expected 2 fields, found 3"),
        (6, "price_eur_mwh", "10000000 EUR/MWh is out of range"),
    ]


# --- bad files -----------------------------------------------------------------------------------------------------


def test_it_reports_a_malformed_row_by_line_and_column_and_stores_nothing_from_the_file():
    SpotPrice.objects.create(slot=utc(2025, 12, 27, 23, 0), price_eur_mwh=Decimal("1.000"))
    lines = entsoe_day(date(2025, 12, 28))
    lines[6] = lines[6].replace(f'"{price_of(5)}"', '"abc"')

    with pytest.raises(PriceFileError) as caught:
        import_prices(text(lines))

    assert [(e.line, e.column, e.message) for e in caught.value.errors] == [
        (7, "Day-ahead Price (EUR/MWh)", "'abc' is not a number")
    ]
    assert str(caught.value) == "line 7, column 'Day-ahead Price (EUR/MWh)': 'abc' is not a number"
    assert stored() == {utc(2025, 12, 27, 23, 0): Decimal("1.000")}


def test_it_reports_every_bad_row_and_shows_the_first_few():
    lines = entsoe_day(date(2025, 12, 28))
    for n in (3, 5, 9, 11):
        lines[n - 1] = lines[n - 1].replace(f'"{price_of(n - 2)}"', '"1e3"')
    lines[19] = '"28/12/2025 04:30:00","BZN|BE"'
    lines[29] = '"28/12/2025 07:00:00 - 28/12/2025 07:15:00","BZN|BE","Without Sequence","12.5'

    exc = file_error(lines)

    assert [(e.line, e.column) for e in exc.errors] == [
        (3, "Day-ahead Price (EUR/MWh)"),
        (5, "Day-ahead Price (EUR/MWh)"),
        (9, "Day-ahead Price (EUR/MWh)"),
        (11, "Day-ahead Price (EUR/MWh)"),
        (20, None),
        (30, None),
    ]
    assert exc.errors[4].message == "expected at least 4 fields, found 2"
    assert exc.errors[5].message.startswith("unreadable CSV")
    assert str(exc) == (
        "line 3, column 'Day-ahead Price (EUR/MWh)': '1e3' is not a number; "
        "line 5, column 'Day-ahead Price (EUR/MWh)': '1e3' is not a number; "
        "line 9, column 'Day-ahead Price (EUR/MWh)': '1e3' is not a number (and 3 more)"
    )


def test_it_keeps_a_bounded_list_of_errors_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr(spot, "MAX_ERRORS", 10)
    lines = entsoe_file(instants(utc(2026, 1, 1), utc(2026, 1, 2), QUARTER), price=lambda n: "x")

    exc = file_error(lines)

    assert len(exc.errors) == 10
    assert exc.total == 96
    assert str(exc).endswith("(and 93 more)")


def test_it_refuses_a_quarter_that_is_twice_in_the_file():
    start = utc(2026, 1, 1, 9)
    lines = entsoe_file([start, start + QUARTER, start], price=lambda n: "10")
    lines.append(entsoe_row(mtu(start - 4 * QUARTER, HOUR), "20"))
    lines.append(entsoe_row(mtu(start + HOUR, HOUR), "20"))
    lines.append(entsoe_row(mtu(start + HOUR + QUARTER * 2), "20"))

    assert errors(lines) == [
        (4, "MTU (CET/CEST)", "the quarter-hour starting 2026-01-01T10:00:00+01:00 is already on line 2"),
        (7, "MTU (CET/CEST)", "the quarter-hour starting 2026-01-01T11:30:00+01:00 is already on line 6"),
    ]


def test_it_refuses_a_duplicate_plain_start_written_two_ways():
    lines = plain_file([("2026-01-01T00:00:00+01:00", "1"), ("2025-12-31T23:00:00Z", "2")])

    assert errors(lines) == [
        (3, "start", "the quarter-hour starting 2026-01-01T00:00:00+01:00 is already on line 2"),
    ]


def test_it_refuses_another_bidding_zone():
    lines = entsoe_day(date(2025, 12, 28))[:3]
    lines[2] = lines[2].replace("BZN|BE", "BZN|NL")

    assert errors(lines) == [(3, "Area", "'BZN|NL' is not the Belgian bidding zone BZN|BE")]


def test_it_refuses_an_mtu_that_is_neither_15_nor_60_minutes():
    lines = [HEADER, entsoe_row("28/12/2025 00:00:00 - 28/12/2025 00:30:00", "1"), entsoe_row("28/12 00:00", "1")]

    assert errors(lines) == [
        (2, "MTU (CET/CEST)", "'28/12/2025 00:00:00 - 28/12/2025 00:30:00' is not a 15- or 60-minute period"),
        (3, "MTU (CET/CEST)", "'28/12 00:00' is not a period such as 28/12/2025 00:00:00 - 28/12/2025 00:15:00"),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "timestamp;price",
        '"MTU (CET/CEST)","Area"',
        "",
        "start,price_eur_mwh,currency",
    ],
)
def test_it_refuses_an_unknown_header_naming_the_two_it_reads(header):
    [(line, column, message)] = errors([header, "2026-01-01T00:00:00+01:00,1"])

    assert (line, column) == (1, None)
    assert message.startswith("Unknown header")
    assert '"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)"' in message
    assert "start,price_eur_mwh" in message


def test_it_refuses_an_empty_file():
    assert errors([]) == [(1, None, "The file is empty.")]


def test_it_reports_a_line_that_is_not_utf8():
    body = text(plain_file([("2026-01-01T00:00:00+01:00", "1"), ("2026-01-01T00:15:00+01:00", "2")])).encode()
    lines = io.BytesIO(body.replace(b"00:15:00", b"00:15:\xe900")).readlines()

    assert errors(lines) == [(3, None, "the file is not UTF-8 text (byte 0xe9 at position 18)")]
    assert errors([b"\xff\xfes\x00t\x00"]) == [(1, None, "the file is not UTF-8 text (byte 0xff at position 1)")]


# --- storing -------------------------------------------------------------------------------------------------------


def test_it_updates_on_reimport_and_counts_created_and_updated():
    starts = instants(*local_day(date(2025, 12, 28)), QUARTER)
    with time_machine.travel(T_IMPORT, tick=False):
        first = import_prices(entsoe_file(starts))
    again = entsoe_file(starts, price=lambda n: f"{n}.5")
    with time_machine.travel(T_IMPORT + HOUR, tick=False):
        second = import_prices(again)
        third = import_prices(again)

    assert (first.rows, first.created, first.updated) == (96, 96, 0)
    assert (second.rows, second.created, second.updated) == (96, 0, 96)
    assert third == second
    prices = SpotPrice.objects.get(slot=utc(2025, 12, 27, 23, 0))
    assert prices.price_eur_mwh == Decimal("0.5")
    assert prices.imported_at == T_IMPORT + HOUR
    assert SpotPrice.objects.count() == 96


def test_it_counts_an_overlapping_file_by_quarter():
    import_prices(entsoe_file(instants(utc(2026, 1, 1, 0), utc(2026, 1, 1, 2), QUARTER)))

    result = import_prices(entsoe_file(instants(utc(2026, 1, 1, 1), utc(2026, 1, 1, 3), QUARTER)))

    assert (result.rows, result.created, result.updated) == (8, 4, 4)
    assert (result.first, result.last) == (utc(2026, 1, 1, 1), utc(2026, 1, 1, 2, 45))
    assert SpotPrice.objects.count() == 12


def test_it_upserts_where_the_database_has_no_on_conflict(monkeypatch):
    """SQL Server (mssql-django) has no ON CONFLICT: known quarters are updated, new ones inserted."""
    import_prices(entsoe_file(instants(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1), QUARTER), price=lambda n: "1"))
    monkeypatch.setattr(connection.features, "supports_update_conflicts_with_target", False)

    result = import_prices(entsoe_file(instants(utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 30), QUARTER)))

    assert (result.created, result.updated) == (2, 2)
    assert list(stored().values()) == [Decimal(1), Decimal(1)] + [Decimal(price_of(n)) for n in range(4)]


def test_it_imports_a_year_of_quarters_in_batches():
    starts = instants(local_day(date(2025, 1, 1))[0], local_day(date(2025, 12, 31))[1], QUARTER)
    assert len(starts) == 35_040

    result = import_prices(text(plain_file((s.isoformat(), price_of(n)) for n, s in enumerate(starts))))

    assert (result.rows, result.created, result.updated) == (35_040, 35_040, 0)
    assert (result.first, result.last) == (starts[0], starts[-1])
    assert SpotPrice.objects.count() == 35_040
    assert SpotPrice.objects.get(slot=starts[20_000]).price_eur_mwh == Decimal(price_of(20_000))


def test_it_imports_nothing_from_a_file_without_prices():
    result = import_prices(entsoe_file(instants(utc(2026, 1, 1), utc(2026, 1, 1, 1), QUARTER), price=lambda n: "n/e"))

    assert result == spot.PriceImport(rows=0, created=0, updated=0, first=None, last=None)
    assert not SpotPrice.objects.exists()


# --- manage.py import_prices ---------------------------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> str:
    path.write_text(text(lines, end="\r\n"), encoding="utf-8")
    return str(path)


def test_it_imports_files_with_the_command(tmp_path):
    december = _write(tmp_path / "december.csv", entsoe_day(date(2025, 12, 28)))
    plain = _write(tmp_path / "plain.csv", plain_file([("2026-01-01T00:00:00+01:00", "5")]))
    out = io.StringIO()

    call_command("import_prices", december, plain, stdout=out, stderr=io.StringIO())

    assert out.getvalue().splitlines() == [
        f"{december}: rows 96, created 96, updated 0, first 2025-12-27T23:00:00+00:00, last 2025-12-28T22:45:00+00:00",
        f"{plain}: rows 1, created 1, updated 0, first 2025-12-31T23:00:00+00:00, last 2025-12-31T23:00:00+00:00",
    ]
    assert SpotPrice.objects.count() == 97


def test_it_reads_standard_input_with_the_command():
    body = text(plain_file([("2026-01-01T00:00:00+01:00", "5"), ("2026-01-01T00:15:00+01:00", "-5")]))
    out = io.StringIO()

    call_command("import_prices", "-", stdin=io.BytesIO(body.encode()), stdout=out)

    assert out.getvalue() == (
        "-: rows 2, created 2, updated 0, first 2025-12-31T23:00:00+00:00, last 2025-12-31T23:15:00+00:00\n"
    )


def test_it_prints_every_error_of_a_bad_file_and_exits_non_zero(tmp_path):
    lines = entsoe_day(date(2025, 12, 28))
    lines[6] = lines[6].replace(f'"{price_of(5)}"', '"abc"')
    lines[8] = lines[8].replace("BZN|BE", "BZN|FR")
    bad = _write(tmp_path / "bad.csv", lines)
    good = _write(tmp_path / "good.csv", plain_file([("2026-01-01T00:00:00+01:00", "5")]))
    missing = str(tmp_path / "missing.csv")
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("import_prices", bad, good, missing, stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        f"{bad}: line 7, column 'Day-ahead Price (EUR/MWh)': 'abc' is not a number",
        f"{bad}: line 9, column 'Area': 'BZN|FR' is not the Belgian bidding zone BZN|BE",
        f"{bad}: 2 error(s); nothing was stored from this file.",
        f"{missing}: cannot be read: No such file or directory",
    ]
    assert str(caught.value) == f"Nothing was stored from {bad}, {missing}."
    assert caught.value.returncode == 1  # the exit status run_from_argv gives the shell
    assert out.getvalue().startswith(f"{good}: rows 1, created 1")
    assert list(stored()) == [utc(2025, 12, 31, 23, 0)]
