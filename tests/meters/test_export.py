"""CSV export of a meter's readings: header, range in local days, streaming, owner only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from meters.models import READING_FIELDS, Meter
from tests.meters.series_truth import build, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


def _rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_it_streams_the_readings_of_whole_local_days_with_the_design_field_names(alice_client, home):
    build(home, local(2024, 3, 30, 22), local(2024, 4, 1, 2))  # includes the spring DST day

    response = alice_client.get(f"/meters/{home.code}/export.csv?from=2024-03-31&to=2024-03-31")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    assert rows[0] == ["timestamp", "measured_at", *READING_FIELDS]
    assert len(rows) == 1 + 92  # the 23-hour day
    first = dict(zip(rows[0], rows[1], strict=True))
    assert datetime.fromisoformat(first["timestamp"]) == local(2024, 3, 31)
    assert first["timestamp"].endswith("+00:00")
    assert first["l1_import_kw"] != ""
    assert first["water_m3"] == ""  # not sent: empty, never an invented zero


def test_it_exports_everything_without_a_range(alice_client, home):
    truth = build(home, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 5, tzinfo=UTC))
    rows = _rows(alice_client.get(f"/meters/{home.code}/export.csv"))
    assert len(rows) - 1 == len(truth.stored)


def test_it_rejects_a_malformed_or_reversed_range(alice_client, home):
    bad = alice_client.get(f"/meters/{home.code}/export.csv?from=yesterday")
    assert bad.status_code == 400
    assert b"YYYY-MM-DD" in bad.content
    assert alice_client.get(f"/meters/{home.code}/export.csv?from=2024-02-01&to=2024-01-01").status_code == 400


def test_it_hides_the_export_from_other_users_and_anonymous_visitors(client, bob_client, home):
    assert bob_client.get(f"/meters/{home.code}/export.csv").status_code == 404
    bob_client.logout()
    response = client.get(f"/meters/{home.code}/export.csv")
    assert response.status_code == 302
    assert response.url.startswith("/login/")
