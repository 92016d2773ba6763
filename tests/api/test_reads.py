"""Owner-scoped reads: GET /api/v1/meters/ and /api/v1/meters/<code>/readings/ (JWT or session)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meters.models import Meter, Reading

pytestmark = pytest.mark.django_db
START = datetime(2024, 3, 1, tzinfo=UTC)


def _fill(meter: Meter, count: int) -> None:
    Reading.objects.bulk_create(
        Reading(
            meter=meter,
            timestamp=START + timedelta(minutes=15 * n),
            measured_at=START + timedelta(minutes=15 * n, seconds=1),
            import_t1_kwh=Decimal("100.000") + n,
            import_t2_kwh=Decimal("50.000"),
            export_t1_kwh=Decimal("0.000"),
            export_t2_kwh=Decimal("0.000"),
            power_import_kw=Decimal("0.512"),
            power_export_kw=Decimal("0.000"),
            tariff=1,
        )
        for n in range(count)
    )


@pytest.fixture
def bobs_meter(bob) -> Meter:
    meter = Meter.objects.create(serial="1SAG9900000009", name="Bob's", owner=bob)
    _fill(meter, 3)
    return meter


def _readings_url(meter: Meter) -> str:
    return f"/api/v1/meters/{meter.code}/readings/"


def test_it_lists_only_your_meters_with_their_reading_span(alice_api, alice_meter, bobs_meter):
    _fill(alice_meter, 10)
    Meter.objects.create(serial="1SAG9900000010", name="Empty", owner=alice_meter.owner)

    response = alice_api.get("/api/v1/meters/")

    assert response.status_code == 200
    by_serial = {meter["serial"]: meter for meter in response.json()}
    assert set(by_serial) == {alice_meter.serial, "1SAG9900000010"}
    home = by_serial[alice_meter.serial]
    assert home["code"] == str(alice_meter.code)
    assert home["name"] == "Home"
    assert home["reading_count"] == 10
    assert datetime.fromisoformat(home["first_reading_at"]) == START
    assert datetime.fromisoformat(home["last_reading_at"]) == START + timedelta(minutes=15 * 9)
    assert by_serial["1SAG9900000010"]["reading_count"] == 0
    assert by_serial["1SAG9900000010"]["last_reading_at"] is None


def test_it_pages_through_readings_in_time_order(alice_api, alice_meter):
    _fill(alice_meter, 25)
    seen: list[dict] = []
    url = _readings_url(alice_meter) + "?page_size=10"
    pages = 0
    while url:
        page = alice_api.get(url).json()
        seen += page["results"]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert [datetime.fromisoformat(r["timestamp"]) for r in seen] == [
        START + timedelta(minutes=15 * n) for n in range(25)
    ]
    first = seen[0]
    assert first["import_t1_kwh"] == "100.000"
    assert datetime.fromisoformat(first["measured_at"]) == START + timedelta(seconds=1)
    assert first["l1_voltage_v"] is None
    assert "serial" not in first
    assert "id" not in first


def test_it_filters_readings_by_from_inclusive_and_to_exclusive(alice_api, alice_meter):
    _fill(alice_meter, 20)
    response = alice_api.get(
        _readings_url(alice_meter), {"from": "2024-03-01T02:00:00+01:00", "to": "2024-03-01T03:00:00+01:00"}
    )
    assert response.status_code == 200
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in response.json()["results"]]
    assert stamps == [START + timedelta(hours=1, minutes=15 * n) for n in range(4)]


def test_it_reads_a_plus_sign_lost_in_an_unencoded_query_string(alice_api, alice_meter):
    _fill(alice_meter, 8)
    response = alice_api.get(_readings_url(alice_meter) + "?from=2024-03-01T02:00:00+01:00")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 4


@pytest.mark.parametrize(
    "query",
    [{"from": "yesterday"}, {"to": "2024-13-01T00:00:00"}, {"from": "2024-03-02T00:00:00Z", "to": "2024-03-01T00:00Z"}],
)
def test_it_explains_a_bad_time_range(alice_api, alice_meter, query):
    response = alice_api.get(_readings_url(alice_meter), query)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_it_hides_bobs_meter_from_alice(alice_api, bobs_meter):
    response = alice_api.get(_readings_url(bobs_meter))
    assert response.status_code == 404
    assert "detail" in response.json()
    assert bobs_meter.serial not in response.content.decode()


@pytest.mark.parametrize("code", ["6f1c7f9e-3b0a-4c35-9a55-2f4e8f1d9b21", "not-a-uuid"])
def test_it_answers_404_for_unknown_codes(alice_api, code):
    assert alice_api.get(f"/api/v1/meters/{code}/readings/").status_code == 404


def test_it_hides_unclaimed_meters(alice_api):
    meter = Meter.objects.create(serial="1SAG9900000011")
    _fill(meter, 2)
    assert alice_api.get(_readings_url(meter)).status_code == 404
    assert alice_api.get("/api/v1/meters/").json() == []


def test_it_requires_authentication(anon_api, alice_meter):
    assert anon_api.get("/api/v1/meters/").status_code == 401
    assert anon_api.get(_readings_url(alice_meter)).status_code == 401


def test_it_accepts_the_website_session(alice_client, alice_meter):
    _fill(alice_meter, 2)
    assert alice_client.get("/api/v1/meters/").json()[0]["reading_count"] == 2
    assert len(alice_client.get(_readings_url(alice_meter)).json()["results"]) == 2


def test_it_still_needs_csrf_for_session_writes(alice, alice_meter):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/readings", {"readings": []}, content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00",  # naive, so Brussels time: UTC would be in the year 0
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-23:59",  # UTC would be in the year 10000
    ],
)
@pytest.mark.parametrize("name", ["from", "to"])
def test_it_answers_400_to_a_time_beyond_the_calendar(alice_api, alice_meter, name, value):
    response = alice_api.get(_readings_url(alice_meter), {name: value})
    assert response.status_code == 400
    assert name in response.json()["detail"]


@pytest.mark.parametrize(
    "value",
    [
        # Python reads offsets up to +-23:59; PostgreSQL refuses a displacement beyond +-15:59 (a 500 there).
        "2024-03-01T17:00:00+17:00",
        "2024-02-29T06:29:00-16:31",
    ],
)
def test_it_reads_offsets_that_postgresql_would_refuse_as_the_same_utc_time(alice_api, alice_meter, value):
    _fill(alice_meter, 8)
    response = alice_api.get(_readings_url(alice_meter), {"from": value, "to": "2024-03-01T01:00:00Z"})
    assert response.status_code == 200
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in response.json()["results"]]
    assert stamps == [START + timedelta(minutes=15 * n) for n in range(4)]


def _cursor(query: str) -> str:
    """A cursor as DRF builds it (base64 of a query string with o=offset, r=reverse, p=position)."""
    return base64.b64encode(query.encode("ascii")).decode("ascii")


@pytest.mark.parametrize(
    "query",
    [
        "p=notadate",
        "p=2024",
        "p=9999-12-31 23:59:59-23:59",
        "p=0001-01-01 00:00:00%2B01:00",
        "o=1&r=1&p=31-12-2024",
        "p=" + "9" * 5000,
    ],
)
def test_it_answers_404_invalid_cursor_to_a_forged_cursor(alice_api, alice_meter, query):
    _fill(alice_meter, 3)
    response = alice_api.get(_readings_url(alice_meter), {"cursor": _cursor(query)})
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"


def test_it_ignores_a_p_parameter_outside_the_cursor(alice_api, alice_meter):
    _fill(alice_meter, 3)
    response = alice_api.get(_readings_url(alice_meter), {"p": "notadate"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_it_follows_a_cursor_whose_offset_postgresql_would_refuse(alice_api, alice_meter):
    """A hand-made cursor at 2024-03-01T00:15Z written with a -16:30 offset reads on like DRF's own cursor."""
    _fill(alice_meter, 4)
    response = alice_api.get(_readings_url(alice_meter), {"cursor": _cursor("p=2024-02-29 07:45:00-16:30")})
    assert response.status_code == 200
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in response.json()["results"]]
    assert stamps == [START + timedelta(minutes=15 * n) for n in (2, 3)]


