"""``POST /api/v1/meters/<code>/imports/fluvius`` and the page "Import history from Mijn Fluvius": owner only,
bad files answered with their errors by line and column (never a 500), nothing stored from a refused file."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from meters.models import FluviusImport, FluviusInterval, Meter, MeterShare, ShareRole
from tests.api.conftest import jwt_client
from tests.factories import ALICE_SERIAL
from tests.meters.test_fluvius_import import quarter_file

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _api(meter: Meter) -> str:
    return reverse("api:meter-fluvius-import", args=[meter.code])


def _page(meter: Meter) -> str:
    return reverse("meters:fluvius-import", args=[meter.code])


def _upload(data: bytes, name: str = "Verbruikshistoriek_kwartiertotalen.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_it_imports_a_file_for_the_owner_and_answers_the_report(alice, alice_meter):
    response = jwt_client(alice).post(_api(alice_meter), {"file": _upload(quarter_file(date(2025, 6, 1)))})

    assert response.status_code == 200
    body = response.json()
    assert (body["rows"], body["stored"], body["unchanged"], body["kinds"]) == (384, 384, 0, {"quarter": 384})
    assert body["first"] == "2025-05-31T22:00:00+00:00"
    assert body["reconciliation"] == {"days_compared": 0, "flagged": 0, "days": []}
    again = jwt_client(alice).post(_api(alice_meter), {"file": _upload(quarter_file(date(2025, 6, 1)))})
    assert (again.json()["stored"], again.json()["unchanged"]) == (0, 384)


def test_it_answers_a_file_with_errors_with_400_and_stores_nothing(alice, alice_meter):
    data = quarter_file(date(2025, 6, 1)).replace(b";0,", b";0,0x", 1)

    response = jwt_client(alice).post(_api(alice_meter), {"file": _upload(data)})

    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["line"] == 2
    assert body["errors"][0]["column"] == "Volume"
    assert "is not a number" in body["errors"][0]["detail"]
    assert "detail" in body
    assert not FluviusInterval.objects.exists()
    skipped = jwt_client(alice).post(_api(alice_meter), {"file": _upload(data), "skip_errors": "true"})
    assert (skipped.status_code, skipped.json()["stored"], skipped.json()["skipped"]) == (200, 383, 1)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe\x00garbage", b"not;a;fluvius;file\n1;2;3;4\n", quarter_file(date(2025, 6, 1), serial="1SAGX0")],
    ids=["empty", "not-utf8", "unknown-header", "other-meter"],
)
def test_it_refuses_a_bad_file_with_a_clear_400(alice, alice_meter, data):
    response = jwt_client(alice).post(_api(alice_meter), {"file": _upload(data)})

    assert response.status_code == 400
    assert response.json()["detail"]
    assert response.json()["refused"] is True


def test_it_names_both_serials_for_another_meters_file(alice, alice_meter):
    response = jwt_client(alice).post(
        _api(alice_meter), {"file": _upload(quarter_file(date(2025, 6, 1), serial="1SAG9999999999"))}
    )
    assert response.status_code == 400
    assert "1SAG9999999999" in response.json()["detail"]
    assert ALICE_SERIAL in response.json()["detail"]


def test_it_asks_for_the_file_field(alice, alice_meter):
    response = jwt_client(alice).post(_api(alice_meter), {"other": "x"})
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


def test_it_is_for_the_owner_only(alice_meter, bob, anon_api, django_user_model):
    data = quarter_file(date(2025, 6, 1))
    assert jwt_client(bob).post(_api(alice_meter), {"file": _upload(data)}).status_code == 404
    assert anon_api.post(_api(alice_meter), {"file": _upload(data)}).status_code == 401
    manager = django_user_model.objects.create_user("carol", "carol@example.org", "pw-carol-123456")
    MeterShare.objects.create(meter=alice_meter, email="carol@example.org", user=manager, role=ShareRole.MANAGER,
                              token_hash="x" * 64)  # fmt: skip
    assert jwt_client(manager).post(_api(alice_meter), {"file": _upload(data)}).status_code == 404
    assert not FluviusInterval.objects.exists()


# --- the page ------------------------------------------------------------------------------------------------------


def test_it_shows_the_page_and_imports_with_a_plain_form_post(alice_client, alice_meter):
    page = alice_client.get(_page(alice_meter))
    assert page.status_code == 200
    assert b"<progress" in page.content
    assert b"js/fluvius_import.js" in page.content

    response = alice_client.post(_page(alice_meter), {"file": _upload(quarter_file(date(2025, 6, 1)))}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == _page(alice_meter)
    assert FluviusInterval.objects.filter(meter=alice_meter).count() == 384
    assert b"384 rows read: 384 stored" in response.content
    assert b'data-testid="fluvius-history"' in response.content


def test_it_lists_the_errors_of_a_refused_upload_by_line_and_column(alice_client, alice_meter):
    data = quarter_file(date(2025, 6, 1)).replace(b";0,", b";0,0x", 1)

    response = alice_client.post(_page(alice_meter), {"file": _upload(data)}, follow=True)

    assert response.status_code == 200
    assert b'data-testid="fluvius-errors"' in response.content
    assert b"is not a number" in response.content
    assert FluviusImport.objects.get().refused
    assert not FluviusInterval.objects.exists()


def test_it_answers_a_post_without_a_file_with_the_form_error(alice_client, alice_meter):
    response = alice_client.post(_page(alice_meter), {})
    assert response.status_code == 400


def test_it_hides_the_page_from_others_and_sends_visitors_to_log_in(client, bob_client, alice_meter):
    assert bob_client.get(_page(alice_meter)).status_code == 404
    client.logout()
    anonymous = client.get(_page(alice_meter))
    assert anonymous.status_code == 302
    assert reverse("users:login") in anonymous["Location"]


def test_it_links_the_page_from_the_meter_list(alice_client, alice_meter):
    assert _page(alice_meter).encode() in alice_client.get(reverse("meters:list")).content


def test_it_lists_the_days_where_the_pi_and_fluvius_disagree_on_the_page(alice_client, alice_meter):
    from tests.meters.series_truth import BRUSSELS, build
    from tests.meters.series_truth import quarter_energy as truth

    build(alice_meter, datetime(2026, 11, 9, tzinfo=BRUSSELS), datetime(2026, 11, 11, tzinfo=BRUSSELS))
    data = quarter_file(
        date(2026, 11, 9), days=2, energy=lambda t, k: truth(int(t.timestamp()))[k] + (10 if k == 1 else 0)
    )

    response = alice_client.post(_page(alice_meter), {"file": _upload(data)}, follow=True)

    assert b'data-testid="fluvius-differences"' in response.content
    assert b"2026-11-09" in response.content
    assert b"2026-11-10" in response.content


def test_it_renders_the_day_views_reconciliation_note(alice_meter):
    from django.template.loader import render_to_string

    from meters.fluvius.reconcile import DayDifference

    html = render_to_string(
        "meters/dashboard/_reconciliation.html",
        {"differences": [DayDifference(date(2026, 11, 10), "import_t1", 12_100, 12_345, False)]},
    )

    assert "Mijn Fluvius and your Pi disagree on 10 November 2026" in html
    assert "import, day tariff 12.345 kWh vs 12.100 kWh (-2.0 %)" in html
    assert render_to_string("meters/dashboard/_reconciliation.html", {"differences": []}).strip() == ""
