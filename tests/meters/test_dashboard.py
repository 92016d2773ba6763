"""Dashboard pages and the series API: owner scoping, meter choice, periods, cards, partial data, Qlik tab."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings
from rest_framework_simplejwt.tokens import RefreshToken

from meters.models import Meter
from meters.series import build_series
from tests.meters.series_truth import SLOT, build, epoch, local
from users.models import prices_for, profile_for

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 12, 14, 7, tzinfo=UTC)  # 16:07 in Brussels


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def home(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)


@pytest.fixture
def cabin(alice) -> Meter:
    return Meter.objects.create(serial="1SAG3100716957", name="Cabin", owner=alice)


@pytest.fixture
def bobs(bob) -> Meter:
    return Meter.objects.create(serial="1SAG9999999999", name="Bob's", owner=bob)


def test_it_redirects_the_root_to_the_day_page_and_anonymous_visitors_to_login(client, alice_client):
    assert alice_client.get("/").url == "/day/"
    client.logout()
    for path in ("/", "/day/", "/week/", "/month/", "/year/", "/trends/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/login/")


def test_it_sends_a_user_without_a_meter_to_the_serial_numbers_page(alice_client):
    response = alice_client.get("/day/")
    assert response.status_code == 302
    assert response.url == "/serialNumbers/"


def test_it_shows_the_days_totals_and_embeds_the_series_the_api_serves(alice_client, home):
    truth = build(home, local(2024, 6, 10, 23), local(2024, 6, 11, 23, 45) + timedelta(minutes=15))
    response = alice_client.get(f"/day/?meter={home.code}&date=2024-06-11")

    assert response.status_code == 200
    html = response.content.decode()
    kwh = truth.import_wh(local(2024, 6, 11), local(2024, 6, 12)) / 1000
    assert f"{kwh:,.3f}".replace(",", "\u202f") + "\u00a0kWh" in html
    assert "Tuesday 11 June 2024" in html
    embedded = json.loads(re.search(r'<script id="series-data" type="application/json">(.*?)</script>', html)[1])
    served = alice_client.get(f"/api/v1/meters/{home.code}/series/?view=day&date=2024-06-11").json()
    assert embedded == served
    assert embedded["totals"]["import_kwh"] == kwh
    assert f'href="/day/?meter={home.code}&amp;date=2024-06-10"' in html  # previous day
    assert f'href="/day/?meter={home.code}&amp;date=2024-06-12"' in html  # next day
    assert 'data-status="partial"' not in html
    assert 'data-chart="import"' in html
    assert 'data-chart="gas"' in html


def test_it_tells_when_a_period_is_empty_or_partial(alice_client, home):
    gap = set(range(epoch(local(2024, 6, 11, 10)), epoch(local(2024, 6, 11, 13)), SLOT))
    build(home, local(2024, 6, 10, 23), local(2024, 6, 12, 1), skip=gap)

    empty = alice_client.get("/day/?date=2024-05-01").content.decode()
    assert 'data-status="empty"' in empty
    assert "No readings" in empty

    partial = alice_client.get("/day/?date=2024-06-11").content.decode()
    assert 'data-status="partial"' in partial
    assert "84 of 96 quarter-hours" in partial
    assert "13 bars estimated" in partial


def test_it_opens_the_meter_with_the_latest_reading_then_remembers_the_choice(alice_client, alice, home, cabin):
    build(cabin, local(2024, 6, 1), local(2024, 6, 1, 2))
    build(home, local(2024, 6, 11), local(2024, 6, 11, 2))
    first = alice_client.get("/day/?date=2024-06-11")
    assert first.context["meter"] == home  # the latest reading, though "Cabin" sorts first

    alice_client.get(f"/week/?meter={cabin.code}")
    assert profile_for(alice).last_meter_code == cabin.code
    again = alice_client.get("/month/")
    assert again.context["meter"] == cabin
    assert f'<option value="{home.code}"' in again.content.decode()


def test_it_formats_each_unit_with_fixed_decimals(alice_client, home):
    def energy(ep):
        return (0, 1_000, 0, 0) if ep == epoch(local(2024, 6, 11, 18)) else (0, 50, 0, 0)

    build(home, local(2024, 6, 10, 23), local(2024, 6, 12, 1), energy=energy)
    cards = {c["id"]: c for c in alice_client.get("/week/?date=2024-06-11").context["cards"]}
    assert re.fullmatch(r"[\d\u202f]+\.\d{3}\u00a0kWh", cards["import"]["value"])
    assert cards["export"]["value"] == "0.000\u00a0kWh"
    # The maximum is the busiest quarter-hour (1 kWh in 15 minutes), not the busiest 4-hour bar.
    assert cards["power"]["lines"] == ["average of the week", "highest quarter-hour 4.00\u00a0kW Tue 11 Jun 18:00"]
    assert cards["power"]["value"].endswith("\u00a0W")


def test_it_refuses_another_users_meter_on_pages_and_api(alice_client, bobs, home):
    assert alice_client.get(f"/day/?meter={bobs.code}").status_code == 404
    assert alice_client.get("/day/?meter=not-a-uuid").status_code == 404
    response = alice_client.get(f"/api/v1/meters/{bobs.code}/series/?view=day&date=2024-06-11")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_it_reports_a_malformed_date_and_shows_today(alice_client, home):
    response = alice_client.get("/day/?date=31-12-2024", follow=True)
    assert response.status_code == 200
    assert response.context["selected"] == date(2024, 6, 12)
    assert "YYYY-MM-DD" in response.content.decode()


def test_it_shows_the_capacity_peak_and_twelve_month_card_on_the_month_page(alice_client, home):
    build(home, local(2024, 5, 31, 23), local(2024, 6, 12, 16))
    html = alice_client.get("/month/?date=2024-06-03").content.decode()
    series = build_series(home, "month", date(2024, 6, 3), prices=prices_for(home.owner))
    assert 'data-card="capacity"' in html
    assert 'data-card="capacity-12m"' in html
    peak = f"{series.capacity.peak_w / 1000:,.2f}\u00a0kW"
    assert peak in html
    assert "June 2024" in html


def test_it_serves_the_series_json_to_the_owner_by_session_and_jwt(client, alice, alice_client, home):
    truth = build(home, local(2024, 6, 10, 23), local(2024, 6, 12, 1))
    data = alice_client.get(f"/api/v1/meters/{home.code}/series/?view=day&date=2024-06-11").json()
    assert data["view"] == "day"
    assert len(data["buckets"]) == 96
    assert data["buckets"][0]["start"] == "2024-06-11T00:00:00+02:00"
    total_wh = truth.import_wh(local(2024, 6, 11), local(2024, 6, 12))
    assert round(sum(b["import_kwh"] for b in data["buckets"]) * 1000) == total_wh
    assert data["totals"]["import_kwh"] == total_wh / 1000
    assert data["capacity"] is None

    client.logout()
    assert client.get(f"/api/v1/meters/{home.code}/series/").status_code in (401, 403)
    token = str(RefreshToken.for_user(alice).access_token)
    month = client.get(
        f"/api/v1/meters/{home.code}/series/?view=month&date=2024-06-11", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert len(month["buckets"]) == 30
    assert len(month["capacity_12m"]["months"]) == 12


def test_it_rejects_an_unknown_view_or_date_with_a_clear_detail(alice_client, home):
    bad_view = alice_client.get(f"/api/v1/meters/{home.code}/series/?view=decade")
    assert bad_view.status_code == 400
    assert "day, week, month, year" in bad_view.json()["detail"]
    bad_date = alice_client.get(f"/api/v1/meters/{home.code}/series/?view=day&date=2024-13-01")
    assert bad_date.status_code == 400
    assert "YYYY-MM-DD" in bad_date.json()["detail"]


def test_it_documents_the_series_endpoint_in_the_openapi_schema(alice_client):
    schema = alice_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/meters/{code}/series/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"code", "view", "date", "compare"}
    example = next(iter(operation["responses"]["200"]["content"]["application/json"]["examples"].values()))
    assert example["value"]["view"] == "day"


@override_settings(
    QLIK_ENABLED=True,
    QLIK_TENANT_HOST="tenant.eu.qlikcloud.com",
    QLIK_WEB_INTEGRATION_ID="web-integration-id-from-env",
    QLIK_APP_ID="app-id-from-env",
    QLIK_OBJECT_IDS=["objA", "objB"],
)
def test_it_offers_a_qlik_tab_with_the_objects_from_settings(alice_client, home):
    html = alice_client.get("/day/").content.decode()
    assert 'data-tab="qlik"' in html
    assert 'data-qlik-object="objA"' in html
    assert 'data-qlik-object="objB"' in html
    assert "web-integration-id-from-env" in html


def test_it_shows_no_qlik_tab_without_qlik_settings(alice_client, home):
    with override_settings(QLIK_ENABLED=False):
        html = alice_client.get("/day/").content.decode()
    assert 'data-tab="qlik"' not in html
    assert "qlik-config" not in html