def _csv_lines(response) -> list[str]:
    return b"".join(response.streaming_content).decode().splitlines()[1:]


def test_it_reads_a_range_of_local_dates_with_the_meaning_of_the_csv_export(alice_api, alice_meter, alice_client):
    # 2024-03-01 00:00 UTC is 01:00 in Brussels: 100 quarter-hours reach into the local day of 2 March.
    _fill(alice_meter, 100)
    query = {"from": "2024-03-01", "to": "2024-03-01", "page_size": 500}

    stamps = [
        datetime.fromisoformat(r["timestamp"])
        for r in alice_api.get(_readings_url(alice_meter), query).json()["results"]
    ]
    csv_rows = _csv_lines(alice_client.get(f"/meters/{alice_meter.code}/export.csv", query))

    # The local day 1 March ends at 23:00 UTC: the first 92 slots (00:00-22:45 UTC), 'to' as a date is inclusive.
    assert stamps == [START + timedelta(minutes=15 * n) for n in range(92)]
    assert [datetime.fromisoformat(row.split(",")[1]) for row in csv_rows] == stamps


def test_it_reads_a_date_time_range_in_the_csv_export_as_the_api_does(alice_api, alice_meter, alice_client):
    _fill(alice_meter, 12)
    query = {"from": "2024-03-01T01:15:00+01:00", "to": "2024-03-01T02:00:00+01:00"}

    api = [r["timestamp"] for r in alice_api.get(_readings_url(alice_meter), query).json()["results"]]
    csv_rows = _csv_lines(alice_client.get(f"/meters/{alice_meter.code}/export.csv", query))

    assert [datetime.fromisoformat(t) for t in api] == [START + timedelta(minutes=15 * n) for n in (1, 2, 3)]
    assert [datetime.fromisoformat(row.split(",")[1]) for row in csv_rows] == [datetime.fromisoformat(t) for t in api]
