"""CSV export of a meter's readings: columns, quarter energies, local days and DST, Excel format, bad input, access."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meters import exports
from meters.ingest import ingest_readings
from meters.models import READING_FIELDS, Meter
from tests.factories import reading_item
from tests.meters.series_truth import build, epoch, local

pytestmark = pytest.mark.django_db

ENERGY_COLUMNS = [
    "quarter_import_day_kwh",
    "quarter_import_night_kwh",
    "quarter_export_day_kwh",
    "quarter_export_night_kwh",
]
SERIAL = "1SAG1100000292"


@pytest.fixture
def home(alice) -> Meter:
    return Meter.objects.create(serial=SERIAL, name="Home", owner=alice)


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def _rows(response, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_body(response).removeprefix("\ufeff")), delimiter=delimiter))


def _store(user, *readings: tuple[datetime, tuple[str, str, str, str]]) -> None:
    """Readings at the given slots with the given (import t1, import t2, export t1, export t2) registers."""
    items = [
        reading_item(
            SERIAL,
            slot,
            import_t1_kwh=regs[0],
            import_t2_kwh=regs[1],
            export_t1_kwh=regs[2],
            export_t2_kwh=regs[3],
        )
        for slot, regs in readings
    ]
    assert ingest_readings(user, items).created == len(items)


def _energies(row: dict[str, str]) -> list[str]:
    return [row[c] for c in ENERGY_COLUMNS]


def test_it_has_local_and_utc_time_the_registers_and_the_quarter_energies(alice_client, home):
    assert list(exports.HEADER) == ["local_time", "utc_time", "measured_at", *READING_FIELDS, *ENERGY_COLUMNS]
    build(home, local(2024, 3, 30, 22), local(2024, 4, 1, 2))  # includes the spring DST day

    response = alice_client.get(f"/meters/{home.code}/export.csv?from=2024-03-31&to=2024-03-31")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{SERIAL}_2024-03-31_2024-03-31.csv"'
    body = _body(response)
    assert next(csv.reader(io.StringIO(body))) == list(exports.HEADER)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 92  # the 23-hour day
    first, last = rows[0], rows[-1]
    assert (first["local_time"], first["utc_time"]) == ("2024-03-31T00:00:00+01:00", "2024-03-30T23:00:00+00:00")
    assert (last["local_time"], last["utc_time"]) == ("2024-03-31T23:45:00+02:00", "2024-03-31T21:45:00+00:00")
    assert first["measured_at"].endswith("+00:00")
    assert first["l1_import_kw"] != ""
    assert first["water_m3"] == ""  # not sent: empty, never an invented zero
    assert all(value != "" for value in _energies(last))  # closed by the next day's 00:00 reading


def test_it_gives_each_quarter_its_energy_and_leaves_gaps_and_register_drops_empty(alice_client, alice, home):
    _store(
        alice,
        (local(2024, 5, 6, 10, 0), ("1000.000", "500.000", "200.000", "20.000")),
        (local(2024, 5, 6, 10, 15), ("1000.123", "500.000", "200.045", "20.000")),
        (local(2024, 5, 6, 10, 30), ("1001.124", "500.000", "200.045", "20.000")),
        # 10:45 never arrived
        (local(2024, 5, 6, 11, 0), ("1001.500", "500.000", "200.100", "20.000")),
        (local(2024, 5, 6, 11, 15), ("0.002", "0.001", "0.000", "0.000")),  # meter replaced
        (local(2024, 5, 6, 11, 30), ("0.012", "0.001", "0.300", "0.000")),
    )

    rows = _rows(alice_client.get(f"/meters/{home.code}/export.csv?from=2024-05-06&to=2024-05-06"))

    assert [r["local_time"][11:16] for r in rows] == ["10:00", "10:15", "10:30", "11:00", "11:15", "11:30"]
    assert [_energies(r) for r in rows] == [
        ["0.123", "0.000", "0.045", "0.000"],
        ["1.001", "0.000", "0.000", "0.000"],
        ["", "", "", ""],  # the next slot is missing: no made-up number
        ["", "", "", ""],  # the registers dropped
        ["0.010", "0.000", "0.300", "0.000"],  # the new meter's own count
        ["", "", "", ""],  # nothing after it yet
    ]
    assert rows[0]["import_t1_kwh"] == "1000.000"
    assert rows[4]["import_t1_kwh"] == "0.002"


def test_it_closes_the_last_quarter_of_the_range_with_the_next_days_first_reading(alice, home):
    _store(
        alice,
        (local(2024, 5, 6, 23, 45), ("10.000", "20.000", "0.000", "0.000")),
        (local(2024, 5, 7, 0, 0), ("10.000", "20.250", "0.000", "0.000")),
    )

    rows = list(exports.rows(home, exports.parse_range("2024-05-06", "2024-05-06")))

    assert len(rows) == 1
    assert rows[0][0] == local(2024, 5, 6, 23, 45)
    assert rows[0][-4:] == [Decimal("0.000"), Decimal("0.250"), Decimal("0.000"), Decimal("0.000")]


def test_it_repeats_the_local_hour_on_the_autumn_dst_day_with_both_offsets(alice_client, home):
    truth = build(home, local(2024, 10, 26, 22), local(2024, 10, 28, 2))

    rows = _rows(alice_client.get(f"/meters/{home.code}/export.csv?from=2024-10-27&to=2024-10-27"))

    assert len(rows) == 100  # the 25-hour day
    two_oclock = [r["local_time"] for r in rows if r["local_time"].startswith("2024-10-27T02:")]
    assert two_oclock == [f"2024-10-27T02:{m:02d}:00+02:00" for m in (0, 15, 30, 45)] + [
        f"2024-10-27T02:{m:02d}:00+01:00" for m in (0, 15, 30, 45)
    ]
    utc = [datetime.fromisoformat(r["utc_time"]) for r in rows]
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc))
    for row, slot in zip(rows, utc, strict=True):
        expected = [f"{Decimal(wh).scaleb(-3):f}" for wh in truth.energy[epoch(slot)]]
        assert _energies(row) == expected, row["local_time"]


def test_it_writes_semicolons_decimal_commas_and_a_bom_for_excel(alice_client, alice, home):
    _store(
        alice,
        (datetime(2024, 5, 6, 8, 0, tzinfo=UTC), ("1234.567", "2345.678", "345.678", "45.678")),
        (datetime(2024, 5, 6, 8, 15, tzinfo=UTC), ("1234.890", "2345.678", "345.700", "45.678")),
    )

    response = alice_client.get(f"/meters/{home.code}/export.csv?from=2024-05-06&to=2024-05-06&format=excel")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{SERIAL}_2024-05-06_2024-05-06_excel.csv"'
    raw = b"".join(response.streaming_content)
    assert raw.startswith(codecs.BOM_UTF8)
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert parsed[0] == list(exports.HEADER)
    first = dict(zip(parsed[0], parsed[1], strict=True))
    assert first["local_time"] == "2024-05-06T10:00:00+02:00"
    assert first["import_t1_kwh"] == "1234,567"
    assert first["l1_voltage_v"] == "231,4"
    assert first["tariff"] == "1"
    assert _energies(first) == ["0,323", "0,000", "0,022", "0,000"]
    assert Decimal(first["import_t1_kwh"].replace(",", ".")) == Decimal("1234.567")


def test_it_keeps_commas_and_decimal_points_by_default(alice_client, alice, home):
    _store(alice, (datetime(2024, 5, 6, 8, 0, tzinfo=UTC), ("1234.567", "2345.678", "345.678", "45.678")))

    body = _body(alice_client.get(f"/meters/{home.code}/export.csv?format=csv"))

    assert not body.startswith("\ufeff")
    assert ";" not in body
    assert _rows(alice_client.get(f"/meters/{home.code}/export.csv"))[0]["import_t1_kwh"] == "1234.567"


def test_it_exports_everything_without_a_range(alice_client, home):
    truth = build(home, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 5, tzinfo=UTC))
    rows = _rows(alice_client.get(f"/meters/{home.code}/export.csv"))
    assert len(rows) == len(truth.stored)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("from=yesterday", ["'from'", "YYYY-MM-DD", "'yesterday'"]),
        ("to=9999-12-31", ["'to'", "YYYY-MM-DD", "between 2000-01-01 and 2100-12-31", "'9999-12-31'"]),
        ("from=0001-01-01", ["'from'", "between 2000-01-01 and 2100-12-31", "'0001-01-01'"]),
        ("from=2024-02-01&to=2024-01-01", ["'from'", "must not be after", "'to'"]),
        ("format=xlsx", ["'format'", "'csv'", "'excel'", "'xlsx'"]),
    ],
)
def test_it_refuses_unusable_parameters_with_a_400_that_says_what_is_allowed(alice_client, home, query, words):
    build(home, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC))

    response = alice_client.get(f"/meters/{home.code}/export.csv?{query}")

    assert response.status_code == 400
    assert not response.streaming
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for word in words:
        assert word in text


def test_it_accepts_the_first_and_last_day_of_the_allowed_range(alice_client, home):
    response = alice_client.get(f"/meters/{home.code}/export.csv?from=2000-01-01&to=2100-12-31")
    assert response.status_code == 200
    assert _body(response).splitlines() == [",".join(exports.HEADER)]


def test_it_links_both_exports_from_the_dashboard(alice_client, home):
    build(home, local(2024, 5, 6), local(2024, 5, 6, 1))

    page = alice_client.get(f"/day/?meter={home.code}&date=2024-05-06").content.decode()

    url = f"/meters/{home.code}/export.csv?from=2024-05-06&amp;to=2024-05-06"
    assert f'href="{url}"' in page
    assert f'href="{url}&amp;format=excel"' in page
    assert "CSV for Excel" in page


def test_it_hides_the_export_from_other_users(bob_client, home):
    assert bob_client.get(f"/meters/{home.code}/export.csv").status_code == 404
    assert bob_client.get(f"/meters/{home.code}/export.csv?format=excel").status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(client, home):
    response = client.get(f"/meters/{home.code}/export.csv?format=excel")
    assert response.status_code == 302
    assert response.url.startswith("/login/")
