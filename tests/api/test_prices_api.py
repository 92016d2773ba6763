"""POST /api/v1/prices: staff upload day-ahead price files as multipart or text/csv; counts, refusals by line and
column with nothing stored, who may upload, and the body limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from p1edge import wire
from rest_framework.test import APIClient

from meters import devices
from meters.models import SpotPrice
from tests.api.conftest import jwt_client
from tests.meters.test_spot_prices import entsoe_day, entsoe_file, instants, local_day, plain_file, price_of, text

pytestmark = pytest.mark.django_db

URL = "/api/v1/prices"
QUARTER = timedelta(minutes=15)
DECEMBER_28 = {"first": "2025-12-27T23:00:00+00:00", "last": "2025-12-28T22:45:00+00:00"}


def _csv(client: APIClient, body: str | bytes, content_type: str = "text/csv"):
    return client.post(URL, body.encode() if isinstance(body, str) else body, content_type=content_type)


def _upload(client: APIClient, body: str | bytes, name: str = "prices.csv"):
    data = body.encode() if isinstance(body, str) else body
    return client.post(URL, {"file": SimpleUploadedFile(name, data, content_type="text/csv")}, format="multipart")


def test_it_imports_a_file_for_staff_with_201_and_the_counts(staff_api):
    response = _upload(staff_api, "\ufeff" + text(entsoe_day(date(2025, 12, 28)), end="\r\n"))

    assert response.status_code == 201, response.content
    assert response.json() == {"rows": 96, "created": 96, "updated": 0, **DECEMBER_28}
    assert SpotPrice.objects.count() == 96
    assert SpotPrice.objects.get(slot=datetime(2025, 12, 27, 23, tzinfo=UTC)).price_eur_mwh == Decimal(price_of(0))


def test_it_answers_200_when_every_quarter_had_a_price_already(staff_api):
    day = text(entsoe_day(date(2025, 12, 28)))
    assert _upload(staff_api, day).status_code == 201

    response = _csv(staff_api, day)

    assert response.status_code == 200, response.content
    assert response.json() == {"rows": 96, "created": 0, "updated": 96, **DECEMBER_28}


def test_it_accepts_a_text_csv_body_in_the_plain_format(staff_api):
    body = text(plain_file([("2026-01-01T00:00:00+01:00", "92.68"), ("2026-01-01 00:15", "-3.5")]))

    response = _csv(staff_api, body, content_type="text/csv; charset=utf-8")

    assert response.status_code == 201, response.content
    assert response.json() == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "first": "2025-12-31T23:00:00+00:00",
        "last": "2025-12-31T23:15:00+00:00",
    }


def test_it_imports_the_autumn_day_for_a_staff_session(client, staff):
    client.force_login(staff)

    response = client.post(URL, text(entsoe_day(date(2025, 10, 26))), content_type="text/csv")

    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 100


def test_it_accepts_a_year_file_within_the_body_limit(staff_api, settings):
    starts = instants(local_day(date(2025, 1, 1))[0], local_day(date(2025, 12, 31))[1], QUARTER)
    body = text(entsoe_file(starts), end="\r\n").encode()
    assert 3_000_000 < len(body) < settings.INGEST_MAX_BODY_BYTES

    response = _upload(staff_api, body)

    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 35_040


def test_it_forbids_accounts_that_are_not_staff(alice_api):
    response = _csv(alice_api, text(entsoe_day(date(2025, 12, 28))))

    assert response.status_code == 403
    assert response.json() == {"detail": "Only staff accounts may import day-ahead prices."}
    assert not SpotPrice.objects.exists()


def test_it_forbids_a_device_token_of_a_staff_account(staff):
    code = devices.start_pairing("raspberrypi", "192.0.2.10")
    devices.approve(staff, code.user_code)
    token, _device = devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = _csv(client, text(entsoe_day(date(2025, 12, 28))))

    assert response.status_code == 403
    assert not SpotPrice.objects.exists()


def test_it_asks_anonymous_and_deactivated_clients_to_authenticate(anon_api, staff):
    client = jwt_client(staff)
    staff.is_active = False
    staff.save()

    for refused in (anon_api, client):
        response = _csv(refused, text(entsoe_day(date(2025, 12, 28))))
        assert response.status_code == 401, response.content
        assert "WWW-Authenticate" in response.headers
    assert not SpotPrice.objects.exists()


def test_it_reports_a_bad_file_with_400_every_error_and_stores_nothing(staff_api):
    SpotPrice.objects.create(slot=datetime(2025, 12, 27, 23, tzinfo=UTC), price_eur_mwh=Decimal(1))
    lines = entsoe_day(date(2025, 12, 28))
    lines[6] = lines[6].replace(f'"{price_of(5)}"', '"abc"')
    lines[8] = lines[8].replace("BZN|BE", "BZN|DE-LU")

    response = _upload(staff_api, text(lines))

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The price file was refused; nothing was stored: "
        "line 7, column 'Day-ahead Price (EUR/MWh)': 'abc' is not a number; "
        "line 9, column 'Area': 'BZN|DE-LU' is not the Belgian bidding zone BZN|BE",
        "errors": [
            {"line": 7, "column": "Day-ahead Price (EUR/MWh)", "message": "'abc' is not a number"},
            {"line": 9, "column": "Area", "message": "'BZN|DE-LU' is not the Belgian bidding zone BZN|BE"},
        ],
    }
    assert list(SpotPrice.objects.values_list("price_eur_mwh", flat=True)) == [Decimal(1)]


def test_it_reports_an_unknown_header_with_400(staff_api):
    response = _csv(staff_api, "Datum;Prijs\n28/12/2025;92,68\n")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["line"], error["column"]) == (1, None)
    assert "start,price_eur_mwh" in error["message"]


@pytest.mark.parametrize("send", [_csv, _upload])
def test_it_reports_a_body_that_is_not_utf8_with_400(staff_api, send):
    body = text(plain_file([("2026-01-01T00:00:00+01:00", "1"), ("2026-01-01T00:15:00+01:00", "2")]))
    latin1 = body.replace("price_eur_mwh", "prix_€").encode("cp1252")

    for raw, line in ((latin1, 1), (body.encode().replace(b",2", b",\xff2"), 3), (b"\xff\xfe\x00\x00", 1)):
        response = send(staff_api, raw)
        assert response.status_code == 400, response.content
        [error] = response.json()["errors"]
        assert (error["line"], error["column"]) == (line, None)
        assert error["message"].startswith("the file is not UTF-8 text")
    assert not SpotPrice.objects.exists()


def test_it_asks_for_the_file_when_it_is_missing(staff_api):
    for response in (
        staff_api.post(URL, {"other": "x"}, format="multipart"),
        staff_api.post(URL, b"", content_type="text/csv"),
    ):
        assert response.status_code == 400
        assert response.json() == {"detail": "Send the price file as the multipart field 'file' or as a text/csv body."}


def test_it_reads_a_form_field_as_the_file(staff_api):
    body = text(plain_file([("2026-01-01T00:00:00+01:00", "1")]))

    response = staff_api.post(URL, {"file": body}, format="multipart")

    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 1


def test_it_refuses_other_content_types_with_415(staff_api):
    response = staff_api.post(URL, {"start": "2026-01-01T00:00:00+01:00"}, format="json")

    assert response.status_code == 415


def test_it_refuses_a_body_over_the_limit_with_413(staff_api, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024
    body = text(entsoe_day(date(2025, 12, 28)))
    assert len(body) > 1024

    for response in (_csv(staff_api, body), _upload(staff_api, body)):
        assert response.status_code == 413
    assert not SpotPrice.objects.exists()


def test_it_documents_the_endpoint(client):
    operation = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"][URL]["post"]

    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "text/csv"}
    assert {"200", "201", "400", "401", "403", "413", "415"} <= set(operation["responses"])
    assert "examples" in operation["responses"]["400"]["content"]["application/json"]
